#!/usr/bin/env python
"""Where a model's decoder writes real chemistry: decodes of training molecules' posteriors, widened.

For ``--molecules`` molecules of the ZINC250k *train* split, each latent point ``mu + s * sigma * eps``
(``mu``, ``sigma``: the encoder's posterior; ``eps`` ~ N(0, I)) is decoded greedily with the ring limit
``sample`` uses, for each scale ``s`` of ``--scales`` (0: the mean itself; 1: a draw from the posterior,
what the decoder saw in training; 2, 3: farther out, where ``explore``, ``interpolate`` and the
optimizer's latent moves land). Beside each scale, draws from the model's fitted mixture prior (what
``sample --model zinc250k_selfies`` decodes). For every set: validity, the familiar rate (every atom
environment seen in ZINC250k; the valid split's own rate is the reference), the sanity rate, novelty
against the train split, the share that decodes back to its source molecule, the mean Tanimoto
similarity (Morgan radius 2) to the source, and FCD to ``--molecules`` valid-split molecules.

    python benchmarks/latent_coverage.py                       # the bundled latent model
    python benchmarks/latent_coverage.py --models zinc250k_selfies RUN/best.pt --labels bundled candidate
    python benchmarks/latent_coverage.py --quick               # 300 molecules (about 2 minutes)

Writes benchmarks/results/latent_coverage.json and .md (``--stem`` to change the name). Valid and train
splits only: models are chosen on these.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEFAULT_DATA, cpu_name, measure_models, models_parser, parse_args, save_comparison  # noqa: E402

import molvae  # noqa: E402
from molvae import chem  # noqa: E402
from molvae.evaluation.metrics import fcd, novelty, tanimoto_matrix  # noqa: E402
from molvae.models.ring_limit import DEFAULT_MAX_RING  # noqa: E402

COLUMNS = (  # key, header, format
    ("validity", "valid", "{:.3f}"),
    ("familiar", "familiar", "{:.3f}"),
    ("sane", "sane", "{:.3f}"),
    ("novelty", "novel", "{:.3f}"),
    ("same_as_source", "decodes to its source", "{:.3f}"),
    ("similarity_to_source", "Tanimoto to source (mean)", "{:.3f}"),
    ("fcd", "FCD to valid", "{:.2f}"),
)


def judge(decoded: list[str | None], reference: list[str], train: set[str], source: list[str] | None) -> dict:
    """The rates of one set of decodes (``source``: the molecule each was drawn around, if any)."""
    valid = [s for s in decoded if s]
    out = {
        "validity": len(valid) / len(decoded),
        "familiar": float(chem.familiar_flags(decoded).mean()),
        "sane": float(chem.sane_flags(decoded).mean()),
        "novelty": novelty(decoded, train),
        "fcd": fcd(valid, reference),
    }
    if source is not None:
        out["same_as_source"] = float(np.mean([a == b for a, b in zip(decoded, source)]))
        ok = [i for i, s in enumerate(decoded) if s]
        a = chem.morgan_fingerprints([decoded[i] for i in ok])
        b = chem.morgan_fingerprints([source[i] for i in ok])
        sims = np.diag(tanimoto_matrix(a, b))  # each decode against its own source
        out["similarity_to_source"] = float(np.sum(sims) / len(decoded))  # an invalid decode counts 0
    return out


def measure(model, molecules: list[str], reference: list[str], train: set[str], scales, seed: int) -> dict:
    enc = model.encode(molecules)
    source = [s for s, ok in zip(enc.smiles, enc.valid) if ok]
    mu, sigma = enc.mu[enc.valid], np.exp(0.5 * enc.logvar[enc.valid])
    rng = np.random.default_rng(seed)
    rows = {}
    for s in scales:
        z = (mu + s * sigma * rng.standard_normal(mu.shape)).astype(np.float32)
        rows[f"posterior x{s:g}"] = judge(model.decode(z, max_ring=DEFAULT_MAX_RING), reference, train, source)
        logging.info("posterior x%g: %s", s, rows[f"posterior x{s:g}"])
    if model.prior is not None:
        z = model.sample_prior(len(source), seed=seed, prior="fitted")
        rows["fitted prior"] = judge(model.decode(z, max_ring=DEFAULT_MAX_RING), reference, train, None)
        logging.info("fitted prior: %s", rows["fitted prior"])
    return {"molecules": len(source), "mean_posterior_sd": float(sigma.mean()), "rows": rows}


def markdown(result: dict) -> str:
    lines = [
        f"# Where the decoder writes real chemistry ({result['molecules']} ZINC250k train molecules; "
        f"{result['hardware']})",
        "",
        f"Reference rates of {result['molecules']} valid-split molecules: familiar "
        f"{result['reference']['familiar']:.3f}, sane {result['reference']['sane']:.3f}.",
        "",
        "| model | latent points | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for label, m in result["models"].items():
        for name, row in m["rows"].items():
            cells = [fmt.format(row[k]) if k in row else "" for k, _, fmt in COLUMNS]
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "posterior xS: each train molecule's latent mean moved by S times its own posterior standard "
        "deviation in a random direction, decoded greedily (ring limit as in `sample`).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = models_parser(__doc__)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="ZINC250k with a split column")
    p.add_argument("--molecules", type=int, default=2000, help="train molecules (and valid references)")
    p.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="300 molecules")
    p.add_argument("--stem", default=None, help="result file name (default: latent_coverage[_quick])")
    args = parse_args(p, argv)
    n = 300 if args.quick else args.molecules
    data = pd.read_csv(args.data)
    train_rows = data[data["split"] == "train"]
    molecules = train_rows["smiles"].sample(n, random_state=args.seed).tolist()
    valid_rows = data[data["split"] == "valid"]["smiles"].sample(n, random_state=args.seed)
    reference = [s for s in chem.canonicalize_many(valid_rows.tolist())[0] if s]
    train = {s for s in chem.canonicalize_many(train_rows["smiles"].tolist())[0] if s}
    result = {
        "molecules": n,
        "scales": args.scales,
        "seed": args.seed,
        "molvae": molvae.__version__,
        "hardware": cpu_name(),
        "reference": {
            "familiar": float(chem.familiar_flags(reference).mean()),
            "sane": float(chem.sane_flags(reference).mean()),
        },
        "columns": [list(c) for c in COLUMNS],  # what a table of these rows shows (scripts/render_docs.py too)
        "models": measure_models(
            args, lambda model: measure(model, molecules, reference, train, args.scales, args.seed)
        ),
    }
    save_comparison(args, "latent_coverage", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

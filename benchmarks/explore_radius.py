#!/usr/bin/env python
"""How far ``explore`` should draw around a molecule: the radius, measured on the ZINC250k *valid* split.

For molecules of the valid split with 19-37 heavy atoms (the control set of ``benchmarks/drugs.py``),
``n`` latent points are drawn around each molecule's latent mean at each radius, in two units: prior
units (z = mu + r * eps, explore's rule until molvae 0.9.2) and the molecule's own posterior standard
deviations (z = mu + r * sd * eps, explore's rule now); each is decoded as ``explore`` decodes (greedy,
radicals dropped, the ring limit of the query). Per radius: distinct neighbours per molecule (mean and
fewest), the share of them that is familiar (every atom environment seen in ZINC250k) and their median
Tanimoto similarity to the molecule (Morgan radius 2).

    python benchmarks/explore_radius.py                    # the bundled latent model, 32 molecules
    python benchmarks/explore_radius.py --molecules 8 --draws 20 --stem explore_radius_quick

Writes benchmarks/results/explore_radius.json and .md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, cpu_name, parse_args, save_results  # noqa: E402
from drugs import control_set  # noqa: E402

import molvae  # noqa: E402
from molvae import chem  # noqa: E402
from molvae.evaluation.metrics import tanimoto_matrix  # noqa: E402
from molvae.models.ring_limit import limit_for  # noqa: E402
from molvae.search.explore import DEFAULT_RADIUS  # noqa: E402
from molvae.search.latent import decode_checked, posterior_one  # noqa: E402

ARMS = (  # unit, radius
    ("prior", 1.0),
    ("prior", 0.5),
    ("prior", 0.3),
    ("posterior", 1.0),
    ("posterior", 1.5),
    ("posterior", 2.0),
)


def measure(model: molvae.MolVAE, smiles: list[str], unit: str, radius: float, draws: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    counts, familiar, similarity = [], [], []
    for s in smiles:
        query, mu, sd = posterior_one(model, s)
        scale = radius * (sd if unit == "posterior" else np.ones_like(sd))
        z = mu[None, :] + scale[None, :] * rng.standard_normal((draws, model.latent_dim))
        decoded = decode_checked(model, z, max_ring=limit_for([query])).smiles
        found = sorted({d for d in decoded if d is not None and d != query})
        counts.append(len(found))
        if found:
            familiar.extend(chem.familiar_flags(found).tolist())
            fps = chem.morgan_fingerprints(found)
            similarity.extend(tanimoto_matrix(fps, chem.morgan_fingerprints([query]))[:, 0].tolist())
    return {
        "unit": unit,
        "radius": radius,
        "neighbours_mean": float(np.mean(counts)),
        "neighbours_min": int(np.min(counts)),
        "familiar": float(np.mean(familiar)) if familiar else 0.0,
        "median_similarity": float(np.median(similarity)) if similarity else 0.0,
    }


def table(result: dict) -> str:
    """The table of one result (benchmarks/explore_radius.md and docs/benchmarks.md)."""
    lines = [
        "| unit | radius | distinct neighbours (mean) | fewest | familiar | median Tanimoto to the molecule |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        default = " (default)" if r["unit"] == "posterior" and r["radius"] == result["default_radius"] else ""
        lines.append(
            f"| {r['unit']} | {r['radius']:g}{default} | {r['neighbours_mean']:.1f} | {r['neighbours_min']} | "
            f"{r['familiar']:.3f} | {r['median_similarity']:.3f} |"
        )
    return "\n".join(lines)


def markdown(result: dict) -> str:
    caption = (
        f"explore's radius on {result['molecules']} ZINC250k valid molecules of 19-37 heavy atoms, "
        f"{result['draws']} draws each, model {result['model']} ({result['hardware']}); "
        f"explore's default: {result['default_radius']} posterior standard deviations"
    )
    return f"{caption}\n\n{table(result)}\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--model", default="zinc250k_selfies", help="bundled name or checkpoint path")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="ZINC250k with a split column")
    p.add_argument("--molecules", type=int, default=32)
    p.add_argument("--draws", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stem", default="explore_radius")
    args = parse_args(p, argv)
    model = molvae.load(args.model)
    smiles = control_set(args.data, args.molecules, args.seed)["smiles"].tolist()
    rows = [measure(model, smiles, unit, radius, args.draws, args.seed) for unit, radius in ARMS]
    result = {
        "model": args.model,
        "molvae": molvae.__version__,
        "hardware": cpu_name(),
        "molecules": len(smiles),
        "draws": args.draws,
        "seed": args.seed,
        "default_radius": DEFAULT_RADIUS,
        "rows": rows,
    }
    save_results(RESULTS, args.stem, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

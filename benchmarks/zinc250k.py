#!/usr/bin/env python
"""Benchmark the bundled models (or --model) on the ZINC250k test split; trains nothing.

Writes benchmarks/results/zinc250k.json and zinc250k.md (with --quick: zinc250k_quick.*), the
numbers of the README table, beside the published numbers of the anchors.

    python benchmarks/zinc250k.py                 # full: 12,473 test molecules, 10,000 prior samples
    python benchmarks/zinc250k.py --quick         # 1,000 test molecules, 1,000 samples (< 2 minutes)
    python benchmarks/zinc250k.py --model zinc250k_selfies_sampler --merge   # re-measure one model only
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from molvae import MolVAE, __version__
from molvae.evaluation.evaluate import evaluate_model
from molvae.pretrained import default_model_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, hardware, parse_args, save_results  # noqa: E402


class Metric(NamedTuple):
    """A row of the main table (here and in docs/benchmarks.md, which scripts/render_docs.py renders from
    :data:`METRICS`): the metric's label, the published numbers beside ours, our target, and how a value
    is written."""

    label: str
    anchors: str
    target: str
    fmt: str = "{:.3f}"


# Published numbers (ZINC250k unless noted). Reconstruction and validity: Jin et al. 2018 (JT-VAE, Table 1,
# which also lists SD-VAE, GVAE and the chemical VAE of Gomez-Bombarelli et al.); unique@10k and novelty:
# Polykovskiy et al. 2020 (MOSES, on the MOSES dataset); FCD: Jo et al. 2022 (GDSS, ZINC250k);
# property MAE: Gomez-Bombarelli et al. 2018 (ZINC). Targets: the acceptance targets of model v2 (issue 13).
METRICS = {
    "reconstruction": Metric(
        "exact reconstruction (test, `molvae reconstruct` defaults: beam 5 from the mean)",
        "JT-VAE 76.7%, SD-VAE 76.2%, GVAE 53.7%, chemical VAE 44.6%",
        ">= 0.90",
    ),
    "reconstruction_greedy": Metric("exact reconstruction (test, greedy from the mean)", "-", "-"),
    "validity": Metric("prior validity (RDKit)", "JT-VAE 100%, chemical VAE 0.7%", ">= 0.999"),
    "unique@10k": Metric("unique@10k", "MOSES VAE 0.998", ">= 0.999"),
    "novelty": Metric("novelty vs train", "MOSES VAE 0.695, JT-VAE 0.914", ">= 0.90"),
    "fcd": Metric(
        "FCD to test (raw samples; 0 = indistinguishable)", "graph generators about 15 (GDSS 14.7)", "<= 1.0"
    ),
    "mae_logp": Metric("logP MAE from the latent mean (test)", "chemical VAE about 0.15", "<= 0.10"),
    "mae_qed": Metric("QED MAE from the latent mean (test)", "chemical VAE about 0.054", "<= 0.03"),
    "mae_sa": Metric("SA MAE from the latent mean (test)", "-", "<= 0.10"),
}


CHEMISTRY_ROWS = [
    ("radicals", "carry radical electrons", "<= 0.005"),
    (
        "sanity",
        "sane (one fragment, no radicals, >= 10 heavy atoms, rings <= 8, ZINC elements, no PAINS)",
        ">= 0.97 x test",
    ),
    ("moses_filters", "pass MOSES's Filters (no charge, rings < 8, MOSES atoms, no PAINS, no MCF)", "-"),
    ("pains", "match PAINS", "-"),
    ("familiar", "familiar (every atom environment, neutral form, occurs in ZINC250k train)", "-"),
    ("heavy_atoms", "mean heavy atoms (valid molecules)", "test +- 1.5"),
]


def markdown(result: dict, quick: bool) -> str:
    runs = result["models"]
    names = " | ".join(f"`{r['model']}`" for r in runs)
    lines = [
        f"ZINC250k test split{' (quick: subsample)' if quick else ''}; {result['n_samples']} prior samples; "
        f"{result['hardware']}.",
        "",
        f"| metric | {names} | anchors (published) | target |",
        "|---|" + "---|" * len(runs) + "---|---|",
    ]

    def cell(value, fmt: str = "{:.3f}") -> str:
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)

    for key, metric in METRICS.items():
        lines.append(
            f"| {metric.label} | "
            + " | ".join(cell(r["metrics"].get(key), metric.fmt) for r in runs)
            + f" | {metric.anchors} | {metric.target} |"
        )
    decoding = "; ".join(
        f"`{r['model']}`: prior {r['metrics'].get('prior')}, temperature "
        f"{r['metrics'].get('sampling_temperature')}"
        + (
            f" (ring and branch sizes {r['metrics']['sampling_index_temperature']})"
            if r["metrics"].get("sampling_index_temperature") is not None
            else ""
        )
        for r in runs
    )
    lines += [
        "",
        f"What a chemist sees in the raw samples ({decoding}; each rate over all samples, invalid ones "
        "counted as failures):",
        "",
        f"| check | {names} | test set itself | target |",
        "|---|" + "---|" * len(runs) + "---|---|",
    ]
    first = runs[0]["metrics"]
    for key, label, target in CHEMISTRY_ROWS:
        if key in first and f"ref_{key}" in first:
            lines.append(
                f"| {label} | "
                + " | ".join(cell(r["metrics"].get(key)) for r in runs)
                + f" | {first['ref_' + key]:.3f} | {target} |"
            )
    rows = [
        ("sanity_ratio", "sanity ratio (samples / test)", "1", ">= 0.97"),
        ("repaired", "decodes with an under-bonded bracket atom read as the plain atom", "-", "-"),
        ("ring_masked", f"decodes with a ring closure over {first.get('max_ring')} atoms masked", "-", "-"),
    ]
    for key, label, ref, target in rows:
        if key in first:
            lines.append(
                f"| {label} | " + " | ".join(cell(r["metrics"].get(key)) for r in runs) + f" | {ref} | {target} |"
            )
    extra = [
        "unique@1k",
        "snn",
        "frag",
        "scaf",
        "intdiv1",
        "intdiv2",
        "wasserstein_logp",
        "wasserstein_qed",
        "wasserstein_sa",
        "wasserstein_mw",
        "r2_logp",
        "r2_qed",
        "r2_sa",
        "kl_total",
        "active_units",
    ]
    for r in runs:
        m = r["metrics"]
        lines += [
            "",
            f"Other metrics of `{r['model']}`: "
            + ", ".join(f"{k} {m[k]:.3f}" for k in extra if isinstance(m.get(k), (int, float)))
            + ".",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ZINC250k csv(.gz) with a split column")
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="checkpoint or bundled model name; repeat for several (default: both bundled defaults, "
        "the sampler that 'molvae sample' uses and the latent model of the other verbs)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 test molecules and 1,000 samples")
    parser.add_argument("--samples", type=int, default=None, help="prior samples (default 10,000; quick 1,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other models' entries of the results file in --out and replace (or add) only "
        "the models measured now (same settings required)",
    )
    args = parse_args(parser, argv, timestamps=False)
    models = args.model or list(
        dict.fromkeys(str(p) for p in (default_model_path("sample"), default_model_path()) if p is not None)
    )
    if not models:
        parser.error("no bundled model installed; pass --model")
    if not args.data.exists():
        parser.error(f"{args.data} not found; pass --data (ZINC250k with a split column)")
    n_samples = args.samples or (1000 if args.quick else 10000)
    data = pd.read_csv(args.data, keep_default_na=False, na_filter=False)
    test, train = data[data["split"] == "test"], data[data["split"] == "train"]
    if args.quick:
        test = test.iloc[:1000]
        train = train.iloc[:20000]  # novelty against a train subset in quick mode (an upper bound)
    test_props = np.stack(
        [
            pd.to_numeric(test[c], errors="coerce").to_numpy()
            for c in {"logp": "logP", "qed": "qed", "sa": "SAS"}.values()
        ],
        axis=1,
    )
    stem, note, old = "zinc250k_quick" if args.quick else "zinc250k", None, None
    previous = args.out / f"{stem}.json"
    if args.merge and previous.exists():  # checked before the long evaluation
        old = json.loads(previous.read_text())
        if (old["n_samples"], old["seed"], old["n_test"]) != (n_samples, args.seed, len(test)):
            parser.error(
                f"--merge: {previous} was measured with other settings (samples, seed, test rows "
                f"{old['n_samples']}, {old['seed']}, {old['n_test']})"
            )
    runs = []
    for name in models:
        model = MolVAE.load(name)
        assert model.property_names == ("logp", "qed", "sa"), model.property_names
        t0 = time.perf_counter()
        metrics = evaluate_model(
            model,
            test["smiles"].tolist(),
            test_props,
            train=train["smiles"].tolist(),
            n_samples=n_samples,
            seed=args.seed,
        )
        runs.append(
            {
                "model": Path(name).stem,
                "model_metadata": model.metadata,
                "measured": time.strftime("%Y-%m-%d"),
                "seconds": time.perf_counter() - t0,
                "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()},
            }
        )
    if old is not None:
        fresh = {r["model"]: r for r in runs}
        runs = [fresh.pop(r["model"], r) for r in old["models"]] + list(fresh.values())
        note = "entries measured in separate runs of this script on the same machine (see each entry's 'measured')"
    result = {
        "benchmark": "zinc250k",
        "quick": args.quick,
        "molvae_version": __version__,
        "data": str(args.data.name),
        "n_test": len(test),
        "n_train_for_novelty": len(train),
        "n_samples": n_samples,
        "seed": args.seed,
        "hardware": hardware(),
        "models": runs,
        "anchors": {key: metric.anchors for key, metric in METRICS.items()},
        "targets": {key: metric.target for key, metric in METRICS.items()},
    }
    if note:
        result["note"] = note
    save_results(args.out, stem, result, markdown(result, args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

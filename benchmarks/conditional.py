#!/usr/bin/env python
"""Property-conditioned generation (issue 8): do a conditional model's samples track requested values?

For each target (one property set, the other conditions left at their training average), the same
N latent draws of the conditional model are decoded twice:
  conditioned    with --condition NAME=VALUE
  average        at the training-average condition (what the model writes when nothing is asked)
Reported: mean absolute error between the target and the RDKit value of the valid samples, and the
ratio average / conditioned (target: >= 2, i.e. conditioned samples at least 2x closer). The
baseline is the same model and the same draws, so the ratio measures what the request changes.
Also the paired difference: each conditioned sample's value minus that of the same draw decoded at the
average condition (what `molvae sample --condition` prints beside a request), with a 95% bootstrap
interval.

    python benchmarks/conditional.py --model runs/zinc250k_cvae/best.pt            # N = 500
    python benchmarks/conditional.py --model runs/zinc250k_cvae/best.pt --quick    # N = 100
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from molvae import MolVAE, __version__, chem
from molvae.pretrained import resolve_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, hardware, parse_args, save_results  # noqa: E402

TARGETS = {"qed": (0.6, 0.75, 0.9), "logp": (1.0, 3.0, 5.0)}


def mae(smiles: list, name: str, target: float) -> tuple[float, float, float]:
    ok = [s for s in smiles if s is not None]
    values = chem.compute_properties(ok, [name])[:, 0]
    values = values[np.isfinite(values)]
    return float(np.abs(values - target).mean()), float(values.mean()), len(ok) / max(1, len(smiles))


def paired_difference(
    conditioned: list, average: list, name: str, seed: int = 0, resamples: int = 2000
) -> tuple[float, float, float]:
    """Mean of value(conditioned[i]) - value(average[i]) over draws valid in both, and its 95% bootstrap interval."""
    both = [(c, a) for c, a in zip(conditioned, average) if c is not None and a is not None]
    values = chem.compute_properties([c for c, _ in both] + [a for _, a in both], [name])[:, 0]
    diff = values[: len(both)] - values[len(both) :]
    diff = diff[np.isfinite(diff)]
    boot = np.random.default_rng(seed).choice(diff, size=(resamples, len(diff))).mean(axis=1)
    return float(diff.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a conditional checkpoint (molvae train --condition ...)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=1.0, help="guidance weight W (molvae sample --guidance)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parse_args(parser, argv)
    n = 100 if args.quick else 500
    t0 = time.perf_counter()
    cvae = MolVAE.load(resolve_model(args.model))
    z = cvae.sample_prior(n, seed=args.seed)
    average = cvae.decode(z)
    rows = []
    for name, targets in TARGETS.items():
        if name not in cvae.conditions:
            continue
        for target in targets:
            condition = cvae.standardize_condition({name: target})
            cond = cvae.decode(z, condition=condition, guidance=args.guidance)
            (m_c, mean_c, v_c), (m_a, mean_a, v_a) = mae(cond, name, target), mae(average, name, target)
            diff, low, high = paired_difference(cond, average, name, args.seed)
            rows.append(
                {
                    "property": name,
                    "target": target,
                    "conditional_mae": round(m_c, 4),
                    "conditional_mean": round(mean_c, 4),
                    "conditional_validity": round(v_c, 4),
                    "average_mae": round(m_a, 4),
                    "average_mean": round(mean_a, 4),
                    "average_validity": round(v_a, 4),
                    "ratio": round(m_a / max(m_c, 1e-9), 2),
                    "paired_difference": round(diff, 4),
                    "paired_difference_ci95": [round(low, 4), round(high, 4)],
                }
            )
            logging.info("%s", rows[-1])
    baseline = {
        name: round(float(np.nanmean(chem.compute_properties([s for s in average if s], [name])[:, 0])), 4)
        for name in cvae.conditions
        if name in chem.PROPERTIES
    }
    result = {
        "molvae": __version__,
        "hardware": hardware(),
        "model": str(args.model),
        "n": n,
        "quick": args.quick,
        "guidance": args.guidance,
        "conditions": list(cvae.conditions),
        "conditional_model_at_average_condition": baseline,
        "targets": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    lines = [
        "| property = target | conditioned: MAE (mean) | same draws at the average condition: MAE (mean) | ratio "
        "| paired difference (95% CI) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['property']} = {r['target']:g} | {r['conditional_mae']:.3f} ({r['conditional_mean']:.2f}) | "
            f"{r['average_mae']:.3f} ({r['average_mean']:.2f}) | {r['ratio']:.2f}x | "
            f"{r['paired_difference']:+.3f} ({r['paired_difference_ci95'][0]:+.3f} to "
            f"{r['paired_difference_ci95'][1]:+.3f}) |"
        )
    lines.append(
        f"\n{n} samples per target, greedy decoding, guidance {args.guidance:g}; conditional model at the "
        f"average condition: "
        f"{baseline}; {result['hardware']}."
    )
    stem = "conditional_quick" if args.quick else "conditional"
    if args.guidance != 1.0:
        stem += f"_guidance{args.guidance:g}"
    save_results(args.out, stem, result, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

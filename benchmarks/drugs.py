#!/usr/bin/env python
"""The latent space around approved drugs that ZINC250k does not hold (issue 47's second acceptance item).

For each model: exact reconstruction of the drugs (``molvae reconstruct`` defaults); ``explore -n 100``
at its default radius around each drug (distinct neighbours, the share that is familiar: every atom
environment seen in ZINC250k, and their Tanimoto similarity to the drug, Morgan radius 2); and
``interpolate --steps 10`` between consecutive drugs of the list (the share of familiar molecules among
the points strictly between the ends). The drugs: ``data/approved_drugs.csv`` (32 approved drugs of
19-37 heavy atoms, none of them in ZINC250k as canonical SMILES without stereochemistry).

    python benchmarks/drugs.py                                  # the bundled latent model
    python benchmarks/drugs.py --models zinc250k_selfies RUN/best.pt --labels bundled candidate
    python benchmarks/drugs.py --quick                          # 6 drugs, 20 draws (< 1 minute)

Every rate is also measured on a control set of the data itself (``--control``: 32 molecules of 19-37
heavy atoms drawn from the ZINC250k *valid* split, seeded), so a rate on the drugs reads beside the
same rate where the model was trained.

Writes benchmarks/results/drugs.json and drugs.md (``--stem`` to change the name).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEFAULT_DATA, cpu_name, measure_models, models_parser, parse_args, save_comparison  # noqa: E402

import molvae  # noqa: E402
from molvae import chem  # noqa: E402

DRUGS = HERE.parent / "data" / "approved_drugs.csv"
# what issue 47 asks of the default model around drugs outside ZINC
TARGETS = {
    "reconstruction": 0.60,
    "neighbours_min": 30,
    "explore_familiar": 0.80,
    "explore_median_similarity": 0.35,
    "interpolate_familiar": 0.80,
}


def measure(model: molvae.MolVAE, drugs: pd.DataFrame, draws: int, steps: int, seed: int) -> dict:
    started = time.perf_counter()
    recon = molvae.reconstruct(model, drugs["smiles"].tolist())
    per_drug = []
    pooled_sims: list[float] = []
    pooled_familiar: list[bool] = []
    for name, smiles in zip(drugs["name"], drugs["smiles"], strict=True):
        frame = molvae.explore(model, smiles, n=draws, seed=seed)
        familiar = chem.familiar_flags(frame["smiles"].tolist()) if len(frame) else np.zeros(0, bool)
        pooled_sims.extend(frame["similarity"].tolist())
        pooled_familiar.extend(familiar.tolist())
        per_drug.append(
            {
                "name": name,
                "neighbours": len(frame),
                "familiar": float(familiar.mean()) if len(frame) else 0.0,
                "median_similarity": float(frame["similarity"].median()) if len(frame) else 0.0,
                "recovered": float(frame["query_recovered"].iloc[0]) if len(frame) else float("nan"),
            }
        )
    between, ends_back = [], []
    for a, b in zip(drugs["smiles"][:-1], drugs["smiles"][1:], strict=True):
        path = molvae.interpolate(model, a, b, steps=steps)
        ends_back.extend([path["start_recovered"].iloc[0] == 1.0, path["end_recovered"].iloc[0] == 1.0])
        inner = path.iloc[1:-1]
        inner = inner[inner["valid"]]
        between.extend(chem.familiar_flags(inner["smiles"].tolist()).tolist())
    neighbours = np.array([d["neighbours"] for d in per_drug])
    return {
        "drugs": len(drugs),
        "reconstruction": float(recon["match"].mean()),
        "reconstructed": [n for n, m in zip(drugs["name"], recon["match"], strict=True) if m],
        "neighbours_mean": float(neighbours.mean()),
        "neighbours_min": int(neighbours.min()),
        "drugs_with_30_neighbours": int((neighbours >= 30).sum()),
        "explore_familiar": float(np.mean(pooled_familiar)) if pooled_familiar else 0.0,
        "explore_median_similarity": float(np.median(pooled_sims)) if pooled_sims else 0.0,
        "interpolate_pairs": len(drugs) - 1,
        "interpolate_points": len(between),
        "interpolate_familiar": float(np.mean(between)) if between else 0.0,
        "interpolate_ends_recovered": float(np.mean(ends_back)),
        "per_drug": per_drug,
        "seconds": time.perf_counter() - started,
    }


def control_set(data: str, n: int, seed: int) -> pd.DataFrame:
    """``n`` molecules of the valid split with 19-37 heavy atoms (the drugs' range), seeded."""
    frame = pd.read_csv(data)
    smiles = frame.loc[frame["split"] == "valid", "smiles"].str.strip()
    heavy = chem.heavy_atom_counts(smiles.tolist())
    picked = smiles[(heavy >= 19) & (heavy <= 37)].sample(n=n, random_state=seed).tolist()
    return pd.DataFrame({"name": [f"zinc_valid_{i}" for i in range(n)], "smiles": picked})


ROWS = (  # label, key, target, format: the table of drugs.md and of docs/benchmarks.md (from the result file)
    ("exact reconstruction (`reconstruct` defaults)", "reconstruction", ">= 0.60", "{:.3f}"),
    ("explore: mean distinct neighbours of 100 draws", "neighbours_mean", "", "{:.1f}"),
    ("explore: fewest distinct neighbours of one molecule", "neighbours_min", ">= 30", "{:d}"),
    ("explore: familiar neighbours", "explore_familiar", ">= 0.80", "{:.3f}"),
    ("explore: median Tanimoto to the molecule", "explore_median_similarity", ">= 0.35", "{:.3f}"),
    ("interpolate: familiar points between the ends", "interpolate_familiar", ">= 0.80", "{:.3f}"),
    ("interpolate: ends that come back", "interpolate_ends_recovered", "", "{:.3f}"),
)


def markdown(results: dict) -> str:
    rows = results["rows"]
    labels = list(results["models"])
    lines = [
        f"Drugs outside ZINC250k ({results['drugs']} approved drugs, `{results['drug_file']}`; "
        f"{results['draws']} explore draws, {results['steps']} interpolation steps; {results['hardware']})",
        "",
        "| metric | target | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    control = all("control" in results["models"][m] for m in labels)
    for label, key, target, fmt in rows:
        cells = []
        for m in labels:
            cell = fmt.format(results["models"][m][key])
            if control:
                cell += " (ZINC " + fmt.format(results["models"][m]["control"][key]) + ")"
            cells.append(cell)
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")
    if control:
        lines += [
            "",
            f"In brackets: the same measure on {results['control_molecules']} molecules of 19-37 heavy atoms "
            "from the ZINC250k valid split (seeded), the data the model learned from.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = models_parser(__doc__)
    p.add_argument("--drugs", default=str(DRUGS), help="CSV with name and smiles columns")
    p.add_argument("--draws", type=int, default=100)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--control", type=int, default=32, help="valid-split ZINC molecules measured the same way (0: none)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="ZINC250k with a split column (the control set)")
    p.add_argument("--quick", action="store_true", help="6 drugs and 20 draws")
    p.add_argument("--stem", default=None, help="result file name (default: drugs, or drugs_quick)")
    args = parse_args(p, argv, level=logging.ERROR)
    drugs = pd.read_csv(args.drugs)
    if args.quick:
        drugs, args.draws, args.control = drugs.head(6), 20, min(args.control, 6)
    control = control_set(args.data, args.control, args.seed) if args.control else None

    def measured(model: molvae.MolVAE) -> dict:
        """The drugs' measures, and the control set's under "control"."""
        m = measure(model, drugs, args.draws, args.steps, args.seed)
        if control is not None:
            m["control"] = measure(model, control, args.draws, args.steps, args.seed)
        return m

    results = {
        "drug_file": Path(args.drugs).name,
        "drugs": len(drugs),
        "draws": args.draws,
        "steps": args.steps,
        "seed": args.seed,
        "molvae": molvae.__version__,
        "torch_threads": torch.get_num_threads(),
        "hardware": f"{cpu_name()}, {torch.get_num_threads()} torch threads",
        "control_molecules": 0 if control is None else len(control),
        "targets": TARGETS,
        "rows": ROWS,
        "models": measure_models(args, measured),
    }
    # the label of the bundled latent model, if measured: the docs quote its figures
    results["bundled"] = next((k for k, m in results["models"].items() if m["model"] == "zinc250k_selfies"), None)
    for label, m in results["models"].items():
        print(
            f"{label}: reconstruction {m['reconstruction']:.3f}, neighbours {m['neighbours_mean']:.1f} "
            f"(min {m['neighbours_min']}), familiar {m['explore_familiar']:.3f}, median similarity "
            f"{m['explore_median_similarity']:.3f}, interpolation familiar {m['interpolate_familiar']:.3f} "
            f"({m['seconds']:.0f} s)"
        )
    save_comparison(args, "drugs", results, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

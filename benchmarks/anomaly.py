#!/usr/bin/env python
"""Outlier scoring with the bundled model: can its likelihood tell ZINC250k test molecules from
molecule sets a drug-like model should find unusual? (issue 8; target AUROC >= 0.95)

Unusual sets are built here with RDKit (seeded): linear peptides (3-8 residues), macrocycles
(12-22-membered rings with heteroatoms, lactams/lactones), and oligosaccharides (1-4 pyranose
units with random stereochemistry). Molecules the model cannot read at all (unknown tokens, too
long) are scored +inf; the AUROC is also given over readable molecules only, the real test of the
likelihood.

    python benchmarks/anomaly.py            # 2,000 test molecules, 300 per unusual set, K = 8
    python benchmarks/anomaly.py --quick    # 500 test molecules, 100 per set, K = 1 (well under 2 minutes)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import MolVAE, __version__, chem
from molvae.evaluation.scoring import auroc, score_molecules

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, hardware, parse_args, save_results  # noqa: E402

SIDE_CHAINS = [
    "",
    "C",
    "C(C)C",
    "CC(C)C",
    "[C@@H](C)CC",
    "CO",
    "[C@H](C)O",
    "Cc1ccccc1",
    "Cc1ccc(O)cc1",
    "Cc1c[nH]c2ccccc12",
    "CCCCN",
    "CCCNC(=N)N",
    "CC(=O)O",
    "CCC(=O)O",
    "CC(N)=O",
    "CCC(N)=O",
    "CCSC",
    "CS",
    "Cc1cnc[nH]1",
]
SCORES = ("neg_elbo", "neg_log_likelihood", "mahalanobis", "recon_nll")


def peptides(n: int, rng: np.random.Generator) -> list[str]:
    out = []
    while len(out) < n:
        residues = [SIDE_CHAINS[i] for i in rng.integers(0, len(SIDE_CHAINS), rng.integers(3, 9))]
        smi = "".join(f"N[C@@H]({r})C(=O)" if r else "NCC(=O)" for r in residues) + "O"
        out.append(smi)
    return out


def macrocycles(n: int, rng: np.random.Generator) -> list[str]:
    out = []
    while len(out) < n:
        size = int(rng.integers(12, 23))
        atoms = list(rng.choice(["C", "C", "C", "C", "O", "N"], size=size))
        if any(a != "C" and atoms[i - 1] != "C" for i, a in enumerate(atoms)):
            continue  # no heteroatom next to another (no peroxides, hydrazines)
        if rng.random() < 0.5:  # a lactam or lactone
            atoms[1] = "C(=O)"
        if rng.random() < 0.3:
            atoms[size // 2] = "C(c2ccccc2)"
        out.append(atoms[0] + "1" + "".join(atoms[1:]) + "1")
    return out


def sugars(n: int, rng: np.random.Generator) -> list[str]:
    def unit(tail: str, ring: int) -> str:  # a pyranose whose anomeric O links to C6 of ``tail`` (1->6)
        s = [rng.choice(["@", "@@"]) for _ in range(5)]
        return f"OC[C{s[0]}H]{ring}O[C{s[1]}H](O{tail[1:]})[C{s[2]}H](O)[C{s[3]}H](O)[C{s[4]}H]{ring}O"

    out = []
    while len(out) < n:
        smi = "O"
        for ring in range(1, int(rng.integers(1, 5)) + 1):
            smi = unit(smi, ring)
        out.append(smi)
    return out


def distinct_valid(smiles: list[str], n: int) -> list[str]:
    canonical, _ = chem.canonicalize_many(smiles)
    return list(dict.fromkeys(c for c in canonical if c))[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parse_args(parser, argv)
    n_test, n_set, k = (500, 100, 1) if args.quick else (2000, 300, 8)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    frame = pd.read_csv(args.data, keep_default_na=False)
    test = frame.loc[frame["split"] == "test", "smiles"].sample(n_test, random_state=args.seed).tolist()
    sets = {
        "peptides": distinct_valid(peptides(3 * n_set, rng), n_set),
        "macrocycles": distinct_valid(macrocycles(3 * n_set, rng), n_set),
        "sugars": distinct_valid(sugars(3 * n_set, rng), n_set),
    }
    model = MolVAE.load()
    scored = {"zinc_test": score_molecules(model, test, n_samples=k, seed=args.seed, exact_match=False)}
    for name, smiles in sets.items():
        scored[name] = score_molecules(model, smiles, n_samples=k, seed=args.seed, exact_match=False)
    result = {
        "molvae": __version__,
        "hardware": hardware(),
        "quick": args.quick,
        "importance_samples": k,
        "n": {name: len(t) for name, t in scored.items()},
        "readable": {name: round(float(t["valid"].mean()), 4) for name, t in scored.items()},
        "outlier_rate": {},
        "auroc": {},
        "auroc_readable_only": {},
    }
    base = scored["zinc_test"]
    for name in sets:
        both = pd.concat([base.assign(label=False), scored[name].assign(label=True)], ignore_index=True)
        readable = both[both["valid"]]
        result["auroc"][name] = {
            s: round(auroc(both[s].to_numpy(), both["label"].to_numpy()), 4) for s in SCORES if s in both
        }
        if readable["label"].any() and (~readable["label"]).any():
            result["auroc_readable_only"][name] = {
                s: round(auroc(readable[s].to_numpy(), readable["label"].to_numpy()), 4)
                for s in SCORES
                if s in readable
            }
    if "outlier" in base:
        result["outlier_rate"] = {name: round(float(t["outlier"].mean()), 4) for name, t in scored.items()}
    allsets = pd.concat([base.assign(label=False)] + [scored[n].assign(label=True) for n in sets], ignore_index=True)
    result["auroc"]["all_unusual"] = {
        s: round(auroc(allsets[s].to_numpy(), allsets["label"].to_numpy()), 4) for s in SCORES if s in allsets
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    lines = [
        "| unusual set | n | readable by the model | AUROC neg ELBO | AUROC neg ELBO, readable only | "
        "AUROC Mahalanobis | flagged as outliers |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in list(sets) + ["all_unusual"]:
        a = result["auroc"][name]
        r = result["auroc_readable_only"].get(name, {})
        lines.append(
            f"| {name} | {result['n'].get(name, '-')} | {result['readable'].get(name, '-')} | "
            f"{a['neg_elbo']} | {r.get('neg_elbo', '-')} | {a.get('mahalanobis', '-')} | "
            f"{result['outlier_rate'].get(name, '-')} |"
        )
    lines.append(
        f"\nZINC250k test molecules: {result['n']['zinc_test']}, flagged as outliers: "
        f"{result['outlier_rate'].get('zinc_test', '-')}; K = {k}; {result['hardware']}."
    )
    save_results(args.out, "anomaly_quick" if args.quick else "anomaly", result, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

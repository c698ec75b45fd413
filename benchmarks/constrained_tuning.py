#!/usr/bin/env python
"""Settings of ``molvae optimize --method improve`` for the constrained task, chosen on the *valid*
split (never on test): the ``--molecules`` valid molecules with the lowest penalized logP are
improved under Tanimoto similarity >= 0.4 with each setting, in one run, one seed.

    python benchmarks/constrained_tuning.py                       # 80 molecules, edit rounds 0 2 4
    python benchmarks/constrained_tuning.py --rounds 0 3 --mutate-fractions 1.0 0.5

Writes ``benchmarks/results/constrained_tuning.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import MolVAE, chem
from molvae.search.constrained import ConstrainedConfig, improve_molecules
from molvae.search.objectives import make_objective, penalized_logp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEFAULT_DATA, RESULTS, hardware, parse_args, save_results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--molecules", type=int, default=80)
    parser.add_argument("--rounds", type=int, nargs="+", default=[0, 2, 4], help="graph-edit rounds to compare")
    parser.add_argument("--edits", type=int, nargs="+", default=[50], help="children per start and round")
    parser.add_argument("--mutate-fractions", type=float, nargs="+", default=[1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parse_args(parser, argv)
    if not args.data.exists():
        parser.error(f"{args.data} not found (the shared ZINC250k file)")
    frame = pd.read_csv(args.data, keep_default_na=False)
    valid, _ = chem.canonicalize_many(frame.loc[frame["split"] == "valid", "smiles"].tolist())
    valid = [s for s in valid if s]
    scores = penalized_logp(valid)
    starts = [valid[i] for i in np.argsort(scores, kind="stable")[: args.molecules]]
    model = MolVAE.load()
    rows = []
    for rounds in args.rounds:
        for edits in args.edits:
            for fraction in args.mutate_fractions:
                config = ConstrainedConfig(
                    edit_rounds=rounds, n_edits=edits, edit_mutate_fraction=fraction, seed=args.seed
                )
                t0 = time.perf_counter()
                table = improve_molecules(model, starts, make_objective("penalized_logp"), config, progress=False)
                rows.append(
                    {
                        "edit_rounds": rounds,
                        "n_edits": edits,
                        "mutate_fraction": fraction,
                        "improvement": round(float(table["improvement"].fillna(0.0).mean()), 3),
                        "success_rate": round(float(table["success"].mean()), 4),
                        "candidates_per_molecule": round(float(table["candidates"].mean()), 1),
                        "seconds_per_molecule": round((time.perf_counter() - t0) / len(starts), 2),
                    }
                )
                logging.info("%s", rows[-1])
                if rounds == 0:
                    break  # the fraction and the edit count do not matter without edits
            if rounds == 0:
                break
    result = {"split": "valid", "molecules": len(starts), "seed": args.seed, "hardware": hardware(), "rows": rows}
    lines = [
        "| edit rounds | children per round | mutation share | improvement | success | candidates | s/molecule |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['edit_rounds']} | {r['n_edits']} | {r['mutate_fraction']} | {r['improvement']} | "
        f"{r['success_rate']} | {r['candidates_per_molecule']} | {r['seconds_per_molecule']} |"
        for r in rows
    ]
    save_results(args.out, "constrained_tuning", result, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

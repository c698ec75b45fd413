#!/usr/bin/env python
"""Build a reference set of atom environments (Morgan radius-1 identifiers) from a molecule table,
for :func:`molvae.chem.familiar_flags` and ``molvae optimize --environments``.

The shipped ``molvae/pretrained/zinc250k_atom_environments.npy`` is the set of ZINC250k's training
split, made with:

    python scripts/atom_environments.py ../shared/data/zinc250k.csv.gz --split train \
        -o molvae/pretrained/zinc250k_atom_environments.npy

Environments held by fewer than ``--min-count`` molecules are left out (default 1: every one seen).
The identifiers are RDKit's Morgan hashes; rebuild the file if a new RDKit release changes them (the
tests check that ZINC-like molecules stay familiar).
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from molvae import chem
from molvae.io import read_molecules

logger = logging.getLogger("atom_environments")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("data", help="molecules (.csv/.tsv/.smi/.parquet, optionally .gz) with a SMILES column")
    p.add_argument("-o", "--output", required=True, help="the .npy file to write")
    p.add_argument("--split", default=None, help="keep only rows whose 'split' column has this value")
    p.add_argument("--min-count", type=int, default=1, help="molecules an environment must occur in (default 1)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.min_count < 1:
        p.error("--min-count must be at least 1")
    if not args.output.endswith(".npy"):
        p.error("--output must end in .npy")
    table = read_molecules(args.data)
    smiles = table.smiles
    if args.split is not None:
        if "split" not in table.frame.columns:
            p.error(f"{args.data} has no 'split' column")
        smiles = [s for s, keep in zip(smiles, table.frame["split"] == args.split) if keep]
        if not smiles:
            p.error(f"no row of {args.data} has split {args.split!r}")
    counts = chem.environment_counts(smiles)
    ids = np.array(sorted(e for e, c in counts.items() if c >= args.min_count), dtype=np.int64)
    np.save(args.output, ids)
    logger.info(
        "%d atom environments from %d SMILES (ones RDKit cannot read add none) written to %s",
        len(ids),
        len(smiles),
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

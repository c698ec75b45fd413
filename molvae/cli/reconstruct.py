"""molvae reconstruct: encode to the latent mean, decode greedily, compare."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from molvae.metrics import reconstruction_accuracy

from molvae.cli.common import add_common, add_input, row_columns, start, write_output

HELP = "encode then decode molecules and report exact-match reconstruction accuracy"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help=HELP, description=HELP + " (canonical SMILES equality, greedy decoding "
                       "from the latent mean).")
    add_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .csv/.tsv/.parquet")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model, table = start(args)
    enc, decoded = model.reconstruct(table.smiles, keep_largest_fragment=args.keep_largest_fragment)
    match = np.array([d is not None and d == s for d, s in zip(decoded, enc.smiles)])
    columns = row_columns(table)
    columns.update({"smiles": enc.smiles, "reconstructed": decoded, "match": match,
                    "valid": enc.valid, "reason": enc.reasons})
    write_output(pd.DataFrame(columns), args.output)
    acc = reconstruction_accuracy(enc.smiles, decoded)
    n_valid = int(enc.valid.sum())
    print(f"reconstruction accuracy: {acc:.4f} ({int(match.sum())}/{n_valid} valid inputs; "
          f"{len(table) - n_valid} of {len(table)} rows invalid, marked in the output) -> {args.output}")
    return 0

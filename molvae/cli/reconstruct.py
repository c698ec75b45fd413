"""molvae reconstruct: encode to the latent mean, decode greedily, compare."""

from __future__ import annotations

import argparse


from molvae import api
from molvae.evaluation.metrics import reconstruction_accuracy

from molvae.cli.common import add_common, add_input, start, write_output

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
    frame = api.reconstruct(model, table, keep_largest_fragment=args.keep_largest_fragment)
    write_output(frame, args.output)
    match = frame["match"].to_numpy()
    acc = reconstruction_accuracy(frame["smiles"].tolist(), frame["reconstructed"].tolist())
    n_valid = int(frame["valid"].sum())
    print(f"reconstruction accuracy: {acc:.4f} ({int(match.sum())}/{n_valid} valid inputs; "
          f"{len(table) - n_valid} of {len(table)} rows invalid, marked in the output) -> {args.output}")
    return 0

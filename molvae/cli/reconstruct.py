"""molvae reconstruct: encode to the latent mean, decode greedily, compare."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import add_common, add_input, start, write_output

HELP = "encode then decode molecules and report exact-match reconstruction accuracy"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help=HELP,
        description=HELP + " (canonical SMILES equality, greedy decoding from the latent mean).",
    )
    add_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .csv/.tsv/.parquet")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model, table = start(args)
    frame = api.reconstruct(model, table, keep_largest_fragment=args.keep_largest_fragment)
    write_output(frame, args.output)
    valid = frame["valid"].to_numpy(dtype=bool)
    n_valid, n_match = int(valid.sum()), int((frame["match"].to_numpy(dtype=bool) & valid).sum())
    accuracy = f"{n_match / n_valid:.4f}" if n_valid else "n/a"
    print(
        f"reconstruction accuracy: {accuracy} ({n_match} of {n_valid} valid inputs reconstructed exactly); "
        f"{len(frame) - n_valid} of {len(frame)} rows invalid, marked in the output -> {args.output}"
    )
    return 0

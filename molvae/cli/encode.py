"""molvae encode: latent means (optionally log-variances) and predicted properties per molecule."""

from __future__ import annotations

import argparse
from collections import Counter

import pandas as pd

from molvae.cli.common import add_common, add_input, latent_frame, rejects_path, row_columns, start, write_output

HELP = "encode molecules to latent vectors and predicted properties"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help=HELP, description=HELP + ". Every input row is in the output, in input "
                       "order; rows that cannot be encoded have valid=False, a reason and empty latents.")
    add_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output .csv/.tsv/.parquet (table) or .npy (latent means only, n x d, NaN rows for invalid)")
    p.add_argument("--logvar", action="store_true", help="also write log-variances (columns logvar0..)")
    p.add_argument("--batch-size", type=int, default=512, help="molecules per forward pass (default: 512)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model, table = start(args)
    enc = model.encode(table.smiles, batch_size=args.batch_size, keep_largest_fragment=args.keep_largest_fragment)
    columns = row_columns(table)
    columns.update({"smiles": enc.smiles, "valid": enc.valid, "reason": enc.reasons})
    parts = [pd.DataFrame(columns), latent_frame(enc.mu)]
    if args.logvar:
        parts.append(latent_frame(enc.logvar, "logvar"))
    if enc.property_names:
        parts.append(pd.DataFrame(enc.properties, columns=[f"pred_{p}" for p in enc.property_names]))
    frame = pd.concat(parts, axis=1)
    write_output(frame, args.output, array=enc.mu)
    n_bad = int((~enc.valid).sum())
    if n_bad and args.output.endswith(".npy"):
        write_output(frame.loc[~enc.valid, list(columns)], str(rejects_path(args.output)))
    kinds = Counter(r.split(":")[0] for r in enc.reasons if r)
    detail = ": " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()) if kinds else ""
    print(f"encoded {int(enc.valid.sum())} of {len(table)} molecules ({n_bad} invalid{detail}; marked in the "
          f"output) -> {args.output}")
    return 0

"""molvae neighbors: the library compounds closest to query molecules in latent space."""

from __future__ import annotations

import argparse
from pathlib import Path

from molvae import api
from molvae.cli.common import add_common, add_output, start, write_output
from molvae.io import read_molecules

HELP = "find the nearest compounds of an encoded library to query molecules (latent means, Euclidean)"
DESCRIPTION = (
    HELP + ". Encode the library once with 'molvae encode LIB.csv -o LIB.parquet'; "
    "queries are encoded with the same model."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--library", required=True, metavar="LIB", help="output of 'molvae encode' (.parquet/.csv)")
    p.add_argument("--query", required=True, metavar="SMILES_OR_FILE", help="a SMILES, or a molecule file")
    p.add_argument("-k", type=int, default=10, help="neighbours per query (default: 10)")
    p.add_argument("--rerank", action="store_true", help="order each query's hits by Tanimoto similarity")
    add_output(p, "write all hits (.csv/.tsv/.parquet)")
    add_common(p)


def run(args: argparse.Namespace) -> int:
    model, _ = start(args, read_input=False)
    queries = read_molecules(args.query).smiles if Path(args.query).is_file() else [args.query]
    hits = api.neighbors(model, args.library, queries, k=args.k, rerank=args.rerank)
    enc = model.prepare(queries)  # what each query became (canonical, or why not), for the listing
    if args.output:
        write_output(hits, args.output)
    for q in range(len(queries)):
        rows = hits[hits["query"] == q]
        if rows.empty:
            print(f"query {q}: {queries[q]!r} cannot be encoded ({enc.reasons[q]})")
            continue
        print(f"query {q}: {enc.canonical[q]}")
        for _, r in rows.iterrows():
            sim = f"  sim {r.similarity:.2f}" if "similarity" in rows else ""
            print(f"  {int(r['rank']):3d}  dist {r.distance:7.3f}{sim}  {r.smiles}")
    return 0

"""molvae explore: valid neighbours of a molecule in latent space."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import add_common, add_image, add_output, start, write_and_draw
from molvae.search.explore import DEFAULT_RADIUS

HELP = "sample around a molecule's latent point and list its valid neighbours"
DESCRIPTION = HELP + ", ranked by Tanimoto similarity, with QED, logP, SA and MW."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("smiles", metavar="SMILES", help="the query molecule")
    p.add_argument("-n", "--num-samples", type=int, default=100, help="latent draws (default: 100)")
    p.add_argument(
        "--radius",
        type=float,
        default=DEFAULT_RADIUS,
        help="spread of the draws around the latent mean, in the molecule's posterior standard deviations "
        f"(default: {DEFAULT_RADIUS})",
    )
    p.add_argument("--top", type=int, default=20, help="neighbours to print (default: 20)")
    add_output(p, "write every neighbour (.csv/.tsv/.parquet)")
    add_image(p, "draw the query and its --top neighbours with similarity, QED and draw count (.png or .svg)")
    add_common(p)


def run(args: argparse.Namespace) -> int:
    model, _ = start(args, read_input=False)
    table = api.explore(model, args.smiles, n=args.num_samples, radius=args.radius, seed=args.seed)
    top = table.head(args.top)
    legends = [f"sim {r.similarity:.2f}  QED {r.qed:.2f}\nfound {int(r['count'])}x" for _, r in top.iterrows()]
    write_and_draw(args, table, [args.smiles, *top["smiles"]], ["query", *legends])
    print(f"{len(table)} distinct valid neighbours from {args.num_samples} draws (radius {args.radius}):")
    print("  sim   count  qed   logp   sa    mw      smiles")
    for _, r in top.iterrows():
        print(
            f"  {r.similarity:.2f}  {int(r['count']):5d}  {r.qed:.2f}  {r.logp:5.2f}  {r.sa:.2f}  {r.mw:6.1f}  "
            f"{r.smiles}"
        )
    return 0

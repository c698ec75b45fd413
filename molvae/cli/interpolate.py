"""molvae interpolate: decode a path between two molecules in latent space."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import add_common, add_image, add_output, start, write_and_draw
from molvae.search.interpolate import METHODS

HELP = "decode the latent path between two molecules"
DESCRIPTION = HELP + ": the unique valid molecules along it, in order, with Tanimoto similarity to both ends."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("start", metavar="A", help="SMILES of the first molecule")
    p.add_argument("end", metavar="B", help="SMILES of the second molecule")
    p.add_argument("--steps", type=int, default=10, help="intervals between A and B (default: 10)")
    p.add_argument("--method", choices=METHODS, default="linear", help="linear or spherical (slerp) path")
    add_output(p, "write every point (.csv/.tsv/.parquet)")
    add_image(
        p, "draw the unique molecules along the path, in order, with step, t and similarities to A and B (.png or .svg)"
    )
    add_common(p)


def run(args: argparse.Namespace) -> int:
    model, _ = start(args, read_input=False)
    table = api.interpolate(model, args.start, args.end, steps=args.steps, method=args.method)
    unique = table[table["new"]]
    legends = [
        f"step {int(r.step)}  t={r.t:.2f}\nsim A {r.sim_start:.2f}  B {r.sim_end:.2f}" for _, r in unique.iterrows()
    ]
    write_and_draw(args, table, unique["smiles"].tolist(), legends, mols_per_row=6)
    print(f"{len(unique)} unique valid molecules along {len(table)} points ({args.method}):")
    print("   t     sim_A  sim_B  smiles")
    for _, row in unique.iterrows():
        print(f"  {row.t:.2f}  {row.sim_start:.2f}   {row.sim_end:.2f}   {row.smiles}")
    return 0

"""molvae decode: latent vectors -> RDKit-validated canonical SMILES."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import TABLE_OUTPUT, add_common, add_output, start, write_output
from molvae.io import read_latents

HELP = "decode latent vectors to RDKit-validated canonical SMILES"
DESCRIPTION = HELP + ". Greedy by default; --temperature > 0 samples."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "latents",
        metavar="LATENTS",
        help=".npy (n x d) or a table with columns z0..z{d-1} (e.g. the output of 'molvae encode')",
    )
    add_output(p, TABLE_OUTPUT, required=True)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); > 0 samples tokens")
    p.add_argument(
        "--index-temperature",
        type=float,
        default=None,
        metavar="T",
        help="with --temperature > 0: the temperature of ring and branch sizes (SELFIES index tokens; "
        "0 = greedy; default: the model's own choice, as 'molvae sample', else --temperature)",
    )
    add_common(p)


def run(args: argparse.Namespace) -> int:
    model, _ = start(args, read_input=False)
    z = read_latents(args.latents)
    frame = api.decode(model, z, temperature=args.temperature, seed=args.seed, index_temperature=args.index_temperature)
    valid = frame["valid"].to_numpy()
    write_output(frame, args.output)
    print(f"decoded {len(z)} latent points: {int(valid.sum())} valid ({valid.mean():.1%}) -> {args.output}")
    return 0

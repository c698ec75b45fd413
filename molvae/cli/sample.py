"""molvae sample: decode draws from the prior N(0, I)."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from molvae.errors import InputError
from molvae.io import read_molecules
from molvae.metrics import novelty, uniqueness, validity

from molvae.cli.common import add_common, latent_frame, start, write_output

HELP = "sample new molecules from the prior and report validity, uniqueness and novelty"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help=HELP, description=HELP + ".")
    p.add_argument("-n", "--num-samples", type=int, default=1000, help="number of prior draws (default: 1000)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .csv/.tsv/.parquet")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy decoding (default); > 0 samples tokens")
    p.add_argument("--train", metavar="FILE", help="training molecules, to report novelty (default: the "
                   "training-set hashes stored in the model, when it has them)")
    p.add_argument("--latents", action="store_true", help="also write the sampled latent vectors (z0..)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.num_samples < 1:
        raise InputError("-n must be at least 1")
    model, _ = start(args, read_input=False)
    z = model.sample_prior(args.num_samples, seed=args.seed)
    res = model.decode_detailed(z, temperature=args.temperature, seed=args.seed)
    valid = np.array([s is not None for s in res.smiles])
    frame = pd.DataFrame({"smiles": res.smiles, "valid": valid, "reason": res.reasons})
    if args.latents:
        frame = pd.concat([frame, latent_frame(z)], axis=1)
    report = f"validity {validity(res.smiles):.4f}, uniqueness {uniqueness(res.smiles):.4f}"
    if args.train:
        train = read_molecules(args.train)
        reference = set(model.prepare(train.smiles).canonical) - {None}
        report += f", novelty {novelty(res.smiles, reference):.4f}"
    elif (novel := model.novel(res.smiles)) is not None:
        distinct = {s: n for s, n in zip(res.smiles, novel) if s is not None}
        if distinct:
            report += f", novelty {sum(distinct.values()) / len(distinct):.4f} (vs the model's training set)"
        frame.insert(3, "novel", novel)
    write_output(frame, args.output)
    print(f"sampled {args.num_samples} molecules: {report} -> {args.output}")
    return 0

"""molvae optimize: find molecules that maximize an objective, within a budget of oracle calls."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from molvae.errors import InputError
from molvae.io import read_molecules
from molvae.search.bo import ACQUISITIONS, BOConfig, optimize
from molvae.search.gradient import gradient_ascent
from molvae.search.objectives import list_objectives, make_objective

from molvae.cli.common import add_common, show_progress, start, write_output

HELP = "optimize molecules for an objective by Bayesian optimization (or gradient ascent) in latent space"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimize", help=HELP, description=HELP + ". Every evaluated molecule goes to --output with "
                       "its score, step and latent point; the best-so-far per step to OUT.trace.csv.")
    p.add_argument("--objective", default="qed", help="objective name or spec (see --list-objectives; default: qed)")
    p.add_argument("--list-objectives", action="store_true", help="list objectives and exit")
    p.add_argument("--budget", type=int, default=300, help="oracle calls, initial data included (default: 300)")
    p.add_argument("--method", choices=("bo", "gradient"), default="bo", help="default: bo")
    p.add_argument("--batch-size", type=int, default=10, help="BO proposals per step (default: 10)")
    p.add_argument("--acquisition", choices=ACQUISITIONS, default="qlognei", help="default: qlognei")
    p.add_argument("--trust-region", action="store_true", help="TuRBO-style trust region around the incumbent")
    p.add_argument("--init", metavar="FILE", help="initial molecules (a library); default: prior samples")
    p.add_argument("--n-init", type=int, default=50, help="prior samples to start from (default: 50)")
    p.add_argument("--top", type=int, default=10, help="molecules to print (default: 10)")
    p.add_argument("-o", "--output", metavar="OUT", help="every evaluated molecule (.csv/.tsv/.parquet)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_objectives:
        for name, description in list_objectives():
            print(f"{name:40s} {description}")
        return 0
    if args.budget < 1:
        raise InputError("--budget must be at least 1")
    model, _ = start(args, read_input=False)
    objective = make_objective(args.objective, model)
    init = read_molecules(args.init).smiles if args.init else None
    if args.method == "gradient":
        result = gradient_ascent(model, objective, budget=args.budget, init_smiles=init, seed=args.seed,
                                 progress=show_progress(args))
    else:
        config = BOConfig(budget=args.budget, batch_size=args.batch_size, n_init=args.n_init,
                          acquisition=args.acquisition, trust_region=args.trust_region, seed=args.seed)
        result = optimize(model, objective, config, init_smiles=init, progress=show_progress(args))
    if args.output:
        write_output(result.evaluated, args.output)
        out = Path(args.output)
        write_output(result.trace, str(out.with_name(out.name.split(".")[0] + ".trace.csv")))
    failed = int((~np.isfinite(result.evaluated["score"])).sum())
    print(f"{len(result.evaluated)} oracle calls ({failed} failed) in {result.seconds:.1f} s; "
          f"top {args.top} for {result.objective}:")
    for _, r in result.top(args.top).iterrows():
        print(f"  {r.score:8.4f}  step {int(r.step):3d}  {r.smiles}")
    return 0

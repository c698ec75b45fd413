"""molvae optimize: find molecules that maximize an objective, within a budget of oracle calls."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from molvae.errors import InputError
from molvae.io import read_molecules
from molvae.plots import GRID_FORMATS, check_image_path, molecule_grid, optimization_trace
from molvae.search.bo import ACQUISITIONS, PROPOSALS, BOConfig, optimize, predictor_estimate
from molvae.search.constrained import ConstrainedConfig, improve_molecules
from molvae.search.neighbors import LatentLibrary
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
    p.add_argument("--method", choices=("bo", "gradient", "improve"), default="bo",
                   help="bo: Bayesian optimization (default); gradient: Adam on the property predictor, decoded "
                        "molecules re-scored; improve: improve each --init molecule under --min-similarity "
                        "(one output row per input molecule)")
    p.add_argument("--batch-size", type=int, default=10, help="BO proposals per step (default: 10)")
    p.add_argument("--acquisition", choices=ACQUISITIONS, default="qlognei", help="default: qlognei")
    p.add_argument("--proposals", choices=PROPOSALS, default="pool",
                   help="pool: choose among decoded latent points around the best molecules, so each proposal is "
                        "a new valid molecule (default); continuous: optimize the acquisition over the latent box")
    p.add_argument("--pool-size", type=int, default=512, help="latent points decoded per BO step (default: 512)")
    p.add_argument("--min-similarity", type=float, default=0.4,
                   help="--method improve: Tanimoto similarity to the start a result must keep (default: 0.4)")
    p.add_argument("--trust-region", action="store_true", help="TuRBO-style trust region around the incumbent")
    p.add_argument("--init", metavar="FILE", help="initial molecules (a library); default: prior samples")
    p.add_argument("--n-init", type=int, default=50, help="prior samples to start from (default: 50)")
    p.add_argument("--top", type=int, default=10, help="molecules to print (default: 10)")
    p.add_argument("-o", "--output", metavar="OUT", help="every evaluated molecule (.csv/.tsv/.parquet); the "
                   "best-so-far per step goes to OUT.trace.csv and a picture of both to OUT.trace.png")
    p.add_argument("--image", metavar="FILE", help="draw the --top molecules as a grid with their scores (.png/.svg)")
    p.add_argument("--library", metavar="LIB", help="an encoded library ('molvae encode LIB -o LIB.parquet'): report "
                   "the nearest library compounds of each top molecule (and write them to OUT.neighbors.csv)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_objectives:
        for name, description in list_objectives():
            print(f"{name:40s} {description}")
        return 0
    if args.budget < 1:
        raise InputError("--budget must be at least 1")
    if args.image:
        check_image_path(args.image, GRID_FORMATS)
    model, _ = start(args, read_input=False)
    library = LatentLibrary.from_file(args.library) if args.library else None
    objective = make_objective(args.objective, model)
    init = read_molecules(args.init).smiles if args.init else None
    if args.method == "improve":
        return _improve(args, model, objective, init)
    if args.method == "gradient":
        result = gradient_ascent(model, objective, budget=args.budget, init_smiles=init, seed=args.seed,
                                 progress=show_progress(args))
    else:
        config = BOConfig(budget=args.budget, batch_size=args.batch_size, n_init=args.n_init,
                          acquisition=args.acquisition, trust_region=args.trust_region, proposals=args.proposals,
                          pool_size=max(args.pool_size, args.batch_size), seed=args.seed)
        result = optimize(model, objective, config, init_smiles=init, progress=show_progress(args))
    top = result.top(args.top)
    if args.output:
        write_output(result.evaluated.assign(objective=result.objective), args.output)
        out = Path(args.output)
        stem = out.name.split(".")[0]
        write_output(result.trace, str(out.with_name(stem + ".trace.csv")))
        try:
            optimization_trace(result.evaluated, result.trace, out.with_name(stem + ".trace.png"), result.objective)
        except Exception as exc:  # a picture must never cost the results
            logging.getLogger(__name__).warning("could not draw the optimization trace: %s", exc)
    if args.image:
        molecule_grid(top["smiles"].tolist(), [f"#{k + 1}  {r.score:.3f}  step {int(r.step)}"
                                               for k, (_, r) in enumerate(top.iterrows())], args.image)
    failed = int((~np.isfinite(result.evaluated["score"])).sum())
    if result.extra.get("interrupted"):
        print("interrupted: the molecules evaluated so far are written and listed")
    print(f"{len(result.evaluated)} oracle calls ({failed} failed) in {result.seconds:.1f} s; "
          f"top {args.top} for {result.objective}:")
    for _, r in top.iterrows():
        print(f"  {r.score:8.4f}  step {int(r.step):3d}  {r.smiles}")
    if library is not None and len(top):
        z = result.evaluated.loc[top.index, [f"z{j}" for j in range(model.latent_dim)]].to_numpy()
        hits = library.query(z, 3, top["smiles"].tolist())
        print("nearest library compounds of the top molecules (latent distance, Tanimoto similarity):")
        for q, (_, r) in enumerate(top.iterrows()):
            near = hits[hits["query"] == q]
            print(f"  {r.smiles}: " + "; ".join(f"{h.smiles} ({h.distance:.2f}, {h.similarity:.2f})"
                                                 for _, h in near.iterrows()))
        if args.output:
            out = Path(args.output)
            write_output(hits.assign(top_smiles=[top["smiles"].iloc[q] for q in hits["query"]]),
                         str(out.with_name(out.name.split(".")[0] + ".neighbors.csv")))
    return 0


def _improve(args: argparse.Namespace, model, objective, init) -> int:
    if init is None:
        raise InputError("--method improve needs --init FILE: the molecules to improve")
    config = ConstrainedConfig(min_similarity=args.min_similarity, seed=args.seed,
                               gradient_points=20 if predictor_estimate(model, objective) else 0)
    table = improve_molecules(model, init, objective, config, progress=show_progress(args))
    if args.output:
        write_output(table, args.output)
    ok = table["success"]
    print(f"improved {int(ok.sum())} of {len(table)} molecules ({table['reason'].notna().sum()} could not be "
          f"encoded); mean improvement {table['improvement'].fillna(0).mean():.3f} at similarity >= "
          f"{args.min_similarity}")
    best = table[ok].sort_values("improvement", ascending=False).head(args.top)
    for _, r in best.iterrows():
        print(f"  {r.improvement:+8.3f}  sim {r.similarity:.2f}  {r.start} -> {r.best}")
    if args.image:
        smiles = [s for _, r in best.iterrows() for s in (r.start, r.best)]
        legends = [text for _, r in best.iterrows() for text in
                   (f"start {r.start_score:.2f}", f"{r.best_score:.2f} ({r.improvement:+.2f}), sim {r.similarity:.2f}")]
        molecule_grid(smiles, legends, args.image, mols_per_row=2)
    return 0

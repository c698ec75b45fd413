"""molvae optimize: find molecules that maximize an objective, within a budget of oracle calls."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import add_common, add_image, add_output, config_from_args, show_progress, start
from molvae.search.bo import ACQUISITIONS, PROPOSALS
from molvae.search.objectives import list_objectives
from molvae.search.optimization import DEFAULT_METHOD, METHODS, OptimizationRun, OptimizeConfig, write_optimization

HELP = (
    "optimize molecules for an objective: latent-space evolution screened by a Gaussian process (default), "
    "Bayesian optimization or gradient ascent in latent space"
)

DESCRIPTION = (
    HELP + ". Every evaluated molecule goes to --output with "
    "its score, step and latent point; the best-so-far per step to OUT.trace.csv. A flag that "
    "the chosen --method does not use is an error."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objective", default="qed", help="objective name or spec (see --list-objectives; default: qed)")
    p.add_argument("--list-objectives", action="store_true", help="list objectives and exit")
    p.add_argument(
        "--method",
        choices=METHODS,
        default=DEFAULT_METHOD,
        help="evolve: children of the best molecules (latent mutations and crossovers, decoder-completed "
        "edits of their tokens, and Graph GA edits of their graphs), and a Tanimoto-kernel GP picks "
        "which new ones to score (default); bo: Bayesian optimization "
        "of latent points with a BoTorch GP; gradient: Adam on the property predictor, decoded "
        "molecules re-scored; improve: improve each --init molecule under --min-similarity "
        "(decodes around its latent point, then two rounds of Graph GA mutations of the best "
        "ones found; one output row per input molecule)",
    )
    # Method settings default to None: unset, the method's default applies; set for a method that does
    # not use it, OptimizeConfig refuses it.
    p.add_argument(
        "--budget", type=int, help="evolve, bo, gradient: oracle calls, initial data included (default: 300)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="evolve: oracle calls per generation (default: a twelfth of the budget, at most 50); "
        "bo: proposals per step (default: 10)",
    )
    p.add_argument("--acquisition", choices=ACQUISITIONS, help="bo: acquisition function (default: qlognei)")
    p.add_argument(
        "--proposals",
        choices=PROPOSALS,
        help="bo: pool: choose among decoded latent points around the best molecules, so each proposal "
        "is a new valid molecule (default); continuous: optimize the acquisition over the latent box",
    )
    p.add_argument(
        "--pool-size",
        type=int,
        help="evolve: children made per generation (default: 400); bo: latent points decoded per step (default: 512)",
    )
    p.add_argument(
        "--trust-region", action="store_true", default=None, help="bo: TuRBO-style trust region around the incumbent"
    )
    p.add_argument(
        "--n-init",
        type=int,
        help="evolve, bo: molecules to start from without --init (default: evolve a sixth of the budget, "
        "at most 100; bo 50)",
    )
    p.add_argument(
        "--max-heavy-atoms",
        type=int,
        metavar="N",
        help="evolve: never score a molecule with more than N heavy atoms (default: 100, beyond any "
        "small-molecule drug; e.g. 38, ZINC250k's largest; 0: any size, so an objective that "
        "rewards size can grow molecules of thousands of atoms)",
    )
    p.add_argument(
        "--allow-unfamiliar",
        dest="familiar_only",
        action="store_const",
        const=False,
        default=None,
        help="evolve: also score molecules with an atom environment (an atom and its neighbours) that "
        "no reference molecule has, such as O-F bonds, peroxides or a carbon with two [O-] "
        "(default: never scored; an --init library is scored as given)",
    )
    p.add_argument(
        "--environments",
        metavar="FILE.npy",
        help="evolve: the reference atom environments (built from your own library by "
        "scripts/atom_environments.py; default: ZINC250k's, shipped)",
    )
    p.add_argument(
        "--start",
        metavar="FROM",
        help="evolve without --init: where the start molecules come from: auto (default: the bundled "
        "sampler's samples when it was trained on the model's data, which read like that data, "
        "else the model's prior), prior (the model's own prior draws), or a model (a checkpoint "
        "or bundled name) whose samples, encoded by the search model, start the run",
    )
    p.add_argument(
        "--min-similarity",
        type=float,
        help="improve: Tanimoto similarity to the start a result must keep (default: 0.4)",
    )
    p.add_argument(
        "--init",
        metavar="FILE",
        help="initial molecules (a library; for improve, the molecules to improve); default: see --start",
    )
    p.add_argument("--top", type=int, default=10, help="molecules to print (default: 10)")
    p.add_argument(
        "--min-distance",
        type=float,
        default=0.0,
        metavar="D",
        help="report diverse hits: each of the --top molecules at Tanimoto distance >= D (Morgan radius 2) "
        "from every better one, e.g. 0.4 (default: 0, the plain top)",
    )
    add_output(
        p,
        "every evaluated molecule (.csv/.tsv/.parquet); the "
        "best-so-far per step goes to OUT.trace.csv and a picture of both to OUT.trace.png",
    )
    add_image(p, "draw the --top molecules as a grid with their scores (.png/.svg)")
    p.add_argument(
        "--library",
        metavar="LIB",
        help="evolve, bo, gradient: an encoded library ('molvae encode LIB -o "
        "LIB.parquet'): report the nearest library compounds of each top molecule (and write them to "
        "OUT.neighbors.csv)",
    )
    add_common(p)


def run(args: argparse.Namespace) -> int:
    if args.list_objectives:
        for name, description in list_objectives():
            print(f"{name:40s} {description}")
        return 0
    config = config_from_args(OptimizeConfig, args)
    model, _ = start(args, read_input=False)
    result = api.optimize(model, args.objective, config, init=args.init, progress=show_progress(args))
    write_optimization(result, args.output, args.image)
    if result.improved is not None:
        _print_improved(result)
    else:
        _print_optimized(result)
    return 0


def _print_optimized(run: OptimizationRun) -> None:
    result, top = run.result, run.top()
    if result.extra.get("interrupted"):
        print("interrupted: the molecules evaluated so far are written and listed")
    print(
        f"{len(result.evaluated)} oracle calls ({result.failed} failed) in {result.seconds:.1f} s; "
        f"top {run.config.top} for {result.objective}:"
    )
    for _, r in top.iterrows():
        print(f"  {r.score:8.4f}  step {int(r.step):3d}  {r.smiles}")
    if run.neighbors is not None:
        print("nearest library compounds of the top molecules (latent distance, Tanimoto similarity):")
        for q, (_, r) in enumerate(top.iterrows()):
            near = run.neighbors[run.neighbors["query"] == q]
            print(
                f"  {r.smiles}: "
                + "; ".join(f"{h.smiles} ({h.distance:.2f}, {h.similarity:.2f})" for _, h in near.iterrows())
            )


def _print_improved(run: OptimizationRun) -> None:
    table = run.improved
    print(
        f"improved {int(table['success'].sum())} of {len(table)} molecules ({table['reason'].notna().sum()} could "
        f"not be encoded); mean improvement {table['improvement'].fillna(0).mean():.3f} at similarity >= "
        f"{run.settings.min_similarity}"
    )
    for _, r in run.top().iterrows():
        print(f"  {r.improvement:+8.3f}  sim {r.similarity:.2f}  {r.start} -> {r.best}")

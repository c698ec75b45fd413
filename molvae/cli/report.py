"""molvae report: one self-contained HTML page about a training run or an optimization run."""

from __future__ import annotations

import argparse

from molvae.cli.common import add_common, add_output, setup_logging
from molvae.errors import InputError

HELP = "write a self-contained HTML report of a training run or an optimization output"
DESCRIPTION = (
    HELP + " (images embedded, no external resources). "
    "A run directory gives training curves, final metrics, prior samples from best.pt and the "
    "config; an output table of 'molvae optimize' gives the trace (from OUT.trace.csv) and the "
    "top molecules with structures, scores and properties."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input", metavar="RUN_OR_OUTPUT", help="run directory of 'molvae train', or output table of 'molvae optimize'"
    )
    add_output(p, "the HTML file to write", metavar="REPORT.html", required=True)
    p.add_argument(
        "-n",
        "--num-samples",
        type=int,
        default=100,
        help="prior samples drawn from a run's best.pt (default: 100; 0 to skip)",
    )
    p.add_argument("--top", type=int, default=12, help="top molecules of an optimization to show (default: 12)")
    add_common(p, model=False)


def run(args: argparse.Namespace) -> int:
    from molvae.viz.report import build_report, detect_kind

    setup_logging(args)
    if args.num_samples < 0 or args.top < 1:
        raise InputError("--num-samples must be >= 0 and --top >= 1")
    kind = detect_kind(args.input)
    path = build_report(
        args.input, args.output, num_samples=args.num_samples, top=args.top, seed=args.seed, device=args.device
    )
    print(f"{kind} report -> {path}")
    return 0

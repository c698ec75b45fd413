"""molvae score: the VAE as a likelihood model; flag molecules unlike the training data."""

from __future__ import annotations

import argparse

import numpy as np

from molvae import api
from molvae.cli.common import (
    TABLE_OUTPUT,
    add_common,
    add_input,
    add_output,
    keywords_from_args,
    show_progress,
    start,
    write_output,
)
from molvae.errors import InputError
from molvae.evaluation.scoring import auroc, stored_reference

HELP = "score molecules by negative ELBO, importance-weighted likelihood and latent Mahalanobis distance"
DESCRIPTION = (
    HELP + ". Higher scores = more unusual for this model. "
    "The outlier flag uses a threshold calibrated on held-out training molecules: the model's "
    "own (the bundled model carries one) or one fitted with --calibrate."
)
SCORES = ("neg_elbo", "neg_log_likelihood", "mahalanobis", "recon_nll", "kl")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_output(p, TABLE_OUTPUT, required=True)
    p.add_argument(
        "-k",
        "--samples",
        type=int,
        default=1,
        help="z draws per molecule; > 1 adds the importance-weighted -log p(x) estimate (default: 1)",
    )
    p.add_argument(
        "--labels",
        metavar="COL",
        help="a 0/1 (or true/false) column marking unusual molecules: print the AUROC of each score",
    )
    p.add_argument(
        "--calibrate",
        metavar="TRAIN",
        help="training molecules to fit the latent statistics and "
        "the threshold on (90%% / 10%% held out), when the model has none or to replace its own",
    )
    p.add_argument(
        "--quantile",
        type=float,
        default=None,
        help="with --calibrate: the quantile of the held-out molecules' scores the threshold is set at (default: 0.99)",
    )
    add_common(p)


def _labels(table, column: str) -> np.ndarray:
    if column not in table.frame.columns:
        raise InputError(f"no column {column!r}; columns: {', '.join(map(str, table.frame.columns))}")
    mapping = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False}
    values = [mapping.get(str(v).strip().lower()) for v in table.frame[column]]
    if any(v is None for v in values):
        raise InputError(f"column {column!r} must hold 0/1 or true/false labels")
    return np.array(values, dtype=bool)


def run(args: argparse.Namespace) -> int:
    if args.quantile is not None and not args.calibrate:
        raise InputError(
            "--quantile sets the threshold fitted by --calibrate TRAIN; give both "
            "(a model's own threshold keeps the quantile it was calibrated at)"
        )
    model, table = start(args)
    labels = _labels(table, args.labels) if args.labels else None
    frame = api.score(
        model, table, **keywords_from_args(api.score, args, n_samples=args.samples, progress=show_progress(args))
    )
    if labels is not None:
        frame.insert(frame.columns.get_loc("input_smiles") + 1, "label", labels)
    write_output(frame, args.output)
    n_valid = int(frame["valid"].sum())
    line = f"scored {n_valid} of {len(frame)} molecules ({len(frame) - n_valid} unreadable by this model)"
    if "outlier" in frame:
        ref = stored_reference(model)
        line += (
            f"; {int(frame['outlier'].sum())} flagged as outliers (neg ELBO above {ref.threshold:.1f} nats or "
            f"Mahalanobis distance above {ref.mahalanobis_threshold:.2f}: the {ref.quantile:.0%} quantiles of "
            "held-out training molecules; or unreadable)"
        )
    else:
        line += "; no outlier threshold (this model carries none: use --calibrate TRAIN)"
    print(line + f" -> {args.output}")
    if labels is not None:
        for name in SCORES:
            if name in frame:
                print(f"  AUROC {name:20s} {auroc(frame[name].to_numpy(), labels):.4f}")
    return 0

"""molvae plot: pictures of a latent space, a training run, or generated vs. reference properties."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from molvae import chem
from molvae.cli.common import add_common, add_input, add_output, load_model, setup_logging, verb_parser
from molvae.data.datasets import property_labels
from molvae.errors import InputError
from molvae.io import MoleculeTable, read_frame, read_molecules
from molvae.models.vae import EncodeResult
from molvae.viz.drawing import check_image_path
from molvae.viz.plots import DEFAULT_PROPERTIES, FIGURE_FORMATS, PROJECTIONS

HELP = "draw a latent-space map, training curves or property distributions"
DESCRIPTION = HELP + ". Images are PNG, SVG or PDF by the suffix of -o."
logger = logging.getLogger(__name__)


run = None  # the PLOT given does the work; without one, molvae plot prints its help


def add_arguments(p: argparse.ArgumentParser) -> None:
    kinds = p.add_subparsers(dest="plot", metavar="PLOT")
    image = f"image file ({', '.join(FIGURE_FORMATS)})"

    lat = verb_parser(
        kinds,
        "latent",
        "2-D map (PCA or t-SNE) of encoded molecules coloured by a property",
        "Encode INPUT with the model, project the latent means to 2-D and colour "
        "them by a property: a numeric column of INPUT with that name, 'pred_NAME' (the "
        "model's prediction), or a property RDKit computes (see 'molvae train --list-properties').",
        run_latent,
    )
    add_input(lat)
    lat.add_argument(
        "--color-by",
        required=True,
        metavar="PROPERTY",
        help="column of INPUT, pred_NAME, or a property name such as qed, logp, sa, mw",
    )
    lat.add_argument("--method", choices=PROJECTIONS, default="pca", help="projection (default: pca)")
    lat.add_argument(
        "--trajectory",
        metavar="OPT_OUTPUT",
        help="output table of 'molvae optimize': its successive best molecules are drawn as a numbered path",
    )
    _add_max_molecules(lat, 5000, "encode at most the first N molecules of INPUT")
    add_output(lat, image, metavar="IMAGE", required=True)
    add_common(lat)

    tr = verb_parser(
        kinds,
        "training",
        "loss parts, KL weight, validation accuracy and property MAE per epoch",
        "Training curves from a run directory's metrics.csv (or the file itself).",
        run_training,
    )
    tr.add_argument("run", metavar="RUN_DIR", help="run directory written by 'molvae train', or its metrics.csv")
    add_output(tr, image, metavar="IMAGE", required=True)
    add_common(tr, model=False)

    pr = verb_parser(
        kinds,
        "properties",
        "histograms of properties of generated vs. reference molecules",
        "Overlaid histograms of RDKit properties (logP, QED, SA, MW by default) of "
        "GENERATED and --reference molecules; invalid SMILES are skipped.",
        run_properties,
    )
    pr.add_argument("generated", metavar="GENERATED", help="generated molecules (e.g. the output of 'molvae sample')")
    pr.add_argument("--reference", required=True, metavar="REF", help="reference molecules (e.g. the training set)")
    pr.add_argument(
        "--properties",
        nargs="+",
        default=list(DEFAULT_PROPERTIES),
        choices=sorted(chem.PROPERTIES),
        metavar="NAME",
        help=f"properties to plot (default: {' '.join(DEFAULT_PROPERTIES)})",
    )
    _add_max_molecules(pr, 20000, "use at most the first N molecules of each file")
    add_output(pr, image, metavar="IMAGE", required=True)
    add_common(pr, model=False)


def _add_max_molecules(parser: argparse.ArgumentParser, default: int, help: str) -> None:
    """``--max-molecules N`` (checked by :func:`_open`)."""
    parser.add_argument("--max-molecules", type=int, default=default, metavar="N", help=f"{help} (default: {default})")


def _open(args: argparse.Namespace) -> None:
    setup_logging(args)
    check_image_path(args.output, FIGURE_FORMATS)
    if getattr(args, "max_molecules", 1) < 1:
        raise InputError("--max-molecules must be at least 1")


def color_values(table: MoleculeTable, enc: EncodeResult, name: str) -> tuple[np.ndarray, str]:
    """Values to colour a latent map by: an input column, a model prediction (pred_NAME) or an RDKit
    property of the canonical molecules; returns the values and the name to show."""
    if name.startswith("pred_") and name[5:] in enc.property_names:
        return enc.properties[:, enc.property_names.index(name[5:])], name
    column = table.property_column(name)  # a file column, else a registry name; InputError if neither
    values = property_labels(enc.smiles, [name], table)[:, 0]
    if column is not None and not np.isfinite(values).any():
        raise InputError(f"column {column!r} has no numeric values to colour by")
    return values, column or chem.property_spec(name).name


def trajectory_latents(path: str, latent_dim: int) -> np.ndarray:
    """Latent points of the successive best molecules of an optimization output table (``call``,
    ``score``, ``z0..``): each row that improves on the best score so far, in call order."""
    frame = read_frame(path)
    zcols = [f"z{i}" for i in range(latent_dim)]
    missing = [c for c in ("call", "score", *zcols) if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path} is not an optimization output for this model: missing columns "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    calls = pd.to_numeric(frame["call"], errors="coerce").to_numpy(dtype=np.float64)
    scores = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=np.float64)
    z = frame[zcols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    best, rows = -np.inf, []
    for i in np.argsort(calls, kind="stable"):
        if np.isfinite(scores[i]) and scores[i] > best and np.isfinite(z[i]).all():
            best = scores[i]
            rows.append(i)
    if not rows:
        raise InputError(f"{path} has no scored molecules to draw a trajectory from")
    return z[rows]


def run_latent(args: argparse.Namespace) -> int:
    from molvae.viz.plots import latent_map

    _open(args)
    model = load_model(args)
    table = read_molecules(args.input, args.smiles_column, args.id_column)
    if len(table) > args.max_molecules:
        logger.info("using the first %d of %d molecules (--max-molecules)", args.max_molecules, len(table))
        table = MoleculeTable(
            table.frame.iloc[: args.max_molecules].reset_index(drop=True), table.smiles_column, table.id_column
        )
    enc = model.encode(table.smiles, keep_largest_fragment=args.keep_largest_fragment)
    values, name = color_values(table, enc, args.color_by)
    trajectory = trajectory_latents(args.trajectory, model.latent_dim) if args.trajectory else None
    latent_map(enc.mu, values, args.output, name, method=args.method, trajectory=trajectory, seed=args.seed)
    print(
        f"mapped {int(enc.valid.sum())} of {len(table)} molecules ({args.method}, coloured by {name})"
        + (f" with a {len(trajectory)}-point trajectory" if trajectory is not None else "")
        + f" -> {args.output}"
    )
    return 0


def run_training(args: argparse.Namespace) -> int:
    from molvae.viz.plots import training_curves

    _open(args)
    training_curves(args.run, args.output)
    print(f"training curves -> {args.output}")
    return 0


def run_properties(args: argparse.Namespace) -> int:
    from molvae.viz.plots import property_distributions

    _open(args)
    generated = read_molecules(args.generated).smiles[: args.max_molecules]
    reference = read_molecules(args.reference).smiles[: args.max_molecules]
    property_distributions(generated, reference, args.output, properties=args.properties)
    print(
        f"{len(generated)} generated vs. {len(reference)} reference molecules ({', '.join(args.properties)}) "
        f"-> {args.output}"
    )
    return 0

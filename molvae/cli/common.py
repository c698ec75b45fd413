"""How a verb is declared, the flags shared by every verb, logging set-up, and helpers for writing
result tables."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from molvae import api
from molvae.errors import InputError
from molvae.io import OUTPUT_FORMATS, MoleculeTable, file_format, read_molecules, write_array, write_table
from molvae.models.vae import MolVAE
from molvae.pretrained import BUNDLED_MODEL, SAMPLER_MODEL, default_model_path
from molvae.viz.drawing import GRID_FORMATS, check_image_path, molecule_grid

TABLE_OUTPUT = "output .csv/.tsv/.parquet"
Config = TypeVar("Config")


def verb_parser(
    sub: argparse._SubParsersAction,
    name: str,
    help: str,
    description: str,
    run: Callable[[argparse.Namespace], int] | None,
) -> argparse.ArgumentParser:
    """The parser of one verb (or of one kind of ``molvae plot``): ``help`` is its line in the parent's
    ``--help``, ``description`` heads its own, and ``run(args)`` does its work; a verb without ``run``
    only groups kinds (``molvae plot``) and, given none, prints its help."""
    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run or functools.partial(_print_help, parser))
    return parser


def _print_help(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    parser.print_help()
    return 2


def add_output(parser: argparse.ArgumentParser, help: str, metavar: str = "OUT", required: bool = False) -> None:
    """``-o/--output``: what the verb writes; its suffix picks the format."""
    parser.add_argument("-o", "--output", required=required, metavar=metavar, help=help)


def add_image(parser: argparse.ArgumentParser, help: str) -> None:
    """``--image FILE``: the verb's molecules drawn as a grid (suffix checked by :func:`start`)."""
    parser.add_argument("--image", metavar="FILE", help=help)


def add_common(parser: argparse.ArgumentParser, model: bool = True, purpose: str = "latent") -> None:
    """--model, --device, --seed, -v/--verbose, -q/--quiet. ``purpose``: which bundled model is the
    default (:func:`molvae.pretrained.default_model_path`)."""
    if model:
        default = (SAMPLER_MODEL if purpose == "sample" else BUNDLED_MODEL).stem
        parser.add_argument(
            "--model",
            metavar="PATH",
            default=None,
            help="checkpoint written by 'molvae train', or the name of a bundled model "
            f"shipped in molvae/pretrained (default: {default})",
        )
        parser.set_defaults(model_purpose=purpose)
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N (default: auto)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")


def add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="molecules: .csv/.tsv/.smi/.sdf/.parquet, optionally .gz")
    parser.add_argument("--smiles-column", metavar="COL", help="SMILES column (default: detected, e.g. 'smiles')")
    parser.add_argument(
        "--id-column", metavar="COL", help="id column kept in the output (default: detected, e.g. 'id')"
    )
    parser.add_argument(
        "--keep-largest-fragment",
        action="store_true",
        help="strip salts: keep the largest fragment of multi-fragment SMILES (off by default)",
    )


def _flags(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The values of the verb's flags named ``names`` (``--batch-size`` is ``batch_size``); a name
    without a flag is left out."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def config_from_args(config_class: type[Config], args: argparse.Namespace) -> Config:
    """A config dataclass whose fields are set by the verb's flags of the same names (``--batch-size``
    sets ``batch_size``); a field without a flag keeps its default."""
    return config_class(**_flags(args, (f.name for f in dataclasses.fields(config_class))))


def keywords_from_args(function: Callable[..., Any], args: argparse.Namespace, **given: Any) -> dict[str, Any]:
    """The keyword arguments of a call to ``function`` (an :mod:`molvae.api` function): each of its
    keyword-only parameters set by the verb's flag of the same name (``--id-column`` sets
    ``id_column``), then ``given`` over them; a parameter with neither keeps its default.

    ``api.encode_file(model, path, out, **keywords_from_args(api.encode_file, args, progress=True))``
    """
    parameters = inspect.signature(function).parameters.values()
    names = (p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
    return _flags(args, names) | given


def setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    if os.environ.get("RANK", "0") != "0" and not args.verbose:  # torchrun: rank 0 speaks for all
        level = logging.WARNING
    logging.basicConfig(level=level, format="molvae: %(message)s", stream=sys.stderr, force=True)


def show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def load_model(args: argparse.Namespace) -> MolVAE:
    logging.getLogger("molvae").debug("loading model %s", args.model or "(bundled default)")
    if args.model is None:
        return api.load(default_model_path(getattr(args, "model_purpose", "latent")), device=args.device)
    return api.load(args.model, device=args.device)


def check_output(path: str) -> None:
    """Fail before any work if the output suffix is not one we can write."""
    if file_format(path) not in OUTPUT_FORMATS:
        raise InputError(f"unsupported output format for {path}; use one of {', '.join(OUTPUT_FORMATS)}")


def write_output(frame: pd.DataFrame, path: str, array: np.ndarray | None = None) -> None:
    """Write a table by suffix; ``.npy`` writes ``array`` (the latents) instead of the table."""
    if file_format(path) == ".npy":
        if array is None:
            raise InputError(f"{path}: .npy output holds only latent vectors; use .csv or .parquet here")
        write_array(array, path)
    else:
        write_table(frame, path)


def start(args: argparse.Namespace, read_input: bool = True) -> tuple[MolVAE, MoleculeTable | None]:
    """The common opening of a verb: logging, early checks of the output and ``--image`` suffixes,
    the model and (for verbs that read molecules) the input table."""
    setup_logging(args)
    if args.output:  # optional for some verbs
        check_output(args.output)
    if getattr(args, "image", None):  # a molecule grid: explore, interpolate, optimize, sample
        check_image_path(args.image, GRID_FORMATS)
    model = load_model(args)
    table = read_molecules(args.input, args.smiles_column, args.id_column) if read_input else None
    return model, table


def write_and_draw(
    args: argparse.Namespace, table: pd.DataFrame, smiles: list[str], legends: list[str], mols_per_row: int = 5
) -> None:
    """Write ``table`` to ``--output`` and draw ``smiles`` under their ``legends`` as a grid to
    ``--image``, each where given (a search verb's results)."""
    if args.output:
        write_output(table, args.output)
    if args.image:
        molecule_grid(smiles, legends, args.image, mols_per_row=mols_per_row, size=220)

"""molvae evaluate: MOSES metrics of generated molecules, or of a model on a test set."""

from __future__ import annotations

import argparse
import json
import math

from molvae import api
from molvae.cli.common import add_common, add_output, load_model, setup_logging
from molvae.errors import InputError
from molvae.evaluation.metrics import chemistry_metrics, evaluate_generated
from molvae.io import read_molecules
from molvae.utils import atomic_path, resolve_device

HELP = "compute MOSES metrics of generated molecules, or evaluate a model on a test set"
DESCRIPTION = (
    HELP + ". With GENERATED: validity, unique@1k/10k, novelty (--train), what a chemist checks first (radicals, "
    "a sanity rate: one fragment, no radicals, >= 10 heavy atoms, rings <= 8 atoms, ZINC's elements, no PAINS; "
    "MOSES's Filters; PAINS; familiar: every atom environment occurs in ZINC250k; mean heavy atoms; "
    "each rate over all entries, with the same rate of --reference "
    "beside it), and against --reference: FCD of the raw valid molecules, SNN, "
    "Frag, Scaf, IntDiv1/2 and Wasserstein distances of logP, QED, SA and MW. With --test: the model's exact "
    "reconstruction accuracy and property MAE/R2 on the test molecules, plus the metrics above for -n prior "
    "samples (reference: the test set unless --reference is given)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("generated", nargs="?", metavar="GENERATED", help="generated molecules (any molecule file)")
    p.add_argument("--reference", metavar="REF", help="reference molecules, e.g. a test set")
    p.add_argument("--train", metavar="TRAIN", help="training molecules, for novelty")
    p.add_argument(
        "--test",
        metavar="TEST",
        help="test molecules (with property columns, or they are computed) "
        "to evaluate the model given by --model (default: the bundled model)",
    )
    p.add_argument("-n", "--num-samples", type=int, default=10000, help="prior samples with --test (default: 10000)")
    p.add_argument("--smiles-column", metavar="COL", help="SMILES column of every input file (default: detected)")
    add_output(p, "also write the metrics as JSON", metavar="metrics.json")
    add_common(p, purpose="sample")


def _smiles(path: str | None, column: str | None) -> list[str] | None:
    return None if path is None else read_molecules(path, column).smiles


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.generated is None and args.test is None:
        raise InputError("give GENERATED molecules, or --test TEST to evaluate a model")
    if args.output and not args.output.endswith(".json"):
        raise InputError(f"--output must be a .json file, got {args.output}")
    fcd_device = str(resolve_device(args.device))  # FCD's ChemNet runs where the user asked
    reference, train = _smiles(args.reference, args.smiles_column), _smiles(args.train, args.smiles_column)
    if args.test is not None:
        if args.generated is not None:
            raise InputError("give either GENERATED or --test, not both")
        model = load_model(args)
        result = api.evaluate(
            model,
            read_molecules(args.test, args.smiles_column),
            n_samples=args.num_samples,
            seed=args.seed,
            train=train,
            reference=reference,
            fcd_device=fcd_device,
        )
    else:
        generated = _smiles(args.generated, args.smiles_column)
        result = evaluate_generated(generated, reference, train, fcd_device=fcd_device)
        result.update(chemistry_metrics(generated, reference))
    width = max(map(len, result))
    for key, value in result.items():
        if isinstance(value, list):  # per-dimension values (kl_per_dim)
            value = " ".join(f"{v:.2f}" for v in value)
        elif isinstance(value, dict):  # distributions: size -> fraction
            value = " ".join(f"{k}:{v:.3f}" for k, v in value.items())
        print(f"{key.ljust(width)}  {value:.4f}" if isinstance(value, float) else f"{key.ljust(width)}  {value}")
    if args.output:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}
        with atomic_path(args.output) as tmp:
            tmp.write_text(json.dumps(clean, indent=2) + "\n")
    return 0

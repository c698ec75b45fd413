"""molvae train: fit a VAE (and property predictor) on a molecule file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, get_type_hints

from molvae.chem import PROPERTIES
from molvae.cli.common import add_common, add_output, setup_logging, show_progress
from molvae.config import KL_SCHEDULES, PRECISIONS, RunConfig, TrainConfig
from molvae.data.vocab import REPRESENTATIONS
from molvae.errors import InputError
from molvae.training.distributed import distributed_context
from molvae.training.loop import command_line, train

HELP = "train a VAE with a jointly trained property predictor on a molecule file"
DESCRIPTION = (
    HELP + ". Writes best.pt, last.pt, metrics.csv, "
    "config.toml and training_curves.png into --output. Flags override --config, which overrides "
    "the defaults."
)
logger = logging.getLogger(__name__)

# The flags that set one [train] setting of the config each (--batch-size sets train.batch_size, ...), of the
# type TrainConfig declares for it; unset, the --config file's value (or the default) stays.
TRAIN_FLAGS: dict[str, dict[str, Any]] = {
    "epochs": {"help": "epochs (default: 10)"},
    "batch_size": {"help": "molecules per batch (default: 256)"},
    "learning_rate": {"help": "peak learning rate, cosine-decayed (default: 1e-3)"},
    "min_learning_rate": {"help": "floor of the cosine decay (default: 1e-4)"},
    "warmup_steps": {"help": "linear learning-rate warm-up steps; use a few hundred with --init (default: 0)"},
    "beta": {"help": "final KL weight (default: 0.05)"},
    "kl_schedule": {"choices": KL_SCHEDULES, "help": "KL weight schedule (default: monotonic)"},
    "kl_warmup_epochs": {"help": "monotonic schedule: epochs to ramp the KL weight from 0 to --beta (default: 2)"},
    "free_bits": {"help": "free nats per latent dimension (default: 0.05)"},
    "property_weight": {"help": "weight of the property loss (default: 1.0)"},
    "precision": {"choices": PRECISIONS, "help": "auto uses bf16 autocast where supported (default: auto)"},
    "ema_decay": {
        "metavar": "D",
        "help": "validate and save best.pt with an exponential moving average of the weights, each step "
        "keeping D of the average (e.g. 0.999, about 1,000 steps; default: 0, off)",
    },
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        metavar="DATA",
        nargs="?",
        help="training molecules (.csv/.tsv/.smi/.sdf/.parquet, optionally .gz); "
        "a 'split' column with train/valid is used if present",
    )
    add_output(p, "run directory (required)", metavar="DIR")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with [data], [model] and [train] tables")
    p.add_argument("--smiles-column", metavar="COL", help="SMILES column (default: detected)")
    p.add_argument("--id-column", metavar="COL", help="id column (default: detected)")
    p.add_argument(
        "--properties",
        nargs="*",
        metavar="NAME",
        help="properties to predict: file columns, or computed by name (see --list-properties)",
    )
    p.add_argument("--list-properties", action="store_true", help="list the properties RDKit computes by name and exit")
    p.add_argument(
        "--condition",
        nargs="+",
        metavar="NAME",
        help="train a conditional VAE (Sohn et al. 2015) on these properties: encoder and decoder see "
        "their standardized values, and 'molvae sample --condition NAME=VALUE' asks for them; "
        "they are added to --properties",
    )
    p.add_argument("--representation", choices=sorted(REPRESENTATIONS), help="string representation (default: selfies)")
    p.add_argument("--latent-dim", type=int, help="latent dimensions (default: 64)")
    types = get_type_hints(TrainConfig)
    for name, spec in TRAIN_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=types[name], **spec)
    p.add_argument(
        "--keep-largest-fragment",
        action="store_true",
        default=None,
        help="strip salts: keep the largest fragment of multi-fragment SMILES",
    )
    p.add_argument(
        "--augment",
        type=float,
        metavar="FRACTION",
        help="share of the training molecules shown each epoch written from a random SMILES instead of "
        "the canonical one (SMILES enumeration, a regularizer; default: 0)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last.pt")
    p.add_argument(
        "--init",
        metavar="MODEL",
        help="warm-start a new run from this checkpoint or bundled model: "
        "its architecture and weights (tokens matched by name), with a fresh optimizer and schedule; "
        "use --kl-schedule constant when its KL weight should not ramp up from 0 again",
    )
    p.add_argument(
        "--grow-decoder",
        type=int,
        metavar="UNITS",
        help="with --init: widen the initial model's decoder GRU to UNITS units; the new units start "
        "unread, so training begins from exactly what the initial model computes",
    )
    p.add_argument(
        "--dropout",
        type=float,
        metavar="P",
        help="with --init: dropout rate of the new run instead of the initial model's (a regularizer "
        "when the initial model has begun to overfit); without --init set [model] dropout in --config",
    )
    add_common(p, model=False)
    p.set_defaults(seed=None)  # no --seed: the config file's seed (or 0)


def list_properties() -> int:
    width = max(map(len, PROPERTIES))
    for name, spec in PROPERTIES.items():
        print(f"{name.ljust(width)}  {spec.description}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_properties:
        return list_properties()
    if args.data is None or args.output is None:
        raise InputError("train needs DATA and --output DIR (see molvae train --help)")
    setup_logging(args)
    cfg = RunConfig.from_toml(args.config) if args.config else RunConfig()
    cfg = cfg.override(
        "data",
        smiles_column=args.smiles_column,
        id_column=args.id_column,
        properties=tuple(args.properties) if args.properties is not None else None,
        keep_largest_fragment=args.keep_largest_fragment,
        augment_fraction=args.augment,
    )
    if args.condition:
        extra = tuple(c for c in args.condition if c not in cfg.data.properties)
        cfg = cfg.override("data", properties=tuple(cfg.data.properties) + extra)
    cfg = cfg.override(
        "model",
        representation=args.representation,
        latent_dim=args.latent_dim,
        conditions=tuple(args.condition) if args.condition else None,
    )
    cfg = cfg.override(
        "train",
        **{name: getattr(args, name) for name in TRAIN_FLAGS},
        device=args.device if args.device != "auto" else None,
        seed=args.seed,
    )
    if args.init and args.resume:
        raise InputError("--init starts a new run and --resume continues one: give one of them")
    if args.dropout is not None and not args.init:
        raise InputError(
            "--dropout sets the dropout of a model warm-started with --init; for a new model set "
            "[model] dropout in --config"
        )
    if args.grow_decoder is not None and not args.init:
        raise InputError("--grow-decoder widens the model given with --init: give --init MODEL")
    result = train(
        args.data,
        args.output,
        cfg,
        resume=args.resume,
        progress=show_progress(args),
        command=command_line(),
        init=args.init,
        grow_decoder=args.grow_decoder,
        dropout=args.dropout,
    )
    if not distributed_context().is_main:  # torchrun: rank 0 reports
        return 0
    draw_curves(result.output_dir)
    last = result.metrics[-1] if result.metrics else {}
    acc = last.get("val_recon_acc")
    print(
        f"trained {len(result.metrics)} epochs; best model: {result.best_path}"
        + (f"; last validation reconstruction accuracy {acc:.3f}" if acc is not None else "")
    )
    return 0


def draw_curves(run_dir: Path) -> None:
    """Write ``training_curves.png`` into the run directory; a failure is a warning, never fatal."""
    try:
        from molvae.viz.plots import training_curves

        training_curves(run_dir, run_dir / "training_curves.png")
    except Exception as exc:  # the trained model matters more than its picture
        logger.warning("could not draw the training curves: %s", exc)

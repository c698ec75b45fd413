"""``molvae`` entry point: parses the verb and turns user errors into one line on stderr."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from molvae._version import __version__
from molvae.cli import (
    decode,
    encode,
    evaluate,
    explore,
    interpolate,
    models,
    neighbors,
    optimize,
    plot,
    reconstruct,
    report,
    sample,
    score,
    train,
)
from molvae.cli.common import verb_parser
from molvae.errors import MolvaeError
from molvae.training import runs

VERBS = (
    train,
    encode,
    decode,
    reconstruct,
    sample,
    evaluate,
    score,
    interpolate,
    explore,
    neighbors,
    optimize,
    plot,
    report,
    models,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="molvae",
        description="Molecular VAE toolkit: train a SELFIES/SMILES VAE with a property predictor, encode "
        "molecules to a latent space, decode and sample new molecules.",
    )
    parser.add_argument("--version", action="version", version=f"molvae {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:  # each module is a verb: its name, HELP, DESCRIPTION, arguments and run
        name = verb.__name__.rpartition(".")[2]
        verb.add_arguments(verb_parser(sub, name, verb.HELP, verb.DESCRIPTION, verb.run))
    return parser


def _record(args: argparse.Namespace, command: list[str]) -> None:
    """Write the manifest of what this verb wrote (training writes its own, with the resolved config)."""
    output = getattr(args, "output", None)
    if args.verb == "train" or not output or not Path(output).exists():
        return
    options = {k: v for k, v in vars(args).items() if k not in ("func", "verb")}
    runs.write_manifest(output, args.verb, options, command)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        if code == 0:
            _record(args, sys.argv if argv is None else ["molvae", *argv])
        return code
    except MolvaeError as exc:
        if getattr(args, "verbose", False):
            raise
        print(f"molvae {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("molvae").warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

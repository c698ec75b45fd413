"""molvae models: the models bundled with this installation, one line each."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import add_common, setup_logging

HELP = "list the bundled models (names for --model), what each is for, size and parameters"
DESCRIPTION = (
    HELP + ". Any verb's --model takes one of these names or the path of a checkpoint written by 'molvae train'."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, model=False)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    frame = api.list_models()
    if frame.empty:
        print("no bundled models in this installation; give --model PATH (a checkpoint written by molvae train)")
        return 0
    width = max(map(len, frame["name"]))
    for _, row in frame.iterrows():
        default = f" Default for {row.default_for}." if row.default_for else ""
        print(
            f"{row['name']:<{width}}  {row.size_mb:5.1f} MB  {row.parameters / 1e6:5.2f} M parameters  "
            f"{row.description}.{default}"
        )
    return 0

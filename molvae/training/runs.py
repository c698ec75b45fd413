"""The names of the files molvae writes, and the manifest that says how each was made.

One owner for file names: a training run directory holds :data:`BEST`, :data:`LAST`,
:data:`METRICS`, :data:`CONFIG`, :data:`REJECTS`, :data:`CURVES` and :data:`MANIFEST`; every other
verb writes an output file ``OUT`` and, beside it, files named by :func:`sibling_path`
(``out.csv`` -> ``out.trace.csv``, ``out.rejects.csv``, ``out.manifest.json``; a streaming encode
keeps its progress in :func:`partial_path`).

The manifest (:func:`write_manifest`) is a small JSON file: the verb, the command line, the resolved
options or config, the versions of molvae and its main dependencies, and the time. ``molvae report``
reads it to tell what a file is (:func:`read_manifest`).

Example:
    >>> sibling_path("results/opt.v2.csv.gz", "trace.csv").as_posix()
    'results/opt.v2.trace.csv'
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# A training run directory ('molvae train -o DIR').
BEST, LAST, METRICS, CONFIG, REJECTS, CURVES = (
    "best.pt",
    "last.pt",
    "metrics.csv",
    "config.toml",
    "rejects.csv",
    "training_curves.png",
)
MANIFEST = "manifest.json"
# Files beside an output OUT (parts for sibling_path).
TRACE_TABLE, TRACE_PLOT, NEIGHBORS_TABLE, REJECTS_TABLE = "trace.csv", "trace.png", "neighbors.csv", "rejects.csv"
MANIFEST_VERSION = 1

_OUTPUT_SUFFIXES = (".gz", ".csv", ".tsv", ".smi", ".sdf", ".parquet", ".npy", ".json", ".html", ".png", ".svg", ".pdf")


def output_stem(output: str | Path) -> str:
    """The name of an output without its format suffixes: ``opt.v2.csv.gz`` -> ``opt.v2``."""
    name = Path(output).name
    stripped = True
    while stripped:
        stripped = False
        for suffix in _OUTPUT_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, stripped = name[: -len(suffix)], True
    return name


def sibling_path(output: str | Path, part: str) -> Path:
    """A file written beside ``output``: ``("out.csv", "trace.csv")`` -> ``out.trace.csv``."""
    out = Path(output)
    return out.with_name(output_stem(out) + "." + part)


def rejects_path(output: str | Path) -> Path:
    """``out.csv`` -> ``out.rejects.csv``: the rows of an input that could not be used, with reasons."""
    return sibling_path(output, REJECTS_TABLE)


def partial_path(output: str | Path) -> Path:
    """``out.parquet`` -> ``out.parquet.partial``: the directory where a streaming encode keeps its
    finished chunks and progress until the output is complete."""
    p = Path(output)
    return p.with_name(p.name + ".partial")


def manifest_path(target: str | Path) -> Path:
    """Where the manifest of ``target`` lives: inside a run directory, beside any other output."""
    target = Path(target)
    return target / MANIFEST if target.is_dir() and (target / METRICS).exists() else sibling_path(target, MANIFEST)


def _plain(value: Any) -> Any:
    """JSON-ready copy of an options value (paths and other objects as strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def versions() -> dict[str, str]:
    """Versions of Python, molvae and the libraries that decide its results."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in ("molvae", "torch", "rdkit", "selfies", "numpy", "pandas", "botorch"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_manifest(target: str | Path, verb: str, options: Any = None, command: Sequence[str] | None = None) -> Path:
    """Write the manifest of ``target`` (an output file or a run directory) and return its path.

    ``options`` is the resolved configuration (a dataclass, a mapping or an ``argparse.Namespace``),
    ``command`` the command line (default: ``sys.argv``)."""
    if (
        options is not None
        and not isinstance(options, Mapping)
        and hasattr(options, "__dict__")
        and not dataclasses.is_dataclass(options)
    ):
        options = vars(options)
    record = {
        "manifest_version": MANIFEST_VERSION,
        "verb": verb,
        "output": str(target),
        "command": list(sys.argv if command is None else command),
        "options": _plain(options or {}),
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path = manifest_path(target)
    path.write_text(json.dumps(record, indent=2) + "\n")
    logger.debug("wrote %s", path)
    return path


def read_manifest(target: str | Path) -> dict | None:
    """The manifest of ``target``, or None when it has none (older outputs, or files from elsewhere)."""
    path = manifest_path(target)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None

"""What the benchmark scripts share (not a benchmark itself): where the data and the result files live,
the hardware a result was measured on, writing a result, the options that pick the models to compare,
and the end of every option parser.

A benchmark imports it beside itself::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import DEFAULT_DATA, RESULTS, hardware, save_results  # noqa: E402
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "zinc250k.csv.gz"


def save_results(out: Path, stem: str, result: dict, markdown_text: str) -> None:
    """Write ``out/stem.json`` and ``out/stem.md`` and print the markdown (every benchmark ends so)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown_text)
    print(markdown_text)


def hardware() -> str:
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {'CUDA' if torch.cuda.is_available() else 'no GPU'}"
    )


def cpu_name() -> str:
    """The processor's model name (Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def add_models(parser: argparse.ArgumentParser) -> None:
    """``--models`` and ``--labels``: the models a benchmark compares, each under a label in its tables
    (read back with :func:`labelled_models`)."""
    parser.add_argument("--models", nargs="+", default=["zinc250k_selfies"], help="bundled names or checkpoint paths")
    parser.add_argument("--labels", nargs="+", help="one label per model (default: the names)")


def labelled_models(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(label, model)`` of each of ``--models`` (:func:`add_models`); a usage error unless there is
    one label per model."""
    labels: Sequence[str] = args.labels or args.models
    if len(labels) != len(args.models):
        parser.error("give one label per model")
    return list(zip(labels, args.models, strict=True))


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, level: int = logging.INFO, timestamps: bool = True
) -> argparse.Namespace:
    """The options of ``argv``, with the benchmark's log set up: messages at ``level`` and above, each
    after the time it was written unless ``timestamps`` is off."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=level, format="%(asctime)s %(message)s" if timestamps else "%(message)s")
    return args

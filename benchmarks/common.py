"""What the benchmark scripts share (not a benchmark itself): where the data and the result files live,
the hardware a result was measured on, writing a result, the parser of a benchmark that compares models
and their measuring, and the end of every option parser.

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
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

import molvae

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
    """The machine a result was measured on: processor, cores, torch build and threads, GPU or not (the
    processor matters: bf16 or AMX units make the model's share of the work several times cheaper)."""
    return (
        f"{cpu_name()}, {os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__}, "
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


class _ModelsParser(argparse.ArgumentParser):
    """The parser of :func:`models_parser`: a usage error unless there is one label per model."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        known, extras = super().parse_known_args(args, namespace)
        if known.labels is not None and len(known.labels) != len(known.models):
            self.error("give one label per model")
        return known, extras


def models_parser(doc: str) -> argparse.ArgumentParser:
    """The option parser of a benchmark that compares models, described by the first line of its ``doc``,
    with ``--models`` and ``--labels``: the models, each measured under a label in its tables
    (:func:`measure_models`)."""
    parser = _ModelsParser(description=doc.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["zinc250k_selfies"], help="bundled names or checkpoint paths")
    parser.add_argument("--labels", nargs="+", help="one label per model (default: the names)")
    return parser


def measure_models(args: argparse.Namespace, measure: Callable[[molvae.MolVAE], dict]) -> dict[str, dict]:
    """Each of ``--models`` (:func:`models_parser`) loaded and measured, under its label (``--labels``,
    else its name): ``{label: {"model": name, **measure(model)}}``, the ``models`` of a comparison's result."""
    labels: Sequence[str] = args.labels or args.models
    return {
        label: {"model": name, **measure(molvae.load(name))} for label, name in zip(labels, args.models, strict=True)
    }


def save_comparison(args: argparse.Namespace, name: str, result: dict, markdown_text: str) -> None:
    """:func:`save_results` into benchmarks/results under ``--stem``, else ``name`` (``NAME_quick`` with
    ``--quick``): how a benchmark of :func:`models_parser` ends."""
    save_results(RESULTS, args.stem or (f"{name}_quick" if args.quick else name), result, markdown_text)


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, level: int = logging.INFO, timestamps: bool = True
) -> argparse.Namespace:
    """The options of ``argv``, with the benchmark's log set up: messages at ``level`` and above, each
    after the time it was written unless ``timestamps`` is off."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=level, format="%(asctime)s %(message)s" if timestamps else "%(message)s")
    return args

"""Train several configs side by side on one borrowed GPU within a fixed wall-clock budget.

For developer sessions that are lent an accelerator machine (see the developers' guide): that machine
has PyTorch but no RDKit, and only the repository travels to it (64 MiB in all, so the RDKit wheel
does not fit beside the bundled models). So the training file is prepared here, where RDKit is, and
the machine gets the prepared data instead:

    # here (CPU, about a minute): canonicalize, tokenize, split, label; the vocabulary comes from train rows
    python scripts/device_train.py prepare ../shared/data/zinc250k.csv.gz scripts/zinc250k_sampler_deep.toml -o .devdata
    # there (one command; every run ends before --seconds, then best.pt files come back through $OUT)
    python scripts/device_train.py run .devdata --config scripts/zinc250k_sampler_deep.toml \
        --config scripts/zinc250k_sampler_gru1024.toml --seconds 470 --out $OUT

``--init CONFIG=MODEL`` warm-starts that config's run from a checkpoint or bundled model (as
``molvae train --init``), e.g. ``--init zinc250k_sampler_deep768=zinc250k_selfies_sampler`` to train
the bundled sampler on. ``run`` starts one process per config on the GPU. Each first times a few training steps (all
processes at once, so the timing includes their sharing of the GPU) and sets its number of epochs
to what fits in the budget (at most the config's ``epochs``), so the learning-rate schedule ends
when the time does; training itself is :func:`molvae.training.loop.train`, unchanged. Greedy reconstruction
during validation needs RDKit and is switched off there (``recon_eval_size = 0``); the selection
score (validation loss) is the same as in any run. What comes back: ``runs.tar.gz`` (each run's
metrics, config and log) and the best checkpoints, best validation loss first, with float16 weights
(``--full-precision`` for float32), split into parts that fit the transfer limits
(``NAME.best.pt.partNN``; join them with ``cat``).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.abc
import importlib.machinery
import json
import logging
import math
import os
import pickle
import subprocess
import sys
import tarfile
import time
import types
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
PART_BYTES = 15 * 1024 * 1024
MAX_FILES, MAX_BYTES = 8, 60 * 1024 * 1024

logger = logging.getLogger("device_train")


class _Missing:
    """Any attribute of a stubbed RDKit module: more attributes can be read (so imports and type hints
    work), but calling one fails."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Missing:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"RDKit is not installed here ({self._name})")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stands in for RDKit on a machine without it: importing works, calling anything fails loudly."""

    def find_spec(self, name, path, target=None):
        if name == "rdkit" or name.startswith("rdkit."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []  # type: ignore[attr-defined]
        module.__getattr__ = _Missing(spec.name).__getattr__  # type: ignore[method-assign]
        return module

    def exec_module(self, module):
        return None


def _stub_rdkit() -> None:
    try:
        if os.environ.get("DEVICE_TRAIN_STUB_RDKIT") == "1":  # to try the stub where RDKit is installed
            raise ImportError
        import rdkit  # noqa: F401
    except ImportError:
        sys.meta_path.insert(0, _StubFinder())


def prepare(args: argparse.Namespace) -> None:
    from molvae.config import RunConfig
    from molvae.io import read_molecules
    from molvae.training.data import prepare_training_data
    from molvae.utils import file_sha256

    run = RunConfig.from_toml(args.config)
    data = prepare_training_data(read_molecules(args.data, run.data.smiles_column, run.data.id_column), run)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "prepared.pkl.gz", "wb", compresslevel=6) as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    meta = {
        "data_file": Path(args.data).name,
        "data_sha256": file_sha256(args.data),
        "data_config": run.to_dict()["data"],
        "n_train": len(data.train),
        "n_valid": len(data.valid),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    logger.info("prepared %d train, %d valid molecules into %s", len(data.train), len(data.valid), out)


def _load_prepared(directory: Path):
    meta = json.loads((directory / "meta.json").read_text())
    with gzip.open(directory / "prepared.pkl.gz", "rb") as fh:
        return pickle.load(fh), meta


def _seconds_per_step(run, data, steps: int = 25, warmup: int = 5) -> float:
    """Wall time of one training step of this config on this device, from real batches."""
    import torch

    from molvae.data.datasets import BucketBatchSampler, collate
    from molvae.models.vae import MolVAE
    from molvae.training.loop import _autocast, vae_loss
    from molvae.utils import autocast_dtype, resolve_device

    device = resolve_device(run.train.device)
    amp = autocast_dtype(device, run.train.precision)
    model = MolVAE(run.model, data.vocab, data.scaler).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=run.train.learning_rate)
    batches = BucketBatchSampler(data.train.lengths, run.train.batch_size, seed=0).batches()[: warmup + steps]
    warmup = min(warmup, len(batches) - 1)
    start = 0.0
    for i, idx in enumerate(batches):
        if i == warmup:
            torch.cuda.synchronize() if device.type == "cuda" else None
            start = time.perf_counter()
        batch = collate([data.train[j] for j in idx])
        with _autocast(device, amp):
            out = model(batch["tokens"].to(device), batch["lengths"], properties=batch["targets"].to(device))
        parts = vae_loss(out, batch["tokens"].to(device), batch["targets"].to(device), 1.0, 0.0, 1.0)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        optimizer.step()
        float(parts["loss"].detach())  # waits for the step, as the training loop does
    return (time.perf_counter() - start) / max(1, len(batches) - warmup)


def worker(args: argparse.Namespace) -> None:
    import molvae.training.loop as train_module
    from molvae.config import RunConfig
    from molvae.data.datasets import BucketBatchSampler

    deadline = float(args.deadline)
    data, meta = _load_prepared(Path(args.prepared))
    run = RunConfig.from_toml(args.config)
    if json.loads(json.dumps(run.to_dict()["data"])) != meta["data_config"]:
        raise SystemExit(f"{args.config}: its [data] table differs from the one the data was prepared with")
    run = run.override("train", device=args.device, recon_eval_size=0)
    run = run.override("model", max_length=(run.data.max_tokens or data.max_tokens) + 2)
    if args.init:  # the architecture is the initial model's, as train(init=...) makes it (for the timing)
        from dataclasses import replace

        from molvae.models.vae import MolVAE
        from molvae.pretrained import resolve_model

        initial = MolVAE.load(resolve_model(args.init)).config
        run = replace(run, model=replace(initial, max_length=run.model.max_length, conditions=run.model.conditions))
    if run.train.device.startswith("cuda"):
        import torch

        torch.backends.cuda.matmul.allow_tf32 = True
    try:
        per_step = _seconds_per_step(run, data)
    except RuntimeError as err:  # e.g. a GRU kernel without bf16 on this device
        if run.train.precision == "fp32":
            raise
        logger.warning("%s: %s precision failed (%s); training in fp32", args.name, run.train.precision, err)
        run = run.override("train", precision="fp32")
        per_step = _seconds_per_step(run, data)
    steps_per_epoch = len(BucketBatchSampler(data.train.lengths, run.train.batch_size, seed=0))
    # validation (forward passes over the valid split, with the moving average) ~ 15% of an epoch
    per_epoch = 1.15 * steps_per_epoch * per_step + 0.15 * len(data.valid) / run.train.batch_size * per_step
    epochs = max(1, min(run.train.epochs, math.floor((deadline - time.time()) / per_epoch)))
    logger.info(
        "%s: %.1f ms per step, %.0f s per epoch: %d epochs (config %d)",
        args.name,
        1e3 * per_step,
        per_epoch,
        epochs,
        run.train.epochs,
    )
    run = run.override("train", epochs=epochs)

    def prepared(*_a, **_k):
        return data

    with (
        mock.patch.object(train_module, "read_molecules", lambda *a, **k: None),
        mock.patch.object(train_module, "prepare_training_data", prepared),
        mock.patch.object(train_module, "file_sha256", lambda _p: meta["data_sha256"]),
    ):
        train_module.train(
            meta["data_file"],
            args.output,
            run,
            progress=False,
            init=args.init or None,
            command=f"scripts/device_train.py ({args.config}, {epochs} epochs"
            + (f", from {args.init})" if args.init else ")"),
        )


def _best_score(run_dir: Path) -> float:
    import csv

    path = run_dir / "metrics.csv"
    if not path.exists():
        return math.inf
    rows = list(csv.DictReader(path.open()))
    return min((float(r["val_loss"]) for r in rows if r.get("val_loss")), default=math.inf)


def run_all(args: argparse.Namespace) -> None:
    start = time.time()
    deadline = start + args.seconds
    runs_dir = Path(args.runs)
    runs_dir.mkdir(parents=True, exist_ok=True)
    malformed = [item for item in args.init if "=" not in item]
    if malformed:
        raise SystemExit(f"--init takes CONFIG=MODEL, not {malformed[0]!r}")
    inits = dict(item.split("=", 1) for item in args.init)
    unknown = set(inits) - {Path(c).stem for c in args.config}
    if unknown:
        raise SystemExit(f"--init names a config that is not given: {', '.join(sorted(unknown))}")
    procs = {}
    for config in args.config:
        name = Path(config).stem
        out = runs_dir / name
        log = (runs_dir / f"{name}.log").open("w")
        cmd = [
            sys.executable,
            __file__,
            "worker",
            "--prepared",
            args.prepared,
            "--config",
            config,
            "--output",
            str(out),
            "--deadline",
            str(deadline),
            "--device",
            args.device,
            "--name",
            name,
            "--init",
            inits.get(name, ""),
        ]
        procs[name] = (
            subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "4"},
            ),
            out,
        )
    while time.time() < deadline + args.grace and any(p.poll() is None for p, _ in procs.values()):
        time.sleep(2)
    for name, (proc, _) in procs.items():
        if proc.poll() is None:
            logger.warning("%s still running at the deadline: stopped (its best.pt so far is kept)", name)
            proc.kill()
            proc.wait()
        logger.info("%s: exit %s, best validation loss %.4f", name, proc.returncode, _best_score(procs[name][1]))
    collect(runs_dir, Path(args.out), [out for _, out in procs.values()], half=not args.full_precision)
    logger.info("done in %.0f s", time.time() - start)
    if not any((out / "best.pt").exists() for _, out in procs.values()):
        raise SystemExit(f"no run wrote a best.pt: see the logs in {runs_dir} (and runs.tar.gz in {args.out})")


def _half_copy(best: Path) -> Path:
    """A copy of a checkpoint with its floating-point weights in float16 (half the transfer; they load
    as float32, as ``scripts/package_model.py --half`` stores the bundled models)."""
    from molvae.models import checkpoint

    path = best.with_name("best.half.pt")
    checkpoint.write(path, checkpoint.half_precision(checkpoint.read(best)))
    return path


def collect(runs_dir: Path, out: Path, run_dirs: list[Path], half: bool = True) -> None:
    """Into ``out``: the runs' logs, metrics and configs as ``runs.tar.gz``, then each run's ``best.pt``
    (best validation loss first, float16 weights unless ``half`` is False) in parts, while the
    transfer limits leave room."""
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for path in sorted(runs_dir.rglob("*")):
            if path.is_file() and path.suffix != ".pt":
                tar.add(path, arcname=str(path.relative_to(runs_dir)))
    files, used = 1, (out / "runs.tar.gz").stat().st_size
    for run_dir in sorted(run_dirs, key=_best_score):
        best = run_dir / "best.pt"
        if not best.exists():
            continue
        if half:
            best = _half_copy(best)
        size = best.stat().st_size
        parts = math.ceil(size / PART_BYTES)
        if files + parts > MAX_FILES or used + size > MAX_BYTES:
            logger.warning("%s: no room left in the transfer; not brought back", run_dir.name)
            continue
        with best.open("rb") as fh:
            for i in range(parts):
                (out / f"{run_dir.name}.best.pt.part{i:02d}").write_bytes(fh.read(PART_BYTES))
        files, used = files + parts, used + size
        logger.info("%s: best.pt (%.1f MB) in %d parts", run_dir.name, size / 1e6, parts)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prepare", help="prepare the training file here, where RDKit is")
    p.add_argument("data")
    p.add_argument("config", help="a TOML config whose [data] table every run will share")
    p.add_argument("-o", "--output", required=True)
    p = sub.add_parser("run", help="train every --config at once on the device within --seconds")
    p.add_argument("prepared", help="the folder `prepare` wrote")
    p.add_argument(
        "--config",
        action="append",
        required=True,
        help="a TOML config to train (repeat for several runs at once; same [data] as `prepare`)",
    )
    p.add_argument("--seconds", type=float, required=True, help="wall-clock budget for the training")
    p.add_argument("--grace", type=float, default=30.0, help="seconds past the budget before a run is stopped")
    p.add_argument("--runs", default="/tmp/device_runs", help="where the run directories go (default: %(default)s)")
    p.add_argument("--out", required=True, help="where the results go ($OUT on the device machine)")
    p.add_argument("--device", default="cuda", help="torch device (default: cuda; cpu to try it out)")
    p.add_argument(
        "--init",
        action="append",
        default=[],
        metavar="CONFIG=MODEL",
        help="warm-start the run of CONFIG (its file name without .toml) from MODEL (a checkpoint or "
        "bundled model name), as `molvae train --init` does; the config's [train] table applies",
    )
    p.add_argument(
        "--full-precision",
        action="store_true",
        help="bring best.pt back with float32 weights (default: float16, half the transfer, so more "
        "runs fit; they load as float32)",
    )
    p = sub.add_parser("worker")
    for flag in ("--prepared", "--config", "--output", "--deadline", "--device", "--name"):
        p.add_argument(flag, required=True)
    p.add_argument("--init", default="")
    args = parser.parse_args(argv)
    if args.verb != "prepare":
        _stub_rdkit()
    {"prepare": prepare, "run": run_all, "worker": worker}[args.verb](args)


if __name__ == "__main__":
    main()

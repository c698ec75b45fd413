"""The checkpoint file: the one place that knows its layout, its versions and how to read it safely.

A checkpoint is plain data (dicts, lists, strings, numbers and tensors) that loads with
``torch.load(weights_only=True)``: pickled objects are refused, never run. Layout of version 2::

    format, format_version, molvae_version
    model:    config, representation, selfies_constraints, vocabulary, properties, state_dict
    metadata: free-form plain data (data hash, training set size, library versions, ...)
    extras:   plain data that other modules interpret (training_set_hashes: novelty;
              prior: molvae.models.prior; outlier_reference: molvae.evaluation.scoring)
    run:      epoch, run_config (written by training; absent in packaged models)
    training: epoch, step, best_score, history, optimizer, run_config (last.pt only, for resume)

Version 1 files (molvae 0.1, everything at the top level) are migrated on reading.

Example:
    >>> ckpt = read("runs/demo/best.pt")            # doctest: +SKIP
    >>> ckpt["model"]["config"]["latent_dim"]       # doctest: +SKIP
    64
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molvae._version import __version__
from molvae.errors import CheckpointError
from molvae.utils import atomic_path

FORMAT = "molvae-checkpoint"
VERSION = 2
MODEL_KEYS = ("config", "representation", "selfies_constraints", "vocabulary", "properties", "state_dict")
EXTRA_KEYS = ("training_set_hashes", "prior", "outlier_reference")


def build(
    model: dict[str, Any],
    metadata: dict[str, Any],
    extras: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A current-version checkpoint from its sections (``None`` sections are left out)."""
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "format_version": VERSION,
        "molvae_version": __version__,
        "model": model,
        "metadata": metadata,
        "extras": {k: v for k, v in (extras or {}).items() if v is not None},
    }
    if run is not None:
        ckpt["run"] = run
    if training is not None:
        ckpt["training"] = training
    return ckpt


def write(path: str | Path, ckpt: dict[str, Any]) -> None:
    """Write atomically (temporary file + rename): a crash leaves the old file or none."""
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def half_precision(ckpt: dict[str, Any]) -> dict[str, Any]:
    """``ckpt`` with its floating-point weights stored as float16 (half the file), marked in its
    metadata (``stored_dtype``). Loading casts them back to the model's float32 parameters; the
    rounding (about 3 significant digits) is finer than the bf16 matrix products of decoding."""
    weights = ckpt["model"]["state_dict"]
    for name, tensor in weights.items():
        if tensor.is_floating_point():
            weights[name] = tensor.to(torch.float16)
    ckpt["metadata"]["stored_dtype"] = "float16"
    return ckpt


def read(path: str | Path | None) -> dict[str, Any]:
    """Load safely, check the format and migrate older versions to :data:`VERSION`; one-line
    :class:`CheckpointError` for every way it can fail."""
    if path is None:
        raise CheckpointError("no model given: pass --model PATH (a checkpoint written by molvae train)")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "weights_only" in str(exc) or "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
            raise CheckpointError(
                f"refusing to load {path}: it contains pickled Python objects, which could run code "
                "(molvae checkpoints are plain data and load with weights_only=True)"
            ) from None
        raise CheckpointError(f"{path} is not a readable checkpoint ({first or 'unpickling failed'})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can make the unpickler raise anything
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is corrupt or truncated ({first})") from None
    return upgrade(raw, str(path))


def upgrade(raw: Any, source: str = "checkpoint") -> dict[str, Any]:
    """Check a loaded checkpoint and bring it to the current layout."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not a molvae checkpoint")
    version = raw.get("format_version")
    if version == 1:
        return _from_v1(raw, source)
    if version != VERSION:
        raise CheckpointError(
            f"{source} has checkpoint format version {version}; this molvae ({__version__}) "
            f"reads versions 1 and {VERSION} (a newer molvae wrote it: upgrade molvae)"
        )
    if not isinstance(raw.get("model"), dict):
        raise CheckpointError(f"{source} is malformed: no model section")
    raw.setdefault("extras", {})
    raw.setdefault("metadata", {})
    return raw


def _from_v1(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Version 1 kept every section at the top level; the model config was ``model_config``."""
    try:
        model = {
            "config": raw["model_config"],
            "representation": raw.get("representation"),
            "selfies_constraints": raw.get("selfies_constraints", "default"),
            "vocabulary": raw["vocabulary"],
            "properties": raw["properties"],
            "state_dict": raw["state_dict"],
        }
    except KeyError as exc:
        raise CheckpointError(f"{source} is malformed: no {exc.args[0]}") from None
    run: dict[str, Any] | None = {k: raw[k] for k in ("epoch", "run_config") if k in raw} or None
    ckpt = build(model, dict(raw.get("metadata") or {}), {k: raw.get(k) for k in EXTRA_KEYS}, run, raw.get("training"))
    ckpt["molvae_version"] = raw.get("molvae_version", "0.1.0")
    ckpt["migrated_from_version"] = 1
    return ckpt


def training_state(ckpt: dict[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """The resume section of a ``last.pt``: epoch, step, best_score, history, optimizer, run_config."""
    state = ckpt.get("training")
    if not isinstance(state, dict):
        raise CheckpointError(f"cannot resume: {source} has no training state")
    missing = [k for k in ("epoch", "step", "best_score", "history", "optimizer", "run_config") if k not in state]
    if missing:
        raise CheckpointError(f"cannot resume: the training state of {source} lacks {', '.join(missing)}")
    return state


def epoch(ckpt: dict[str, Any]) -> int | None:
    """The training epoch a checkpoint was written at, if known."""
    value = (ckpt.get("run") or {}).get("epoch")
    return int(value) if value is not None else None


def plain(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays, tuples and paths into types ``weights_only`` loading accepts."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool, torch.Tensor)) or obj is None:
        return obj
    return str(obj)

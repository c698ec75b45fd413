"""Small helpers shared across the package: devices, seeding, atomic writes, hashing."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing as mp
import os
import random
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from molvae.errors import InputError

logger = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for RDKit/SELFIES work: forked where the platform can (nothing to import
    again, and the children never run torch), else started the platform's default way."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    return ProcessPoolExecutor(workers, mp_context=ctx)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (0: leave as is), then restore the
    previous count: library calls never change the caller's settings."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def compute_threads(threads: int) -> Iterator[None]:
    """:func:`torch_threads`, and NumPy's and SciPy's BLAS capped at as many threads (threadpoolctl:
    it finds the BLAS library each loaded package bundles, which NumPy itself cannot set), then both restored."""
    from threadpoolctl import threadpool_limits

    with torch_threads(threads), threadpool_limits(limits=threads or None, user_api="blas"):
        yield


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype to autocast to, or None for full fp32.

    ``auto`` uses bf16 on CUDA devices that support it and on CPUs whose oneDNN has native bf16
    (measured about 3x faster for GRU training on this project's 2-core CPU machine).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    try:
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        supported = False
    return torch.bfloat16 if supported else None


@contextlib.contextmanager
def atomic_path(path: str | Path, tmp_dir: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (or in ``tmp_dir``, which must be on the same file
    system); rename it over ``path`` only if the block succeeds.

    A crash or an error leaves either the old file or nothing, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=tmp_dir or path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes owner-only files; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def file_sha256(path: str | Path, limit: int | None = None) -> str:
    """SHA-256 of a file (of its first ``limit`` bytes if given)."""
    h = hashlib.sha256()
    remaining = limit
    with open(path, "rb") as f:
        while True:
            size = 1 << 20 if remaining is None else min(1 << 20, remaining)
            chunk = f.read(size)
            if not chunk:
                break
            h.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
                if remaining <= 0:
                    break
    return h.hexdigest()


def smiles_hash(smiles: str) -> int:
    """64-bit BLAKE2b hash of a (canonical) SMILES, as a signed integer."""
    return int.from_bytes(hashlib.blake2b(smiles.encode(), digest_size=8).digest(), "little", signed=True)


def smiles_hashes(smiles) -> np.ndarray:
    """Sorted, distinct hashes of canonical SMILES: a compact training-set fingerprint that lets a
    checkpoint tell novel molecules without shipping the data."""
    return np.array(sorted({smiles_hash(s) for s in smiles if s}), dtype=np.int64)

"""Small helpers shared across the package: devices, seeding, atomic writes, hashing."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether worker processes can be forked here (Linux, macOS): nothing to import again, and a
    user's script without an ``if __name__ == "__main__"`` guard is not run again in each worker."""
    return "fork" in mp.get_all_start_methods()


def threads_beside(workers: int, cores: int | None = None) -> int:
    """THE thread rule of a process that keeps ``workers`` worker processes busy beside it (every
    :func:`process_pool` applies it unless told otherwise): its torch and BLAS threads get the cores
    the workers leave, never less than half the cores (at least one); with no workers (0), every
    core. Such threads spin-wait for each other, and a thread sharing a core with a busy worker slows
    both more than it gains; workers that wait for the main process (a streaming encode's run at most
    ``workers + 1`` chunks ahead) leave it half the cores. On this project's 2-core machine one thread
    beside the workers was measured faster for both the streaming encode and evolve's graph edits
    (:func:`molvae.library.stream.encoder_threads`, :class:`molvae.search.latent.EditWorkers`).
    ``cores``: :func:`available_cores` unless given."""
    cores = cores or available_cores()
    if workers <= 0:
        return cores
    return max(1, cores - workers, cores // 2)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Make this worker die the moment ``parent`` dies, however it dies (``kill -9`` and the
    out-of-memory killer included, which run no clean-up in the parent): on Linux the kernel sends it
    SIGKILL (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread checks the parent's id twice a second.
    A parent that died before this call is caught by the same check."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # orphaned already: adopted by init or a subreaper
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), name="molvae-watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _start_worker(parent: int, initializer: Callable | None, initargs: tuple) -> None:
    """Initializer of every worker process of the package (see :func:`process_pool`)."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    torch.set_num_threads(1)  # workers do RDKit/SELFIES work; any torch in them stays on one core
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def process_pool(
    workers: int,
    threads: int | None = None,
    initializer: Callable | None = None,
    initargs: tuple = (),
    wait: bool = True,
) -> Iterator[ProcessPoolExecutor]:
    """THE way the package starts worker processes (RDKit/SELFIES work): ``workers`` processes,
    forked where the platform can (nothing to import again), else started its default way.

    - Every worker dies with the process that opened the pool, even when that one is killed with
      SIGKILL (:func:`_die_with_parent`): none lives on, asleep, holding what it inherited.
    - Workers ignore Ctrl-C (the main process handles it and closes the pool) and run one torch thread.
    - While the pool is open, this process's torch and BLAS threads are ``threads`` (None: the rule
      of :func:`threads_beside`; 0: left as they are), restored when it closes.
    - Closing cancels the jobs not yet started and, with ``wait``, waits for the running ones.

    ``initializer(*initargs)`` runs in each worker after all that.

    Example:
        >>> with process_pool(2) as pool:                           # doctest: +SKIP
        ...     list(pool.map(len, ["CCO", "c1ccccc1"]))
        [3, 8]
    """
    ctx = mp.get_context("fork") if can_fork() else None
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_start_worker, initargs=(os.getpid(), initializer, initargs)
    )
    try:
        with compute_threads(threads_beside(workers) if threads is None else threads):
            yield pool
    finally:
        pool.shutdown(wait=wait, cancel_futures=True)


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

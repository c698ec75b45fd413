"""The package's one process pool: its workers die with the process that opened it, however it dies,
and the thread rule beside them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from conftest import alive, linux_only, live_children, wait_until_dead

from molvae.utils import process_pool, threads_beside

ROOT = Path(__file__).resolve().parents[1]


@linux_only
def test_pool_workers_die_with_a_sigkilled_parent():
    script = textwrap.dedent("""
        import os, sys, time
        from molvae.utils import process_pool
        with process_pool(2, threads=0) as pool:
            pool.submit(os.getpid).result()
            print("ready", flush=True)
            time.sleep(120)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True
    )
    workers: set[int] = set()
    try:
        assert proc.stdout.readline().strip() == "ready"
        workers = live_children(proc.pid)
        assert len(workers) >= 2  # the pool's workers, forked at the first job
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up runs in the parent, as with the out-of-memory killer
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert wait_until_dead(workers) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_pool_applies_the_thread_rule_and_restores_it():
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with process_pool(2, threads=1) as pool:
            assert torch.get_num_threads() == 1
            assert pool.submit(torch.get_num_threads).result() == 1  # workers: one torch thread
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_threads_beside_workers():
    assert threads_beside(0, 8) == 8  # no workers: every core
    assert threads_beside(2, 2) == 1  # the measured case: one thread beside two workers on two cores
    assert threads_beside(1, 2) == 1
    assert threads_beside(2, 16) == 14  # the cores the workers leave ...
    assert threads_beside(16, 16) == 8  # ... and never less than half of them
    assert threads_beside(4, 1) == 1

#!/usr/bin/env python
"""Library-scale throughput of the bundled model on this machine (issue 5).

1. The floor: RDKit parsing + canonical SMILES + SELFIES encoding alone, on the same molecules and
   the same cores (a process pool of --workers), with nothing else: the unavoidable work of turning
   SMILES into model input.
2. End to end: ``molvae encode FILE.csv -o OUT.parquet`` as a user runs it (a subprocess, default
   settings unless --workers/--threads/--precision are given), on a CSV of N ZINC250k molecules; its
   peak memory (resident set of the process and its workers, summed, sampled every 0.1 s) and a
   check that every input row is in the output.
3. Sampling: ``molvae.sample`` as ``molvae sample`` runs it (the model's prior and temperature, the
   repair and the ring limit, RDKit validation), molecules/s, for the sampler that ``molvae sample``
   uses by default and for the latent model of the other verbs.

Ratios are end-to-end / floor. Results go to benchmarks/results/library_throughput[_quick].{json,md}.

    python benchmarks/library_throughput.py                 # 100,000 molecules
    python benchmarks/library_throughput.py --quick         # 20,000 molecules, well under 2 minutes
    python benchmarks/library_throughput.py --sweep         # also try worker/thread/precision settings
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, hardware, save_results  # noqa: E402

from molvae.models.ring_limit import DEFAULT_MAX_RING  # noqa: E402


def _floor_job(smiles: list[str]) -> int:
    import selfies as sf
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    done = 0
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        try:
            sf.encoder(Chem.MolToSmiles(mol))
            done += 1
        except sf.EncoderError:
            pass
    return done


def floor_rate(smiles: list[str], workers: int, chunk: int = 2000) -> float:
    """Molecules/s of parse + canonicalize + SELFIES over ``workers`` processes."""
    chunks = [smiles[i : i + chunk] for i in range(0, len(smiles), chunk)]
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_floor_job, chunks[:workers])  # warm the workers (imports)
        t0 = time.perf_counter()
        pool.map(_floor_job, chunks, chunksize=1)
        return len(smiles) / (time.perf_counter() - t0)


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_encode(csv: Path, out: Path, extra: list[str]) -> dict:
    """``molvae encode`` as a subprocess; wall time, peak summed RSS, and its printed line."""
    cmd = [sys.executable, "-m", "molvae", "encode", str(csv), "-o", str(out), "-q", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def poll() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"molvae encode failed: {stderr.strip()[-2000:]}")
    return {
        "command": "molvae encode " + " ".join([csv.name, "-o", out.name, *extra]),
        "seconds": seconds,
        "peak_rss_mb": peak[0] / 2**20,
        "stdout": stdout.strip(),
    }


def sampling_rate(n: int, max_ring: int | None, purpose: str = "sample") -> tuple[float, float]:
    """Molecules/s of ``molvae.sample`` (what ``molvae sample`` runs: the model's prior and decoding
    temperature, repair) with or without the ring limit, and the share of valid samples; ``purpose``:
    which bundled default (:func:`molvae.pretrained.default_model_path`)."""
    import molvae
    from molvae.pretrained import default_model_path

    model = molvae.load(default_model_path(purpose))
    molvae.sample(model, 64, seed=1, max_ring=max_ring)  # warm-up
    t0 = time.perf_counter()
    frame = molvae.sample(model, n, seed=0, max_ring=max_ring)
    return n / (time.perf_counter() - t0), float(frame["valid"].mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="ZINC250k csv.gz (default: ../shared/data)")
    ap.add_argument("-n", type=int, default=None, help="molecules (default 100,000; --quick 20,000)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=0, help="cores to use (default: all)")
    ap.add_argument("--sweep", action="store_true", help="also time other --workers/--threads/--precision settings")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    from molvae.data.datasets import resolve_workers

    n = args.n or (20_000 if args.quick else 100_000)
    cores = resolve_workers(args.workers)
    frame = pd.read_csv(args.data, usecols=["smiles"], nrows=n)
    frame["smiles"] = frame["smiles"].str.strip()
    frame.insert(0, "id", [f"zinc{i}" for i in range(len(frame))])
    smiles = frame["smiles"].tolist()

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / f"library_{len(frame)}.csv"
        frame.to_csv(csv, index=False)
        floor = floor_rate(smiles, cores)
        settings = [[]]
        if args.sweep:
            settings += [
                ["--precision", "bf16"],
                ["--workers", "1", "--threads", "1"],
                ["--workers", "1", "--threads", "1", "--precision", "bf16"],
                ["--workers", str(cores), "--threads", str(cores), "--precision", "bf16"],
            ]
        runs = []
        for extra in settings:
            out = Path(tmp) / "library.parquet"
            r = run_encode(csv, out, extra + (["--workers", str(cores)] if "--workers" not in extra else []))
            table = pd.read_parquet(out, columns=["row", "id", "valid"])
            r["rows_out"] = len(table)
            r["all_rows_accounted"] = bool(
                table["row"].tolist() == list(range(len(frame))) and table["id"].tolist() == frame["id"].tolist()
            )
            r["valid"] = int(table["valid"].sum())
            r["mol_per_s"] = len(frame) / r["seconds"]
            r["ratio_to_floor"] = r["mol_per_s"] / floor
            runs.append(r)
            print(
                f"{r['command']}: {r['mol_per_s']:.0f} mol/s ({r['ratio_to_floor']:.2f} of the floor), "
                f"peak {r['peak_rss_mb']:.0f} MB, rows {r['rows_out']}/{len(frame)}",
                flush=True,
            )
        n_samples = 2000 if args.quick else 5000
        sample_rate, validity = sampling_rate(n_samples, DEFAULT_MAX_RING)
        free_rate, _ = sampling_rate(n_samples, None)
        latent_rate, latent_validity = sampling_rate(n_samples, DEFAULT_MAX_RING, "latent")

    main_run = runs[0]
    from molvae.pretrained import default_model_path

    sampler_name = default_model_path("sample").stem
    result = {
        "n_molecules": len(frame),
        "cores": cores,
        "hardware": hardware(),
        "floor_mol_per_s": floor,
        "floor_mol_per_s_per_core": floor / cores,
        "encode": main_run,
        "sweep": runs[1:],
        "target_ratio": 0.70,
        "sampling_mol_per_s": sample_rate,
        "sampling_validity": validity,
        "sampling_ratio_to_floor": sample_rate / floor,
        "sampling_max_ring": DEFAULT_MAX_RING,
        "sampling_mol_per_s_without_ring_limit": free_rate,
        "sampling_model": sampler_name,
        "latent_model_sampling_mol_per_s": latent_rate,
        "sampling_target_mol_per_s": 2000,
    }
    lines = [
        f"{len(frame):,} ZINC250k molecules, {cores} cores; {hardware()}.",
        "",
        "| work | molecules/s | ratio to floor | peak memory | rows out |",
        "|---|---|---|---|---|",
        f"| floor: RDKit parse + canonical SMILES + SELFIES ({cores} processes) | {floor:,.0f} | 1.00 | | |",
    ]
    for r in runs:
        lines.append(
            f"| `{r['command']}` | {r['mol_per_s']:,.0f} | {r['ratio_to_floor']:.2f} | "
            f"{r['peak_rss_mb']:,.0f} MB | {r['rows_out']:,} of {len(frame):,}"
            f"{'' if r['all_rows_accounted'] else ' (ROWS MISSING)'} |"
        )
    lines.append(
        f"| `molvae sample` defaults ({sampler_name}: its prior and temperature, repair, RDKit validation, "
        f"ring limit {DEFAULT_MAX_RING}; validity {validity:.3f}) | {sample_rate:,.0f} | "
        f"{sample_rate / floor:.2f} | | |"
    )
    lines.append(
        f"| the same without the ring limit (`--max-ring 0`) | {free_rate:,.0f} | {free_rate / floor:.2f} | | |"
    )
    lines.append(
        f"| `molvae sample --model zinc250k_selfies` (the latent model; validity {latent_validity:.3f}) | "
        f"{latent_rate:,.0f} | {latent_rate / floor:.2f} | | |"
    )
    lines.append("")
    lines.append(
        f"Targets: end-to-end encode at least 0.70 of the floor, measured {main_run['ratio_to_floor']:.2f}; "
        f"`molvae sample` at least 2,000 molecules/s, measured {sample_rate:,.0f}."
    )
    save_results(
        Path(args.out),
        "library_throughput_quick" if args.quick else "library_throughput",
        result,
        "\n".join(lines) + "\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

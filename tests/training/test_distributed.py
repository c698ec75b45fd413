"""Dask engine and DistributedDataParallel training (2 gloo processes on CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molvae.data.datasets import BucketBatchSampler
from molvae.errors import InputError
from molvae.library.stream import StreamConfig, encode_file

ROOT = Path(__file__).resolve().parents[2]


def test_sampler_shards_are_disjoint_and_equal_sized():
    lengths = np.random.default_rng(0).integers(5, 40, size=1003)
    whole = BucketBatchSampler(lengths, 16, seed=3)
    shards = [BucketBatchSampler(lengths, 16, seed=3, rank=r, world_size=3) for r in range(3)]
    got = [s.batches() for s in shards]
    assert len({len(g) for g in got}) == 1 and len(got[0]) == len(shards[0]) == len(whole) // 3
    flat = [i for g in got for b in g for i in b]
    assert len(flat) == len(set(flat))
    assert got[1][0] == whole.batches()[1]


@pytest.mark.slow
def test_dask_engine_equals_single_process(tiny_model, tiny_model_path, tmp_path, sample_smiles):
    pytest.importorskip("distributed")
    from molvae.library.dask_engine import encode_dask

    smiles = list(sample_smiles) + ["C1CC", ""]
    src = tmp_path / "lib.csv"
    pd.DataFrame({"id": [f"m{i}" for i in range(len(smiles))], "smiles": smiles}).to_csv(src, index=False)
    local = encode_file(tiny_model, src, tmp_path / "local.parquet", StreamConfig(workers=1, precision="fp32"))
    # tiny partitions (about 15 rows) so that several tasks run on the 2-worker LocalCluster
    summary = encode_dask(
        tiny_model, src, tmp_path / "dask_out", StreamConfig(workers=2, chunk_size=15, precision="fp32")
    )
    parts = sorted((tmp_path / "dask_out").glob("part.*.parquet"))
    assert len(parts) >= 2
    a = pd.read_parquet(tmp_path / "local.parquet")
    b = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert summary.n_rows == local.n_rows == len(b) and summary.n_valid == local.n_valid
    assert b["row"].tolist() == a["row"].tolist() and b["id"].tolist() == a["id"].tolist()
    assert b["smiles"].tolist() == a["smiles"].tolist() and b["reason"].tolist() == a["reason"].tolist()
    z = [c for c in a.columns if c.startswith("z")]
    np.testing.assert_allclose(b[z].to_numpy(), a[z].to_numpy(), atol=1e-5)
    # the dataset reads back as one table, and a file output is refused
    assert len(pd.read_parquet(tmp_path / "dask_out")) == len(a)
    with pytest.raises(InputError, match="directory"):
        encode_dask(tiny_model, src, tmp_path / "x.csv", StreamConfig(workers=1))


def test_csv_partition_size_from_a_file_or_an_absolute_glob(tmp_path):
    from molvae.library.dask_engine import _csv_blocksize

    for i in range(2):
        (tmp_path / f"part{i}.csv").write_text("smiles\n" + "CCO\n" * 100)
    per_file = _csv_blocksize(str(tmp_path / "part0.csv"), 10_000)
    assert per_file == _csv_blocksize(str(tmp_path / "part*.csv"), 10_000) > 1024
    with pytest.raises(InputError, match="no input files"):
        _csv_blocksize(str(tmp_path / "none*.csv"), 10)


@pytest.mark.slow
def test_torchrun_ddp_two_gloo_processes(tmp_path, tiny_csv):
    """One epoch with 2 processes: gradients averaged over gloo; rank 0 alone writes the run."""
    config = tmp_path / "tiny.toml"
    config.write_text(
        '[data]\nproperties = ["logp"]\n[model]\nembedding_dim = 16\nencoder_hidden_dim = 32\n'
        "latent_dim = 8\ndecoder_hidden_dim = 32\nproperty_hidden_dim = 8\n"
        "[train]\nepochs = 1\nbatch_size = 8\nrecon_eval_size = 5\n"
    )
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "molvae",
            "train",
            str(tiny_csv),
            "-o",
            str(out),
            "--config",
            str(config),
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    from molvae.models.vae import MolVAE

    model = MolVAE.load(out / "best.pt")
    assert model.decode(np.zeros((1, 8), dtype=np.float32))  # a usable model
    metrics = pd.read_csv(out / "metrics.csv")
    n_train = model.metadata["n_train"]
    batches = len(BucketBatchSampler(np.ones(n_train, dtype=int), 8))
    assert len(metrics) == 1 and int(metrics["step"].iloc[0]) == batches // 2  # each rank did half
    assert proc.stdout.count("trained 1 epochs") == 1  # only rank 0 reports


def test_dask_loggers_are_restored():
    import logging

    from molvae.library.dask_engine import quiet_dask_loggers

    logging.getLogger("distributed").setLevel(logging.INFO)
    with quiet_dask_loggers():
        assert logging.getLogger("distributed").level == logging.WARNING
    assert logging.getLogger("distributed").level == logging.INFO

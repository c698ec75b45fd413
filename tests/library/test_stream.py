"""Streaming encode: chunked == whole-file, every row accounted for, every output format, resumable."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import alive, linux_only, live_children, wait_until_dead

from molvae.cli.main import main
from molvae.errors import InputError
from molvae.io import iter_molecule_chunks, read_molecules
from molvae.library import stream
from molvae.library.stream import StreamConfig, encode_file
from molvae.training.runs import partial_path

ROOT = Path(__file__).resolve().parents[2]

BAD = ["", "nan", "C1CC", "[U]", "CC(=O)O.[Na+]", "not a smiles"]


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory, sample_smiles):
    """The sample molecules with invalid inputs mixed in at known rows."""
    smiles = list(sample_smiles)
    for k, bad in enumerate(BAD):
        smiles.insert(7 * k + 3, bad)
    path = tmp_path_factory.mktemp("lib") / "mixed.csv"
    pd.DataFrame({"compound_id": [f"c{i}" for i in range(len(smiles))], "smiles": smiles}).to_csv(path, index=False)
    return path


def _z(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c[0] == "z" and c[1:].isdigit()]].to_numpy(dtype=np.float64)


def test_chunked_equals_whole_file_and_model_encode(tiny_model, mixed_csv, tmp_path):
    whole = encode_file(
        tiny_model, mixed_csv, tmp_path / "whole.parquet", StreamConfig(chunk_size=10_000, workers=1, precision="fp32")
    )
    chunked = encode_file(
        tiny_model,
        mixed_csv,
        tmp_path / "chunked.parquet",
        StreamConfig(chunk_size=7, workers=2, batch_size=5, precision="fp32"),
    )
    a, b = pd.read_parquet(tmp_path / "whole.parquet"), pd.read_parquet(tmp_path / "chunked.parquet")
    n = len(read_molecules(mixed_csv))
    assert whole.n_rows == chunked.n_rows == len(a) == len(b) == n
    assert a["row"].tolist() == list(range(n)) == b["row"].tolist()
    pd.testing.assert_frame_equal(
        a.drop(columns=[c for c in a.columns if c[0] == "z" or c.startswith("pred_")]),
        b.drop(columns=[c for c in b.columns if c[0] == "z" or c.startswith("pred_")]),
    )
    np.testing.assert_allclose(_z(a), _z(b), atol=1e-5)
    # ... and both equal the in-memory library API
    enc = tiny_model.encode(read_molecules(mixed_csv).smiles)
    np.testing.assert_allclose(_z(a), enc.mu, atol=1e-5)
    assert a["valid"].to_numpy().tolist() == enc.valid.tolist()


@pytest.mark.parametrize(
    "setting,message",
    [
        ({"chunk_size": 0}, "chunk_size must be at least 1, not 0"),
        ({"batch_size": -3}, "batch_size must be at least 1, not -3"),
        ({"workers": -1}, "workers must be 0 (automatic) or more, not -1"),
        ({"threads": -2}, "threads must be 0 (automatic) or more, not -2"),
        ({"precision": "fp16"}, "precision must be one of auto, fp32, bf16, not 'fp16'"),
    ],
)
def test_stream_config_checks_its_settings(setting, message):
    with pytest.raises(InputError) as caught:
        StreamConfig(**setting)
    assert str(caught.value) == message


def test_bf16_latents_are_close_to_fp32(tiny_model, mixed_csv, tmp_path):
    encode_file(tiny_model, mixed_csv, tmp_path / "a.parquet", StreamConfig(precision="fp32"))
    encode_file(tiny_model, mixed_csv, tmp_path / "b.parquet", StreamConfig(precision="bf16"))
    a, b = _z(pd.read_parquet(tmp_path / "a.parquet")), _z(pd.read_parquet(tmp_path / "b.parquet"))
    ok = np.isfinite(a).all(axis=1)
    assert np.array_equal(ok, np.isfinite(b).all(axis=1))
    assert np.abs(a[ok] - b[ok]).max() < 0.05 * max(1.0, np.abs(a[ok]).max())


def test_every_row_accounted_for_with_reasons(tiny_model, mixed_csv, tmp_path):
    summary = encode_file(tiny_model, mixed_csv, tmp_path / "out.csv", StreamConfig(chunk_size=5, workers=2))
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, dtype={"input_smiles": str})
    src = pd.read_csv(mixed_csv, keep_default_na=False, dtype=str)
    assert len(out) == len(src) and out["compound_id"].tolist() == src["compound_id"].tolist()
    assert out["input_smiles"].tolist() == src["smiles"].tolist()
    bad = out[out["input_smiles"].isin(BAD)]
    assert len(bad) == len(BAD) and not bad["valid"].astype(str).eq("True").any()
    assert all(bad["reason"].str.len() > 0)
    assert summary.n_rows - summary.n_valid == len(BAD)
    assert sum(summary.reasons.values()) == len(BAD)


def test_npy_output_and_rejects_file(tiny_model, mixed_csv, tmp_path):
    encode_file(tiny_model, mixed_csv, tmp_path / "z.npy", StreamConfig(chunk_size=9, workers=1))
    z = np.load(tmp_path / "z.npy")
    rejects = pd.read_csv(tmp_path / "z.rejects.csv", keep_default_na=False)
    assert z.shape == (len(read_molecules(mixed_csv)), tiny_model.latent_dim)
    assert sorted(rejects["row"]) == sorted(np.flatnonzero(np.isnan(z).all(axis=1)).tolist())
    assert len(rejects) == len(BAD)


@pytest.mark.parametrize("suffix", [".smi.gz", ".sdf", ".parquet", ".tsv"])
def test_chunked_readers_match_whole_reader(tmp_path, sample_smiles, suffix):
    from rdkit import Chem

    smiles = sample_smiles[:23]
    path = tmp_path / f"lib{suffix}"
    if suffix == ".smi.gz":
        with gzip.open(path, "wt") as f:
            f.write("smiles name\n" + "".join(f"{s} m{i}\n" for i, s in enumerate(smiles)))
    elif suffix == ".sdf":
        with Chem.SDWriter(str(path)) as w:
            for i, s in enumerate(smiles):
                m = Chem.MolFromSmiles(s)
                m.SetProp("_Name", f"m{i}")
                w.write(m)
    elif suffix == ".parquet":
        pd.DataFrame({"smiles": smiles}).to_parquet(path, row_group_size=4)
    else:
        pd.DataFrame({"smiles": smiles, "id": range(len(smiles))}).to_csv(path, sep="\t", index=False)
    chunks = list(iter_molecule_chunks(path, chunk_size=5))
    assert len(chunks) >= 4 and all(1 <= len(c) <= 5 for c in chunks)
    assert sum(len(c) for c in chunks) == len(smiles)
    assert [s for c in chunks for s in c.smiles] == read_molecules(path).smiles


def test_failed_encode_leaves_no_output(tiny_model, tmp_path):
    with pytest.raises(InputError, match="not found"):
        encode_file(tiny_model, tmp_path / "missing.csv", tmp_path / "o.parquet")
    src = tmp_path / "in.csv"
    src.write_text("smiles\nCCO\n")
    with pytest.raises(InputError, match="column"):
        encode_file(tiny_model, src, tmp_path / "o.parquet", smiles_column="nope")
    assert not (tmp_path / "o.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".o.parquet", "o.parquet"))]


@pytest.mark.parametrize("text", ["", "smiles\n"])
def test_an_input_without_molecules_is_an_error_before_any_output(tiny_model, tmp_path, text):
    src = tmp_path / "empty.csv"
    src.write_text(text)
    with pytest.raises(InputError, match="no molecules in"):
        encode_file(tiny_model, src, tmp_path / "o.parquet")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".o.parquet", "o.parquet"))]


# ----------------------------------------------------------------------------- resumable encode


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory, sample_smiles):
    """1,320 rows (the sample and BAD, 20 times over, with distinct ids): 66 chunks of 20."""
    smiles = (list(sample_smiles) + BAD) * 20
    path = tmp_path_factory.mktemp("long") / "long.csv"
    pd.DataFrame({"id": [f"m{i}" for i in range(len(smiles))], "smiles": smiles}).to_csv(path, index=False)
    return path


def _encode_args(src, out, model_path, *extra) -> list[str]:
    return [
        "encode",
        str(src),
        "-o",
        str(out),
        "--model",
        str(model_path),
        "--chunk-size",
        "20",
        "--workers",
        "1",
        "--threads",
        "1",
        "--precision",
        "fp32",
        "-q",
        *extra,
    ]


def _sigkill_after_first_chunk(args: list[str], out: Path, before_kill=lambda pid: None) -> dict:
    """Run ``molvae ARGS`` in its own process, SIGKILL it (as the out-of-memory killer does: no
    clean-up runs) once its first chunk is finished, calling ``before_kill(pid)`` just before; the
    interrupted encode's state, checked to be mid-way with no output yet."""
    state_file = partial_path(out) / "state.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "molvae", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if json.loads(state_file.read_text())["chunks"] >= 1:
                    before_kill(proc.pid)
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.005)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    done = json.loads(state_file.read_text())
    assert 1 <= done["chunks"] < 66 and not out.exists()  # killed mid-way, no output yet
    return done


def _assert_equals_uninterrupted(out: Path, long_csv: Path, model_path: Path, reference: Path) -> None:
    """The resumed ``out`` is, byte for byte, what an uninterrupted encode writes to ``reference``."""
    assert main(_encode_args(long_csv, reference, model_path)) == 0
    resumed, uninterrupted = pd.read_parquet(out), pd.read_parquet(reference)
    assert len(resumed) == 1320 and resumed["row"].tolist() == list(range(1320))
    pd.testing.assert_frame_equal(resumed, uninterrupted)  # same rows, ids, SMILES, reasons and latents, exactly
    assert out.read_bytes() == reference.read_bytes()


def test_sigkilled_encode_resumes_to_the_same_output(tiny_model_path, long_csv, tmp_path, capsys):
    out = tmp_path / "lib.parquet"
    done = _sigkill_after_first_chunk(_encode_args(long_csv, out, tiny_model_path), out)

    capsys.readouterr()
    assert main(_encode_args(long_csv, out, tiny_model_path)) != 0  # never reused without --resume
    assert "holds an interrupted encode" in capsys.readouterr().err
    assert main(_encode_args(long_csv, out, tiny_model_path, "--resume", "--chunk-size", "30")) != 0
    assert "chunk_size was 20 and is now 30" in capsys.readouterr().err
    assert main(_encode_args(long_csv, out, tiny_model_path, "--resume")) == 0
    assert f"{done['rows']} of them by the interrupted run" in capsys.readouterr().out
    assert not partial_path(out).exists()
    _assert_equals_uninterrupted(out, long_csv, tiny_model_path, tmp_path / "ref.parquet")


class _Interrupt(BaseException):
    """Stands for a kill signal in the main process."""


@pytest.mark.parametrize("name", ["out.csv.gz", "z.npy"])
def test_interrupted_encode_resumes_for_every_format(tiny_model, long_csv, tmp_path, monkeypatch, name):
    config = StreamConfig(chunk_size=100, workers=1, threads=1, precision="fp32")
    encode_file(tiny_model, long_csv, tmp_path / "ref" / name, config)
    calls = {"n": 0}
    real = stream.encode_chunk

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "encode_chunk", dying)
    out = tmp_path / name
    with pytest.raises(_Interrupt):
        encode_file(tiny_model, long_csv, out, config)
    assert not out.exists() and json.loads((partial_path(out) / "state.json").read_text())["rows"] == 400
    summary = encode_file(tiny_model, long_csv, out, config, resume=True)
    assert summary.resumed_rows == 400 and summary.n_rows == 1320 and summary.n_valid == 1320 - 20 * len(BAD)
    assert out.read_bytes() == (tmp_path / "ref" / name).read_bytes()
    if name.endswith(".npy"):
        assert (tmp_path / "z.rejects.csv").read_bytes() == (tmp_path / "ref" / "z.rejects.csv").read_bytes()
    assert not partial_path(out).exists()


def test_resume_refuses_a_changed_input_and_starts_afresh_without_state(tiny_model, sample_smiles, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"smiles": sample_smiles}).to_csv(src, index=False)
    out = tmp_path / "o.parquet"
    config = StreamConfig(chunk_size=10, workers=1, precision="fp32")
    summary = encode_file(tiny_model, src, out, config, resume=True)  # nothing to resume: a normal run
    assert summary.resumed_rows == 0 and len(pd.read_parquet(out)) == len(sample_smiles)
    state = stream.PartialEncode.start(
        tmp_path / "p.parquet", stream.encode_identity(tiny_model, src, config, None, None), resume=False
    )
    state.add(pd.DataFrame({"row": [0], "smiles": ["C"]}), 1, Counter())
    state.stop()  # as after a kill: one chunk kept
    src.write_text(src.read_text() + "CCO\n")
    with pytest.raises(InputError, match="input file changed"):
        encode_file(tiny_model, src, tmp_path / "p.parquet", config, resume=True)
    with pytest.raises(InputError, match="interrupted encode"):
        encode_file(tiny_model, src, tmp_path / "p.parquet", config)


def test_encoder_threads_leave_cores_to_the_workers(monkeypatch):
    from molvae.library import stream

    monkeypatch.setattr(stream, "resolve_workers", lambda workers: 2 if workers == 0 else workers)
    assert stream.encoder_threads(2) == 1  # two workers on two cores: one encoder thread
    assert stream.encoder_threads(1) == 2  # preparation in the main process: every core
    monkeypatch.setattr(stream, "resolve_workers", lambda workers: 16 if workers == 0 else workers)
    assert stream.encoder_threads(16) == 8


# ----------------------------------------------------------------------------- killed with worker processes


@linux_only
def test_sigkilled_encode_with_workers_leaves_none_behind_and_resumes_at_once(
    tiny_model_path, long_csv, tmp_path, capsys
):
    out = tmp_path / "lib.parquet"
    args = [*_encode_args(long_csv, out, tiny_model_path), "--workers", "2"]
    workers: set[int] = set()  # the pool's, preparing the next chunks when the main process dies
    try:
        done = _sigkill_after_first_chunk(args, out, before_kill=lambda pid: workers.update(live_children(pid)))
        assert len(workers) == 2

        capsys.readouterr()  # at once: whatever the workers do, the lock died with the process that held it
        assert main([*args, "--resume"]) == 0, capsys.readouterr().err
        assert f"{done['rows']} of them by the interrupted run" in capsys.readouterr().out
        assert not partial_path(out).exists()
        assert wait_until_dead(workers) == set()  # no worker outlived the killed encode
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    _assert_equals_uninterrupted(out, long_csv, tiny_model_path, tmp_path / "ref.parquet")


_LOCK_AND_FORK = """
import os, sys, time
from pathlib import Path
from molvae.library.output import PartialEncode
state = PartialEncode.start(Path(sys.argv[1]), {}, resume=False)
child = os.fork()  # inherits every descriptor, the lock file's too
if child == 0:
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_the_lock_is_the_writers_alone_not_its_forked_children(tmp_path):
    out = tmp_path / "o.parquet"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOCK_AND_FORK, str(out)], env=env, stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        child = int(proc.stdout.readline())
        with pytest.raises(InputError, match="another molvae encode is writing"):
            stream.PartialEncode.start(out, {}, resume=True)  # the writer holds it
        proc.kill()
        proc.wait(timeout=60)
        assert alive(child)  # a child that inherited the lock file's descriptor lives on ...
        state = stream.PartialEncode.start(out, {}, resume=True)  # ... and does not hold the lock
        with pytest.raises(InputError, match="another molvae encode is writing"):
            stream.PartialEncode.start(out, {}, resume=True)  # held by this process now, for this process too
        state.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child and alive(child):
            os.kill(child, signal.SIGKILL)


def test_output_does_not_import_stream():
    """One direction only: stream builds on output (no import circle, function-level or typing-only)."""
    import ast

    from molvae.library import output

    tree = ast.parse(Path(output.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("molvae.library.stream")}

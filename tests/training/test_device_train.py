"""scripts/device_train.py: prepare here, train within a time budget where RDKit is missing, bring back
checkpoints in parts that join into a loadable model."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_MODEL

from molvae.config import RunConfig
from molvae.utils import file_sha256

SCRIPT = ROOT / "scripts" / "device_train.py"


def _script():
    spec = importlib.util.spec_from_file_location("device_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_csv):
    base = tmp_path_factory.mktemp("device")
    config = base / "tiny.toml"
    config.write_text(RunConfig.from_dict({**TINY_MODEL, "data": {"properties": ["logp", "qed"]}}).to_toml())
    _script().main(["prepare", str(tiny_csv), str(config), "-o", str(base / "prepared")])
    return base, config


def _run(base, config, *flags, stub_rdkit: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    """``scripts/device_train.py run`` on the prepared data with ``config`` and ``flags`` (with
    ``stub_rdkit``, as where RDKit is missing)."""
    env = {**os.environ, "DEVICE_TRAIN_STUB_RDKIT": "1"} if stub_rdkit else None
    return subprocess.run(
        [sys.executable, str(SCRIPT), "run", str(base / "prepared"), "--config", str(config), *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _train_and_join(base, config, name: str, *flags) -> Path:
    """Train for 20 s on the CPU without RDKit, join the best model's parts into ``base/name.pt``."""
    out = base / f"out_{name}"
    flags = (*flags, "--seconds", "20", "--grace", "30", "--runs", str(base / f"runs_{name}"), "--out", str(out))
    result = _run(base, config, *flags, "--device", "cpu")
    assert result.returncode == 0, result.stderr[-2000:]
    parts = sorted(out.glob("tiny.best.pt.part*"))
    assert parts
    joined = base / f"{name}.pt"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    return joined


def test_run_without_rdkit_brings_back_a_loadable_model(prepared, tiny_csv):
    from molvae import MolVAE

    base, config = prepared
    joined = _train_and_join(base, config, "best")
    assert (base / "out_best" / "runs.tar.gz").exists()
    stored = torch.load(joined, weights_only=True)["model"]["state_dict"]
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())  # half the transfer
    model = MolVAE.load(joined)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.metadata["data_sha256"] == file_sha256(tiny_csv)  # as if trained on the file itself
    assert model.metadata["n_train"] > 0
    log = (base / "runs_best" / "tiny.log").read_text()
    assert "epochs (config 2)" in log


def test_rdkit_stub_imports_but_refuses_calls():
    code = (
        "import sys; sys.path.insert(0, %r); import device_train as d; d._stub_rdkit()\n"
        "from rdkit import Chem\nfrom rdkit.Chem import Descriptors\n"
        "try:\n    Chem.MolFromSmiles('C')\nexcept RuntimeError as e:\n    print('refused', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code % str(SCRIPT.parent)],
        capture_output=True,
        text=True,
        env={**os.environ, "DEVICE_TRAIN_STUB_RDKIT": "1"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "refused RDKit is not installed here (rdkit.Chem.MolFromSmiles)" in result.stdout


def test_run_warm_starts_a_config_from_a_model(prepared, tiny_model_path):
    from molvae import MolVAE

    base, config = prepared
    joined = _train_and_join(base, config, "init", "--init", f"tiny={tiny_model_path}")
    assert MolVAE.load(joined).metadata["warm_start"]["from"] == str(tiny_model_path)
    bad = _run(
        base, config, "--init", "other=x.pt", "--seconds", "5", "--out", str(base / "o"), stub_rdkit=False, timeout=60
    )
    assert bad.returncode != 0 and "--init names a config that is not given: other" in bad.stderr

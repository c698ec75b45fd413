"""scripts/package_model.py: the bundled-model packager, with weights stored in half precision."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from conftest import ROOT

from molvae import MolVAE
from molvae.models import checkpoint


def _packager():
    spec = importlib.util.spec_from_file_location("package_model", ROOT / "scripts" / "package_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_half_precision_package_loads_as_float32_and_encodes_alike(tiny_model_path, tiny_csv, tmp_path):
    full, half = tmp_path / "full.pt", tmp_path / "half.pt"
    for out, extra in ((full, []), (half, ["--half"])):
        assert (
            _packager().main(
                [
                    str(tiny_model_path),
                    "--data",
                    str(tiny_csv),
                    "--output",
                    str(out),
                    "--prior-components",
                    "0",
                    "--temperature",
                    "0.8",
                    *extra,
                ]
            )
            == 0
        )
    stored = checkpoint.read(half)["model"]["state_dict"]
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
    assert half.stat().st_size < 0.75 * full.stat().st_size
    a, b = MolVAE.load(full), MolVAE.load(half)
    assert all(p.dtype == torch.float32 for p in b.parameters())
    assert b.metadata["sampling"] == {"temperature": 0.8} and b.training_hashes is not None
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccc2ccccc2c1"]
    np.testing.assert_allclose(a.encode(smiles).mu, b.encode(smiles).mu, atol=2e-2)

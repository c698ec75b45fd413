"""scripts/atom_environments.py: builds the reference set of atom environments that the familiar
check (molvae.chem.familiar_flags) and ``molvae optimize --environments`` read."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from molvae import chem
from molvae.evaluation import metrics


def _builder():
    spec = importlib.util.spec_from_file_location("atom_environments", ROOT / "scripts" / "atom_environments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_reference_built_from_a_split_covers_its_molecules_and_no_more(tmp_path):
    table = tmp_path / "lib.csv"
    pd.DataFrame(
        {
            "smiles": ["CC(=O)Nc1ccc(O)cc1", "CC(=O)Nc1ccc(O)cc1", "CCCCCCCCCCCC", "c1ccccc1CCCCCC"],
            "split": ["train", "train", "train", "valid"],
        }
    ).to_csv(table, index=False)
    out = tmp_path / "envs.npy"
    assert _builder().main([str(table), "--split", "train", "-o", str(out)]) == 0
    known = chem.reference_environments(out)
    assert chem.familiar_flags(["CC(=O)Nc1ccc(O)cc1", "CCCCCCCCCCCC", "c1ccccc1CCCCCC"], known).tolist() == [
        True,
        True,
        False,
    ]
    # --min-count 2: only paracetamol (twice) counts; the dodecane chain falls out
    twice = tmp_path / "twice.npy"
    assert _builder().main([str(table), "--split", "train", "--min-count", "2", "-o", str(twice)]) == 0
    assert len(np.load(twice)) < len(np.load(out))
    assert chem.familiar_flags(["CCCCCCCCCCCC"], chem.reference_environments(twice)).tolist() == [False]
    for bad in (["--split", "test", "-o", str(out)], ["-o", str(tmp_path / "envs.txt")]):
        with pytest.raises(SystemExit):
            _builder().main([str(table), *bad])


def test_chemistry_metrics_report_the_familiar_rate_beside_the_reference(sample_smiles):
    generated = sample_smiles[:10] + ["FC1=NC(N2SCC(OOCCl)=CC2F)SC=C1"] * 10  # half hold a peroxide
    out = metrics.chemistry_metrics(generated, sample_smiles)
    assert out["familiar"] == pytest.approx(np.mean(chem.familiar_flags(generated)))
    assert out["familiar"] <= 0.5 and out["ref_familiar"] >= 0.95

import math
import sys

import numpy as np
import pytest

from molvae import chem
from molvae.errors import InputError
from molvae.search.objectives import PLOGP_STATS, make_objective, penalized_logp


def test_qed_and_sa_match_rdkit_directly():
    from rdkit.Chem import QED

    mols = ["CC(=O)Oc1ccccc1C(=O)O", "CN1C(=O)N(C)c2ncn(C)c2C1=O"]
    expected = [QED.qed(chem.mol_from_smiles(s)) for s in mols]
    np.testing.assert_allclose(make_objective("qed")(mols), expected)
    sa = chem.compute_properties(mols, ["sa"])[:, 0]
    np.testing.assert_allclose(make_objective("sa")(mols), -sa)


def test_penalized_logp_by_hand():
    (ml, sl), (ms, ss), (mc, sc) = PLOGP_STATS["logp"], PLOGP_STATS["neg_sa"], PLOGP_STATS["neg_cycle"]
    logp, sa = chem.compute_properties(["c1ccccc1"], ["logp", "sa"])[0]
    benzene = (logp - ml) / sl + (-sa - ms) / ss + (0 - mc) / sc
    assert penalized_logp(["c1ccccc1"])[0] == pytest.approx(benzene)
    # a 9-membered ring pays a cycle penalty of 3
    logp9, sa9 = chem.compute_properties(["C1CCCCCCCC1"], ["logp", "sa"])[0]
    expected9 = (logp9 - ml) / sl + (-sa9 - ms) / ss + (-3 - mc) / sc
    assert penalized_logp(["C1CCCCCCCC1"])[0] == pytest.approx(expected9)
    assert chem.max_ring_size("C1CCCCCCCC1") == 9 and chem.max_ring_size("CCO") == 0


def test_similarity_and_desirability():
    sim = make_objective("similarity:OCC")(["CCO", "c1ccccc1"])
    assert sim[0] == pytest.approx(1.0) and sim[1] == pytest.approx(0.0)
    spec = make_objective("qed high, sa <= 4, mw in 250-450")
    aspirin, diphenhydramine = "CC(=O)Oc1ccccc1C(=O)O", "CN(C)CCOC(c1ccccc1)c1ccccc1"
    qed, sa, mw = chem.compute_properties([aspirin], ["qed", "sa", "mw"])[0]
    assert sa <= 4 and mw < 250
    assert spec([aspirin])[0] == pytest.approx(qed - (250 - mw) / 50.0)
    qed_d, sa_d, mw_d = chem.compute_properties([diphenhydramine], ["qed", "sa", "mw"])[0]
    assert sa_d <= 4 and 250 <= mw_d <= 450
    assert spec([diphenhydramine])[0] == pytest.approx(qed_d)  # inside every limit: the score is its QED
    with pytest.raises(InputError, match="cannot read objective term"):
        make_objective("qed very high, sa <= 4")
    with pytest.raises(InputError, match="unknown objective"):
        make_objective("happiness")


def test_user_oracle_batches_nan_and_errors(tmp_path, monkeypatch):
    (tmp_path / "myoracle.py").write_text(
        "CALLS = []\n"
        "def score(smiles):\n"
        "    CALLS.append(len(smiles))\n"
        "    return [float('nan') if 'N' in s else len(s) for s in smiles]\n"
        "def broken(smiles):\n"
        "    raise RuntimeError('docking server down')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    oracle = make_objective("myoracle:score")
    values = oracle(["CCO", "CCN", "CCCC"])
    assert values[0] == 3 and math.isnan(values[1]) and values[2] == 4
    assert sys.modules["myoracle"].CALLS == [3]  # one batched call
    assert np.isnan(make_objective("myoracle:broken")(["CCO", "CC"])).all()
    with pytest.raises(InputError, match="cannot load oracle"):
        make_objective("myoracle:missing")


ZINC = __import__("pathlib").Path(__file__).resolve().parents[3] / "shared" / "data" / "zinc250k.csv.gz"


@pytest.mark.skipif(not ZINC.exists(), reason="the shared ZINC250k file is not beside the repository")
def test_properties_match_the_published_zinc250k_values():
    """logP and SA as published with ZINC250k (Gomez-Bombarelli et al. 2018); QED within RDKit's
    later revision (about 0.01, see the shared data README); penalized logP standardized to mean 0."""
    import pandas as pd

    rows = pd.read_csv(ZINC, nrows=300)
    np.testing.assert_allclose(make_objective("logp")(rows["smiles"]), rows["logP"], atol=1e-3)
    np.testing.assert_allclose(-make_objective("sa")(rows["smiles"]), rows["SAS"], atol=1e-3)
    assert np.abs(make_objective("qed")(rows["smiles"]) - rows["qed"]).mean() < 0.02
    # standardized with the ZINC250k statistics: mean about 0 (standard error here about 0.11)
    assert abs(penalized_logp(rows["smiles"].tolist()).mean()) < 0.5


def test_desirability_with_penalized_logp_and_a_similarity_constraint():
    lead = "CC(=O)Oc1ccccc1C(=O)O"
    obj = make_objective(f"penalized_logp high, sim:{lead} >= 0.4")
    close, far = obj([lead, "CCCCCCCCCC"])
    assert close == pytest.approx(penalized_logp([lead])[0])  # similarity 1: no penalty
    sim_far = make_objective(f"similarity:{lead}")(["CCCCCCCCCC"])[0]
    assert far == pytest.approx(penalized_logp(["CCCCCCCCCC"])[0] - (0.4 - sim_far) / 0.05)
    assert obj.surrogate is None  # the predictor cannot estimate similarity
    both = make_objective("penalized_logp high, mw <= 500")
    assert set(both.needs) == {"logp", "mw", "sa"} and both.surrogate is not None


def test_desirability_surrogate_is_differentiable(tiny_model):
    import torch

    from molvae.search.latent import PropertySurrogate

    obj = make_objective("qed high, logp in 1-3")
    z = torch.zeros(3, tiny_model.latent_dim, requires_grad=True)
    score = PropertySurrogate(tiny_model, obj).score(z)
    score.sum().backward()
    assert score.shape == (3,) and torch.isfinite(z.grad).all()
    props = {"qed": np.array([0.5]), "logp": np.array([4.0])}
    assert obj.surrogate(props)[0] == pytest.approx(0.5 - 1.0)  # 1 above the range, scale 1


def test_user_oracle_from_the_working_directory_leaves_sys_path_alone(tmp_path, monkeypatch):
    (tmp_path / "cwdoracle.py").write_text("def score(smiles):\n    return [1.0 for _ in smiles]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = list(sys.path)
    assert make_objective("cwdoracle:score")(["CCO"])[0] == 1.0
    assert sys.path == before

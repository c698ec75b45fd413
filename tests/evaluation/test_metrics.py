"""Metrics on tiny hand-checked inputs."""

import math
from collections import Counter

import numpy as np
import pytest

from molvae import chem
from molvae.evaluation import metrics

MOLS = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CC(=O)Nc1ccc(O)cc1",
    "CN1C(=O)N(C)c2ncn(C)c2C1=O",
    "c1ccc2ccccc2c1",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
    "COc1ccc2[nH]cc(CCN(C)C)c2c1",
]


def test_validity_uniqueness_novelty():
    gen = ["CCO", "OCC", None, "C1CC", "c1ccccc1"]
    assert metrics.validity(gen) == pytest.approx(3 / 5)
    assert metrics.uniqueness(gen) == pytest.approx(2 / 3)  # CCO twice (as OCC), benzene
    assert metrics.novelty(gen, {"CCO"}) == pytest.approx(1 / 2)
    assert metrics.unique_at(["CCO", "CCO", "CCN", "CCC"], 2) == pytest.approx(1 / 2)
    assert metrics.reconstruction_accuracy(["CCO", None, "CCN"], ["CCO", "CCC", "CCC"]) == pytest.approx(1 / 2)


def test_tanimoto_known_values():
    a = np.array([[1, 1, 0, 0]], dtype=np.uint8)
    b = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.uint8)
    np.testing.assert_allclose(metrics.tanimoto_matrix(a, b), [[1 / 3, 1.0, 0.0]])


def test_tanimoto_matches_rdkit():
    from rdkit import DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fps = [gen.GetFingerprint(chem.mol_from_smiles(s)) for s in MOLS[:2]]
    expected = DataStructs.TanimotoSimilarity(fps[0], fps[1])
    ours = metrics.tanimoto_matrix(*[chem.morgan_fingerprints([s]) for s in MOLS[:2]])[0, 0]
    assert ours == pytest.approx(expected, abs=1e-6)


def test_snn_and_intdiv():
    assert metrics.snn(MOLS, MOLS) == pytest.approx(1.0)
    assert metrics.internal_diversity(["CCO"] * 4) == pytest.approx(0.0, abs=1e-6)
    t = metrics.tanimoto_matrix(*[chem.morgan_fingerprints([s]) for s in MOLS[:2]])[0, 0]
    # two molecules: pairs (1, t, t, 1) -> IntDiv1 = 1 - (2 + 2t) / 4; IntDiv2 = 1 - sqrt((2 + 2t^2) / 4)
    assert metrics.internal_diversity(MOLS[:2], 1) == pytest.approx(1 - (2 + 2 * t) / 4, abs=1e-6)
    assert metrics.internal_diversity(MOLS[:2], 2) == pytest.approx(1 - math.sqrt((2 + 2 * t * t) / 4), abs=1e-6)


def test_cosine_frag_scaf():
    assert metrics.cosine_similarity_counts(Counter(a=1, b=1), Counter(a=1)) == pytest.approx(1 / math.sqrt(2))
    assert metrics.frag_similarity(MOLS, MOLS) == pytest.approx(1.0)
    assert metrics.scaf_similarity(MOLS, MOLS) == pytest.approx(1.0)
    assert chem.murcko_scaffold("c1ccccc1Cc1ccncc1") == "c1ccc(Cc2ccncc2)cc1"
    assert chem.murcko_scaffold("Cc1ccccc1") is None  # one ring: below the 2-ring minimum


def test_fcd_of_a_set_with_itself_is_near_zero(sample_smiles):
    assert abs(metrics.fcd(sample_smiles[:50], sample_smiles[:50])) < 1e-3
    assert metrics.fcd(sample_smiles[:50], MOLS * 5) > 1.0


def test_wasserstein_and_report(sample_smiles):
    w = metrics.property_wasserstein(MOLS, MOLS)
    assert set(w) == {"logp", "qed", "sa", "mw"} and all(v == pytest.approx(0.0) for v in w.values())
    shifted = metrics.property_wasserstein(["CCO"], ["CCCO"], names=("mw",))
    assert shifted["mw"] == pytest.approx(14.027, abs=1e-2)
    # the valid molecules against themselves: every similarity 1, every distance 0
    report = metrics.evaluate_generated(
        sample_smiles[:30] + [None], reference=sample_smiles[:30], train=sample_smiles[:10]
    )
    assert report["validity"] == pytest.approx(30 / 31)
    assert report["novelty"] == pytest.approx(20 / 30)
    assert report["unique@1k"] == report["unique@10k"] == 1.0
    assert 0 < report["intdiv2"] < report["intdiv1"] < 1  # IntDivP = 1 - (mean T^P)^(1/P) falls with P
    for key in ("snn", "frag", "scaf"):
        assert report[key] == pytest.approx(1.0)
    for key in ("fcd", "wasserstein_logp", "wasserstein_qed", "wasserstein_sa", "wasserstein_mw"):
        assert report[key] == pytest.approx(0.0, abs=1e-3)

import numpy as np
import pytest

from molvae import chem
from molvae.errors import InputError


def test_canonicalize_gives_rdkit_canonical_form():
    assert chem.canonicalize("OCC") == ("CCO", None)
    assert chem.canonicalize("C1=CC=CC=C1") == ("c1ccccc1", None)


@pytest.mark.parametrize("bad,reason", [("", "empty"), ("   ", "empty"), (None, "empty"),
                                        ("C1CC", "unparseable"), ("nan", "unparseable"), ("Xx", "unparseable")])
def test_canonicalize_reasons(bad, reason):
    assert chem.canonicalize(bad) == (None, reason)


def test_largest_fragment_only_when_asked():
    assert chem.canonicalize("CCO.[Na+].[Cl-]")[0] == "CCO.[Cl-].[Na+]"
    assert chem.canonicalize("CC(=O)[O-].[Na+]", keep_largest_fragment=True)[0] == "CC(=O)[O-]"


def test_properties_hand_checked():
    props = chem.compute_properties(["CCO", "c1ccccc1", "not a molecule"], ["mw", "heavy_atoms", "rings", "hbd"])
    np.testing.assert_allclose(props[0], [46.069, 3, 0, 1], atol=1e-3)
    np.testing.assert_allclose(props[1], [78.114, 6, 1, 0], atol=1e-3)
    assert np.isnan(props[2]).all()


def test_sa_qed_logp_in_known_ranges():
    logp, qed, sa = chem.compute_properties(["CC(=O)Oc1ccccc1C(=O)O"], ["logp", "qed", "sa"])[0]
    assert logp == pytest.approx(1.31, abs=0.01)  # Crippen logP of aspirin
    assert 0.5 < qed < 0.6
    assert 1.0 < sa < 2.5  # aspirin is easy to make


def test_property_aliases_and_unknown():
    assert chem.property_spec("SAS").name == "sa"
    assert chem.property_spec("LogP").name == "logp"
    with pytest.raises(InputError, match="known properties: .*qed"):
        chem.property_spec("toxicity")


def test_has_radicals():
    assert chem.has_radicals("[CH2]C") and chem.has_radicals("C[O]")
    assert not chem.has_radicals("CCO") and not chem.has_radicals("C[NH3+]") and not chem.has_radicals(None)

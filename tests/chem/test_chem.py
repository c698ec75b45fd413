import os

import numpy as np
import pytest

from molvae import chem
from molvae.errors import InputError


def test_canonicalize_gives_rdkit_canonical_form():
    assert chem.canonicalize("OCC") == ("CCO", None)
    assert chem.canonicalize("C1=CC=CC=C1") == ("c1ccccc1", None)


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("C1CC", "unparseable"),
        ("nan", "unparseable"),
        ("Xx", "unparseable"),
    ],
)
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


def test_chemistry_profile_flags_what_a_chemist_rejects():
    smiles = [
        "CC(=O)Nc1ccc(O)cc1",  # paracetamol: sane
        "CC[CH]CC(=O)Nc1ccc(O)cc1",  # a radical
        "CCO.CC(=O)Nc1ccc(O)cc1",  # two fragments
        "CCO",  # tiny
        "C1CCCCCCCCC1CC(=O)Nc1ccccc1",  # a 10-membered ring
        "CC(=O)Nc1ccc(O)cc1[Se]C",  # selenium is not a ZINC element
        "O=C1C(=Cc2ccccc2)SC(=S)N1CC",  # rhodanine ene: PAINS
        None,
        "not a molecule",
    ]
    prof = chem.chemistry_profile(smiles)
    assert prof["sane"].tolist() == [True] + [False] * 8
    assert prof["radicals"].tolist()[:2] == [False, True]
    assert prof["fragments"][2] == 2 and prof["heavy_atoms"][3] == 3 and prof["max_ring"][4] == 10
    assert not prof["zinc_elements"][5] and prof["pains"][6]
    assert not prof["valid"][7] and not prof["valid"][8]
    # MOSES filters: the aldehyde (MCF) and the charged amine fail; the amide passes
    moses = chem.chemistry_profile(["CCCCCCC=O", "CCCC[NH3+]", "CC(=O)Nc1ccc(O)cc1"])["moses_filters"]
    assert moses.tolist() == [False, False, True]


# ZINC250k molecules that match PAINS patterns written with explicit hydrogens ([#1])
PAINS_WITH_HYDROGENS = [
    "CCNC(=S)N/N=C/c1ccc(O)c(OCC)c1",  # hzone_phenol_B
    "Cc1[nH]c2ccccc2c1CC(=O)NCCC1CCN(c2cc[nH+]cc2)CC1",  # indol_3yl_alk
    "COC(=O)CCNC(=O)c1cc(C)n(-c2ccccc2C)c1C",  # pyrrole_A
    "CC[NH+](Cc1cc(Br)ccc1O)[C@H](C)c1nnc(C)o1",  # mannich_A
    "Cc1cc(O)cc(O)c1/C=N\\NC(=O)[C@H]1COc2ccccc2O1",
]  # hzone_phenol_A


def test_pains_needs_no_explicit_hydrogens():
    from rdkit import Chem

    catalog = chem._filter_patterns()["pains"]
    for s in PAINS_WITH_HYDROGENS + ["CC(=O)Nc1ccc(O)cc1", "O=C1C(=Cc2ccccc2)SC(=S)N1CC"]:
        mol = chem.mol_from_smiles(s)
        assert chem._has_pains(mol, chem._filter_patterns()) == catalog.HasMatch(Chem.AddHs(mol)), s
    assert chem.chemistry_profile(PAINS_WITH_HYDROGENS)["pains"].all()


def test_sane_flags_equal_the_profile_column():
    smiles = [
        "CC(=O)Nc1ccc(O)cc1",
        "CC[CH]CC(=O)Nc1ccc(O)cc1",
        "CCO",
        "O=C1C(=Cc2ccccc2)SC(=S)N1CC",
        *PAINS_WITH_HYDROGENS,
        "C1CCCCCCCCC1CC(=O)Nc1ccccc1",
        None,
        "",
        "not a molecule",
    ]
    assert chem.sane_flags(smiles).tolist() == chem.chemistry_profile(smiles)["sane"].tolist()
    assert chem.sane_flags(smiles).tolist()[:4] == [True, False, False, False]


# Molecules that parse and pass the sanity rules but hold an atom environment no ZINC250k molecule has
# (all four were top-scoring proposals of optimizers in benchmarks/results/pmo_1000.json)
UNFAMILIAR = [
    "CC1=C(c2ccc(NC(=O)c3cc(C)oc3C)cc2)C(OF)C(CN2CCN(c3ncc4c(n3)CCCC4=O)CC2)C1",  # O-F
    "C=C(CN(C)c1ccnc(N(C)CCN(C)C(N)=CC(=O)Nc2cn(C)c3ccccc23)c1)Oc1cc(C([O-])[O-])ncc1N",  # C(O-)(O-)
    "O=C(CCc1ncc(-c2cccc(Cl)c2)o1)[SH-]NCc1cccnc1",  # acyl thiolate
    "FC1=NC(N2SCC(OOCCl)=CC2F)SC=C1",
]  # peroxide


def test_familiar_flags_strike_out_environments_zinc_lacks(tmp_path):
    drugs = ["CC(=O)Nc1ccc(O)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CN1CCC[C@H]1c1cccnc1"]
    assert chem.sane_flags(UNFAMILIAR).all()  # the sanity rules let them through
    assert (
        chem.familiar_flags(drugs + UNFAMILIAR + [None, "", "not a molecule"]).tolist()
        == [True] * 3 + [False] * 4 + [False] * 3
    )
    assert chem.chemistry_profile(drugs + UNFAMILIAR)["familiar"].tolist() == [True] * 3 + [False] * 4
    # a reference of one's own: what paracetamol's environments cover
    counts = chem.environment_counts(drugs[:1] + drugs[:1] + [None])
    assert min(counts.values()) == 2
    path = tmp_path / "own.npy"
    np.save(path, np.array(sorted(counts), dtype=np.int64))
    own = chem.reference_environments(path)
    assert chem.familiar_flags(drugs, own).tolist() == [True, False, False]
    with pytest.raises(InputError, match="cannot read atom environments"):
        chem.reference_environments(tmp_path / "missing.npy")


def test_sane_flags_with_a_reference_are_sane_and_familiar_on_one_parse():
    smiles = [
        "CC(=O)Nc1ccc(O)cc1",
        "CC[CH]CC(=O)Nc1ccc(O)cc1",
        "CCO",
        *PAINS_WITH_HYDROGENS,
        *UNFAMILIAR,
        "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
        None,
        "",
        "not a molecule",
    ]
    known = chem.reference_environments()
    both = chem.sane_flags(smiles, familiar=known)
    assert both.tolist() == (chem.sane_flags(smiles) & chem.familiar_flags(smiles, known)).tolist()
    assert both.tolist()[0] and both.tolist()[-4] and not both[3:-4].any()


def test_zinc_like_molecules_are_familiar(sample_smiles):
    """The shipped reference (ZINC250k's hashes) still matches this RDKit: MOSES molecules, drawn from
    ZINC too, are nearly all familiar (0.8% of ZINC250k's validation molecules are not)."""
    assert chem.familiar_flags(sample_smiles).mean() >= 0.95


def test_canonicalize_decoded_reads_underbonded_bracket_atoms_as_plain_atoms():
    smiles, reasons, repaired = chem.canonicalize_decoded(["CC[C@H]O", "C[C@@H](N)O", "CC[NH+]C", "", "C1CC"])
    assert smiles[:3] == ["CCCO", "C[C@@H](N)O", "CC[NH2+]C"]
    assert repaired == [True, False, True, False, False]
    assert reasons[3:] == ["empty", "unparseable"]
    assert not any(chem.has_radicals(s) for s in smiles[:3])
    # user input is never repaired: canonicalize keeps the radical
    assert chem.has_radicals(chem.canonicalize("CC[C@H]O")[0])


def test_sa_score_leaves_sys_path_alone():
    import subprocess
    import sys

    code = (
        "import sys; before = list(sys.path)\n"
        "from molvae import chem\n"
        "assert abs(chem.compute_properties(['CC(=O)Oc1ccccc1C(=O)O'], ['sa'])[0, 0] - 1.58) < 0.01\n"
        "assert sys.path == before, set(sys.path) ^ set(before)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_graph_edits_make_distinct_canonical_children_and_are_seeded():
    parents = ["CC(=O)Nc1ccc(O)cc1", "NCCc1ccccc1", "CCOC(=O)c1ccccc1Cl"] * 10
    children = chem.graph_edits(parents, 20, seed=3)
    assert 0 < len(children) <= 20 and len(set(children)) == len(children)
    assert all(chem.canonicalize(s) == (s, None) for s in children)
    assert set(children) - set(parents)  # edits, not copies
    assert chem.graph_edits(parents, 20, seed=3) == children


def test_random_smiles_are_seeded_and_write_the_same_molecule():
    assert len({chem.random_smiles(["CC(=O)Nc1ccc(O)cc1"], [0])[0] for _ in range(6)}) == 1  # 0 is a seed too
    first = chem.random_smiles(["CC(=O)Nc1ccc(O)cc1", "not a molecule"], [1, 1])
    assert first == chem.random_smiles(["CC(=O)Nc1ccc(O)cc1", "not a molecule"], [1, 1]) and first[1] is None
    variants = set(chem.random_smiles(["CC(=O)Nc1ccc(O)cc1"] * 8, range(8)))
    assert len(variants) > 1 and {chem.canonicalize(v)[0] for v in variants} == {"CC(=O)Nc1ccc(O)cc1"}


def test_heavy_atom_counts():
    assert chem.heavy_atom_counts(["CCO", "c1ccccc1O", None, "not a molecule", "[H][H]"]).tolist() == [3, 7, 0, 0, 0]


def test_a_reference_of_atom_environments_must_be_a_flat_integer_array(tmp_path):
    bad = {
        "flat.npy": np.array([[1, 2], [3, 4]]),
        "float.npy": np.array([1.7, 2.2]),
        "empty.npy": np.array([], dtype=np.int64),
    }
    for name, array in bad.items():
        np.save(tmp_path / name, array)
        with pytest.raises(InputError, match="cannot read atom environments"):
            chem.reference_environments(tmp_path / name)
    np.savez(tmp_path / "archive.npz", ids=np.array([1, 2]))
    for name in ("archive.npz", "missing.npy"):
        with pytest.raises(InputError, match="cannot read atom environments"):
            chem.reference_environments(tmp_path / name)
    path = tmp_path / "ok.npy"
    np.save(path, np.array([5, 7], dtype=np.int64))
    assert chem.reference_environments(path) == {5, 7}
    first = path.stat().st_mtime_ns
    np.save(path, np.array([9], dtype=np.int64))  # rebuilt in place: read again
    os.utime(path, ns=(first + 10**9, first + 10**9))
    assert chem.reference_environments(path) == {9}

import numpy as np
import pytest

from molvae import MolVAE, chem
from molvae.cli.main import main
from molvae.errors import InputError
from molvae.search import explore, interpolate, slerp


def test_slerp_geometry():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = slerp(a, b, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[2], b, atol=1e-12)
    np.testing.assert_allclose(path[1], [2**-0.5, 2**-0.5], atol=1e-12)
    np.testing.assert_allclose(slerp(a, 2 * a, np.array([0.5])), [[1.5, 0.0]])  # parallel: linear


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_end_points_are_the_inputs(overfit_run, method):
    result, smiles = overfit_run
    model = MolVAE.load(result.last_path)
    a, b = chem.canonicalize(smiles[0])[0], chem.canonicalize(smiles[1])[0]
    table = interpolate(model, a, b, steps=8, method=method)
    assert len(table) == 9
    assert table["smiles"].iloc[0] == a and table["smiles"].iloc[-1] == b
    assert table["sim_start"].iloc[0] == pytest.approx(1.0) and table["sim_end"].iloc[-1] == pytest.approx(1.0)
    unique = table[table["new"]]["smiles"].tolist()
    assert len(unique) == len(set(unique)) and unique[0] == a
    assert (table["start_recovered"] == 1.0).all() and (table["end_recovered"] == 1.0).all()


def test_ends_that_do_not_come_back_are_named_with_their_similarity(tiny_model, caplog):
    # the tiny model (a few training steps) cannot hold procaine: its latent mean decodes elsewhere
    procaine = chem.canonicalize("CCN(CC)CCOC(=O)c1ccc(N)cc1")[0]
    with caplog.at_level("WARNING", logger="molvae.search.latent"):
        table = interpolate(tiny_model, procaine, "CCO", steps=2)
    start = table["start_recovered"].iloc[0]
    assert 0.0 <= start < 1.0 and table["smiles"].iloc[0] != procaine
    assert "start molecule does not come back" in caplog.text and f"Tanimoto {start:.2f}" in caplog.text
    with caplog.at_level("WARNING", logger="molvae.search.latent"):
        neighbours = explore(tiny_model, procaine, n=10)
    assert "query molecule does not come back" in caplog.text
    assert (neighbours["query_recovered"] < 1.0).all()


def test_interpolate_rejects_bad_input(tiny_model):
    with pytest.raises(InputError, match="cannot encode start molecule"):
        interpolate(tiny_model, "C1CC", "CCO")
    with pytest.raises(InputError, match="method"):
        interpolate(tiny_model, "CCO", "CCO", method="cubic")


def test_explore_is_ranked_seeded_and_excludes_query(tiny_model, sample_smiles):
    query = chem.canonicalize(sample_smiles[0])[0]
    a = explore(tiny_model, query, n=40, radius=1.0, seed=1)
    b = explore(tiny_model, query, n=40, radius=1.0, seed=1)
    assert a.equals(b)
    assert query not in set(a["smiles"])
    assert list(a["similarity"]) == sorted(a["similarity"], reverse=True)
    assert {"qed", "logp", "sa", "mw", "count"} <= set(a.columns)
    assert a["count"].sum() <= 40


def test_interpolate_and_explore_cli(tiny_model_path, tmp_path, capsys):
    model = ["--model", str(tiny_model_path), "-q"]
    ends = ["CC(=O)Oc1ccccc1C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]
    assert main(["interpolate", *ends, "--steps", "4", "-o", str(tmp_path / "path.csv"), *model]) == 0
    assert "unique valid molecules along 5 points" in capsys.readouterr().out
    assert main(["explore", "CC(=O)Oc1ccccc1C(=O)O", "-n", "20", *model]) == 0
    assert "distinct valid neighbours from 20 draws" in capsys.readouterr().out

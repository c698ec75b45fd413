import numpy as np
import pandas as pd
import pytest
import torch

from molvae import MolVAE, chem
from molvae.errors import InputError
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.search.bo import BOConfig, optimize
from molvae.search.gradient import gradient_ascent
from molvae.search.objectives import make_objective

SMALL = dict(budget=30, batch_size=5, n_init=10, num_restarts=2, raw_samples=64)


def test_bo_improves_on_its_initial_data_and_never_pays_twice():
    model = MolVAE.load()  # the bundled model: a toy objective (molecular weight) on a real latent space
    result = optimize(model, make_objective("mw"), BOConfig(**SMALL), progress=False)
    ev = result.evaluated
    assert len(ev) <= 30
    assert ev["smiles"].is_unique  # the cache: no molecule is paid for twice
    initial_best = ev[ev["step"] == 0]["score"].max()
    assert result.trace["best_score"].iloc[-1] > initial_best
    assert (np.diff(result.trace["best_score"]) >= 0).all()
    assert {"call", "step", "source", "smiles", "score", "z0"} <= set(ev.columns)


def test_pool_and_continuous_proposals(tiny_model):
    pool = optimize(tiny_model, make_objective("qed"), BOConfig(**SMALL, pool_size=64), progress=False)
    bo = pool.evaluated[pool.evaluated["step"] > 0]
    assert len(bo) > 0 and np.isfinite(bo["score"]).all()  # pool proposals are valid molecules, never repeats
    assert pool.evaluated["smiles"].is_unique
    # continuous proposals often decode to known molecules, each such step a full optimize_acqf: few steps
    cont = optimize(
        tiny_model,
        make_objective("qed"),
        BOConfig(**{**SMALL, "budget": 14, "batch_size": 2}, proposals="continuous", max_stalled_steps=2),
        progress=False,
    )
    assert 10 < len(cont.evaluated) <= 14 and cont.evaluated["smiles"].is_unique  # it proposed something new
    with pytest.raises(Exception, match="proposals"):
        BOConfig(proposals="grid")


def test_predictor_estimate_covers_only_predicted_objectives(tiny_model):
    from molvae.search.latent import predictor_estimate

    z = np.zeros((3, tiny_model.latent_dim), dtype=np.float32)
    est = predictor_estimate(tiny_model, make_objective("qed"))
    expected = tiny_model.scaler.inverse(tiny_model.property_head(torch.tensor(z)).detach().numpy())
    np.testing.assert_allclose(est(z), expected[:, tiny_model.property_names.index("qed")], rtol=1e-5)
    assert predictor_estimate(tiny_model, make_objective("similarity:CCO")) is None
    assert predictor_estimate(tiny_model, make_objective("mw")) is None


def test_bo_is_seeded(tiny_model):
    a = optimize(tiny_model, make_objective("mw"), BOConfig(**SMALL, seed=3), progress=False)
    b = optimize(tiny_model, make_objective("mw"), BOConfig(**SMALL, seed=3), progress=False)
    assert a.evaluated["smiles"].tolist() == b.evaluated["smiles"].tolist()


def test_trust_region_ucb_and_failing_oracle(tiny_model, tmp_path, monkeypatch):
    (tmp_path / "halfbad.py").write_text(
        "def score(smiles):\n    return [float('nan') if i % 2 else len(s) for i, s in enumerate(smiles)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = BOConfig(**{**SMALL, "budget": 24}, acquisition="ucb", trust_region=True)
    result = optimize(tiny_model, make_objective("halfbad:score"), cfg, progress=False)
    scores = result.evaluated["score"]
    assert scores.isna().any() and np.isfinite(scores).any()  # failures recorded, run continued
    assert len(result.evaluated) <= 24


def _trust_region_run(model, oracle: str, init: list[str], budget: int):
    cfg = BOConfig(budget=budget, batch_size=2, pool_size=64, trust_region=True, max_stalled_steps=20)
    result = optimize(model, make_objective(oracle), cfg, init_smiles=init, progress=False)
    ev, trace = result.evaluated, result.trace
    z = ev[[f"z{j}" for j in range(model.latent_dim)]].to_numpy()
    init_z = z[(ev["step"] == 0).to_numpy()]
    span = np.maximum(init_z.max(0) - init_z.min(0), 1e-3)  # the search box: initial range + 10%
    lo, hi = init_z.min(0) - cfg.bounds_margin * span, init_z.max(0) + cfg.bounds_margin * span
    for step, length in zip(trace["step"].iloc[1:], trace["tr_length"].iloc[1:]):
        before = ev["step"].to_numpy() < step
        center = z[before][int(np.argmax(ev["score"].to_numpy()[before]))]  # the incumbent when proposing
        half = 0.5 * length * (hi - lo)
        for row in z[(ev["step"] == step).to_numpy()]:  # every proposal lies in the region around it
            assert (np.abs(row - center) <= half + 1e-9).all() and (row >= lo - 1e-9).all() and (row <= hi + 1e-9).all()
    return trace["tr_length"].iloc[1:].tolist()


@pytest.mark.slow
def test_trust_region_shrinks_after_failures_grows_after_successes(tiny_model, sample_smiles, tmp_path, monkeypatch):
    (tmp_path / "tr_oracles.py").write_text(
        "import itertools\n"
        "FALLING, RISING = itertools.count(), itertools.count()\n"
        "def falling(smiles):  # every new molecule scores below the first: no step ever improves\n"
        "    return [-float(next(FALLING)) for _ in smiles]\n"
        "def rising(smiles):  # every new molecule beats all before it: every step improves\n"
        "    return [float(next(RISING)) for _ in smiles]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    init = sample_smiles[:8]
    # latent_dim 8, batch 2: halve after max(4, 8 / 2) = 4 failures in a row, from 0.8
    lengths = _trust_region_run(tiny_model, "tr_oracles:falling", init, budget=8 + 2 * 10)
    assert len(lengths) >= 10 and lengths[:10] == [0.8] * 4 + [0.4] * 4 + [0.2] * 2
    # double after 3 successes in a row, up to tr_length_max = 1.6
    lengths = _trust_region_run(tiny_model, "tr_oracles:rising", init, budget=8 + 2 * 6)
    assert lengths == [0.8] * 3 + [1.6] * 3


def test_bo_from_a_library(tiny_model, sample_smiles):
    result = optimize(
        tiny_model,
        make_objective("qed"),
        BOConfig(**{**SMALL, "budget": 20}),
        init_smiles=sample_smiles[:12],
        progress=False,
    )
    assert (result.evaluated["source"] == "init").sum() == 12


def test_gradient_ascent_on_the_predictor(tiny_model):
    result = gradient_ascent(
        tiny_model, make_objective("logp"), budget=25, n_starts=4, steps=30, decode_every=5, progress=False
    )
    assert 0 < len(result.evaluated) <= 25
    assert result.evaluated["smiles"].is_unique
    with pytest.raises(InputError, match="property predictor covers"):
        gradient_ascent(tiny_model, make_objective("similarity:CCO"), budget=5, progress=False)


def test_improve_molecules_keeps_rows_and_respects_similarity(tiny_model, sample_smiles):
    from molvae.search.constrained import ConstrainedConfig, improve_molecules

    starts = sample_smiles[:6] + ["not a smiles"]
    cfg = ConstrainedConfig(min_similarity=0.3, gradient_steps=10, gradient_points=5, n_neighbours=10)
    table = improve_molecules(tiny_model, starts, make_objective("logp"), cfg, progress=False)
    assert table["start"].tolist() == starts  # one row per input, in order
    assert table["reason"].iloc[-1] == "unparseable" and not table["success"].iloc[-1]
    ok = table[table["success"]]
    assert (ok["similarity"] >= 0.3).all() and (ok["improvement"] > 0).all() and (ok["best"] != ok["start"]).all()
    np.testing.assert_allclose(ok["best_score"] - ok["start_score"], ok["improvement"])
    again = improve_molecules(tiny_model, starts, make_objective("logp"), cfg, progress=False)
    pd.testing.assert_frame_equal(table, again)  # seeded


def test_graph_edit_rounds_only_add_candidates_and_find_better_neighbours(tiny_model, sample_smiles):
    from molvae.search.constrained import ConstrainedConfig, improve_molecules

    starts = sample_smiles[:5]
    base = dict(min_similarity=0.4, gradient_steps=10, gradient_points=5, n_neighbours=10, n_sampled=10)
    runs = [
        improve_molecules(
            tiny_model, starts, make_objective("logp"), ConstrainedConfig(**base, edit_rounds=r), progress=False
        )
        for r in (0, 2)
    ]
    assert (runs[1]["candidates"] > runs[0]["candidates"]).all()
    assert (runs[1]["improvement"] >= runs[0]["improvement"]).all()  # the decoded candidates are the same
    assert runs[1]["improvement"].sum() > runs[0]["improvement"].sum() and runs[1]["success"].all()
    ok = runs[1]
    sims = [
        tanimoto_matrix(chem.morgan_fingerprints([b]), chem.morgan_fingerprints([s]))[0, 0]
        for b, s in zip(ok["best"], ok["start"])
    ]
    np.testing.assert_allclose(sims, ok["similarity"], rtol=1e-5)
    assert (ok["similarity"] >= 0.4).all()


def test_optimize_cli_with_a_user_oracle_package(tiny_model_path, tmp_path, monkeypatch, capsys):
    from molvae.cli.main import main

    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "oracle.py").write_text(
        "import math\nCALLS = []\n"
        "def score(smiles):\n"
        "    CALLS.append(len(smiles))\n"
        "    return [math.nan if 'N' in s else float(len(s)) for s in smiles]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "opt.csv"
    flags = "--method bo --objective mypkg.oracle:score --budget 25 --n-init 10 --batch-size 5 --pool-size 64 -q"
    image = ["--image", str(tmp_path / "top.png")]
    assert main(["optimize", *flags.split(), "--model", str(tiny_model_path), "-o", str(out), *image]) == 0
    import mypkg.oracle

    assert len(mypkg.oracle.CALLS) >= 2 and max(mypkg.oracle.CALLS) > 1  # called in batches
    table = pd.read_csv(out)
    assert len(table) == sum(mypkg.oracle.CALLS) <= 25  # every evaluated molecule, each paid once
    assert np.isnan(table.loc[table["smiles"].str.contains("N"), "score"]).all()
    assert (tmp_path / "opt.trace.csv").exists() and (tmp_path / "opt.trace.png").stat().st_size > 1000
    assert (tmp_path / "top.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "oracle calls" in printed and "top 10" in printed


def test_optimize_cli_improve_and_list(tiny_model_path, sample_smiles, tmp_path, capsys):
    from molvae.cli.main import main

    assert main(["optimize", "--list-objectives"]) == 0
    assert "penalized_logp" in capsys.readouterr().out
    init = tmp_path / "leads.csv"
    pd.DataFrame({"smiles": sample_smiles[:5]}).to_csv(init, index=False)
    out = tmp_path / "improved.csv"
    flags = "--method improve --objective logp --min-similarity 0.3 -q"
    assert main(["optimize", *flags.split(), "--model", str(tiny_model_path), "--init", str(init), "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == 5 and "improved" in capsys.readouterr().out
    assert main(["optimize", "--model", str(tiny_model_path), "--method", "improve"]) == 2  # needs --init

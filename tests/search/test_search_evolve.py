"""molvae.search.evolve: latent-space evolution screened by a Tanimoto GP (the default optimizer)."""

import numpy as np
import pytest

from molvae import MolVAE, chem
from molvae.errors import ConfigError, InputError
from molvae.search.evolve import MOVES, EvolveConfig, evolve, start_source
from molvae.search.objectives import callable_objective, make_objective
from molvae.search.optimization import OptimizeConfig, run_optimization

SMALL = dict(
    budget=60, n_init=20, batch_size=10, pool_size=80, branch_fraction=0.2, graft_fraction=0.2, graph_fraction=0.3
)


@pytest.fixture(scope="module")
def model():
    return MolVAE.load()  # the bundled model: evolution needs a decoder that writes sane molecules


def test_evolution_improves_proposes_only_sane_new_molecules_and_never_pays_twice(model):
    result = evolve(model, make_objective("mw"), EvolveConfig(**SMALL, start="prior"), progress=False)
    ev = result.evaluated
    assert len(ev) == 60 and ev["smiles"].is_unique
    assert len({chem.tautomer_key(s) for s in ev["smiles"]}) == 60  # no tautomer or charge state twice
    assert result.extra["skipped_forms"] >= 0
    assert ev.loc[ev["step"] == 0, "source"].eq("prior").all() and len(ev[ev["step"] == 0]) == 20
    proposed = ev[ev["step"] > 0]
    assert proposed["source"].isin(MOVES).all()
    profile = chem.chemistry_profile(ev["smiles"].tolist())  # the prior start too: sane and familiar
    assert profile["sane"].all() and profile["familiar"].all()
    assert proposed["score"].max() > ev.loc[ev["step"] == 0, "score"].max()  # it found heavier molecules
    assert (np.diff(result.trace["best_score"]) >= 0).all() and result.extra["generations"] >= 4


def test_each_kind_of_move_can_run_alone(model, sample_smiles):
    shares = {
        "crossover": "crossover_fraction",
        "branch": "branch_fraction",
        "graft": "graft_fraction",
        "graph": "graph_fraction",
    }
    for move in MOVES:
        only = {name: float(m == move) for m, name in shares.items()}
        result = evolve(
            model,
            make_objective("qed"),
            EvolveConfig(**{**SMALL, **only, "budget": 40}),
            init_smiles=sample_smiles[:20],
            progress=False,
        )
        proposed = result.evaluated[result.evaluated["step"] > 0]
        assert len(proposed) > 0 and proposed["source"].eq(move).all(), move


def test_evolution_starts_from_a_library_and_is_seeded(model, sample_smiles):
    config = EvolveConfig(**{**SMALL, "budget": 45})
    a = evolve(model, make_objective("qed"), config, init_smiles=sample_smiles[:30], progress=False)
    b = evolve(model, make_objective("qed"), config, init_smiles=sample_smiles[:30], progress=False)
    assert a.evaluated["smiles"].tolist() == b.evaluated["smiles"].tolist()
    first = a.evaluated[a.evaluated["step"] == 0]
    assert len(first) == 30 and first["source"].eq("init").all()
    with pytest.raises(InputError, match="fewer than 2"):
        evolve(model, make_objective("qed"), config, init_smiles=["CCO", "not a molecule"], progress=False)


def test_without_a_library_the_sampler_of_the_same_data_starts_the_run(model, tiny_model, tmp_path, monkeypatch):
    sampler = start_source(model)  # auto: the bundled sampler, trained on the bundled model's data
    assert sampler is not None and sampler.metadata["data_sha256"] == model.metadata["data_sha256"]
    assert start_source(model, "prior") is None
    assert start_source(tiny_model) is None  # trained on other data: its own prior
    config = EvolveConfig(**{**SMALL, "budget": 30})
    auto = evolve(model, make_objective("qed"), config, progress=False)
    named = evolve(
        model,
        make_objective("qed"),
        EvolveConfig(**{**vars(config), "start": "zinc250k_selfies_sampler"}),
        progress=False,
    )
    first = auto.evaluated[auto.evaluated["step"] == 0]
    assert len(first) == 20 and first["source"].eq("sampler").all()
    profile = chem.chemistry_profile(first["smiles"].tolist())
    assert profile["sane"].all() and profile["familiar"].all()
    assert auto.evaluated["smiles"].tolist() == named.evaluated["smiles"].tolist()
    prior = evolve(model, make_objective("qed"), EvolveConfig(**{**vars(config), "start": "prior"}), progress=False)
    assert set(first["smiles"]).isdisjoint(prior.evaluated["smiles"][:20])
    (tmp_path / "counting.py").write_text(
        "CALLS = []\ndef score(smiles):\n    CALLS.extend(smiles)\n    return [1.0] * len(smiles)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import counting

    with pytest.raises(InputError, match="start model .* not found"):
        run_optimization(
            model, make_objective("counting:score"), OptimizeConfig(start=str(tmp_path / "no.pt")), progress=False
        )
    with pytest.raises(InputError, match="without initial ones"):
        run_optimization(
            model,
            make_objective("counting:score"),
            OptimizeConfig(start="prior"),
            init_smiles=["CCOc1ccccc1C(=O)NC", "CCN(CC)C(=O)c1ccccc1"],
            progress=False,
        )
    with pytest.raises(ConfigError, match="without an initial library"):
        evolve(
            model,
            make_objective("counting:score"),
            EvolveConfig(**SMALL, start="prior"),
            ["CCOc1ccccc1C(=O)NC", "CCN(CC)C(=O)c1ccccc1"],
            progress=False,
        )
    with pytest.raises(InputError, match="method bo does not use start"):
        OptimizeConfig(method="bo", start="prior")
    assert counting.CALLS == []


def test_graph_edits_in_a_worker_process_change_nothing(model, sample_smiles, monkeypatch):
    monkeypatch.setattr("molvae.search.latent.resolve_workers", lambda workers: 2)  # a worker even on one core
    config = EvolveConfig(**{**SMALL, "budget": 50})
    runs = [
        evolve(
            model,
            make_objective("qed"),
            EvolveConfig(**{**vars(config), "parallel_edits": parallel}),
            init_smiles=sample_smiles[:20],
            progress=False,
        )
        for parallel in (True, False)
    ]
    assert runs[0].evaluated["source"].eq("graph").any()
    assert runs[0].evaluated[["smiles", "source"]].equals(runs[1].evaluated[["smiles", "source"]])


def test_checks_made_ahead_count_only_when_consulted():
    from molvae.search.evolve import _Admission

    pool = [
        "CC(=O)Nc1ccc(O)cc1",
        "CC[CH]CC(=O)Nc1ccc(O)cc1",
        "CCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)Nc1ccc(O)cc1",
        "O=C(CCc1ncc(-c2cccc(Cl)c2)o1)[SH-]NCc1cccnc1",
        "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    ]
    config = EvolveConfig(max_heavy_atoms=30)
    ahead, plain = _Admission(config), _Admission(config)
    ahead.precheck(pool)
    assert not ahead.insane and not ahead.oversized  # checked, not consulted: no consequence yet
    for admission in (ahead, plain):
        assert admission.consult(pool[:4]).tolist() == [True, False, False, False]
    assert ahead.insane == plain.insane == set(pool[1:4])
    assert ahead.oversized == plain.oversized == {pool[2]}
    assert list(ahead.flags) == pool[4:]  # the unconsulted one is remembered for a later generation
    assert plain.consult(pool[4:] * 2).tolist() == [True, True]  # a molecule twice: one answer


def test_a_size_limit_keeps_an_objective_that_rewards_size_within_it(model):
    free = evolve(model, make_objective("mw"), EvolveConfig(**SMALL, max_heavy_atoms=None), progress=False)
    capped = evolve(model, make_objective("mw"), EvolveConfig(**SMALL, max_heavy_atoms=24), progress=False)
    heavy = {
        name: chem.heavy_atom_counts(run.evaluated.loc[run.evaluated["step"] > 0, "smiles"].tolist())
        for name, run in (("free", free), ("capped", capped))
    }
    assert heavy["free"].max() > 24  # without the limit, the mw objective grows molecules past it
    assert 10 <= heavy["capped"].min() and heavy["capped"].max() <= 24
    assert capped.extra["oversized_children"] > 0  # the mw objective's GP wanted larger children
    with pytest.raises(ConfigError, match="max_heavy_atoms"):
        EvolveConfig(max_heavy_atoms=5)
    with pytest.raises(InputError, match="method bo does not use max_heavy_atoms"):
        OptimizeConfig(method="bo", max_heavy_atoms=30)
    assert OptimizeConfig(max_heavy_atoms=30).evolve_config().max_heavy_atoms == 30
    assert OptimizeConfig().evolve_config().max_heavy_atoms == EvolveConfig().max_heavy_atoms == 100
    assert OptimizeConfig(max_heavy_atoms=0).evolve_config().max_heavy_atoms is None  # the CLI's "any size"
    with pytest.raises(ConfigError, match="or 0 \\(any size\\)"):  # one check, one error class, for both
        OptimizeConfig(max_heavy_atoms=-3)
    assert EvolveConfig(max_heavy_atoms=0).max_heavy_atoms is None  # 0 and None: any size, everywhere


@pytest.mark.slow
def test_unfamiliar_molecules_are_scored_only_when_allowed(model, tmp_path, monkeypatch):
    # a reference holding only the environments of a few molecules: almost nothing the run makes is familiar
    narrow = tmp_path / "narrow.npy"
    np.save(narrow, np.array(sorted(chem.environment_counts(["CCCCCCCCCCCC", "c1ccccc1CCCCCC"])), dtype=np.int64))
    with pytest.raises(InputError, match="fewer than 2 sane \\(and familiar, at most 100 heavy atoms\\)"):
        evolve(model, make_objective("qed"), EvolveConfig(**SMALL, environments=str(narrow)), progress=False)
    monkeypatch.setattr(chem, "ZINC_ENVIRONMENTS", narrow)  # the narrow set becomes the default reference
    with pytest.raises(InputError, match="fewer than 2 sane \\(and familiar"):
        evolve(model, make_objective("qed"), EvolveConfig(**SMALL), progress=False)
    free = evolve(model, make_objective("qed"), EvolveConfig(**SMALL, familiar_only=False), progress=False)
    assert len(free.evaluated) == SMALL["budget"]
    assert not chem.familiar_flags(free.evaluated["smiles"].tolist(), chem.reference_environments(narrow)).all()
    with pytest.raises(ConfigError, match="environments"):
        EvolveConfig(familiar_only=False, environments=str(narrow))
    config = OptimizeConfig(familiar_only=False).evolve_config()
    assert not config.familiar_only and OptimizeConfig().evolve_config().familiar_only
    with pytest.raises(InputError, match="method bo does not use familiar_only"):
        OptimizeConfig(method="bo", familiar_only=False)


def test_a_bad_reference_file_fails_before_any_oracle_call(model, tmp_path, monkeypatch):
    (tmp_path / "counting.py").write_text(
        "CALLS = []\ndef score(smiles):\n    CALLS.extend(smiles)\n    return [1.0] * len(smiles)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import counting

    missing = str(tmp_path / "missing.npy")
    with pytest.raises(InputError, match="cannot read atom environments"):
        evolve(
            model,
            make_objective("counting:score"),
            EvolveConfig(**SMALL, environments=missing),
            ["CCOc1ccccc1C(=O)NC", "CCN(CC)C(=O)c1ccccc1"],
            progress=False,
        )
    with pytest.raises(InputError, match="cannot read atom environments"):
        run_optimization(model, make_objective("counting:score"), OptimizeConfig(environments=missing), progress=False)
    assert counting.CALLS == []


def test_a_failing_oracle_costs_calls_but_not_the_run(model, tmp_path, monkeypatch):
    (tmp_path / "flaky.py").write_text(
        "def score(smiles):\n    return [float('nan') if i % 3 == 0 else len(s) for i, s in enumerate(smiles)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = evolve(model, make_objective("flaky:score"), EvolveConfig(**{**SMALL, "budget": 40}), progress=False)
    assert result.failed > 0 and len(result.evaluated) == 40


def test_settings_are_checked_and_evolve_is_the_default_method():
    assert OptimizeConfig().method == "evolve"
    assert OptimizeConfig(batch_size=80).evolve_config().pool_size == EvolveConfig.pool_size
    assert OptimizeConfig(batch_size=80, pool_size=20).evolve_config().pool_size == 80
    with pytest.raises(InputError, match="method evolve does not use acquisition"):
        OptimizeConfig(acquisition="ucb")
    with pytest.raises(ConfigError, match="sum to at most 1"):
        EvolveConfig(crossover_fraction=0.6, branch_fraction=0.6)
    with pytest.raises(ConfigError, match="pool_size"):
        EvolveConfig(batch_size=10, pool_size=5)


def test_start_population_and_generation_size_scale_with_the_budget():
    sizes = {
        budget: (EvolveConfig(budget=budget).n_init, EvolveConfig(budget=budget).batch_size)
        for budget in (10, 300, 1000, 10_000)
    }
    assert sizes == {10: (2, 1), 300: (50, 25), 1000: (100, 50), 10_000: (100, 50)}
    assert EvolveConfig(budget=300, n_init=7, batch_size=3).n_init == 7  # given values are kept
    config = OptimizeConfig(budget=300, pool_size=10).evolve_config()
    assert (config.n_init, config.batch_size, config.pool_size) == (50, 25, 25)  # the pool holds a generation


def test_ctrl_c_keeps_what_was_evaluated(model, tmp_path, monkeypatch):
    (tmp_path / "impatient.py").write_text(
        "CALLS = []\n"
        "def score(smiles):\n"
        "    CALLS.append(len(smiles))\n"
        "    if len(CALLS) == 3:\n"
        "        raise KeyboardInterrupt\n"
        "    return [float(len(s)) for s in smiles]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = evolve(model, make_objective("impatient:score"), EvolveConfig(**SMALL), progress=False)
    assert result.extra["interrupted"] and len(result.evaluated) == 30  # 20 initial + one generation of 10


def test_a_plateau_widens_the_parent_set_when_the_best_children_are_used_up(model, sample_smiles):
    flat = callable_objective(lambda smiles: [1.0] * len(smiles))  # no child ever beats the start
    config = dict(
        budget=80, batch_size=10, pool_size=10, parents=2, branch_fraction=0.2, graft_fraction=0.2, graph_fraction=0.3
    )
    runs = {
        growth: evolve(
            model,
            flat,
            EvolveConfig(**config, max_parent_growth=growth),
            init_smiles=sample_smiles[:20],
            progress=False,
        )
        for growth in (1, 8)
    }
    assert runs[1].extra["widened_generations"] > 0 and runs[1].extra["widest_parents"] == 2  # 1: never wider
    wide = runs[8].extra
    assert wide["widened_generations"] > 0 and 2 < wide["widest_parents"] <= 16
    # wider parents leave more new molecules in each pool: the budget is spent in fewer generations
    assert len(runs[8].evaluated) == 80 and wide["generations"] < runs[1].extra["generations"]

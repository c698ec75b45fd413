"""molvae.search.optimization: one entry point for evolve / bo / gradient / improve, and the files a run writes."""

import pandas as pd
import pytest

from molvae.cli.main import main
from molvae.errors import InputError
from molvae.search.bo import BOConfig
from molvae.search.objectives import make_objective
from molvae.search.optimization import METHOD_SETTINGS, OptimizeConfig, run_optimization, write_optimization

BO_ONLY_FLAGS = [
    ("--batch-size", "5"),
    ("--acquisition", "ucb"),
    ("--proposals", "continuous"),
    ("--pool-size", "64"),
    ("--trust-region",),
    ("--n-init", "10"),
]


@pytest.mark.parametrize(
    "method, setting, value",
    [
        ("gradient", "batch_size", 5),
        ("gradient", "trust_region", False),
        ("gradient", "min_similarity", 0.3),
        ("improve", "budget", 10),
        ("improve", "library", "lib.parquet"),
        ("improve", "n_init", 10),
        ("bo", "min_similarity", 0.3),
    ],
)
def test_a_setting_the_method_does_not_use_is_an_error(method, setting, value):
    with pytest.raises(InputError, match=f"method {method} does not use {setting}"):
        OptimizeConfig(method=method, **{setting: value})


def test_each_method_takes_the_settings_it_uses():
    values = {
        "budget": 20,
        "library": "lib.parquet",
        "n_init": 5,
        "batch_size": 4,
        "acquisition": "ucb",
        "proposals": "continuous",
        "pool_size": 32,
        "trust_region": True,
        "min_similarity": 0.5,
        "max_heavy_atoms": 30,
        "familiar_only": True,
        "environments": "zinc.npy",
        "start": "prior",
    }
    for method, used in METHOD_SETTINGS.items():
        OptimizeConfig(method=method, **{name: values[name] for name in used})


def test_bo_settings_left_unset_take_the_bo_defaults():
    assert OptimizeConfig().bo_config() == BOConfig()
    config = OptimizeConfig(method="bo", budget=20, batch_size=30, pool_size=16, trust_region=True, seed=4).bo_config()
    assert (config.budget, config.batch_size, config.pool_size, config.trust_region, config.seed) == (
        20,
        30,
        30,
        True,
        4,
    )
    assert OptimizeConfig(method="improve").improve_config(gradient=False).gradient_points == 0
    assert OptimizeConfig(method="improve", min_similarity=0.6).improve_config(gradient=True).min_similarity == 0.6
    with pytest.raises(InputError, match="budget"):
        OptimizeConfig(budget=0)
    with pytest.raises(Exception, match="method must be one of"):
        OptimizeConfig(method="anneal")
    with pytest.raises(Exception, match="acquisition"):  # checked at once, before any model is loaded
        OptimizeConfig(acquisition="pi")
    with pytest.raises(Exception, match="min_similarity"):
        OptimizeConfig(method="improve", min_similarity=1.5)


@pytest.mark.parametrize("flags", BO_ONLY_FLAGS)
def test_cli_refuses_bo_flags_with_gradient(flags, capsys):
    assert main(["optimize", "--method", "gradient", *flags]) == 2  # before any model is loaded
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "method gradient does not use" in err


@pytest.mark.parametrize("flags", [("--budget", "20"), ("--library", "lib.parquet"), *BO_ONLY_FLAGS])
def test_cli_refuses_unused_flags_with_improve(flags, capsys):
    assert main(["optimize", "--method", "improve", "--init", "leads.csv", *flags]) == 2
    assert "method improve does not use" in capsys.readouterr().err


def test_cli_refuses_min_similarity_with_bo(capsys):
    assert main(["optimize", "--method", "bo", "--min-similarity", "0.5"]) == 2
    assert "method bo does not use min_similarity" in capsys.readouterr().err
    assert main(["optimize", "--trust-region"]) == 2  # the default method, evolve, has no trust region
    assert "method evolve does not use trust_region" in capsys.readouterr().err


def test_run_and_write_a_gradient_optimization(tiny_model, tmp_path):
    config = OptimizeConfig(method="gradient", budget=8, top=3)
    run = run_optimization(tiny_model, make_objective("logp"), config, progress=False)
    assert run.settings is None and run.improved is None and 0 < len(run.result.evaluated) <= 8
    top = run.top()
    assert len(top) <= 3 and list(top["score"]) == sorted(top["score"], reverse=True)
    written = write_optimization(run, tmp_path / "opt.csv", tmp_path / "top.svg")
    assert [p.name for p in written] == ["opt.csv", "opt.trace.csv", "opt.trace.png", "top.svg"]
    table = pd.read_csv(tmp_path / "opt.csv")
    assert len(table) == len(run.result.evaluated) and (table["objective"] == "logp").all()


def test_improve_needs_molecules(tiny_model):
    with pytest.raises(InputError, match="needs initial molecules"):
        run_optimization(tiny_model, make_objective("logp"), OptimizeConfig(method="improve"), progress=False)


@pytest.mark.parametrize("flags", [("--allow-unfamiliar",), ("--environments", "own.npy")])
def test_cli_refuses_familiar_flags_with_bo(flags, capsys):
    assert main(["optimize", "--method", "bo", *flags]) == 2  # the familiar check is evolve's
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "method bo does not use" in err


def test_cli_refuses_environments_with_allow_unfamiliar(capsys):
    assert main(["optimize", "--allow-unfamiliar", "--environments", "own.npy"]) == 2
    assert "environments" in capsys.readouterr().err

"""The public API returns what the CLI writes: for each verb, the same columns (and the same rows
where the verb is deterministic) as its output file for the same call."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import molvae
from molvae.cli.main import main
from molvae.search import OptimizeConfig


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return molvae.load(str(tiny_model_path))


def cli_frame(tmp_path, name, argv):
    out = tmp_path / f"{name}.csv"
    assert main([*argv, "-o", str(out)]) == 0
    return pd.read_csv(out, keep_default_na=False, na_values=[""])


def same(frame, written):
    assert frame.columns.tolist() == written.columns.tolist()
    assert len(frame) == len(written)


def text(value):
    """A cell as the file holds it: missing (None, NaN, "") as None, anything else as its text."""
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def same_values(frame, written):
    """The same columns and the same values, column by column (numbers to float32 precision: the
    latents are float32 in memory and written in full)."""
    same(frame, written)
    for column in frame.columns:
        mine, theirs = frame[column], written[column]
        if pd.api.types.is_numeric_dtype(mine) and not pd.api.types.is_bool_dtype(mine):
            np.testing.assert_allclose(
                mine.to_numpy(dtype=float),
                theirs.to_numpy(dtype=float),
                rtol=1e-6,
                atol=1e-7,
                equal_nan=True,
                err_msg=column,
            )
        else:
            assert [text(v) for v in mine] == [text(v) for v in theirs], column


def test_load_takes_bundled_names_and_paths(tiny_model_path):
    assert molvae.load("zinc250k_selfies").latent_dim > 0
    assert molvae.MolVAE.load("zinc250k_selfies").latent_dim > 0
    assert molvae.load(tiny_model_path).latent_dim == molvae.load(str(tiny_model_path)).latent_dim
    with pytest.raises(molvae.MolvaeError):
        molvae.load("no_such_model")
    assert {
        "load",
        "sample",
        "encode",
        "decode",
        "reconstruct",
        "interpolate",
        "explore",
        "optimize",
        "neighbors",
        "evaluate",
        "score",
    } <= set(molvae.__all__)


def test_sample_decode_reconstruct_encode_match_the_cli(model, tiny_model_path, tiny_csv, tmp_path):
    """The deterministic verbs: the same rows, value for value."""
    m = ["--model", str(tiny_model_path)]
    frame = molvae.sample(model, 12, seed=3, latents=True)
    written = cli_frame(tmp_path, "s", ["sample", "-n", "12", "--seed", "3", "--latents", *m])
    same_values(frame, written)
    assert frame["valid"].any()  # something to compare
    with pytest.raises(AssertionError):  # and the comparison can fail: another seed, other molecules
        same_values(molvae.sample(model, 12, seed=4, latents=True), written)

    z = frame[[f"z{i}" for i in range(model.latent_dim)]].to_numpy()
    np.save(tmp_path / "z.npy", z)
    same_values(molvae.decode(model, z), cli_frame(tmp_path, "d", ["decode", str(tmp_path / "z.npy"), *m]))

    rec = molvae.reconstruct(model, str(tiny_csv))
    same_values(rec, cli_frame(tmp_path, "r", ["reconstruct", str(tiny_csv), *m]))

    enc = molvae.encode(model, str(tiny_csv))
    written = cli_frame(tmp_path, "e", ["encode", str(tiny_csv), *m])
    same_values(enc, written)
    # SMILES in memory: the same rows, without an id column
    assert molvae.encode(model, ["CCO", "not a smiles"])["valid"].tolist() == [True, False]


def test_search_and_scoring_match_the_cli(model, tiny_model_path, tiny_csv, sample_smiles, tmp_path):
    m = ["--model", str(tiny_model_path)]
    a, b = sample_smiles[0], sample_smiles[1]
    same_values(
        molvae.interpolate(model, a, b, steps=4), cli_frame(tmp_path, "i", ["interpolate", a, b, "--steps", "4", *m])
    )
    same_values(
        molvae.explore(model, a, n=20, seed=1), cli_frame(tmp_path, "x", ["explore", a, "-n", "20", "--seed", "1", *m])
    )
    scored = molvae.score(model, str(tiny_csv), n_samples=2)
    same_values(scored, cli_frame(tmp_path, "sc", ["score", str(tiny_csv), "--samples", "2", *m]))

    library = tmp_path / "lib.parquet"
    assert main(["encode", str(tiny_csv), "-o", str(library), *m]) == 0
    hits = molvae.neighbors(model, library, a, k=3)
    same_values(hits, cli_frame(tmp_path, "n", ["neighbors", "--library", str(library), "--query", a, "-k", "3", *m]))

    config = OptimizeConfig(method="bo", budget=12, n_init=8, seed=0)
    run = molvae.optimize(model, "qed", config)
    written = cli_frame(
        tmp_path, "o", ["optimize", "--method", "bo", "--objective", "qed", "--budget", "12", "--n-init", "8", *m]
    )
    same(run.to_frame(), written)
    # a Python callable as the oracle
    calls = []
    run = molvae.optimize(model, lambda smiles: calls.append(len(smiles)) or [len(s) for s in smiles], config)
    assert sum(calls) == len(run.to_frame()) and run.to_frame()["score"].max() > 0

    metrics = molvae.evaluate(model, str(tiny_csv), n_samples=20)
    out = tmp_path / "m.json"
    assert main(["evaluate", "--test", str(tiny_csv), "-n", "20", "-o", str(out), *m]) == 0
    assert set(metrics) == set(json.loads(out.read_text()))


def test_show_and_summary(model, tmp_path):
    frame = molvae.sample(model, 8, seed=0)
    with pytest.warns(
        UserWarning,
        match=r"outside one nothing is displayed: save the grid with "
        r"molvae.show\(frame, path='molecules.png'\)",
    ):
        grid = molvae.show(frame, n=4)  # a script, not a notebook: say how to save
    valid = [s for s in frame["smiles"] if isinstance(s, str)][:4]
    assert grid.smiles == valid
    svg = grid._repr_svg_()
    assert svg.startswith("<?xml") and svg.count("<svg") == 1 + len(valid)
    with pytest.raises(molvae.InputError, match="no column"):
        molvae.show(frame, legend=["colour"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # given a path, it saves there and has nothing to warn about
        molvae.show(frame, n=4, path=tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes().startswith(b"\x89PNG")
    text = repr(model)
    assert text.startswith("MolVAE (selfies") and "latent" in text and "checkpoint format" in text


def test_encode_file_writes_the_columns_of_encode(model, tiny_csv, tmp_path):
    out = tmp_path / "lib.csv"
    summary = molvae.encode_file(model, tiny_csv, out)
    written = pd.read_csv(out)
    assert summary.n_rows == len(written)
    assert written.columns.tolist() == molvae.encode(model, str(tiny_csv)).columns.tolist()
    with pytest.raises(molvae.InputError, match="engine"):
        molvae.encode_file(model, tiny_csv, tmp_path / "x.csv", engine="spark")


@pytest.mark.parametrize(
    "kwargs", [{"temperature": 0.0, "index_temperature": 0.3}, {"temperature": 0.8, "index_temperature": -1.0}]
)
def test_sample_rejects_an_index_temperature_it_cannot_use(model, kwargs):
    with pytest.raises(molvae.InputError, match="index temperature"):
        molvae.sample(model, 4, **kwargs)


def test_decode_samples_sizes_at_the_packaged_index_temperature(model, monkeypatch):
    z = model.sample_prior(16, seed=0)
    monkeypatch.setattr(
        model, "metadata", {**model.metadata, "sampling": {"temperature": 1.0, "index_temperature": 0.0}}
    )
    packaged = molvae.decode(model, z, temperature=1.5, seed=2)["decoded_string"].tolist()
    assert (
        packaged == molvae.decode(model, z, temperature=1.5, seed=2, index_temperature=0.0)["decoded_string"].tolist()
    )
    assert (
        packaged != molvae.decode(model, z, temperature=1.5, seed=2, index_temperature=1.5)["decoded_string"].tolist()
    )
    with pytest.raises(molvae.InputError, match="index temperature"):
        molvae.decode(model, z, index_temperature=0.3)


def test_sample_summary_is_what_the_cli_prints(model, tiny_model_path, tmp_path, capsys):
    """molvae sample samples once and prints molvae.summarize_samples of what it wrote."""
    frame = molvae.sample(model, 16, seed=2)
    summary = molvae.summarize_samples(frame)
    assert summary["n"] == 16 and summary["validity"] == pytest.approx(frame["valid"].mean())
    assert set(summary) >= {"uniqueness", "repaired", "ring_masked"}
    out = tmp_path / "s.csv"
    assert main(["sample", "-n", "16", "--seed", "2", "-o", str(out), "--model", str(tiny_model_path), "-q"]) == 0
    assert f"validity {summary['validity']:.4f}, uniqueness {summary['uniqueness']:.4f}" in capsys.readouterr().out


def test_conditional_samples_carry_their_average_condition_control(tmp_path, capsys):
    cvae = molvae.load("zinc250k_selfies_cvae")
    frame = molvae.sample(cvae, 8, seed=0, condition={"logp": 4.0}, compare_average=True)
    written = cli_frame(
        tmp_path, "c", ["sample", "--model", "zinc250k_selfies_cvae", "-n", "8", "--condition", "logp=4", "-q"]
    )
    same_values(frame, written)  # one sampling: the conditioned molecules and the same draws at the average
    summary = molvae.summarize_samples(frame, {"logp": 4.0})["conditions"]["logp"]
    printed = capsys.readouterr().out
    assert (
        f"logp: requested 4, samples {summary['mean']:.3f} ± {summary['std']:.3f} (mean absolute error "
        f"{summary['mae']:.3f}); same draws at the average condition: {summary['average_mean']:.3f}"
    ) in printed
    with pytest.raises(molvae.InputError, match="give a condition"):
        molvae.sample(cvae, 4, compare_average=True)


def test_list_models_names_each_bundled_model():
    from molvae.pretrained import bundled_models

    frame = molvae.list_models()
    assert frame["name"].tolist() == list(bundled_models())
    assert (frame["size_mb"] > 1).all() and (frame["parameters"] > 100_000).all() and frame["description"].all()

"""End-to-end runs of every verb through ``main([...])`` on the tiny session model."""

import argparse

import numpy as np
import pandas as pd
import pytest
import torch

from molvae.cli.common import keywords_from_args
from molvae.cli.main import main
from molvae.config import RunConfig

TINY_TOML = (
    "[model]\nembedding_dim = 16\nencoder_hidden_dim = 32\nlatent_dim = 8\ndecoder_hidden_dim = 64\n"
    "[train]\nbatch_size = 32\nrecon_eval_size = 10\nseed = 5\n"
)


def test_help_lists_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in ("train", "encode", "decode", "reconstruct", "sample"):
        assert verb in out
    for verb in ("train", "encode", "decode", "reconstruct", "sample"):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        assert "--seed" in capsys.readouterr().out


def test_list_properties(capsys):
    assert main(["train", "--list-properties"]) == 0
    out = capsys.readouterr().out
    assert "qed" in out and "tpsa" in out


def test_keywords_from_args_takes_the_keyword_only_parameters_named_like_flags():
    def call(model, table, *, seed=0, resume=False, progress=False, n_samples=1):
        pass

    args = argparse.Namespace(model="a.pt", table="t.csv", seed=3, resume=True, quiet=True, samples=4)
    # positional parameters and flags named like none of the keywords are left alone; given wins
    assert keywords_from_args(call, args, progress=True, resume=False) == {"seed": 3, "resume": False, "progress": True}


@pytest.fixture()
def dirty_csv(tmp_path, sample_smiles):
    smiles = sample_smiles[:20] + ["nan", "NA", "", "C1CC", "CC(C)(C)(C)(C)C", "[Cs+].[Cl-]"]
    path = tmp_path / "dirty.csv"
    pd.DataFrame({"id": [f"m{i}" for i in range(len(smiles))], "smiles": smiles}).to_csv(path, index=False)
    return path, len(smiles)


def test_encode_accounts_for_every_kind_of_dirt(tmp_path, tiny_model_path, sample_smiles, capsys):
    dirt = {
        "nan": "unparseable",
        "NA": "unparseable",
        "None": "unparseable",
        "": "empty",
        "C1CC": "unparseable",
        "CC(C)(C)(C)(C)C": "unparseable",
        "[U]": "unknown_token",
        "C" * 400: "too_long",
        "CCO.[Na+]": None,
    }  # a salt is counted (encoded whole, or stripped with --keep-largest-fragment)
    smiles = sample_smiles[:10] + list(dirt)
    path = tmp_path / "dirty.csv"
    pd.DataFrame({"id": [f"m{i}" for i in range(len(smiles))], "smiles": smiles}).to_csv(path, index=False)
    with open(path, "ab") as f:
        f.write(b"broken,C\xffC\n")  # bytes that are not UTF-8
    n = len(smiles) + 1
    for extra in ([], ["--keep-largest-fragment"]):
        out = tmp_path / "out.csv"
        assert main(["encode", str(path), "-o", str(out), "--model", str(tiny_model_path), "-q", *extra]) == 0
        enc = pd.read_csv(out, keep_default_na=False)
        assert len(enc) == n and enc["id"].tolist() == [f"m{i}" for i in range(len(smiles))] + ["broken"]
        valid = enc["valid"].astype(str) == "True"
        assert (valid | (enc["reason"] != "")).all()  # every row: encoded, or rejected with a reason
        for s, reason in dirt.items():
            if reason:
                assert enc.loc[enc["input_smiles"] == s, "reason"].iloc[0].split(":")[0] == reason, s
        assert enc["reason"].iloc[-1] == "unparseable"
        printed = capsys.readouterr().out
        assert f"encoded {valid.sum()} of {n} molecules ({n - valid.sum()} invalid: " in printed
    assert valid.iloc[len(sample_smiles[:10]) + list(dirt).index("CCO.[Na+]")]  # stripped to CCO


def test_encode_decode_reconstruct_sample(tmp_path, tiny_model_path, dirty_csv, tiny_csv, capsys):
    path, n = dirty_csv
    model = ["--model", str(tiny_model_path), "-q"]
    enc_out = tmp_path / "enc.csv"
    assert main(["encode", str(path), "-o", str(enc_out), "--logvar", *model]) == 0
    enc = pd.read_csv(enc_out, keep_default_na=False)
    assert len(enc) == n
    assert enc["id"].tolist() == [f"m{i}" for i in range(n)]
    assert enc["valid"].astype(str).tolist()[:20] == ["True"] * 20
    assert set(enc["valid"].astype(str)[20:24]) == {"False"}
    assert {"z0", "logvar0", "pred_logp", "pred_qed", "reason", "smiles"} <= set(enc.columns)
    assert f"encoded {enc['valid'].astype(str).eq('True').sum()} of {n} molecules" in capsys.readouterr().out

    dec_out = tmp_path / "dec.csv"
    assert main(["decode", str(enc_out), "-o", str(dec_out), *model]) == 0
    dec = pd.read_csv(dec_out, keep_default_na=False)
    assert len(dec) == n
    assert (dec["reason"][20:24] == "non_finite_latent").all()

    npy = tmp_path / "enc.npy"
    assert main(["encode", str(path), "-o", str(npy), *model]) == 0
    z = np.load(npy)
    assert z.shape[0] == n and np.isnan(z[20:24]).all()
    assert (tmp_path / "enc.rejects.csv").exists()

    rec_out = tmp_path / "rec.parquet"
    capsys.readouterr()
    assert main(["reconstruct", str(path), "-o", str(rec_out), *model]) == 0
    assert "reconstruction accuracy:" in capsys.readouterr().out
    rec = pd.read_parquet(rec_out)
    assert len(rec) == n and {"reconstructed", "match", "valid", "reason"} <= set(rec.columns)

    sam_out = tmp_path / "sam.csv"
    assert main(["sample", "-n", "30", "-o", str(sam_out), "--train", str(tiny_csv), "--latents", *model]) == 0
    out = capsys.readouterr().out
    assert "validity" in out and "novelty" in out
    sam = pd.read_csv(sam_out)
    assert len(sam) == 30 and "z0" in sam.columns
    # the same seed gives the same samples
    again = tmp_path / "sam2.csv"
    assert main(["sample", "-n", "30", "-o", str(again), *model]) == 0
    assert pd.read_csv(again)["smiles"].equals(sam["smiles"])


def test_train_cli_writes_run_and_resumes(tmp_path, tiny_csv, capsys):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TOML)
    out = tmp_path / "run"
    args = ["train", str(tiny_csv), "-o", str(out), "--config", str(cfg), "--properties", "logp", "qed", "sa", "-q"]
    assert main([*args, "--epochs", "1"]) == 0
    for name in ("best.pt", "last.pt", "metrics.csv", "config.toml"):
        assert (out / name).exists()
    assert RunConfig.from_toml(out / "config.toml").train.seed == 5  # no --seed: the config file's seed
    assert torch.load(out / "last.pt", weights_only=True)["training"]["epoch"] == 1
    assert main([*args, "--epochs", "1"]) == 2  # refuses to overwrite a run
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [1, 2]


def test_train_seed_flag_overrides_the_config_file_even_when_zero(tmp_path, tiny_csv):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TOML)
    out = tmp_path / "run"
    assert (
        main(["train", str(tiny_csv), "-o", str(out), "--config", str(cfg), "--epochs", "1", "--seed", "0", "-q"]) == 0
    )
    assert RunConfig.from_toml(out / "config.toml").train.seed == 0
    assert torch.load(out / "last.pt", weights_only=True)["metadata"]["seed"] == 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["encode", "missing.csv", "-o", "x.csv"], "input file not found"),
        (["encode", "{csv}", "-o", "x.csv", "--smiles-column", "structure"], "available columns: id, smiles"),
        (["encode", "{csv}", "-o", "x.xlsx"], "unsupported output format"),
        (["sample", "-o", "x.csv", "--model", "nope.pt"], "model file not found"),
        (["train", "{csv}", "-o", "{tmp}/r", "--properties", "toxicity"], "unknown property"),
        (["train", "{csv}", "-o", "{tmp}/r", "--dropout", "0.1"], "--dropout sets the dropout of a model warm-started"),
    ],
)
def test_user_errors_are_one_line(argv, message, tmp_path, tiny_csv, tiny_model_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(csv=tiny_csv, tmp=tmp_path) for a in argv]
    if argv[0] in ("encode",) and "--model" not in argv:
        argv += ["--model", str(tiny_model_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def _printed_metrics(text: str) -> dict[str, str]:
    """``key  value`` lines printed by molvae evaluate -> {key: value}."""
    return dict(line.split(None, 1) for line in text.splitlines() if line.strip())


def test_evaluate_generated_and_model(tmp_path, tiny_model_path, overfit_run, tiny_csv, sample_smiles, capsys):
    gen = tmp_path / "gen.smi"
    gen.write_text("\n".join(sample_smiles[:20] + ["C1CC"]) + "\n")
    ref = tmp_path / "ref.csv"
    pd.DataFrame({"smiles": sample_smiles[20:60]}).to_csv(ref, index=False)
    out = tmp_path / "m.json"
    assert main(["evaluate", str(gen), "--reference", str(ref), "--train", str(tiny_csv), "-o", str(out), "-q"]) == 0
    import json

    report = json.loads(out.read_text())
    printed = _printed_metrics(capsys.readouterr().out)
    assert report["validity"] == pytest.approx(20 / 21)
    assert report["novelty"] == 0.0  # every valid one is in the training file
    for key in ("fcd", "snn", "frag", "scaf", "intdiv1", "intdiv2", "wasserstein_mw", "unique@10k"):
        assert np.isfinite(report[key]), key
        assert float(printed[key]) == pytest.approx(report[key], abs=1e-4), key  # printed and written agree
    test = tmp_path / "test.csv"
    pd.DataFrame({"smiles": sample_smiles[:15] + ["nan"], "LogP": [1.0] * 16}).to_csv(test, index=False)
    out2 = tmp_path / "model.json"
    assert (
        main(["evaluate", "--model", str(tiny_model_path), "--test", str(test), "-n", "20", "-o", str(out2), "-q"]) == 0
    )
    report = json.loads(out2.read_text())
    assert report["n_test"] == 16 and report["n_test_encodable"] == 15
    assert {"mae_logp", "r2_logp", "mae_qed", "validity", "fcd"} <= set(report)
    assert report["mae_logp"] > 0
    # a model that reconstructs these 15 molecules exactly: 15 of 16, the unreadable row counting as a miss
    result, _ = overfit_run
    assert (
        main(["evaluate", "--model", str(result.last_path), "--test", str(test), "-n", "20", "-o", str(out2), "-q"])
        == 0
    )
    report = json.loads(out2.read_text())
    assert report["reconstruction"] == pytest.approx(15 / 16)
    assert report["reconstruction_encodable"] == 1.0


def test_evaluate_runs_fcd_on_the_requested_device(tmp_path, tiny_model, sample_smiles, monkeypatch):
    import fcd_torch

    seen = []

    class RecordingFCD:
        def __init__(self, device, n_jobs=1):
            seen.append(device)

        def __call__(self, generated, reference):
            return 1.0

    monkeypatch.setattr(fcd_torch, "FCD", RecordingFCD)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # so "cuda:1" resolves on a CPU-only machine
    monkeypatch.setattr("molvae.cli.evaluate.load_model", lambda args: tiny_model)  # the model itself stays on CPU
    smiles = tmp_path / "mols.csv"
    pd.DataFrame({"smiles": sample_smiles[:12]}).to_csv(smiles, index=False)
    assert main(["evaluate", str(smiles), "--reference", str(smiles), "--device", "cuda:1", "-q"]) == 0
    assert seen == ["cuda:1"]
    assert main(["evaluate", "--test", str(smiles), "-n", "10", "--device", "cuda:1", "-q"]) == 0
    assert seen == ["cuda:1", "cuda:1"]

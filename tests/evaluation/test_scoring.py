import copy

import numpy as np
import pandas as pd
import pytest
import torch

from molvae import MolVAE
from molvae.cli.main import main
from molvae.errors import InputError
from molvae.evaluation.evaluate import latent_diagnostics
from molvae.evaluation.scoring import auroc, fit_outlier_reference, score_molecules, store_reference


def test_elbo_is_finite_and_more_samples_tighten_the_bound(tiny_model, sample_smiles):
    smiles = sample_smiles[:20] + ["not a smiles"]
    one = score_molecules(tiny_model, smiles, n_samples=1, seed=0)
    assert len(one) == 21 and pd.isna(one["smiles"].iloc[-1]) and one["reason"].iloc[-1] == "unparseable"
    ok = one["valid"]
    assert np.isfinite(one.loc[ok, ["recon_nll", "kl", "neg_elbo"]]).all().all()
    assert (one.loc[ok, "kl"] >= 0).all() and np.isnan(one["neg_elbo"].iloc[-1])
    np.testing.assert_allclose(one.loc[ok, "neg_elbo"], one.loc[ok, "recon_nll"] + one.loc[ok, "kl"], rtol=1e-5)
    few = score_molecules(tiny_model, smiles, n_samples=2, seed=1)
    many = score_molecules(tiny_model, smiles, n_samples=32, seed=1)
    # importance weighting: -log p(x) estimates sit below the negative ELBO, and lower with more samples
    assert many.loc[ok, "neg_log_likelihood"].mean() < many.loc[ok, "neg_elbo"].mean()
    assert (many.loc[ok, "neg_log_likelihood"] <= many.loc[ok, "neg_elbo"]).mean() >= 0.9
    assert many.loc[ok, "neg_log_likelihood"].mean() < few.loc[ok, "neg_log_likelihood"].mean()
    again = score_molecules(tiny_model, smiles, n_samples=2, seed=1)
    pd.testing.assert_frame_equal(few, again)  # seeded
    with pytest.raises(InputError):
        score_molecules(tiny_model, smiles, n_samples=0)


def test_outlier_reference_round_trip_and_flags(tiny_model, sample_smiles, tmp_path):
    model = copy.deepcopy(tiny_model)
    ref = fit_outlier_reference(model, sample_smiles * 3, sample_smiles[:10], quantile=0.9)
    assert ref.mean.shape == (model.latent_dim,) and np.isfinite(ref.threshold)
    store_reference(model, ref)
    path = tmp_path / "m.pt"
    model.save(path)
    assert torch.load(path, weights_only=True)["extras"]["outlier_reference"]["threshold"] == pytest.approx(
        ref.threshold
    )
    loaded = MolVAE.load(path)
    table = score_molecules(loaded, sample_smiles[:5] + ["C" * 300, ""], seed=0)
    assert {"mahalanobis", "outlier"} <= set(table.columns)
    assert table["outlier"].iloc[-2:].all()  # unreadable molecules are outliers
    assert (table.loc[table["valid"], "mahalanobis"] >= 0).all()


def test_active_units_on_a_collapsed_model(tiny_model, sample_smiles):
    collapsed = copy.deepcopy(tiny_model)
    with torch.no_grad():  # only the first two latent dimensions still depend on the input
        collapsed.encoder.to_mu.weight[2:] = 0.0
        collapsed.encoder.to_mu.bias[2:] = 0.0
        collapsed.encoder.to_logvar.weight[2:] = 0.0
        collapsed.encoder.to_logvar.bias[2:] = 0.0
    enc = collapsed.encode(sample_smiles)
    diag = latent_diagnostics(enc.mu[enc.valid], enc.logvar[enc.valid])
    assert diag["active_units"] <= 2 and diag["latent_dim"] == tiny_model.latent_dim
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in diag["kl_per_dim"][2:])  # posterior = prior there


def test_auroc():
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([0.1, np.nan]), np.array([0, 1])) == 1.0  # unreadable = most unusual
    with pytest.raises(InputError):
        auroc(np.array([1.0, 2.0]), np.array([1, 1]))


def test_score_cli_labels_and_calibration(tiny_model_path, tiny_csv, sample_smiles, tmp_path, capsys):
    path = tmp_path / "mixed.csv"
    odd = ["OC[C@@H]1O[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O", "C1CCCCCCCCCCCCCCCCC1", "NCC(=O)NCC(=O)NCC(=O)O"]
    pd.DataFrame({"smiles": sample_smiles[:12] + odd, "odd": [0] * 12 + [1] * 3}).to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    model = ["--model", str(tiny_model_path)]
    score = ["score", str(path), "-o", str(out), *model, "--calibrate", str(tiny_csv)]
    assert main([*score, "--labels", "odd", "-k", "4", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "AUROC neg_elbo" in printed and "flagged as outliers" in printed
    table = pd.read_csv(out)
    columns = {"neg_elbo", "neg_log_likelihood", "mahalanobis", "outlier", "label", "exact_match"}
    assert len(table) == 15 and columns <= set(table.columns)
    assert main(["score", str(path), "-o", str(out), *model, "--labels", "nope"]) == 2
    capsys.readouterr()
    # --quantile moves the threshold that --calibrate fits ...
    assert main([*score, "--quantile", "0.9", "-q"]) == 0
    assert "the 90% quantiles of held-out training molecules" in capsys.readouterr().out
    # ... and alone it would do nothing: a one-line error, before any work
    lone = tmp_path / "lone.csv"
    assert main(["score", str(path), "-o", str(lone), *model, "--quantile", "0.9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--calibrate" in err and len(err.splitlines()) == 1 and not lone.exists()

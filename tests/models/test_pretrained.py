"""The bundled ZINC250k model ships with the package, loads safely and generates valid molecules."""

import pytest
import torch

from molvae import MolVAE, api, chem
from molvae.cli.main import main
from molvae.pretrained import BUNDLED_MODEL, SAMPLER_MODEL, default_model_path


def test_bundled_model_is_installed_small_and_plain_data():
    assert default_model_path() == BUNDLED_MODEL
    assert BUNDLED_MODEL.stat().st_size < 25 * 1024 * 1024
    ckpt = torch.load(BUNDLED_MODEL, weights_only=True)
    assert ckpt["format_version"] == 2 and ckpt["model"]["representation"] == "selfies"
    assert ckpt["model"]["properties"]["names"] == ["logp", "qed", "sa"]
    assert "training" not in ckpt  # no optimizer state in the shipped file
    assert {"prior", "training_set_hashes", "outlier_reference"} <= set(ckpt["extras"])


def test_bundled_sampler_is_plain_data_and_samples_sane_molecules():
    assert SAMPLER_MODEL.stat().st_size < 25 * 1024 * 1024
    ckpt = torch.load(SAMPLER_MODEL, weights_only=True)
    assert "training" not in ckpt and "training_set_hashes" in ckpt["extras"]
    model = MolVAE.load(SAMPLER_MODEL)
    assert model.sampling_temperature > 0 and model.prior is None  # token sampling from N(0, I)
    frame = api.sample(model, 200, seed=0)
    profile = chem.chemistry_profile([s for s in frame["smiles"] if s])
    assert frame["valid"].all() and frame["novel"].mean() > 0.9
    assert profile["sane"].mean() > 0.9 and not profile["radicals"].any()


def test_bundled_model_samples_encodes_and_reconstructs():
    model = MolVAE.load()
    samples = model.sample(50, seed=0)
    assert sum(s is not None for s in samples) >= 45
    assert all(chem.is_valid(s) for s in samples if s is not None)
    enc = model.encode(["CC(=O)Oc1ccccc1C(=O)O"])
    assert enc.valid[0] and enc.mu.shape == (1, model.latent_dim)
    logp = enc.properties[0, 0]
    assert abs(logp - 1.31) < 1.5  # predicted logP of aspirin is in the right region (Crippen: 1.31)


def test_bf16_decoding_reconstructs_like_fp32(sample_smiles):
    model = MolVAE.load()
    enc = model.encode(sample_smiles)
    fp32 = model.decode_detailed(enc.mu, precision="fp32").smiles
    bf16 = model.decode_detailed(enc.mu, precision="bf16").smiles
    assert sum(a == b for a, b in zip(fp32, bf16)) >= 0.9 * len(sample_smiles)
    canonical = chem.canonicalize_many(sample_smiles)[0]
    exact = [sum(a == b for a, b in zip(canonical, out)) for out in (fp32, bf16)]
    assert abs(exact[0] - exact[1]) <= 0.1 * len(sample_smiles)


def test_sample_cli_without_model_flag(tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["sample", "-n", "100", "-o", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    assert "validity" in text and "uniqueness" in text and "novelty" in text
    lines = out.read_text().strip().splitlines()
    assert len(lines) == 101 and lines[0].startswith("smiles,valid,reason,repaired,ring_masked,novel")


def test_sample_and_evaluate_default_to_the_sampler_and_other_verbs_to_the_latent_model(monkeypatch, tmp_path):
    assert default_model_path("sample") == (SAMPLER_MODEL if SAMPLER_MODEL.is_file() else BUNDLED_MODEL)
    with pytest.raises(ValueError, match="purpose"):
        default_model_path("docking")
    loaded = []

    def fake_load(name, device="cpu"):
        loaded.append(name)
        raise SystemExit(0)

    monkeypatch.setattr(api, "load", fake_load)
    (tmp_path / "x.smi").write_text("CCO\n")
    for argv in (["sample", "-o", str(tmp_path / "s.csv")], ["encode", str(tmp_path / "x.smi"), "-o", "e.csv"]):
        with pytest.raises(SystemExit):
            main(argv)
    assert loaded == [default_model_path("sample"), BUNDLED_MODEL]

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_MODEL

from molvae import MolVAE
from molvae.cli.main import main
from molvae.config import ModelConfig, RunConfig
from molvae.errors import ConfigError, InputError
from molvae.evaluation.scoring import score_molecules


@pytest.fixture(scope="module")
def cvae_path(tmp_path_factory, tiny_csv):
    from molvae.training.loop import train

    out = tmp_path_factory.mktemp("cvae")
    cfg = RunConfig.from_dict(
        {
            "model": {**TINY_MODEL["model"], "conditions": ["qed"]},
            "train": TINY_MODEL["train"],
            "data": {"properties": ["logp", "qed"]},
        }
    )
    return train(tiny_csv, out, cfg, progress=False).best_path


def test_conditioning_shapes_and_checkpoint(cvae_path, sample_smiles):
    model = MolVAE.load(cvae_path)
    assert model.conditions == ("qed",)
    assert torch.load(cvae_path, weights_only=True)["model"]["config"]["conditions"] == ("qed",)
    d, h = model.latent_dim, model.config.encoder_hidden_dim
    assert model.encoder.to_mu.in_features == 2 * h + 1  # the encoder sees the condition
    assert model.decoder.z_to_hidden.in_features == d + 1  # so does the decoder
    enc = model.encode(sample_smiles[:6] + ["bad"])
    assert enc.mu.shape == (7, d) and np.isnan(enc.mu[-1]).all()
    z = model.sample_prior(4, seed=0)
    per_row = model.decode(z, condition=np.array([[-1.0], [0.0], [1.0], [2.0]], dtype=np.float32))
    one_row = model.decode(z, condition=model.standardize_condition({"qed": 0.9}))
    assert len(per_row) == len(one_row) == 4
    assert model.sample(3, seed=1, condition={"qed": 0.9}) == model.sample(3, seed=1, condition={"qed": 0.9})
    assert model.standardize_condition({})[0] == 0.0  # not given: the training average
    table = score_molecules(model, sample_smiles[:3], seed=0)
    assert np.isfinite(table["neg_elbo"]).all()
    with pytest.raises(InputError, match="conditioned on qed"):
        model.standardize_condition({"logp": 2.0})


def test_conditions_must_be_trained_properties_and_plain_models_refuse(tiny_model):
    from molvae.data.datasets import PropertyScaler

    with pytest.raises(ConfigError, match="must also be trained properties"):
        MolVAE(ModelConfig(conditions=("qed",)), tiny_model.vocab, PropertyScaler(("logp",), (0.0,), (1.0,)))
    with pytest.raises(InputError, match="not conditional"):
        tiny_model.standardize_condition({"qed": 0.9})


def test_sample_and_train_cli_with_conditions(cvae_path, tiny_csv, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert (
        main(
            [
                "sample",
                "--model",
                str(cvae_path),
                "-n",
                "40",
                "--condition",
                "qed=0.8",
                "-o",
                str(out),
                "--temperature",
                "1.0",
                "-q",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "qed: requested 0.8, samples" in printed and "at the average condition" in printed
    assert len(pd.read_csv(out)) == 40
    assert main(["sample", "--model", str(cvae_path), "-n", "5", "--condition", "qed:0.8", "-o", str(out)]) == 2
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(tiny_csv),
                "-o",
                str(run),
                "--condition",
                "qed",
                "--epochs",
                "1",
                "--latent-dim",
                "4",
                "--batch-size",
                "32",
                "--kl-warmup-epochs",
                "0.5",
                "-q",
            ]
        )
        == 0
    )
    assert RunConfig.from_toml(run / "config.toml").train.kl_warmup_epochs == 0.5
    model = MolVAE.load(run / "best.pt")
    assert model.conditions == ("qed",) and "qed" in model.property_names


def test_guidance_interpolates_between_average_and_requested_condition(cvae_path):
    model = MolVAE.load(cvae_path)
    z = model.sample_prior(16, seed=3)
    cond = model.standardize_condition({"qed": 0.9})
    plain = model.decode(z, condition=cond)
    assert model.decode(z, condition=cond, guidance=1.0) == plain  # W = 1 is the plain CVAE
    assert model.decode(z, condition=cond, guidance=0.0) == model.decode(z)  # W = 0: the average condition
    assert model.sample(16, seed=3, condition={"qed": 0.9}, guidance=2.0) == model.decode(
        z, condition=cond, guidance=2.0
    )  # sample passes the weight on


@pytest.mark.parametrize("weight", [2.0, 3.0])
def test_guided_decoding_follows_the_extrapolated_logits(cvae_path, weight):
    """Each greedy step of a guided decode is the argmax of l_avg + W (l_cond - l_avg), with l_cond and
    l_avg the decoder's logits (teacher-forced on the decoded prefix) at the requested and the average
    condition; and W > 1 changes what is decoded."""
    model = MolVAE.load(cvae_path)
    z = torch.from_numpy(model.sample_prior(16, seed=3))
    cond = torch.from_numpy(np.tile(model.standardize_condition({"qed": 0.9}), (16, 1)))
    guided = model.generate(z, condition=cond, guidance=weight)
    assert guided != model.generate(z, condition=cond)  # a real effect on these draws
    eos, steps = model.vocab.eos_index, 0
    with torch.no_grad():
        for i, seq in enumerate(guided):
            n = seq.index(eos) + 1 if eos in seq else len(seq)
            prefix = torch.tensor([[model.vocab.bos_index] + seq[: n - 1]])
            # the decoder sees [z, condition] (the condition standardized; 0 = the training average)
            l_cond, _ = model.decoder(prefix, torch.cat([z[i : i + 1], cond[i : i + 1]], dim=1))
            l_avg, _ = model.decoder(prefix, torch.cat([z[i : i + 1], torch.zeros_like(cond[i : i + 1])], dim=1))
            logits = (l_avg + weight * (l_cond - l_avg))[0]
            chosen = logits.gather(1, torch.tensor(seq[:n]).unsqueeze(1)).squeeze(1)
            assert (chosen >= logits.max(dim=1).values - 1e-4).all(), i  # greedy on the guided logits
            steps += n
    assert steps > 16

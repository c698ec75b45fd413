import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_MODEL

from molvae import MolVAE, chem
from molvae.config import RunConfig, TrainConfig
from molvae.data.vocab import get_representation
from molvae.errors import ConfigError, InputError
from molvae.evaluation.metrics import reconstruction_accuracy
from molvae.training.data import prepare_training_data
from molvae.training.loop import WeightAverage, kl_weight, learning_rate, masked_mse, train, vae_loss


def test_masked_mse_ignores_missing_labels():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    targets = torch.tensor([[0.0, float("nan")], [float("nan"), float("nan")]])
    loss = masked_mse(pred, targets)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert pred.grad.tolist() == [[2.0, 0.0], [0.0, 0.0]]  # no gradient from missing labels
    assert masked_mse(pred, torch.full((2, 2), float("nan"))).item() == 0.0


def test_free_bits_clamp_kl_per_dimension():
    out = {
        "logits": torch.zeros(2, 3, 5),
        "mu": torch.zeros(2, 4),
        "logvar": torch.zeros(2, 4),
        "properties": torch.zeros(2, 0),
    }
    tokens = torch.tensor([[1, 4, 4, 2], [1, 4, 2, 0]])
    parts = vae_loss(out, tokens, torch.zeros(2, 0), beta=1.0, free_bits=0.5, property_weight=1.0)
    assert parts["kl"].item() == pytest.approx(0.0)
    # recon: uniform logits over 5 tokens, 3 + 2 real targets over 2 molecules
    assert parts["recon"].item() == pytest.approx(5 * math.log(5) / 2)
    assert parts["loss"].item() == pytest.approx(parts["recon"].item() + 4 * 0.5)


def test_kl_schedules():
    mono = TrainConfig(beta=0.2, kl_schedule="monotonic", kl_warmup_epochs=2)
    assert kl_weight(0, 100, 10, mono) == 0.0
    assert kl_weight(10, 100, 10, mono) == pytest.approx(0.1)
    assert kl_weight(50, 100, 10, mono) == pytest.approx(0.2)
    cyc = TrainConfig(beta=0.2, kl_schedule="cyclical", kl_cycles=2)
    assert [round(kl_weight(s, 100, 10, cyc), 3) for s in (0, 25, 40, 50, 75)] == [0.0, 0.2, 0.2, 0.0, 0.2]
    assert kl_weight(7, 100, 10, TrainConfig(beta=0.3, kl_schedule="constant")) == 0.3
    cfg = TrainConfig(learning_rate=1e-3, min_learning_rate=1e-4)
    assert learning_rate(0, 10, cfg) == pytest.approx(1e-3) and learning_rate(10, 10, cfg) == pytest.approx(1e-4)


def test_overfits_a_few_dozen_molecules(overfit_run):
    """Integration: 30 molecules, all in the train split, reconstruct exactly."""
    result, smiles = overfit_run
    model = MolVAE.load(result.last_path)
    enc, decoded = model.reconstruct(smiles)
    assert reconstruction_accuracy(enc.smiles, decoded) == 1.0


def test_semi_supervised_labels_and_outputs(tmp_path, sample_smiles):
    smiles = sample_smiles[:40]
    labels = [float(i) if i % 3 else "" for i in range(40)]  # a third unlabelled
    path = tmp_path / "semi.csv"
    pd.DataFrame({"smiles": smiles, "activity": labels}).to_csv(path, index=False)
    cfg = RunConfig.from_dict({**TINY_MODEL, "data": {"properties": ["activity", "mw"]}})
    result = train(path, tmp_path / "run", cfg, progress=False)
    for name in ("best.pt", "last.pt", "metrics.csv", "config.toml"):
        assert (tmp_path / "run" / name).exists()
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert len(metrics) == 2 and np.isfinite(metrics["train_prop"]).all()
    assert {"val_recon_acc", "val_mae_activity", "val_mae_mw", "kl_weight", "train_kl"} <= set(metrics.columns)
    model = MolVAE.load(result.best_path)
    assert model.property_names == ("activity", "mw")
    assert RunConfig.from_toml(tmp_path / "run" / "config.toml").data.properties == ("activity", "mw")


def _full_and_resumed(tmp_path, tiny_csv, cfg):
    """An uninterrupted run and the same run killed after epoch 1 and resumed (a second start
    without --resume is refused)."""
    full = train(tiny_csv, tmp_path / "full", cfg, progress=False)

    class Killed(Exception):
        pass

    def stop_after_first(epoch, row):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(tiny_csv, tmp_path / "part", cfg, progress=False, on_epoch_end=stop_after_first)
    with pytest.raises(InputError, match="--resume"):
        train(tiny_csv, tmp_path / "part", cfg, progress=False)
    return full, train(tiny_csv, tmp_path / "part", cfg, resume=True, progress=False)


def test_resume_matches_uninterrupted_run(tmp_path, tiny_csv):
    cfg = RunConfig.from_dict(
        {**TINY_MODEL, "train": {**TINY_MODEL["train"], "epochs": 3}, "data": {"properties": ["logp"]}}
    )
    full, resumed = _full_and_resumed(tmp_path, tiny_csv, cfg)
    assert [r["epoch"] for r in resumed.metrics] == [1, 2, 3]
    a = torch.load(full.last_path, weights_only=True)["model"]["state_dict"]
    b = torch.load(resumed.last_path, weights_only=True)["model"]["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert resumed.metrics[-1]["train_recon"] == pytest.approx(full.metrics[-1]["train_recon"], rel=1e-5)


def test_weight_average_tracks_and_swaps_weights():
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
    avg = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        net.weight.fill_(1.0)
    avg.update(net, step=1000)  # past the ramp: decay 0.5
    assert avg.shadow[0].tolist() == [[0.5, 0.5]]
    with avg.applied(net):
        assert net.weight.tolist() == [[0.5, 0.5]]
    assert net.weight.tolist() == [[1.0, 1.0]]  # the trained weights are back
    avg.update(net, step=0)  # the ramp: decay 1/10 at step 0
    assert avg.shadow[0].tolist() == [[pytest.approx(0.95), pytest.approx(0.95)]]
    off = WeightAverage(net, decay=0.0)
    with off.applied(net):
        assert net.weight.tolist() == [[1.0, 1.0]]
    assert off.state() == {}


def test_weight_average_resumes_and_fills_best(tmp_path, tiny_csv):
    cfg = RunConfig.from_dict(
        {
            **TINY_MODEL,
            "train": {**TINY_MODEL["train"], "epochs": 3, "ema_decay": 0.9},
            "data": {"properties": ["logp"]},
        }
    )
    full, resumed = _full_and_resumed(tmp_path, tiny_csv, cfg)
    a = torch.load(full.last_path, weights_only=True)
    b = torch.load(resumed.last_path, weights_only=True)
    for x, y in zip(a["training"]["ema"], b["training"]["ema"]):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    assert resumed.metrics[-1]["val_loss"] == pytest.approx(full.metrics[-1]["val_loss"], rel=1e-5)
    # best.pt holds the average, not the trained weights of last.pt
    best = torch.load(full.best_path, weights_only=True)["model"]["state_dict"]
    names = [n for n, _ in MolVAE.load(full.last_path).named_parameters()]
    averaged = dict(zip(names, a["training"]["ema"]))
    epoch_of_best = int(np.argmin([r["val_loss"] for r in full.metrics])) + 1
    assert epoch_of_best == 3  # a deterministic run whose validation loss falls each epoch
    for n in names:
        torch.testing.assert_close(best[n].float(), averaged[n])
    assert any(not torch.equal(a["model"]["state_dict"][n].float(), averaged[n]) for n in names)


def test_unknown_property_is_a_clear_error(tmp_path, tiny_csv):
    cfg = RunConfig.from_dict({**TINY_MODEL, "data": {"properties": ["toxicity"]}})
    with pytest.raises(InputError, match="unknown property 'toxicity'"):
        train(tiny_csv, tmp_path / "r", cfg, progress=False)
    assert not (tmp_path / "r").exists()  # the data is checked before the run directory is made


@pytest.mark.parametrize("text", ["", "smiles,id\n"])
def test_a_file_without_molecules_leaves_no_run_directory(tmp_path, text):
    (tmp_path / "empty.csv").write_text(text)
    with pytest.raises(InputError, match="no molecules in"):
        train(tmp_path / "empty.csv", tmp_path / "run", RunConfig.from_dict(TINY_MODEL), progress=False)
    assert not (tmp_path / "run").exists()


def test_learning_rate_warmup_then_cosine():
    cfg = TrainConfig(learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=10)
    assert learning_rate(0, 100, cfg) == pytest.approx(
        learning_rate(0, 100, TrainConfig(learning_rate=1e-3, min_learning_rate=1e-4)) / 10
    )
    assert learning_rate(4, 100, cfg) < learning_rate(9, 100, cfg) <= 1e-3
    assert learning_rate(100, 100, cfg) == pytest.approx(1e-4)


def test_warm_start_copies_weights_by_token_name(tmp_path, tiny_csv, tiny_model, tiny_model_path):
    # one molecule with a token the tiny model never saw: its embedding row starts fresh
    path = tmp_path / "more.csv"
    frame = pd.read_csv(tiny_csv)
    pd.concat([frame, pd.DataFrame({"id": ["new"], "smiles": ["CC(=O)Nc1ccc(I)cc1"]})]).to_csv(path, index=False)
    cfg = RunConfig.from_dict(
        {
            "data": {"properties": ["logp", "qed"], "valid_fraction": 0.0, "augment_fraction": 0.5},
            "train": {
                "epochs": 1,
                "batch_size": 32,
                "learning_rate": 1e-9,
                "min_learning_rate": 0.0,
                "recon_eval_size": 5,
                "num_threads": 2,
            },
        }
    )
    result = train(path, tmp_path / "run", cfg, progress=False, init=tiny_model_path, dropout=0.3)
    warm = MolVAE.load(result.last_path)
    assert warm.config.decoder_hidden_dim == tiny_model.config.decoder_hidden_dim  # the initial architecture
    assert (warm.config.dropout, warm.decoder.dropout.p) == (0.3, 0.3) != (tiny_model.config.dropout,) * 2
    assert "[I]" in warm.vocab and "[I]" not in tiny_model.vocab
    assert warm.metadata["warm_start"]["new_tokens"] == 1
    old, new = tiny_model.state_dict(), warm.state_dict()
    torch.testing.assert_close(new["decoder.gru.weight_hh_l0"], old["decoder.gru.weight_hh_l0"], atol=1e-5, rtol=0)
    i_old, i_new = tiny_model.vocab.index_of("[C]"), warm.vocab.index_of("[C]")
    torch.testing.assert_close(new["decoder.out.weight"][i_new], old["decoder.out.weight"][i_old], atol=1e-5, rtol=0)


def test_vocabulary_comes_from_train_rows_only(tmp_path, sample_smiles):
    path = tmp_path / "split.csv"
    rows = [(s, "train") for s in sample_smiles[:30]] + [
        ("CC(=O)Nc1ccc(I)cc1", "valid"),
        ("CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", "test"),
    ]
    pd.DataFrame(rows, columns=["smiles", "split"]).to_csv(path, index=False)
    cfg = RunConfig.from_dict({**TINY_MODEL, "train": {**TINY_MODEL["train"], "epochs": 1}})
    model = MolVAE.load(train(path, tmp_path / "run", cfg, progress=False).last_path)
    assert "[I]" not in model.vocab
    longest_train = max(len(model.prepare([s]).tokens[0]) for s in sample_smiles[:30])
    assert model.config.max_length == longest_train + 2


def test_grown_decoder_computes_what_the_initial_model_did(tiny_model):
    from dataclasses import replace

    width = tiny_model.config.decoder_hidden_dim
    wide = MolVAE(
        replace(tiny_model.config, decoder_hidden_dim=width + 24),
        tiny_model.vocab,
        tiny_model.scaler,
        dict(tiny_model.metadata),
    )
    wide.warm_start_from(tiny_model)
    tiny_model.eval(), wide.eval()
    tokens = torch.randint(3, len(tiny_model.vocab), (5, 12), generator=torch.Generator().manual_seed(0))
    z = torch.randn(5, tiny_model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, _ = tiny_model.decoder(tokens, z)
        after, hidden = wide.decoder(tokens, z)
    assert hidden.shape[-1] == width + 24
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert wide.decoder.gru.weight_hh_l0[width:].abs().sum() > 0  # the new units are live, just not read yet


def test_grown_decoder_keeps_shared_tokens_when_the_vocabulary_differs(tiny_model):
    from dataclasses import replace

    from molvae.data.vocab import Vocabulary

    old_vocab = tiny_model.vocab
    vocab = Vocabulary(old_vocab.tokens + ("[Xe]", "[Kr]"))  # two new tokens, after the shared ones
    width = tiny_model.config.decoder_hidden_dim
    wide = MolVAE(replace(tiny_model.config, decoder_hidden_dim=width + 16), vocab, tiny_model.scaler, {})
    counts = wide.warm_start_from(tiny_model)
    assert counts["new_tokens"] == 2
    keep = torch.arange(len(old_vocab))  # the shared tokens sit at the same indices in both vocabularies
    wide.eval()
    tokens = torch.randint(3, len(old_vocab), (4, 10), generator=torch.Generator().manual_seed(0))
    z = torch.randn(4, tiny_model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, _ = tiny_model.decoder(tokens, z)
        after, _ = wide.decoder(tokens, z)
    torch.testing.assert_close(after[..., keep], before[..., keep], atol=1e-5, rtol=0)


def test_decoder_cannot_shrink(tiny_model):
    from dataclasses import replace

    narrow = MolVAE(
        replace(tiny_model.config, decoder_hidden_dim=tiny_model.config.decoder_hidden_dim - 8),
        tiny_model.vocab,
        tiny_model.scaler,
        {},
    )
    with pytest.raises(ConfigError, match="can only grow"):
        narrow.warm_start_from(tiny_model)


@pytest.mark.parametrize("init, units", [(None, 768), ("zinc250k_selfies_sampler", 0)])
def test_grow_decoder_needs_an_initial_model_and_units(tmp_path, tiny_csv, init, units):
    with pytest.raises(ConfigError, match="grow_decoder"):
        train(tiny_csv, tmp_path / "run", init=init, grow_decoder=units)


@pytest.mark.parametrize("init, rate", [(None, 0.2), ("zinc250k_selfies_sampler", 1.0)])
def test_dropout_override_needs_an_initial_model_and_a_rate(tmp_path, tiny_csv, init, rate):
    with pytest.raises(ConfigError, match="dropout"):
        train(tiny_csv, tmp_path / "run", init=init, dropout=rate)


def test_augmented_epochs_show_random_smiles_of_the_same_molecules(tiny_csv):
    from molvae.io import read_molecules
    from molvae.training.data import epoch_training_set

    cfg = RunConfig.from_dict({"data": {"augment_fraction": 0.5, "valid_fraction": 0.1}, "train": {"seed": 3}})
    data = prepare_training_data(read_molecules(tiny_csv), cfg)
    cfg = replace(cfg, model=replace(cfg.model, max_length=data.max_tokens + 2))
    assert epoch_training_set(data, replace(cfg, data=replace(cfg.data, augment_fraction=0.0)), 0) is data.train
    first, again, second = (epoch_training_set(data, cfg, epoch) for epoch in (0, 0, 1))
    assert first.sequences == again.sequences  # (seed, epoch) decides: a resumed run sees the same epochs
    changed = [i for i, (a, b) in enumerate(zip(first.sequences, data.train.sequences)) if a != b]
    assert 0 < len(changed) < len(data.train) and first.sequences != second.sequences
    rep = get_representation("selfies")
    for i in changed:  # another string, the same molecule, tokens the model knows, within its length
        seq = first.sequences[i]
        assert len(seq) - 2 <= data.max_tokens and data.vocab.unk_index not in seq
        written = rep.detokenize(data.vocab.decode(seq))
        assert chem.canonicalize(written)[0] == data.train_smiles[i]
    np.testing.assert_array_equal(first.targets, data.train.targets)

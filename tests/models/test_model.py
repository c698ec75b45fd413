import pathlib

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from conftest import TINY_MODEL
from hypothesis import given, settings

from molvae import MolVAE, chem
from molvae.config import RunConfig
from molvae.errors import CheckpointError, InputError
from molvae.models.checkpoint import VERSION as CHECKPOINT_VERSION
from molvae.pretrained import default_model_path


class _Payload:
    """Unpickling this would create a file: a stand-in for a checkpoint that runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_checkpoint_is_plain_data(tiny_model_path):
    ckpt = torch.load(tiny_model_path, weights_only=True)
    assert ckpt["format"] == "molvae-checkpoint" and ckpt["format_version"] == CHECKPOINT_VERSION
    assert ckpt["model"]["representation"] == "selfies"
    assert ckpt["model"]["vocabulary"]["tokens"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert ckpt["model"]["properties"]["names"] == ["logp", "qed"]
    assert {"data_sha256", "versions", "saved"} <= set(ckpt["metadata"])
    assert ckpt["run"]["epoch"] >= 1 and "training_set_hashes" in ckpt["extras"]


def _as_version_1(ckpt: dict) -> dict:
    """The layout molvae 0.1 wrote (format version 1): every section at the top level."""
    old = {
        "format": "molvae-checkpoint",
        "format_version": 1,
        "molvae_version": "0.1.0",
        "model_config": ckpt["model"]["config"],
        **{k: v for k, v in ckpt["model"].items() if k != "config"},
        "metadata": ckpt["metadata"],
        **ckpt["extras"],
        **ckpt.get("run", {}),
    }
    if "training" in ckpt:
        old["training"] = ckpt["training"]
    return old


def test_version_1_checkpoints_load_and_resume(tiny_model, tiny_run, tmp_path, sample_smiles, tiny_csv):
    from molvae.models import checkpoint
    from molvae.training.loop import train

    v1 = tmp_path / "v1"
    v1.mkdir()
    for name in ("best.pt", "last.pt"):
        torch.save(_as_version_1(torch.load(tiny_run.output_dir / name, weights_only=True)), v1 / name)
    old = MolVAE.load(v1 / "best.pt")
    assert checkpoint.read(v1 / "best.pt")["migrated_from_version"] == 1
    a, b = tiny_model.encode(sample_smiles[:5]), old.encode(sample_smiles[:5])
    np.testing.assert_array_equal(a.mu, b.mu)
    np.testing.assert_array_equal(old.novel(sample_smiles[:5]), tiny_model.novel(sample_smiles[:5]))
    # a version-1 run directory resumes (its last.pt carries the training state in the old layout)
    cfg = RunConfig.from_dict(
        {**TINY_MODEL, "data": {"properties": ["logp", "qed"]}, "train": {**TINY_MODEL["train"], "epochs": 3}}
    )
    resumed = train(tiny_csv, v1, cfg, resume=True, progress=False)
    assert [r["epoch"] for r in resumed.metrics] == [1, 2, 3]
    # a version this molvae does not know: one clear message
    ckpt = torch.load(tiny_run.best_path, weights_only=True)
    torch.save({**ckpt, "format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        MolVAE.load(tmp_path / "future.pt")


def test_save_load_gives_same_outputs(tiny_model, tmp_path, sample_smiles):
    path = tmp_path / "copy.pt"
    tiny_model.save(path)
    again = MolVAE.load(path)
    a, b = tiny_model.encode(sample_smiles[:10]), again.encode(sample_smiles[:10])
    np.testing.assert_array_equal(a.mu, b.mu)
    np.testing.assert_array_equal(a.properties, b.properties)
    assert tiny_model.decode(a.mu) == again.decode(b.mu)
    assert tiny_model.sample(5, seed=1) == again.sample(5, seed=1)


def test_encode_marks_invalid_rows(tiny_model):
    # selenium is valid chemistry but never occurs in MOSES, so "[Se]" is outside the tiny model's vocabulary
    assert "[Se]" not in tiny_model.vocab.tokens
    enc = tiny_model.encode(["CCO", "not-a-smiles", "", "C[Se]C"])
    assert enc.mu.shape == (4, tiny_model.latent_dim)
    assert enc.valid.tolist() == [True, False, False, False]
    assert enc.reasons[1] == "unparseable" and enc.reasons[2] == "empty"
    assert enc.reasons[3] == "unknown_token: [Se]"
    assert np.isnan(enc.mu[1:]).all() and np.isfinite(enc.mu[0]).all()
    assert enc.properties.shape == (4, 2)


def test_decode_handles_non_finite_rows_and_bad_shapes(tiny_model):
    z = np.zeros((3, tiny_model.latent_dim), dtype=np.float32)
    z[1, 0] = np.nan
    res = tiny_model.decode_detailed(z)
    assert res.smiles[1] is None and res.reasons[1] == "non_finite_latent"
    assert res.smiles[0] == res.smiles[2]
    with pytest.raises(InputError, match="shape"):
        tiny_model.decode(np.zeros((2, tiny_model.latent_dim + 1)))


def test_decoding_has_a_hard_length_bound(tiny_model):
    seqs = tiny_model.generate(
        torch.randn(4, tiny_model.latent_dim) * 10, temperature=5.0, generator=torch.Generator().manual_seed(0)
    )
    assert all(len(s) <= tiny_model.config.max_length for s in seqs)


def test_sampling_is_seeded(tiny_model):
    assert tiny_model.sample(8, seed=3, temperature=1.0) == tiny_model.sample(8, seed=3, temperature=1.0)


def test_wrong_version_is_refused(tiny_model_path, tmp_path):
    ckpt = torch.load(tiny_model_path, weights_only=True)
    ckpt["format_version"] = 99
    path = tmp_path / "future.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="format version 99"):
        MolVAE.load(path)


def test_corrupt_and_truncated_files_are_refused(tiny_model_path, tmp_path):
    data = pathlib.Path(tiny_model_path).read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        MolVAE.load(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"hello world" * 10)
    with pytest.raises(CheckpointError):
        MolVAE.load(garbage)
    with pytest.raises(CheckpointError, match="not found"):
        MolVAE.load(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a molvae checkpoint"):
        MolVAE.load(other)


def test_pickled_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "molvae-checkpoint", "payload": _Payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        MolVAE.load(path)
    assert not marker.exists()


def test_novelty_from_stored_training_hashes(tiny_model, tiny_model_path, sample_smiles):
    from molvae import chem

    assert torch.load(tiny_model_path, weights_only=True)["extras"]["training_set_hashes"].dtype == torch.int64
    known = chem.canonicalize(sample_smiles[0])[0]
    assert tiny_model.novel([known, "CCO", None]).tolist() == [False, True, False]


_BUNDLED = MolVAE.load() if default_model_path() else None


@pytest.mark.skipif(_BUNDLED is None, reason="no bundled model")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=80))
def test_any_token_sequence_of_the_model_vocabulary_decodes_or_is_recorded(indices):
    """Every SELFIES string built from the bundled model's vocabulary (special tokens included)
    decodes to an RDKit-valid canonical molecule, or to None with a recorded reason; nothing raises."""
    seq = [i % len(_BUNDLED.vocab) for i in indices] + [_BUNDLED.vocab.eos_index]
    result = _BUNDLED.tokens_to_molecules([seq])
    (smiles,), (reason,) = result.smiles, result.reasons
    if smiles is None:
        assert reason in ("empty", "unparseable")
    else:
        assert reason is None and chem.is_valid(smiles) and chem.canonicalize(smiles)[0] == smiles


def test_generate_follows_a_prefix_and_branches_off_it(tiny_model):
    import torch

    vocab = tiny_model.vocab
    tokens = [vocab.index_of(t) for t in tiny_model.prepare(["CC(=O)Oc1ccccc1C(=O)O"]).tokens[0]]
    n, k = 16, 5
    prefix = torch.full((n, tiny_model.config.max_length), -1, dtype=torch.long)
    prefix[:, :k] = torch.tensor(tokens[:k])
    avoid = torch.full((n,), tokens[k], dtype=torch.long)
    z = torch.zeros(n, tiny_model.latent_dim)
    out = tiny_model.generate(z, prefix=prefix, avoid=avoid, generator=torch.Generator().manual_seed(0))
    assert all(row[:k] == tokens[:k] for row in out)  # the prefix is written whatever the decoder prefers
    assert all(row[k] != tokens[k] for row in out)  # the banned token never follows it
    assert len({row[k] for row in out}) > 1  # the branch token is sampled


@pytest.mark.parametrize("precision", [None, torch.bfloat16])
def test_prefix_teacher_forced_in_one_pass_decodes_like_stepping_through_it(tiny_model, sample_smiles, precision):
    vocab, width = tiny_model.vocab, tiny_model.config.max_length
    enc = tiny_model.encode(sample_smiles[:12])
    z = torch.as_tensor(enc.mu[enc.valid])
    prefix = torch.full((len(z), width), -1, dtype=torch.long)
    for i, toks in enumerate(t for t, ok in zip(tiny_model.prepare(sample_smiles[:12]).tokens, enc.valid) if ok):
        k = i % 6  # prefixes of 0 to 5 tokens
        prefix[i, :k] = torch.tensor([vocab.index_of(t) for t in toks[:k]])
    ban = torch.zeros(len(vocab.tokens), dtype=torch.bool)
    ban[vocab.eos_index] = True  # the first free position may not end the molecule
    fast = tiny_model.generate(z, prefix=prefix, ban=ban, dtype=precision)
    tiny_model.fast_prefix = False
    try:
        stepped = tiny_model.generate(z, prefix=prefix, ban=ban, dtype=precision)
    finally:
        del tiny_model.fast_prefix
    agree = [a == b for a, b in zip(fast, stepped)]
    assert sum(agree) >= len(agree) - (0 if precision is None else 2)  # bf16: a near-tie may go the other way
    for row, p in zip(fast, prefix):
        k = int((p >= 0).sum())
        assert row[:k] == p[:k].tolist() and row[k] != vocab.eos_index


def test_mutate_writes_local_edits(tiny_model):
    parent = "CC(=O)Oc1ccccc1C(=O)O"
    z = np.zeros((12, tiny_model.latent_dim), dtype=np.float32)
    result = tiny_model.mutate(z, [parent] * 12, seed=1)
    assert len(result.smiles) == 12 and sum(s != parent for s in result.smiles) >= 10  # one token changed
    again = tiny_model.mutate(z, [parent] * 12, seed=1)
    assert result.raw == again.raw
    with pytest.raises(InputError, match="latent points"):
        tiny_model.mutate(z, [parent] * 3)


@pytest.mark.parametrize("layers", [1, 2])
def test_decoder_steps_compute_the_teacher_forced_pass(layers):
    from molvae.models.nn import GRUDecoder, GRUSizes

    torch.manual_seed(0)
    dec = GRUDecoder(GRUSizes(vocab_size=20, embedding_dim=8, hidden_dim=16, layers=layers, latent_dim=4, dropout=0.1))
    dec.eval()
    z, tokens = torch.randn(5, 4), torch.randint(0, 20, (5, 7))
    with torch.no_grad():
        expected, _ = dec(tokens, z)
        for dtype, tol in ((None, 1e-5), (torch.bfloat16, 0.1)):
            weights = dec.step_weights(dtype)
            hidden, gates = dec.initial_state(z), dec.z_gates(weights, z)
            for t in range(tokens.shape[1]):
                logits, hidden = dec.step(tokens[:, t], gates, hidden, weights)
                assert logits.dtype == torch.float32
                torch.testing.assert_close(logits, expected[:, t], atol=tol, rtol=tol)


def _index_positions(model, row):
    """Positions of ``row`` (token indices) that a ring or branch token reads as its size."""
    rep, out, reading = model.representation, [], 0
    for k, i in enumerate(row):
        if i == model.vocab.eos_index:
            break
        if reading:
            out.append(k)
            reading -= 1
        else:
            reading = rep.index_length(model.vocab.tokens[i])
    return out


@pytest.mark.parametrize("with_prefix", [False, True])
def test_index_temperature_zero_writes_ring_and_branch_sizes_greedily(tiny_model, sample_smiles, with_prefix):
    n, width = 64, tiny_model.config.max_length
    z = torch.randn(n, tiny_model.latent_dim, generator=torch.Generator().manual_seed(0))
    prefix = None
    if with_prefix:  # rows continue after a prefix that ends inside a ring's size or not
        tokens = [tiny_model.vocab.index_of(t) for t in tiny_model.prepare(["c1ccc2ccccc2c1"]).tokens[0]]
        cut = (
            next(k for k, t in enumerate(tokens) if tiny_model.representation.index_length(tiny_model.vocab.tokens[t]))
            + 1
        )
        prefix = torch.full((n, width), -1, dtype=torch.long)
        for i in range(n):
            prefix[i, : cut - i % 2] = torch.tensor(tokens[: cut - i % 2])
    rows = tiny_model.generate(
        z, temperature=3.0, index_temperature=0.0, prefix=prefix, generator=torch.Generator().manual_seed(1)
    )
    checked = 0
    for i, row in enumerate(rows):
        positions = [k for k in _index_positions(tiny_model, row) if prefix is None or k >= int((prefix[i] >= 0).sum())]
        if not positions:
            continue
        inputs = torch.tensor([[tiny_model.vocab.bos_index] + row[: max(positions)]])
        with torch.no_grad():
            logits, _ = tiny_model.decoder(inputs, z[i : i + 1])
        for k in positions:
            assert row[k] == int(logits[0, k].argmax())
            checked += 1
    assert checked >= 10
    same = tiny_model.generate(
        z, temperature=3.0, index_temperature=3.0, prefix=prefix, generator=torch.Generator().manual_seed(1)
    )
    plain = tiny_model.generate(z, temperature=3.0, prefix=prefix, generator=torch.Generator().manual_seed(1))
    assert same == plain != rows  # the same temperature changes nothing; a greedy size changes decodes


def test_index_length_reads_selfies_ring_and_branch_sizes():
    from molvae.data.vocab import get_representation

    selfies, smiles = get_representation("selfies"), get_representation("smiles")
    assert [selfies.index_length(t) for t in ["[Ring1]", "[=Branch2]", "[#Branch1]", "[-/Ring2]", "[C]", "[=C]"]] == [
        1,
        2,
        1,
        2,
        0,
        0,
    ]
    assert smiles.index_length("1") == 0


def test_a_banned_pick_after_a_prefix_takes_sizes_at_the_index_temperature():
    from molvae.models.nn.vae import DecodeSpec, _DecodeState, _IndexReader

    n = 64
    logits = torch.tensor([[0.0, 2.0, 1.9, 5.0]]).repeat(n, 1)
    ban = torch.tensor([False, False, False, True])
    sizes = _IndexReader(torch.zeros(4, dtype=torch.long), 0.0)  # index tokens greedy
    spec = DecodeSpec(
        temperature=5.0, ban=ban, prefix=torch.full((n, 1), -1), generator=torch.Generator().manual_seed(0)
    )

    def pick(reading):  # every row at the first position after its (empty) prefix
        zeros = torch.zeros(n, dtype=torch.long)
        state = _DecodeState(
            torch.zeros(n, 4, dtype=torch.long),
            torch.arange(n),
            zeros,
            zeros.clone(),
            torch.zeros(n, 1),
            torch.zeros(1, n, 1),
            logits,
            reading,
            sizes,
        )
        return state.choose(spec).tolist()

    assert pick(torch.ones(n, dtype=torch.long)) == [1] * n  # a size: greedy among the allowed tokens
    free = pick(torch.zeros(n, dtype=torch.long))  # not a size: sampled at T = 5, never the banned token
    assert 3 not in free and len(set(free)) == 3


def _log_likelihood(model, z, seqs):
    """Teacher-forced log probability of each token sequence (up to and with its EOS) given z."""
    eos = model.vocab.eos_index
    out = []
    for row, seq in zip(z, seqs):
        seq = seq[: seq.index(eos) + 1] if eos in seq else seq
        inputs = torch.tensor([[model.vocab.bos_index, *seq[:-1]]])
        logits, _ = model.decoder(inputs, row.unsqueeze(0))
        logp = torch.log_softmax(logits[0].float(), -1)
        out.append(float(logp[torch.arange(len(seq)), torch.tensor(seq)].sum()))
    return np.array(out)


def test_beam_search_finds_sequences_at_least_as_probable_as_greedy(tiny_model):
    tiny_model.eval()
    z = torch.randn(12, tiny_model.latent_dim, generator=torch.Generator().manual_seed(0))
    greedy = tiny_model.generate(z)
    assert tiny_model.beam_search(z, width=1) == greedy  # width 1 is greedy decoding
    beam = tiny_model.beam_search(z, width=4)
    with torch.no_grad():
        gain = _log_likelihood(tiny_model, z, beam) - _log_likelihood(tiny_model, z, greedy)
    assert (gain >= -1e-4).all() and (gain > 1e-4).any()
    with pytest.raises(InputError, match="beam width"):
        tiny_model.beam_search(z, width=0)


def test_reconstruct_with_a_beam_from_the_api_and_the_cli(tiny_model, tiny_model_path, sample_smiles, tmp_path, capsys):
    import pandas as pd

    import molvae
    from molvae.cli.main import main

    frame = molvae.reconstruct(tiny_model, sample_smiles[:20], beam_width=3)
    assert len(frame) == 20 and frame["reconstructed"].notna().any()
    pd.DataFrame({"smiles": sample_smiles[:20]}).to_csv(tmp_path / "in.csv", index=False)
    capsys.readouterr()
    assert (
        main(
            [
                "reconstruct",
                str(tmp_path / "in.csv"),
                "-o",
                str(tmp_path / "out.csv"),
                "--beam",
                "3",
                "--model",
                str(tiny_model_path),
                "-q",
            ]
        )
        == 0
    )
    written = pd.read_csv(tmp_path / "out.csv")
    assert written["reconstructed"].fillna("").tolist() == frame["reconstructed"].fillna("").tolist()
    with pytest.raises(InputError, match="beam search"):
        tiny_model.decode_detailed(np.zeros((1, tiny_model.latent_dim)), beam_width=2, temperature=1.0)

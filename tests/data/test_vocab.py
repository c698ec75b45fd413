import random

import pytest
import selfies as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from molvae import chem
from molvae.data.vocab import SPECIAL_TOKENS, TokenizeError, Vocabulary, get_representation, selfies_constraints
from molvae.errors import CheckpointError


@pytest.mark.parametrize("name", ["selfies", "smiles"])
def test_round_trip_preserves_canonical_smiles(name, sample_smiles):
    rep = get_representation(name)
    for smi in sample_smiles:
        can = chem.canonicalize(smi)[0]
        back = rep.detokenize(rep.tokenize(can))
        assert chem.canonicalize(back)[0] == can


def test_smiles_tokens_cover_string():
    tokens = get_representation("smiles").tokenize("C[C@@H](Br)c1ccc(Cl)cc1%10")
    assert tokens == ["C", "[C@@H]", "(", "Br", ")", "c", "1", "c", "c", "c", "(", "Cl", ")", "c", "c", "1", "%10"]


def test_vocabulary_is_deterministic_and_sorted(sample_smiles):
    rep = get_representation("selfies")
    token_lists = [rep.tokenize(chem.canonicalize(s)[0]) for s in sample_smiles]
    shuffled = token_lists[:]
    random.Random(1).shuffle(shuffled)
    a, b = Vocabulary.build(token_lists), Vocabulary.build(shuffled)
    assert a == b
    assert a.tokens[:4] == SPECIAL_TOKENS
    assert list(a.tokens[4:]) == sorted(a.tokens[4:])


def test_vocabulary_encode_decode_and_dict():
    vocab = Vocabulary.build([["[C]", "[O]"], ["[N]"]])
    ids = vocab.encode(["[C]", "[Cl]", "[O]"])
    assert ids[0] == vocab.bos_index and ids[-1] == vocab.eos_index
    assert ids[2] == vocab.unk_index
    assert vocab.decode(ids + [4, 4]) == ["[C]", "[O]"]
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(CheckpointError):
        Vocabulary.from_dict({"tokens": ["a", "b"]})


def test_selfies_constraints_are_restored():
    before = sf.get_semantic_constraints()
    with selfies_constraints("hypervalent"):
        assert sf.get_semantic_constraints()["S"] == 6
    assert sf.get_semantic_constraints() == before


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_tokenizers_never_crash_on_arbitrary_text(text):
    for name in ("selfies", "smiles"):
        rep = get_representation(name)
        try:
            tokens = rep.tokenize(text)
        except TokenizeError:
            continue
        assert isinstance(tokens, list)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["[C]", "[=C]", "[O]", "[N]", "[Ring1]", "[Branch1]", "[=O]", "[#N]", "[F]"]), max_size=40)
)
def test_any_selfies_token_sequence_decodes_to_valid_or_empty(tokens):
    rep = get_representation("selfies")
    smi = rep.detokenize(tokens)
    can, reason = chem.canonicalize(smi)
    assert (can is not None) or reason == "empty"

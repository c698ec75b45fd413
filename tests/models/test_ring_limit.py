"""Decoding under a ring-size limit (molvae.models.ring_limit)."""

import numpy as np
import pytest
import selfies as sf
import torch

from molvae import MolVAE, api, chem
from molvae.data.vocab import SelfiesRepresentation
from molvae.errors import InputError
from molvae.models.ring_limit import first_large_closure
from molvae.pretrained import BUNDLED_MODEL


def test_selfies_ring_closures_skip_index_tokens():
    rep = SelfiesRepresentation()
    tokens = list(sf.split_selfies(sf.encoder("c1ccccc1CC2CCC(O)C2")))
    closures = rep.ring_closures(tokens)
    assert closures == [(6, 8), (17, 19)]
    for start, end in closures:  # the closure's own tokens add exactly one ring bond
        before, after = (chem.mol_from_smiles(rep.detokenize(tokens[:k])) for k in (start, end))
        assert after.GetRingInfo().NumRings() == before.GetRingInfo().NumRings() + 1
    # a [Ring1] that serves as the index of a [Branch1] is not a closure
    assert rep.ring_closures(["[C]", "[Branch1]", "[Ring1]", "[C]", "[C]", "[C]"]) == []


def test_first_large_closure_finds_the_macrocycle():
    rep = SelfiesRepresentation()
    tokens = list(sf.split_selfies(sf.encoder("C1CCCCC1CC1CCCCCCCCCC1")))  # a 6-ring, then an 11-ring
    assert first_large_closure(rep, tokens, max_ring=8) == rep.ring_closures(tokens)[1]
    assert first_large_closure(rep, tokens, max_ring=11) is None


def test_generate_bans_tokens_right_after_the_prefix(tiny_model):
    z = torch.zeros(6, tiny_model.latent_dim)
    free = tiny_model.generate(z)
    first = free[0][0]
    ban = torch.zeros(len(tiny_model.vocab), dtype=torch.bool)
    ban[first] = True
    prefix = torch.full((6, tiny_model.config.max_length), -1, dtype=torch.long)  # empty prefixes
    banned = tiny_model.generate(z, prefix=prefix, ban=ban)
    assert all(row[0] != first for row in banned)


@pytest.fixture(scope="module")
def bundled():
    return MolVAE.load(BUNDLED_MODEL)


def test_sample_masks_large_rings_and_keeps_every_row(bundled):
    free = api.sample(bundled, 150, seed=3, max_ring=None)
    limited = api.sample(bundled, 150, seed=3, max_ring=8)
    assert len(limited) == len(free) and limited["valid"].all()
    big = np.array([chem.max_ring_size(s) > 8 for s in free["smiles"]])
    assert big.sum() >= 10  # the bundled model writes macrocycles
    # rows without a large ring are untouched; the others were decoded again, mostly under the limit
    assert (limited["smiles"][~big] == free["smiles"][~big]).all()
    assert limited["ring_masked"].to_numpy()[big].all() and not limited["ring_masked"].to_numpy()[~big].any()
    assert all(chem.max_ring_size(s) <= 8 for s in limited["smiles"])
    assert "ring_masked" not in free.columns
    with pytest.raises(InputError, match="max_ring"):
        api.sample(bundled, 5, max_ring=2)


def test_limit_around_given_molecules_keeps_their_macrocycles():
    from molvae.models.ring_limit import DEFAULT_MAX_RING, limit_for

    assert limit_for(["c1ccccc1", "CCO"]) == DEFAULT_MAX_RING
    assert limit_for(["c1ccccc1", "C1CCCCCCCCCCC1"]) == 12


def test_explore_around_a_drug_writes_no_macrocycles(bundled):
    from molvae.search.explore import explore

    found = explore(bundled, "CC(=O)Nc1ccc(O)cc1", n=60, radius=1.5, seed=0)
    assert len(found) > 5
    assert all(chem.max_ring_size(s) <= 8 for s in found["smiles"])

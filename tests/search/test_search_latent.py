"""molvae.search.latent: the helpers every search method shares, and that every method uses them."""

import logging
import math

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from molvae import chem
from molvae.data.datasets import resolve_workers
from molvae.errors import InputError
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.models.vae import DecodeResult
from molvae.search import explore, interpolate
from molvae.search.gradient import gradient_ascent
from molvae.search.latent import (
    REASON_RADICAL,
    EditWorkers,
    Ledger,
    PropertySurrogate,
    decode_checked,
    encode_one,
    encode_starts,
    predictor_estimate,
)
from molvae.search.objectives import Objective, make_objective

RADICAL = chem.canonicalize("C[CH2]")[0]


class RadicalDecoder:
    """A model whose decoder writes a radical for every other latent point (the rest as the model decodes)."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def decode_detailed(self, z, **kwargs):
        result = self.model.decode_detailed(z, **kwargs)
        smiles = [RADICAL if i % 2 == 0 else s for i, s in enumerate(result.smiles)]
        reasons = [None if i % 2 == 0 else r for i, r in enumerate(result.reasons)]
        return DecodeResult(smiles, reasons, result.raw)


class Canned:
    """A model stand-in that decodes to fixed molecules."""

    def __init__(self, smiles, reasons):
        self.result = DecodeResult(smiles, reasons, [s or "" for s in smiles])

    def decode_detailed(self, z, temperature=0.0, seed=None, max_ring=None):
        assert len(z) == len(self.result.smiles)
        return self.result


def counting_objective(calls):
    def fn(smiles, z=None):
        calls.append(list(smiles))
        return [math.nan if "N" in s else float(len(s)) for s in smiles]

    return Objective("length", "SMILES length, NaN with nitrogen", fn)


def test_encode_one_and_encode_starts(tiny_model, sample_smiles):
    smiles, mu = encode_one(tiny_model, "OCC")
    assert smiles == "CCO" and mu.shape == (tiny_model.latent_dim,)
    np.testing.assert_allclose(mu, tiny_model.encode(["CCO"]).mu[0])
    with pytest.raises(InputError, match="cannot encode lead 'C1CC'"):
        encode_one(tiny_model, "C1CC", "lead")
    names, z = encode_starts(tiny_model, [sample_smiles[0], "nope", sample_smiles[1]])
    assert len(names) == 2 and z.shape == (2, tiny_model.latent_dim)
    with pytest.raises(InputError, match="fewer than 2 molecules"):
        encode_starts(tiny_model, ["nope", sample_smiles[0]], at_least=2)
    with pytest.raises(InputError, match="no molecule of the initial library"):
        encode_starts(tiny_model, ["nope"])


def test_checked_decode_rejects_invalid_and_radicals_with_a_reason():
    model = Canned(["CCO", RADICAL, None], [None, None, "unparseable"])
    checked = decode_checked(model, np.zeros((3, 2)))
    assert checked.smiles == ["CCO", None, None]
    assert checked.reasons == [None, REASON_RADICAL, "unparseable"]
    assert checked.decoded == ["CCO", RADICAL, None]  # what the decoder wrote, radicals included
    assert decode_checked(model, np.zeros((3, 2)), reject_radicals=False).smiles == ["CCO", RADICAL, None]


def test_every_search_method_drops_radicals(tiny_model, sample_smiles):
    model = RadicalDecoder(tiny_model)
    table = interpolate(model, sample_smiles[0], sample_smiles[1], steps=4)
    rejected = table.iloc[::2]  # the points the decoder wrote a radical for
    assert rejected["smiles"].isna().all() and not rejected["valid"].any() and not rejected["new"].any()
    assert (rejected["reason"] == REASON_RADICAL).all() and (rejected["decoded"] == RADICAL).all()
    assert rejected["sim_start"].isna().all()
    assert RADICAL not in set(explore(model, sample_smiles[0], n=20, seed=0)["smiles"])
    result = gradient_ascent(
        model, make_objective("logp"), budget=10, n_starts=4, steps=4, decode_every=2, progress=False
    )
    assert RADICAL not in set(result.evaluated["smiles"])
    assert not any(chem.has_radicals(s) for s in result.evaluated["smiles"])


def test_ledger_pays_once_within_budget_and_traces_the_best():
    calls = []
    ledger = Ledger(counting_objective(calls), budget=3, latent_dim=2)
    z = np.arange(8, dtype=np.float64).reshape(4, 2)
    scores = ledger.evaluate(["CCO", "CCO", None, "CCN"], z, step=0, source="prior")
    assert calls == [["CCO", "CCN"]]  # one batch, each new molecule once
    np.testing.assert_array_equal(scores, [3.0, 3.0, np.nan, np.nan])
    assert ledger.record(0) == (3.0, "CCO")
    scores = ledger.evaluate(["CCN", "CCCC", "CCCCC"], z[:3], step=1, source="bo")  # a failure is not paid twice
    assert calls[-1] == ["CCCC"] and ledger.remaining == 0
    np.testing.assert_array_equal(scores, [np.nan, 4.0, np.nan])  # CCCCC: over budget, never scored
    ledger.record(1)
    result = ledger.result(seconds=1.0)
    assert result.evaluated["smiles"].tolist() == ["CCO", "CCN", "CCCC"]
    assert result.evaluated[["z0", "z1"]].iloc[2].tolist() == [2.0, 3.0]
    assert result.trace["best_score"].tolist() == [3.0, 4.0] and result.failed == 1
    assert result.top(1)["smiles"].tolist() == ["CCCC"]


def test_another_tautomer_or_charge_state_of_a_scored_molecule_costs_no_call():
    calls = []
    ledger = Ledger(counting_objective(calls), budget=10, latent_dim=2)
    z = np.zeros((3, 2))
    # 2-hydroxypyridine and 2-pyridone in one batch; acetic acid now and acetate later
    first = ledger.evaluate(["Oc1ccccn1", "O=c1cccc[nH]1", "CC(=O)O"], z, step=0, source="prior")
    assert calls == [["Oc1ccccn1", "CC(=O)O"]] and first[0] == first[1]
    later = ledger.evaluate(["CC(=O)[O-]", "CCO"], z[:2], step=1, source="bo")
    assert calls[-1] == ["CCO"] and later[0] == first[2]
    assert ledger.calls == 3 and ledger.skipped_forms == 2
    assert ledger.known("[O-]c1ccccn1") and not ledger.known("CCCO")
    assert ledger.result(seconds=0.0).evaluated["smiles"].tolist() == ["Oc1ccccn1", "CC(=O)O", "CCO"]


def test_a_run_where_every_molecule_scored_the_same_says_the_objective_gave_no_signal(caplog):
    flat = Objective(
        "motif",
        "1 with a motif none of these has, else 0 (NaN with nitrogen)",
        lambda smiles, z=None: [math.nan if "N" in s else float("Br" in s) for s in smiles],
    )
    ledger = Ledger(flat, budget=5, latent_dim=2)
    ledger.evaluate(["CCO", "CCN", "CCCC", "CCCCO"], np.zeros((4, 2)), step=0, source="prior")
    with caplog.at_level(logging.WARNING, logger="molvae.search.latent"):
        result = ledger.finish(1.0, stalled=0, max_stalled=10)
    assert result.extra["flat_objective"] and ledger.flat_score() == 0.0
    assert "every one of the 3 scored molecules scored 0" in caplog.text  # the failure (CCN) is not counted
    ledger.evaluate(["CCBr"], np.zeros((1, 2)), step=1, source="bo")  # one molecule that scores: a signal
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="molvae.search.latent"):
        assert not ledger.finish(1.0, stalled=0, max_stalled=10).extra["flat_objective"]
    assert "every one" not in caplog.text
    one = Ledger(flat, budget=5, latent_dim=2)
    one.evaluate(["CCO"], np.zeros((1, 2)), step=0, source="prior")
    assert one.flat_score() is None  # one molecule is not a flat objective


def test_edit_workers_give_the_same_results_and_leave_their_cores_to_them_while_they_run():
    edits = ("CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1"), 6, 3
    inline = EditWorkers(0).submit(chem.graph_edits, *edits).result()

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before, blas_before = torch.get_num_threads(), blas_threads()
    torch.set_num_threads(2)
    try:
        with EditWorkers(1) as workers:
            assert workers.submit(chem.graph_edits, *edits).result() == inline
            cores = resolve_workers(0)
            assert (workers.pool is not None) == (cores > 1)
            assert torch.get_num_threads() == (min(2, cores - 1) if workers.pool is not None else 2)  # 2 cores: 1
            if workers.pool is not None:
                assert all(n <= cores - 1 for n in blas_threads())
        assert torch.get_num_threads() == 2 and blas_threads() == blas_before  # restored
    finally:
        torch.set_num_threads(before)


def test_property_surrogate_is_the_property_head(tiny_model, sample_smiles):
    enc = tiny_model.encode(sample_smiles[:4])
    surrogate = PropertySurrogate(tiny_model, make_objective("logp"))
    j = tiny_model.property_names.index("logp")
    np.testing.assert_allclose(surrogate(enc.mu), enc.properties[:, j], rtol=1e-5)  # encode reports the same head
    predictor = make_objective("predictor:logp", tiny_model)
    np.testing.assert_allclose(predictor(sample_smiles[:4], enc.mu), surrogate(enc.mu), rtol=1e-6)
    np.testing.assert_allclose(predictor(sample_smiles[:4]), enc.properties[:, j], rtol=1e-6)
    assert "is not one" in PropertySurrogate.gap(tiny_model, make_objective("similarity:CCO"))
    assert "does not predict sa" in PropertySurrogate.gap(tiny_model, make_objective("sa"))
    with pytest.raises(InputError, match="does not predict sa"):
        PropertySurrogate(tiny_model, make_objective("sa"))
    assert predictor_estimate(tiny_model, make_objective("sa")) is None
    assert isinstance(predictor_estimate(tiny_model, make_objective("qed")), PropertySurrogate)


def test_ascent_climbs_the_surrogate_and_unfreezes_the_model(tiny_model, sample_smiles):
    surrogate = PropertySurrogate(tiny_model, make_objective("logp"))
    z0 = tiny_model.encode(sample_smiles[:3]).mu
    path = list(surrogate.ascend(z0, steps=7, learning_rate=0.1, every=3))
    assert [step for step, _ in path] == [0, 3, 6, 7]
    np.testing.assert_array_equal(path[0][1], z0)
    assert surrogate(path[-1][1]).sum() > surrogate(z0).sum()
    assert all(p.requires_grad for p in tiny_model.parameters())
    early = surrogate.ascend(z0, steps=50, learning_rate=0.1)
    next(early)
    next(early)
    assert not any(p.requires_grad for p in tiny_model.parameters())  # frozen while it runs
    early.close()  # stopped early: the weights train again
    assert all(p.requires_grad for p in tiny_model.parameters())
    assert torch.is_grad_enabled()


def test_diverse_top_keeps_hits_apart_best_first():
    from molvae.search.latent import diverse_top

    smiles = ["CCCCCCO", "CCCCCCCO", "c1ccccc1O", "CCCCCCCCO", "c1ccncc1"]
    scores = [0.9, 0.85, 0.8, 0.7, 0.1]
    assert diverse_top(smiles, scores, k=3, min_distance=0.0) == [0, 1, 2]  # no distance: the plain top
    kept = diverse_top(smiles, scores, k=3, min_distance=0.5)
    assert kept[0] == 0 and 1 not in kept and 3 not in kept  # the alcohols' homologues are near-copies
    fps = chem.morgan_fingerprints([smiles[i] for i in kept])
    sim = tanimoto_matrix(fps, fps)
    assert (sim[np.triu_indices(len(kept), 1)] <= 0.5).all()
    with pytest.raises(InputError, match="Tanimoto distance"):
        diverse_top(smiles, scores, k=3, min_distance=1.5)

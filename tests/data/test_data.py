import numpy as np

from molvae.data.datasets import BucketBatchSampler, PropertyScaler, collate, prepare_molecules, resolve_workers
from molvae.data.vocab import Vocabulary, get_representation
from molvae.utils import available_cores


def test_prepare_reasons_in_input_order():
    rep = get_representation("selfies")
    vocab = Vocabulary.build([rep.tokenize("CCO")])
    prep = prepare_molecules(["OCC", "", "C1CC", "c1ccccc1", "CCCCCCCCCC"], rep, vocab=vocab, max_tokens=5)
    assert prep.canonical[0] == "CCO"
    assert prep.reasons[0] is None
    assert prep.reasons[1] == "empty"
    assert prep.reasons[2] == "unparseable"
    assert prep.reasons[3].startswith("unknown_token")
    assert prep.reasons[4] == "too_long: 10 tokens > 5"
    assert prep.valid_mask.tolist() == [True, False, False, False, False]


def test_scaler_handles_missing_labels():
    values = np.array([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0]])
    scaler = PropertyScaler.fit(["a", "b"], values)
    assert scaler.mean == (2.0, 3.0) and scaler.std == (1.0, 1.0)
    scaled = scaler.transform(values)
    assert np.isnan(scaled[0, 1]) and scaled[1, 0] == 1.0
    np.testing.assert_allclose(scaler.inverse(scaled), values)
    assert PropertyScaler.from_dict(scaler.to_dict()) == scaler


def test_bucket_sampler_covers_all_once_and_is_seeded():
    lengths = np.random.default_rng(0).integers(5, 50, size=1000)
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=3, pool_batches=4)
    sampler.set_epoch(1)
    batches = sampler.batches()
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(sampler)
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.5 * np.ptp(lengths)  # buckets group similar lengths
    again = BucketBatchSampler(lengths, batch_size=32, seed=3, pool_batches=4)
    again.set_epoch(1)
    assert again.batches() == batches
    again.set_epoch(2)
    assert again.batches() != batches


def test_collate_pads_to_batch_longest():
    batch = collate([([1, 5, 2], np.array([0.5], dtype=np.float32)), ([1, 2], np.array([np.nan], dtype=np.float32))])
    assert batch["tokens"].tolist() == [[1, 5, 2], [1, 2, 0]]
    assert batch["lengths"].tolist() == [3, 2]
    assert np.isnan(batch["targets"][1, 0].item())


def test_property_labels_columns_then_rdkit_then_nan():
    import pandas as pd
    import pytest

    from molvae.data.datasets import property_labels
    from molvae.errors import InputError
    from molvae.io import MoleculeTable

    frame = pd.DataFrame({"smiles": ["CCO", "c1ccccc1", "CC"], "SAS": ["2.5", "", "x"], "assay": ["1", "2", ""]})
    table = MoleculeTable(frame, "smiles", None)
    labels = property_labels(table.smiles, ["sa", "heavy_atoms", "assay", "unknown"], table)
    assert labels[0, 0] == 2.5 and np.isnan(labels[1:, 0]).all()  # the file's SAS column wins over RDKit
    assert labels[:, 1].tolist() == [3.0, 6.0, 2.0]  # computed with RDKit
    assert labels[:2, 2].tolist() == [1.0, 2.0] and np.isnan(labels[2, 2])
    assert np.isnan(labels[:, 3]).all()
    with pytest.raises(InputError, match="unknown property"):
        property_labels(table.smiles, ["unknown"], table, strict=True)
    # without a table: registry names only
    assert np.isnan(property_labels(["CCO"], ["assay"])).all()


def test_zero_workers_means_the_available_cores(monkeypatch):
    assert resolve_workers(3) == 3
    assert resolve_workers(0) == available_cores()
    monkeypatch.setattr("molvae.data.datasets.available_cores", lambda: 7)  # one owner: utils counts the cores
    assert resolve_workers(0) == 7

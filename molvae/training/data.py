"""The training file as the training loop needs it: canonical molecules tokenized and indexed,
split into train and valid, with scaled property labels and the rows that could not be used.

Example:
    >>> from molvae.config import RunConfig
    >>> from molvae.io import read_molecules
    >>> data = prepare_training_data(read_molecules("data/moses_sample.csv"), RunConfig())  # doctest: +SKIP
    >>> len(data.vocab), len(data.train), len(data.valid)                                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from molvae.config import RunConfig
from molvae.data.datasets import PropertyScaler, SequenceDataset, prepare_molecules, property_labels, randomized_many
from molvae.data.vocab import Vocabulary, get_representation
from molvae.errors import InputError
from molvae.io import MoleculeTable

logger = logging.getLogger(__name__)

VALID_SPLIT_NAMES = ("valid", "val", "validation")


@dataclass
class PreparedData:
    vocab: Vocabulary
    train: SequenceDataset
    valid: SequenceDataset
    valid_smiles: list[str]
    train_smiles: list[str]
    valid_raw_props: np.ndarray
    scaler: PropertyScaler
    max_tokens: int
    rejects: pd.DataFrame
    n_rows: int


def prepare_training_data(
    table: MoleculeTable, run: RunConfig, vocab: Vocabulary | None = None, scaler: PropertyScaler | None = None
) -> PreparedData:
    """Canonicalize, tokenize, split, label and index the training file."""
    dcfg = run.data
    rep = get_representation(run.model.representation)
    n = len(table)
    names = tuple(dcfg.properties)
    for name in names:  # unknown names fail before any slow work
        table.property_column(name)
    logger.info("preparing %d molecules (%s)", n, rep.name)
    prep = prepare_molecules(
        table.smiles,
        rep,
        vocab=vocab,
        max_tokens=dcfg.max_tokens,
        keep_largest_fragment=dcfg.keep_largest_fragment,
        workers=dcfg.workers,
    )
    valid_mask = prep.valid_mask

    # split
    split = np.full(n, "train", dtype=object)
    if dcfg.split_column in table.frame.columns:
        values = table.frame[dcfg.split_column].str.strip().str.lower().to_numpy()
        split = np.where(np.isin(values, VALID_SPLIT_NAMES), "valid", np.where(values == "train", "train", "other"))
        logger.info(
            "using split column %r: %d train, %d valid, %d other rows not used",
            dcfg.split_column,
            (split == "train").sum(),
            (split == "valid").sum(),
            (split == "other").sum(),
        )
        if not (valid_mask & (split == "valid")).any() and dcfg.valid_fraction > 0:
            logger.warning(
                "split column %r has no usable valid rows; holding out %.0f%% of the train rows",
                dcfg.split_column,
                100 * dcfg.valid_fraction,
            )
    if not (valid_mask & (split == "valid")).any() and dcfg.valid_fraction > 0:
        pool = np.flatnonzero(valid_mask & (split == "train"))
        rng = np.random.default_rng(run.train.seed)
        n_valid = max(1, int(round(dcfg.valid_fraction * len(pool)))) if len(pool) > 1 else 0
        split[rng.permutation(pool)[:n_valid]] = "valid"
    # properties (file columns or RDKit by name), on the canonical molecules
    raw = property_labels([c if ok else None for c, ok in zip(prep.canonical, valid_mask)], names, table, strict=True)

    use_train = valid_mask & (split == "train")
    use_valid = valid_mask & (split == "valid")
    if use_train.sum() == 0:
        raise InputError("no usable training molecules (all rows were rejected or not in the train split)")
    if vocab is None:  # from the training rows only: valid and test molecules must not shape the model
        vocab = Vocabulary.build(t for t, ok in zip(prep.tokens, use_train) if ok)
    if scaler is None:
        scaler = PropertyScaler.fit(names, raw[use_train])
    scaled = scaler.transform(raw) if names else np.zeros((n, 0))
    seqs = [vocab.encode(t) if t is not None else [] for t in prep.tokens]
    train_idx, valid_idx = np.flatnonzero(use_train), np.flatnonzero(use_valid)
    max_tokens = max(len(seqs[i]) - 2 for i in train_idx)
    rejects = pd.DataFrame(
        {
            "row": np.flatnonzero(~valid_mask),
            "smiles": [table.smiles[i] for i in np.flatnonzero(~valid_mask)],
            "reason": [prep.reasons[i] for i in np.flatnonzero(~valid_mask)],
        }
    )
    if table.id_column:
        rejects.insert(1, table.id_column, [table.ids[i] for i in rejects["row"]])  # type: ignore[index]
    if len(rejects):
        logger.warning("%d of %d rows rejected: %s", len(rejects), n, prep.reason_counts())
    return PreparedData(
        vocab=vocab,
        train=SequenceDataset([seqs[i] for i in train_idx], scaled[train_idx]),
        valid=SequenceDataset([seqs[i] for i in valid_idx], scaled[valid_idx]),
        valid_smiles=[prep.canonical[i] for i in valid_idx],  # type: ignore[misc]
        train_smiles=[prep.canonical[i] for i in train_idx],  # type: ignore[misc]
        valid_raw_props=raw[valid_idx],
        scaler=scaler,
        max_tokens=max_tokens,
        rejects=rejects,
        n_rows=n,
    )


def epoch_training_set(data: PreparedData, run: RunConfig, epoch: int) -> SequenceDataset:
    """The training set of one epoch: with ``run.data.augment_fraction`` > 0, that share of the
    molecules (drawn anew each epoch) is written from a random SMILES of the molecule, where its
    tokens fit the vocabulary and the model's length limit. Every draw follows from (seed, epoch), so
    a resumed run sees the same epochs; the targets and the canonical rows are unchanged."""
    share = run.data.augment_fraction
    if share <= 0:
        return data.train
    rng = np.random.default_rng([run.train.seed, epoch, 0x5EED])
    chosen = np.flatnonzero(rng.random(len(data.train)) < share)
    seeds = rng.integers(2**31, size=len(chosen))
    variants = randomized_many(
        [data.train_smiles[i] for i in chosen],
        seeds.tolist(),
        get_representation(run.model.representation),
        data.vocab,
        run.model.max_length - 2,
        workers=run.data.workers,
    )
    sequences = list(data.train.sequences)
    used = 0
    for i, seq in zip(chosen, variants):
        if seq is not None:
            sequences[i] = seq
            used += 1
    logger.info(
        "epoch %d: %d of %d training molecules written from a random SMILES (%d kept canonical: "
        "outside the vocabulary or the length limit)",
        epoch + 1,
        used,
        len(sequences),
        len(chosen) - used,
    )
    return SequenceDataset(sequences, data.train.targets)

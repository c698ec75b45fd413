"""From SMILES to padded index tensors: preparation with reasons, property scaling, batching.

Example:
    >>> from molvae.data.vocab import get_representation
    >>> prep = prepare_molecules(["OCC", "not a smiles"], get_representation("selfies"))
    >>> prep.canonical, prep.reasons
    (['CCO', None], [None, 'unparseable'])
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from molvae import chem
from molvae.data.vocab import REASON_TOO_LONG, REASON_UNKNOWN_TOKEN, Representation, TokenizeError, Vocabulary
from molvae.utils import available_cores, process_pool

logger = logging.getLogger(__name__)


def property_labels(
    smiles: Sequence[str | None], names: Sequence[str], table=None, *, strict: bool = False
) -> np.ndarray:
    """Property labels, ``len(smiles) x len(names)`` floats, the one place they are computed.

    For each name: the matching column of ``table`` (a :class:`molvae.io.MoleculeTable`, row-aligned
    with ``smiles``; exact, case-insensitive or an alias such as SAS), else the RDKit registry
    property of that name computed on ``smiles`` (one parse per molecule for all of them), else NaN.
    Blank or non-numeric cells and molecules RDKit cannot read are NaN (missing labels). With
    ``strict``, a name that is neither a column nor a registry property raises InputError.

    Example:
        >>> property_labels(["CCO", None], ["heavy_atoms", "my_assay"]).tolist()
        [[3.0, nan], [nan, nan]]
    """
    from molvae.errors import InputError

    out = np.full((len(smiles), len(names)), np.nan, dtype=np.float64)
    to_compute: dict[int, str] = {}
    for j, name in enumerate(names):
        column = None
        if table is not None:
            try:
                column = table.property_column(name)
            except InputError:
                if strict:
                    raise
                continue  # a user-defined property without a column in this file
        if column is not None:
            out[:, j] = table.numeric_column(column)
        elif name.lower() in chem.PROPERTIES or name.lower() in chem.PROPERTY_ALIASES:
            to_compute[j] = name
        elif strict:
            chem.property_spec(name)  # raises the one-line error listing the known names
    if to_compute:
        logger.info("computing %s with RDKit", ", ".join(to_compute.values()))
        values = chem.compute_properties(smiles, list(to_compute.values()))
        for k, j in enumerate(to_compute):
            out[:, j] = values[:, k]
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass
class PreparedMolecules:
    """Per input molecule: canonical SMILES, tokens and a rejection reason (parallel lists)."""

    canonical: list[str | None]
    tokens: list[list[str] | None]
    reasons: list[str | None]

    @property
    def valid_mask(self) -> np.ndarray:
        return np.array([r is None for r in self.reasons], dtype=bool)

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.reasons:
            if r is not None:
                key = r.split(":")[0]
                counts[key] = counts.get(key, 0) + 1
        return counts


def prepare_molecules(
    smiles: Sequence[str],
    representation: Representation,
    vocab: Vocabulary | None = None,
    max_tokens: int = 0,
    keep_largest_fragment: bool = False,
    workers: int = 1,
) -> PreparedMolecules:
    """Canonicalize with RDKit and tokenize; never raises on a bad molecule.

    With ``vocab`` given, molecules with tokens outside it are rejected (``unknown_token: ...``);
    with ``max_tokens`` > 0, longer token lists are rejected (``too_long``). ``workers`` > 1 spreads
    large inputs over processes (0: all cores); results keep input order.
    """
    job = functools.partial(
        prepare_serial,
        representation=representation,
        vocab=vocab,
        max_tokens=max_tokens,
        keep_largest_fragment=keep_largest_fragment,
    )
    parts = _in_chunks(job, workers, smiles)
    return PreparedMolecules(
        [c for p in parts for c in p.canonical],
        [t for p in parts for t in p.tokens],
        [r for p in parts for r in p.reasons],
    )


PARALLEL_CHUNK = 5000


def _in_chunks(job: functools.partial, workers: int, *columns: Sequence) -> list:
    """``job`` on chunks of ``PARALLEL_CHUNK`` rows of the columns, over ``workers`` processes (0: all
    cores) when the input is large enough to repay them, else once in this process; its results in order."""
    workers = resolve_workers(workers)
    n = len(columns[0])
    if workers <= 1 or n < 4 * PARALLEL_CHUNK:
        return [job(*columns)]
    starts = range(0, n, PARALLEL_CHUNK)
    with process_pool(workers) as pool:
        return list(pool.map(job, *([list(c[i : i + PARALLEL_CHUNK]) for i in starts] for c in columns)))


def randomized_sequences(
    smiles: Sequence[str], seeds: Sequence[int], representation: Representation, vocab: Vocabulary, max_tokens: int
) -> list[list[int] | None]:
    """Index sequences of one random SMILES of each molecule (:func:`molvae.chem.random_smiles`,
    seeded per molecule); None where the variant has a token outside ``vocab`` or more than
    ``max_tokens`` tokens, or cannot be tokenized (the caller keeps the canonical sequence)."""
    out: list[list[int] | None] = []
    with representation.context():
        for variant in chem.random_smiles(smiles, seeds):
            try:
                toks = representation._tokenize(variant) if variant else None
            except TokenizeError:
                toks = None
            ok = bool(toks) and not vocab.unknown_tokens(toks) and len(toks) <= max_tokens
            out.append(vocab.encode(toks) if ok else None)
    return out


def randomized_many(
    smiles: Sequence[str],
    seeds: Sequence[int],
    representation: Representation,
    vocab: Vocabulary,
    max_tokens: int,
    workers: int = 1,
) -> list[list[int] | None]:
    """:func:`randomized_sequences` spread over ``workers`` processes (0: all cores) for large inputs;
    the result depends only on the seeds, not on the number of workers."""
    job = functools.partial(randomized_sequences, representation=representation, vocab=vocab, max_tokens=max_tokens)
    return [seq for part in _in_chunks(job, workers, smiles, seeds) for seq in part]


def resolve_workers(workers: int) -> int:
    """A worker count as given, 0 meaning every core this process may use (:func:`molvae.utils.available_cores`)."""
    return workers if workers > 0 else available_cores()


def prepare_serial(
    smiles: Sequence[str],
    representation: Representation,
    vocab: Vocabulary | None,
    max_tokens: int,
    keep_largest_fragment: bool,
) -> PreparedMolecules:
    """:func:`prepare_molecules` in this process (worker processes and the streaming encoder's chunk
    workers call it directly)."""
    canonical, reasons = chem.canonicalize_many(smiles, keep_largest_fragment=keep_largest_fragment)
    tokens: list[list[str] | None] = [None] * len(canonical)
    with representation.context():
        for i, can in enumerate(canonical):
            if can is None:
                continue
            try:
                toks = representation._tokenize(can)
            except TokenizeError as exc:
                reasons[i] = str(exc)
                canonical[i] = None
                continue
            if not toks:
                reasons[i] = chem.REASON_EMPTY
                canonical[i] = None
                continue
            if vocab is not None:
                unknown = vocab.unknown_tokens(toks)
                if unknown:
                    reasons[i] = f"{REASON_UNKNOWN_TOKEN}: {' '.join(sorted(set(unknown)))}"
                    canonical[i] = None
                    continue
            if max_tokens and len(toks) > max_tokens:
                reasons[i] = f"{REASON_TOO_LONG}: {len(toks)} tokens > {max_tokens}"
                canonical[i] = None
                continue
            tokens[i] = toks
    return PreparedMolecules(canonical, tokens, reasons)


@dataclass(frozen=True)
class PropertyScaler:
    """Standardizes properties with training-set mean and std; NaN (missing) stays NaN."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, names: Sequence[str], values: np.ndarray) -> PropertyScaler:
        """``values``: ``n x len(names)`` with NaN for missing labels."""
        means, stds = [], []
        for j, name in enumerate(names):
            col = values[:, j]
            col = col[np.isfinite(col)]
            if col.size == 0:
                logger.warning("property %s has no labels in the training data", name)
                means.append(0.0)
                stds.append(1.0)
                continue
            means.append(float(col.mean()))
            std = float(col.std())
            stds.append(std if std > 1e-8 else 1.0)
        return cls(tuple(names), tuple(means), tuple(stds))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * np.asarray(self.std) + np.asarray(self.mean)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> PropertyScaler:
        return cls(tuple(data["names"]), tuple(float(x) for x in data["mean"]), tuple(float(x) for x in data["std"]))


class SequenceDataset(torch.utils.data.Dataset):
    """Index sequences (BOS ... EOS) with standardized property targets (NaN = missing)."""

    def __init__(self, sequences: list[list[int]], targets: np.ndarray | None = None) -> None:
        self.sequences = sequences
        n_props = 0 if targets is None else targets.shape[1]
        self.targets = (
            np.zeros((len(sequences), 0), dtype=np.float32) if targets is None else targets.astype(np.float32)
        )
        self.lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        self.n_properties = n_props

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[list[int], np.ndarray]:
        return self.sequences[i], self.targets[i]


def collate(batch: list[tuple[list[int], np.ndarray]], pad_index: int = 0) -> dict[str, torch.Tensor]:
    """Pad each batch only to its own longest sequence."""
    lengths = torch.tensor([len(s) for s, _ in batch], dtype=torch.long)
    tokens = torch.full((len(batch), int(lengths.max())), pad_index, dtype=torch.long)
    for i, (s, _) in enumerate(batch):
        tokens[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    targets = torch.from_numpy(np.stack([t for _, t in batch])) if batch else torch.zeros(0, 0)
    return {"tokens": tokens, "lengths": lengths, "targets": targets}


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of similar length (less padding), in a seeded random order.

    Indices are shuffled, cut into pools of ``pool_batches`` batches, sorted by length inside each
    pool, cut into batches, and the batches shuffled. ``set_epoch`` makes each epoch's order a
    function of (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
    With ``world_size`` > 1 (distributed training) process ``rank`` takes every ``world_size``-th
    batch of that order; every process gets the same number of batches (the few left over are
    dropped), as DistributedDataParallel needs.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        pool_batches: int = 50,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.rank, self.world_size = rank, world_size
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        every = self._all_batches()
        if self.world_size == 1:
            return every
        per_rank = len(every) // self.world_size
        return every[self.rank :: self.world_size][:per_rank]

    def _all_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        out: list[list[int]] = []
        for start in range(0, n, self.pool):
            pool = order[start : start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            out.extend(pool[i : i + self.batch_size].tolist() for i in range(0, len(pool), self.batch_size))
        rng.shuffle(out)  # type: ignore[arg-type]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        if not self.shuffle:
            total = -(-n // self.batch_size)
        else:
            total = sum(-(-min(self.pool, n - s) // self.batch_size) for s in range(0, n, self.pool))
        return total if self.world_size == 1 else total // self.world_size

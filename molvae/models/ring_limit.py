"""Decoding with a ring-size limit: a ring closure that would make a ring of more than ``max_ring``
atoms is a token the decoder may not write.

The mask is applied lazily, by backtracking: a row is decoded as usual; if its molecule has a ring
over the limit, the first ring closure (in token order) whose prefix molecule has such a ring is
found, and the row is decoded again from the tokens before it, with every ring-closure token banned
at that position (the decoder writes what else it prefers there, and goes on as usual). That
repeats up to ``tries`` times per row; a row still over the limit then has its over-limit ring
closures left out of its tokens (the ring stays open). The result is one decode per latent point,
never a dropped or resampled point: the same as masking those tokens at decode time, at the cost
of re-decoding only the rows that needed it. Rings of more than eight atoms are about a quarter of the bundled
model's raw samples and almost absent from ZINC.

Example:
    >>> frame = molvae.sample(model, 1000, max_ring=8)                 # doctest: +SKIP
    >>> frame["ring_masked"].mean()                                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from molvae import chem

logger = logging.getLogger(__name__)

DEFAULT_TRIES = 4
DEFAULT_MAX_RING = 8  # what `molvae sample` uses; chosen on the ZINC250k valid split (model card)


def limit_for(smiles: Sequence[str]) -> int:
    """The ring limit for decoding around given molecules (explore, interpolate): the default, or the
    largest ring among them when that is larger, so a macrocycle the user gave stays reachable."""
    return max([DEFAULT_MAX_RING, *(chem.max_ring_size(s) for s in smiles)])


def ring_token_mask(tokens: Sequence[str]) -> torch.Tensor:
    """A vocabulary-long bool mask of the tokens that open a ring closure."""
    return torch.tensor(["Ring" in t for t in tokens], dtype=torch.bool)


def first_large_closure(representation, tokens: Sequence[str], max_ring: int) -> tuple[int, int] | None:
    """``(start, end)`` token positions of the first ring closure whose prefix molecule has a ring of
    more than ``max_ring`` atoms; None when no single closure can be blamed."""
    for start, end in representation.ring_closures(tokens):
        if chem.max_ring_size(representation.detokenize(tokens[:end])) > max_ring:
            return start, end
    return None


def _token_positions(vocab, seq: Sequence[int]) -> list[int]:
    """Positions in ``seq`` of the tokens :meth:`molvae.data.vocab.Vocabulary.decode` keeps."""
    out = []
    for k, i in enumerate(seq):
        if i == vocab.eos_index:
            break
        if i not in (vocab.pad_index, vocab.bos_index, vocab.unk_index):
            out.append(k)
    return out


@dataclass(frozen=True)
class Redecoded:
    """One row as the ring limit left it: its tokens, canonical SMILES (None if invalid), the reason,
    the raw decoded string and whether the repair changed it."""

    tokens: list[int]
    smiles: str | None
    reason: str | None
    raw: str
    repaired: bool


@dataclass
class RingLimitResult:
    """What :func:`limit_rings` changed: ``rows`` (row index -> :class:`Redecoded`) and ``masked``
    (a bool array over all rows: decoded again or cut under the limit)."""

    rows: dict[int, Redecoded]
    masked: np.ndarray


def limit_rings(
    model,
    seqs: list[list[int]],
    smiles: Sequence[str | None],
    max_ring: int,
    regenerate: Callable[[np.ndarray, np.ndarray, torch.Tensor], list[list[int]]],
    repair: bool = True,
    tries: int = DEFAULT_TRIES,
    ring_sizes: Sequence[int] | None = None,
) -> RingLimitResult:
    """The rows decoded again with over-limit ring closures masked (see the module docstring), as a
    :class:`RingLimitResult`. ``regenerate(rows, prefix, ban)`` decodes ``rows``
    (indices into ``seqs``) with ``prefix`` (``len(rows) x max_length``, -1 padded) forced and
    ``ban`` masked right after it; ``repair`` as in :meth:`molvae.models.vae.MolVAE.tokens_to_molecules`;
    ``ring_sizes``: each row's largest ring when already known (else read from ``smiles``)."""
    seqs = list(seqs)
    smiles = list(smiles)
    redone: dict[int, Redecoded] = {}
    masked = np.zeros(len(seqs), dtype=bool)
    ban = ring_token_mask(model.vocab.tokens)
    width = model.config.max_length
    sizes = list(ring_sizes) if ring_sizes is not None else [chem.max_ring_size(s) for s in smiles]
    pending = [i for i, s in enumerate(smiles) if s is not None and sizes[i] > max_ring]
    for _ in range(tries):
        rows, cuts = [], []
        for i in pending:  # only rows over the limit can be again (rows within it are never re-decoded)
            if smiles[i] is None or sizes[i] <= max_ring:
                continue
            kept = _token_positions(model.vocab, seqs[i])  # decode() skips special tokens
            span = first_large_closure(model.representation, [model.vocab.tokens[seqs[i][k]] for k in kept], max_ring)
            if span is not None:
                rows.append(i)
                cuts.append(kept[span[0]])
        if not rows:
            break
        prefix = np.full((len(rows), width), -1, dtype=np.int64)
        for j, (i, cut) in enumerate(zip(rows, cuts)):
            prefix[j, :cut] = seqs[i][:cut]
        new = regenerate(np.array(rows), prefix, ban)
        res = model.tokens_to_molecules(new, repair=repair)
        for j, i in enumerate(rows):
            seqs[i], smiles[i] = new[j], res.smiles[j]
            sizes[i] = res.max_ring[j] if res.max_ring else chem.max_ring_size(res.smiles[j])
            redone[i] = Redecoded(new[j], res.smiles[j], res.reasons[j], res.raw[j], res.repaired[j])
        masked[rows] = True
        pending = rows
    _drop_large_closures(model, seqs, smiles, max_ring, repair, redone, masked, pending)
    logger.debug("ring limit %d: %d of %d rows decoded again", max_ring, int(masked.sum()), len(seqs))
    return RingLimitResult(redone, masked)


def _drop_large_closures(
    model,
    seqs: list[list[int]],
    smiles: list[str | None],
    max_ring: int,
    repair: bool,
    redone: dict[int, Redecoded],
    masked: np.ndarray,
    pending: Sequence[int],
) -> None:
    """Rows still over the limit after the tries: their over-limit ring closures are left out of
    the tokens (the ring stays open), so the limit holds for every row it can be traced in."""
    rows, cut = [], []
    for i in pending:
        if smiles[i] is None or chem.max_ring_size(smiles[i]) <= max_ring:
            continue
        seq = [seqs[i][k] for k in _token_positions(model.vocab, seqs[i])]
        changed = False
        while (
            span := first_large_closure(model.representation, [model.vocab.tokens[t] for t in seq], max_ring)
        ) is not None:
            seq = seq[: span[0]] + seq[span[1] :]
            changed = True
        if changed:
            rows.append(i)
            cut.append(seq + [model.vocab.eos_index])
    if not rows:
        return
    res = model.tokens_to_molecules(cut, repair=repair)
    for j, i in enumerate(rows):
        seqs[i], smiles[i] = cut[j], res.smiles[j]
        redone[i] = Redecoded(cut[j], res.smiles[j], res.reasons[j], res.raw[j], res.repaired[j])
    masked[rows] = True

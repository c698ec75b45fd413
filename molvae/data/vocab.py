"""Tokenizers for SELFIES and SMILES, and the Vocabulary that maps tokens to indices.

A representation turns a canonical SMILES into a list of tokens and a list of tokens back into a
(not yet validated) SMILES string. The vocabulary is built from training data, sorted so that it is
deterministic, and stored in checkpoints as plain lists.

Example:
    >>> rep = get_representation("selfies")
    >>> rep.tokenize("CCO")
    ['[C]', '[C]', '[O]']
    >>> vocab = Vocabulary.build([["[C]", "[O]"]])
    >>> vocab.encode(["[C]", "[O]"])
    [1, 4, 5, 2]
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import selfies as sf

from molvae.errors import CheckpointError, InputError

logger = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)

REASON_TOKENIZE = "untokenizable"
REASON_UNKNOWN_TOKEN = "unknown_token"
REASON_TOO_LONG = "too_long"

# One SMILES token: a bracket atom, a two-letter organic-subset halogen, a one-letter atom, a bond,
# a branch, a ring-closure digit or a two-digit %nn ring closure.
_SMILES_TOKEN = re.compile(r"\[[^\[\]]+\]|Br|Cl|%\d{2}|[BCNOPSFIbcnops]|[()=#\-+\\/:~@?>*$.]|\d")


class TokenizeError(ValueError):
    """A string that a representation cannot turn into tokens (carries the reason)."""


@contextlib.contextmanager
def selfies_constraints(preset: str = "default") -> Iterator[None]:
    """Run SELFIES encoding/decoding under the named semantic-constraint preset, then restore.

    selfies keeps its constraints in module-level state; setting them explicitly here means our
    decoding never depends on what another library left behind.
    """
    previous = sf.get_semantic_constraints()
    sf.set_semantic_constraints(preset)
    try:
        yield
    finally:
        sf.set_semantic_constraints(previous)


class Representation:
    """A string representation of molecules.

    Subclasses implement ``_tokenize``/``_detokenize``; the public methods run them inside
    :meth:`context` (for SELFIES, its explicitly set semantic constraints). Batch code enters the
    context once and calls the underscored methods.
    """

    name: str = ""

    def context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def _tokenize(self, smiles: str) -> list[str]:
        raise NotImplementedError

    def _detokenize(self, tokens: Sequence[str]) -> str:
        raise NotImplementedError

    def tokenize(self, smiles: str) -> list[str]:
        """Tokens of a (canonical) SMILES; raises :class:`TokenizeError` with a reason."""
        with self.context():
            return self._tokenize(smiles)

    def detokenize(self, tokens: Sequence[str]) -> str:
        """A SMILES string (not yet validated) from tokens; "" when nothing can be made of them."""
        with self.context():
            return self._detokenize(tokens)

    def detokenize_many(self, token_lists: Iterable[Sequence[str]]) -> list[str]:
        with self.context():
            return [self._detokenize(t) for t in token_lists]

    def ring_closures(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        """``(start, end)`` token positions of each ring closure a decoder wrote, in order: the
        molecule of ``tokens[:end]`` has the ring bond, that of ``tokens[:start]`` does not.
        Empty where the representation does not say (then no ring limit applies)."""
        return []

    def index_length(self, token: str) -> int:
        """How many of the following tokens ``token`` reads as a number (a ring's or branch's size)
        rather than as atoms; 0 for most tokens and for representations without index tokens."""
        return 0


class SelfiesRepresentation(Representation):
    """SELFIES (Krenn et al. 2020): every token sequence decodes to a molecule."""

    name = "selfies"

    def __init__(self, constraints: str = "default") -> None:
        self.constraints = constraints

    def context(self) -> contextlib.AbstractContextManager:
        return selfies_constraints(self.constraints)

    def _tokenize(self, smiles: str) -> list[str]:
        try:
            encoded = sf.encoder(smiles, strict=True)
        except Exception as exc:  # selfies raises EncoderError and others on odd input
            raise TokenizeError(
                f"{REASON_TOKENIZE}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        if encoded is None:
            raise TokenizeError(REASON_TOKENIZE)
        return list(sf.split_selfies(encoded))

    def index_length(self, token: str) -> int:
        # [RingN] and [BranchN] tokens (with a bond prefix such as [=Ring1]) read the next N tokens as
        # an index, whatever those are.
        if ("Ring" in token or "Branch" in token) and len(token) > 2 and token[-2].isdigit():
            return int(token[-2])
        return 0

    def ring_closures(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        # A ring closure spans its [RingN] token and its index tokens.
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(tokens):
            reads = self.index_length(tokens[i])
            if not reads:
                i += 1
                continue
            end = i + 1 + reads
            if "Ring" in tokens[i]:
                out.append((i, min(end, len(tokens))))
            i = end
        return out

    def _detokenize(self, tokens: Sequence[str]) -> str:
        try:
            return sf.decoder("".join(tokens)) or ""
        except Exception as exc:
            logger.debug("selfies decoding failed: %s", exc)
            return ""


class SmilesRepresentation(Representation):
    """Plain SMILES split into atoms, bonds, branches and ring closures."""

    name = "smiles"

    def _tokenize(self, smiles: str) -> list[str]:
        tokens = _SMILES_TOKEN.findall(smiles)
        if "".join(tokens) != smiles:
            raise TokenizeError(REASON_TOKENIZE)
        return tokens

    def _detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)


REPRESENTATIONS: dict[str, type[Representation]] = {
    "selfies": SelfiesRepresentation,
    "smiles": SmilesRepresentation,
}


def get_representation(name: str) -> Representation:
    """Return a representation by registry name; raises InputError listing the known ones."""
    if name not in REPRESENTATIONS:
        raise InputError(f"unknown representation {name!r}; choose from: {', '.join(REPRESENTATIONS)}")
    return REPRESENTATIONS[name]()


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> index map; index 0 is padding, then beginning, end and unknown markers."""

    tokens: tuple[str, ...]
    # Every vocabulary starts with SPECIAL_TOKENS, so their indices are the same in all of them.
    pad_index: ClassVar[int] = SPECIAL_TOKENS.index(PAD)
    bos_index: ClassVar[int] = SPECIAL_TOKENS.index(BOS)
    eos_index: ClassVar[int] = SPECIAL_TOKENS.index(EOS)
    unk_index: ClassVar[int] = SPECIAL_TOKENS.index(UNK)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise CheckpointError(f"vocabulary must start with {SPECIAL_TOKENS}")
        if len(set(self.tokens)) != len(self.tokens):
            raise CheckpointError("vocabulary has duplicate tokens")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]]) -> Vocabulary:
        """Collect every token seen; sorted so the same data always gives the same vocabulary."""
        seen: set[str] = set()
        for tokens in token_lists:
            seen.update(tokens)
        seen.difference_update(SPECIAL_TOKENS)
        return cls(SPECIAL_TOKENS + tuple(sorted(seen)))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    def index_of(self, token: str) -> int:
        """The index of a known token (KeyError for an unknown one)."""
        return self._index[token]  # type: ignore[attr-defined]

    def unknown_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Tokens that this vocabulary does not know."""
        return [t for t in tokens if t not in self._index]  # type: ignore[attr-defined]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Indices framed by BOS and EOS; unknown tokens map to UNK."""
        index = self._index  # type: ignore[attr-defined]
        return [self.bos_index] + [index.get(t, self.unk_index) for t in tokens] + [self.eos_index]

    def index_array(self, token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Token lists -> (``n x T`` int16 index matrix, BOS ... EOS, zero-padded; ``n`` lengths)."""
        seqs = [self.encode(t) for t in token_lists]
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        out = np.full((len(seqs), int(lengths.max()) if len(seqs) else 0), self.pad_index, dtype=np.int16)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = s
        return out, lengths

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Tokens up to the first EOS, skipping BOS, padding and UNK."""
        out = []
        for i in indices:
            i = int(i)
            if i == self.eos_index:
                break
            if i in (self.pad_index, self.bos_index, self.unk_index):
                continue
            out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        try:
            return cls(tuple(str(t) for t in data["tokens"]))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint vocabulary is malformed: {exc}") from None

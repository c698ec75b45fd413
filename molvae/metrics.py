"""Generation and reconstruction metrics on lists of SMILES.

Example:
    >>> validity(["CCO", None, "c1ccccc1"])
    0.6666666666666666
    >>> uniqueness(["CCO", "CCO", "CCN"])
    0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def validity(smiles: Sequence[str | None]) -> float:
    """Fraction of entries that are valid molecules (non-None, as returned by MolVAE.decode)."""
    return sum(s is not None for s in smiles) / len(smiles) if len(smiles) else 0.0


def uniqueness(smiles: Sequence[str | None]) -> float:
    """Distinct valid molecules over valid molecules."""
    valid = [s for s in smiles if s is not None]
    return len(set(valid)) / len(valid) if valid else 0.0


def novelty(smiles: Sequence[str | None], reference: Iterable[str]) -> float:
    """Fraction of distinct valid molecules absent from ``reference`` (canonical SMILES)."""
    unique = {s for s in smiles if s is not None}
    if not unique:
        return 0.0
    ref = set(reference)
    return len(unique - ref) / len(unique)


def reconstruction_accuracy(inputs: Sequence[str | None], outputs: Sequence[str | None]) -> float:
    """Exact canonical-SMILES matches over the inputs that are valid."""
    pairs = [(a, b) for a, b in zip(inputs, outputs) if a is not None]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0

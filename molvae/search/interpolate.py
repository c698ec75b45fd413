"""Walk between two molecules in latent space and decode every point.

Example:
    >>> table = interpolate(model, "CC(=O)Oc1ccccc1C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", steps=10)  # doctest: +SKIP
    >>> table[["t", "smiles", "sim_start", "sim_end"]]                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from molvae import chem
from molvae.errors import InputError
from molvae.metrics import tanimoto_matrix
from molvae.model import MolVAE

logger = logging.getLogger(__name__)

METHODS = ("linear", "slerp")


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between vectors ``a`` and ``b`` (``d``) at fractions ``t`` (``n``) -> ``n x d``.

    Falls back to linear interpolation when the vectors are (nearly) parallel.
    """
    a, b, t = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), np.asarray(t, dtype=np.float64)
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


def encode_one(model: MolVAE, smiles: str, what: str = "molecule") -> tuple[str, np.ndarray]:
    """Canonical SMILES and latent mean of one molecule; InputError with the reason if it cannot be encoded."""
    enc = model.encode([smiles])
    if not enc.valid[0]:
        raise InputError(f"cannot encode {what} {smiles!r}: {enc.reasons[0]}")
    return enc.smiles[0], enc.mu[0]  # type: ignore[return-value]


def interpolate(model: MolVAE, start: str, end: str, steps: int = 10, method: str = "linear") -> pd.DataFrame:
    """Decode ``steps`` + 1 evenly spaced points from the latent mean of ``start`` to that of ``end``.

    Returns one row per point: ``step``, ``t``, ``smiles`` (None if invalid), ``valid``,
    ``new`` (True at the first appearance of a valid molecule along the path), and Tanimoto
    similarities ``sim_start``/``sim_end`` to the two end molecules.
    """
    if method not in METHODS:
        raise InputError(f"unknown interpolation method {method!r}; choose from {', '.join(METHODS)}")
    if steps < 1:
        raise InputError("steps must be at least 1")
    a_smiles, a = encode_one(model, start, "start molecule")
    b_smiles, b = encode_one(model, end, "end molecule")
    t = np.linspace(0.0, 1.0, steps + 1)
    z = slerp(a, b, t) if method == "slerp" else (1 - t)[:, None] * a + t[:, None] * b
    decoded = model.decode(z.astype(np.float32))
    fps = chem.morgan_fingerprints(decoded)
    ends = chem.morgan_fingerprints([a_smiles, b_smiles])
    sims = tanimoto_matrix(fps, ends)
    seen: set[str] = set()
    new = []
    for s in decoded:
        new.append(s is not None and s not in seen)
        if s is not None:
            seen.add(s)
    valid = np.array([s is not None for s in decoded])
    return pd.DataFrame({"step": np.arange(steps + 1), "t": t, "smiles": decoded, "valid": valid, "new": new,
                         "sim_start": np.where(valid, sims[:, 0], np.nan),
                         "sim_end": np.where(valid, sims[:, 1], np.nan)})

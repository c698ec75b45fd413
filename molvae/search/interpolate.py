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
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.models.ring_limit import limit_for
from molvae.models.vae import MolVAE
from molvae.search.latent import decode_checked, encode_one, recovery

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


def interpolate(model: MolVAE, start: str, end: str, steps: int = 10, method: str = "linear") -> pd.DataFrame:
    """Decode ``steps`` + 1 evenly spaced points from the latent mean of ``start`` to that of ``end``.

    Every point is decoded with the chemistry policy of all search methods
    (:func:`molvae.search.latent.decode_checked`): a point whose decoded molecule is invalid or carries
    unpaired electrons (a radical such as ``[CH]``) yields no molecule, like a point that decodes to
    nothing, so the path lists only molecules BO, explore and improve would also propose. Ring
    closures over the ring limit (:func:`molvae.models.ring_limit.limit_for` of the two ends) are masked.

    Returns one row per point: ``step``, ``t``, ``smiles`` (the molecule, None where rejected),
    ``valid`` (a molecule was accepted), ``new`` (True at the first appearance of an accepted molecule
    along the path), Tanimoto similarities ``sim_start``/``sim_end`` to the two end molecules (NaN
    where rejected), ``reason`` (why a point was rejected: the decoder's reason, or ``"radical"``) and
    ``decoded`` (what the decoder wrote, canonical, shown even for a rejected radical; None if unreadable),
    and ``start_recovered`` / ``end_recovered``: the Tanimoto similarity of what each end's latent point
    decodes to to that end molecule (1.0: it comes back exactly; below 1 the path starts or ends at
    another molecule, and a warning says so).
    """
    if method not in METHODS:
        raise InputError(f"unknown interpolation method {method!r}; choose from {', '.join(METHODS)}")
    if steps < 1:
        raise InputError("steps must be at least 1")
    a_smiles, a = encode_one(model, start, "start molecule")
    b_smiles, b = encode_one(model, end, "end molecule")
    t = np.linspace(0.0, 1.0, steps + 1)
    z = slerp(a, b, t) if method == "slerp" else (1 - t)[:, None] * a + t[:, None] * b
    max_ring = limit_for([a_smiles, b_smiles])
    checked = decode_checked(model, z, max_ring=max_ring)
    back_a = recovery(model, a_smiles, a, "start molecule", max_ring)
    back_b = recovery(model, b_smiles, b, "end molecule", max_ring)
    fps = chem.morgan_fingerprints(checked.smiles)
    ends = chem.morgan_fingerprints([a_smiles, b_smiles])
    sims = tanimoto_matrix(fps, ends)
    seen: set[str] = set()
    new = []
    for s in checked.smiles:
        new.append(s is not None and s not in seen)
        if s is not None:
            seen.add(s)
    valid = np.array([s is not None for s in checked.smiles])
    return pd.DataFrame(
        {
            "step": np.arange(steps + 1),
            "t": t,
            "smiles": checked.smiles,
            "valid": valid,
            "new": new,
            "sim_start": np.where(valid, sims[:, 0], np.nan),
            "sim_end": np.where(valid, sims[:, 1], np.nan),
            "reason": checked.reasons,
            "decoded": checked.decoded,
            "start_recovered": back_a.similarity,
            "end_recovered": back_b.similarity,
        }
    )

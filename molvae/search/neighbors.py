"""Nearest library compounds in latent space: after optimizing a latent point, find the closest
molecules that exist (and can be bought or made) in an encoded library.

The library is a table written by ``molvae encode`` (``smiles``, latent means ``z0..``, ``valid``, and
any id column); the index is scikit-learn's ``NearestNeighbors`` (Euclidean on latent means).

Example:
    >>> lib = LatentLibrary.from_file("library.parquet")                          # doctest: +SKIP
    >>> lib.query(model.encode(["CCO"]).mu, k=5, query_smiles=["CCO"])             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import chem
from molvae.errors import InputError
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.io import read_frame

logger = logging.getLogger(__name__)


class LatentLibrary:
    """Encoded library molecules (``n x d`` latent means) behind a nearest-neighbour index."""

    def __init__(self, frame: pd.DataFrame, z: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        if len(frame) == 0:
            raise InputError("the library has no encoded molecules")
        self.frame = frame.reset_index(drop=True)
        self.z = np.ascontiguousarray(z, dtype=np.float32)
        self.index = NearestNeighbors().fit(self.z)

    @property
    def latent_dim(self) -> int:
        return self.z.shape[1]

    @classmethod
    def from_file(cls, path: str | Path) -> LatentLibrary:
        """Read a ``molvae encode`` output; rows without a latent vector (invalid inputs) are left out."""
        path = Path(path)
        if not path.exists():
            raise InputError(f"library file not found: {path}")
        frame = read_frame(path)
        zcols = sorted(
            (c for c in frame.columns if str(c).startswith("z") and str(c)[1:].isdigit()), key=lambda c: int(str(c)[1:])
        )
        if not zcols or "smiles" not in frame.columns:
            raise InputError(
                f"{path} is not an encoded library (write one with 'molvae encode LIB -o "
                f"{path.name}'); columns: {', '.join(map(str, frame.columns))}"
            )
        z = frame[zcols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32)
        ok = np.isfinite(z).all(axis=1)
        if (~ok).any():
            logger.info("%d library rows without a latent vector (invalid inputs) are not searched", int((~ok).sum()))
        keep = [c for c in frame.columns if c not in zcols and not str(c).startswith("logvar")]
        return cls(frame.loc[ok, keep], z[ok])

    def query(
        self, z: np.ndarray, k: int = 10, query_smiles: Sequence[str | None] | None = None, rerank: bool = False
    ) -> pd.DataFrame:
        """The ``k`` nearest library molecules of each query latent (``q x d``), one row per (query, hit):
        ``query``, ``rank``, ``distance``, the library columns, and ``similarity`` (Tanimoto to the query
        molecule) when ``query_smiles`` is given; ``rerank`` orders each query's hits by similarity."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise InputError(
                f"query latents must be n x {self.latent_dim} (the library's latent size); "
                f"got {tuple(z.shape)}: was the library encoded with this model?"
            )
        if k < 1:
            raise InputError("k must be at least 1")
        k = min(k, len(self.z))
        rows = []
        finite = np.isfinite(z).all(axis=1)
        if finite.any():
            dist, idx = self.index.kneighbors(z[finite], n_neighbors=k)
        q_rows = np.flatnonzero(finite)
        for j, q in enumerate(q_rows):
            hits = self.frame.iloc[idx[j]].copy()
            hits.insert(0, "distance", dist[j])
            hits.insert(0, "rank", np.arange(1, k + 1))
            hits.insert(0, "query", q)
            if query_smiles is not None and query_smiles[q]:
                sims = tanimoto_matrix(
                    chem.morgan_fingerprints(hits["smiles"].tolist()), chem.morgan_fingerprints([query_smiles[q]])
                )[:, 0]
                hits["similarity"] = sims
                if rerank:
                    hits = hits.sort_values("similarity", ascending=False, kind="stable")
                    hits["rank"] = np.arange(1, k + 1)
            rows.append(hits)
        if not rows:
            return pd.DataFrame(columns=["query", "rank", "distance", *self.frame.columns])
        return pd.concat(rows, ignore_index=True)

"""An exact Gaussian process on molecular fingerprints with the Tanimoto kernel, and batch selection
by upper confidence bound with hallucinated observations.

The kernel is ``k(a, b) = s2 * T(a, b)`` with ``T`` the Tanimoto similarity of Morgan bit vectors
(Ralaivola et al. 2005; used as a molecular BO surrogate by Tripp et al., "A fresh look at de novo
molecular design benchmarks", NeurIPS 2021 workshop, and in PMO's GP BO). Hyperparameters: a constant
mean (the mean of the data), the noise ratio ``r`` chosen from a grid by marginal likelihood (a
Cholesky factor per grid value) and the signal variance ``s2`` in closed form.

Batch selection (:meth:`TanimotoGP.select`) is GP-BUCB (Desautels et al., JMLR 2014): pick the
candidate with the highest ``mean + beta * sd``, then shrink every other candidate's ``sd`` as if the
pick had been observed (the mean is left unchanged), and repeat; near-duplicates of a pick lose
their bonus, so a batch spreads over distinct promising regions.

Example:
    >>> gp = TanimotoGP.fit(fingerprints, scores)                  # doctest: +SKIP
    >>> mean, sd = gp.predict(candidate_fingerprints)               # doctest: +SKIP
    >>> order = gp.select(candidate_fingerprints, 10, beta=1.0)      # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from molvae.evaluation.metrics import tanimoto_matrix

logger = logging.getLogger(__name__)

NOISE_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)  # noise variance over signal variance


@dataclass
class TanimotoGP:
    """A fitted GP: training fingerprints ``X`` (``n x bits``), the constant ``mean``, signal variance
    ``s2``, noise ratio ``noise``, and ``alpha = (T + noise I)^-1 (y - mean)`` with the Cholesky factor
    ``chol`` of ``T + noise I``."""

    X: np.ndarray
    mean: float
    s2: float
    noise: float
    alpha: np.ndarray
    chol: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, grid: tuple[float, ...] = NOISE_GRID) -> TanimotoGP:
        """Fit to fingerprints ``X`` (``n x bits``, n >= 2) and finite scores ``y`` (``n``)."""
        X = np.asarray(X)
        y = np.asarray(y, dtype=np.float64)
        K = tanimoto_matrix(X, X).astype(np.float64)
        mean = float(y.mean())
        r = y - mean
        n = len(y)
        eye = np.eye(n)
        best = None  # (log likelihood, noise, Cholesky factor, alpha)
        for noise in grid:  # profile likelihood: s2 at its optimum for each noise ratio
            try:
                chol = np.linalg.cholesky(K + noise * eye)
            except np.linalg.LinAlgError:
                continue
            alpha = _chol_solve(chol, r)
            s2 = max(float(r @ alpha) / n, 1e-12)
            ll = -0.5 * n * np.log(s2) - float(np.sum(np.log(np.diag(chol))))
            if best is None or ll > best[0]:
                best = (ll, noise, chol, alpha)
        if best is None:
            raise np.linalg.LinAlgError("the Tanimoto kernel matrix is not positive definite at any noise level")
        _, best, chol, alpha = best
        s2 = max(float(r @ alpha) / n, 1e-12)
        logger.debug("Tanimoto GP on %d points: noise ratio %.3g, signal sd %.3g", n, best, np.sqrt(s2))
        return cls(X, mean, s2, best, alpha, chol)

    def _cross(self, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Similarities of candidates to the training points (``m x n``) and ``L^-1`` of them (``n x m``)."""
        k = tanimoto_matrix(np.asarray(Xc), self.X).astype(np.float64)
        v = _lower_solve(self.chol, k.T)
        return k, v

    def predict(self, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at candidates (``m`` each)."""
        k, v = self._cross(Xc)
        mean = self.mean + k @ self.alpha
        var = self.s2 * np.clip(1.0 - np.sum(v * v, axis=0), 1e-12, None)
        return mean, np.sqrt(var)

    def select(
        self, Xc: np.ndarray, q: int, beta: float = 1.0, accept: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> list[int]:
        """Up to ``q`` candidate indices, in pick order, by GP-BUCB (see the module docstring).
        ``accept(indices) -> bool mask``: a check run on the next-best candidates before they are taken
        (rejected ones are never picked and do not shrink the others)."""
        return list(self._bucb(np.asarray(Xc), q, beta, accept))

    def _bucb(self, Xc: np.ndarray, q: int, beta: float, accept) -> Iterator[int]:
        m = len(Xc)
        if m == 0 or q <= 0:
            return
        k, v = self._cross(Xc)
        mean = self.mean + k @ self.alpha
        var = np.clip(1.0 - np.sum(v * v, axis=0), 1e-12, None)  # in units of s2
        bits = Xc.astype(np.float32)  # once, for the similarity of each pick to every candidate
        ones = bits.sum(1)
        picked_cov: list[np.ndarray] = []  # posterior covariance of every candidate with each pick
        picked_var: list[float] = []
        alive = np.ones(m, dtype=bool)
        checked = np.zeros(m, dtype=bool)
        taken = 0
        while taken < q and alive.any():
            score = np.where(alive, mean + beta * np.sqrt(self.s2 * var), -np.inf)
            j = int(np.argmax(score))
            if accept is not None and not checked[j]:  # one at a time: a rejected candidate never
                checked[j] = True  # changes the others, so checking only the next pick is enough
                if not bool(np.asarray(accept(np.array([j])), dtype=bool)[0]):
                    alive[j] = False
                    continue
            alive[j] = False
            taken += 1
            yield j
            # the pick's posterior covariance with every candidate, given the earlier picks as observed
            inter = bits @ bits[j]
            union = ones + ones[j] - inter
            sim = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(np.float64)
            cov = sim - v.T @ v[:, j]
            for c, pv in zip(picked_cov, picked_var):
                cov -= c * c[j] / pv
            pv = float(var[j]) + self.noise
            var = np.clip(var - cov * cov / pv, 1e-12, None)
            picked_cov.append(cov)
            picked_var.append(pv)


def _lower_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(L, B, lower=True, check_finite=False)


def _chol_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.linalg import cho_solve

    return cho_solve((L, True), b, check_finite=False)

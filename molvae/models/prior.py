"""A prior fitted to the aggregate posterior: where the encoder actually puts molecules.

A VAE trained with a small KL weight leaves its codes in a region that N(0, I) covers badly (Rosca
et al. 2018, "Distribution matching in variational inference"; Tomczak and Welling 2018,
VampPrior): decoding standard-normal draws then yields molecules from the holes between codes.
:class:`MixturePrior` is a Gaussian mixture fitted (scikit-learn) to draws from
``q(z) = mean_x q(z | x)`` over training molecules, stored as plain tensors in the checkpoint and
sampled instead of N(0, I) wherever the model draws latent points (sample, explore, optimize).

Example:
    >>> import numpy as np
    >>> mu, logvar = np.random.default_rng(0).normal(size=(500, 4)), np.full((500, 4), -2.0)
    >>> prior = MixturePrior.fit(mu, logvar, n_components=2, seed=0)
    >>> prior.sample(3, seed=0).shape
    (3, 4)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from molvae.errors import CheckpointError

logger = logging.getLogger(__name__)

PRIOR_KINDS = ("auto", "fitted", "standard")


@dataclass(frozen=True)
class MixturePrior:
    """``K`` full-covariance Gaussians: ``weights`` (``K``), ``means`` (``K x d``), ``cholesky``
    (``K x d x d`` lower-triangular factors of the covariances)."""

    weights: np.ndarray
    means: np.ndarray
    cholesky: np.ndarray
    n_fit: int = 0

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @classmethod
    def fit(
        cls, mu: np.ndarray, logvar: np.ndarray, n_components: int = 16, draws_per_molecule: int = 1, seed: int = 0
    ) -> MixturePrior:
        """Fit to ``draws_per_molecule`` posterior draws ``mu + sigma * eps`` of each encoded molecule
        (``mu``, ``logvar``: ``n x d``)."""
        from sklearn.mixture import GaussianMixture

        rng = np.random.default_rng(seed)
        mu, logvar = np.asarray(mu, dtype=np.float64), np.asarray(logvar, dtype=np.float64)
        ok = np.isfinite(mu).all(1) & np.isfinite(logvar).all(1)
        mu, logvar = mu[ok], logvar[ok]
        if len(mu) < 2 * n_components:
            raise ValueError(f"need at least {2 * n_components} encoded molecules to fit {n_components} components")
        z = np.concatenate(
            [mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape) for _ in range(draws_per_molecule)]
        )
        gmm = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-4, random_state=seed, max_iter=200)
        gmm.fit(z)
        logger.info(
            "fitted a %d-component prior to %d latent draws (converged: %s)", n_components, len(z), gmm.converged_
        )
        chol = np.linalg.cholesky(gmm.covariances_)
        return cls(gmm.weights_.astype(np.float64), gmm.means_.astype(np.float64), chol.astype(np.float64), len(z))

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n x d`` float32 draws."""
        rng = np.random.default_rng(seed)
        weights = self.weights / self.weights.sum()
        comp = rng.choice(len(weights), size=n, p=weights)
        eps = rng.standard_normal((n, self.dim))
        z = self.means[comp] + np.einsum("nij,nj->ni", self.cholesky[comp], eps)
        return z.astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "kind": "gaussian_mixture",
            "weights": torch.from_numpy(self.weights.copy()),
            "means": torch.from_numpy(self.means.copy()),
            "cholesky": torch.from_numpy(self.cholesky.copy()),
            "n_fit": int(self.n_fit),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MixturePrior:
        try:
            if data.get("kind") != "gaussian_mixture":
                raise ValueError(f"unknown prior kind {data.get('kind')!r}")
            prior = cls(
                data["weights"].double().numpy(),
                data["means"].double().numpy(),
                data["cholesky"].double().numpy(),
                int(data.get("n_fit", 0)),
            )
        except (KeyError, AttributeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint prior is malformed: {exc}") from None
        k, d = prior.means.shape
        if prior.weights.shape != (k,) or prior.cholesky.shape != (k, d, d):
            raise CheckpointError("checkpoint prior is malformed: inconsistent shapes")
        return prior

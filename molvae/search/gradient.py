"""Gradient ascent on latent points against the jointly trained property predictor.

The predictor is a cheap surrogate (:class:`molvae.search.latent.PropertySurrogate`); decoded molecules
(the search chemistry policy: valid, no radicals) are re-scored with the true objective, and those scores
(oracle calls, cached, within a budget) are what the result reports.

Example:
    >>> result = gradient_ascent(model, make_objective("logp"), budget=100)   # doctest: +SKIP
    >>> result.top(5)                                                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import numpy as np
import torch

from molvae.errors import InputError
from molvae.models.vae import MolVAE
from molvae.search.latent import Ledger, OptimizationResult, PropertySurrogate, decode_checked, encode_starts
from molvae.search.objectives import Objective

PRIOR_WEIGHT = 1e-3  # a weak pull towards the prior keeps z where the decoder has been trained


def gradient_ascent(
    model: MolVAE,
    objective: Objective,
    budget: int = 300,
    n_starts: int = 10,
    steps: int = 200,
    learning_rate: float = 0.05,
    decode_every: int = 10,
    init_smiles: Sequence[str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> OptimizationResult:
    """Adam on latent points against the property-predictor surrogate of ``objective``; every
    ``decode_every`` steps the points are decoded and new molecules re-scored with the true objective
    (oracle calls, at most ``budget``). Starts: the initial library's latent means, else prior draws."""
    gap = PropertySurrogate.gap(model, objective)
    if gap is not None:
        raise InputError(f"gradient ascent needs an objective the property predictor covers; {gap}")
    surrogate = PropertySurrogate(model, objective)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if init_smiles is not None:
        z0 = encode_starts(model, init_smiles)[1][:n_starts]
    else:
        z0 = rng.standard_normal((n_starts, model.latent_dim)).astype(np.float32)
    ledger = Ledger.counted(objective, budget, model.latent_dim, progress, verb="gradient")
    path = surrogate.ascend(z0, steps, learning_rate, every=decode_every, prior_weight=PRIOR_WEIGHT)
    try:
        with contextlib.closing(path):
            for step, z in path:
                ledger.evaluate(decode_checked(model, z).smiles, z.astype(np.float64), step, "gradient")
                ledger.record(step)
                if ledger.remaining <= 0:
                    break
    finally:
        ledger.bar.close()
    return ledger.result(time.perf_counter() - t0)

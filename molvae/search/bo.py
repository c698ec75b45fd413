"""Bayesian optimization in latent space with BoTorch.

Each proposal is decoded to an RDKit-valid canonical molecule; only molecules never seen before
cost an oracle call (a cache holds every score), and the budget counts oracle calls.

Example:
    >>> result = optimize(model, make_objective("qed"), BOConfig(budget=100))   # doctest: +SKIP
    >>> result.top(5)                                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from molvae.errors import ConfigError, InputError
from molvae.model import MolVAE
from molvae.search.objectives import Objective

logger = logging.getLogger(__name__)

ACQUISITIONS = ("qlognei", "qlogei", "ucb")


@dataclass(frozen=True)
class BOConfig:
    """Settings of a latent-space Bayesian optimization run."""

    budget: int = 300  # oracle calls, initial data included
    batch_size: int = 10  # q: proposals per step
    n_init: int = 50  # prior samples evaluated first when no initial library is given
    acquisition: str = "qlognei"
    ucb_beta: float = 2.0
    trust_region: bool = False  # TuRBO-style box around the incumbent (Eriksson et al. 2019)
    tr_length_init: float = 0.8
    tr_length_min: float = 0.05
    tr_length_max: float = 1.6
    num_restarts: int = 4
    raw_samples: int = 256
    max_gp_points: int = 600  # the best and the most recent points are kept when there are more
    bounds_margin: float = 0.1  # search box: the initial latents' range, widened by this fraction
    max_stalled_steps: int = 10  # stop after this many steps without a new molecule
    seed: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1 or self.batch_size < 1 or self.n_init < 2:
            raise ConfigError("budget and batch size must be >= 1 and n_init >= 2")
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(f"acquisition must be one of {', '.join(ACQUISITIONS)}")


@dataclass
class OptimizationResult:
    """``evaluated``: one row per oracle call (``call``, ``step``, ``source``, ``smiles``, ``score``,
    latent ``z0..``); ``trace``: best-so-far after each step; ``failed``: molecules whose score was NaN."""

    evaluated: pd.DataFrame
    trace: pd.DataFrame
    objective: str
    seconds: float
    extra: dict = field(default_factory=dict)

    def top(self, k: int = 10) -> pd.DataFrame:
        ok = self.evaluated[np.isfinite(self.evaluated["score"])]
        return ok.sort_values("score", ascending=False, kind="stable").head(k)[["smiles", "score", "step", "call"]]


class _Ledger:
    """Every oracle call, the cache of scores by molecule, and the budget."""

    def __init__(self, objective: Objective, budget: int, latent_dim: int, bar) -> None:
        self.objective, self.budget, self.bar = objective, budget, bar
        self.cache: dict[str, float] = {}
        self.rows: list[dict] = []
        self.latent_dim = latent_dim

    @property
    def calls(self) -> int:
        return len(self.rows)

    @property
    def remaining(self) -> int:
        return self.budget - self.calls

    def evaluate(self, smiles: Sequence[str | None], z: np.ndarray, step: int, source: str) -> np.ndarray:
        """Scores for decoded molecules (NaN for invalid); pays only for new molecules, within budget."""
        new: list[int] = []
        seen_now: set[str] = set()
        for i, s in enumerate(smiles):
            if s is not None and s not in self.cache and s not in seen_now and len(new) < self.remaining:
                new.append(i)
                seen_now.add(s)
        if new:
            scores = self.objective([smiles[i] for i in new], z[new])
            for i, score in zip(new, scores):
                score = float(score)
                self.cache[smiles[i]] = score  # NaN (a failure) is cached too: never paid twice
                self.rows.append({"call": self.calls + 1, "step": step, "source": source, "smiles": smiles[i],
                                  "score": score, **{f"z{j}": float(v) for j, v in enumerate(z[i])}})
            self.bar.update(len(new))
        return np.array([self.cache.get(s, math.nan) if s is not None else math.nan for s in smiles])

    def best(self) -> tuple[float, str | None]:
        finite = [(r["score"], r["smiles"]) for r in self.rows if math.isfinite(r["score"])]
        return max(finite) if finite else (-math.inf, None)

    def frame(self) -> pd.DataFrame:
        columns = ["call", "step", "source", "smiles", "score"] + [f"z{j}" for j in range(self.latent_dim)]
        return pd.DataFrame(self.rows, columns=columns)


def _initial(model: MolVAE, ledger: _Ledger, config: BOConfig, init_smiles: Sequence[str] | None,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if init_smiles is not None:
        enc = model.encode(init_smiles)
        ok = np.flatnonzero(enc.valid)
        if len(ok) < 2:
            raise InputError("the initial library has fewer than 2 molecules this model can encode")
        if len(ok) < len(init_smiles):
            logger.warning("%d of %d initial molecules cannot be encoded and are skipped",
                           len(init_smiles) - len(ok), len(init_smiles))
        z = enc.mu[ok]
        smiles = [enc.smiles[i] for i in ok]
        source = "init"
    else:
        z = rng.standard_normal((config.n_init, model.latent_dim)).astype(np.float32)
        smiles = model.decode(z)
        source = "prior"
    scores = ledger.evaluate(smiles, z, 0, source)
    return z.astype(np.float64), scores


def _fit_gp(X: torch.Tensor, Y: torch.Tensor, bounds: torch.Tensor):
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    gp = SingleTaskGP(X, Y, input_transform=Normalize(X.shape[-1], bounds=bounds),
                      outcome_transform=Standardize(m=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    return gp


def _select(X: np.ndarray, Y: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the points the GP is fitted on: all, or the best half and the most recent half."""
    if len(X) <= limit:
        return np.arange(len(X))
    best = np.argsort(-Y)[: limit // 2]
    recent = np.arange(len(X) - (limit - len(best)), len(X))
    return np.unique(np.concatenate([best, recent]))


def optimize(model: MolVAE, objective: Objective, config: BOConfig | None = None,
             init_smiles: Sequence[str] | None = None, progress: bool = True) -> OptimizationResult:
    """Maximize ``objective`` over molecules decoded from the latent space, within ``config.budget``
    oracle calls: initial data (a library, or prior samples), then GP + Log-EI-family (or UCB) batches."""
    from botorch.acquisition import qUpperConfidenceBound
    from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
    from botorch.optim import optimize_acqf

    config = config or BOConfig()
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    bar = tqdm(total=config.budget, desc=f"optimize {objective.name}", unit="call", disable=not progress,
               file=sys.stderr)
    ledger = _Ledger(objective, config.budget, model.latent_dim, bar)
    z0, y0 = _initial(model, ledger, config, init_smiles, rng)
    finite = np.isfinite(y0)
    if finite.sum() < 2:
        bar.close()
        raise InputError("fewer than 2 initial molecules have a finite score; nothing to fit a GP on")
    X, Y = z0[finite], y0[finite]
    lo, hi = X.min(0), X.max(0)
    span = np.maximum(hi - lo, 1e-3)
    bounds_np = np.stack([lo - config.bounds_margin * span, hi + config.bounds_margin * span])
    bounds = torch.tensor(bounds_np, dtype=torch.float64)
    trace = [{"step": 0, "calls": ledger.calls, "best_score": ledger.best()[0], "best_smiles": ledger.best()[1]}]
    length, successes, failures = config.tr_length_init, 0, 0
    fail_tol = max(4, math.ceil(model.latent_dim / config.batch_size))
    step, stalled = 0, 0
    while ledger.remaining > 0 and stalled < config.max_stalled_steps:
        step += 1
        keep = _select(X, Y, config.max_gp_points)
        train_X = torch.tensor(X[keep], dtype=torch.float64)
        train_Y = torch.tensor(Y[keep], dtype=torch.float64).unsqueeze(-1)
        gp = _fit_gp(train_X, train_Y, bounds)
        if config.acquisition == "ucb":
            acqf = qUpperConfidenceBound(gp, beta=config.ucb_beta)
        elif config.acquisition == "qlogei":
            acqf = qLogExpectedImprovement(gp, best_f=train_Y.max())
        else:
            acqf = qLogNoisyExpectedImprovement(gp, X_baseline=train_X, prune_baseline=True)
        box = bounds
        if config.trust_region:
            center = torch.tensor(X[int(np.argmax(Y))], dtype=torch.float64)
            half = 0.5 * length * (bounds[1] - bounds[0])
            box = torch.stack([torch.maximum(center - half, bounds[0]), torch.minimum(center + half, bounds[1])])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cand, _ = optimize_acqf(acqf, bounds=box, q=config.batch_size, num_restarts=config.num_restarts,
                                    raw_samples=config.raw_samples)
        z = cand.detach().numpy()
        before_best, before_calls = ledger.best()[0], ledger.calls
        smiles = model.decode(z.astype(np.float32))
        scores = ledger.evaluate(smiles, z, step, "bo")
        ok = np.isfinite(scores)
        X, Y = np.concatenate([X, z[ok]]), np.concatenate([Y, scores[ok]])
        stalled = stalled + 1 if ledger.calls == before_calls else 0
        improved = ledger.best()[0] > before_best + 1e-3 * abs(before_best)
        if config.trust_region:
            successes, failures = (successes + 1, 0) if improved else (0, failures + 1)
            if successes >= 3:
                length, successes = min(2 * length, config.tr_length_max), 0
            elif failures >= fail_tol:
                length, failures = length / 2, 0
                if length < config.tr_length_min:
                    logger.info("trust region collapsed; restarting it")
                    length = config.tr_length_init
        best = ledger.best()
        trace.append({"step": step, "calls": ledger.calls, "best_score": best[0], "best_smiles": best[1]})
        bar.set_postfix(best=f"{best[0]:.4g}", refresh=False)
    bar.close()
    if stalled >= config.max_stalled_steps:
        logger.warning("stopped after %d steps without a new molecule (%d of %d calls used)",
                       stalled, ledger.calls, config.budget)
    return OptimizationResult(ledger.frame(), pd.DataFrame(trace), objective.name, time.perf_counter() - t0)


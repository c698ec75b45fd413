"""Bayesian optimization in latent space with BoTorch.

Each proposal is decoded with the search chemistry policy (:func:`molvae.search.latent.decode_checked`:
valid, no radicals); only molecules never seen before cost an oracle call (the
:class:`~molvae.search.latent.Ledger` caches every score), and the budget counts oracle calls.

Example:
    >>> result = optimize(model, make_objective("qed"), BOConfig(budget=100))   # doctest: +SKIP
    >>> result.top(5)                                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from molvae.errors import ConfigError, InputError
from molvae.models.vae import MolVAE
from molvae.search.latent import Ledger, OptimizationResult, decode_checked, encode_starts, predictor_estimate
from molvae.search.objectives import Objective

logger = logging.getLogger(__name__)

ACQUISITIONS = ("qlognei", "qlogei", "ucb")


PROPOSALS = ("pool", "continuous")


@dataclass(frozen=True)
class BOConfig:
    """Settings of a latent-space Bayesian optimization run.

    ``proposals="pool"`` (default) maximizes the acquisition over a pool of latent points drawn around
    the best molecules so far (and from the prior) that were decoded *before* choosing, so every
    proposal is a valid molecule never scored before; ``"continuous"`` maximizes it over the search
    box with ``optimize_acqf`` (gradient-based), and proposals that decode to invalid or known
    molecules cost a step but no oracle call.
    """

    budget: int = 300  # oracle calls, initial data included
    batch_size: int = 10  # q: proposals per step
    n_init: int = 50  # prior samples evaluated first when no initial library is given
    acquisition: str = "qlognei"
    proposals: str = "pool"
    pool_size: int = 512  # latent points decoded per step (pool proposals)
    pool_centers: int = 10  # best molecules the local part of the pool is drawn around
    pool_global_fraction: float = 0.1  # share of the pool drawn from the prior instead
    prescreen: int = 64  # pool points kept by analytic LogEI/UCB before the batch acquisition
    ucb_beta: float = 2.0
    trust_region: bool = False  # TuRBO-style box around the incumbent (Eriksson et al. 2019)
    tr_length_init: float = 0.8
    tr_length_min: float = 0.05
    tr_length_max: float = 1.6
    num_restarts: int = 4  # continuous proposals: optimize_acqf restarts
    raw_samples: int = 256
    max_gp_points: int = 400  # the best and the most recent points are kept when there are more
    gp_maxiter: int = 100  # L-BFGS iterations per hyperparameter fit (warm-started from the last one)
    gp_refit_every: int = 3  # steps between hyperparameter fits; in between the GP only takes the new data
    bounds_margin: float = 0.1  # search box: the initial latents' range, widened by this fraction
    use_predictor: bool = (
        True  # pool proposals: the property predictor's estimate of the objective is an extra GP input
    )
    reject_radicals: bool = True  # decoded molecules with unpaired electrons are not proposed
    max_stalled_steps: int = 10  # stop after this many steps without a new molecule
    seed: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1 or self.batch_size < 1 or self.n_init < 2:
            raise ConfigError("budget and batch size must be >= 1 and n_init >= 2")
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(f"acquisition must be one of {', '.join(ACQUISITIONS)}")
        if self.proposals not in PROPOSALS:
            raise ConfigError(f"proposals must be one of {', '.join(PROPOSALS)}")
        if self.pool_size < self.batch_size or not 0 <= self.pool_global_fraction <= 1:
            raise ConfigError("pool_size must be >= batch_size and pool_global_fraction in [0, 1]")


def _initial(
    model: MolVAE, ledger: Ledger, config: BOConfig, init_smiles: Sequence[str] | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if init_smiles is not None:
        smiles, z = encode_starts(model, init_smiles, at_least=2)
        source = "init"
    else:
        z = rng.standard_normal((config.n_init, model.latent_dim)).astype(np.float32)
        smiles = decode_checked(model, z, config.reject_radicals).smiles
        source = "prior"
    scores = ledger.evaluate(smiles, z, 0, source)
    return z.astype(np.float64), scores


def _fit_gp(X: torch.Tensor, Y: torch.Tensor, bounds: torch.Tensor, previous=None, maxiter: int = 100):
    """SingleTaskGP with normalized inputs and standardized outputs; one L-BFGS run of at most
    ``maxiter`` iterations, warm-started from the previous step's hyperparameters."""
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim.fit import fit_gpytorch_mll_scipy
    from gpytorch.mlls import ExactMarginalLogLikelihood

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # botorch warns when inputs leave the unit cube; the box is a guide
        gp = SingleTaskGP(
            X, Y, input_transform=Normalize(X.shape[-1], bounds=bounds), outcome_transform=Standardize(m=1)
        )
        if previous is not None:
            for name in ("covar_module", "likelihood", "mean_module"):
                getattr(gp, name).load_state_dict(getattr(previous, name).state_dict())
        if maxiter <= 0:
            return gp.eval()
        mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
        mll.train()
        try:
            fit_gpytorch_mll_scipy(mll, options={"maxiter": maxiter})
        except Exception as exc:  # numerical trouble: keep the hyperparameters it started from
            logger.debug("GP fit failed (%s); keeping the previous hyperparameters", exc)
        mll.eval()
    return gp


def _select(X: np.ndarray, Y: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the points the GP is fitted on: all, or the best half and the most recent half."""
    if len(X) <= limit:
        return np.arange(len(X))
    best = np.argsort(-Y)[: limit // 2]
    recent = np.arange(len(X) - (limit - len(best)), len(X))
    return np.unique(np.concatenate([best, recent]))


def _pool(
    model: MolVAE,
    X: np.ndarray,
    Y: np.ndarray,
    box: np.ndarray,
    scale: float,
    config: BOConfig,
    rng: np.random.Generator,
    known: dict[str, float],
) -> tuple[np.ndarray, list[str]]:
    """Latent points around the best molecules (a random subset of dimensions moved by a log-uniform
    radius times ``scale`` times the box width) and from the prior, decoded; only points that decode to
    distinct molecules not in ``known`` are returned: ``m x latent_dim`` and their SMILES."""
    n, d = config.pool_size, X.shape[1]
    n_global = int(round(n * config.pool_global_fraction))
    n_local = n - n_global
    order = np.argsort(-Y, kind="stable")[: config.pool_centers]
    weights = 1.0 / (1.0 + np.arange(len(order)))
    centers = X[rng.choice(order, size=n_local, p=weights / weights.sum())]
    radius = scale * np.exp(rng.uniform(np.log(0.01), np.log(0.3), size=(n_local, 1)))
    moved = rng.random((n_local, d)) < min(1.0, 20.0 / d)
    moved[np.arange(n_local), rng.integers(0, d, n_local)] = True  # at least one dimension each
    local = centers + moved * rng.standard_normal((n_local, d)) * radius * (box[1] - box[0])
    z = np.concatenate([local, rng.standard_normal((n_global, d))])
    z = np.clip(z, box[0], box[1])
    smiles = decode_checked(model, z, config.reject_radicals).smiles
    keep, seen = [], set()
    for i, s in enumerate(smiles):
        if s is not None and s not in known and s not in seen:
            keep.append(i)
            seen.add(s)
    return z[keep], [smiles[i] for i in keep]


def _acquisition(gp, config: BOConfig, train_X: torch.Tensor, train_Y: torch.Tensor, analytic: bool = False):
    from botorch.acquisition import qUpperConfidenceBound
    from botorch.acquisition.analytic import LogExpectedImprovement, UpperConfidenceBound
    from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement

    if analytic:
        if config.acquisition == "ucb":
            return UpperConfidenceBound(gp, beta=config.ucb_beta)
        return LogExpectedImprovement(gp, best_f=train_Y.max())
    if config.acquisition == "ucb":
        return qUpperConfidenceBound(gp, beta=config.ucb_beta)
    if config.acquisition == "qlogei":
        return qLogExpectedImprovement(gp, best_f=train_Y.max())
    return qLogNoisyExpectedImprovement(gp, X_baseline=train_X, prune_baseline=True)


def _choose(gp, config: BOConfig, train_X: torch.Tensor, train_Y: torch.Tensor, pool: np.ndarray) -> np.ndarray:
    """Indices of the q pool points the batch acquisition picks (sequential greedy), after a
    prescreen of the pool with the analytic version of the acquisition."""
    from botorch.optim import optimize_acqf_discrete

    choices = torch.tensor(pool, dtype=torch.float64)
    index = np.arange(len(pool))
    if len(pool) > config.prescreen:
        with torch.no_grad():
            screen = _acquisition(gp, config, train_X, train_Y, analytic=True)(choices.unsqueeze(1))
        index = np.sort(np.argsort(-screen.numpy(), kind="stable")[: config.prescreen])
        choices = choices[index]
    q = min(config.batch_size, len(choices))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        picked, _ = optimize_acqf_discrete(_acquisition(gp, config, train_X, train_Y), q=q, choices=choices)
    rows = [int(torch.nonzero((choices == row).all(dim=1))[0]) for row in picked]
    return index[rows]


def optimize(
    model: MolVAE,
    objective: Objective,
    config: BOConfig | None = None,
    init_smiles: Sequence[str] | None = None,
    progress: bool = True,
) -> OptimizationResult:
    """Maximize ``objective`` over molecules decoded from the latent space, within ``config.budget``
    oracle calls: initial data (a library, or prior samples), then GP + Log-EI-family (or UCB) batches.
    Ctrl-C stops the run and returns what was evaluated so far (``result.extra["interrupted"]``)."""
    from botorch.optim import optimize_acqf

    config = config or BOConfig()
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    ledger = Ledger.counted(objective, config.budget, model.latent_dim, progress)
    stalled = 0
    with ledger.running():
        z0, y0 = _initial(model, ledger, config, init_smiles, rng)
        finite = np.isfinite(y0)
        if finite.sum() < 2:
            raise InputError("fewer than 2 initial molecules have a finite score; nothing to fit a GP on")
        X, Y = z0[finite], y0[finite]
        lo, hi = X.min(0), X.max(0)
        span = np.maximum(hi - lo, 1e-3)
        bounds_np = np.stack([lo - config.bounds_margin * span, hi + config.bounds_margin * span])
        estimate = predictor_estimate(model, objective) if config.use_predictor and config.proposals == "pool" else None

        def gp_inputs(z: np.ndarray) -> np.ndarray:  # the latent point, and the predictor's estimate if used
            return z if estimate is None else np.column_stack([z, estimate(z)])

        gp_box = bounds_np
        if estimate is not None:
            f = estimate(X)
            f_span = max(float(f.max() - f.min()), 1e-3)
            gp_box = np.column_stack(
                [bounds_np, [f.min() - config.bounds_margin * f_span, f.max() + config.bounds_margin * f_span]]
            )
        bounds = torch.tensor(gp_box, dtype=torch.float64)
        ledger.record(0)
        length, successes, failures = config.tr_length_init, 0, 0
        fail_tol = max(4, math.ceil(model.latent_dim / config.batch_size))
        step, gp = 0, None
        while ledger.remaining > 0 and stalled < config.max_stalled_steps:
            step += 1
            keep = _select(X, Y, config.max_gp_points)
            train_X = torch.tensor(gp_inputs(X[keep]), dtype=torch.float64)
            train_Y = torch.tensor(Y[keep], dtype=torch.float64).unsqueeze(-1)
            refit = gp is None or (step - 1) % config.gp_refit_every == 0
            gp = _fit_gp(train_X, train_Y, bounds, previous=gp, maxiter=config.gp_maxiter if refit else 0)
            box, region = bounds_np, length if config.trust_region else math.nan
            if config.trust_region:
                center = X[int(np.argmax(Y))]
                half = 0.5 * length * (bounds_np[1] - bounds_np[0])
                box = np.stack([np.maximum(center - half, bounds_np[0]), np.minimum(center + half, bounds_np[1])])
            before_best, before_calls = ledger.best()[0], ledger.calls
            if config.proposals == "pool":
                pool, pool_smiles = _pool(
                    model,
                    X,
                    Y,
                    box if config.trust_region else bounds_np,
                    length if config.trust_region else config.tr_length_init,
                    config,
                    rng,
                    ledger.cache,
                )
                if len(pool):
                    picked = _choose(gp, config, train_X, train_Y, gp_inputs(pool))
                    z, smiles = pool[picked], [pool_smiles[i] for i in picked]
                else:
                    z, smiles = np.empty((0, model.latent_dim)), []
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cand, _ = optimize_acqf(
                        _acquisition(gp, config, train_X, train_Y),
                        bounds=torch.tensor(box, dtype=torch.float64),
                        q=config.batch_size,
                        num_restarts=config.num_restarts,
                        raw_samples=config.raw_samples,
                    )
                z = cand.detach().numpy()
                smiles = decode_checked(model, z, config.reject_radicals).smiles
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
            ledger.record(step, tr_length=region)
    return ledger.finish(time.perf_counter() - t0, stalled, config.max_stalled_steps)

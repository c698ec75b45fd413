"""Lead optimization under a similarity constraint (the JT-VAE "constrained optimization" task).

For each starting molecule: encode it, walk its latent mean uphill on the property predictor's
estimate of the objective (Adam), and also draw points around it (scaled by the encoder's posterior
standard deviation); decode all of them and score the new molecules with the true objective. Then
``edit_rounds`` rounds of local search on the graph: the best molecules found so far within the
similarity bound (the start while none beats it) are edited by Graph GA atom and bond mutations
(:func:`molvae.chem.graph_edits`), and the new children are scored. The result is the best molecule
whose Tanimoto similarity to the start is at least ``min_similarity``.

Example:
    >>> table = improve_molecules(model, ["CCOc1ccccc1"], make_objective("penalized_logp"))  # doctest: +SKIP
    >>> table[["start", "best", "similarity", "improvement"]]                              # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from molvae import chem
from molvae.data.datasets import resolve_workers
from molvae.errors import ConfigError, InputError
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.models.vae import MolVAE
from molvae.search.latent import EditWorkers, PropertySurrogate, decode_checked, predictor_estimate
from molvae.search.objectives import Objective

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConstrainedConfig:
    """How many candidates each start gets: ``gradient_points`` along the gradient path (one every
    ``gradient_steps / gradient_points`` Adam steps) and ``n_neighbours`` random points around it."""

    min_similarity: float = 0.4
    gradient_steps: int = 60
    gradient_points: int = 20
    learning_rate: float = 0.05
    n_neighbours: int = 100
    radii: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)  # in units of the encoder's posterior std
    n_sampled: int = 150  # decoded with temperature sampling from the latent mean (token-level variants)
    temperature: float = 1.0
    reject_radicals: bool = True
    edit_rounds: int = 2  # rounds of graph edits of the best molecules found within the similarity bound
    n_edits: int = 50  # children per start and round (chem.graph_edits)
    edit_parents: int = 5  # best allowed molecules (the start included) the children are made from
    edit_mutate_fraction: float = 1.0  # share of atom/bond mutations; the rest crossovers of two parents
    batch_size: int = 256  # starts processed together
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_similarity <= 1:
            raise ConfigError("min_similarity must be in [0, 1]")
        if self.gradient_points < 0 or self.n_neighbours < 0 or self.gradient_points + self.n_neighbours < 1:
            raise ConfigError("need at least one candidate per start (gradient_points + n_neighbours >= 1)")
        if self.edit_rounds < 0 or self.n_edits < 1 or self.edit_parents < 1 or not 0 <= self.edit_mutate_fraction <= 1:
            raise ConfigError("edit_rounds must be >= 0, n_edits and edit_parents >= 1, edit_mutate_fraction in [0, 1]")


def _gradient_path(surrogate: PropertySurrogate | None, mu: np.ndarray, config: ConstrainedConfig) -> np.ndarray:
    """``points x n x latent_dim``: snapshots of Adam ascent on the predictor's estimate of the objective."""
    if config.gradient_points == 0:
        return np.empty((0,) + mu.shape, dtype=np.float32)
    every = max(1, config.gradient_steps // config.gradient_points)
    path = surrogate.ascend(mu, config.gradient_points * every, config.learning_rate, every=every)
    return np.stack([z for step, z in path if step > 0])


def improve_molecules(
    model: MolVAE,
    smiles: Sequence[str],
    objective: Objective,
    config: ConstrainedConfig | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per input (order kept): ``start``, ``start_score``, ``best``, ``best_score``,
    ``similarity``, ``improvement`` (``best_score - start_score``, 0 when nothing qualifies),
    ``success`` (a different molecule with similarity >= the threshold and a higher score was found),
    ``candidates`` (distinct new molecules scored), ``reason`` (why an input was skipped)."""
    config = config or ConstrainedConfig()
    surrogate = predictor_estimate(model, objective)
    if config.gradient_points and surrogate is None:
        raise InputError(
            "the gradient part needs an objective the property predictor covers; "
            f"{PropertySurrogate.gap(model, objective)} (set gradient_points=0 to use random "
            "neighbours only)"
        )
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    enc = model.encode(list(smiles))
    rows = []
    bar = tqdm(total=len(smiles), desc="improve", unit="mol", disable=not progress, file=sys.stderr)
    for lo in range(0, len(smiles), config.batch_size):
        idx = np.arange(lo, min(lo + config.batch_size, len(smiles)))
        ok = idx[enc.valid[idx]]
        results = {}
        if len(ok):
            results = _improve_batch(
                model, objective, surrogate, [enc.smiles[i] for i in ok], enc.mu[ok], enc.logvar[ok], config, rng
            )
        position = {int(i): j for j, i in enumerate(ok)}  # input row -> its place among the encodable ones
        for i in idx:
            if int(i) in position:
                rows.append(results[position[int(i)]])
            else:
                rows.append(
                    {
                        "start": smiles[i],
                        "start_score": np.nan,
                        "best": None,
                        "best_score": np.nan,
                        "similarity": np.nan,
                        "improvement": np.nan,
                        "success": False,
                        "candidates": 0,
                        "reason": enc.reasons[i],
                    }
                )
        bar.update(len(idx))
    bar.close()
    table = pd.DataFrame(rows)
    logger.info(
        "improved %d of %d molecules in %.1f s", int(table["success"].sum()), len(table), time.perf_counter() - t0
    )
    return table


def _improve_batch(
    model: MolVAE,
    objective: Objective,
    surrogate: PropertySurrogate | None,
    starts: list[str],
    mu: np.ndarray,
    logvar: np.ndarray,
    config: ConstrainedConfig,
    rng: np.random.Generator,
) -> dict[int, dict]:
    n, d = mu.shape
    path = _gradient_path(surrogate, mu, config)  # points x n x d
    sigma = np.exp(0.5 * logvar)
    radii = np.asarray(config.radii)[rng.integers(0, len(config.radii), (config.n_neighbours, n, 1))]
    around = mu[None] + radii * sigma[None] * rng.standard_normal((config.n_neighbours, n, d))
    z = np.concatenate([path, around.astype(np.float32)])  # candidates x n x d
    decoded = np.array(decode_checked(model, z.reshape(-1, d), config.reject_radicals).smiles, dtype=object).reshape(
        z.shape[0], n
    )
    if config.n_sampled:
        repeated = np.repeat(mu[None], config.n_sampled, axis=0).reshape(-1, d)
        sampled = decode_checked(
            model, repeated, config.reject_radicals, temperature=config.temperature, seed=int(rng.integers(2**31))
        ).smiles
        decoded = np.concatenate([decoded, np.array(sampled, dtype=object).reshape(config.n_sampled, n)])
    start_scores = objective(starts)
    start_fps = chem.morgan_fingerprints(starts)
    # score every distinct molecule once
    unique = sorted({s for s in decoded.ravel() if s is not None} - set(starts))
    scores = dict(zip(unique, objective(unique))) if unique else {}
    found = []
    for k in range(n):
        cands = sorted({s for s in decoded[:, k] if s is not None and s != starts[k]})
        found.append(_Found(starts[k], float(start_scores[k]), start_fps[k : k + 1], config.min_similarity))
        found[k].add(cands, [scores[c] for c in cands])
    seeds = [[int(rng.integers(2**31)) for _ in range(config.edit_rounds)] for _ in range(n)]  # start by start
    with EditWorkers(workers=resolve_workers(0)) as workers:
        for r in range(config.edit_rounds):  # local search on the graph around the best allowed molecules
            jobs = []
            for k in range(n):
                parents = found[k].best(config.edit_parents)
                jobs.append(
                    workers.submit(
                        chem.graph_edits,
                        [parents[i % len(parents)] for i in range(config.n_edits)],
                        config.n_edits,
                        seeds[k][r],
                        config.edit_mutate_fraction,
                    )
                )
            children = [
                [c for c in job.result() if c not in f.seen and not (config.reject_radicals and chem.has_radicals(c))]
                for job, f in zip(jobs, found)
            ]
            new = sorted({c for cs in children for c in cs})
            scores = dict(zip(new, objective(new))) if new else {}  # each molecule scored once
            for f, cs in zip(found, children):
                f.add(cs, [scores[c] for c in cs])
    return {k: f.row() for k, f in enumerate(found)}


class _Found:
    """Every molecule scored for one start, with its similarity to the start; ``best`` are the
    highest-scoring ones within the similarity bound."""

    def __init__(self, start: str, start_score: float, start_fp: np.ndarray, min_similarity: float) -> None:
        self.start, self.start_score, self.start_fp, self.min_similarity = start, start_score, start_fp, min_similarity
        self.seen = {start}
        self.smiles: list[str] = []
        self.values = np.empty(0)
        self.sims = np.empty(0)

    def add(self, smiles: Sequence[str], values: Sequence[float]) -> None:
        new = [(s, v) for s, v in zip(smiles, values) if s not in self.seen]
        if not new:
            return
        self.seen.update(s for s, _ in new)
        self.smiles += [s for s, _ in new]
        self.values = np.concatenate([self.values, np.array([v for _, v in new], dtype=np.float64)])
        sims = tanimoto_matrix(chem.morgan_fingerprints([s for s, _ in new]), self.start_fp)[:, 0]
        self.sims = np.concatenate([self.sims, sims])

    def _allowed(self) -> np.ndarray:
        return np.flatnonzero((self.sims >= self.min_similarity) & np.isfinite(self.values))

    def best(self, k: int) -> list[str]:
        """The ``k`` best allowed molecules, the start first when fewer than ``k`` beat it."""
        allowed = self._allowed()
        top = allowed[np.argsort(-self.values[allowed], kind="stable")][:k]
        better = [self.smiles[i] for i in top if self.values[i] > self.start_score]
        return better + [self.start] if len(better) < k else better

    def row(self) -> dict:
        row = {
            "start": self.start,
            "start_score": self.start_score,
            "best": None,
            "best_score": np.nan,
            "similarity": np.nan,
            "improvement": 0.0,
            "success": False,
            "candidates": len(self.smiles),
            "reason": None,
        }
        allowed = self._allowed()
        if len(allowed):
            j = int(allowed[np.argmax(self.values[allowed])])
            gain = float(self.values[j] - self.start_score)
            if gain > 0:
                row.update(
                    best=self.smiles[j],
                    best_score=float(self.values[j]),
                    similarity=float(self.sims[j]),
                    improvement=gain,
                    success=True,
                )
        return row

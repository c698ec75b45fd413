"""What every latent-space search method shares: one definition of each.

- :func:`encode_one` / :func:`encode_starts`: molecules -> latent means, with the reason when one
  cannot be encoded;
- :func:`decode_checked`: THE checked decode, one chemistry policy for every search method: a latent
  point yields a molecule only if the decoder writes a valid one that carries no unpaired electrons
  (``[CH]``, ``[O]``: RDKit accepts them, chemists do not); rejected points get a reason
  (:func:`mutate_checked`: the same for point mutations the decoder completes);
- :class:`Ledger`: every oracle call of a run, the cache of scores by molecule, the budget and the
  best-so-far trace; :class:`OptimizationResult` is what it hands back;
- :class:`PropertySurrogate`: the objective as the jointly trained property head predicts it at latent
  points (cheap, differentiable), and :meth:`PropertySurrogate.ascend`, Adam on latent points against it.

Example:
    >>> smiles, mu = encode_one(model, "CCO")                          # doctest: +SKIP
    >>> decode_checked(model, mu[None]).smiles                           # doctest: +SKIP
    ['CCO']
    >>> surrogate = predictor_estimate(model, make_objective("qed"))    # doctest: +SKIP
    >>> surrogate(mu[None])                                             # doctest: +SKIP
    array([0.41...])
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from molvae import chem
from molvae.data.datasets import resolve_workers
from molvae.errors import InputError
from molvae.evaluation.metrics import tanimoto_matrix
from molvae.models.vae import MolVAE
from molvae.search.objectives import Objective
from molvae.utils import can_fork, process_pool, threads_beside

logger = logging.getLogger(__name__)

REASON_RADICAL = "radical"  # the decoded molecule has atoms with unpaired electrons
TRACE_COLUMNS = ("step", "calls", "best_score", "best_smiles", "tr_length")


# ----------------------------------------------------------------------------- encoding


def posterior_one(model: MolVAE, smiles: str, what: str = "molecule") -> tuple[str, np.ndarray, np.ndarray]:
    """Canonical SMILES, latent mean and posterior standard deviation (each ``latent_dim``) of one
    molecule; InputError with the reason if it cannot be encoded (``what`` names it in the message,
    e.g. "start molecule")."""
    enc = model.encode([smiles])
    if not enc.valid[0]:
        raise InputError(f"cannot encode {what} {smiles!r}: {enc.reasons[0]}")
    return enc.smiles[0], enc.mu[0], np.exp(0.5 * enc.logvar[0])  # type: ignore[return-value]


def encode_one(model: MolVAE, smiles: str, what: str = "molecule") -> tuple[str, np.ndarray]:
    """Canonical SMILES and latent mean of one molecule (:func:`posterior_one` without the spread)."""
    canonical, mu, _ = posterior_one(model, smiles, what)
    return canonical, mu


def encode_starts(model: MolVAE, smiles: Sequence[str], at_least: int = 1) -> tuple[list[str], np.ndarray]:
    """Canonical SMILES and latent means (``m x latent_dim``) of the molecules of an initial library
    this model can encode (the others are skipped with a warning); InputError if fewer than ``at_least``."""
    enc = model.encode(list(smiles))
    ok = np.flatnonzero(enc.valid)
    if len(ok) < at_least:
        raise InputError(
            "no molecule of the initial library can be encoded by this model"
            if at_least == 1
            else f"the initial library has fewer than {at_least} molecules this model can encode"
        )
    if len(ok) < len(smiles):
        logger.warning(
            "%d of %d initial molecules cannot be encoded and are skipped", len(smiles) - len(ok), len(smiles)
        )
    return [enc.smiles[i] for i in ok], enc.mu[ok]  # type: ignore[misc]


# ----------------------------------------------------------------------------- the checked decode


@dataclass
class CheckedDecode:
    """Per latent point: ``smiles``, the accepted canonical molecule (None where rejected);
    ``reasons``, None where accepted, else the decoder's reason (invalid) or ``REASON_RADICAL``;
    ``decoded``, what the decoder wrote (canonical where RDKit could read it, even when rejected)."""

    smiles: list[str | None]
    reasons: list[str | None]
    decoded: list[str | None]


class EditWorkers:
    """Worker processes for RDKit-only work such as :func:`molvae.chem.graph_edits` (the costliest
    move of the optimizers), so it runs while the main process decodes with the model or on every
    core. ``workers`` processes (0: inline), fewer where this process may use fewer cores (none on
    one), and none where the platform cannot fork: a spawned worker would re-run a user's script
    that lacks an ``if __name__`` guard. Each job depends only on its arguments, so the results are
    the same either way.

    The pool is :func:`molvae.utils.process_pool`: the workers die with this process and ignore
    Ctrl-C (the optimizers keep what was evaluated), and while they run the main process's torch and
    BLAS threads follow :func:`molvae.utils.threads_beside` (never more than the caller had; restored
    on exit): such threads spin-wait for each other, and sharing a core with a worker slows them more
    than the extra thread gains. On 2 cores (PMO, 1,000 calls, four
    tasks, seed 0, two runs each, alternated): 148 and 131 s of optimizer time against 179 and 149 s
    with the default 2 threads, the same molecules, about 0.65x the CPU time."""

    def __init__(self, workers: int) -> None:
        self.pool: ProcessPoolExecutor | None = None  # open between __enter__ and __exit__
        self._cores = resolve_workers(0)
        self._workers = min(workers, self._cores) if workers >= 1 and self._cores > 1 and can_fork() else 0
        self._stack = contextlib.ExitStack()

    def submit(self, fn: Callable, *args) -> Future:
        if self.pool is not None:
            return self.pool.submit(fn, *args)
        done: Future = Future()
        done.set_result(fn(*args))
        return done

    def __enter__(self) -> EditWorkers:
        if self._workers:
            threads = min(torch.get_num_threads(), threads_beside(self._workers, self._cores))
            self.pool = self._stack.enter_context(process_pool(self._workers, threads=threads, wait=False))
        return self

    def __exit__(self, *exc) -> None:
        self.pool = None
        self._stack.close()


def decode_checked(
    model: MolVAE,
    z: np.ndarray,
    reject_radicals: bool = True,
    temperature: float = 0.0,
    seed: int | None = None,
    max_ring: int | None = None,
) -> CheckedDecode:
    """Decode latent points (``n x latent_dim``) under the search chemistry policy: invalid molecules
    and (unless ``reject_radicals`` is False) molecules with unpaired electrons are rejected with a reason.
    Greedy, or sampled at ``temperature`` with ``seed``; ``max_ring``: see :mod:`molvae.models.ring_limit`.

    Example:
        >>> decode_checked(model, np.zeros((2, model.latent_dim))).smiles   # doctest: +SKIP
        ['CCc1ccccc1', 'CCc1ccccc1']
    """
    return _checked(
        model.decode_detailed(np.asarray(z, dtype=np.float32), temperature=temperature, seed=seed, max_ring=max_ring),
        reject_radicals,
    )


def mutate_checked(
    model: MolVAE, z: np.ndarray, smiles: Sequence[str], seed: int | None = None, change: bool = True
) -> CheckedDecode:
    """Point mutations (or grafts, ``change=False``) of ``smiles`` completed by the decoder from ``z``
    (:meth:`MolVAE.mutate`), under the same chemistry policy as :func:`decode_checked`."""
    return _checked(model.mutate(z, smiles, seed=seed, change=change), reject_radicals=True)


def _checked(result, reject_radicals: bool) -> CheckedDecode:
    smiles, reasons = list(result.smiles), list(result.reasons)
    if reject_radicals:
        for i, s in enumerate(smiles):
            if s is not None and chem.has_radicals(s):
                smiles[i], reasons[i] = None, REASON_RADICAL
    return CheckedDecode(smiles, [None if s is not None else r for s, r in zip(smiles, reasons)], list(result.smiles))


@dataclass(frozen=True)
class Recovery:
    """What a molecule's latent mean decodes back to (greedy, the search decoding): ``smiles`` (the
    canonical decoded molecule, None if unreadable), ``similarity`` (Tanimoto, Morgan radius 2, to the
    molecule; 1.0 when it comes back exactly) and ``exact``."""

    smiles: str | None
    similarity: float
    exact: bool


def recovery(
    model: MolVAE, smiles: str, mu: np.ndarray, what: str = "molecule", max_ring: int | None = None
) -> Recovery:
    """Decode the latent mean ``mu`` (``latent_dim``) of the canonical ``smiles`` and say, with a
    warning naming ``what``, when the molecule does not come back: a search around that point starts
    from the decoded molecule, not from the one asked for.

    Example:
        >>> smiles, mu = encode_one(model, "CC(=O)Nc1ccc(O)cc1")   # doctest: +SKIP
        >>> recovery(model, smiles, mu).exact                       # doctest: +SKIP
        True
    """
    back = decode_checked(model, np.asarray(mu)[None, :], reject_radicals=False, max_ring=max_ring).decoded[0]
    if back == smiles:
        return Recovery(back, 1.0, True)
    similarity = 0.0
    if back is not None:
        similarity = float(tanimoto_matrix(chem.morgan_fingerprints([back]), chem.morgan_fingerprints([smiles]))[0, 0])
    logger.warning(
        "the %s does not come back from its latent point: it decodes to %s (Tanimoto %.2f to %s)",
        what,
        back or "nothing readable",
        similarity,
        smiles,
    )
    return Recovery(back, similarity, False)


# ----------------------------------------------------------------------------- the ledger of oracle calls


@dataclass
class OptimizationResult:
    """``evaluated``: one row per oracle call (``call``, ``step``, ``source``, ``smiles``, ``score``,
    latent ``z0..``); ``trace``: best-so-far after each step (``step``, ``calls``, ``best_score``,
    ``best_smiles``); ``extra``: method-specific notes (``interrupted``)."""

    evaluated: pd.DataFrame
    trace: pd.DataFrame
    objective: str
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Oracle calls whose score was NaN."""
        return int((~np.isfinite(self.evaluated["score"])).sum())

    def top(self, k: int = 10, min_distance: float = 0.0) -> pd.DataFrame:
        """The ``k`` best molecules (``smiles``, ``score``, ``step``, ``call``); with ``min_distance`` > 0,
        each at Tanimoto distance at least that from every better one kept (:func:`diverse_top`)."""
        ok = self.evaluated[np.isfinite(self.evaluated["score"])]
        ranked = ok.sort_values("score", ascending=False, kind="stable")[["smiles", "score", "step", "call"]]
        if min_distance <= 0:
            return ranked.head(k)
        keep = diverse_top(ranked["smiles"].tolist(), ranked["score"].to_numpy(), k, min_distance)
        return ranked.iloc[keep]


def diverse_top(
    smiles: Sequence[str], scores: Sequence[float], k: int, min_distance: float, fingerprints: np.ndarray | None = None
) -> list[int]:
    """Indices of up to ``k`` molecules, best score first, each at Tanimoto distance (Morgan radius 2) of
    at least ``min_distance`` from every one kept before it: hits that are not near-copies of each other.
    ``fingerprints``: the molecules' own (``n x bits``), when already computed.

    Example:
        >>> diverse_top(["CCO", "CCCO", "c1ccccc1"], [0.9, 0.8, 0.5], k=2, min_distance=0.6)
        [0, 2]
    """
    if not 0.0 <= min_distance <= 1.0:
        raise InputError(f"min_distance is a Tanimoto distance between 0 and 1, not {min_distance}")
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    fps = chem.morgan_fingerprints(list(smiles)) if fingerprints is None else fingerprints
    kept: list[int] = []
    for i in order:
        if len(kept) == k:
            break
        if not kept or tanimoto_matrix(fps[[i]], fps[kept]).max() <= 1.0 - min_distance:
            kept.append(int(i))
    return kept


class Ledger:
    """Every oracle call of a run, the cache of scores by molecule, the budget and the trace.

    Only molecules never seen before cost an oracle call; a failure (NaN) is cached too, so nothing
    is paid for twice. Another tautomer or charge state of a scored molecule
    (:func:`molvae.chem.tautomer_key`) is not a new molecule either: it gets that molecule's score
    without a call (counted in ``skipped_forms``), and :meth:`known` tells an optimizer to leave it out
    of its candidates. ``bar`` (a tqdm bar, or None) counts the calls.

    Example:
        >>> ledger = Ledger(make_objective("qed"), budget=10, latent_dim=2)                  # doctest: +SKIP
        >>> ledger.evaluate(["CCO", None, "CCO"], np.zeros((3, 2)), step=0, source="prior")  # doctest: +SKIP
        array([0.40...,        nan, 0.40...])
        >>> ledger.calls                                                                   # doctest: +SKIP
        1
    """

    def __init__(self, objective: Objective, budget: int, latent_dim: int, bar=None) -> None:
        self.objective, self.budget, self.bar = objective, budget, bar
        self.cache: dict[str, float] = {}
        self.rows: list[dict] = []
        self.trace: list[dict] = []
        self.latent_dim = latent_dim
        self.interrupted = False
        self.skipped_forms = 0  # molecules given the score of another form of themselves, without a call
        self._keys: dict[str, str] = {}  # SMILES -> tautomer key, memoized
        self._scored: dict[str, str] = {}  # tautomer key -> the first SMILES scored with it

    @classmethod
    def counted(
        cls, objective: Objective, budget: int, latent_dim: int, progress: bool, verb: str = "optimize"
    ) -> Ledger:
        """A ledger whose calls a progress bar on stderr counts (``VERB OBJECTIVE``, shown when ``progress``);
        :meth:`running` closes it."""
        bar = tqdm(total=budget, desc=f"{verb} {objective.name}", unit="call", disable=not progress, file=sys.stderr)
        return cls(objective, budget, latent_dim, bar)

    def identity(self, smiles: str) -> str:
        """The molecule's tautomer and charge-state key (:func:`molvae.chem.tautomer_key`), memoized."""
        key = self._keys.get(smiles)
        if key is None:
            key = self._keys[smiles] = chem.tautomer_key(smiles) or smiles
        return key

    def known(self, smiles: str) -> bool:
        """Whether this molecule, or another tautomer or charge state of it, has been scored."""
        return smiles in self.cache or self.identity(smiles) in self._scored

    @contextlib.contextmanager
    def running(self) -> Iterator[Ledger]:
        """An optimizer's loop runs inside: Ctrl-C stops it and keeps what was evaluated
        (``interrupted``); the progress bar is closed either way."""
        try:
            yield self
        except KeyboardInterrupt:
            self.interrupted = True
            logger.warning("interrupted after %d oracle calls; returning what was evaluated so far", self.calls)
        finally:
            if self.bar is not None:
                self.bar.close()

    def finish(
        self, seconds: float, stalled: int, max_stalled: int, unit: str = "steps", **extra
    ) -> OptimizationResult:
        """The result of a run that ended after ``stalled`` of at most ``max_stalled`` ``unit`` without a
        new molecule (warned about when that, not the budget, stopped it); ``extra`` goes to ``result.extra``."""
        if not self.interrupted and stalled >= max_stalled:
            logger.warning(
                "stopped after %d %s without a new molecule (%d of %d calls used)",
                stalled,
                unit,
                self.calls,
                self.budget,
            )
        flat = self.flat_score()
        if flat is not None:
            logger.warning(
                "every one of the %d scored molecules scored %g: the objective gave the search nothing "
                "to follow, so this run was a blind walk (a substructure or threshold none of them "
                "met?); an initial library with molecules that score, or an objective with partial "
                "credit, gives it a direction",
                self.calls - self.failures,
                flat,
            )
        return self.result(
            seconds,
            {
                "interrupted": self.interrupted,
                "flat_objective": flat is not None,
                "skipped_forms": self.skipped_forms,
                **extra,
            },
        )

    @property
    def failures(self) -> int:
        return sum(not math.isfinite(r["score"]) for r in self.rows)

    def flat_score(self) -> float | None:
        """The one score every scored molecule got, when at least two were scored and all got the same
        (a flat objective: the optimizer had no signal); None otherwise."""
        finite = {r["score"] for r in self.rows if math.isfinite(r["score"])}
        scored = self.calls - self.failures
        return next(iter(finite)) if len(finite) == 1 and scored >= 2 else None

    @property
    def calls(self) -> int:
        return len(self.rows)

    @property
    def remaining(self) -> int:
        return self.budget - self.calls

    def evaluate(
        self, smiles: Sequence[str | None], z: np.ndarray, step: int, source: str | Sequence[str]
    ) -> np.ndarray:
        """Scores of decoded molecules (``n``; NaN for None); pays only for new molecules, within budget.
        ``source``: what proposed them (one name, or one per molecule), kept in the evaluated table."""
        sources = [source] * len(smiles) if isinstance(source, str) else list(source)
        new: list[int] = []
        first: dict[str, str] = {}  # tautomer key -> the molecule of this batch scored for it
        other_forms: list[str] = []
        for i, s in enumerate(smiles):
            if s is None or s in self.cache or s in first.values():
                continue
            key = self.identity(s)
            if key in self._scored or key in first:
                other_forms.append(s)
            elif len(new) < self.remaining:
                new.append(i)
                first[key] = s
        if new:
            scores = self.objective([smiles[i] for i in new], z[new])
            for i, score in zip(new, scores):
                score = float(score)
                self.cache[smiles[i]] = score  # NaN (a failure) is cached too: never paid twice
                self.rows.append(
                    {
                        "call": self.calls + 1,
                        "step": step,
                        "source": sources[i],
                        "smiles": smiles[i],
                        "score": score,
                        **{f"z{j}": float(v) for j, v in enumerate(z[i])},
                    }
                )
            if self.bar is not None:
                self.bar.update(len(new))
            self._scored.update(first)
        for s in other_forms:  # another form of a scored molecule: its score, no call
            scored = self._scored.get(self.identity(s))
            if scored is not None and s not in self.cache:
                self.cache[s] = self.cache[scored]
                self.skipped_forms += 1
        return np.array([self.cache.get(s, math.nan) if s is not None else math.nan for s in smiles])

    def best(self) -> tuple[float, str | None]:
        finite = [(r["score"], r["smiles"]) for r in self.rows if math.isfinite(r["score"])]
        return max(finite) if finite else (-math.inf, None)

    def record(self, step: int, tr_length: float = math.nan) -> tuple[float, str | None]:
        """Append the best-so-far after ``step`` to the trace (and the progress bar); returns it.
        ``tr_length``: the side of the trust region the step's proposals came from (NaN: none)."""
        best = self.best()
        self.trace.append(
            {"step": step, "calls": self.calls, "best_score": best[0], "best_smiles": best[1], "tr_length": tr_length}
        )
        if self.bar is not None:
            self.bar.set_postfix(best=f"{best[0]:.4g}", refresh=False)
        return best

    def frame(self) -> pd.DataFrame:
        columns = ["call", "step", "source", "smiles", "score"] + [f"z{j}" for j in range(self.latent_dim)]
        return pd.DataFrame(self.rows, columns=columns)

    def result(self, seconds: float, extra: dict | None = None) -> OptimizationResult:
        return OptimizationResult(
            self.frame(),
            pd.DataFrame(self.trace, columns=list(TRACE_COLUMNS)),
            self.objective.name,
            seconds,
            extra or {},
        )


# ----------------------------------------------------------------------------- the property-head surrogate


class PropertySurrogate:
    """``objective`` as the model's property head predicts it at latent points: no decoding, no oracle
    call, differentiable. Built only for objectives with a surrogate whose properties the model predicts
    (:meth:`gap` says why not; :func:`predictor_estimate` returns None instead of raising).

    Example:
        >>> surrogate = PropertySurrogate(model, make_objective("qed high, logp in 1-3"))   # doctest: +SKIP
        >>> surrogate(np.zeros((2, model.latent_dim)))                                      # doctest: +SKIP
        array([0.12..., 0.12...])
    """

    def __init__(self, model: MolVAE, objective: Objective) -> None:
        gap = self.gap(model, objective)
        if gap is not None:
            raise InputError(gap)
        self.model, self.objective = model, objective

    @staticmethod
    def gap(model: MolVAE, objective: Objective) -> str | None:
        """Why the property head cannot estimate ``objective`` (None when it can)."""
        if objective.surrogate is None or not objective.needs:
            return f"{objective.name!r} is not one (try qed, logp, sa, penalized_logp or a desirability spec of those)"
        missing = [n for n in objective.needs if n not in model.property_names]
        if missing:
            return (
                f"this model does not predict {', '.join(missing)} (it predicts "
                f"{', '.join(model.property_names) or 'nothing'})"
            )
        return None

    def score(self, z: torch.Tensor) -> torch.Tensor:
        """Predicted objective at latent points (``n x latent_dim`` tensor -> ``n``), differentiable in ``z``."""
        pred = self.model.predict_properties(z)
        return self.objective.surrogate({name: pred[:, j] for j, name in enumerate(self.model.property_names)})

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Predicted objective at latent points (``n x latent_dim`` array -> ``n`` float64)."""
        with torch.no_grad():
            zt = torch.as_tensor(np.asarray(z, dtype=np.float32), device=self.model.device)
            return self.score(zt).float().cpu().numpy().astype(np.float64)

    def ascend(
        self, z0: np.ndarray, steps: int, learning_rate: float, every: int = 1, prior_weight: float = 0.0
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Adam on latent points ``z0`` (``n x latent_dim``) maximizing the predicted objective minus
        ``prior_weight * |z|^2`` (a pull towards the prior, where the decoder was trained), for ``steps``
        steps; yields ``(step, z)`` (a copy, ``n x latent_dim``) at step 0, every ``every`` steps and
        after the last. The model's weights are frozen meanwhile; close the iterator if you stop early."""
        z = torch.tensor(np.asarray(z0, dtype=np.float32), device=self.model.device, requires_grad=True)
        optimizer = torch.optim.Adam([z], lr=learning_rate)
        with _frozen(self.model):
            for step in range(steps + 1):
                if step % every == 0 or step == steps:
                    yield step, z.detach().cpu().numpy().copy()
                if step == steps:
                    break
                loss = -self.score(z).sum()
                if prior_weight:
                    loss = loss + prior_weight * z.pow(2).sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()


def predictor_estimate(model: MolVAE, objective: Objective) -> PropertySurrogate | None:
    """The property head's estimate of ``objective`` (``z -> n`` scores), or None when the objective has
    no surrogate this model covers (user oracles, similarity, unpredicted properties)."""
    return None if PropertySurrogate.gap(model, objective) else PropertySurrogate(model, objective)


@contextlib.contextmanager
def _frozen(model: MolVAE) -> Iterator[None]:
    """Evaluation mode and no gradients for the model's weights (only the latent points move)."""
    model.eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)

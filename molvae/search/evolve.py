"""Evolution screened by a Tanimoto Gaussian process: molvae's default optimizer.

Each generation:

1. **parents** are drawn from the best molecules evaluated so far (rank-weighted): the best
   ``parents``, a set that doubles (up to ``max_parent_growth`` times) after each generation whose pool
   held fewer than ``batch_size`` new admissible molecules, and shrinks back when a new best is found. On a
   plateau the best molecules' sane children have all been scored; without widening, generations made
   fewer and fewer calls (scaffold_hop at 10,000 calls: 50 falling to about 15, 322 generations);
2. **children** are made from them by five moves (:data:`MOVES`): latent mutations (the parent's
   latent point moved by its own posterior standard deviation times a log-uniform factor), latent
   crossovers (a random point on the segment between two parents' latent points, plus a small
   mutation), branches (:meth:`molvae.models.vae.MolVAE.mutate`: the parent's tokens up to a random
   position, a different token there, and the rest decoded from the parent's latent point, a local
   edit), grafts (the parent's tokens up to a random position and the rest decoded from a second
   parent's latent point) and graph edits (:func:`molvae.chem.graph_edits`: Graph GA crossovers and
   mutations of the molecular graphs). Decoded children follow the search chemistry policy (no
   invalid molecules, no radicals), and only molecules never scored before are kept: the pool;
3. a **Tanimoto GP** fitted on every molecule scored so far (:class:`molvae.search.tanimoto.TanimotoGP`;
   the best and the most recent when there are more than ``max_gp_points``) ranks the pool by upper
   confidence bound and picks ``batch_size`` of them by GP-BUCB, taking only chemically sane ones
   (:func:`molvae.chem.chemistry_profile` ``sane``: one fragment, no radicals, at least 10 heavy atoms,
   no ring over 8 atoms, ZINC's elements, no PAINS match) and *familiar* ones (every atom environment
   occurs in a reference set of real molecules, ZINC250k's by default: :func:`molvae.chem.familiar_flags`;
   ``familiar_only``), and of at most ``max_heavy_atoms`` (100 by default; None: any size);
4. the picks are scored (the :class:`~molvae.search.latent.Ledger` charges only new molecules, and its
   ``source`` column names the move that made each) and re-encoded, so their own posterior spread
   sets the size of their children's moves.

Making a pool many times the batch, and letting the GP choose, is what makes each oracle call
count: the moves propose, the GP judges them by what the oracle has said so far. The GP, not a fixed
rule, decides which kind of move is worth a call on a given task (``result.evaluated["source"]``).
The GP's cost is bounded (``max_gp_points``), so 10,000-call runs fit in memory. The graph edits
(the costliest move) run in a worker process while the model decodes (``parallel_edits``; the same
molecules as inline, about 1.3x less optimizer time on 2 cores), and while they still run the main
process fits the GP and checks the model's children ahead, best upper confidence bound first, so
the checks of step 3 are mostly answered from memory (:class:`_Admission`: a check made ahead counts
only when the GP consults it, so the picks are the same). The start
population is the initial library when one is given (all of it is scored), else sane (and
familiar) samples of a start model encoded by the search model (``start``; by default the bundled
sampler when it was trained on the same data: best novel QED within 300 calls 0.944 ± 0.003 on
seeds 0-5 against 0.938 ± 0.008 from the search model's own prior draws), or its prior draws.

Example:
    >>> result = evolve(model, make_objective("qed"), EvolveConfig(budget=300))   # doctest: +SKIP
    >>> result.top(5)                                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from molvae import chem
from molvae.errors import ConfigError, InputError
from molvae.models.vae import MolVAE
from molvae.search.latent import EditWorkers, Ledger, OptimizationResult, decode_checked, mutate_checked
from molvae.search.objectives import Objective
from molvae.search.tanimoto import TanimotoGP

logger = logging.getLogger(__name__)

FINGERPRINT_BITS = 2048


# Default start population and generation size: a sixth and a twelfth of the budget, at most 100 and
# 50 (the sizes used at PMO's 1,000 and 10,000 calls). At 300 calls that is 50 + 10 generations of 25:
# best novel QED 0.941-0.948 on seeds 0-2 against 0.926-0.935 for 100 + 4 of 50, but a tie on seeds
# 3-5 (the method: docs/cli.md's optimization section; its measurements: docs/benchmarks.md): a small
# gain at most.
N_INIT_SHARE, MAX_N_INIT = 6, 100
BATCH_SHARE, MAX_BATCH = 12, 50

# Default size cap, in heavy atoms: beyond any small-molecule drug (ZINC250k's largest has 38,
# cyclosporin 85) and below where graph edits start appending chain after chain. Uncapped, an objective
# that rewards size grows molecules of thousands of atoms (penalized logP), and GuacaMol's scaffold_hop
# and deco_hop met molecules of 150+ heavy atoms that take up to a minute each to score.
DEFAULT_MAX_HEAVY_ATOMS = 100


def heavy_atom_limit(value: int | None) -> int | None:
    """The one check of a ``max_heavy_atoms`` setting (:class:`EvolveConfig`, ``OptimizeConfig``,
    ``--max-heavy-atoms``): None or 0 mean any size (returned as None), else at least 10."""
    if value is None or value == 0:
        return None
    if value < 10:
        raise ConfigError(
            f"max_heavy_atoms must be at least 10 (a sane molecule has 10 or more), or None or 0 "
            f"(any size), not {value}"
        )
    return value


def scaled_default(budget: int, share: int, most: int, minimum: int) -> int:
    """``budget // share``, between ``minimum`` and ``most``."""
    return max(minimum, min(most, budget // share))


@dataclass(frozen=True)
class EvolveConfig:
    """Settings of a latent-space evolution run (see the module docstring)."""

    budget: int = 300  # oracle calls, initial data included
    # None: scaled to the budget (see scaled_default), so short runs get enough generations
    n_init: int | None = None  # sane prior molecules scored first when no initial library is given
    batch_size: int | None = None  # oracle calls per generation
    pool_size: int = 400  # children made per generation (the GP picks batch_size of the new ones)
    parents: int = 30  # best molecules children are made from
    # a generation whose pool holds fewer than batch_size new admissible molecules (the children of the
    # best have all been scored) doubles the parent set for the next, up to parents * max_parent_growth;
    # a new best returns it to `parents` (1: never widen)
    max_parent_growth: int = 8
    crossover_fraction: float = 0.1  # share of children made by latent crossover
    branch_fraction: float = 0.2  # share of children made by branching off the parent's tokens
    graft_fraction: float = 0.1  # share made of a parent's head and a tail decoded from another's latent point
    graph_fraction: float = 0.5  # share made by Graph GA edits of the molecular graph (chem.graph_edits)
    # the rest (0.1): latent mutations
    mutation_min: float = 0.5  # mutation size, in posterior standard deviations of the parent:
    mutation_max: float = 3.0  # log-uniform between these two
    ucb_beta: float = 1.0  # weight of the GP's standard deviation in the pick
    max_gp_points: int = 1000  # the best half and the most recent half are kept when there are more
    max_heavy_atoms: int | None = DEFAULT_MAX_HEAVY_ATOMS  # larger children are never scored (None: no limit)
    familiar_only: bool = True  # score only molecules whose atom environments all occur in `environments`
    # (the molecules it makes; an init_smiles library is scored as given)
    environments: str | None = None  # .npy reference set (scripts/atom_environments.py); None: ZINC250k's
    max_stalled_steps: int = 10  # stop after this many generations without a new molecule
    # without an initial library, where the start population comes from: "prior" (the search model's
    # own prior draws), a checkpoint path or bundled name (that model's samples, encoded by the search
    # model), or "auto": the bundled sampler when it was trained on the search model's data (same
    # data_sha256), else "prior" (see start_source)
    start: str = "auto"
    parallel_edits: bool = True  # graph edits in a worker process while the model decodes (same molecules)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_init is None:
            object.__setattr__(self, "n_init", scaled_default(self.budget, N_INIT_SHARE, MAX_N_INIT, minimum=2))
        if self.batch_size is None:
            object.__setattr__(self, "batch_size", scaled_default(self.budget, BATCH_SHARE, MAX_BATCH, minimum=1))
        if self.budget < 1 or self.batch_size < 1 or self.n_init < 2 or self.parents < 1 or self.max_parent_growth < 1:
            raise ConfigError("budget, batch size, parents and max_parent_growth must be >= 1 and n_init >= 2")
        if self.pool_size < self.batch_size:
            raise ConfigError("pool_size must be >= batch_size")
        shares = (self.crossover_fraction, self.branch_fraction, self.graft_fraction, self.graph_fraction)
        if not all(0 <= f <= 1 for f in shares) or sum(shares) > 1:
            raise ConfigError("crossover, branch, graft and graph fractions must be in [0, 1] and sum to at most 1")
        if not 0 < self.mutation_min <= self.mutation_max:
            raise ConfigError("mutation sizes must satisfy 0 < mutation_min <= mutation_max")
        object.__setattr__(self, "max_heavy_atoms", heavy_atom_limit(self.max_heavy_atoms))
        if self.environments is not None and not self.familiar_only:
            raise ConfigError("environments is the reference of familiar_only; it has no use with familiar_only off")
        if self.max_gp_points < 2 or self.ucb_beta < 0:
            raise ConfigError("max_gp_points must be >= 2 and ucb_beta >= 0")
        if not isinstance(self.start, str) or not self.start:
            raise ConfigError("start must be 'auto', 'prior' or a model (a checkpoint path or bundled name)")


class _Population:
    """Every scored molecule with a finite score: its latent centre, posterior sd and fingerprint."""

    def __init__(self, latent_dim: int) -> None:
        self.smiles: list[str] = []
        self.z = np.empty((0, latent_dim))
        self.sd = np.empty((0, latent_dim))
        self.fp = np.empty((0, FINGERPRINT_BITS), dtype=np.uint8)
        self.y = np.empty(0)

    def add(self, smiles: Sequence[str], z: np.ndarray, sd: np.ndarray, y: np.ndarray) -> None:
        ok = np.isfinite(y)
        if not ok.any():
            return
        kept = [s for s, k in zip(smiles, ok) if k]
        self.smiles += kept
        self.z = np.concatenate([self.z, z[ok]])
        self.sd = np.concatenate([self.sd, sd[ok]])
        self.fp = np.concatenate([self.fp, chem.morgan_fingerprints(kept, n_bits=FINGERPRINT_BITS)])
        self.y = np.concatenate([self.y, y[ok]])

    def __len__(self) -> int:
        return len(self.y)

    def gp_rows(self, limit: int) -> np.ndarray:
        if len(self) <= limit:
            return np.arange(len(self))
        best = np.argsort(-self.y, kind="stable")[: limit // 2]
        recent = np.arange(len(self) - (limit - len(best)), len(self))
        return np.unique(np.concatenate([best, recent]))


def _posterior(model: MolVAE, smiles: Sequence[str], fallback_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and standard deviations of molecules (``n x latent_dim`` each); NaN means and
    ``fallback_sd`` rows where a molecule cannot be encoded."""
    enc = model.encode(list(smiles))
    sd = np.exp(0.5 * np.nan_to_num(enc.logvar, nan=0.0))
    return enc.mu.astype(np.float64), np.where(enc.valid[:, None], sd, fallback_sd)


MOVES = ("mutation", "crossover", "branch", "graft", "graph")  # graph edits last (_Brood.model_rows)
PARENT_POINT_MOVES = ("branch", "graft", "graph")  # the child's latent point is not one that decodes to it


@dataclass
class _Brood:
    """A generation's children: latent points, molecules (None where rejected) and the move that made
    each (:data:`MOVES`). The graph edits (the last rows, :data:`MOVES` order) may still be running
    in the edit worker: :meth:`ready` says whether they are done, :meth:`complete` waits for them."""

    z: np.ndarray
    smiles: list[str | None]
    moves: np.ndarray
    edits: Future | None
    graph_rows: np.ndarray

    def model_rows(self) -> np.ndarray:
        """The rows made by the model's moves: all before the graph edits, so taking the first of
        each molecule over these and then over the graph rows is the same as over all rows in order."""
        return np.arange(len(self.smiles) - len(self.graph_rows))

    def ready(self) -> bool:
        return self.edits is None or self.edits.done()

    def complete(self) -> None:
        if self.edits is not None:
            for i, s in zip(self.graph_rows, self.edits.result()):
                self.smiles[i] = s
            self.edits = None


def _children(
    model: MolVAE, pop: _Population, config: EvolveConfig, rng: np.random.Generator, worker: EditWorkers, parents: int
) -> _Brood:
    """``pool_size`` children of rank-weighted parents among the best ``parents``, returned as soon
    as the model's moves are decoded (the graph edits may still be running: :class:`_Brood`)."""
    n, d = config.pool_size, pop.z.shape[1]
    order = np.argsort(-pop.y, kind="stable")[:parents]
    weights = 1.0 / (1.0 + np.arange(len(order)) / 5.0)
    weights /= weights.sum()
    a = order[rng.choice(len(order), size=n, p=weights)]
    b = order[rng.choice(len(order), size=n, p=weights)]  # second parents (crossover, graft)
    two = len(order) > 1
    counts = {
        "crossover": int(round(n * config.crossover_fraction)) if two else 0,
        "branch": int(round(n * config.branch_fraction)),
        "graft": int(round(n * config.graft_fraction)) if two else 0,
        "graph": int(round(n * config.graph_fraction)) if two else 0,
    }
    counts["mutation"] = n - sum(counts.values())
    moves = np.repeat(np.array(MOVES), [counts[m] for m in MOVES])
    factor = np.exp(rng.uniform(np.log(config.mutation_min), np.log(config.mutation_max), size=(n, 1)))
    z = pop.z[a] + factor * pop.sd[a] * rng.standard_normal((n, d))
    cross = moves == "crossover"
    u = rng.uniform(0.0, 1.0, size=(int(cross.sum()), 1))
    jitter = config.mutation_min * pop.sd[a[cross]] * rng.standard_normal((int(cross.sum()), d))
    z[cross] = pop.z[a[cross]] + u * (pop.z[b[cross]] - pop.z[a[cross]]) + jitter
    # seeds drawn in a fixed order, so the graph edits can run in the worker while the model decodes
    seeds = {move: int(rng.integers(2**31)) for move in ("branch", "graft", "graph") if (moves == move).any()}
    graph_rows = np.flatnonzero(moves == "graph")
    edits = (
        worker.submit(chem.graph_edits, [pop.smiles[i] for i in a[graph_rows]], len(graph_rows), seeds["graph"])
        if len(graph_rows)
        else None
    )
    smiles: list[str | None] = [None] * n
    latent = np.flatnonzero(~np.isin(moves, PARENT_POINT_MOVES))
    for i, s in zip(latent, decode_checked(model, z[latent]).smiles):
        smiles[i] = s
    for move, donor in (("branch", a), ("graft", b)):  # decoder-completed edits of parent a's tokens
        rows = np.flatnonzero(moves == move)
        if len(rows):
            z[rows] = pop.z[donor[rows]]
            done = mutate_checked(
                model, z[rows], [pop.smiles[i] for i in a[rows]], seed=seeds[move], change=move == "branch"
            )
            for i, s in zip(rows, done.smiles):
                smiles[i] = s
    z[graph_rows] = pop.z[a[graph_rows]]  # graph edits: at the first parent's latent point until encoded
    return _Brood(z, smiles, moves, edits, graph_rows)


def _new_children(
    smiles: Sequence[str | None], rows: Iterable[int], seen: set[str], ledger: Ledger, insane: set[str]
) -> list[int]:
    """The rows of ``smiles`` (in order) holding a molecule never scored, in no form
    (:meth:`Ledger.known`: a tautomer or charge state of a scored molecule is not new), never
    rejected (``insane``) and not already in ``seen`` (tautomer keys, updated): the first of each."""
    keep = []
    for i in rows:
        s = smiles[i]
        if s is None or s in insane or ledger.known(s):
            continue
        key = ledger.identity(s)
        if key not in seen:
            keep.append(int(i))
            seen.add(key)
    return keep


def _wider(parents: int, config: EvolveConfig) -> int:
    """The parent count after a generation that ran short of new admissible children: doubled, at
    most ``config.parents * config.max_parent_growth``."""
    return min(2 * parents, config.parents * config.max_parent_growth)


def _admissible(smiles: Sequence[str], config: EvolveConfig) -> tuple[np.ndarray, np.ndarray]:
    """Which molecules the run may score: sane, familiar (``config.familiar_only``) and small enough;
    and which of them are turned down for size alone (sane, familiar, over ``config.max_heavy_atoms``)."""
    known = chem.reference_environments(config.environments) if config.familiar_only else None
    ok = chem.sane_flags(list(smiles), familiar=known)
    big = np.zeros(len(ok), dtype=bool)
    if config.max_heavy_atoms is not None and ok.any():
        big[ok] = chem.heavy_atom_counts([s for s, k in zip(smiles, ok) if k]) > config.max_heavy_atoms
        ok &= ~big
    return ok, big


class _Admission:
    """The run's admission checks (:func:`_admissible`, the costliest part of choosing a batch),
    remembered, so they can run ahead (:meth:`precheck`, while the edit worker runs) on the children the
    GP is likely to consult. Only a consulted molecule (:meth:`consult`) has consequences: a rejected
    one joins ``insane`` (never in a pool again), one rejected for size alone ``oversized`` too; so
    the run's choices are the same with or without checks ahead."""

    def __init__(self, config: EvolveConfig) -> None:
        self.config = config
        self.flags: dict[str, tuple[bool, bool]] = {}  # checked ahead, not yet consulted
        self.insane: set[str] = set()
        self.oversized: set[str] = set()

    def precheck(self, smiles: Sequence[str]) -> None:
        new = [s for s in dict.fromkeys(smiles) if s not in self.flags]
        if new:
            ok, big = _admissible(new, self.config)
            self.flags.update(zip(new, zip(ok.tolist(), big.tolist())))

    def consult(self, smiles: Sequence[str]) -> np.ndarray:
        self.precheck(smiles)
        # consulted: scored next, or never in a pool again
        flags = {s: self.flags.pop(s) for s in dict.fromkeys(smiles)}
        self.insane.update(s for s, (k, _) in flags.items() if not k)
        self.oversized.update(s for s, (_, big) in flags.items() if big)
        return np.array([flags[s][0] for s in smiles], dtype=bool)


PRECHECK_CHUNK = 8  # molecules checked ahead between looks at the edit worker (about 20 ms)


def _precheck_while_editing(brood: _Brood, pool: Sequence[str], ucb: np.ndarray, admission: _Admission) -> None:
    """Check ``pool``'s molecules ahead, highest upper confidence bound first, until the graph edits
    are done."""
    order = np.argsort(-ucb, kind="stable")
    for start in range(0, len(order), PRECHECK_CHUNK):
        if brood.ready():
            return
        admission.precheck([pool[i] for i in order[start : start + PRECHECK_CHUNK]])


def start_source(model: MolVAE, start: str = "auto") -> MolVAE | None:
    """The model whose samples start a run without an initial library (None: the search model's prior).

    ``start``: "prior"; a checkpoint path or bundled name; or "auto": the bundled sampler
    (:func:`molvae.pretrained.default_model_path` ``"sample"``) when its metadata names the same
    training data (``data_sha256``) as ``model``'s, else the prior. A sampler trained to write its
    data's chemistry starts the search among molecules that read like that data: the bundled v1's
    greedy prior decodes average QED 0.57 and are 30% familiar, the sampler's read as ZINC."""
    if start == "prior":
        return None
    if start != "auto":
        return MolVAE.load(start, device=str(model.device))
    from molvae.pretrained import default_model_path

    path = default_model_path("sample")
    data = model.metadata.get("data_sha256")
    if path is None or path == default_model_path() or not data:  # no sampler shipped, or no data to match
        return None
    sampler = MolVAE.load(path, device=str(model.device))
    return sampler if sampler.metadata.get("data_sha256") == data else None


def _encoded(model: MolVAE, smiles: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Canonical SMILES, latent centres and posterior sds of the molecules ``model`` can encode, and
    how many it could not."""
    enc = model.encode(list(smiles))
    ok = np.flatnonzero(enc.valid)
    return (
        [enc.smiles[i] for i in ok],
        enc.mu[ok].astype(np.float64),
        np.exp(0.5 * enc.logvar[ok]).astype(np.float64),
        len(smiles) - len(ok),
    )


def _initial(
    model: MolVAE, ledger: Ledger, config: EvolveConfig, init_smiles: Sequence[str] | None, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The start population, scored: canonical SMILES, latent centres and posterior sds: the initial
    library when given (all of it), else ``config.n_init`` sane (and familiar) distinct molecules drawn
    from the start model's samples (:func:`start_source`) or the search model's prior."""
    if init_smiles is not None:
        smiles, z, sd, failed = _encoded(model, init_smiles)
        if failed:
            logger.warning("%d of %d initial molecules cannot be encoded and are skipped", failed, len(init_smiles))
        if len(smiles) < 2:
            raise InputError("the initial library has fewer than 2 molecules this model can encode")
        ledger.evaluate(smiles, z, 0, "init")
        return smiles, z, sd
    sampler = start_source(model, config.start)
    smiles: list[str] = []
    z_kept: list[np.ndarray] = []
    sd_kept: list[np.ndarray] = []  # the start model's path: posterior sds from the same encoding
    seen: set[str] = set()
    for _ in range(10):  # sane, distinct molecules; the fitted prior when the model has one
        seed = int(rng.integers(2**31))
        if sampler is not None:  # the start model's samples, encoded by the search model
            drawn = [s for s in sampler.sample(2 * config.n_init, seed=seed) if s is not None]
            decoded, z, sd, _ = _encoded(model, drawn) if drawn else ([], None, None, 0)
        else:
            z, sd = model.sample_prior(2 * config.n_init, seed=seed).astype(np.float64), None
            decoded = decode_checked(model, z).smiles
        fresh = [i for i, s in enumerate(decoded) if s is not None and s not in seen]
        fresh = [i for i, s in zip(fresh, _admissible([decoded[i] for i in fresh], config)[0]) if s]
        for i in fresh:
            if decoded[i] not in seen and len(smiles) < config.n_init:
                seen.add(decoded[i])
                smiles.append(decoded[i])
                z_kept.append(z[i])
                if sd is not None:
                    sd_kept.append(sd[i])
        if len(smiles) >= config.n_init:
            break
    where = "the start model's samples" if sampler is not None else "the model's prior"
    if len(smiles) < 2:
        size = f", at most {config.max_heavy_atoms} heavy atoms" if config.max_heavy_atoms is not None else ""
        raise InputError(f"{where} gave fewer than 2 sane (and familiar{size}) molecules; give an initial library")
    z = np.array(z_kept)
    ledger.evaluate(smiles, z, 0, "sampler" if sampler is not None else "prior")
    sd = np.array(sd_kept) if sampler is not None else _posterior(model, smiles, np.ones_like(z))[1]
    return smiles, z, sd


@dataclass
class _EvolveState:
    """What one generation hands the next: the scored population, the admission checks, the parent
    count (``parents``, widened after a generation short of new admissible children, back to
    ``config.parents`` on a new best) and the run's counters."""

    pop: _Population
    admission: _Admission
    typical_sd: np.ndarray  # posterior sd of the start population: the fallback for molecules not encoded
    parents: int
    widest: int
    widened: int = 0  # generations after which the parent set was widened
    stalled: int = 0  # generations in a row without a new oracle call
    step: int = 0  # generations run

    def widen(self, config: EvolveConfig) -> None:
        self.parents, self.widened = _wider(self.parents, config), self.widened + 1
        self.widest = max(self.widest, self.parents)


def _generation(
    model: MolVAE,
    state: _EvolveState,
    config: EvolveConfig,
    rng: np.random.Generator,
    worker: EditWorkers,
    ledger: Ledger,
) -> None:
    """One generation: children by every move, screened by a Tanimoto GP fitted to the population
    (fitted while the graph edits run), the admissible ones with the highest upper confidence bound
    scored by the oracle and added to the population."""
    state.step += 1
    pop, admission = state.pop, state.admission
    brood = _children(model, pop, config, rng, worker, state.parents)
    # while the graph edits run: the GP, and the other children's fingerprints and checks
    rows = pop.gp_rows(config.max_gp_points)
    gp = TanimotoGP.fit(pop.fp[rows], pop.y[rows])
    seen: set[str] = set()
    keep = _new_children(brood.smiles, brood.model_rows(), seen, ledger, admission.insane)
    pool = [brood.smiles[i] for i in keep]
    pool_fp = chem.morgan_fingerprints(pool, n_bits=FINGERPRINT_BITS)
    if not brood.ready() and pool:
        mean, sd = gp.predict(pool_fp)
        _precheck_while_editing(brood, pool, mean + config.ucb_beta * sd, admission)
    brood.complete()
    graph = _new_children(brood.smiles, brood.graph_rows, seen, ledger, admission.insane)
    keep += graph
    if not keep:
        state.stalled += 1
        state.widen(config)
        ledger.record(state.step)
        return
    pool += [brood.smiles[i] for i in graph]
    pool_fp = np.concatenate([pool_fp, chem.morgan_fingerprints(pool[len(pool_fp) :], n_bits=FINGERPRINT_BITS)])
    pool_z, pool_moves = brood.z[keep], brood.moves[keep]

    def accept(idx: np.ndarray) -> np.ndarray:
        return admission.consult([pool[i] for i in idx])

    q = min(config.batch_size, ledger.remaining)
    picked = gp.select(pool_fp, q, beta=config.ucb_beta, accept=accept)
    before, best_before = ledger.calls, pop.y.max()
    batch, batch_z = [pool[i] for i in picked], pool_z[picked]
    scores = ledger.evaluate(batch, batch_z, state.step, list(pool_moves[picked]))
    state.stalled = state.stalled + 1 if ledger.calls == before else 0
    if np.nanmax(scores, initial=-np.inf) > best_before:  # a new best: its neighbourhood again
        state.parents = config.parents
    elif len(picked) < q and ledger.remaining > 0:  # the best's children are used up: wider
        state.widen(config)
    if picked:
        z_new, sd_new = _posterior(model, batch, np.broadcast_to(state.typical_sd, batch_z.shape))
        # a latent child keeps the point that decodes to it; a decoder edit takes its posterior mean
        own = ~np.isin(pool_moves[picked], PARENT_POINT_MOVES)[:, None] | ~np.isfinite(z_new)
        pop.add(batch, np.where(own, batch_z, z_new), sd_new, scores)
    ledger.record(state.step)


def evolve(
    model: MolVAE,
    objective: Objective,
    config: EvolveConfig | None = None,
    init_smiles: Sequence[str] | None = None,
    progress: bool = True,
) -> OptimizationResult:
    """Maximize ``objective`` within ``config.budget`` oracle calls by latent-space evolution screened
    by a Tanimoto GP (see the module docstring): the start population, then one
    :func:`_generation` after another. Ctrl-C stops the run and returns what was evaluated so far
    (``result.extra["interrupted"]``)."""
    config = config or EvolveConfig()
    if init_smiles is not None and config.start != "auto":
        raise ConfigError(f"start={config.start!r} is for runs without an initial library; this one has one")
    if config.familiar_only:  # a bad reference file fails before any oracle call
        chem.reference_environments(config.environments)
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    ledger = Ledger.counted(objective, config.budget, model.latent_dim, progress)
    pop = _Population(model.latent_dim)
    state = _EvolveState(pop, _Admission(config), np.ones(model.latent_dim), config.parents, config.parents)
    with EditWorkers(1 if config.parallel_edits else 0) as worker, ledger.running():
        smiles, z, sd = _initial(model, ledger, config, init_smiles, rng)
        pop.add(smiles, z, sd, np.array([ledger.cache.get(s, np.nan) for s in smiles]))
        if len(pop) < 2:
            raise InputError("fewer than 2 initial molecules have a finite score; nothing to evolve from")
        ledger.record(0)
        state.typical_sd = np.median(pop.sd, axis=0)
        while ledger.remaining > 0 and state.stalled < config.max_stalled_steps:
            _generation(model, state, config, rng, worker, ledger)
    oversized = state.admission.oversized
    if oversized:
        logger.info(
            "%d children the GP would have scored had over %d heavy atoms and were skipped "
            "(max_heavy_atoms; None, or --max-heavy-atoms 0, allows any size)",
            len(oversized),
            config.max_heavy_atoms,
        )
    return ledger.finish(
        time.perf_counter() - t0,
        state.stalled,
        config.max_stalled_steps,
        "generations",
        generations=state.step,
        widened_generations=state.widened,
        widest_parents=state.widest,
        oversized_children=len(oversized),
    )

#!/usr/bin/env python
"""Goal-directed optimization side by side: the PMO tasks that need no downloaded model, scored by
the ``guacamol`` package's own scoring functions, run in one process for molvae and the peers with
the same oracle, the same budget and the same cache rules.

Tasks: the 20 of PMO's 23 (Gao et al., NeurIPS 2022 Datasets and Benchmarks) that GuacaMol scores
without a trained model (DRD2, GSK3B and JNK3 need downloaded classifiers and are left out):
rediscoveries (celecoxib, troglitazone, thiothixene), similarities (albuterol, mestranol), isomers
(C7H8N2O2, C9H10N2O2PF2Cl), median molecules 1 and 2, MPOs (osimertinib, fexofenadine, ranolazine,
perindopril, amlodipine, sitagliptin, zaleplon), valsartan SMARTS, deco hop, scaffold hop, and QED.

Methods, all through the same :class:`Oracle` (a molecule's score is charged once: repeats of a
canonical SMILES are free, invalid SMILES score 0 and are not charged; a molecule whose scoring takes
over ORACLE_TIME_LIMIT seconds scores 0 and is charged, counted in ``oracle_timeouts``: GuacaMol's
pharmacophore fingerprint in the hop tasks is combinatorial in a molecule's features and ran for
over 25 minutes on one of them, where typical molecules take 0.1-0.3 s; the run stops at the budget):
* ``screening``: random ZINC250k train molecules, in a seeded order;
* ``mol_ga``: the ``mol_ga`` package's Graph GA (``default_ga``; start population of 100 random
  ZINC250k train molecules, 50 offspring per generation, its default population size), as the
  project measured it before (``../shared/MEASUREMENTS.md``);
* ``molvae_evolve``: ``molvae.optimize`` with its default method (``evolve``: latent-space evolution
  screened by a Tanimoto GP) and the bundled model, the oracle given as a Python callable, starting
  from the same 100 molecules as ``mol_ga``;
* ``molvae_bo``: the same with ``method="bo"`` (Bayesian optimization of latent points; slow, about
  400 s of optimizer time per 1,000 calls, so not in the default list). (``gradient`` needs an
  objective the property head predicts and ``improve`` needs start molecules, so neither runs on a
  black-box oracle.)
* ablations of ``evolve`` (not in the default list): ``evolve_model_moves`` (no graph edits: only the
  model's latent mutations, crossovers, branches and grafts) and ``evolve_graph_moves`` (only graph
  edits, the GP screening them: no move of the model), and ``evolve_inline`` (the graph edits in the
  main process instead of a worker process beside the model: the same molecules, for the timing), and
  ``evolve_unfamiliar`` (molvae 0.5's default: molecules with atom environments ZINC250k lacks are
  scored too).

Every row also says how a chemist would see the run (:func:`familiar_metrics`): the share of its top-10
whose atom environments all occur in ZINC250k, and its AUC and top-10 when the unfamiliar molecules
count as failures.

Metrics as PMO defines them: the area under the curve of the top-10 mean against oracle calls
(evaluated every 100 calls and at the end, the last value carried to the budget, divided by the
budget), and the top-10 mean and top-1 at the budget; wall time split into oracle and optimizer.

    pip install -c constraints.txt -e ".[pmo]" && pip install --no-deps guacamol==0.5.5
    python benchmarks/pmo.py --quick                  # 2 tasks, 300 calls, 1 seed: under 2 minutes
    python benchmarks/pmo.py --budget 1000 --seeds 0 1 2
    python benchmarks/pmo.py --budget 10000 --seeds 0 --methods molvae_evolve mol_ga   # a long run

guacamol 0.5.5 needs two shims, kept here and never in the library: ``scipy.histogram`` (removed
from SciPy) and, where the installed ``fcd`` lacks what guacamol imports, an ``fcd`` stand-in (only
its distribution benchmarks use it). It is installed without dependencies because it requires
``rdkit-pypi``, which would overwrite the ``rdkit`` package.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEFAULT_DATA, RESULTS, hardware, parse_args, save_results  # noqa: E402

from molvae import __version__, chem  # noqa: E402
from molvae.evaluation.metrics import tanimoto_matrix  # noqa: E402
from molvae.search.latent import diverse_top  # noqa: E402

AUC_FREQUENCY = 100
TOP = 10
ORACLE_TIME_LIMIT = 60  # seconds per molecule
# PMO's published sums of AUC top-10 over its 23 tasks at 10,000 calls (Gao et al. 2022, Table 2):
# not the same task set or budget as our rows, shown for orientation only.
PMO_PUBLISHED_SUMS = {"REINVENT": 14.196, "Graph GA": 13.751}
GUACAMOL_SUITE = {  # our name: the GuacaMol v2 benchmark name (None: built separately)
    "celecoxib_rediscovery": "Celecoxib rediscovery",
    "troglitazone_rediscovery": "Troglitazone rediscovery",
    "thiothixene_rediscovery": "Thiothixene rediscovery",
    "albuterol_similarity": "Albuterol similarity",
    "mestranol_similarity": "Mestranol similarity",
    "isomers_c7h8n2o2": None,
    "isomers_c9h10n2o2pf2cl": "C9H10N2O2PF2Cl",
    "median1": "Median molecules 1",
    "median2": "Median molecules 2",
    "osimertinib_mpo": "Osimertinib MPO",
    "fexofenadine_mpo": "Fexofenadine MPO",
    "ranolazine_mpo": "Ranolazine MPO",
    "perindopril_mpo": "Perindopril MPO",
    "amlodipine_mpo": "Amlodipine MPO",
    "sitagliptin_mpo": "Sitagliptin MPO",
    "zaleplon_mpo": "Zaleplon MPO",
    "valsartan_smarts": "Valsartan SMARTS",
    "deco_hop": "Deco Hop",
    "scaffold_hop": "Scaffold Hop",
    "qed": None,
}
QUICK_TASKS = ("qed", "celecoxib_rediscovery")
QUICK_BUDGET = 300
PEERS = ("screening", "mol_ga")  # the baselines each of molvae's methods is compared with
METHODS = (
    *PEERS,
    "molvae_evolve",
    "molvae_bo",
    "evolve_model_moves",
    "evolve_graph_moves",
    "evolve_inline",
    "evolve_unfamiliar",
)
DEFAULT_METHODS = ("screening", "mol_ga", "molvae_evolve")
START_POPULATION = 100  # mol_ga's and molvae's start molecules: the same random train molecules per seed


# ----------------------------------------------------------------------------- the tasks


def _import_guacamol():
    """guacamol 0.5.5 with its two shims (benchmark only)."""
    import scipy
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # guacamol uses RDKit's deprecated Morgan API: one warning per molecule
    if not hasattr(scipy, "histogram"):
        scipy.histogram = np.histogram
    try:
        import fcd  # noqa: F401

        ok = hasattr(fcd, "load_ref_model")
    except ImportError:
        ok = False
    if not ok:
        sys.modules["fcd"] = types.ModuleType("fcd")
    try:
        import guacamol.standard_benchmarks as standard
        from guacamol.benchmark_suites import goal_directed_benchmark_suite
    except ImportError as exc:
        raise SystemExit(f"pmo.py needs guacamol: pip install --no-deps guacamol==0.5.5 ({exc})") from None
    return standard, goal_directed_benchmark_suite


def load_tasks(names: list[str]) -> dict:
    """Scoring functions by task name (objects with ``score(smiles) -> float``)."""
    standard, suite = _import_guacamol()
    by_name = {b.name: b for b in suite("v2")}
    extra = {"isomers_c7h8n2o2": standard.isomers_c7h8n2o2(), "qed": standard.qed_benchmark()}
    return {n: (extra[n] if GUACAMOL_SUITE[n] is None else by_name[GUACAMOL_SUITE[n]]).objective for n in names}


# ----------------------------------------------------------------------------- the oracle


class BudgetExhausted(Exception):
    """Raised by :class:`Oracle` when a new molecule would exceed the budget."""


class _OracleTimeout(BaseException):  # not Exception: GuacaMol's scorers catch those and score -1
    pass


def _timed_score(scoring, smiles: str, limit: float) -> float | None:
    """``scoring.score(smiles)``, or None when it runs past ``limit`` seconds (SIGALRM: it interrupts
    the Python parts of the scoring, which is where GuacaMol's slow fingerprint spends its time)."""

    def stop(signum, frame):
        raise _OracleTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return float(scoring.score(smiles))
    except _OracleTimeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Oracle:
    """The one oracle every method calls: caches by canonical SMILES, charges each new valid molecule
    once, scores invalid ones 0 without charging, and records every charged call in order."""

    scoring: object
    budget: int
    cache: dict = field(default_factory=dict)
    scores: list = field(default_factory=list)
    smiles: list = field(default_factory=list)
    seconds: float = 0.0
    timeouts: int = 0

    @property
    def exhausted(self) -> bool:
        return len(self.scores) >= self.budget

    def __call__(self, batch: list[str]) -> list[float]:
        out = []
        for raw in batch:
            can = chem.canonicalize(raw)[0] if isinstance(raw, str) and raw else None
            if can is None:
                out.append(0.0)
                continue
            if can not in self.cache:
                if self.exhausted:
                    raise BudgetExhausted
                t0 = time.perf_counter()
                with chem.quiet_rdkit():  # guacamol's deprecated Morgan calls warn once per molecule
                    value = _timed_score(self.scoring, can, ORACLE_TIME_LIMIT)
                self.seconds += time.perf_counter() - t0
                if value is None:
                    self.timeouts += 1
                    logging.warning("oracle: %s took over %d s; scored 0", can, ORACLE_TIME_LIMIT)
                    value = 0.0
                self.cache[can] = max(value, 0.0)  # guacamol scores failures -1
                self.scores.append(self.cache[can])
                self.smiles.append(can)
            out.append(self.cache[can])
        return out


def top_mean(scores: list[float], k: int = TOP) -> float:
    return float(np.mean(sorted(scores, reverse=True)[:k])) if scores else 0.0


def auc_top(
    scores: list[float],
    budget: int,
    k: int = TOP,
    frequency: int = AUC_FREQUENCY,
    mean: Callable[[int], float] | None = None,
) -> float:
    """PMO's AUC of the top-``k`` mean against calls: the curve at every ``frequency`` calls and at the
    last call (trapezoids), its last value carried to ``budget``, divided by ``budget``. ``mean(n)``: the
    curve's value after ``n`` calls, when not the plain top-``k`` mean (the diverse top, say)."""
    n = min(len(scores), budget)
    mean = mean or (lambda at: top_mean(scores[:at], k))
    area, previous, done = 0.0, 0.0, 0
    for at in range(frequency, n, frequency):
        now = mean(at)
        area += frequency * (now + previous) / 2
        previous, done = now, at
    now = mean(n)
    area += (n - done) * (now + previous) / 2
    area += (budget - n) * now
    return area / budget


# ----------------------------------------------------------------------------- the methods


def run_screening(oracle: Oracle, pool: list[str], seed: int, **_) -> None:
    order = random.Random(seed).sample(pool, len(pool))
    for start in range(0, len(order), 100):
        oracle(order[start : start + 100])


def run_mol_ga(oracle: Oracle, pool: list[str], seed: int, **_) -> None:
    from mol_ga import default_ga

    rng = random.Random(seed)
    start = rng.sample(pool, START_POPULATION)
    default_ga(
        starting_population_smiles=start, scoring_function=oracle, max_generations=10**6, offspring_size=50, rng=rng
    )


# what a molvae run reports about itself, kept in its row (evolve: generations, and how often and how far
# the parent set widened when the best molecules' children were used up)
RUN_FACTS = ("generations", "widened_generations", "widest_parents", "oversized_children", "flat_objective")


def move_shares(evaluated: pd.DataFrame) -> dict:
    """Which move made the calls of a molvae run and its top-10 molecules (``source`` of the run's
    ledger: ``start``/``prior`` for the start population, then :data:`molvae.search.evolve.MOVES`):
    ``calls_by_move`` and ``top10_by_move``, counts by move name."""
    if evaluated is None or "source" not in evaluated or evaluated.empty:
        return {}
    scored = evaluated[np.isfinite(evaluated["score"].astype(float))]
    top = scored.sort_values("score", ascending=False, kind="stable").head(TOP)
    return {
        "calls_by_move": {str(k): int(v) for k, v in scored["source"].value_counts().items()},
        "top10_by_move": {str(k): int(v) for k, v in top["source"].value_counts().items()},
    }


def run_molvae(method: str):
    def run(oracle: Oracle, pool: list[str], seed: int, model=None, **_) -> None:
        import molvae
        from molvae.search import OptimizeConfig

        def score(smiles: list[str]) -> list[float]:
            try:
                return oracle(smiles)
            except BudgetExhausted:  # molvae keeps its own count; what is past the budget is not scored
                return [float("nan")] * len(smiles)

        start = random.Random(seed).sample(pool, START_POPULATION)  # the molecules mol_ga starts from
        run = molvae.optimize(model, score, OptimizeConfig(method=method, budget=oracle.budget, seed=seed), init=start)
        facts = {k: run.result.extra[k] for k in RUN_FACTS if k in run.result.extra}
        return {**facts, **move_shares(run.result.evaluated)}

    return run


def run_evolve_variant(**overrides):
    """``molvae.search.evolve`` with some settings changed (the ablations), same start and oracle."""

    def run(oracle: Oracle, pool: list[str], seed: int, model=None, **_) -> None:
        from molvae.search.evolve import EvolveConfig, evolve
        from molvae.search.objectives import callable_objective

        def score(smiles: list[str]) -> list[float]:
            try:
                return oracle(smiles)
            except BudgetExhausted:
                return [float("nan")] * len(smiles)

        start = random.Random(seed).sample(pool, START_POPULATION)
        result = evolve(
            model,
            callable_objective(score),
            EvolveConfig(budget=oracle.budget, seed=seed, **overrides),
            init_smiles=start,
            progress=False,
        )
        facts = {k: result.extra[k] for k in RUN_FACTS if k in result.extra}
        return {**facts, **move_shares(result.evaluated)}

    return run


RUNNERS = {
    "screening": run_screening,
    "mol_ga": run_mol_ga,
    "molvae_evolve": run_molvae("evolve"),
    "molvae_bo": run_molvae("bo"),
    # ablations of evolve: no graph edits (the model's moves only), and graph edits only (no model moves)
    "evolve_model_moves": run_evolve_variant(graph_fraction=0.0),
    "evolve_graph_moves": run_evolve_variant(
        graph_fraction=1.0, crossover_fraction=0.0, branch_fraction=0.0, graft_fraction=0.0
    ),
    # the same run with the graph edits in the main process (no worker): same molecules, for timing
    "evolve_inline": run_evolve_variant(parallel_edits=False),
    # molvae 0.5's default: molecules with atom environments ZINC250k lacks are scored too
    "evolve_unfamiliar": run_evolve_variant(familiar_only=False),
}


def run_one(task: str, scoring, method: str, budget: int, seed: int, pool: list[str], model) -> dict:
    oracle = Oracle(scoring, budget)
    t0 = time.perf_counter()
    facts = None
    try:
        facts = RUNNERS[method](oracle, pool, seed, model=model)
    except BudgetExhausted:
        pass
    wall = time.perf_counter() - t0
    best = int(np.argmax(oracle.scores)) if oracle.scores else None
    return {
        "task": task,
        "method": method,
        "seed": seed,
        "budget": budget,
        "calls": len(oracle.scores),
        "auc_top10": auc_top(oracle.scores, budget),
        "top10": top_mean(oracle.scores),
        "top1": max(oracle.scores, default=0.0),
        "best_smiles": oracle.smiles[best] if best is not None else None,
        "wall_seconds": wall,
        "oracle_seconds": oracle.seconds,
        "optimizer_seconds": wall - oracle.seconds,
        "oracle_timeouts": oracle.timeouts,
        **familiar_metrics(oracle, budget),
        **hit_metrics(oracle, budget),
        **(facts or {}),
    }


def familiar_metrics(oracle: Oracle, budget: int) -> dict:
    """The chemist's view of a run: the share of its top-10 molecules whose atom environments all occur
    in ZINC250k (:func:`molvae.chem.familiar_flags`), and its AUC and top-10 when unfamiliar molecules
    count as failures (score 0): what is left after a chemist strikes out O-F bonds, peroxides and the like."""
    familiar = chem.familiar_flags(oracle.smiles)
    order = np.argsort(-np.asarray(oracle.scores), kind="stable")[:TOP]
    kept = [s if ok else 0.0 for s, ok in zip(oracle.scores, familiar)]
    return {
        "top10_familiar_share": float(familiar[order].mean()) if len(order) else float("nan"),
        "auc_top10_familiar": auc_top(kept, budget),
        "top10_familiar": top_mean(kept),
        "familiar_share": float(familiar.mean()) if len(familiar) else float("nan"),
    }


DIVERSE_DISTANCE = 0.4  # the diverse top-10: each at Tanimoto distance >= 0.4 from every better one


def hit_metrics(oracle: Oracle, budget: int) -> dict:
    """How varied a run's hits are: distinct Bemis-Murcko scaffolds among its top-10 molecules (every
    acyclic molecule counts as one scaffold, "none"), PMO's diversity of its top 100: one minus the
    mean pairwise Tanimoto similarity (Morgan radius 2, 2,048 bits; Gao et al. 2022), and the AUC and
    final mean of the diverse top-10 (:func:`molvae.search.latent.diverse_top` at
    :data:`DIVERSE_DISTANCE`): what asking for diverse hits costs."""
    order = np.argsort(-np.asarray(oracle.scores), kind="stable")
    top10 = [oracle.smiles[i] for i in order[:TOP]]
    scaffolds = {chem.murcko_scaffold(s, min_rings=1) or "none" for s in top10}
    top100 = [oracle.smiles[i] for i in order[:100]]
    diversity = float("nan")
    if len(top100) > 1:
        fps = chem.morgan_fingerprints(top100, n_bits=2048)
        sim = tanimoto_matrix(fps, fps)
        pairs = np.triu_indices(len(top100), k=1)
        diversity = float(1.0 - sim[pairs].mean())
    scores = [s if np.isfinite(s) else 0.0 for s in oracle.scores]
    fps = chem.morgan_fingerprints(list(oracle.smiles))

    def diverse_mean(n: int) -> float:
        kept = diverse_top(oracle.smiles[:n], scores[:n], TOP, DIVERSE_DISTANCE, fingerprints=fps[:n])
        return float(np.mean([scores[i] for i in kept])) if kept else 0.0

    return {
        "top10_scaffolds": len(scaffolds) if top10 else 0,
        "top100_diversity": diversity,
        "auc_top10_diverse": auc_top(scores, budget, mean=diverse_mean),
        "top10_diverse": diverse_mean(len(scores)),
    }


# ----------------------------------------------------------------------------- tables


def summarize(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return (
        frame.groupby(["task", "method"])
        .agg(
            auc_mean=("auc_top10", "mean"),
            auc_sd=("auc_top10", "std"),
            top10=("top10", "mean"),
            top1=("top1", "mean"),
            calls=("calls", "mean"),
            optimizer_s=("optimizer_seconds", "mean"),
            oracle_s=("oracle_seconds", "mean"),
            seeds=("seed", "count"),
            **(
                {
                    "auc_top10_familiar": ("auc_top10_familiar", "mean"),
                    "top10_familiar_share": ("top10_familiar_share", "mean"),
                }
                if "auc_top10_familiar" in frame
                else {}
            ),
            **(
                {
                    "top10_scaffolds": ("top10_scaffolds", "mean"),
                    "top100_diversity": ("top100_diversity", "mean"),
                    "auc_top10_diverse": ("auc_top10_diverse", "mean"),
                }
                if "top10_scaffolds" in frame
                else {}
            ),
        )
        .reset_index()
    )


def markdown(rows: list[dict], budget: int, methods: list[str]) -> str:
    table = summarize(rows)
    lines = [
        f"# PMO tasks side by side ({budget} oracle calls; AUC top-10, mean ± sd over seeds)",
        "",
        "| task | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        cells = []
        for m in methods:
            hit = table[(table.task == task) & (table.method == m)]
            if hit.empty:
                cells.append("")
                continue
            r = hit.iloc[0]
            sd = "" if np.isnan(r.auc_sd) else f" ± {r.auc_sd:.3f}"
            cells.append(f"{r.auc_mean:.3f}{sd}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    sums = table.groupby("method")["auc_mean"].sum()
    counts = table.groupby("method")["task"].nunique()
    tasks = table["task"].nunique()

    def total(m: str) -> str:  # a method that did not run every task says over how many its sum is
        partial = f" ({counts.get(m, 0)} tasks)" if counts.get(m, 0) < tasks else ""
        return f"**{sums.get(m, float('nan')):.3f}**{partial}"

    lines.append("| **sum** | " + " | ".join(total(m) for m in methods) + " |")
    overhead = table.groupby("method")["optimizer_s"].mean()
    lines.append(
        "| optimizer seconds per task | " + " | ".join(f"{overhead.get(m, float('nan')):.1f}" for m in methods) + " |"
    )

    def measured_row(label: str, values: pd.Series, column: str, fmt: str) -> str:
        # rows of runs older than a measure (merged with --combine) have none of it
        measured = pd.DataFrame(rows).groupby("method")[column].apply(lambda v: v.notna().all())
        return (
            f"| {label} | "
            + " | ".join(fmt.format(values[m]) if measured.get(m, False) else "not measured" for m in methods)
            + " |"
        )

    by_method = table.groupby("method")
    if "auc_top10_familiar" in table:
        familiar = "auc_top10_familiar"
        lines.append(
            measured_row("**sum, unfamiliar molecules scored 0**", by_method[familiar].sum(), familiar, "**{:.3f}**")
        )
        lines.append(
            measured_row("familiar share of the top-10", by_method["top10_familiar_share"].mean(), familiar, "{:.2f}")
        )
    if "top10_scaffolds" in table:
        for label, values, fmt in (
            ("distinct scaffolds in the top-10, mean per task", by_method["top10_scaffolds"].mean(), "{:.1f}"),
            (
                f"**sum, diverse top-10** (each at Tanimoto distance >= {DIVERSE_DISTANCE} from every better one)",
                by_method["auc_top10_diverse"].sum(),
                "**{:.3f}**",
            ),
            ("diversity of the top-100 (PMO), mean per task", by_method["top100_diversity"].mean(), "{:.3f}"),
        ):
            lines.append(measured_row(label, values, "top10_scaffolds", fmt))
    lines += move_table(rows, methods)
    lines += [
        "",
        "PMO's published sums over its 23 tasks at 10,000 calls (Gao et al. 2022), for orientation "
        "only (other tasks and budget): " + ", ".join(f"{k} {v}" for k, v in PMO_PUBLISHED_SUMS.items()) + ".",
    ]
    wide = table.pivot(index="task", columns="method", values="auc_mean")
    for ours in (m for m in METHODS if m not in PEERS):
        for peer in ("mol_ga", "screening"):
            if ours not in methods or peer not in methods:
                continue
            both = wide[[ours, peer]].dropna()  # a task one of the two did not run is left out of both
            where = "" if len(both) == len(wide) else f" (on the {len(both)} tasks both ran)"
            if peer == "mol_ga":
                ratio = both[ours].sum() / both[peer].sum()
                lines.append(f"{ours} / {peer} summed AUC: {ratio:.3f}{where}.")
            wins = int((both[ours] > both[peer]).sum())
            lines.append(f"{ours} beats {peer} on {wins} of {len(both)} tasks{where}.")
    return "\n".join(lines) + "\n"


def move_table(rows: list[dict], methods: list[str]) -> list[str]:
    """Markdown lines: for each molvae method that recorded its moves, the share of its oracle calls
    and of its top-10 molecules (all tasks and seeds together) made by each move."""
    recorded = [m for m in methods if any(r["method"] == m and r.get("top10_by_move") for r in rows)]
    if not recorded:
        return []
    totals = {}
    for m in recorded:
        calls, top = {}, {}
        for r in rows:
            if r["method"] != m:
                continue
            for name, n in (r.get("calls_by_move") or {}).items():
                calls[name] = calls.get(name, 0) + n
            for name, n in (r.get("top10_by_move") or {}).items():
                top[name] = top.get(name, 0) + n
        totals[m] = (calls, top)
    moves = sorted({name for calls, top in totals.values() for name in (*calls, *top)})
    lines = [
        "",
        "Which move made the calls and the top-10 molecules (share over all tasks and seeds; "
        "init: the start population):",
        "",
        "| method | " + " | ".join(f"{name}: calls / top-10" for name in moves) + " |",
        "|---|" + "---|" * len(moves),
    ]
    for m, (calls, top) in totals.items():
        n_calls, n_top = max(sum(calls.values()), 1), max(sum(top.values()), 1)
        cells = [f"{calls.get(name, 0) / n_calls:.2f} / {top.get(name, 0) / n_top:.2f}" for name in moves]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def combine(paths: list[str], stem: str | None, replace: bool, parser: argparse.ArgumentParser) -> int:
    """Merge earlier results files of one budget.

    A task, method and seed found in two files is an error, unless ``replace``: then the later file's
    row wins (a re-run of one method beside the peers' rows of an earlier run) and the JSON says so.
    """
    parts = [json.loads(Path(p).read_text()) for p in paths]
    budgets = {part["budget"] for part in parts}
    if len(budgets) != 1:
        parser.error(f"the files have different budgets: {sorted(budgets)}")
    merged: dict[tuple, dict] = {}
    replaced = []
    for path, part in zip(paths, parts):
        here = set()
        for row in part["rows"]:
            key = (row["task"], row["method"], row["seed"])
            if key in here:
                parser.error(f"{key} appears twice in {path}")
            here.add(key)
            if key in merged:
                if not replace:
                    parser.error(f"{key} appears in more than one file (--replace keeps the later file's row)")
                replaced.append(
                    {
                        "task": key[0],
                        "method": key[1],
                        "seed": key[2],
                        "from": Path(path).name,
                        "replaced": merged[key]["from_file"],
                    }
                )
            merged[key] = {**row, "from_file": row.get("from_file", Path(path).name)}
    rows = list(merged.values())
    budget = budgets.pop()
    methods = list(dict.fromkeys(r["method"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    save_results(
        RESULTS,
        stem or f"pmo_{budget}",
        {
            "budget": budget,
            "seeds": seeds,
            "hardware": parts[0]["hardware"],
            "model": parts[0]["model"],
            "hardware_by_file": {Path(p).name: part["hardware"] for p, part in zip(paths, parts)},
            "molvae_by_file": {Path(p).name: part.get("molvae", "not recorded") for p, part in zip(paths, parts)},
            "combined_from": [Path(p).name for p in paths],
            "replaced": replaced,
            "rows": rows,
            "published_sums_10k_23_tasks": PMO_PUBLISHED_SUMS,
        },
        markdown(rows, budget, methods),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", nargs="+", choices=list(GUACAMOL_SUITE), default=list(GUACAMOL_SUITE))
    p.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(DEFAULT_METHODS),
        help=f"default: {' '.join(DEFAULT_METHODS)}",
    )
    p.add_argument("--budget", type=int, default=1000)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--quick", action="store_true", help=f"tasks {', '.join(QUICK_TASKS)}, budget {QUICK_BUDGET}, seed 0"
    )
    p.add_argument("--model", default=None, help="molvae checkpoint or bundled name (default: the bundled model)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="ZINC250k with a split column (screening and GA pools)")
    p.add_argument("--stem", default=None, help="results file name (default: pmo_quick or pmo_BUDGET)")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        default=None,
        help="run nothing: merge the rows of earlier results files of one budget (e.g. runs of "
        "different seeds) into --stem",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="with --combine: a task, method and seed in two files keeps the later file's row "
        "(e.g. one method re-run beside the peers' rows of an earlier run)",
    )
    args = parse_args(p, argv, level=logging.WARNING, timestamps=False)
    if args.replace and not args.combine:
        p.error("--replace only applies to --combine")
    if args.combine:
        return combine(args.combine, args.stem, args.replace, p)
    if args.quick:
        args.tasks, args.budget, args.seeds = list(QUICK_TASKS), QUICK_BUDGET, [0]
    import molvae

    model = molvae.load(args.model)
    frame = pd.read_csv(args.data)
    pool = frame.loc[frame["split"] == "train", "smiles"].sample(n=max(5000, args.budget), random_state=0).tolist()
    tasks = load_tasks(args.tasks)
    rows = []
    stem = args.stem or ("pmo_quick" if args.quick else f"pmo_{args.budget}")
    for done, (task, scoring) in enumerate(tasks.items(), 1):
        for seed in args.seeds:
            for method in args.methods:
                row = run_one(task, scoring, method, args.budget, seed, pool, model)
                rows.append(row)
                print(
                    f"{task:26s} {method:16s} seed {seed}: AUC {row['auc_top10']:.3f}, top-10 {row['top10']:.3f}, "
                    f"top-1 {row['top1']:.3f}, {row['calls']} calls, optimizer {row['optimizer_seconds']:.1f} s, "
                    f"oracle {row['oracle_seconds']:.1f} s; familiar: top-10 share {row['top10_familiar_share']:.1f}, "
                    f"AUC {row['auc_top10_familiar']:.3f}",
                    flush=True,
                )
        # saved after every task, so a run stopped early keeps the tasks it finished
        save_results(
            RESULTS,
            stem,
            {
                "molvae": __version__,
                "budget": args.budget,
                "seeds": args.seeds,
                "hardware": hardware(),
                "model": args.model or "zinc250k_selfies",
                "tasks_done": done,
                "tasks_planned": len(tasks),
                "rows": rows,
                "published_sums_10k_23_tasks": PMO_PUBLISHED_SUMS,
            },
            markdown(rows, args.budget, args.methods),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

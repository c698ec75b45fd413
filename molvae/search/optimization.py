"""One entry point for the optimization methods, and the files a run writes.

:func:`run_optimization` runs one of four methods on an objective:

- ``evolve`` (default): latent-space evolution screened by a Tanimoto Gaussian process
  (:func:`molvae.search.evolve.evolve`);
- ``bo``: Bayesian optimization in latent space (:func:`molvae.search.bo.optimize`);
- ``gradient``: Adam on the property predictor, decoded molecules re-scored
  (:func:`molvae.search.gradient.gradient_ascent`);
- ``improve``: improve each initial molecule under a similarity constraint
  (:func:`molvae.search.constrained.improve_molecules`, one row per input molecule).

A setting the chosen method does not use is an error, never silently ignored (``METHOD_SETTINGS``
says which method uses which). :func:`write_optimization` writes the tables and pictures, the
sibling files named by :func:`molvae.training.runs.sibling_path` (``out.csv`` -> ``out.trace.csv``, ``out.trace.png``,
``out.neighbors.csv``).

Example:
    >>> run = run_optimization(model, make_objective("qed"), OptimizeConfig(budget=100))   # doctest: +SKIP
    >>> run.top()                                                                         # doctest: +SKIP
    >>> write_optimization(run, "qed.csv")                                                # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from molvae import chem
from molvae.errors import ConfigError, InputError
from molvae.io import write_table
from molvae.models.vae import MolVAE
from molvae.pretrained import bundled_hint, bundled_models
from molvae.search.bo import BOConfig, optimize
from molvae.search.constrained import ConstrainedConfig, improve_molecules
from molvae.search.evolve import EvolveConfig, evolve
from molvae.search.gradient import gradient_ascent
from molvae.search.latent import OptimizationResult, predictor_estimate
from molvae.search.neighbors import LatentLibrary
from molvae.search.objectives import Objective
from molvae.training.runs import NEIGHBORS_TABLE, TRACE_PLOT, TRACE_TABLE, sibling_path
from molvae.viz.drawing import molecule_grid
from molvae.viz.plots import optimization_trace

logger = logging.getLogger(__name__)

METHODS = ("evolve", "bo", "gradient", "improve")
DEFAULT_METHOD = "evolve"
BO_SETTINGS = ("n_init", "batch_size", "acquisition", "proposals", "pool_size", "trust_region")
EVOLVE_SETTINGS = ("n_init", "batch_size", "pool_size", "max_heavy_atoms", "familiar_only", "environments", "start")
METHOD_SETTINGS = {
    "evolve": ("budget", "library", *EVOLVE_SETTINGS),
    "bo": ("budget", "library", *BO_SETTINGS),
    "gradient": ("budget", "library"),
    "improve": ("min_similarity",),
}
DEFAULT_BUDGET = EvolveConfig.budget
LIBRARY_NEIGHBOURS = 3  # nearest library compounds reported per top molecule


@dataclass(frozen=True)
class OptimizeConfig:
    """What :func:`run_optimization` runs. A method setting left None takes the method's default; one
    set for a method that does not use it (see ``METHOD_SETTINGS``) is an InputError."""

    method: str = DEFAULT_METHOD
    budget: int | None = None  # evolve, bo, gradient: oracle calls, initial data included (default 300)
    n_init: int | None = None  # evolve, bo: prior molecules evaluated first when no initial library is given
    batch_size: int | None = None  # evolve, bo: oracle calls per generation / proposals per step
    acquisition: str | None = None  # bo
    proposals: str | None = None  # bo: "pool" or "continuous"
    pool_size: int | None = None  # evolve, bo: latent points decoded per step (raised to batch_size if smaller)
    trust_region: bool | None = None  # bo
    max_heavy_atoms: int | None = None  # evolve: molecules larger than this are never scored (default 100; 0: any size)
    familiar_only: bool | None = (
        None  # evolve: score only molecules whose atom environments occur in the reference (default True)
    )
    environments: str | None = None  # evolve: the reference (.npy, scripts/atom_environments.py); default ZINC250k's
    start: str | None = (
        None  # evolve without initial molecules: "auto" (default), "prior" or a model whose samples start it
    )
    min_similarity: float | None = None  # improve: Tanimoto similarity to the start a result must keep
    library: str | Path | None = (
        None  # evolve, bo, gradient: encoded library searched for the top molecules' neighbours
    )
    top: int = 10  # best molecules reported, drawn and looked up in the library
    min_distance: float = 0.0  # > 0: each reported molecule at least this Tanimoto distance from every better one
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        settings = sorted({name for names in METHOD_SETTINGS.values() for name in names})
        unused = [
            name for name in settings if getattr(self, name) is not None and name not in METHOD_SETTINGS[self.method]
        ]
        if unused:
            users = sorted({m for name in unused for m in METHODS if name in METHOD_SETTINGS[m]})
            raise InputError(
                f"method {self.method} does not use {', '.join(unused)} (used by {' and '.join(users)} only)"
            )
        if self.budget is not None and self.budget < 1:
            raise InputError("budget must be at least 1")
        if not 0.0 <= self.min_distance < 1.0:
            raise InputError(f"min_distance is a Tanimoto distance in [0, 1), not {self.min_distance}")
        if self.method == "bo":  # out-of-range values fail here, before a model is loaded
            self.bo_config()
        elif self.method == "evolve":
            self.evolve_config()
        elif self.method == "improve":
            self.improve_config(gradient=True)

    def bo_config(self) -> BOConfig:
        given = {name: getattr(self, name) for name in ("budget", *BO_SETTINGS) if getattr(self, name) is not None}
        defaults = BOConfig()
        batch_size = given.get("batch_size", defaults.batch_size)
        given["pool_size"] = max(given.get("pool_size", defaults.pool_size), batch_size)
        return BOConfig(**given, seed=self.seed)

    def evolve_config(self) -> EvolveConfig:
        given = {name: getattr(self, name) for name in ("budget", *EVOLVE_SETTINGS) if getattr(self, name) is not None}
        batch_size = given.get("batch_size") or EvolveConfig(budget=given.get("budget", EvolveConfig.budget)).batch_size
        given["pool_size"] = max(given.get("pool_size", EvolveConfig.pool_size), batch_size)
        return EvolveConfig(**given, seed=self.seed)

    def improve_config(self, gradient: bool) -> ConstrainedConfig:
        """``gradient``: whether the objective has a property-predictor surrogate to walk uphill on."""
        given = {"min_similarity": self.min_similarity} if self.min_similarity is not None else {}
        return ConstrainedConfig(**given, seed=self.seed, **({} if gradient else {"gradient_points": 0}))


@dataclass
class OptimizationRun:
    """What :func:`run_optimization` returns: ``result`` (evolve, bo, gradient: every oracle call and the trace)
    or ``improved`` (improve: one row per input molecule), and ``neighbors`` (nearest library compounds
    of the top molecules, when a library was given: ``query``, ``rank``, ``distance``, ``similarity``,
    the library's columns and ``top_smiles``)."""

    config: OptimizeConfig
    objective: str
    settings: EvolveConfig | BOConfig | ConstrainedConfig | None = None  # what the method ran with (None: gradient)
    result: OptimizationResult | None = None
    improved: pd.DataFrame | None = None
    neighbors: pd.DataFrame | None = None

    def top(self) -> pd.DataFrame:
        """The ``config.top`` best molecules (``smiles``, ``score``, ``step``, ``call``), or for improve the
        ``config.top`` largest successful improvements (rows of ``improved``)."""
        if self.improved is not None:
            ok = self.improved[self.improved["success"].astype(bool)]
            return ok.sort_values("improvement", ascending=False).head(self.config.top)
        return self.result.top(self.config.top, self.config.min_distance)

    def to_frame(self) -> pd.DataFrame:
        """The table ``molvae optimize -o`` writes: every oracle call with its ``objective`` (evolve, bo,
        gradient), or one row per input molecule (improve)."""
        if self.improved is not None:
            return self.improved
        return self.result.evaluated.assign(objective=self.result.objective)


def run_optimization(
    model: MolVAE,
    objective: Objective,
    config: OptimizeConfig | None = None,
    init_smiles: Sequence[str] | None = None,
    progress: bool = True,
) -> OptimizationRun:
    """Run ``config.method`` on ``objective``; ``init_smiles``: the initial library (evolve, bo, gradient: optional,
    else prior samples) or the molecules to improve (improve: required)."""
    config = config or OptimizeConfig()
    library = LatentLibrary.from_file(config.library) if config.library else None  # a bad file fails first
    if config.environments is not None:
        chem.reference_environments(config.environments)  # so does a bad reference of familiar molecules
    if config.start is not None:  # and a start model that is not there
        if init_smiles is not None:
            raise InputError("start (--start) chooses the start molecules of a run without initial ones (--init)")
        if config.start not in ("auto", "prior") and not (
            Path(config.start).is_file() or config.start in bundled_models()
        ):
            raise InputError(
                f"start model {config.start} not found (a checkpoint path, a bundled name, auto or "
                f"prior); {bundled_hint(config.start)}"
            )
    if config.method == "improve":
        if init_smiles is None:
            raise InputError("method improve needs initial molecules: the ones to improve")
        settings = config.improve_config(gradient=predictor_estimate(model, objective) is not None)
        return OptimizationRun(
            config,
            objective.name,
            settings,
            improved=improve_molecules(model, init_smiles, objective, settings, progress=progress),
        )
    settings = None
    if config.method == "evolve":
        settings = config.evolve_config()
        result = evolve(model, objective, settings, init_smiles=init_smiles, progress=progress)
    elif config.method == "bo":
        settings = config.bo_config()
        result = optimize(model, objective, settings, init_smiles=init_smiles, progress=progress)
    else:
        result = gradient_ascent(
            model,
            objective,
            budget=config.budget or DEFAULT_BUDGET,
            init_smiles=init_smiles,
            seed=config.seed,
            progress=progress,
        )
    run = OptimizationRun(config, objective.name, settings, result=result)
    top = run.top()
    if library is not None and len(top):
        z = result.evaluated.loc[top.index, [f"z{j}" for j in range(model.latent_dim)]].to_numpy()
        hits = library.query(z, LIBRARY_NEIGHBOURS, top["smiles"].tolist())
        run.neighbors = hits.assign(top_smiles=[top["smiles"].iloc[q] for q in hits["query"]])
    return run


def write_optimization(
    run: OptimizationRun, output: str | Path | None = None, image: str | Path | None = None
) -> list[Path]:
    """Write ``run``: the table to ``output`` (every oracle call with its ``objective``, or the improve
    table) with, for evolve, bo and gradient, the trace (:func:`molvae.training.runs.sibling_path`
    ``trace.csv``, a picture in
    ``trace.png``) and the library neighbours (``neighbors.csv``); ``image``: the top molecules drawn
    with their scores (improve: each start beside its improvement). Returns the paths written."""
    written: list[Path] = []
    if output:
        written.append(write_table(run.to_frame(), output))
        if run.improved is None:
            result = run.result
            written.append(write_table(result.trace, sibling_path(output, TRACE_TABLE)))
            try:
                written.append(
                    optimization_trace(
                        result.evaluated, result.trace, sibling_path(output, TRACE_PLOT), result.objective
                    )
                )
            except Exception as exc:  # a picture must never cost the results
                logger.warning("could not draw the optimization trace: %s", exc)
            if run.neighbors is not None:
                written.append(write_table(run.neighbors, sibling_path(output, NEIGHBORS_TABLE)))
    if image:
        written.append(_draw_top(run, image))
    return written


def _draw_top(run: OptimizationRun, path: str | Path) -> Path:
    top = run.top()
    if run.improved is not None:
        smiles = [s for _, r in top.iterrows() for s in (r.start, r.best)]
        legends = [
            text
            for _, r in top.iterrows()
            for text in (
                f"start {r.start_score:.2f}",
                f"{r.best_score:.2f} ({r.improvement:+.2f}), sim {r.similarity:.2f}",
            )
        ]
        return molecule_grid(smiles, legends, path, mols_per_row=2)
    return molecule_grid(
        top["smiles"].tolist(),
        [f"#{k + 1}  {r.score:.3f}  step {int(r.step)}" for k, (_, r) in enumerate(top.iterrows())],
        path,
    )

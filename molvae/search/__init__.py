"""Searching the latent space.

- :mod:`~molvae.search.latent`: what every search method shares, one definition each: encoding a
  molecule to its latent mean, the checked decode (one chemistry policy: invalid and radical-carrying
  molecules are rejected with a reason), the :class:`Ledger` of oracle calls, and the property-head
  surrogate of an objective (:class:`PropertySurrogate`);
- :mod:`~molvae.search.objectives`: named scores, desirability specs, similarity, user oracles;
- :mod:`~molvae.search.interpolate` and :mod:`~molvae.search.explore`: paths between two molecules and
  neighbourhoods of one;
- :mod:`~molvae.search.evolve` (the default: latent-space evolution screened by the Tanimoto GP of
  :mod:`~molvae.search.tanimoto`), :mod:`~molvae.search.bo` (Bayesian optimization of latent points),
  :mod:`~molvae.search.gradient` (gradient ascent on the property predictor) and
  :mod:`~molvae.search.constrained` (lead improvement under a similarity constraint), behind one entry
  point, :func:`run_optimization`
  (:mod:`~molvae.search.optimization`), which also writes a run's files;
- :mod:`~molvae.search.neighbors`: nearest compounds of an encoded library.

Example:
    >>> from molvae.search import OptimizeConfig, make_objective, run_optimization   # doctest: +SKIP
    >>> run = run_optimization(model, make_objective("qed"), OptimizeConfig(budget=100))  # doctest: +SKIP
"""

from molvae.search.explore import explore
from molvae.search.interpolate import interpolate, slerp
from molvae.search.latent import (
    CheckedDecode,
    Ledger,
    OptimizationResult,
    PropertySurrogate,
    decode_checked,
    encode_one,
    encode_starts,
    predictor_estimate,
)
from molvae.search.objectives import Objective, make_objective
from molvae.search.optimization import METHODS, OptimizationRun, OptimizeConfig, run_optimization, write_optimization

__all__ = [
    "CheckedDecode",
    "Ledger",
    "METHODS",
    "Objective",
    "OptimizationResult",
    "OptimizationRun",
    "OptimizeConfig",
    "PropertySurrogate",
    "decode_checked",
    "encode_one",
    "encode_starts",
    "explore",
    "interpolate",
    "make_objective",
    "predictor_estimate",
    "run_optimization",
    "slerp",
    "write_optimization",
]

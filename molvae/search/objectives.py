"""Objectives for latent-space search: a registry of named scores, similarity to a reference,
desirability specs, the model's property predictor as a surrogate, and user oracles.

Every objective maps a list of canonical SMILES (and, for surrogates, their latent points) to
floats, higher is better, NaN where the evaluation failed.

Example:
    >>> make_objective("qed")(["CCO"])                                   # doctest: +ELLIPSIS
    array([0.40...])
    >>> make_objective("qed high, sa <= 4, mw in 250-450").name
    'qed high, sa <= 4, mw in 250-450'
"""

from __future__ import annotations

import difflib
import importlib
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from molvae import chem
from molvae.errors import InputError
from molvae.evaluation.metrics import tanimoto_matrix

logger = logging.getLogger(__name__)

# Penalized logP standardization statistics on ZINC250k, as used by JT-VAE (Jin et al. 2018) and
# the weighted-retraining paper (Tripp et al. 2020): mean and std of logP, of -SA and of -cycle.
PLOGP_STATS = {
    "logp": (2.4570953396190123, 1.434324401111988),
    "neg_sa": (-3.0525811293166134, 0.8335207024513095),
    "neg_cycle": (-0.0485696876403053, 0.2860212110245455),
}

# Rough scales used to weigh constraint violations of different properties against each other.
PROPERTY_SCALES = {
    "qed": 0.1,
    "logp": 1.0,
    "sa": 1.0,
    "mw": 50.0,
    "tpsa": 20.0,
    "hbd": 1.0,
    "hba": 1.0,
    "rotb": 1.0,
    "rings": 1.0,
    "heavy_atoms": 5.0,
}
# The values a term can take at all (a constraint outside them cannot hold); unlisted: any value.
PROPERTY_BOUNDS = {
    "qed": (0.0, 1.0),
    "sa": (1.0, 10.0),
    "mw": (0.0, math.inf),
    "tpsa": (0.0, math.inf),
    "hbd": (0.0, math.inf),
    "hba": (0.0, math.inf),
    "rotb": (0.0, math.inf),
    "rings": (0.0, math.inf),
    "heavy_atoms": (0.0, math.inf),
    "sim": (0.0, 1.0),
}


@dataclass
class Objective:
    """A named score: ``fn(smiles, z)`` -> ``n`` floats, higher is better, NaN for failures.

    ``surrogate(properties)`` (optional) gives the same score from the model's predicted properties
    (a dict of arrays or tensors by property name), for :class:`molvae.search.latent.PropertySurrogate`.
    """

    name: str
    description: str
    fn: Callable[[Sequence[str], np.ndarray | None], np.ndarray]
    needs: tuple[str, ...] = ()  # model properties a surrogate needs
    surrogate: Callable[[dict[str, object]], object] | None = field(default=None, repr=False)

    def __call__(self, smiles: Sequence[str], z: np.ndarray | None = None) -> np.ndarray:
        values = np.asarray(self.fn(list(smiles), z), dtype=np.float64)
        if values.shape != (len(smiles),):
            raise InputError(f"objective {self.name} returned {values.shape} values for {len(smiles)} molecules")
        return values


def penalized_logp(smiles: Sequence[str]) -> np.ndarray:
    """Standardized logP - SA - ring penalty (max ring size above 6), with ZINC250k statistics."""
    props = chem.compute_properties(smiles, ["logp", "sa"])
    cycles = np.array([chem.max_ring_size(s) for s in smiles], dtype=np.float64)
    cycle_penalty = np.maximum(cycles - 6, 0)
    (ml, sl), (ms, ss), (mc, sc) = PLOGP_STATS["logp"], PLOGP_STATS["neg_sa"], PLOGP_STATS["neg_cycle"]
    return (props[:, 0] - ml) / sl + (-props[:, 1] - ms) / ss + (-cycle_penalty - mc) / sc


def _property(name: str, sign: float = 1.0) -> Callable:
    return lambda smiles, z=None: sign * chem.compute_properties(smiles, [name])[:, 0]


def _surrogate_property(name: str, sign: float = 1.0) -> Callable:
    return lambda p: sign * p[name]


def _plogp_surrogate(p):
    (ml, sl), (ms, ss) = PLOGP_STATS["logp"], PLOGP_STATS["neg_sa"]
    return (p["logp"] - ml) / sl + (-p["sa"] - ms) / ss


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        Objective("qed", "QED drug-likeness (maximize)", _property("qed"), ("qed",), _surrogate_property("qed")),
        Objective("logp", "Crippen logP (maximize)", _property("logp"), ("logp",), _surrogate_property("logp")),
        Objective(
            "sa",
            "synthetic accessibility (minimize: the score is -SA)",
            _property("sa", -1.0),
            ("sa",),
            _surrogate_property("sa", -1.0),
        ),
        Objective(
            "penalized_logp",
            "standardized logP - SA - ring penalty (ZINC250k statistics; JT-VAE)",
            lambda smiles, z=None: penalized_logp(smiles),
            ("logp", "sa"),
            _plogp_surrogate,
        ),
        Objective("mw", "molecular weight (maximize; use a spec such as 'mw in 250-450' for a range)", _property("mw")),
        Objective(
            "tpsa", "topological polar surface area (maximize; or a spec such as 'tpsa <= 90')", _property("tpsa")
        ),
    ]
}

OBJECTIVE_FORMS = {
    "similarity:SMILES": "Tanimoto similarity (Morgan radius 2) to a reference molecule",
    "predictor:NAME": "the model's jointly trained property predictor for NAME, on the latent point (cheap)",
    "module:function": "a user oracle: a Python callable taking a list of SMILES and returning floats (NaN = failed)",
    "'qed high, sa <= 4, mw in 250-450'": "a desirability spec: 'NAME high|low' terms (optionally 'W*NAME high') "
    "summed, with 'NAME <= x', 'NAME >= x', 'NAME in a-b' constraints "
    "whose violations are subtracted; NAME: a property, penalized_logp, "
    "or sim:SMILES (similarity to a lead)",
}


def list_objectives() -> list[tuple[str, str]]:
    return [(o.name, o.description) for o in OBJECTIVES.values()] + list(OBJECTIVE_FORMS.items())


def similarity_objective(reference: str) -> Objective:
    ref, reason = chem.canonicalize(reference)
    if ref is None:
        raise InputError(f"similarity reference {reference!r} is not a valid molecule ({reason})")
    ref_fp = chem.morgan_fingerprints([ref])

    def fn(smiles, z=None):
        return tanimoto_matrix(chem.morgan_fingerprints(smiles), ref_fp)[:, 0].astype(np.float64)

    return Objective(f"similarity:{ref}", f"Tanimoto similarity to {ref}", fn)


_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_TERM = re.compile(
    rf"^\s*(?:(?P<w>{_NUMBER})\s*\*\s*)?(?P<name>[A-Za-z_]+|sim(?:ilarity)?:\S+)\s+"
    rf"(?:(?P<dir>high|low)|(?P<op><=|>=)\s*(?P<x>-?{_NUMBER})"
    rf"|in\s+(?P<a>-?{_NUMBER})\s*-\s*(?P<b>-?{_NUMBER}))\s*$"
)
SPEC_EXAMPLES = "'qed high', 'sa <= 4', 'mw in 250-450', '2*logp high' or 'sim:SMILES >= 0.4'"


def _term(name: str) -> tuple[str, Callable[[Sequence[str]], np.ndarray] | None]:
    """A desirability term's canonical name and, for terms that are not RDKit properties
    (``penalized_logp``, ``sim:SMILES``), the function computing it."""
    if name.startswith("sim"):
        sim = similarity_objective(name.split(":", 1)[1])
        return "sim:" + sim.name.split(":", 1)[1], lambda smiles: sim(smiles)
    if name == "penalized_logp":
        return name, penalized_logp
    try:
        return chem.property_spec(name).name, None
    except InputError:
        known = [*chem.PROPERTIES, "penalized_logp"]
        close = difflib.get_close_matches(name.lower(), known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise InputError(
            f"unknown property {name!r} in the objective; {hint}known: {', '.join(known)}, or sim:SMILES"
        ) from None


def _number(text: str) -> str:
    return f"{float(text):g}"


def _check_limits(terms: list[tuple[str, str, float, float]]) -> None:
    """Refuse constraints no molecule can meet: one outside the values its property takes at all
    (``qed >= 1.5``), or two on one property that exclude each other (``mw <= 200, mw >= 500``).
    ``terms``: (as written, name, low, high)."""
    for text, name, lo, hi in terms:
        low, high = PROPERTY_BOUNDS.get("sim" if name.startswith("sim:") else name, (-math.inf, math.inf))
        if lo > high or hi < low:
            span = f"between {low:g} and {high:g}" if math.isfinite(high) else f"{low:g} or more"
            raise InputError(f"{text}: no molecule meets it ({name.split(':')[0]} is always {span})")
    for name in dict.fromkeys(n for _, n, _, _ in terms):
        mine = [t for t in terms if t[1] == name]
        floor, ceiling = max(mine, key=lambda t: t[2]), min(mine, key=lambda t: t[3])
        if floor[2] > ceiling[3]:
            raise InputError(
                f"{ceiling[0]} and {floor[0]} cannot both hold; write one range for {name}, "
                f"e.g. {name} in {min(floor[2], ceiling[3]):g}-{max(floor[2], ceiling[3]):g}"
            )


def desirability_objective(spec: str) -> Objective:
    """Parse "qed high, sa <= 4, mw in 250-450": weighted sum of high/low terms minus constraint violations
    (each divided by a typical scale of its property). Terms are RDKit properties, ``penalized_logp``, or
    ``sim:SMILES`` (Tanimoto similarity to a lead, e.g. ``penalized_logp high, sim:CCO >= 0.4``)."""
    goals: list[tuple[str, float]] = []
    limits: list[tuple[str, float, float]] = []
    written: list[tuple[str, str, float, float]] = []  # constraints as written, for the checks
    directions: dict[str, tuple[str, str]] = {}  # name -> (direction, term as written)
    computed: dict[str, Callable] = {}
    if not spec.strip():
        raise InputError(f"the objective spec is empty; write terms such as {SPEC_EXAMPLES}")
    for part in spec.split(","):
        text = " ".join(part.split())
        if not text:
            raise InputError(
                f"objective spec {spec.strip()!r} has an empty term (a comma too many); write terms "
                f"such as {SPEC_EXAMPLES}, separated by commas"
            )
        m = _TERM.match(part)
        if not m:
            raise InputError(f"cannot read objective term {text!r}; write e.g. {SPEC_EXAMPLES}")
        name, fn = _term(m["name"])
        if fn is not None:
            computed[name] = fn
        if m["dir"]:
            weight = float(m["w"] or 1.0)
            if weight == 0:
                raise InputError(f"{text}: a weight of 0 leaves {name} out; drop the term or give a weight above 0")
            if directions.get(name, (m["dir"],))[0] != m["dir"]:
                raise InputError(f"{directions[name][1]} and {text} pull {name} both ways; keep one of them")
            directions[name] = (m["dir"], text)
            goals.append((name, weight * (1.0 if m["dir"] == "high" else -1.0)))
        elif m["op"]:
            x = float(m["x"])
            limits.append((name, -math.inf, x) if m["op"] == "<=" else (name, x, math.inf))
            written.append((text, *limits[-1]))
        else:
            lo, hi = float(m["a"]), float(m["b"])
            if lo > hi:
                raise InputError(
                    f"{text}: the range is reversed; write {m['name']} in {_number(m['b'])}-{_number(m['a'])}"
                )
            limits.append((name, lo, hi))
            written.append((text, *limits[-1]))
    _check_limits(written)
    names = sorted({n for n, _ in goals} | {n for n, _, _ in limits})
    rdkit_names = [n for n in names if n not in computed]

    def combine(p):
        score = sum(w * p[n] for n, w in goals) if goals else 0.0 * p[names[0]]
        for n, lo, hi in limits:
            scale = PROPERTY_SCALES.get(n, 0.05 if n.startswith("sim:") else 1.0)
            violation = (lo - p[n]).clip(min=0) + (p[n] - hi).clip(min=0)  # numpy arrays or torch tensors
            score = score - violation / scale
        return score

    def fn(smiles, z=None):
        values = chem.compute_properties(smiles, rdkit_names) if rdkit_names else np.empty((len(smiles), 0))
        p = {n: values[:, j] for j, n in enumerate(rdkit_names)}
        p.update({n: f(smiles) for n, f in computed.items()})
        return np.asarray(combine(p), dtype=np.float64)

    needs = tuple(rdkit_names)
    surrogate = combine
    if any(n.startswith("sim:") for n in computed):
        needs, surrogate = (), None  # the predictor cannot estimate similarity
    elif "penalized_logp" in computed:
        needs = tuple(sorted(set(rdkit_names) | {"logp", "sa"}))

        def surrogate(p):
            return combine({**p, "penalized_logp": _plogp_surrogate(p)})

    return Objective(spec, "desirability: " + spec, fn, needs, surrogate)


def oracle_objective(target: str) -> Objective:
    """A user callable ``module:function`` (the module importable from the current directory too)."""
    import os
    import sys

    module_name, _, func_name = target.partition(":")
    added = os.getcwd() not in sys.path
    if added:  # for the import only: the caller's sys.path is left as it was
        sys.path.insert(0, os.getcwd())
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot load oracle {target!r}: {exc}") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())

    return callable_objective(func, target)


def callable_objective(func: Callable[[list[str]], Sequence[float]], name: str | None = None) -> Objective:
    """An objective from a Python callable: a list of SMILES in, one float each out (NaN: a failure).
    A call that raises, or returns the wrong number of values, costs its batch (all NaN), never the run."""
    name = name or getattr(func, "__name__", "oracle")

    def fn(smiles, z=None):
        try:
            values = np.asarray(func(list(smiles)), dtype=np.float64).reshape(-1)
        except Exception as exc:  # a failing oracle costs this batch, never the run
            logger.warning("oracle %s failed on a batch of %d: %s", name, len(smiles), exc)
            return np.full(len(smiles), np.nan)
        if values.shape != (len(smiles),):
            logger.warning(
                "oracle %s returned %d values for %d molecules; batch marked failed", name, values.size, len(smiles)
            )
            return np.full(len(smiles), np.nan)
        return values

    return Objective(name, f"user oracle {name}", fn)


def predictor_objective(name: str, model) -> Objective:
    """The model's property head on the latent point: no RDKit call, no oracle cost. Without latent
    points (``z`` None) the molecules are encoded first."""
    if name not in model.property_names:
        raise InputError(f"the model predicts {', '.join(model.property_names) or 'no properties'}, not {name!r}")
    j = model.property_names.index(name)

    def fn(smiles, z=None):
        if z is None:
            return model.encode(smiles).properties[:, j]
        with torch.no_grad():
            zt = torch.as_tensor(np.asarray(z, dtype=np.float32), device=model.device)
            return model.predict_properties(zt)[:, j].cpu().numpy().astype(np.float64)

    return Objective(f"predictor:{name}", f"predicted {name} (property head)", fn, (name,), _surrogate_property(name))


def make_objective(spec: str, model=None) -> Objective:
    """Build an objective from its command-line spelling (see :func:`list_objectives`)."""
    spec = spec.strip()
    if not spec:
        raise InputError(
            f"the objective is empty; give a name ({', '.join(OBJECTIVES)}) or a spec such as "
            "'qed high, mw in 250-450' (see --list-objectives)"
        )
    if spec in OBJECTIVES:
        return OBJECTIVES[spec]
    if spec.startswith("similarity:"):
        return similarity_objective(spec.split(":", 1)[1])
    if spec.startswith("predictor:"):
        if model is None:
            raise InputError("predictor objectives need a model")
        return predictor_objective(spec.split(":", 1)[1], model)
    if "," in spec or re.search(r"\s(high|low|in|<=|>=)\s", f" {spec} "):
        return desirability_objective(spec)
    if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", spec):
        return oracle_objective(spec)
    close = difflib.get_close_matches(spec.lower(), OBJECTIVES, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise InputError(
        f"unknown objective {spec!r}; {hint}known: {', '.join(OBJECTIVES)}, or one of the forms "
        f"{', '.join(OBJECTIVE_FORMS)} (see --list-objectives)"
    )

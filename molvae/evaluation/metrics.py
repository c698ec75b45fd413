"""Generation and reconstruction metrics (the MOSES set: Polykovskiy et al. 2020).

Every function takes lists of SMILES; ``None`` or an unparseable string counts as invalid.
Fingerprint metrics use RDKit Morgan fingerprints (radius 2, 1024 bits) and numpy; FCD uses the
``fcd_torch`` package and its bundled ChemNet weights.

Example:
    >>> validity(["CCO", None, "c1ccccc1"])
    0.6666666666666666
    >>> uniqueness(["CCO", "CCO", "CCN"])
    0.6666666666666666
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from molvae import chem

logger = logging.getLogger(__name__)

DISTRIBUTION_PROPERTIES = ("logp", "qed", "sa", "mw")


def valid_canonical(smiles: Sequence[str | None]) -> list[str]:
    """Canonical SMILES of the valid entries, in order."""
    out = []
    for s in smiles:
        can, _ = chem.canonicalize(s) if s is not None else (None, None)
        if can is not None:
            out.append(can)
    return out


def validity(smiles: Sequence[str | None]) -> float:
    """Fraction of entries that RDKit parses into a molecule."""
    return sum(chem.is_valid(s) for s in smiles) / len(smiles) if len(smiles) else 0.0


def uniqueness(smiles: Sequence[str | None]) -> float:
    """Distinct valid molecules over valid molecules (canonical SMILES)."""
    valid = valid_canonical(smiles)
    return len(set(valid)) / len(valid) if valid else 0.0


def unique_at(smiles: Sequence[str | None], k: int) -> float:
    """unique@k: distinct molecules among the first ``k`` valid ones (all of them, with a warning, if fewer)."""
    valid = valid_canonical(smiles)
    if len(valid) < k:
        logger.info("unique@%d computed on the %d valid molecules there are", k, len(valid))
    head = valid[:k]
    return len(set(head)) / len(head) if head else 0.0


def novelty(smiles: Sequence[str | None], reference: Iterable[str]) -> float:
    """Fraction of distinct valid molecules absent from ``reference`` (compared as canonical SMILES;
    pass canonical SMILES as reference)."""
    canonical = valid_canonical(smiles)
    ref = set(reference)
    return novel_fraction(canonical, [s not in ref for s in canonical])


def novel_fraction(smiles: Sequence[str | None], is_novel: Sequence[bool]) -> float:
    """Novelty from per-row flags (e.g. :meth:`molvae.models.vae.MolVAE.novel`): the fraction of distinct
    molecules (None skipped) flagged novel; 0.0 when there are none."""
    distinct: dict[str, bool] = {}
    for s, flag in zip(smiles, is_novel):
        if s is not None and s not in distinct:
            distinct[s] = bool(flag)
    return sum(distinct.values()) / len(distinct) if distinct else 0.0


def reconstruction_accuracy(inputs: Sequence[str | None], outputs: Sequence[str | None]) -> float:
    """Exact canonical-SMILES matches over the inputs that are valid."""
    pairs = [(a, b) for a, b in zip(inputs, outputs) if a is not None]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0


# ----------------------------------------------------------------------------- fingerprint metrics


def tanimoto_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of every row of ``a`` (``n x bits``) with every row of ``b`` (``m x bits``)."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    inter = a32 @ b32.T
    union = a32.sum(1)[:, None] + b32.sum(1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / union, 0.0)
    return sim


def _blocks(n: int, size: int = 2048):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def snn(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Mean over generated molecules of the Tanimoto similarity to their nearest reference neighbour."""
    g, r = chem.morgan_fingerprints(generated), chem.morgan_fingerprints(reference)
    if not len(g) or not len(r):
        return float("nan")
    best = np.concatenate([tanimoto_matrix(g[s], r).max(axis=1) for s in _blocks(len(g))])
    return float(best.mean())


def internal_diversity(generated: Sequence[str], p: int = 1) -> float:
    """IntDiv_p = 1 - (mean over all ordered pairs, self-pairs included, of T^p)^(1/p) (MOSES paper)."""
    fps = chem.morgan_fingerprints(generated)
    n = len(fps)
    if n == 0:
        return float("nan")
    total = sum(float((tanimoto_matrix(fps[s], fps) ** p).sum()) for s in _blocks(n))
    return float(1.0 - (total / (n * n)) ** (1.0 / p))


def cosine_similarity_counts(a: Counter, b: Counter) -> float:
    """Cosine similarity of two count vectors given as Counters (missing keys are zero)."""
    if not a or not b:
        return float("nan")
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm


def fragment_counts(smiles: Sequence[str]) -> Counter:
    counts: Counter = Counter()
    for s in smiles:
        counts.update(chem.brics_fragments(s))
    return counts


def scaffold_counts(smiles: Sequence[str]) -> Counter:
    counts: Counter = Counter()
    for s in smiles:
        scaffold = chem.murcko_scaffold(s)
        if scaffold is not None:
            counts[scaffold] += 1
    return counts


def frag_similarity(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Cosine similarity of BRICS-fragment frequencies."""
    return cosine_similarity_counts(fragment_counts(generated), fragment_counts(reference))


def scaf_similarity(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Cosine similarity of Bemis-Murcko scaffold frequencies (scaffolds with at least 2 rings)."""
    return cosine_similarity_counts(scaffold_counts(generated), scaffold_counts(reference))


# ----------------------------------------------------------------------------- distributions


def fcd(generated: Sequence[str], reference: Sequence[str], device: str = "cpu") -> float:
    """Fréchet ChemNet Distance (Preuer et al. 2018) with ``fcd_torch``'s bundled ChemNet."""
    if len(generated) < 2 or len(reference) < 2:
        return float("nan")
    from fcd_torch import FCD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with chem.quiet_rdkit():
            return float(FCD(device=device, n_jobs=1)(list(generated), list(reference)))


def property_wasserstein(
    generated: Sequence[str], reference: Sequence[str], names: Sequence[str] = DISTRIBUTION_PROPERTIES
) -> dict[str, float]:
    """1-D Wasserstein distance between generated and reference distributions of each property."""
    from scipy.stats import wasserstein_distance  # here: scipy.stats takes a second to import, for every CLI call

    g = chem.compute_properties(generated, names)
    r = chem.compute_properties(reference, names)
    out = {}
    for j, name in enumerate(names):
        gj, rj = g[:, j][np.isfinite(g[:, j])], r[:, j][np.isfinite(r[:, j])]
        out[name] = float(wasserstein_distance(gj, rj)) if len(gj) and len(rj) else float("nan")
    return out


def evaluate_generated(
    generated: Sequence[str | None],
    reference: Sequence[str] | None = None,
    train: Iterable[str] | None = None,
    fcd_device: str = "cpu",
) -> dict[str, float]:
    """The MOSES metrics of a generated set, as one flat dict.

    ``validity``, ``unique@1k``, ``unique@10k`` always; ``novelty`` with ``train``; with
    ``reference`` (e.g. a test set): ``fcd``, ``snn``, ``frag``, ``scaf``, ``intdiv1``, ``intdiv2``
    and ``wasserstein_<logp|qed|sa|mw>``. Metrics other than validity use the valid molecules.
    """
    result: dict[str, float] = {"n_generated": len(generated), "validity": validity(generated)}
    valid = valid_canonical(generated)
    result["n_valid"] = len(valid)
    result["unique@1k"] = unique_at(generated, 1000)
    result["unique@10k"] = unique_at(generated, 10000)
    if train is not None:
        result["novelty"] = novelty(valid, {c for c in valid_canonical(list(train))})
    result["intdiv1"] = internal_diversity(valid, 1)
    result["intdiv2"] = internal_diversity(valid, 2)
    if reference is not None:
        ref = valid_canonical(list(reference))
        result["n_reference"] = len(ref)
        logger.info("FCD on %d generated vs %d reference molecules", len(valid), len(ref))
        result["fcd"] = fcd(valid, ref, fcd_device)
        result["snn"] = snn(valid, ref)
        result["frag"] = frag_similarity(valid, ref)
        result["scaf"] = scaf_similarity(valid, ref)
        for name, value in property_wasserstein(valid, ref).items():
            result[f"wasserstein_{name}"] = value
    return result


# ----------------------------------------------------------------------------- a chemist's eye


def chemistry_metrics(
    generated: Sequence[str | None],
    reference: Sequence[str] | None = None,
    reference_profile: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """What a chemist sees in a generated set, each rate over *all* generated entries (an invalid or
    empty decode counts as a failure), beside the same rate on ``reference`` (e.g. the test split):

    ``radicals``, ``sanity`` (see :func:`molvae.chem.chemistry_profile`: one fragment, no radicals,
    >= 10 heavy atoms, rings <= 8 atoms, ZINC's elements, no PAINS), ``moses_filters`` (MOSES's
    "Filters"), ``pains``, ``fragments`` (more than one piece), ``large_rings`` (a ring over 8 atoms),
    ``familiar`` (every atom environment occurs in ZINC250k: :func:`molvae.chem.familiar_flags`),
    ``heavy_atoms`` (mean over valid molecules), ``sanity_ratio`` (sanity / the reference's sanity).
    ``reference_profile`` saves recomputing the reference's profile."""
    prof = chem.chemistry_profile(list(generated))
    n = max(1, len(generated))
    valid = prof["valid"]
    out: dict[str, float] = {
        "radicals": float(prof["radicals"].sum() / n),
        "sanity": float(prof["sane"].sum() / n),
        "moses_filters": float(prof["moses_filters"].sum() / n),
        "pains": float(prof["pains"].sum() / n),
        "familiar": float(prof["familiar"].sum() / n),
        "fragments": float((prof["fragments"] > 1).sum() / n),
        "large_rings": float((prof["max_ring"] > chem.SANITY_MAX_RING).sum() / n),
        "heavy_atoms": float(prof["heavy_atoms"][valid].mean()) if valid.any() else float("nan"),
        "heavy_atoms_sd": float(prof["heavy_atoms"][valid].std()) if valid.any() else float("nan"),
    }
    if reference is not None or reference_profile is not None:
        ref = reference_profile if reference_profile is not None else chem.chemistry_profile(list(reference))
        m = max(1, len(ref["valid"]))
        out.update(
            {
                "ref_radicals": float(ref["radicals"].sum() / m),
                "ref_sanity": float(ref["sane"].sum() / m),
                "ref_moses_filters": float(ref["moses_filters"].sum() / m),
                "ref_pains": float(ref["pains"].sum() / m),
                "ref_familiar": float(ref["familiar"].sum() / m),
                "ref_heavy_atoms": float(ref["heavy_atoms"][ref["valid"]].mean()),
            }
        )
        out["sanity_ratio"] = out["sanity"] / out["ref_sanity"] if out["ref_sanity"] else float("nan")
    return out

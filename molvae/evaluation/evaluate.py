"""Evaluating a trained model: reconstruction, prior samples and property prediction on a test set.

Example:
    >>> from molvae import MolVAE
    >>> model = MolVAE.load()                                        # doctest: +SKIP
    >>> evaluate_model(model, test_smiles, train=train_smiles)       # doctest: +SKIP
    {'reconstruction': 0.61, 'validity': 0.99, ..., 'mae_logp': 0.2, 'r2_logp': 0.95}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import r2_score

from molvae import chem
from molvae.data.datasets import property_labels
from molvae.evaluation.metrics import chemistry_metrics, evaluate_generated, reconstruction_accuracy
from molvae.models.ring_limit import DEFAULT_MAX_RING
from molvae.models.vae import MolVAE

logger = logging.getLogger(__name__)


def property_errors(model: MolVAE, predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MAE and R² per property of the model (``predicted``, ``true``: ``n x n_properties``; NaN skipped)."""
    out: dict[str, float] = {}
    for j, name in enumerate(model.property_names):
        ok = np.isfinite(predicted[:, j]) & np.isfinite(true[:, j])
        if ok.sum() < 2:
            continue
        out[f"mae_{name}"] = float(np.abs(predicted[ok, j] - true[ok, j]).mean())
        out[f"r2_{name}"] = float(r2_score(true[ok, j], predicted[ok, j]))
    return out


def evaluate_model(
    model: MolVAE,
    test: Sequence[str],
    test_properties: np.ndarray | None = None,
    train: Sequence[str] | None = None,
    n_samples: int = 10000,
    seed: int = 0,
    reference: Sequence[str] | None = None,
    fcd_device: str = "cpu",
    max_ring: int | None = DEFAULT_MAX_RING,
) -> dict[str, float]:
    """One dict with: exact reconstruction accuracy on ``test`` (the latent mean decoded as ``molvae
    reconstruct`` decodes it, a beam of :data:`molvae.models.vae.RECONSTRUCT_BEAM`; and greedily,
    ``reconstruction_greedy``), property MAE/R² on ``test`` (``test_properties`` aligned with ``model.property_names``,
    or computed with RDKit when the names are registry properties), and the MOSES metrics of
    ``n_samples`` prior samples against ``reference`` (default: ``test``) and ``train``, decoded as
    ``molvae sample`` decodes them (``max_ring``: :mod:`molvae.models.ring_limit`)."""
    result: dict[str, float] = {"n_test": len(test)}
    t0 = time.perf_counter()
    enc, decoded = model.reconstruct(test)
    result["n_test_encodable"] = int(enc.valid.sum())
    # Over all test molecules: one the model cannot encode counts as a miss.
    result["reconstruction"] = float(np.mean([d is not None and d == s for d, s in zip(decoded, enc.smiles)]))
    result["reconstruction_encodable"] = reconstruction_accuracy(enc.smiles, decoded)
    result["seconds_reconstruction"] = time.perf_counter() - t0
    mu = enc.mu[enc.valid]
    labels = model.condition_properties([s for s, ok in zip(enc.smiles, enc.valid) if ok])
    condition = None if labels is None else np.nan_to_num(labels[:, model.condition_index], nan=0.0)
    greedy = iter(model.decode(mu, condition=condition) if len(mu) else [])
    result["reconstruction_greedy"] = float(
        np.mean([ok and next(greedy) == s for s, ok in zip(enc.smiles, enc.valid)]) if len(enc.smiles) else 0.0
    )
    result.update(latent_diagnostics(enc.mu[enc.valid], enc.logvar[enc.valid]))
    if model.property_names:
        if test_properties is None:
            test_properties = property_labels(enc.smiles, model.property_names)
        result.update(property_errors(model, enc.properties, np.asarray(test_properties, dtype=float)))
    t0 = time.perf_counter()
    decoded = model.decode_detailed(
        model.sample_prior(n_samples, seed),
        temperature=model.sampling_temperature,
        seed=seed,
        max_ring=max_ring,
        index_temperature=model.sampling_index_temperature,
    )
    samples = decoded.smiles
    result["seconds_sampling"] = time.perf_counter() - t0
    result["repaired"] = float(np.mean(decoded.repaired)) if decoded.repaired else 0.0
    result["max_ring"] = max_ring or 0
    result["ring_masked"] = float(np.mean(decoded.ring_masked)) if decoded.ring_masked else 0.0
    result["sampling_temperature"] = model.sampling_temperature
    result["sampling_index_temperature"] = model.sampling_index_temperature
    result["prior"] = "fitted" if model.prior is not None else "standard"
    t0 = time.perf_counter()
    ref = list(reference) if reference is not None else [s for s in enc.smiles if s is not None]
    result.update(evaluate_generated(samples, reference=ref, train=train, fcd_device=fcd_device))
    result.update(chemistry_metrics(samples, ref))
    result.update(distributions(samples, ref))
    result["seconds_metrics"] = time.perf_counter() - t0
    return result


def distributions(generated: Sequence[str | None], reference: Sequence[str]) -> dict[str, dict]:
    """Heavy-atom-count histograms and ring-size counts of the generated and the reference molecules,
    each normalized per molecule, so a chemist can see where the samples differ from the data."""
    out: dict[str, dict] = {}
    for name, smiles in (("generated", [s for s in generated if s is not None]), ("reference", list(reference))):
        heavy = chem.compute_properties(smiles, ["heavy_atoms"])[:, 0]
        heavy = heavy[np.isfinite(heavy)].astype(int)
        n = max(1, len(smiles))
        out[f"heavy_atom_histogram_{name}"] = {
            int(k): round(float(v) / n, 5) for k, v in zip(*np.unique(heavy, return_counts=True))
        }
        out[f"rings_per_molecule_by_size_{name}"] = {
            k: round(v / n, 5) for k, v in chem.ring_size_counts(smiles).items()
        }
    return out


def latent_diagnostics(mu: np.ndarray, logvar: np.ndarray, threshold: float = 0.01) -> dict:
    """Posterior-collapse diagnostics from encoded molecules (``n x d`` means and log-variances):
    ``active_units`` = dimensions whose latent mean varies across molecules (variance above
    ``threshold``, Burda et al. 2016), ``kl_total`` and ``kl_per_dim`` (average KL(q(z|x) || N(0, I))
    of each dimension, nats), listed so a collapsed dimension (KL near 0) is visible."""
    if len(mu) < 2:
        return {}
    activity = np.var(mu.astype(np.float64), axis=0)
    kl = 0.5 * np.mean(mu.astype(np.float64) ** 2 + np.exp(logvar) - 1.0 - logvar, axis=0)
    return {
        "active_units": int((activity > threshold).sum()),
        "latent_dim": int(mu.shape[1]),
        "kl_total": float(kl.sum()),
        "kl_per_dim": [round(float(v), 4) for v in kl],
    }

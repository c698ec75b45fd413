"""The VAE as a likelihood model: per-molecule ELBO, importance-weighted log-likelihood, latent
Mahalanobis distance, and an outlier threshold calibrated on held-out training data.

* ``neg_elbo`` = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)), in nats, estimated with ``n_samples``
  draws of z (reconstruction NLL is the token cross-entropy of the SELFIES/SMILES string).
* ``neg_log_likelihood`` (``n_samples > 1``): -log (1/K sum_k p(x|z_k) p(z_k) / q(z_k|x)), the
  importance-weighted bound of Burda et al. 2016; it tightens (grows towards -log p(x)) as K grows.
* ``mahalanobis``: distance of the latent mean to the training latents (their mean and covariance).

Example:
    >>> table = score_molecules(model, ["CCO", "not a smiles"], n_samples=8)   # doctest: +SKIP
    >>> table[["smiles", "neg_elbo", "neg_log_likelihood", "mahalanobis", "outlier"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from molvae.errors import InputError
from molvae.models.vae import MolVAE

logger = logging.getLogger(__name__)

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class OutlierReference:
    """Training-latent statistics and a calibrated threshold on ``neg_elbo``.

    ``mean``: ``d``; ``precision``: ``d x d`` (inverse covariance, ridge-regularized); ``threshold``:
    the ``quantile`` of held-out training molecules' ``neg_elbo``; ``mahalanobis_threshold`` likewise.
    """

    mean: np.ndarray
    precision: np.ndarray
    threshold: float
    mahalanobis_threshold: float
    quantile: float
    n: int

    def to_dict(self) -> dict:
        return {
            "mean": torch.tensor(self.mean),
            "precision": torch.tensor(self.precision),
            "threshold": float(self.threshold),
            "mahalanobis_threshold": float(self.mahalanobis_threshold),
            "quantile": float(self.quantile),
            "n": int(self.n),
        }

    @classmethod
    def from_dict(cls, d: dict) -> OutlierReference:
        return cls(
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["precision"], dtype=np.float64),
            float(d["threshold"]),
            float(d["mahalanobis_threshold"]),
            float(d["quantile"]),
            int(d["n"]),
        )


def stored_reference(model: MolVAE) -> OutlierReference | None:
    """The outlier calibration stored with the model (``model.extras``), if any."""
    data = model.extras.get("outlier_reference")
    return OutlierReference.from_dict(data) if data is not None else None


def store_reference(model: MolVAE, reference: OutlierReference) -> None:
    """Keep ``reference`` with the model, so that saving the model saves it."""
    model.extras["outlier_reference"] = reference.to_dict()


def _batches(model: MolVAE, smiles: Sequence[str], batch_size: int, keep_largest_fragment: bool = False):
    prep = model.prepare(smiles, keep_largest_fragment=keep_largest_fragment)
    idx = [i for i, t in enumerate(prep.tokens) if t is not None]
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        seqs = [model.vocab.encode(prep.tokens[i]) for i in chunk]  # type: ignore[arg-type]
        lengths = torch.tensor([len(s) for s in seqs])
        tokens = torch.full((len(seqs), int(lengths.max())), model.vocab.pad_index, dtype=torch.long)
        for j, s in enumerate(seqs):
            tokens[j, : len(s)] = torch.tensor(s)
        yield prep, chunk, tokens.to(model.device), lengths
    if not idx:
        yield prep, [], None, None


def _sequence_nll(
    model: MolVAE, tokens: torch.Tensor, z: torch.Tensor, condition: torch.Tensor | None = None
) -> torch.Tensor:
    """-log p(x | z) per molecule: token cross-entropy summed over the string (``batch``)."""
    logits, _ = model.decoder(tokens[:, :-1], model.with_condition(z, condition))
    target = tokens[:, 1:]
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    return (ce.view_as(target) * (target != model.vocab.pad_index)).sum(dim=1)


@torch.no_grad()
def score_molecules(
    model: MolVAE,
    smiles: Sequence[str],
    n_samples: int = 1,
    batch_size: int = 256,
    seed: int = 0,
    reference: OutlierReference | None = None,
    exact_match: bool = True,
    keep_largest_fragment: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per input (order kept): ``smiles`` (canonical), ``valid``, ``reason``, ``recon_nll``,
    ``kl``, ``neg_elbo``, ``neg_log_likelihood`` (``n_samples > 1``), ``exact_match`` (greedy decode of
    the mean gives the molecule back), ``mahalanobis`` and ``outlier`` (with a reference: the model's
    own when it carries one; True when neg ELBO or the Mahalanobis distance exceeds its calibrated
    threshold). Rows the model cannot read get NaN scores and ``outlier=True``."""
    if n_samples < 1:
        raise InputError("n_samples must be at least 1")
    reference = reference if reference is not None else stored_reference(model)
    n = len(smiles)
    cols = {k: np.full(n, np.nan) for k in ("recon_nll", "kl", "neg_elbo", "neg_log_likelihood", "mahalanobis")}
    mu_all = np.full((n, model.latent_dim), np.nan, dtype=np.float32)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    bar = tqdm(total=n, desc="score", unit="mol", disable=not progress, file=sys.stderr)
    prep = None
    labels = None
    for prep, chunk, tokens, lengths in _batches(model, smiles, batch_size, keep_largest_fragment):
        if not chunk:
            continue
        if model.conditions and labels is None:  # a conditional model reads each molecule's own properties
            labels = torch.from_numpy(model.condition_properties(prep.canonical))
        condition = model.condition_from(None if labels is None else labels[chunk], len(chunk))
        mu, logvar = (t.float() for t in model.encoder(tokens, lengths, condition))
        std = torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        nll, log_w = [], []
        for _ in range(n_samples):
            eps = torch.randn(mu.shape, generator=generator).to(mu.device)
            z = mu + std * eps
            nll_k = _sequence_nll(model, tokens, z, condition)
            nll.append(nll_k)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(dim=1)
            log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(dim=1)
            log_w.append(-nll_k + log_pz - log_qz)
        recon = torch.stack(nll).mean(dim=0)
        cols["recon_nll"][chunk] = recon.cpu().numpy()
        cols["kl"][chunk] = kl.cpu().numpy()
        cols["neg_elbo"][chunk] = (recon + kl).cpu().numpy()
        if n_samples > 1:
            iw = torch.logsumexp(torch.stack(log_w), dim=0) - math.log(n_samples)
            cols["neg_log_likelihood"][chunk] = (-iw).cpu().numpy()
        mu_all[chunk] = mu.cpu().numpy()
        bar.update(len(chunk))
    bar.close()
    model.train(was_training)
    valid = prep.valid_mask if prep is not None else np.zeros(n, dtype=bool)
    frame = pd.DataFrame(
        {
            "smiles": prep.canonical if prep is not None else [None] * n,
            "valid": valid,
            "reason": prep.reasons if prep is not None else ["empty"] * n,
            **cols,
        }
    )
    if n_samples == 1:
        frame = frame.drop(columns="neg_log_likelihood")
    if exact_match:
        decoded = np.full(n, None, dtype=object)
        ok = np.flatnonzero(valid)
        if len(ok):
            condition = None
            if model.conditions:
                own = model.condition_properties([frame["smiles"][i] for i in ok])
                condition = np.nan_to_num(own[:, model.condition_index], nan=0.0)
            decoded[ok] = model.decode(mu_all[ok], condition=condition)
        frame["exact_match"] = [bool(v) and d == s for v, d, s in zip(valid, decoded, frame["smiles"])]
    if reference is not None:
        diff = mu_all.astype(np.float64) - reference.mean
        frame["mahalanobis"] = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, reference.precision, diff), 0))
        # either test: a low likelihood, or a latent mean far from the training latents (simple strings
        # can be likely under a sequence model yet unlike the data; Nalisnick et al. 2019)
        frame["outlier"] = (
            ~valid
            | (frame["neg_elbo"].to_numpy() > reference.threshold)
            | (frame["mahalanobis"].to_numpy() > reference.mahalanobis_threshold)
        )
    else:
        frame = frame.drop(columns="mahalanobis")
    return frame


def fit_outlier_reference(
    model: MolVAE,
    train_smiles: Sequence[str],
    heldout_smiles: Sequence[str],
    quantile: float = 0.99,
    seed: int = 0,
    ridge: float = 1e-4,
) -> OutlierReference:
    """Latent mean/covariance from ``train_smiles`` and thresholds at ``quantile`` of the held-out
    training molecules' ``neg_elbo`` and Mahalanobis distance (held out so the threshold is not set
    on molecules the statistics were computed from)."""
    if not 0.5 <= quantile < 1:
        raise InputError("quantile must be in [0.5, 1)")
    enc = model.encode(list(train_smiles))
    mu = enc.mu[enc.valid].astype(np.float64)
    if len(mu) <= model.latent_dim:
        raise InputError(f"need more than {model.latent_dim} encodable training molecules, got {len(mu)}")
    mean = mu.mean(axis=0)
    cov = np.cov(mu, rowvar=False) + ridge * np.eye(model.latent_dim)
    precision = np.linalg.inv(cov)
    partial = OutlierReference(mean, precision, math.inf, math.inf, quantile, len(mu))
    held = score_molecules(model, list(heldout_smiles), seed=seed, reference=partial, exact_match=False)
    held = held[held["valid"]]
    if held.empty:
        raise InputError("no held-out molecule can be encoded by this model")
    return OutlierReference(
        mean,
        precision,
        float(np.quantile(held["neg_elbo"], quantile)),
        float(np.quantile(held["mahalanobis"], quantile)),
        quantile,
        len(mu),
    )


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more unusual) for binary ``labels``."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        raise InputError("AUROC needs both positive and negative labels")
    scores = np.asarray(scores, dtype=np.float64).copy()
    finite = np.isfinite(scores)
    scores[~finite] = (scores[finite].max() + 1.0) if finite.any() else 1.0  # unreadable = most unusual
    return float(roc_auc_score(labels, scores))

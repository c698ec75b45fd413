"""MolVAE: the encoder, decoder and property head composed into one model with its vocabulary.

Example:
    >>> model = MolVAE.load("runs/demo/best.pt")            # doctest: +SKIP
    >>> enc = model.encode(["CCO", "c1ccccc1"])             # doctest: +SKIP
    >>> enc.mu.shape                                        # doctest: +SKIP
    (2, 64)
    >>> model.decode(enc.mu)                                # doctest: +SKIP
    ['CCO', 'c1ccccc1']
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molvae import chem
from molvae.config import ModelConfig
from molvae.data.datasets import PreparedMolecules, PropertyScaler, prepare_molecules, property_labels
from molvae.data.vocab import Vocabulary, get_representation
from molvae.errors import CheckpointError, ConfigError, InputError
from molvae.models import checkpoint
from molvae.models.nn.vae import DecodeSpec, SequenceVAE
from molvae.models.prior import PRIOR_KINDS, MixturePrior
from molvae.models.ring_limit import limit_rings
from molvae.training.runs import versions
from molvae.utils import autocast_dtype, resolve_device, smiles_hash, smiles_hashes

logger = logging.getLogger(__name__)

REASON_BAD_LATENT = "non_finite_latent"
# The beam width `reconstruct` decodes with by default: on 1,000 ZINC250k valid molecules the bundled
# latent model reconstructs 66.2% greedily, 75.5% with a beam of 3 and 76.9% with 5, at about 3x the
# time of greedy decoding (benchmarks/zinc250k.py measures it on the test split).
RECONSTRUCT_BEAM = 5


@dataclass
class EncodeResult:
    """Latents and predicted properties; rows of invalid molecules are NaN.

    ``mu``, ``logvar``: ``n x latent_dim``; ``properties``: ``n x n_properties`` in original units.
    """

    smiles: list[str | None]
    reasons: list[str | None]
    mu: np.ndarray
    logvar: np.ndarray
    properties: np.ndarray
    property_names: tuple[str, ...]

    @property
    def valid(self) -> np.ndarray:
        return np.array([r is None for r in self.reasons], dtype=bool)


@dataclass
class DecodeResult:
    """Canonical SMILES (None if invalid), reasons, the raw decoded strings, and which molecules had
    an under-bonded bracket atom read as the plain atom (see :func:`molvae.chem.canonicalize_decoded`)."""

    smiles: list[str | None]
    reasons: list[str | None]
    raw: list[str]
    repaired: list[bool] = dataclasses.field(default_factory=list)
    ring_masked: list[bool] = dataclasses.field(default_factory=list)  # decoded again under a ring limit
    max_ring: list[int] = dataclasses.field(default_factory=list)  # largest ring of each molecule (with repair)


@dataclass(frozen=True)
class DecodeOptions:
    """How :meth:`MolVAE.decode_detailed` decodes, in the terms of molecules and arrays (it builds the
    tensor-level :class:`molvae.models.nn.vae.DecodeSpec` that drives the decoding loop from them).

    ``temperature`` 0: greedy, else sampling with ``seed``; ``index_temperature``: the temperature of
    ring and branch sizes (None: ``temperature``); ``condition`` (standardized, ``n x n_conditions`` or
    one row) and ``guidance`` for a conditional model; ``repair``: read under-bonded bracket atoms as
    plain atoms (:meth:`MolVAE.tokens_to_molecules`); ``max_ring``: ring closures that would make a
    larger ring are masked (:mod:`molvae.models.ring_limit`; None or 0: no limit); ``precision``: "bf16"
    runs the decoder's matrix products in bf16 ("auto": where the hardware has it; "fp32": never),
    about 2.3x faster on such CPUs while a near-tie between two tokens may go the other way;
    ``prefix`` and ``avoid``: token indices forced first and banned right after (:meth:`MolVAE.mutate`
    uses them); ``batch_size``: rows decoded at once; ``beam_width`` > 1: beam search for each row's
    most probable sequence (:meth:`molvae.models.nn.vae.SequenceVAE.beam_search`; greedy decoding only,
    no prefix; rows re-decoded under the ring limit are decoded greedily).
    """

    temperature: float = 0.0
    index_temperature: float | None = None
    seed: int | None = None
    condition: np.ndarray | None = None
    guidance: float = 1.0
    repair: bool = True
    max_ring: int | None = None
    precision: str = "auto"
    prefix: np.ndarray | None = None
    avoid: np.ndarray | None = None
    batch_size: int = 1024
    beam_width: int = 1


class MolVAE(SequenceVAE):
    """Sequence VAE with a jointly trained property predictor on the latent mean, molecules in and
    molecules out: preparation, encoding, checked decoding, prior sampling, novelty and checkpoints
    (the tensor-level model is :class:`molvae.models.nn.vae.SequenceVAE`)."""

    def __init__(
        self,
        config: ModelConfig,
        vocab: Vocabulary,
        scaler: PropertyScaler | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, vocab, scaler if scaler is not None else PropertyScaler((), (), ()))
        self.representation = get_representation(config.representation)
        self.metadata = dict(metadata or {})
        self.training_hashes: np.ndarray | None = None  # see set_training_set / novel
        # Plain data stored with the model that other modules interpret (outlier_reference: molvae.evaluation.scoring).
        self.extras: dict[str, Any] = {}
        self.prior: MixturePrior | None = None  # fitted aggregate posterior (molvae.models.prior), see fit_prior

    # ------------------------------------------------------------------ molecules in, molecules out

    def prepare(self, smiles: Sequence[str], keep_largest_fragment: bool = False) -> PreparedMolecules:
        """Canonicalize and tokenize for this model (rejects unknown tokens and over-long molecules)."""
        return prepare_molecules(
            smiles,
            self.representation,
            self.vocab,
            max_tokens=self.config.max_length - 2,
            keep_largest_fragment=keep_largest_fragment,
        )

    @torch.no_grad()
    def encode(self, smiles: Sequence[str], batch_size: int = 512, keep_largest_fragment: bool = False) -> EncodeResult:
        """Latent means, log-variances and predicted properties for every input, in input order."""
        prep = self.prepare(smiles, keep_largest_fragment=keep_largest_fragment)
        return self.encode_prepared(prep, batch_size)

    @torch.no_grad()
    def encode_prepared(self, prep: PreparedMolecules, batch_size: int = 512, precision: str = "fp32") -> EncodeResult:
        """Encode prepared molecules (invalid ones get NaN rows); see :meth:`encode_indices`."""
        n = len(prep.reasons)
        idx = np.array([i for i, t in enumerate(prep.tokens) if t is not None], dtype=np.int64)
        tokens, lengths = self.vocab.index_array([prep.tokens[i] for i in idx])  # type: ignore[misc]
        labels = self.condition_properties([prep.canonical[i] for i in idx])
        m, lv, pr = self.encode_indices(tokens, lengths, labels, batch_size, precision)
        mu = np.full((n, self.latent_dim), np.nan, dtype=np.float32)
        logvar = np.full((n, self.latent_dim), np.nan, dtype=np.float32)
        props = np.full((n, len(self.property_names)), np.nan, dtype=np.float64)
        mu[idx], logvar[idx], props[idx] = m, lv, pr
        return EncodeResult(prep.canonical, prep.reasons, mu, logvar, props, self.property_names)

    @torch.no_grad()
    def encode_indices(
        self,
        tokens: np.ndarray,
        lengths: np.ndarray,
        labels: np.ndarray | None = None,
        batch_size: int = 512,
        precision: str = "fp32",
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latent means, log-variances and predicted properties (original units) of index sequences
        (``tokens``: ``n x T`` padded, BOS ... EOS; ``lengths``: ``n``). Batches hold molecules of
        similar length (sorting cut encoder time by about a third on ZINC-like data, as padding is
        work); results come back in input order and do not depend on the batching beyond float
        rounding. ``precision`` "bf16" (or "auto" where the hardware has it) autocasts: faster,
        latents differ by about 1e-2. ``labels``: a conditional model's standardized properties."""
        was_training = self.training
        self.eval()
        n, p = len(lengths), len(self.property_names)
        mu = np.empty((n, self.latent_dim), dtype=np.float32)
        logvar = np.empty((n, self.latent_dim), dtype=np.float32)
        props = np.empty((n, p), dtype=np.float64)
        amp = autocast_dtype(self.device, precision)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            batch = torch.from_numpy(tokens[rows, :width].astype(np.int64)).to(self.device)
            cond = None if labels is None else torch.from_numpy(np.asarray(labels[rows], dtype=np.float32))
            with torch.autocast(self.device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                m, lv = self.encode_tokens(batch, torch.from_numpy(lengths[rows].astype(np.int64)), cond)
                pr = self.predict_properties(m) if p else None
            mu[rows] = m.float().cpu().numpy()
            logvar[rows] = lv.float().cpu().numpy()
            if pr is not None:
                props[rows] = pr.cpu().numpy()
        self.train(was_training)
        return mu, logvar, props

    def condition_properties(self, canonical: Sequence[str | None]) -> np.ndarray | None:
        """Standardized properties (``n x n_properties``) that a conditional model's encoder needs, computed
        with RDKit for registry properties (NaN, i.e. the training average, for the others); None for a
        plain VAE."""
        if not self.conditions:
            return None
        out = np.full((len(canonical), len(self.property_names)), np.nan, dtype=np.float32)
        values = property_labels(canonical, self.conditions)
        for j, name in enumerate(self.conditions):
            out[:, self.property_names.index(name)] = values[:, j]
        return self.scaler.transform(out).astype(np.float32)

    def tokens_to_molecules(self, sequences: Sequence[Sequence[int]], repair: bool = True) -> DecodeResult:
        """Index sequences -> raw strings -> RDKit-validated canonical SMILES (None + reason if invalid).
        ``repair``: read under-bonded bracket atoms (a stereocentre written with too few neighbours,
        which RDKit would see as a radical) as plain atoms; see :func:`molvae.chem.canonicalize_decoded`."""
        raw = self.representation.detokenize_many(self.vocab.decode(seq) for seq in sequences)
        rings: list[int] = []
        if repair:
            smiles, reasons, repaired = chem.canonicalize_decoded(raw, ring_sizes=rings)
        else:
            (smiles, reasons), repaired = chem.canonicalize_many(raw), [False] * len(raw)
        return DecodeResult(smiles, reasons, raw, repaired, max_ring=rings)

    @torch.no_grad()
    def decode(
        self, z: np.ndarray | torch.Tensor, options: DecodeOptions | None = None, **overrides: Any
    ) -> list[str | None]:
        """Decode latent points (``n x latent_dim``) to canonical SMILES; None where invalid.
        ``options`` / ``overrides``: :class:`DecodeOptions` (greedy by default)."""
        return self.decode_detailed(z, options, **overrides).smiles

    @torch.no_grad()
    def decode_detailed(
        self, z: np.ndarray | torch.Tensor, options: DecodeOptions | None = None, **overrides: Any
    ) -> DecodeResult:
        """Like :meth:`decode` but also returns reasons, raw strings, the repair flags and, with a ring
        limit, the ``ring_masked`` flags. ``options``: a :class:`DecodeOptions`, whose fields
        ``overrides`` replace (``model.decode_detailed(z, temperature=1.0, seed=0)``).

        Example:
            >>> model.decode_detailed(np.zeros((2, model.latent_dim)), max_ring=8).smiles   # doctest: +SKIP
        """
        opts = (
            dataclasses.replace(options or DecodeOptions(), **overrides) if overrides else (options or DecodeOptions())
        )
        z = z.detach().float().cpu() if torch.is_tensor(z) else torch.tensor(np.asarray(z, dtype=np.float32))
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise InputError(
                f"latent points must have shape n x {self.latent_dim} for this model, got {tuple(z.shape)}"
            )
        if opts.max_ring is not None and (opts.max_ring < 0 or 0 < opts.max_ring < 3):
            raise InputError(f"max_ring must be 0 (no limit) or at least 3 ring atoms, not {opts.max_ring}")
        ok = torch.nonzero(torch.isfinite(z).all(dim=1)).squeeze(1)
        cond = None
        if opts.condition is not None and self.conditions:
            cond = torch.as_tensor(
                np.broadcast_to(np.asarray(opts.condition, dtype=np.float32), (z.shape[0], len(self.conditions))).copy()
            )[ok]
        n, z = z.shape[0], z[ok]
        spec = DecodeSpec(
            temperature=opts.temperature,
            index_temperature=opts.index_temperature,
            guidance=opts.guidance,
            dtype=autocast_dtype(self.device, opts.precision),
            generator=torch.Generator().manual_seed(opts.seed) if opts.seed is not None else None,
        )
        size = opts.batch_size
        if opts.beam_width > 1 and (opts.temperature > 0 or opts.prefix is not None):
            raise InputError("beam search decodes greedily from the latent point: no temperature and no prefix")

        def run(
            rows: torch.Tensor, prefix: np.ndarray | None, avoid: np.ndarray | None, ban: torch.Tensor | None = None
        ) -> list[list[int]]:
            out: list[list[int]] = []
            for start in range(0, len(rows), size):
                part = rows[start : start + size]
                out += self.generate(
                    z[part].to(self.device),
                    spec,
                    ban=ban,
                    condition=None if cond is None else cond[part].to(self.device),
                    prefix=None if prefix is None else torch.as_tensor(prefix[start : start + size]),
                    avoid=None if avoid is None else torch.as_tensor(avoid[start : start + size]),
                )
            return out

        was_training = self.training
        self.eval()
        rows = torch.arange(len(z))
        if opts.beam_width > 1:
            seqs = [
                seq
                for start in range(0, len(rows), size)
                for seq in self.beam_search(
                    z[start : start + size].to(self.device),
                    opts.beam_width,
                    condition=None if cond is None else cond[start : start + size].to(self.device),
                    dtype=spec.dtype,
                )
            ]
        else:
            seqs = run(
                rows,
                None if opts.prefix is None else opts.prefix[ok.numpy()],
                None if opts.avoid is None else opts.avoid[ok.numpy()],
            )
        decoded = self.tokens_to_molecules(seqs, repair=opts.repair)
        if opts.max_ring:
            redone = limit_rings(
                self,
                seqs,
                decoded.smiles,
                opts.max_ring,
                repair=opts.repair,
                regenerate=lambda r, p, b: run(torch.as_tensor(r), p, None, b),
                ring_sizes=decoded.max_ring or None,
            )
            for i, row in redone.rows.items():
                decoded.smiles[i], decoded.reasons[i], decoded.raw[i], decoded.repaired[i] = (
                    row.smiles,
                    row.reason,
                    row.raw,
                    row.repaired,
                )
            decoded.ring_masked = redone.masked.tolist()
        self.train(was_training)
        if len(ok) == n:
            return decoded
        result = DecodeResult(
            [None] * n, [REASON_BAD_LATENT] * n, [""] * n, [False] * n, [False] * n if opts.max_ring else []
        )
        for j, i in enumerate(ok.tolist()):
            result.smiles[i], result.reasons[i], result.raw[i] = decoded.smiles[j], decoded.reasons[j], decoded.raw[j]
            result.repaired[i] = decoded.repaired[j]
            if opts.max_ring:
                result.ring_masked[i] = decoded.ring_masked[j]
        return result

    def mutate(
        self, z: np.ndarray, smiles: Sequence[str], seed: int | None = None, change: bool = True
    ) -> DecodeResult:
        """One point mutation per row, completed by the decoder: row ``i`` copies the tokens of
        ``smiles[i]`` up to a random position, writes a different token there (sampled from the
        decoder's distribution at ``z[i]`` with the original token banned; at the end, the end token
        is banned, so the molecule grows) and decodes the rest greedily from ``z[i]``. Local edits
        with the data's grammar: the decoder, not a hand-written rule, decides what fits after the
        change. ``change=False`` keeps the token at the cut (a graft: with ``z[i]`` another
        molecule's latent point, the head of ``smiles[i]`` gets a tail written from that molecule).
        Rows whose molecule this model cannot tokenize decode greedily from ``z[i]``."""
        z = np.asarray(z, dtype=np.float32)
        if len(smiles) != len(z):
            raise InputError(f"{len(z)} latent points but {len(smiles)} molecules to mutate")
        rng = np.random.default_rng(seed)
        distinct = list(dict.fromkeys(smiles))  # parents repeat: tokenize each once
        prep = self.prepare(distinct)
        token_ids = {
            s: None if t is None else [self.vocab.index_of(x) for x in t] + [self.vocab.eos_index]
            for s, t in zip(distinct, prep.tokens)
        }
        width = self.config.max_length
        prefix = np.full((len(z), width), -1, dtype=np.int64)
        avoid = np.full(len(z), -1, dtype=np.int64)
        for i, s in enumerate(smiles):
            ids = token_ids[s]
            if ids is None:
                continue
            k = int(rng.integers(0, len(ids))) if change else int(rng.integers(1, len(ids)))  # the cut
            prefix[i, :k] = ids[:k]
            if change:
                avoid[i] = ids[k]
        return self.decode_detailed(z, seed=int(rng.integers(2**31)), prefix=prefix, avoid=avoid)

    def sample_prior(self, n: int, seed: int | None = None, prior: str = "auto") -> np.ndarray:
        """``n x latent_dim`` latent draws. ``prior``: "fitted" (the mixture fitted to the aggregate
        posterior, stored in the checkpoint; see :mod:`molvae.models.prior`), "standard" (N(0, I)), or
        "auto" (fitted when the model has one, else standard)."""
        if prior not in PRIOR_KINDS:
            raise InputError(f"prior must be one of {', '.join(PRIOR_KINDS)}, not {prior!r}")
        if prior == "fitted" and self.prior is None:
            raise InputError("this model has no fitted prior (MolVAE.fit_prior or scripts/package_model.py adds one)")
        if prior != "standard" and self.prior is not None:
            return self.prior.sample(n, seed)
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, self.latent_dim)).astype(np.float32)

    def fit_prior(self, smiles: Sequence[str], n_components: int = 16, seed: int = 0) -> MixturePrior:
        """Fit :attr:`prior` to the aggregate posterior of ``smiles`` (training molecules)."""
        enc = self.encode(smiles)
        self.prior = MixturePrior.fit(enc.mu[enc.valid], enc.logvar[enc.valid], n_components, seed=seed)
        return self.prior

    @property
    def sampling_temperature(self) -> float:
        """The decoding temperature this model samples with by default (0: greedy), chosen on the
        validation split when the model was packaged (``metadata["sampling"]``)."""
        return float(self.metadata.get("sampling", {}).get("temperature", 0.0))

    @property
    def sampling_index_temperature(self) -> float | None:
        """The temperature of ring and branch sizes this model samples with by default (None: the
        :attr:`sampling_temperature`), chosen with it (``metadata["sampling"]``)."""
        value = self.metadata.get("sampling", {}).get("index_temperature")
        return None if value is None else float(value)

    def sample(
        self,
        n: int,
        temperature: float | None = None,
        seed: int | None = None,
        condition: dict[str, float] | None = None,
        guidance: float = 1.0,
        prior: str = "auto",
    ) -> list[str | None]:
        """Decode ``n`` points drawn from the prior (see :meth:`sample_prior`); None where the decode
        is not a valid molecule. ``temperature``: None = :attr:`sampling_temperature`. ``condition``
        (a conditional model): requested property values, e.g. ``{"qed": 0.9}``; ``guidance``: see
        :meth:`generate`."""
        temperature = self.sampling_temperature if temperature is None else temperature
        cond = self.standardize_condition(condition) if condition else None
        return self.decode_detailed(
            self.sample_prior(n, seed, prior),
            temperature=temperature,
            seed=seed,
            condition=cond,
            guidance=guidance,
            index_temperature=self.sampling_index_temperature,
        ).smiles

    def reconstruct(
        self, smiles: Sequence[str], keep_largest_fragment: bool = False, beam_width: int = RECONSTRUCT_BEAM
    ) -> tuple[EncodeResult, list[str | None]]:
        """Encode to the latent mean and decode the most probable sequence a beam of ``beam_width``
        finds (1: greedy); returns the encoding and the decoded SMILES (None where the input or the
        decode is invalid)."""
        enc = self.encode(smiles, keep_largest_fragment=keep_largest_fragment)
        out: list[str | None] = [None] * len(smiles)
        ok = np.flatnonzero(enc.valid)
        if ok.size:
            labels = self.condition_properties([enc.smiles[i] for i in ok])
            condition = None if labels is None else np.nan_to_num(labels[:, self.condition_index], nan=0.0)
            decoded = self.decode(enc.mu[ok], condition=condition, beam_width=beam_width)
            for i, s in zip(ok, decoded):
                out[i] = s
        return enc, out

    def __repr__(self) -> str:
        """A short text summary of what this model is (``print(model)``; the layers: ``model.summary_layers()``)."""
        cfg, meta = self.config, self.metadata
        n_params = sum(p.numel() for p in self.parameters())
        lines = [
            f"MolVAE ({cfg.representation}, {len(self.vocab)} tokens, up to {cfg.max_length - 2} tokens per molecule)",
            f"  latent {cfg.latent_dim} dims; encoder GRU {cfg.encoder_hidden_dim} x {cfg.encoder_layers}, decoder "
            f"GRU {cfg.decoder_hidden_dim} x {cfg.decoder_layers}; {n_params / 1e6:.2f} M parameters",
            f"  properties: {', '.join(self.property_names) or 'none'}"
            + (f"; conditioned on {', '.join(self.conditions)}" if self.conditions else ""),
            f"  prior: {f'fitted mixture ({len(self.prior.weights)} components)' if self.prior else 'N(0, I)'};"
            f" sampling temperature {self.sampling_temperature:g}"
            + (
                f" (ring and branch sizes {self.sampling_index_temperature:g})"
                if self.sampling_index_temperature is not None
                else ""
            ),
        ]
        if meta.get("data_file"):
            lines.append(
                f"  trained on {meta['data_file']} (sha256 {str(meta.get('data_sha256', '?'))[:12]}, "
                f"{meta.get('n_train', '?')} train molecules)"
            )
        read = getattr(self, "format_read", None)
        lines.append(
            f"  checkpoint format {checkpoint.VERSION}"
            + (f" (read from version {read})" if read and read != checkpoint.VERSION else "")
        )
        return "\n".join(lines)

    def summary_layers(self) -> str:
        """The module tree (what ``repr`` of a torch module shows)."""
        return super().__repr__()

    # ------------------------------------------------------------------ novelty against the training set

    def set_training_set(self, canonical_smiles: Sequence[str]) -> None:
        """Remember hashes of the training molecules (canonical SMILES) so that :meth:`novel` works
        without the training file; they are saved in the checkpoint (8 bytes per molecule)."""
        self.training_hashes = smiles_hashes(canonical_smiles)

    def novel(self, smiles: Sequence[str | None]) -> np.ndarray | None:
        """For canonical SMILES: True where the molecule is not in the training set (False for None);
        None when this model does not know its training set."""
        if self.training_hashes is None:
            return None
        hashes = np.array([smiles_hash(s) if s else 0 for s in smiles], dtype=np.int64)
        return np.array([bool(s) for s in smiles]) & ~np.isin(hashes, self.training_hashes)

    # ------------------------------------------------------------------ checkpoints

    def to_checkpoint(
        self, run: dict[str, Any] | None = None, training: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Plain-data checkpoint (see :mod:`molvae.models.checkpoint`): loadable with ``weights_only=True``.
        ``run`` (epoch, run_config) and ``training`` (the resume state) come from the training loop."""
        model = {
            "config": dataclasses.asdict(self.config),
            "representation": self.config.representation,
            "selfies_constraints": "default",
            "vocabulary": self.vocab.to_dict(),
            "properties": self.scaler.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }
        extras = dict(self.extras)
        if self.training_hashes is not None:
            extras["training_set_hashes"] = torch.from_numpy(self.training_hashes.copy())
        if self.prior is not None:
            extras["prior"] = self.prior.to_dict()
        metadata = checkpoint.plain(
            {**self.metadata, "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(), "versions": versions()}
        )
        return checkpoint.build(model, metadata, extras, checkpoint.plain(run) if run is not None else None, training)

    def weights_sha256(self) -> str:
        """SHA-256 of what decides the model's outputs: config, vocabulary, property scaler and every
        weight (names, dtypes, shapes and bytes). Equal for a model and its save/load round trip."""
        h = hashlib.sha256()
        h.update(
            json.dumps(
                [dataclasses.asdict(self.config), self.vocab.to_dict(), self.scaler.to_dict()],
                sort_keys=True,
                default=str,
            ).encode()
        )
        for name, tensor in self.state_dict().items():
            t = tensor.detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}:{t.dtype}:{tuple(tensor.shape)};".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def save(self, path: str | Path, run: dict[str, Any] | None = None, training: dict[str, Any] | None = None) -> None:
        """Write the checkpoint atomically (temporary file + rename)."""
        checkpoint.write(path, self.to_checkpoint(run, training))

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], source: str = "checkpoint") -> MolVAE:
        """A model from a loaded checkpoint dict (any supported version)."""
        read_version = ckpt.get("format_version", 1) if isinstance(ckpt, dict) else None
        ckpt = checkpoint.upgrade(ckpt, source)
        section = ckpt["model"]
        try:
            config = ModelConfig(**section["config"])
            vocab = Vocabulary.from_dict(section["vocabulary"])
            scaler = PropertyScaler.from_dict(section["properties"])
            model = cls(config, vocab, scaler, ckpt.get("metadata"))
            model.load_state_dict(section["state_dict"])
            extras = dict(ckpt.get("extras") or {})
            hashes = extras.pop("training_set_hashes", None)
            if hashes is not None:
                model.training_hashes = hashes.numpy().astype(np.int64)
            prior = extras.pop("prior", None)
            if prior is not None:
                model.prior = MixturePrior.from_dict(prior)
            model.extras = extras
            model.format_read = read_version  # the version of the file it came from (see __repr__)
        except (KeyError, TypeError, ValueError, RuntimeError, ConfigError) as exc:
            raise CheckpointError(f"{source} is malformed: {str(exc).splitlines()[0]}") from None
        model.eval()
        return model

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "cpu") -> MolVAE:
        """Load a checkpoint safely (``weights_only=True``: pickled objects are refused, never run).

        ``path``: a checkpoint file or a bundled model's name (``"zinc250k_selfies"``); without it, the
        default bundled model."""
        from molvae.pretrained import default_model_path, resolve_model

        path = default_model_path() if path is None else resolve_model(str(path))  # bundled names too
        model = cls.from_checkpoint(checkpoint.read(path), source=str(path))
        return model.to(resolve_device(device))

"""The VAE at the level of tensors: encoder, decoder and property head composed, the teacher-forced
pass the training loss needs, and autoregressive decoding of token indices.

Example:
    >>> from molvae.config import ModelConfig
    >>> from molvae.data.datasets import PropertyScaler
    >>> from molvae.data.vocab import Vocabulary, get_representation
    >>> vae = SequenceVAE(ModelConfig(latent_dim=8), Vocabulary.build([["[C]", "[O]"]]), PropertyScaler((), (), ()))
    >>> len(vae.generate(torch.zeros(2, 8), max_length=5))
    2
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from molvae.config import ModelConfig
from molvae.data.datasets import PropertyScaler
from molvae.data.vocab import Vocabulary, get_representation
from molvae.errors import ConfigError, InputError
from molvae.models.nn.decoder import GRUDecoder
from molvae.models.nn.encoder import GRUEncoder
from molvae.models.nn.gru import GRUSizes
from molvae.models.nn.heads import PropertyHead

# Parameters with one row per vocabulary token (warm starts match their rows by token name).
VOCABULARY_TENSORS = frozenset(
    {"encoder.embedding.weight", "decoder.embedding.weight", "decoder.out.weight", "decoder.out.bias"}
)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I) (Kingma and Welling 2014)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class SequenceVAE(nn.Module):
    """The tensor-level VAE: token sequences in, latent means and log-variances, teacher-forced
    logits and autoregressive token decoding out, with the property head on the latent mean and,
    for a conditional model, the condition appended to z (Gómez-Bombarelli et al. 2018; CVAE:
    Sohn et al. 2015)."""

    def __init__(self, config: ModelConfig, vocab: Vocabulary, scaler: PropertyScaler) -> None:
        super().__init__()
        self.config = config
        self.vocab = vocab
        self.scaler = scaler
        missing = [c for c in config.conditions if c not in self.scaler.names]
        if missing:
            raise ConfigError(
                f"condition(s) {', '.join(missing)} must also be trained properties "
                f"(properties: {', '.join(self.scaler.names) or 'none'})"
            )
        self.condition_index = [self.scaler.names.index(c) for c in config.conditions]
        nc = len(self.condition_index)
        encoder = GRUSizes(
            len(vocab),
            config.embedding_dim,
            config.encoder_hidden_dim,
            config.encoder_layers,
            config.latent_dim,
            config.dropout,
            vocab.pad_index,
        )
        self.encoder = GRUEncoder(encoder, condition_dim=nc)
        self.decoder = GRUDecoder(  # the encoder's tokens and embedding size; it reads z and the condition
            dataclasses.replace(
                encoder,
                hidden_dim=config.decoder_hidden_dim,
                layers=config.decoder_layers,
                latent_dim=config.latent_dim + nc,
            )
        )
        self.property_head = PropertyHead(
            config.latent_dim,
            config.property_hidden_dim,
            config.property_layers,
            len(self.scaler.names),
            config.dropout,
        )

    # ------------------------------------------------------------------ core tensors

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def property_names(self) -> tuple[str, ...]:
        return self.scaler.names

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def conditions(self) -> tuple[str, ...]:
        """Properties a conditional model is conditioned on (empty for a plain VAE)."""
        return self.config.conditions

    def predict_properties(self, z: torch.Tensor) -> torch.Tensor:
        """The property head at latent points (``n x latent_dim`` -> ``n x n_properties``, float32), in the
        properties' own units (the training scaler undone); differentiable in ``z``. The one evaluation of
        the head: :meth:`encode` reports it, search builds its surrogate on it."""
        mean = torch.as_tensor(self.scaler.mean, dtype=torch.float32, device=z.device)
        std = torch.as_tensor(self.scaler.std, dtype=torch.float32, device=z.device)
        return self.property_head(z).float() * std + mean

    def condition_from(self, properties: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The condition (``n x n_conditions``) from standardized properties (``n x n_properties``);
        missing values and a missing table mean the training average (0). None for a plain VAE."""
        if not self.condition_index:
            return None
        if properties is None or properties.numel() == 0:
            return torch.zeros(n, len(self.condition_index), device=self.device)
        return torch.nan_to_num(properties[:, self.condition_index].float(), nan=0.0).to(self.device)

    def with_condition(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        if not self.condition_index:
            return z
        if condition is None:
            condition = torch.zeros(z.shape[0], len(self.condition_index), device=z.device)
        return torch.cat([z, condition.to(device=z.device, dtype=z.dtype)], dim=1)

    def encode_tokens(
        self, tokens: torch.Tensor, lengths: torch.Tensor, properties: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu``, ``logvar`` (``batch x latent``); ``properties`` (standardized) feed a conditional model."""
        return self.encoder(tokens, lengths, self.condition_from(properties, tokens.shape[0]))

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, sample: bool = True, properties: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Teacher-forced pass. ``tokens``: ``batch x time`` (BOS ... EOS, padded); ``properties``:
        standardized labels (``batch x n_properties``), used only as the condition of a conditional model.

        Returns ``logits`` (``batch x time-1 x vocab``, predicting tokens[:, 1:]), ``mu``, ``logvar``,
        ``z`` (``batch x latent``) and ``properties`` (``batch x n_properties``, standardized).
        """
        condition = self.condition_from(properties, tokens.shape[0])
        mu, logvar = self.encoder(tokens, lengths, condition)
        z = reparameterize(mu, logvar) if sample else mu
        logits, _ = self.decoder(tokens[:, :-1], self.with_condition(z, condition))
        return {"logits": logits, "mu": mu, "logvar": logvar, "z": z, "properties": self.property_head(mu)}

    def standardize_condition(self, values: dict[str, float]) -> np.ndarray:
        """``{"qed": 0.9, "logp": 2.5}`` -> the standardized condition vector (``n_conditions``); a
        condition not given is set to its training average."""
        if not self.conditions:
            raise InputError("this model is not conditional (train one with --condition NAME ...)")
        unknown = [k for k in values if k not in self.conditions]
        if unknown:
            raise InputError(f"this model is conditioned on {', '.join(self.conditions)}, not {', '.join(unknown)}")
        out = np.zeros(len(self.conditions), dtype=np.float32)
        for j, name in enumerate(self.conditions):
            if name in values:
                k = self.scaler.names.index(name)
                out[j] = (float(values[name]) - self.scaler.mean[k]) / self.scaler.std[k]
        return out

    @torch.no_grad()
    def generate(self, z: torch.Tensor, spec: DecodeSpec | None = None, **options) -> list[list[int]]:
        """Autoregressive decoding from ``z`` (``batch x latent``) as :class:`DecodeSpec` says (``options``:
        its fields, replacing those of ``spec``): greedy or sampled, with a condition and guidance,
        prefixes forced and tokens banned or avoided right after them. Stops at EOS or the hard length
        bound; returns each row's token indices (``max_length`` long, padded).

        One loop decodes every row: each row has a position; while it is inside its prefix the prefix
        token is written, at the first free position ``ban`` and ``avoid`` apply, and after it the
        decoder's pick. Rows leave the batch when they write EOS, so a decode costs what its molecules
        need. With a one-layer decoder and no guidance the prefixes are not stepped through but
        teacher-forced in one pass of the GRU's sequence kernel (:attr:`fast_prefix`): the same
        distribution of decodes, the random draws consumed in another order."""
        spec = dataclasses.replace(spec or DecodeSpec(), **options) if options else (spec or DecodeSpec())
        max_length = spec.max_length or self.config.max_length
        sizes = self._index_reader(spec.temperature, spec.index_temperature)
        guided = spec.guidance != 1.0 and spec.condition is not None and bool(self.condition_index)
        z_ref = self.with_condition(z, None) if guided else None
        z = self.with_condition(z, spec.condition)
        weights = self.decoder.step_weights(spec.dtype)
        state = _DecodeState.start(self, z, z_ref, spec, weights, max_length, sizes)
        while len(state.active):
            nxt = state.advance(state.choose(spec), self.vocab.eos_index, max_length)
            if nxt is None:
                break
            state.step(self.decoder, nxt, weights)
        return [row.tolist() for row in state.out]

    @torch.no_grad()
    def beam_search(
        self,
        z: torch.Tensor,
        width: int,
        condition: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
        max_length: int | None = None,
    ) -> list[list[int]]:
        """The most probable token sequence of each row of ``z`` (``batch x latent``) that a beam of
        ``width`` hypotheses finds: each step keeps the ``width`` prefixes of highest total log
        probability; a hypothesis that wrote EOS keeps its score and stays in the beam. Width 1 is
        greedy decoding. A beam can lose the greedy path on the way and end below it, so each row keeps
        the greedy sequence where that is the more probable: the result is never less probable than
        greedy decoding. Returns each row's best sequence (``max_length`` long, padded), as
        :meth:`generate` does. Costs about ``width + 1`` times a greedy decode.

        Example:
            >>> rows = vae.beam_search(torch.zeros(2, vae.latent_dim), width=3)   # doctest: +SKIP
        """
        if width < 1:
            raise InputError(f"the beam width must be at least 1, not {width}")
        max_length = max_length or self.config.max_length
        z = self.with_condition(z, condition)
        tokens, scores = self._beam(z, width, dtype, max_length)
        if width > 1:
            greedy, greedy_scores = self._beam(z, 1, dtype, max_length)
            tokens = torch.where((greedy_scores > scores).unsqueeze(1), greedy, tokens)
        return [row.tolist() for row in tokens.cpu()]

    def _beam(
        self, z: torch.Tensor, width: int, dtype: torch.dtype | None, max_length: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One beam search over ``z`` (the condition appended): the best hypothesis of each row
        (``batch x max_length`` tokens) and its total log probability (``batch``)."""
        n, device, vocab = z.shape[0], z.device, len(self.vocab)
        weights = self.decoder.step_weights(dtype)
        gates = self.decoder.z_gates(weights, z).repeat_interleave(width, 0)
        hidden = self.decoder.initial_state(z).repeat_interleave(width, 1)
        inputs = torch.full((n * width,), self.vocab.bos_index, dtype=torch.long, device=device)
        scores = torch.full((n, width), -float("inf"), device=device)
        scores[:, 0] = 0.0  # one live hypothesis per row at the start
        tokens = torch.full((n, width, max_length), self.vocab.pad_index, dtype=torch.long, device=device)
        done = torch.zeros(n, width, dtype=torch.bool, device=device)
        rows = torch.arange(n, device=device).unsqueeze(1)
        for t in range(max_length):
            logits, hidden = self.decoder.step(inputs, gates, hidden, weights)
            logp = torch.log_softmax(logits.float(), dim=-1).view(n, width, vocab)
            # a finished hypothesis goes on by one padding token at no cost, so it keeps its score
            finished = torch.full((vocab,), -float("inf"), device=device)
            finished[self.vocab.pad_index] = 0.0
            logp = torch.where(done.unsqueeze(-1), finished, logp)
            best, index = (scores.unsqueeze(-1) + logp).view(n, -1).topk(width, dim=-1)
            beam, token = index // vocab, index % vocab
            tokens, done = tokens[rows, beam], done[rows, beam]
            tokens[:, :, t] = torch.where(done, self.vocab.pad_index, token)
            done = done | (token == self.vocab.eos_index)
            scores = best
            if bool(done.all()):
                break
            flat = (rows * width + beam).view(-1)
            hidden, inputs = hidden[:, flat], token.view(-1)
        return tokens[:, 0], scores[:, 0]

    def _index_reader(self, temperature: float, index_temperature: float | None) -> _IndexReader | None:
        """What tracks index tokens during a decode, when their temperature differs from the rest."""
        if temperature <= 0 or index_temperature is None or index_temperature == temperature:
            return None
        if index_temperature < 0:
            raise InputError(f"the index temperature must be >= 0, not {index_temperature}")
        rep = get_representation(self.config.representation)
        lengths = torch.tensor([rep.index_length(t) for t in self.vocab.tokens], dtype=torch.long)
        return _IndexReader(lengths, float(index_temperature)) if bool(lengths.any()) else None

    fast_prefix = True  # generate() with a prefix: teacher-force it in one pass (False: step through it)

    def warm_start_from(self, other: SequenceVAE) -> dict[str, int]:
        """Copy ``other``'s weights into this model (same architecture; vocabularies may differ):
        rows of the token embeddings and the output layer are matched by token name, so a token
        new to this vocabulary keeps its fresh initialization and one this vocabulary lacks is
        dropped. A wider decoder (``decoder_hidden_dim`` larger than ``other``'s, same layers) is grown
        without changing what the model computes (Net2Net-style, Chen et al. 2016): the old units keep
        their weights, the new units start from this model's fresh initialization but nothing reads
        them yet (their columns in the old units' gates, the next layer and the output layer are zero),
        and training connects them. Returns counts of copied tensors and of shared tokens."""
        if other.config.representation != self.config.representation:
            raise ConfigError(
                f"cannot warm-start a {self.config.representation} model from a {other.config.representation} one"
            )
        shared = [t for t in self.vocab.tokens if t in other.vocab]
        new_rows = torch.tensor([self.vocab.index_of(t) for t in shared])
        old_rows = torch.tensor([other.vocab.index_of(t) for t in shared])
        theirs, mine = other.state_dict(), self.state_dict()
        old_width, width = other.config.decoder_hidden_dim, self.config.decoder_hidden_dim
        if width != old_width:
            if width < old_width or other.config.decoder_layers != self.config.decoder_layers:
                raise ConfigError(
                    f"cannot warm-start: a decoder of {old_width} units can only grow (asked: {width}) "
                    "and keep its number of layers"
                )
            theirs = {
                name: _grown_decoder_tensor(name, t, old_width, width, mine[name])
                if name.startswith("decoder.") and name in mine
                else t
                for name, t in theirs.items()
            }
        copied = 0
        with torch.no_grad():
            for name, target in mine.items():
                source = theirs.get(name)
                if source is None:
                    raise ConfigError(f"cannot warm-start: the initial model has no {name}")
                if name in VOCABULARY_TENSORS and source.shape[1:] == target.shape[1:]:
                    target[new_rows] = source[old_rows].to(target.dtype)
                elif name not in VOCABULARY_TENSORS and source.shape == target.shape:
                    target.copy_(source)
                else:
                    raise ConfigError(
                        f"cannot warm-start: {name} has shape {tuple(source.shape)} in the "
                        f"initial model and {tuple(target.shape)} here (architectures differ)"
                    )
                copied += 1
        return {"tensors": copied, "shared_tokens": len(shared), "new_tokens": len(self.vocab) - len(shared)}


@dataclass(frozen=True)
class DecodeSpec:
    """How :meth:`SequenceVAE.generate` decodes.

    ``temperature``: 0 greedy, else sampling from softmax(logits / T); ``index_temperature``: the
    temperature of the tokens a ring or branch token reads as its size (SELFIES' index tokens; 0:
    greedy; None: ``temperature``): a wrong size breaks a ring, while the atoms carry the diversity.
    ``condition`` (``batch x n_conditions``, standardized) for a conditional model (default: averages);
    ``guidance`` w != 1 decodes from ``l_avg + w (l_cond - l_avg)``, ``l_avg`` the logits at the
    training-average condition (classifier-free-style guidance, Ho & Salimans 2022).
    ``prefix`` (``batch x P`` token indices, -1 after each row's prefix): written first, whatever the
    decoder prefers. At the first position after a row's prefix, ``ban`` (a ``vocab``-long bool mask)
    masks tokens, and ``avoid`` (``batch``, -1 for none) bans one token and samples at temperature 1,
    so the row branches off the sequence the prefix came from (a point mutation the decoder completes).
    ``dtype`` bf16: the decoder's matrix products in bf16 (see ``GRUDecoder.step_weights``);
    ``max_length``: the hard bound on tokens (None: the model's); ``generator``: the random source.
    """

    temperature: float = 0.0
    index_temperature: float | None = None
    condition: torch.Tensor | None = None
    guidance: float = 1.0
    prefix: torch.Tensor | None = None
    avoid: torch.Tensor | None = None
    ban: torch.Tensor | None = None
    dtype: torch.dtype | None = None
    max_length: int | None = None
    generator: torch.Generator | None = None


@dataclass
class _DecodeState:
    """The rows of one :meth:`SequenceVAE.generate` call still writing: their indices (``active``), the
    position each writes next (``pos``) and where its prefix ends (``plen``), the decoder's hidden
    state and next-token ``logits``, the index tokens still to come (``reading``, with ``sizes``), and
    the same for the guidance reference (``hidden_ref``, ``gates_ref``, ``logits_ref``)."""

    out: torch.Tensor
    active: torch.Tensor
    pos: torch.Tensor
    plen: torch.Tensor | None
    gates: torch.Tensor
    hidden: torch.Tensor
    logits: torch.Tensor
    reading: torch.Tensor | None
    sizes: _IndexReader | None
    gates_ref: torch.Tensor | None = None
    hidden_ref: torch.Tensor | None = None
    logits_ref: torch.Tensor | None = None

    @classmethod
    def start(
        cls,
        vae: SequenceVAE,
        z: torch.Tensor,
        z_ref: torch.Tensor | None,
        spec: DecodeSpec,
        weights,
        max_length: int,
        sizes: _IndexReader | None,
    ) -> _DecodeState:
        n, device, decoder = z.shape[0], z.device, vae.decoder
        out = torch.full((n, max_length), vae.vocab.pad_index, dtype=torch.long)
        prefix = spec.prefix.cpu() if spec.prefix is not None else None
        plen = (prefix >= 0).sum(1) if prefix is not None else None
        reading = torch.zeros(n, dtype=torch.long) if sizes is not None else None  # index tokens still to come
        if prefix is not None and plen is not None and z_ref is None and decoder.layers == 1 and vae.fast_prefix:
            return cls._after_prefix(vae, z, spec, weights, out, prefix, plen, max_length, sizes)
        bos = torch.full((n,), vae.vocab.bos_index, dtype=torch.long, device=device)
        gates = decoder.z_gates(weights, z)
        logits, hidden = decoder.step(bos, gates, decoder.initial_state(z), weights)
        state = cls(out, torch.arange(n), torch.zeros(n, dtype=torch.long), plen, gates, hidden, logits, reading, sizes)
        if z_ref is not None:
            state.gates_ref = decoder.z_gates(weights, z_ref)
            state.logits_ref, state.hidden_ref = decoder.step(
                bos, state.gates_ref, decoder.initial_state(z_ref), weights
            )
        return state

    @classmethod
    def _after_prefix(
        cls,
        vae: SequenceVAE,
        z: torch.Tensor,
        spec: DecodeSpec,
        weights,
        out: torch.Tensor,
        prefix: torch.Tensor,
        plen: torch.Tensor,
        max_length: int,
        sizes: _IndexReader | None,
    ) -> _DecodeState:
        """The state at the end of each row's prefix, for a one-layer decoder: the prefixes go through
        the GRU's sequence kernel in one teacher-forced pass instead of being stepped through."""
        n, device = z.shape[0], z.device
        width = int(plen.max()) if n else 0
        if width:
            head = prefix[:, :width].clamp(min=0)
            out[:, :width] = torch.where(prefix[:, :width] >= 0, head, vae.vocab.pad_index)
        inputs = torch.cat([torch.full((n, 1), vae.vocab.bos_index, dtype=torch.long), out[:, :width]], 1)
        inputs = torch.where(inputs == vae.vocab.pad_index, vae.vocab.bos_index, inputs)  # after a prefix: unused
        with torch.autocast(device.type, dtype=spec.dtype or torch.bfloat16, enabled=spec.dtype is not None):
            states = vae.decoder.states(inputs.to(device), z)
        active = torch.nonzero(plen < max_length).squeeze(1)
        hidden = states[active.to(device), plen[active].to(device)].float().unsqueeze(0)
        logits = F.linear(hidden[0].to(weights.w_out.dtype), weights.w_out, weights.b_out).float()
        reading = None
        if sizes is not None:  # where each prefix leaves off: inside a ring's or branch's size or not
            reading = torch.zeros(n, dtype=torch.long)
            for t in range(width):
                inside = plen > t
                reading[inside] = sizes.next_state(reading[inside], out[inside, t])
            reading = reading[active]
        return cls(
            out,
            active,
            plen.clone()[active],
            plen[active],
            vae.decoder.z_gates(weights, z[active.to(device)]),
            hidden,
            logits,
            reading,
            sizes,
        )

    def choose(self, spec: DecodeSpec) -> torch.Tensor:
        """The token each active row writes at its position."""
        sizes, logits = self.sizes, self.logits
        if self.logits_ref is not None:
            logits = self.logits_ref + spec.guidance * (logits - self.logits_ref)
        nxt = _pick(logits, spec.temperature, spec.generator, sizes, self.reading)
        if self.plen is None:
            return nxt
        forced = torch.nonzero(self.pos < self.plen).squeeze(1)
        if len(forced) and spec.prefix is not None:
            nxt = nxt.clone()
            nxt[forced.to(nxt.device)] = spec.prefix.cpu()[self.active[forced], self.pos[forced]].to(nxt.device)
        first = self.pos == self.plen  # the first free position: ban and avoid apply
        if spec.ban is not None:
            rows = torch.nonzero(first).squeeze(1)
            if len(rows):
                masked = logits[rows.to(logits.device)].masked_fill(spec.ban.to(logits.device), -float("inf"))
                pick = _pick(
                    masked,
                    spec.temperature,
                    spec.generator,
                    sizes,
                    None if self.reading is None else self.reading[rows],
                )
                nxt = nxt.clone()
                nxt[rows.to(nxt.device)] = pick.to(nxt.device)
        if spec.avoid is not None:
            banned = spec.avoid.cpu()[self.active]
            rows = torch.nonzero(first & (banned >= 0)).squeeze(1)
            if len(rows):
                sub = logits[rows.to(logits.device)].clone()
                if spec.ban is not None:
                    sub = sub.masked_fill(spec.ban.to(sub.device), -float("inf"))
                sub[torch.arange(len(rows)), banned[rows].to(sub.device)] = -float("inf")
                nxt = nxt.clone()
                nxt[rows.to(nxt.device)] = _pick(sub, 1.0, spec.generator).to(nxt.device)
        return nxt

    def advance(self, nxt: torch.Tensor, eos: int, max_length: int) -> torch.Tensor | None:
        """Write ``nxt`` (one token per active row) and drop the rows that are done (EOS or the length
        bound): the tokens of the rows still writing, or None when none is left."""
        if self.reading is not None and self.sizes is not None:
            self.reading = self.sizes.next_state(self.reading, nxt.cpu())
        self.out[self.active, self.pos] = nxt.cpu()
        self.pos = self.pos + 1
        going = (nxt != eos).cpu() & (self.pos < max_length)
        if bool(going.all()):
            return nxt
        keep = torch.nonzero(going).squeeze(1)
        if not len(keep):
            self.active = keep
            return None
        self.active, self.pos = self.active[keep], self.pos[keep]
        if self.plen is not None:
            self.plen = self.plen[keep]
        if self.reading is not None:
            self.reading = self.reading[keep]
        on = keep.to(self.gates.device)
        self.gates, self.hidden = self.gates[on], self.hidden[:, on]
        if self.gates_ref is not None and self.hidden_ref is not None:
            self.gates_ref, self.hidden_ref = self.gates_ref[on], self.hidden_ref[:, on]
        return nxt[on]

    def step(self, decoder: GRUDecoder, nxt: torch.Tensor, weights) -> None:
        """Feed each active row its written token: the next hidden states and logits."""
        self.logits, self.hidden = decoder.step(nxt, self.gates, self.hidden, weights)
        if self.gates_ref is not None and self.hidden_ref is not None:
            self.logits_ref, self.hidden_ref = decoder.step(nxt, self.gates_ref, self.hidden_ref, weights)


class _IndexReader:
    """Per row of a decode: how many of the coming tokens are read as a ring's or branch's size
    (``next_state``), and the temperature those are sampled at."""

    def __init__(self, lengths: torch.Tensor, temperature: float) -> None:
        self.lengths, self.temperature = lengths, temperature

    def next_state(self, reading: torch.Tensor, written: torch.Tensor) -> torch.Tensor:
        return torch.where(reading > 0, reading - 1, self.lengths[written])


def _pick(
    logits: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
    sizes: _IndexReader | None = None,
    reading: torch.Tensor | None = None,
) -> torch.Tensor:
    """The next token of each row: greedy at temperature 0, else sampled from softmax(logits / T);
    rows whose next token is an index (``reading`` > 0) use ``sizes.temperature`` instead."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    scaled = logits / temperature
    index_rows = None
    if sizes is not None and reading is not None:
        index_rows = torch.nonzero(reading > 0).squeeze(1).to(logits.device)
        if len(index_rows) and sizes.temperature > 0:
            scaled[index_rows] = logits[index_rows] / sizes.temperature
    nxt = torch.multinomial(torch.softmax(scaled, dim=-1).cpu(), 1, generator=generator).squeeze(1).to(logits.device)
    if sizes is not None and index_rows is not None and len(index_rows) and sizes.temperature == 0:
        nxt[index_rows] = logits[index_rows].argmax(dim=-1)
    return nxt


def _grown_decoder_tensor(
    name: str, old: torch.Tensor, old_width: int, width: int, fresh: torch.Tensor
) -> torch.Tensor:
    """``old`` (a decoder tensor of a model with ``old_width`` GRU units) laid into the shape of
    ``fresh`` (the same tensor of a ``width``-unit decoder): rows of the old units (in each of the
    GRU's stacked r, z, n blocks, or each layer's block of ``z_to_hidden``) take the old values, rows
    of new units keep ``fresh``'s values, and columns that read new units are zero, so the grown
    decoder computes what the old one did. The output layer keeps ``old``'s vocabulary rows."""
    if name == "decoder.out.weight":
        grown = old.new_zeros(old.shape[0], width)
        grown[:, :old_width] = old
        return grown
    if name in VOCABULARY_TENSORS or old.shape == fresh.shape:  # the embedding, the output bias: rows per
        return old  # token, matched by name in warm_start_from
    reads_hidden = name.startswith("decoder.gru.weight_hh") or (
        name.startswith("decoder.gru.weight_ih_l") and not name.endswith("_l0")
    )
    if not reads_hidden and old.shape[1:] != fresh.shape[1:]:
        raise ConfigError(
            f"cannot grow {name}: it has shape {tuple(old.shape)} in the initial model and "
            f"{tuple(fresh.shape)} here (architectures differ beyond the decoder's width)"
        )
    blocks = 3 if name.startswith("decoder.gru.") else old.shape[0] // old_width
    grown = fresh.detach().clone()
    for b in range(blocks):
        rows, source = slice(b * width, b * width + old_width), old[b * old_width : (b + 1) * old_width]
        if reads_hidden:
            grown[rows] = 0.0
            grown[rows, :old_width] = source
        else:
            grown[rows] = source
    return grown

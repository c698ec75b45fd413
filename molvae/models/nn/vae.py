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

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from molvae.config import ModelConfig
from molvae.data.datasets import PropertyScaler
from molvae.errors import ConfigError, InputError
from molvae.models.nn.decoder import GRUDecoder
from molvae.models.nn.encoder import GRUEncoder
from molvae.models.nn.heads import PropertyHead
from molvae.data.vocab import Vocabulary, get_representation


# Parameters with one row per vocabulary token (warm starts match their rows by token name).
VOCABULARY_TENSORS = frozenset({"encoder.embedding.weight", "decoder.embedding.weight", "decoder.out.weight",
                                "decoder.out.bias"})


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
            raise ConfigError(f"condition(s) {', '.join(missing)} must also be trained properties "
                              f"(properties: {', '.join(self.scaler.names) or 'none'})")
        self.condition_index = [self.scaler.names.index(c) for c in config.conditions]
        nc = len(self.condition_index)
        v = len(vocab)
        self.encoder = GRUEncoder(v, config.embedding_dim, config.encoder_hidden_dim, config.encoder_layers,
                                  config.latent_dim, config.dropout, vocab.pad_index, condition_dim=nc)
        self.decoder = GRUDecoder(v, config.embedding_dim, config.decoder_hidden_dim, config.decoder_layers,
                                  config.latent_dim + nc, config.dropout, vocab.pad_index)
        self.property_head = PropertyHead(config.latent_dim, config.property_hidden_dim, config.property_layers,
                                          len(self.scaler.names), config.dropout)

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

    def encode_tokens(self, tokens: torch.Tensor, lengths: torch.Tensor,
                      properties: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu``, ``logvar`` (``batch x latent``); ``properties`` (standardized) feed a conditional model."""
        return self.encoder(tokens, lengths, self.condition_from(properties, tokens.shape[0]))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, sample: bool = True,
                properties: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
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
    def generate(self, z: torch.Tensor, temperature: float = 0.0, max_length: int | None = None,
                 generator: torch.Generator | None = None, condition: torch.Tensor | None = None,
                 guidance: float = 1.0, prefix: torch.Tensor | None = None,
                 avoid: torch.Tensor | None = None, ban: torch.Tensor | None = None,
                 dtype: torch.dtype | None = None, index_temperature: float | None = None) -> list[list[int]]:
        """Autoregressive decoding from ``z`` (``batch x latent``): greedy when ``temperature`` is 0,
        else sampling from softmax(logits / temperature). Stops at EOS or the hard length bound.
        ``prefix`` (``batch x P`` token indices, -1 after each row's prefix): those tokens are written
        first, whatever the decoder prefers; ``avoid`` (``batch``, -1 for none): at the first position
        after the prefix that token is banned and the token is sampled at temperature 1, so the row
        branches off the sequence the prefix came from (a point mutation the decoder completes).
        ``ban`` (a ``vocab``-long bool mask, with ``prefix``): at the first position after each row's
        prefix those tokens cannot be written; the pick among the others follows ``temperature``.
        ``condition`` (``batch x n_conditions``, standardized) for a conditional model; default: averages.
        ``guidance`` w != 1 (conditional model with a condition) decodes from ``l_avg + w (l_cond - l_avg)``,
        where ``l_avg`` are the logits at the training-average condition: w > 1 pushes each step further
        towards the requested properties (classifier-free-style guidance, Ho & Salimans 2022).
        ``dtype`` bf16: the decoder's matrix products in bf16 (see ``GRUDecoder.step_weights``).
        ``index_temperature`` (with ``temperature`` > 0): the temperature of the tokens a ring or branch
        token reads as its size (SELFIES' index tokens; 0: greedy); None: ``temperature``. A wrong size
        breaks a ring (a benzene written as a 7-ring), while the atoms carry the diversity."""
        max_length = max_length or self.config.max_length
        sizes = self._index_reader(temperature, index_temperature)
        guided = guidance != 1.0 and condition is not None and bool(self.condition_index)
        z_ref = self.with_condition(z, None) if guided else None
        z = self.with_condition(z, condition)
        if prefix is not None and z_ref is None and self.decoder.layers == 1 and self.fast_prefix:
            return self._generate_after_prefix(z, temperature, max_length, generator, prefix, avoid, ban, dtype, sizes)
        n = z.shape[0]
        weights = self.decoder.step_weights(dtype)
        inputs = torch.full((n,), self.vocab.bos_index, dtype=torch.long, device=z.device)
        hidden, gates = self.decoder.initial_state(z), self.decoder.z_gates(weights, z)
        if z_ref is not None:
            hidden_ref, gates_ref = self.decoder.initial_state(z_ref), self.decoder.z_gates(weights, z_ref)
        out = torch.full((n, max_length), self.vocab.pad_index, dtype=torch.long)
        # Rows still writing; finished rows leave the batch, so the loop costs what the molecules need
        # (their lengths vary about twofold on ZINC) rather than n x the longest one.
        active = torch.arange(n)
        reading = torch.zeros(n, dtype=torch.long) if sizes is not None else None  # index tokens still to come
        plen = (prefix >= 0).sum(1).cpu() if prefix is not None else None
        for t in range(max_length):
            logits, hidden = self.decoder.step(inputs, gates, hidden, weights)
            if z_ref is not None:
                ref, hidden_ref = self.decoder.step(inputs, gates_ref, hidden_ref, weights)
                logits = ref + guidance * (logits - ref)
            nxt = _pick(logits, temperature, generator, sizes, reading)
            if plen is not None:
                nxt = self._follow_prefix(t, nxt, logits, active, prefix, plen, avoid, generator)
                if ban is not None:
                    nxt = self._ban_after_prefix(t, nxt, logits, plen[active], ban, temperature, generator,
                                                 sizes, reading)
            if sizes is not None:
                reading = sizes.next_state(reading, nxt.cpu())
            out[active, t] = nxt.cpu()
            going = (nxt != self.vocab.eos_index).cpu()
            if not bool(going.any()):
                break
            if not bool(going.all()):
                keep = torch.nonzero(going).squeeze(1)
                keep = keep.to(z.device)
                active, nxt, gates, hidden = active[keep.cpu()], nxt[keep], gates[keep], hidden[:, keep]
                if reading is not None:
                    reading = reading[keep.cpu()]
                if z_ref is not None:
                    gates_ref, hidden_ref = gates_ref[keep], hidden_ref[:, keep]
            inputs = nxt
        return [row.tolist() for row in out]

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

    def _generate_after_prefix(self, z: torch.Tensor, temperature: float, max_length: int, generator,
                               prefix: torch.Tensor, avoid: torch.Tensor | None, ban: torch.Tensor | None,
                               dtype: torch.dtype | None, sizes: _IndexReader | None = None) -> list[list[int]]:
        """:meth:`generate` with a prefix, for a one-layer decoder: the prefixes go through the GRU's
        sequence kernel in one teacher-forced pass, and only the tokens after them are decoded step
        by step (each row from its own position), instead of stepping every row through its prefix.
        The same distribution of decodes as stepping; the random draws are consumed in another order."""
        n, device = z.shape[0], z.device
        prefix = prefix.cpu()
        plen = (prefix >= 0).sum(1)
        width = int(plen.max()) if n else 0
        out = torch.full((n, max_length), self.vocab.pad_index, dtype=torch.long)
        if width:
            head = prefix[:, :width].clamp(min=0)
            out[:, :width] = torch.where(prefix[:, :width] >= 0, head, self.vocab.pad_index)
        inputs = torch.cat([torch.full((n, 1), self.vocab.bos_index, dtype=torch.long), out[:, :width]], 1)
        inputs = torch.where(inputs == self.vocab.pad_index, self.vocab.bos_index, inputs)  # after a prefix: unused
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            states = self.decoder.states(inputs.to(device), z)
        active = torch.nonzero(plen < max_length).squeeze(1)
        hidden = states[active.to(device), plen[active].to(device)].float().unsqueeze(0)
        weights = self.decoder.step_weights(dtype)
        gates = self.decoder.z_gates(weights, z[active.to(device)])
        logits = F.linear(hidden[0].to(weights.w_out.dtype), weights.w_out, weights.b_out).float()
        pos = plen.clone()
        reading = None
        if sizes is not None:  # where each prefix leaves off: inside a ring's or branch's size or not
            reading = torch.zeros(n, dtype=torch.long)
            for t in range(width):
                inside = plen > t
                reading[inside] = sizes.next_state(reading[inside], out[inside, t])
            reading = reading[active]

        # The first free position: `ban` masks tokens there; `avoid` bans one token and samples at T = 1.
        if ban is not None:
            logits = logits.masked_fill(ban.to(device), -float("inf"))
        nxt = _pick(logits, temperature, generator, sizes, reading)
        if avoid is not None:
            banned = avoid.cpu()[active]
            branch = torch.nonzero(banned >= 0).squeeze(1)
            if len(branch):
                rows = logits[branch.to(device)].clone()
                rows[torch.arange(len(branch)), banned[branch].to(device)] = -float("inf")
                nxt[branch.to(device)] = _pick(rows, 1.0, generator)
        while len(active):
            if reading is not None:
                reading = sizes.next_state(reading, nxt.cpu())
            out[active, pos[active]] = nxt.cpu()
            pos[active] += 1
            going = ((nxt != self.vocab.eos_index).cpu() & (pos[active] < max_length))
            if not bool(going.all()):
                keep = torch.nonzero(going).squeeze(1)
                active, nxt, gates, hidden = active[keep], nxt[keep.to(device)], gates[keep.to(device)], \
                    hidden[:, keep.to(device)]
                if reading is not None:
                    reading = reading[keep]
                if not len(active):
                    break
            logits, hidden = self.decoder.step(nxt, gates, hidden, weights)
            nxt = _pick(logits, temperature, generator, sizes, reading)
        return [row.tolist() for row in out]

    @staticmethod
    def _follow_prefix(t: int, nxt: torch.Tensor, logits: torch.Tensor, active: torch.Tensor, prefix: torch.Tensor,
                       plen: torch.Tensor, avoid: torch.Tensor | None, generator) -> torch.Tensor:
        """Step ``t`` of :meth:`generate` for rows with a prefix: the prefix token while it lasts, and
        the branch token (``avoid`` banned, sampled at temperature 1) right after it."""
        lengths = plen[active]
        forced = torch.nonzero(lengths > t).squeeze(1)
        if len(forced):
            nxt = nxt.clone()
            nxt[forced.to(nxt.device)] = prefix[active[forced], t].to(nxt.device)
        if avoid is not None:
            banned = avoid[active].cpu()
            branch = torch.nonzero((lengths == t) & (banned >= 0)).squeeze(1)
            if len(branch):
                rows = logits[branch.to(logits.device)].clone()
                rows[torch.arange(len(branch)), banned[branch].to(rows.device)] = -float("inf")
                pick = torch.multinomial(torch.softmax(rows, dim=-1).cpu(), 1, generator=generator).squeeze(1)
                nxt[branch.to(nxt.device)] = pick.to(nxt.device)
        return nxt

    @staticmethod
    def _ban_after_prefix(t: int, nxt: torch.Tensor, logits: torch.Tensor, lengths: torch.Tensor, ban: torch.Tensor,
                          temperature: float, generator, sizes: _IndexReader | None = None,
                          reading: torch.Tensor | None = None) -> torch.Tensor:
        """Step ``t`` of :meth:`generate`: rows whose prefix ends here pick a token outside ``ban``
        (as :func:`_pick` would: an index token at the index temperature)."""
        rows = torch.nonzero(lengths == t).squeeze(1).to(logits.device)
        if not len(rows):
            return nxt
        masked = logits[rows].masked_fill(ban.to(logits.device), -float("inf"))
        pick = _pick(masked, temperature, generator, sizes, None if reading is None else reading[rows.cpu()])
        nxt = nxt.clone()
        nxt[rows.to(nxt.device)] = pick.to(nxt.device)
        return nxt

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
            raise ConfigError(f"cannot warm-start a {self.config.representation} model from a "
                              f"{other.config.representation} one")
        shared = [t for t in self.vocab.tokens if t in other.vocab]
        new_rows = torch.tensor([self.vocab.index_of(t) for t in shared])
        old_rows = torch.tensor([other.vocab.index_of(t) for t in shared])
        theirs, mine = other.state_dict(), self.state_dict()
        old_width, width = other.config.decoder_hidden_dim, self.config.decoder_hidden_dim
        if width != old_width:
            if width < old_width or other.config.decoder_layers != self.config.decoder_layers:
                raise ConfigError(f"cannot warm-start: a decoder of {old_width} units can only grow (asked: {width}) "
                                  "and keep its number of layers")
            theirs = {name: _grown_decoder_tensor(name, t, old_width, width, mine[name])
                      if name.startswith("decoder.") and name in mine else t for name, t in theirs.items()}
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
                    raise ConfigError(f"cannot warm-start: {name} has shape {tuple(source.shape)} in the "
                                      f"initial model and {tuple(target.shape)} here (architectures differ)")
                copied += 1
        return {"tensors": copied, "shared_tokens": len(shared), "new_tokens": len(self.vocab) - len(shared)}


class _IndexReader:
    """Per row of a decode: how many of the coming tokens are read as a ring's or branch's size
    (``next_state``), and the temperature those are sampled at."""

    def __init__(self, lengths: torch.Tensor, temperature: float) -> None:
        self.lengths, self.temperature = lengths, temperature

    def next_state(self, reading: torch.Tensor, written: torch.Tensor) -> torch.Tensor:
        return torch.where(reading > 0, reading - 1, self.lengths[written])


def _pick(logits: torch.Tensor, temperature: float, generator: torch.Generator | None,
          sizes: _IndexReader | None = None, reading: torch.Tensor | None = None) -> torch.Tensor:
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
    if index_rows is not None and len(index_rows) and sizes.temperature == 0:
        nxt[index_rows] = logits[index_rows].argmax(dim=-1)
    return nxt


def _grown_decoder_tensor(name: str, old: torch.Tensor, old_width: int, width: int,
                          fresh: torch.Tensor) -> torch.Tensor:
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
        name.startswith("decoder.gru.weight_ih_l") and not name.endswith("_l0"))
    if not reads_hidden and old.shape[1:] != fresh.shape[1:]:
        raise ConfigError(f"cannot grow {name}: it has shape {tuple(old.shape)} in the initial model and "
                          f"{tuple(fresh.shape)} here (architectures differ beyond the decoder's width)")
    blocks = 3 if name.startswith("decoder.gru.") else old.shape[0] // old_width
    grown = fresh.detach().clone()
    for b in range(blocks):
        rows, source = slice(b * width, b * width + old_width), old[b * old_width:(b + 1) * old_width]
        if reads_hidden:
            grown[rows] = 0.0
            grown[rows, :old_width] = source
        else:
            grown[rows] = source
    return grown

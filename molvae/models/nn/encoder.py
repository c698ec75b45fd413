"""Bidirectional GRU encoder: token sequence -> mean and log-variance of q(z | x)."""

from __future__ import annotations

import torch
from torch import nn

from molvae.models.nn.gru import GRUSizes


def reverse_within_length(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``length`` entries, leaving the padding after them in place.

    ``tokens``: ``batch x time [x ...]``; ``lengths``: ``batch``.
    """
    batch, time = tokens.shape[:2]
    pos = torch.arange(time, device=tokens.device).expand(batch, time)
    rev = lengths.to(tokens.device).unsqueeze(1) - 1 - pos
    index = torch.where(rev >= 0, rev, pos)
    if tokens.ndim == 3:
        index = index.unsqueeze(-1).expand_as(tokens)
    return tokens.gather(1, index)


class GRUEncoder(nn.Module):
    """Embeds tokens and reads them with a forward GRU and a backward GRU (on each sequence reversed
    within its real length); the states at the last real token of both go to ``mu`` and ``logvar``
    (``batch x latent_dim``); ``condition_dim``: the size of a conditional VAE's condition, read beside
    those states.

    Two plain GRUs over padded batches instead of one bidirectional GRU over packed sequences:
    the same information, and about 1.6x faster under bf16 autocast on CPU (packing defeats the
    fused kernels; measured on this project's 2-core machine).
    """

    def __init__(self, sizes: GRUSizes, condition_dim: int = 0) -> None:
        super().__init__()
        self.embedding = sizes.embedding()
        self.forward_gru = sizes.gru(sizes.embedding_dim)
        self.backward_gru = sizes.gru(sizes.embedding_dim)
        self.dropout = nn.Dropout(sizes.dropout)
        self.to_mu = nn.Linear(2 * sizes.hidden_dim + condition_dim, sizes.latent_dim)
        self.to_logvar = nn.Linear(2 * sizes.hidden_dim + condition_dim, sizes.latent_dim)

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens``: ``batch x time`` (BOS ... EOS, padded); ``lengths``: ``batch`` real lengths;
        ``condition``: ``batch x condition_dim`` (conditional VAE: standardized property values)."""
        emb = self.dropout(self.embedding(tokens))
        fwd, _ = self.forward_gru(emb)
        bwd, _ = self.backward_gru(reverse_within_length(emb, lengths))
        last = (lengths.to(tokens.device) - 1).view(-1, 1, 1)
        h = torch.cat(
            [fwd.gather(1, last.expand(-1, 1, fwd.shape[-1])), bwd.gather(1, last.expand(-1, 1, bwd.shape[-1]))], dim=-1
        ).squeeze(1)
        h = self.dropout(h)
        if condition is not None:
            h = torch.cat([h, condition.to(h.dtype)], dim=-1)
        return self.to_mu(h), self.to_logvar(h)

"""Bidirectional GRU encoder: token sequence -> mean and log-variance of q(z | x)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRUEncoder(nn.Module):
    """Embeds tokens, runs a bidirectional GRU over the real (unpadded) length, and maps the final
    forward and backward states of the top layer to ``mu`` and ``logvar`` (``batch x latent_dim``)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, layers: int,
                 latent_dim: int, dropout: float, pad_index: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.gru = nn.GRU(embedding_dim, hidden_dim, num_layers=layers, batch_first=True,
                          bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.to_mu = nn.Linear(2 * hidden_dim, latent_dim)
        self.to_logvar = nn.Linear(2 * hidden_dim, latent_dim)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens``: ``batch x time`` (BOS ... EOS, padded); ``lengths``: ``batch`` real lengths."""
        emb = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)  # (layers * 2) x batch x hidden
        h = torch.cat([h[-2], h[-1]], dim=-1)
        h = self.dropout(h)
        return self.to_mu(h), self.to_logvar(h)

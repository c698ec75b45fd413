"""Autoregressive GRU decoder conditioned on z (initial state and an input at every step)."""

from __future__ import annotations

import torch
from torch import nn


class GRUDecoder(nn.Module):
    """``z`` sets the initial hidden state and is concatenated to every input embedding, so the
    decoder cannot ignore it as easily (a common remedy for posterior collapse)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, layers: int,
                 latent_dim: int, dropout: float, pad_index: int = 0) -> None:
        super().__init__()
        self.layers = layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.z_to_hidden = nn.Linear(latent_dim, hidden_dim * layers)
        self.gru = nn.GRU(embedding_dim + latent_dim, hidden_dim, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def initial_state(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: ``batch x latent`` -> hidden ``layers x batch x hidden``."""
        h = torch.tanh(self.z_to_hidden(z))
        return h.view(z.shape[0], self.layers, -1).transpose(0, 1).contiguous()

    def forward(self, inputs: torch.Tensor, z: torch.Tensor,
                hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced (or one-step) pass. ``inputs``: ``batch x time`` token indices;
        returns logits ``batch x time x vocab`` and the new hidden state."""
        if hidden is None:
            hidden = self.initial_state(z)
        emb = self.dropout(self.embedding(inputs))
        zz = z.unsqueeze(1).expand(-1, inputs.shape[1], -1).to(emb.dtype)
        output, hidden = self.gru(torch.cat([emb, zz], dim=-1), hidden)
        return self.out(self.dropout(output)), hidden

"""Property predictor: an MLP on the latent mean."""

from __future__ import annotations

import torch
from torch import nn


class PropertyHead(nn.Module):
    """Predicts standardized properties (``batch x n_properties``) from ``z`` (``batch x latent``)."""

    def __init__(self, latent_dim: int, hidden_dim: int, layers: int, n_properties: int, dropout: float) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers - 1):
            blocks += [nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        blocks.append(nn.Linear(width, max(n_properties, 1)))
        self.net = nn.Sequential(*blocks)
        self.n_properties = n_properties

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)[:, : self.n_properties]

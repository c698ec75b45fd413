"""What the GRU encoder and decoder share: their sizes, the token embedding and the GRU stack."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class GRUSizes:
    """The sizes of a GRU over token sequences: ``vocab_size`` tokens embedded in ``embedding_dim``
    dimensions (the token ``pad_index`` embeds to zeros), ``layers`` GRU layers of ``hidden_dim`` units,
    ``dropout``, and ``latent_dim``: the code the encoder writes, or the one the decoder reads.

    Example:
        >>> sizes = GRUSizes(vocab_size=20, embedding_dim=8, hidden_dim=16, layers=2, latent_dim=4, dropout=0.1)
        >>> sizes.gru(sizes.embedding_dim).num_layers
        2
    """

    vocab_size: int
    embedding_dim: int
    hidden_dim: int
    layers: int
    latent_dim: int
    dropout: float
    pad_index: int = 0

    def embedding(self) -> nn.Embedding:
        return nn.Embedding(self.vocab_size, self.embedding_dim, padding_idx=self.pad_index)

    def gru(self, input_size: int) -> nn.GRU:
        """``layers`` GRU layers (batch first) reading ``input_size`` features, with dropout between
        layers (none after the last: the caller's own dropout follows)."""
        return nn.GRU(
            input_size,
            self.hidden_dim,
            num_layers=self.layers,
            batch_first=True,
            dropout=self.dropout if self.layers > 1 else 0.0,
        )

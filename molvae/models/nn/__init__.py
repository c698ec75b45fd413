"""The VAE at the level of tensors: encoder, decoder, property head and their composition."""

from molvae.models.nn.decoder import GRUDecoder
from molvae.models.nn.encoder import GRUEncoder
from molvae.models.nn.gru import GRUSizes
from molvae.models.nn.heads import PropertyHead
from molvae.models.nn.vae import SequenceVAE, reparameterize

__all__ = ["GRUDecoder", "GRUEncoder", "GRUSizes", "PropertyHead", "SequenceVAE", "reparameterize"]

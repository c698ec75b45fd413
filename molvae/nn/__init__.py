"""The VAE at the level of tensors: encoder, decoder, property head and their composition."""

from molvae.nn.decoder import GRUDecoder
from molvae.nn.encoder import GRUEncoder
from molvae.nn.heads import PropertyHead
from molvae.nn.vae import SequenceVAE, reparameterize

__all__ = ["GRUDecoder", "GRUEncoder", "PropertyHead", "SequenceVAE", "reparameterize"]

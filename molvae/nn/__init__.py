"""Small building blocks of the VAE: encoder, decoder and property head."""

from molvae.nn.decoder import GRUDecoder
from molvae.nn.encoder import GRUEncoder
from molvae.nn.heads import PropertyHead

__all__ = ["GRUDecoder", "GRUEncoder", "PropertyHead"]

"""Searching the latent space: interpolation and neighbourhood exploration."""

from molvae.search.explore import explore
from molvae.search.interpolate import interpolate, slerp

__all__ = ["explore", "interpolate", "slerp"]

"""molvae: a SELFIES/SMILES variational autoencoder with a jointly trained property predictor.

The functions of :mod:`molvae.api` are the public API, one per CLI verb, each returning what the
verb writes (a DataFrame with the same columns as its output file).

Example:
    >>> import molvae
    >>> model = molvae.load("zinc250k_selfies")          # doctest: +SKIP
    >>> molvae.sample(model, 5, seed=0)["smiles"]       # doctest: +SKIP
"""

from molvae._version import __version__  # noqa: E402
from molvae.api import (  # noqa: E402
    decode,
    encode,
    encode_file,
    evaluate,
    explore,
    interpolate,
    list_models,
    load,
    neighbors,
    optimize,
    reconstruct,
    sample,
    score,
    show,
    summarize_samples,
)
from molvae.errors import CheckpointError, ConfigError, InputError, MolvaeError  # noqa: E402
from molvae.models.vae import MolVAE  # noqa: E402

__all__ = [
    "CheckpointError",
    "ConfigError",
    "InputError",
    "MolVAE",
    "MolvaeError",
    "__version__",
    "decode",
    "encode",
    "encode_file",
    "evaluate",
    "explore",
    "interpolate",
    "list_models",
    "load",
    "neighbors",
    "optimize",
    "reconstruct",
    "sample",
    "score",
    "show",
    "summarize_samples",
]

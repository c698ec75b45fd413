"""molvae: a SELFIES/SMILES variational autoencoder with a jointly trained property predictor.

Example:
    >>> from molvae import MolVAE
    >>> model = MolVAE.load("runs/demo/best.pt")   # doctest: +SKIP
    >>> model.sample(5, seed=0)                    # doctest: +SKIP
"""

__version__ = "0.1.0"

from molvae.errors import CheckpointError, ConfigError, InputError, MolvaeError  # noqa: E402
from molvae.model import MolVAE  # noqa: E402

__all__ = ["CheckpointError", "ConfigError", "InputError", "MolVAE", "MolvaeError", "__version__"]

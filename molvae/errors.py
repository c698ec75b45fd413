"""Exception classes for user mistakes.

The CLI turns every :class:`MolvaeError` into one line on stderr and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MolvaeError(Exception):
    """Base class for errors caused by input, configuration or files given by the user."""


class InputError(MolvaeError):
    """A file, column or value given by the user cannot be used."""


class ConfigError(MolvaeError):
    """A configuration key or value is unknown or out of range."""


class CheckpointError(MolvaeError):
    """A checkpoint file is missing, corrupt, unsafe or of another format version."""

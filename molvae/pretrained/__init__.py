"""The model bundled with the package (package data), used when no --model is given."""

from __future__ import annotations

from pathlib import Path

BUNDLED_MODEL = Path(__file__).with_name("zinc250k_selfies.pt")


def default_model_path() -> Path | None:
    """Path of the bundled checkpoint, or None when this installation does not ship one."""
    return BUNDLED_MODEL if BUNDLED_MODEL.is_file() else None

"""Models bundled with the package (package data): the default model, used when no --model is given,
and others that ``--model NAME`` finds by name (``molvae sample --list-models`` style lookups go
through :func:`bundled_models`)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
BUNDLED_MODEL = HERE / "zinc250k_selfies.pt"


def default_model_path() -> Path | None:
    """Path of the bundled checkpoint, or None when this installation does not ship one."""
    return BUNDLED_MODEL if BUNDLED_MODEL.is_file() else None


def bundled_models() -> dict[str, Path]:
    """Bundled checkpoints by name (the file name without ``.pt``), e.g. ``zinc250k_selfies_cvae``."""
    return {p.stem: p for p in sorted(HERE.glob("*.pt"))}


def resolve_model(name_or_path: str) -> Path:
    """A checkpoint path as given, or the bundled model of that name when no such file exists."""
    path = Path(name_or_path)
    if not path.exists() and name_or_path in bundled_models():
        return bundled_models()[name_or_path]
    return path

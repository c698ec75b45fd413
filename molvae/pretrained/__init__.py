"""Models bundled with the package (package data): the default model, used when no --model is given,
and others that ``--model NAME`` finds by name (``molvae sample --list-models`` style lookups go
through :func:`bundled_models`).

Two defaults, one per kind of use: ``zinc250k_selfies`` (an informative latent space: encode,
reconstruct, optimize, explore, interpolate, score) and ``zinc250k_selfies_sampler`` (a decoder
trained to write the chemistry of its data from prior draws: ``sample``, ``evaluate``). The model
card (README.md here) says why one model does not yet do both."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
BUNDLED_MODEL = HERE / "zinc250k_selfies.pt"
SAMPLER_MODEL = HERE / "zinc250k_selfies_sampler.pt"
PURPOSES = ("latent", "sample")


def default_model_path(purpose: str = "latent") -> Path | None:
    """Path of the bundled checkpoint for ``purpose`` ("latent": the default model; "sample": the
    sampler when this installation ships one, else the default model), or None when there is none."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    if purpose == "sample" and SAMPLER_MODEL.is_file():
        return SAMPLER_MODEL
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

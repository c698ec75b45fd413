"""Models bundled with the package (package data): the default model, used when no --model is given,
and others that ``--model NAME`` finds by name (``molvae models`` lists them; lookups go
through :func:`bundled_models`).

Two defaults, one per kind of use: ``zinc250k_selfies`` (an informative latent space: encode,
reconstruct, optimize, explore, interpolate, score) and ``zinc250k_selfies_sampler`` (a decoder
trained to write the chemistry of its data from prior draws: ``sample``, ``evaluate``). The model
card (README.md here) says why one model does not yet do both."""

from __future__ import annotations

import difflib
from pathlib import Path

from molvae.errors import CheckpointError

HERE = Path(__file__).parent
BUNDLED_MODEL = HERE / "zinc250k_selfies.pt"
SAMPLER_MODEL = HERE / "zinc250k_selfies_sampler.pt"
PURPOSES = ("latent", "sample")
# What each bundled model is for, one line each (``molvae models``); the model card says more.
DESCRIPTIONS = {
    "zinc250k_selfies": "an informative latent space with a logP/QED/SA predictor, for encoding, search and "
    "scoring (ZINC250k)",
    "zinc250k_selfies_sampler": "writes ZINC250k-like molecules from prior draws (a deeper decoder)",
    "zinc250k_selfies_cvae": "conditional sampling: sample --model zinc250k_selfies_cvae --condition qed=0.8 "
    "logp=3 (not an encoder)",
}


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
    """A checkpoint path as given, or the bundled model of that name when no such file exists; a
    :class:`CheckpointError` naming the bundled models (and the closest name) when neither exists."""
    path = Path(name_or_path)
    bundled = bundled_models()
    if path.exists():
        return path
    if name_or_path in bundled:
        return bundled[name_or_path]
    raise CheckpointError(f"model file not found: {name_or_path}; {bundled_hint(name_or_path)}")


def bundled_hint(name: str) -> str:
    """The bundled models' names, the closest to ``name`` first: what an error about a model name
    that is neither a file nor bundled says next."""
    bundled = bundled_models()
    close = difflib.get_close_matches(Path(name).name.removesuffix(".pt").lower(), bundled, n=1, cutoff=0.75)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}bundled models: {', '.join(bundled) or 'none in this installation'} ('molvae models' describes them)"

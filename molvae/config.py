"""Dataclass configurations for data, model and training, read from and written to TOML.

A TOML file has up to three tables, ``[data]``, ``[model]`` and ``[train]``, whose keys are the
field names below; unknown keys are an error. Command-line flags override the file.

Example:
    >>> cfg = RunConfig.from_dict({"model": {"latent_dim": 32}})
    >>> cfg.model.latent_dim
    32
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from molvae.errors import ConfigError

KL_SCHEDULES = ("constant", "monotonic", "cyclical")
PRECISIONS = ("auto", "fp32", "bf16")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class DataConfig:
    """Which columns to read and which molecules to keep."""

    smiles_column: str | None = None  # None: detect a column named like "smiles"
    id_column: str | None = None
    properties: tuple[str, ...] = ()  # file columns, or names computed with RDKit (molvae.chem.PROPERTIES)
    split_column: str = "split"  # used when present: values train / valid (others are ignored)
    valid_fraction: float = 0.05  # seeded random hold-out when no split column gives valid rows; 0: none
    keep_largest_fragment: bool = False
    max_tokens: int = 0  # 0: no limit; otherwise longer molecules are rejected with a reason
    workers: int = 0  # processes for RDKit/SELFIES preparation; 0: all cores
    # share of the training molecules shown each epoch written from a random SMILES instead of the
    # canonical one (SMILES enumeration: Bjerrum 2017; Arus-Pous et al. 2019), a regularizer
    augment_fraction: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", tuple(self.properties))
        _check(0.0 <= self.augment_fraction <= 1.0, "data.augment_fraction must be in [0, 1]")
        _check(0.0 <= self.valid_fraction < 1.0, "data.valid_fraction must be in [0, 1)")
        _check(self.max_tokens >= 0, "data.max_tokens must be >= 0")
        _check(self.workers >= 0, "data.workers must be >= 0")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the VAE (Gomez-Bombarelli et al. 2018, with GRU encoder and decoder)."""

    representation: str = "selfies"
    embedding_dim: int = 64
    encoder_hidden_dim: int = 256
    encoder_layers: int = 1
    latent_dim: int = 64
    decoder_hidden_dim: int = 512
    decoder_layers: int = 1
    property_hidden_dim: int = 128
    property_layers: int = 2
    dropout: float = 0.1
    max_length: int = 128  # hard bound on decoded tokens (set from the training data)
    conditions: tuple[str, ...] = ()  # conditional VAE: properties fed to encoder and decoder (Sohn et al. 2015)

    def __post_init__(self) -> None:
        from molvae.data.vocab import REPRESENTATIONS

        object.__setattr__(self, "conditions", tuple(self.conditions))
        _check(
            self.representation in REPRESENTATIONS, f"model.representation must be one of {', '.join(REPRESENTATIONS)}"
        )
        for name in (
            "embedding_dim",
            "encoder_hidden_dim",
            "encoder_layers",
            "latent_dim",
            "decoder_hidden_dim",
            "decoder_layers",
            "property_hidden_dim",
            "max_length",
        ):
            _check(getattr(self, name) >= 1, f"model.{name} must be >= 1")
        _check(self.property_layers >= 1, "model.property_layers must be >= 1")
        _check(0.0 <= self.dropout < 1.0, "model.dropout must be in [0, 1)")


@dataclass(frozen=True)
class TrainConfig:
    """Optimization, KL control and run settings."""

    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4  # cosine decay floor
    warmup_steps: int = 0  # linear learning-rate warm-up from 0 (steadies Adam when warm-starting a model)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    beta: float = 0.05  # final KL weight
    kl_schedule: str = "monotonic"
    kl_warmup_epochs: float = 2.0  # monotonic: epochs to ramp 0 -> beta
    kl_cycles: int = 4  # cyclical: number of ramps over the run (Fu et al. 2019)
    free_bits: float = 0.05  # nats per latent dimension below which KL is not penalized
    property_weight: float = 1.0
    recon_eval_size: int = 1000  # validation molecules decoded greedily per epoch
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast where supported (CPU with bf16, CUDA), else fp32
    num_threads: int = 0  # 0: torch default
    ema_decay: float = 0.0  # > 0: validate and save best.pt with an exponential moving average of the weights

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "train.epochs must be >= 1")
        _check(self.batch_size >= 1, "train.batch_size must be >= 1")
        _check(self.learning_rate > 0, "train.learning_rate must be > 0")
        _check(
            0 <= self.min_learning_rate <= self.learning_rate, "train.min_learning_rate must be in [0, learning_rate]"
        )
        _check(self.warmup_steps >= 0, "train.warmup_steps must be >= 0")
        _check(self.beta >= 0, "train.beta must be >= 0")
        _check(self.kl_schedule in KL_SCHEDULES, f"train.kl_schedule must be one of {', '.join(KL_SCHEDULES)}")
        _check(self.kl_warmup_epochs >= 0, "train.kl_warmup_epochs must be >= 0")
        _check(self.kl_cycles >= 1, "train.kl_cycles must be >= 1")
        _check(self.free_bits >= 0, "train.free_bits must be >= 0")
        _check(self.property_weight >= 0, "train.property_weight must be >= 0")
        _check(0 <= self.ema_decay < 1, "train.ema_decay must be in [0, 1) (0: no weight averaging)")
        _check(self.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}")
        _check(
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
            "train.device must be auto, cpu, cuda or cuda:N",
        )


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        unknown = set(raw) - set(_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}; known: {', '.join(_SECTIONS)}")
        return cls(**{name: section_from_dict(klass, raw.get(name, {}), name) for name, klass in _SECTIONS.items()})

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    def override(self, section: str, **values: Any) -> RunConfig:
        """Return a copy with the given non-None fields of one section replaced."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        current = getattr(self, section)
        return dataclasses.replace(
            self, **{section: section_from_dict(type(current), {**dataclasses.asdict(current), **values}, section)}
        )

    def to_toml(self) -> str:
        return dict_to_toml(self.to_dict())


def section_from_dict(klass: type, values: dict[str, Any], section: str) -> Any:
    """Build one config dataclass, refusing unknown keys with a message that lists the known ones."""
    if not isinstance(values, dict):
        raise ConfigError(f"config section [{section}] must be a table")
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(
            f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}"
        )
    try:
        return klass(**values)
    except TypeError as exc:
        raise ConfigError(f"bad value in [{section}]: {exc}") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dict_to_toml(data: dict[str, dict[str, Any]]) -> str:
    """Write a two-level dict as TOML tables; ``None`` values are left out (TOML has no null)."""
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None)
        lines.append("")
    return "\n".join(lines)

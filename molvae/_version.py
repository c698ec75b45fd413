"""The package version: one place, read by molvae/__init__.py, the checkpoints and pyproject.toml."""

__version__ = "0.9.2"

"""What the tutorials share (not a tutorial itself): the example molecules shipped in ``data/``, the
folder a tutorial writes its files to, and its size settings, all three overridable from the
environment so that CI runs the tutorials small and away from the repository."""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "moses_sample.csv"  # 2,000 MOSES training molecules


def output_dir() -> Path:
    """``$TUTORIAL_OUT`` (default: ``tutorial_output``, ignored by git), created if missing."""
    out = Path(os.environ.get("TUTORIAL_OUT", "tutorial_output"))
    out.mkdir(exist_ok=True)
    return out


def setting(name: str, default: int) -> int:
    """``$TUTORIAL_<NAME>`` (e.g. ``TUTORIAL_ROWS``), else ``default``."""
    return int(os.environ.get(f"TUTORIAL_{name}", default))

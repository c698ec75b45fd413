"""Molecules drawn as molecules: grids of RDKit structure drawings with legends, as PNG or SVG.

A SMILES that RDKit cannot read is an empty cell marked "no valid structure", never an error.

Example:
    >>> molecule_grid(["CCO", "c1ccccc1", "not a smiles"], ["ethanol", "benzene", "bad"], "grid.png")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import io as _io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from molvae import chem
from molvae.errors import InputError
from molvae.utils import atomic_path

logger = logging.getLogger(__name__)

GRID_FORMATS = (".png", ".svg")


def check_image_path(path: str | Path, formats: Sequence[str]) -> str:
    """The lower-case suffix of an image path; InputError unless it is one of ``formats``."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        raise InputError(f"unsupported image format {suffix or '(none)'} for {path}; use one of {', '.join(formats)}")
    return suffix


def molecule_grid(
    smiles: Sequence[str | None],
    legends: Sequence[str] | None,
    path: str | Path,
    mols_per_row: int = 5,
    size: int = 250,
) -> Path:
    """Draw molecules in a grid of ``size`` x ``size`` pixel cells, ``mols_per_row`` per row.

    ``legends`` (one per molecule, may hold a newline) are written under each structure. A SMILES
    that RDKit cannot parse (or None) is drawn as an empty cell with its legend and "no valid
    structure", never an error. PNG or SVG by the suffix of ``path``.

    Example:
        >>> molecule_grid(["CCO", None], ["ethanol", "failed decode"], "grid.svg")   # doctest: +SKIP
    """
    fmt = check_image_path(path, GRID_FORMATS)
    data = grid_image(smiles, legends, fmt, mols_per_row, size)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    logger.debug("drew %d molecules to %s", len(list(smiles)), path)
    return path


def grid_image(
    smiles: Sequence[str | None],
    legends: Sequence[str] | None,
    fmt: str = ".svg",
    mols_per_row: int = 5,
    size: int = 250,
) -> bytes:
    """The bytes of :func:`molecule_grid`'s picture (``fmt`` ".png" or ".svg"), without a file."""
    smiles = list(smiles)
    legends = [str(x) for x in legends] if legends is not None else [""] * len(smiles)
    if len(legends) != len(smiles):
        raise InputError(f"{len(smiles)} molecules but {len(legends)} legends")
    if mols_per_row < 1 or size < 50:
        raise InputError("mols_per_row must be >= 1 and size >= 50 pixels")
    n_cols = max(1, min(mols_per_row, len(smiles)))
    n_rows = max(1, -(-len(smiles) // n_cols))
    font_size = max(10, size // 16)
    lines = max([legend.count("\n") + 1 for legend in legends if legend] or [0])
    legend_height = int(lines * font_size * 1.3 + (font_size // 2 if lines else 0))
    mol_height = size - legend_height
    if mol_height < size // 2:
        raise InputError(f"legends of {lines} lines do not fit cells of {size} pixels; use a larger size")
    cells = [_draw_molecule(s, size, mol_height, fmt) for s in smiles]
    layout = _Layout(n_cols, n_rows, size, mol_height, font_size)
    return _compose_svg(cells, legends, layout) if fmt == ".svg" else _compose_png(cells, legends, layout)


class MoleculeGrid:
    """Molecules drawn as a grid that Jupyter shows (``_repr_svg_``/``_repr_html_``) and that can be
    saved (:meth:`save`); made by :func:`molvae.show`."""

    def __init__(
        self, smiles: Sequence[str | None], legends: Sequence[str] | None = None, mols_per_row: int = 5, size: int = 220
    ) -> None:
        self.smiles, self.mols_per_row, self.size = list(smiles), mols_per_row, size
        self.legends = list(legends) if legends is not None else [""] * len(self.smiles)

    def _repr_svg_(self) -> str:
        return grid_image(self.smiles, self.legends, ".svg", self.mols_per_row, self.size).decode()

    def _repr_html_(self) -> str:
        return self._repr_svg_()

    def __repr__(self) -> str:
        return f"MoleculeGrid({len(self.smiles)} molecules)"

    def save(self, path: str | Path) -> Path:
        """Write the grid as PNG or SVG by the suffix of ``path``."""
        return molecule_grid(self.smiles, self.legends, path, self.mols_per_row, self.size)


@dataclass(frozen=True)
class _Layout:
    n_cols: int
    n_rows: int
    size: int  # cell width and height
    mol_height: int  # the structure's part of a cell; the legend goes below it
    font_size: int

    def origin(self, i: int) -> tuple[int, int]:
        return (i % self.n_cols) * self.size, (i // self.n_cols) * self.size

    def legend_y(self, k: int) -> float:
        """Baseline-centre of legend line ``k`` of a cell, relative to the cell."""
        return self.mol_height + self.font_size * (0.75 + 1.3 * k)


def _draw_molecule(smiles: str | None, width: int, height: int, fmt: str) -> bytes | str | None:
    """One structure drawn by RDKit (PNG bytes or SVG text), or None for an invalid molecule."""
    mol = chem.mol_from_smiles(smiles) if isinstance(smiles, str) else None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    from rdkit.Chem.Draw import rdMolDraw2D

    try:
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height) if fmt == ".svg" else rdMolDraw2D.MolDraw2DCairo(width, height)
        opts = drawer.drawOptions()
        opts.fixedBondLength = width / 8  # small molecules stay small; large ones are scaled down to fit
        opts.padding = 0.08
        with chem.quiet_rdkit():
            drawer.DrawMolecule(mol)
        drawer.FinishDrawing()
        return drawer.GetDrawingText()
    except Exception as exc:  # a molecule RDKit parses but cannot lay out: an empty cell
        logger.debug("cannot draw %s: %s", smiles, exc)
        return None


def _compose_png(cells: list[bytes | str | None], legends: list[str], layout: _Layout) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    size = layout.size
    canvas = Image.new("RGB", (layout.n_cols * size, layout.n_rows * size), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=layout.font_size)
    for i, (cell, legend) in enumerate(zip(cells, legends)):
        x, y = layout.origin(i)
        if cell is not None:
            canvas.paste(Image.open(_io.BytesIO(cell)).convert("RGB"), (x, y))  # type: ignore[arg-type]
        else:
            draw.rectangle((x + 8, y + 8, x + size - 8, y + layout.mol_height - 4), outline="#cccccc")
            draw.text(
                (x + size / 2, y + layout.mol_height / 2), "no valid structure", fill="#999999", font=font, anchor="mm"
            )
        for k, line in enumerate(legend.split("\n") if legend else []):
            draw.text((x + size / 2, y + layout.legend_y(k)), line, fill="black", font=font, anchor="mm")
    buf = _io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _compose_svg(cells: list[bytes | str | None], legends: list[str], layout: _Layout) -> bytes:
    size = layout.size
    width, height = layout.n_cols * size, layout.n_rows * size
    parts = [
        f"<?xml version='1.0' encoding='utf-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' version='1.1' "
        f"width='{width}px' height='{height}px' viewBox='0 0 {width} {height}'>\n"
        f"<rect width='{width}' height='{height}' fill='#FFFFFF'/>\n"
    ]
    text = (
        f"text-anchor='middle' dominant-baseline='central' font-family='DejaVu Sans, Helvetica, Arial, sans-serif' "
        f"font-size='{layout.font_size}'"
    )
    for i, (cell, legend) in enumerate(zip(cells, legends)):
        x, y = layout.origin(i)
        if cell is not None:
            svg = cell if isinstance(cell, str) else cell.decode()
            body = svg[svg.index("<svg") :]  # drop the XML declaration; a nested <svg> is placed by x and y
            parts.append(body.replace("<svg", f"<svg x='{x}' y='{y}'", 1) + "\n")
        else:
            parts.append(
                f"<rect x='{x + 8}' y='{y + 8}' width='{size - 16}' height='{layout.mol_height - 12}' "
                f"fill='none' stroke='#cccccc'/>\n<text x='{x + size / 2}' y='{y + layout.mol_height / 2}' "
                f"{text} fill='#999999'>no valid structure</text>\n"
            )
        for k, line in enumerate(legend.split("\n") if legend else []):
            parts.append(
                f"<text x='{x + size / 2}' y='{y + layout.legend_y(k):.1f}' {text} fill='#000000'>"
                f"{html.escape(line)}</text>\n"
            )
    parts.append("</svg>\n")
    return "".join(parts).encode()

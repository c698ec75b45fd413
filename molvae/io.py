"""Readers and writers for molecule tables.

Inputs: CSV/TSV (a SMILES column chosen by name), ``.smi`` (SMILES, optional name), SDF and Parquet,
each optionally gzipped. SMILES are read as strings: "nan", "NA", "None" and "" stay strings and are
rejected later with a reason, never dropped. Outputs pick their format by suffix and are written
atomically.

Example:
    >>> table = read_molecules("data/moses_sample.csv")      # doctest: +SKIP
    >>> table.smiles[:2]                                    # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import chem
from molvae.errors import InputError
from molvae.utils import atomic_path

logger = logging.getLogger(__name__)

INPUT_FORMATS = (".csv", ".tsv", ".smi", ".sdf", ".parquet")
OUTPUT_FORMATS = (".csv", ".tsv", ".parquet", ".npy")
SMILES_COLUMN_GUESSES = ("smiles", "canonical_smiles", "smi", "mol_smiles")
ID_COLUMN_GUESSES = ("id", "name", "mol_id", "molecule_id", "compound_id", "zinc_id", "chembl_id")


@dataclass
class MoleculeTable:
    """A table read from a file: the raw SMILES strings, the frame (all columns, as strings) and
    the names of its SMILES and id columns."""

    frame: pd.DataFrame
    smiles_column: str
    id_column: str | None

    @property
    def smiles(self) -> list[str]:
        return self.frame[self.smiles_column].tolist()

    @property
    def ids(self) -> list[str] | None:
        return None if self.id_column is None else self.frame[self.id_column].tolist()

    def __len__(self) -> int:
        return len(self.frame)

    def property_column(self, name: str) -> str | None:
        """The file column holding property ``name`` (exact, case-insensitive, or an alias such as
        SAS for sa), or None when it is a registry property to compute with RDKit; InputError if neither."""
        columns = [str(c) for c in self.frame.columns]
        if name in columns:
            return name
        lower = {c.lower(): c for c in columns}
        if name.lower() in lower:
            return lower[name.lower()]
        spec = chem.property_spec(name)  # raises InputError listing the known names
        aliases = [a for a, target in chem.PROPERTY_ALIASES.items() if target == spec.name]
        return next((lower[a] for a in [spec.name, *aliases] if a in lower), None)

    def numeric_column(self, name: str) -> np.ndarray:
        """A column as floats; blanks and non-numbers become NaN (missing labels)."""
        return pd.to_numeric(self.frame[name], errors="coerce").to_numpy(dtype=np.float64)


def file_format(path: str | Path) -> str:
    """The format suffix of a path, ignoring a trailing ``.gz``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _read_smi(path: Path) -> pd.DataFrame:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        return _smi_frame(f, first=True)


def _smi_frame(lines: Iterable[str], first: bool) -> pd.DataFrame:
    """``.smi`` lines (SMILES, then an optional name) -> a frame; a header line is skipped only
    at the start of the file (``first``)."""
    smiles, names = [], []
    for lineno, line in enumerate(lines):
        line = line.rstrip("\r\n")
        parts = line.strip().split(None, 1)
        if first and lineno == 0 and parts and parts[0].lower() in SMILES_COLUMN_GUESSES:
            continue  # a header line
        smiles.append(parts[0] if parts else "")
        names.append(parts[1].strip() if len(parts) > 1 else "")
    frame = pd.DataFrame({"smiles": pd.Series(smiles, dtype=object)})
    frame["name"] = pd.Series(names, dtype=object)
    return frame


def csv_read_options(fmt: str) -> dict:
    """How every CSV/TSV is read (the one source of these options): every cell a string, exactly as
    written ("NA" and blank cells stay text, never NaN), blank lines kept so row numbers match the
    file, undecodable bytes replaced rather than fatal. ``fmt`` is ".csv" or ".tsv"."""
    return {
        "sep": "\t" if fmt == ".tsv" else ",",
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "skip_blank_lines": False,
        "encoding_errors": "replace",
    }


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame read from a typed format (Parquet) as strings like a CSV's: missing cells become ""."""
    return frame.astype(object).where(frame.notna(), "").astype(str)


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a whole table with every column as strings (no NA conversion)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a directory, not a file: {path}")
    fmt = file_format(path)
    try:
        if fmt in (".csv", ".tsv"):
            return pd.read_csv(path, **csv_read_options(fmt))
        if fmt == ".smi":
            return _read_smi(path)
        if fmt == ".parquet":
            return as_strings(pd.read_parquet(path))
        if fmt == ".sdf":
            return _sdf_frame(list(chem.iter_sdf(path)))
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise no_molecules(path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    raise InputError(
        f"unsupported input format {fmt or '(none)'} for {path}; use one of {', '.join(INPUT_FORMATS)} (optionally .gz)"
    )


def _guess(columns: list[str], guesses: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for g in guesses:
        if g in lower:
            return lower[g]
    return None


def read_molecules(path: str | Path, smiles_column: str | None = None, id_column: str | None = None) -> MoleculeTable:
    """Read a molecule file; the SMILES column is detected when not given (a column named like
    "smiles", or the only column), and errors list the available columns. A file without a single
    row (empty, or a header alone) is an InputError (:func:`no_molecules`)."""
    frame = read_frame(path)
    if frame.empty:
        raise no_molecules(path, [str(c) for c in frame.columns])
    return _as_table(frame, path, smiles_column, id_column)


def no_molecules(path: str | Path, columns: list[str] | None = None) -> InputError:
    """The one error for a molecule file without a single row, whichever verb reads it: an empty
    file, or a header (``columns``) and nothing below it."""
    fmt = file_format(path)
    if columns and fmt in (".csv", ".tsv"):
        detail = f"it has a header ({', '.join(columns)}) but no rows"
    elif fmt == ".parquet":
        detail = "it has no rows"
    elif fmt == ".smi":
        detail = "it has no SMILES lines"
    elif fmt == ".sdf":
        detail = "it has no records"
    else:
        detail = "the file is empty"
    return InputError(f"no molecules in {path}: {detail}")


def _as_table(frame: pd.DataFrame, path: str | Path, smiles_column: str | None, id_column: str | None) -> MoleculeTable:
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    smiles_column, id_column = resolve_columns(columns, path, smiles_column, id_column)
    frame[smiles_column] = frame[smiles_column].astype(object).fillna("").astype(str)
    return MoleculeTable(frame.reset_index(drop=True), smiles_column, id_column)


def resolve_columns(
    columns: list[str], path: str | Path, smiles_column: str | None, id_column: str | None
) -> tuple[str, str | None]:
    """The SMILES and id columns: given ones checked, missing ones guessed (errors list the columns)."""
    if smiles_column is None:
        smiles_column = _guess(columns, SMILES_COLUMN_GUESSES) or (columns[0] if len(columns) == 1 else None)
        if smiles_column is None:
            raise InputError(f"no SMILES column found in {path}; pass --smiles-column, one of: {', '.join(columns)}")
    elif smiles_column not in columns:
        raise InputError(f"column {smiles_column!r} not in {path}; available columns: {', '.join(columns)}")
    if id_column is None:
        id_column = _guess([c for c in columns if c != smiles_column], ID_COLUMN_GUESSES)
    elif id_column not in columns:
        raise InputError(f"id column {id_column!r} not in {path}; available columns: {', '.join(columns)}")
    return smiles_column, id_column


def iter_molecule_chunks(
    path: str | Path, smiles_column: str | None = None, id_column: str | None = None, chunk_size: int = 10_000
) -> Iterator[MoleculeTable]:
    """Read a molecule file in tables of at most ``chunk_size`` rows, in file order, without ever
    holding the whole file: CSV/TSV and ``.smi`` (gzip too) by pandas/line chunks, Parquet by row
    batches, SDF record by record. Columns are detected on the first chunk as in :func:`read_molecules`;
    every chunk of a file has the same columns. The first chunk is read at the call, so a missing
    file, an unknown format, a missing column and a file without a single row (:func:`no_molecules`)
    are errors there, before any output is made."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a directory, not a file: {path}")
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, got {chunk_size}")
    fmt = file_format(path)
    if fmt not in INPUT_FORMATS:
        read_frame(path)  # raises the unsupported-format error
    tables = _tables(path, _frame_chunks(path, fmt, chunk_size), smiles_column, id_column)
    first = next(tables, None)
    if first is None or len(first) == 0:
        raise no_molecules(path, [] if first is None else [str(c) for c in first.frame.columns])
    return itertools.chain([first], tables)


def _tables(
    path: Path, frames: Iterator[pd.DataFrame], smiles_column: str | None, id_column: str | None
) -> Iterator[MoleculeTable]:
    try:
        for frame in frames:
            table = _as_table(frame, path, smiles_column, id_column)
            smiles_column, id_column = table.smiles_column, table.id_column  # fixed after the first chunk
            yield table
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def _frame_chunks(path: Path, fmt: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    if fmt in (".csv", ".tsv"):
        try:
            reader = pd.read_csv(path, chunksize=chunk_size, **csv_read_options(fmt))
        except pd.errors.EmptyDataError:
            return
        with reader:
            yield from reader
    elif fmt == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield as_strings(batch.to_pandas())
    elif fmt == ".smi":
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for number, lines in enumerate(_batched(f, chunk_size)):
                yield _smi_frame(lines, first=number == 0)
    else:  # .sdf
        for records in _batched(chem.iter_sdf(path), chunk_size):
            yield _sdf_frame(records)


def _sdf_frame(records: list[dict[str, str]]) -> pd.DataFrame:
    """SDF records (:func:`molvae.chem.iter_sdf`, the one SDF reader) as a frame of strings."""
    return pd.DataFrame(records, dtype=object).fillna("")


def _batched(items: Iterable, n: int) -> Iterator[list]:
    it = iter(items)
    while batch := list(itertools.islice(it, n)):
        yield batch


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV, TSV or Parquet by suffix (``.gz`` allowed for CSV/TSV), atomically."""
    path = Path(path)
    fmt = file_format(path)
    compression = "gzip" if path.suffix.lower() == ".gz" else None
    with atomic_path(path) as tmp:
        if fmt == ".csv":
            frame.to_csv(tmp, index=False, compression=compression)
        elif fmt == ".tsv":
            frame.to_csv(tmp, index=False, sep="\t", compression=compression)
        elif fmt == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            raise InputError(
                f"unsupported output format {fmt or '(none)'} for {path}; "
                f"use one of {', '.join(f for f in OUTPUT_FORMATS if f != '.npy')}"
            )
    return path


def write_array(array: np.ndarray, path: str | Path) -> Path:
    """Write a numeric array to ``.npy`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
    return Path(path)


def read_latents(path: str | Path) -> np.ndarray:
    """Latent points from ``.npy`` (``n x d``) or a table with columns ``z0..z{d-1}``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"latent file not found: {path}")
    if file_format(path) == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"cannot read {path}: {exc}") from None
        if arr.ndim == 1:
            arr = arr[None, :]
        return arr.astype(np.float32)
    frame = read_frame(path)
    zcols = [c for c in frame.columns if str(c).startswith("z") and str(c)[1:].isdigit()]
    if not zcols:
        raise InputError(f"no latent columns z0, z1, ... in {path}; columns: {', '.join(map(str, frame.columns))}")
    zcols.sort(key=lambda c: int(str(c)[1:]))
    return frame[zcols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32)

"""Streaming encode of compound libraries in bounded memory.

The input is read in chunks (:func:`molvae.io.iter_molecule_chunks`); worker processes canonicalize
with RDKit, tokenize and index each chunk while the main process runs the encoder on the chunk
before it; every chunk is appended to the output as soon as it is encoded. At most
``workers + 2`` chunks are in memory at once, whatever the size of the input. Every input row
appears in the output, in input order, with its 0-based ``row``, its id, ``valid`` and a
``reason`` where it could not be encoded.

Example:
    >>> summary = encode_file(model, "library.csv.gz", "library.parquet")   # doctest: +SKIP
    >>> summary.n_rows, summary.n_valid                                      # doctest: +SKIP
    (100000, 99996)
"""

from __future__ import annotations

import collections
import gzip
import logging
import multiprocessing as mp
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from molvae.data import _prepare_serial, resolve_workers
from molvae.errors import InputError
from molvae.io import MoleculeTable, file_format, iter_molecule_chunks, rejects_path
from molvae.model import MolVAE
from molvae.utils import atomic_path

logger = logging.getLogger(__name__)

TABLE_FORMATS = (".csv", ".tsv", ".parquet")
_LATENT_COLUMN = re.compile(r"(z|logvar)\d+")


@dataclass
class StreamConfig:
    """How to stream: ``chunk_size`` rows per chunk; ``workers`` processes for RDKit/SELFIES
    (0: every core; 1 prepares in the main process); ``threads`` torch threads for the encoder
    (0: every core; when the encoder is the slower half, as on CPUs, it then uses the cores the workers
    leave idle); ``precision`` fp32, bf16 or auto (bf16 where supported: on this project's 2-core
    machine 1.2x faster end to end, latents within 0.6% of their norm, same reconstruction rate)."""

    chunk_size: int = 10_000
    batch_size: int = 256
    workers: int = 0
    threads: int = 0
    precision: str = "auto"
    logvar: bool = False
    keep_largest_fragment: bool = False


@dataclass
class StreamSummary:
    """What an encode did: rows in, rows encoded, rejection reasons by kind, wall time."""

    output: str
    n_rows: int = 0
    n_valid: int = 0
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.n_rows / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class PreparedChunk:
    """A chunk after RDKit and tokenization: per row canonical SMILES and reason; for valid rows
    (``valid_index``) the padded index matrix and lengths."""

    canonical: list[str | None]
    reasons: list[str | None]
    valid_index: np.ndarray
    tokens: np.ndarray
    lengths: np.ndarray


def prepare_chunk(smiles: list[str], model_spec: tuple) -> PreparedChunk:
    """Worker job: canonicalize, tokenize and index one chunk (no model weights needed)."""
    representation, vocab, max_tokens, keep_largest_fragment = model_spec
    prep = _prepare_serial(smiles, representation, vocab, max_tokens, keep_largest_fragment)
    valid_index = np.array([i for i, t in enumerate(prep.tokens) if t is not None], dtype=np.int64)
    tokens, lengths = vocab.index_array([prep.tokens[i] for i in valid_index])
    return PreparedChunk(prep.canonical, prep.reasons, valid_index, tokens, lengths)


def _model_spec(model: MolVAE, keep_largest_fragment: bool) -> tuple:
    return (model.representation, model.vocab, model.config.max_length - 2, keep_largest_fragment)


def encode_chunk(model: MolVAE, table: MoleculeTable, prepared: PreparedChunk, first_row: int,
                 config: StreamConfig) -> pd.DataFrame:
    """The output rows of one chunk: row, id, input_smiles, smiles, valid, reason, z*, [logvar*], pred_*."""
    n, d = len(table), model.latent_dim
    idx = prepared.valid_index
    labels = model.condition_properties([prepared.canonical[i] for i in idx])
    m, lv, props = model.encode_indices(prepared.tokens, prepared.lengths, labels, config.batch_size,
                                        config.precision)
    columns: dict[str, object] = {"row": np.arange(first_row, first_row + n, dtype=np.int64)}
    if table.id_column:
        columns[table.id_column] = table.ids
    columns["input_smiles"] = table.smiles
    columns["smiles"] = prepared.canonical
    columns["valid"] = np.array([r is None for r in prepared.reasons], dtype=bool)
    columns["reason"] = prepared.reasons
    blocks = [("z", m, np.float32)] + ([("logvar", lv, np.float32)] if config.logvar else [])
    for prefix, values, dtype in blocks:
        full = np.full((n, d), np.nan, dtype=dtype)
        full[idx] = values
        columns.update({f"{prefix}{j}": full[:, j] for j in range(d)})
    full = np.full((n, len(model.property_names)), np.nan, dtype=np.float64)
    full[idx] = props
    columns.update({f"pred_{name}": full[:, j] for j, name in enumerate(model.property_names)})
    return pd.DataFrame(columns)


class ChunkWriter:
    """Appends chunks to a ``.parquet`` (one row group per chunk), ``.csv``/``.tsv`` (``.gz`` too) or
    ``.npy`` (latent means; invalid rows are NaN and also go to ``OUT.rejects.csv``). The file appears
    under its name only when :meth:`close` succeeds (atomic rename), never half-written."""

    def __init__(self, path: str | Path, latent_dim: int) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        if self.format not in (*TABLE_FORMATS, ".npy"):
            raise InputError(f"unsupported output format for {self.path}; use one of .csv, .tsv, .parquet, .npy")
        self.latent_dim = latent_dim
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._writer = None
        self._handle = None
        self._rows = 0
        self._rejects: ChunkWriter | None = None
        if self.format == ".npy":
            self._handle = open(self._tmp, "wb")
        elif self.format in (".csv", ".tsv"):
            self._handle = gzip.open(self._tmp, "wt") if self.path.suffix.lower() == ".gz" else open(self._tmp, "w")

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                self._schema = _arrow_schema(frame)
                self._writer = pq.ParquetWriter(self._tmp, self._schema)
            self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False))
        elif self.format == ".npy":
            z = frame[[f"z{j}" for j in range(self.latent_dim)]].to_numpy(dtype=np.float32)
            self._handle.write(np.ascontiguousarray(z).tobytes())
            bad = frame.loc[~frame["valid"], [c for c in frame.columns if not c.startswith(("z", "logvar", "pred_"))]]
            if len(bad):
                if self._rejects is None:
                    self._rejects = ChunkWriter(rejects_path(str(self.path)), self.latent_dim)
                self._rejects.write(bad)
        else:
            frame.to_csv(self._handle, index=False, header=self._rows == 0, sep="\t" if self.format == ".tsv" else ",",
                         lineterminator="\n")
        self._rows += len(frame)

    def close(self) -> None:
        """Finish the file and move it into place (an empty input still gives a valid empty file)."""
        try:
            if self.format == ".parquet":
                if self._writer is None:
                    pd.DataFrame({"row": pd.Series(dtype="int64")}).to_parquet(self._tmp, index=False)
                else:
                    self._writer.close()
            elif self.format == ".npy":
                self._handle.close()
                raw = self._tmp.with_name(self._tmp.name + ".raw")
                os.replace(self._tmp, raw)
                try:
                    _raw_to_npy(raw, self._tmp, self._rows, self.latent_dim)
                finally:
                    raw.unlink(missing_ok=True)
            else:
                self._handle.close()
            if self._rejects is not None:
                self._rejects.close()
        except BaseException:
            self.abort()
            raise
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the partial file (the tempfile is removed; nothing appears under the output name)."""
        for closable in (self._writer, self._handle):
            try:
                if closable is not None:
                    closable.close()
            except Exception:  # noqa: BLE001 - cleaning up after another error
                pass
        if self._rejects is not None:
            self._rejects.abort()
        try:
            self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)
        except RuntimeError:
            pass


def _arrow_schema(frame: pd.DataFrame):
    import pyarrow as pa

    fields = []
    for name in frame.columns:
        if name == "row":
            kind = pa.int64()
        elif name == "valid":
            kind = pa.bool_()
        elif _LATENT_COLUMN.fullmatch(name):
            kind = pa.float32()
        elif name.startswith("pred_"):
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _raw_to_npy(raw: Path, out: Path, rows: int, dim: int) -> None:
    with open(out, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                 "fortran_order": False, "shape": (rows, dim)})
        with open(raw, "rb") as src:
            while block := src.read(1 << 24):
                f.write(block)


def _prepared_chunks(model: MolVAE, chunks: Iterable[MoleculeTable], config: StreamConfig
                     ) -> Iterator[tuple[MoleculeTable, PreparedChunk]]:
    """Chunks with their preparation, in input order; with workers, up to ``workers + 1`` chunks are
    prepared ahead while the caller encodes."""
    spec = _model_spec(model, config.keep_largest_fragment)
    workers = resolve_workers(config.workers)
    if workers <= 1:
        for table in chunks:
            yield table, prepare_chunk(table.smiles, spec)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    pending: collections.deque[tuple[MoleculeTable, Future]] = collections.deque()
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        try:
            for table in chunks:
                pending.append((table, pool.submit(prepare_chunk, table.smiles, spec)))
                if len(pending) > workers:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def encode_file(model: MolVAE, input_path: str | Path, output: str | Path, config: StreamConfig | None = None,
                smiles_column: str | None = None, id_column: str | None = None,
                progress: bool = False) -> StreamSummary:
    """Encode every row of ``input_path`` into ``output`` chunk by chunk (see the module doc)."""
    config = config or StreamConfig()
    workers = resolve_workers(config.workers)
    threads = config.threads or resolve_workers(0)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    summary = StreamSummary(str(output))
    writer = ChunkWriter(output, model.latent_dim)
    t0 = time.perf_counter()
    bar = tqdm(desc="encoding", unit="mol", disable=not progress, file=sys.stderr, smoothing=0.1)
    try:
        chunks = iter_molecule_chunks(input_path, smiles_column, id_column, config.chunk_size)
        for table, prepared in _prepared_chunks(model, chunks, config):
            frame = encode_chunk(model, table, prepared, summary.n_rows, config)
            writer.write(frame)
            summary.n_rows += len(table)
            summary.n_valid += len(prepared.valid_index)
            summary.reasons.update(r.split(":")[0] for r in prepared.reasons if r)
            bar.update(len(table))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
        torch.set_num_threads(previous_threads)
    summary.seconds = time.perf_counter() - t0
    logger.debug("encoded %d of %d rows in %.1f s (%.0f rows/s; %d workers, %d encoder threads)",
                summary.n_valid, summary.n_rows, summary.seconds, summary.rate, workers, threads)
    return summary

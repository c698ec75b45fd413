"""Encoding on a Dask cluster (optional extra, ``pip install molvae[dask]``).

:func:`encode_dask` runs the same per-chunk work as :func:`molvae.library.stream.encode_file` as Dask tasks,
one per partition of a CSV/TSV/Parquet dataset, on a running scheduler or a
``distributed.LocalCluster``. The model checkpoint (plain tensors) is scattered to every worker once
and built once per worker process; each task writes one ``part.NNNNN.parquet`` of a partitioned
Parquet dataset, whose rows equal the single-process output. Only public APIs of
:mod:`molvae.library.stream` and :mod:`molvae.io` are used, so the two engines share one definition of the work.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from molvae.errors import InputError
from molvae.io import MoleculeTable, as_strings, csv_read_options, file_format, iter_molecule_chunks, resolve_columns
from molvae.library.output import arrow_schema
from molvae.library.stream import StreamConfig, StreamSummary, encode_chunk, model_spec, prepare_chunk
from molvae.models.vae import MolVAE
from molvae.utils import torch_threads

logger = logging.getLogger(__name__)

PART_PATTERN = "part.{:05d}.parquet"
_WORKER_MODEL: dict[str, MolVAE] = {}
_CHATTY_LOGGERS = ("distributed", "bokeh", "tornado")


@contextlib.contextmanager
def quiet_dask_loggers() -> Iterator[None]:
    """Dask's start-up chatter is not our users' business: its loggers at WARNING for the block (unless
    molvae logs at DEBUG), their previous levels restored afterwards."""
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    previous = {name: logging.getLogger(name).level for name in _CHATTY_LOGGERS}
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def _import_dask():
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:
        raise InputError(
            "--engine dask needs Dask: pip install 'molvae[dask]' (or pip install 'dask[dataframe,distributed]')"
        ) from None
    return dd, distributed


def _read_dataset(dd, path: str, chunk_size: int):
    """A Dask DataFrame of strings over a CSV/TSV (gzip: one partition per file) or Parquet dataset;
    ``path`` may be a file, a glob or a directory of Parquet files."""
    fmt = file_format(path) if not Path(path).is_dir() else ".parquet"
    if fmt == ".parquet":
        ddf = dd.read_parquet(path)
    elif fmt in (".csv", ".tsv"):
        gz = str(path).lower().endswith(".gz")
        blocksize = None if gz else _csv_blocksize(path, chunk_size)
        ddf = dd.read_csv(path, blocksize=blocksize, compression="gzip" if gz else None, **csv_read_options(fmt))
    else:
        raise InputError(f"--engine dask reads CSV/TSV or Parquet datasets, not {fmt or path}; use the local engine")
    return ddf


def _csv_blocksize(path: str, chunk_size: int) -> int:
    """Bytes per partition so that a partition holds about ``chunk_size`` rows (from the first 64 KB)."""
    matches = sorted(glob.glob(path))
    if not matches:
        raise InputError(f"no input files match {path}")
    first = matches[0]
    with open(first, "rb") as f:
        sample = f.read(1 << 16)
    per_line = max(1.0, len(sample) / max(1, sample.count(b"\n")))
    return max(1024, int(per_line * chunk_size))


def _worker_model(checkpoint: dict, key: str) -> MolVAE:
    """The model on this worker process, built from the broadcast checkpoint the first time only."""
    model = _WORKER_MODEL.get(key)
    if model is None:
        _WORKER_MODEL.clear()
        model = MolVAE.from_checkpoint(checkpoint, "broadcast model")
        model.eval()
        _WORKER_MODEL[key] = model
    return model


def _encode_partition(
    frame: pd.DataFrame,
    first_row: int,
    number: int,
    checkpoint: dict,
    key: str,
    smiles_column: str,
    id_column: str | None,
    config: StreamConfig,
    out_dir: str,
) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = _worker_model(checkpoint, key)
    table = MoleculeTable(as_strings(frame).reset_index(drop=True), smiles_column, id_column)
    with torch_threads(config.threads or 1):  # restored: a synchronous scheduler runs this in the caller
        prepared = prepare_chunk(table.smiles, model_spec(model, config.keep_largest_fragment))
        out = encode_chunk(model, table, prepared, first_row, config)
    pq.write_table(
        pa.Table.from_pandas(out, schema=arrow_schema(out), preserve_index=False),
        Path(out_dir) / PART_PATTERN.format(number),
    )
    return {
        "rows": len(table),
        "valid": len(prepared.valid_index),
        "reasons": Counter(r.split(":")[0] for r in prepared.reasons if r),
    }


def _check_output_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(not p.name.startswith("part.") for p in out.iterdir())):
        raise InputError(f"{out} exists and is not a molvae Parquet dataset; choose another output directory")


def encode_dask(
    model: MolVAE,
    input_path: str | Path,
    output_dir: str | Path,
    config: StreamConfig | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> StreamSummary:
    """Encode a dataset with Dask into a partitioned Parquet directory (see the module doc). Rows keep
    their global 0-based ``row`` (partition lengths are counted first), so the dataset read back in
    part order equals the single-process output."""
    dd, distributed = _import_dask()
    from tqdm.auto import tqdm

    config = config or StreamConfig()
    out = Path(output_dir)
    if file_format(out) in (".csv", ".tsv", ".npy"):
        raise InputError(f"--engine dask writes a partitioned Parquet dataset: give a directory, not {out}")
    _check_output_dir(out)
    input_path = str(input_path)
    if not any(c in input_path for c in "*?[") and not Path(input_path).exists():
        raise InputError(f"input file not found: {input_path}")
    if Path(input_path).is_file():  # one file: one without molecules is the readers' one error, as with local
        iter_molecule_chunks(input_path, smiles_column, id_column, chunk_size=1)
    ddf = _read_dataset(dd, input_path, config.chunk_size)
    smiles_column, id_column = resolve_columns([str(c) for c in ddf.columns], input_path, smiles_column, id_column)

    t0 = time.perf_counter()
    with quiet_dask_loggers():
        cluster = None
        if scheduler is None:
            from molvae.data.datasets import resolve_workers

            cluster = distributed.LocalCluster(
                n_workers=resolve_workers(config.workers), threads_per_worker=1, processes=True, dashboard_address=None
            )
        client = distributed.Client(scheduler or cluster)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            lengths = ddf.map_partitions(len).compute()
            offsets = [0]
            for n in lengths[:-1]:
                offsets.append(offsets[-1] + int(n))
            checkpoint = client.scatter(model.to_checkpoint(), broadcast=True)
            key = uuid.uuid4().hex
            parts = client.compute(ddf.to_delayed())
            jobs = [
                client.submit(
                    _encode_partition,
                    part,
                    offsets[i],
                    i,
                    checkpoint,
                    key,
                    smiles_column,
                    id_column,
                    config,
                    str(staging),
                    pure=False,
                )
                for i, part in enumerate(parts)
            ]
            summary = StreamSummary(str(out))
            bar = tqdm(total=sum(int(n) for n in lengths), desc="encoding (dask)", unit="mol", disable=not progress)
            for job in distributed.as_completed(jobs):
                result = job.result()
                summary.n_rows += result["rows"]
                summary.n_valid += result["valid"]
                summary.reasons.update(result["reasons"])
                bar.update(result["rows"])
            bar.close()
            if out.exists():
                shutil.rmtree(out)
            os.replace(staging, out)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
            client.close()
            if cluster is not None:
                cluster.close()
    summary.seconds = time.perf_counter() - t0
    logger.debug("dask: %d partitions, %d rows in %.1f s", len(lengths), summary.n_rows, summary.seconds)
    return summary

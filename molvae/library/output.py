"""The output side of a streaming encode: chunk writers (CSV/TSV/Parquet/npy, and the rejects
table), and the resumable progress of an encode kept in ``OUT.partial/`` with the identity of its
input, model and settings (see :mod:`molvae.library.stream`).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from molvae.errors import InputError
from molvae.io import file_format
from molvae.training.runs import partial_path, rejects_path
from molvae.utils import atomic_path

logger = logging.getLogger(__name__)

TABLE_FORMATS = (".csv", ".tsv", ".parquet")
_LATENT_COLUMN = re.compile(r"(z|logvar)\d+")
STATE_FORMAT = "molvae-encode-progress"
STATE_VERSION = 1
_STATE, _LOCK, _PART = "state.json", "lock", "part-{:06d}.parquet"


class ChunkWriter:
    """Appends chunks to a ``.parquet`` (one row group per chunk), ``.csv``/``.tsv`` (``.gz`` too) or
    ``.npy`` (latent means; invalid rows are NaN and also go to ``OUT.rejects.csv``). The file appears
    under its name only when :meth:`close` succeeds (atomic rename), never half-written."""

    def __init__(self, path: str | Path, latent_dim: int, tmp_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        check_output_format(self.path)
        self.latent_dim = latent_dim
        self._tmp_dir = tmp_dir
        self._atomic = atomic_path(self.path, tmp_dir)
        self._tmp = self._atomic.__enter__()
        self._writer = None
        self._handle = None
        self._raw = None
        self._rows = 0
        self._rejects: ChunkWriter | None = None
        if self.format == ".npy":
            self._handle = open(self._tmp, "wb")
        elif self.format in (".csv", ".tsv"):
            if self.path.suffix.lower() == ".gz":  # no time stamp or temporary name in the header: same bytes every run
                self._raw = open(self._tmp, "wb")
                self._handle = io.TextIOWrapper(
                    gzip.GzipFile(self.path.name, "wb", fileobj=self._raw, mtime=0), encoding="utf-8", newline=""
                )
            else:
                self._handle = open(self._tmp, "w", encoding="utf-8", newline="")

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                self._schema = arrow_schema(frame)
                self._writer = pq.ParquetWriter(self._tmp, self._schema)
            self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False))
        elif self.format == ".npy":
            z = frame[[f"z{j}" for j in range(self.latent_dim)]].to_numpy(dtype=np.float32)
            self._handle.write(np.ascontiguousarray(z).tobytes())
            bad = frame.loc[~frame["valid"], [c for c in frame.columns if not c.startswith(("z", "logvar", "pred_"))]]
            if len(bad):
                if self._rejects is None:
                    self._rejects = ChunkWriter(rejects_path(str(self.path)), self.latent_dim, self._tmp_dir)
                self._rejects.write(bad)
        else:
            frame.to_csv(
                self._handle,
                index=False,
                header=self._rows == 0,
                sep="\t" if self.format == ".tsv" else ",",
                lineterminator="\n",
            )
        self._rows += len(frame)

    def write_part(self, part: Path) -> None:
        """Append a Parquet part written by :class:`PartialEncode` (Parquet output copies its row group
        without a round trip through pandas)."""
        import pyarrow.parquet as pq

        table = pq.read_table(part)
        if self.format != ".parquet":
            self.write(table.to_pandas())
            return
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._writer.write_table(table)
        self._rows += table.num_rows

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
                if self._raw is not None:
                    self._raw.close()
            if self._rejects is not None:
                self._rejects.close()
        except BaseException:
            self.abort()
            raise
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the partial file (the tempfile is removed; nothing appears under the output name)."""
        for closable in (self._writer, self._handle, self._raw):
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


def check_output_format(path: str | Path) -> None:
    """InputError unless ``path`` ends in a suffix :class:`ChunkWriter` writes."""
    if file_format(path) not in (*TABLE_FORMATS, ".npy"):
        raise InputError(f"unsupported output format for {path}; use one of .csv, .tsv, .parquet, .npy")


def arrow_schema(frame: pd.DataFrame):
    """The Parquet schema of an encode output frame: one schema for every chunk, so the parts of one
    output (and of a Dask dataset) concatenate."""
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
        np.lib.format.write_array_header_1_0(
            f,
            {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (rows, dim)},
        )
        with open(raw, "rb") as src:
            while block := src.read(1 << 24):
                f.write(block)


class PartialEncode:
    """The resumable progress of one encode, kept in ``OUT.partial/`` (:func:`molvae.training.runs.partial_path`):
    ``state.json`` and one Parquet part per finished chunk (``part-000000.parquet``, ...).

    A part is written under a temporary name, synced and renamed, and only then counted in
    ``state.json``, which is itself replaced atomically: whenever the process dies, the state names
    only complete parts. A lock file keeps two encodes from writing the same output at once."""

    def __init__(self, directory: Path, identity: dict) -> None:
        self.directory = directory
        self.identity = identity
        self.chunks = 0
        self.rows = 0
        self.valid = 0
        self.reasons: Counter = Counter()
        self._lock: tuple[int, str] | None = None

    @classmethod
    def start(cls, output: Path, identity: dict, resume: bool) -> PartialEncode:
        """Open the progress of ``output``: continue it (``resume``) or begin a new one. InputError
        if a previous run left progress and ``resume`` is false, or if it cannot be continued."""
        state = cls(partial_path(output), identity)
        if state.directory.exists():
            state._acquire()
            saved = state._saved_counts()
            if saved == (0, 0) or (saved is None and {p.name for p in state.directory.iterdir()} == {_LOCK}):
                logger.debug("%s holds no finished chunk; starting afresh", state.directory)
                state._save()  # the previous run died before its first chunk: nothing to keep
                return state
            if not resume:
                state._release()
                done = f" ({saved[1]} rows in {saved[0]} chunks done)" if saved else ""
                raise InputError(
                    f"{state.directory} holds an interrupted encode of {output}{done}; rerun with "
                    "--resume to continue it, or delete that directory to start over"
                )
            try:
                state._load()
            except BaseException:
                state._release()
                raise
            logger.info("resuming %s after %d rows (%d chunks)", output, state.rows, state.chunks)
        else:
            if resume:
                logger.info("nothing to resume for %s (no %s); starting at the first row", output, state.directory)
            state.directory.mkdir(parents=True)
            state._acquire()
            state._save()
        return state

    def part(self, number: int) -> Path:
        return self.directory / _PART.format(number)

    def add(self, frame: pd.DataFrame, valid: int, reasons: Counter) -> None:
        """Keep one encoded chunk (the next part) and count it."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        part = self.part(self.chunks)
        tmp = part.with_name(part.name + ".tmp")
        pq.write_table(pa.Table.from_pandas(frame, schema=arrow_schema(frame), preserve_index=False), tmp)
        _fsync(tmp)
        os.replace(tmp, part)
        self.chunks += 1
        self.rows += len(frame)
        self.valid += valid
        self.reasons.update(reasons)
        self._save()

    def finish(self, output: Path, latent_dim: int) -> None:
        """Write ``output`` from the parts, in order (atomically), then remove the directory."""
        writer = ChunkWriter(output, latent_dim, tmp_dir=self.directory)
        try:
            for number in range(self.chunks):
                writer.write_part(self.part(number))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        self._release()
        shutil.rmtree(self.directory, ignore_errors=True)

    def stop(self) -> None:
        """After an error or a kill signal: keep finished chunks for --resume, or remove an empty start."""
        self._release()
        if self.chunks:
            logger.warning(
                "%d rows in %d finished chunks are kept in %s; rerun with --resume to continue",
                self.rows,
                self.chunks,
                self.directory,
            )
        else:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _saved_counts(self) -> tuple[int, int] | None:
        """(chunks, rows) done according to ``state.json``, or None when it is missing or unreadable."""
        try:
            state = json.loads((self.directory / _STATE).read_text())
            return int(state["chunks"]), int(state["rows"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _load(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.directory / _STATE
        try:
            state = json.loads(path.read_text())
            if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
                raise ValueError("format")
            chunks, rows, valid = int(state["chunks"]), int(state["rows"]), int(state["valid"])
            reasons, saved = Counter({str(k): int(v) for k, v in state["reasons"].items()}), dict(state["identity"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InputError(
                f"cannot resume: {path} is missing or unreadable; delete {self.directory} to start over"
            ) from None
        changed = _identity_changes(saved, self.identity)
        if changed:
            raise InputError(
                f"cannot resume: {'; '.join(changed)} since the interrupted encode; rerun with the "
                f"same input and settings, or delete {self.directory} to start over"
            )
        counted = 0
        for number in range(chunks):
            try:
                counted += pq.ParquetFile(self.part(number)).metadata.num_rows
            except (OSError, pa.ArrowException):
                raise InputError(
                    f"cannot resume: {self.part(number)} is missing or damaged; delete {self.directory} to start over"
                ) from None
        if counted != rows:
            raise InputError(
                f"cannot resume: the parts in {self.directory} hold {counted} rows, its state "
                f"says {rows}; delete that directory to start over"
            )
        keep = {_STATE, _LOCK, *(self.part(n).name for n in range(chunks))}
        for leftover in self.directory.iterdir():  # the killed run's unfinished part or output
            if leftover.name not in keep:
                logger.debug("removing %s, left by the interrupted run", leftover)
                leftover.unlink()
        self.chunks, self.rows, self.valid, self.reasons = chunks, rows, valid, reasons

    def _save(self) -> None:
        path = self.directory / _STATE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "format": STATE_FORMAT,
                    "version": STATE_VERSION,
                    "chunks": self.chunks,
                    "rows": self.rows,
                    "valid": self.valid,
                    "reasons": dict(self.reasons),
                    "identity": self.identity,
                },
                indent=1,
            )
        )
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(self.directory)

    def _acquire(self) -> None:
        """Lock ``OUT.partial/lock`` for this process alone, or InputError if another encode holds it.

        A POSIX record lock (``fcntl.lockf``): it belongs to the process that takes it, is not
        inherited by the worker processes it forks (as an ``flock`` on the same descriptor would be),
        and the kernel drops it the moment that process dies, ``kill -9`` included. Such locks do not
        exclude each other within one process, so this process's own locks are also kept in a set."""
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform
            return
        key = os.path.realpath(self.directory)
        busy = InputError(f"another molvae encode is writing {self.directory} now; wait for it or stop it")
        with _HELD_LOCK:
            if key in _HELD:
                raise busy
            fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise busy from None
            _HELD.add(key)
        self._lock = (fd, key)

    def _release(self) -> None:
        if self._lock is not None:
            fd, key = self._lock
            with _HELD_LOCK:
                os.close(fd)  # closing drops the lock
                _HELD.discard(key)
            self._lock = None


_HELD: set[str] = set()  # the OUT.partial/ directories this process holds the lock of
_HELD_LOCK = threading.Lock()


def _fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk, so a crash cannot leave a renamed but empty part."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _identity_changes(saved: dict, current: dict) -> list[str]:
    """Readable differences between two identities (the input's path alone may change: a moved file
    with the same size, time and content is the same input)."""
    changes = []
    if any(saved.get(k) != current.get(k) for k in ("input_size", "input_mtime_ns", "input_head_sha256")):
        changes.append(f"the input file changed ({saved.get('input')})")
    if saved.get("model_sha256") != current.get("model_sha256"):
        changes.append("the model changed")
    for key in sorted(set(saved) | set(current)):
        if key.startswith("input") or key == "model_sha256" or saved.get(key) == current.get(key):
            continue
        changes.append(f"{key} was {saved.get(key)!r} and is now {current.get(key)!r}")
    return changes

"""A single self-contained HTML report of a training run or of an optimization run.

The report embeds its images as base64 ``data:`` URIs and its styles inline: one file with no
external resource, to open offline, attach to an e-mail or archive next to the run.

Example:
    >>> build_report("runs/quickstart", "runs/quickstart/report.html")   # doctest: +SKIP
    >>> build_report("opt.csv", "opt.html")   # output of 'molvae optimize', with opt.trace.csv  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import chem
from molvae._version import __version__
from molvae.errors import InputError, MolvaeError
from molvae.io import file_format, read_frame
from molvae.training import runs
from molvae.utils import atomic_path
from molvae.viz import plots
from molvae.viz.drawing import molecule_grid

logger = logging.getLogger(__name__)

REPORT_FORMATS = (".html", ".htm")
TABLE_FORMATS = (".csv", ".tsv", ".parquet")
GRID_PROPERTIES = ("qed", "logp", "sa", "mw")
# Final-epoch metrics shown in the summary of a training report, in this order.
SUMMARY_METRICS = {
    "val_recon_acc": "validation exact reconstruction (greedy)",
    "val_token_acc": "validation token accuracy",
    "val_valid": "validation decodes that are valid",
    "val_recon": "validation reconstruction loss (nats / molecule)",
    "val_kl": "validation KL divergence (nats)",
    "val_prop": "validation property loss (standardized MSE)",
    "kl_weight": "final KL weight",
    "train_mol_per_s": "training speed (molecules / s)",
}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; margin-top: 1.6em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
td.smiles { text-align: left; font-family: monospace; word-break: break-all; max-width: 420px; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #777; font-style: italic; }
.scroll { max-height: 420px; overflow-y: auto; display: inline-block; }
"""


@dataclass
class _Page:
    """Sections of HTML collected in order."""

    title: str
    subtitle: str
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, css: str | None = None) -> None:
        cls = f' class="{css}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def image(self, data: bytes, alt: str, mime: str = "image/png") -> None:
        encoded = base64.b64encode(data).decode("ascii")
        self.parts.append(f'<p><img alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}"></p>')

    def pairs(self, rows: list[tuple[str, str]]) -> None:
        body = "".join(f'<tr><th class="text">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>' for k, v in rows)
        self.parts.append(f"<table>{body}</table>")

    def table(self, frame: pd.DataFrame, text_columns: tuple[str, ...] = (), scroll: bool = False) -> None:
        head = "".join(
            f'<th class="{"text" if c in text_columns else ""}">{html.escape(str(c))}</th>' for c in frame.columns
        )
        rows = []
        for _, r in frame.iterrows():
            cells = []
            for c in frame.columns:
                css = "smiles" if str(c).endswith("smiles") else "text" if c in text_columns else ""
                cells.append(f'<td class="{css}">{html.escape(_fmt(r[c]))}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        table = f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        self.parts.append(f'<div class="scroll">{table}</div>' if scroll else table)

    def pre(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def render(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f'<h1>{html.escape(self.title)}</h1>\n<p class="meta">{html.escape(self.subtitle)}</p>\n'
            + "\n".join(self.parts)
            + "\n</body>\n</html>\n"
        )


def _fmt(value: object) -> str:
    """Numbers to 4 significant digits, integers as integers, missing values as a dash."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "-"
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


# ----------------------------------------------------------------------------- detection


def detect_kind(path_in: str | Path) -> str:
    """What a path holds, from its manifest (:mod:`molvae.training.runs`) when it has one, else from its name and
    columns: ``"training"`` for a run directory, its ``metrics.csv`` or a checkpoint in it (or any table with
    ``epoch`` and ``train_recon`` columns), ``"optimization"`` for a table with ``call`` and ``score``
    columns; InputError otherwise."""
    path = Path(path_in)
    if not path.exists():
        raise InputError(f"not found: {path}")
    verb = (runs.read_manifest(path) or {}).get("verb")
    if verb in ("train", "optimize"):  # what made the file, recorded when it was written
        return "training" if verb == "train" else "optimization"
    if path.is_dir():
        if (path / runs.METRICS).exists():
            return "training"
        raise InputError(
            f"{path} is a directory without metrics.csv; pass a run directory written by "
            "'molvae train' or an output table of 'molvae optimize'"
        )
    if path.name == runs.METRICS or (path.suffix == ".pt" and (path.parent / runs.METRICS).exists()):
        return "training"
    if file_format(path) in TABLE_FORMATS:
        columns = set(read_frame(path).columns)
        if {"call", "score"} <= columns:
            return "optimization"
        if {"epoch", "train_recon"} <= columns:
            return "training"
        if {"calls", "best_score"} <= columns:
            raise InputError(
                f"{path} is an optimization trace; pass the output table of 'molvae optimize' "
                "(the file next to it without '.trace')"
            )
    raise InputError(
        f"cannot tell what {path} is: pass a run directory written by 'molvae train' or an "
        "output table of 'molvae optimize' (columns call, score, ...)"
    )


def build_report(
    path_in: str | Path, out_html: str | Path, num_samples: int = 100, top: int = 12, seed: int = 0, device: str = "cpu"
) -> Path:
    """Write a self-contained HTML report of a training run directory or an optimization output table.

    A training report has the training curves, the final metrics and the table of every epoch,
    ``num_samples`` prior samples from ``best.pt`` (validity, uniqueness, novelty and a grid of
    structures) and the resolved ``config.toml``. An optimization report has the trace plot, a
    summary and the ``top`` molecules with structures, scores and RDKit properties; the trace is
    read from ``NAME.trace.csv`` next to the table when it is there.

    Example:
        >>> build_report("runs/quickstart", "report.html")   # doctest: +SKIP
    """
    if Path(out_html).suffix.lower() not in REPORT_FORMATS:
        raise InputError(f"the report is HTML: give an output ending in {' or '.join(REPORT_FORMATS)}, not {out_html}")
    kind = detect_kind(path_in)
    path = Path(path_in)
    if kind == "training":
        if path.is_dir() or path.name == runs.METRICS or path.suffix == ".pt":
            run_dir = path if path.is_dir() else path.parent
            page = _training_page(run_dir / runs.METRICS, run_dir, num_samples, seed, device)
        else:  # a metrics table on its own (e.g. kept with benchmark results): no checkpoint, no config
            page = _training_page(path, None, num_samples, seed, device)
    else:
        page = _optimization_page(Path(path_in), top)
    out = Path(out_html)
    with atomic_path(out) as tmp:
        tmp.write_text(page.render(), encoding="utf-8")
    logger.info("wrote %s report of %s to %s", kind, path_in, out)
    return out


def _subtitle(source: Path) -> str:
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"{source.resolve()} · molvae {__version__} · {now}"


# ----------------------------------------------------------------------------- training runs


def _training_page(metrics_path: Path, run_dir: Path | None, num_samples: int, seed: int, device: str) -> _Page:
    metrics = plots.read_training_metrics(metrics_path)
    name = run_dir.resolve().name if run_dir is not None else metrics_path.stem
    page = _Page(f"molvae training run: {name}", _subtitle(run_dir or metrics_path))
    last = metrics.iloc[-1]
    rows: list[tuple[str, str]] = [("epochs", _fmt(int(last["epoch"])))]
    folder = run_dir if run_dir is not None else metrics_path.parent
    best = folder / runs.BEST
    best_epoch = _checkpoint_epoch(best)
    if best_epoch is not None:
        rows.append(("best epoch (lowest validation loss, best.pt)", str(best_epoch)))
    if "train_seconds" in metrics.columns:
        rows.append(("training time", f"{metrics['train_seconds'].sum() / 60:.1f} min"))
    rows += [(label, _fmt(last[col])) for col, label in SUMMARY_METRICS.items() if col in metrics.columns]
    rows += [
        (f"validation MAE of {c[len('val_mae_') :]}", _fmt(last[c]))
        for c in metrics.columns
        if c.startswith("val_mae_")
    ]
    rejects = folder / runs.REJECTS
    if run_dir is not None and rejects.exists():
        rows.append(("rows rejected while preparing the data", str(len(pd.read_csv(rejects)))))
    page.heading("Final metrics (last epoch)")
    page.pairs(rows)

    page.heading("Training curves")
    page.image(plots.figure_bytes(plots.training_curves, metrics_path), "training curves")

    page.heading("Samples from the prior (best.pt)")
    if run_dir is not None and best.exists() and num_samples > 0:
        _samples_section(page, best, num_samples, seed, device)
    else:
        page.paragraph(
            "no best.pt in the run directory: no samples drawn"
            if run_dir is None or not best.exists()
            else "sampling skipped (0 samples requested)",
            "note",
        )

    page.heading(f"Every epoch ({metrics_path.name})")
    page.table(metrics, scroll=True)
    config = folder / runs.CONFIG
    page.heading("Configuration (config.toml)")
    if run_dir is not None and config.exists():
        page.pre(config.read_text(encoding="utf-8", errors="replace"))
    else:
        page.paragraph("no config.toml in the run directory", "note")
    return page


def _checkpoint_epoch(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        from molvae.models import checkpoint

        epoch = checkpoint.epoch(checkpoint.read(path))
        return int(epoch) if epoch is not None else None
    except (MolvaeError, ValueError, TypeError) as exc:
        logger.warning("cannot read the epoch of %s: %s", path, exc)
        return None


def _samples_section(page: _Page, checkpoint: Path, num_samples: int, seed: int, device: str) -> None:
    from molvae.evaluation.metrics import novel_fraction, uniqueness, validity
    from molvae.models.vae import MolVAE

    try:
        model = MolVAE.load(checkpoint, device=device)
    except MolvaeError as exc:
        page.paragraph(f"cannot load {checkpoint.name}: {exc}", "note")
        return
    samples = model.sample(num_samples, seed=seed)
    rows = [
        (f"prior samples (greedy decoding, seed {seed})", str(num_samples)),
        ("validity", _fmt(validity(samples))),
        ("uniqueness of the valid ones", _fmt(uniqueness(samples))),
    ]
    novel = model.novel(samples)
    if novel is not None and any(s is not None for s in samples):
        rows.append(("novelty (vs the model's training set)", _fmt(novel_fraction(samples, novel))))
    page.pairs(rows)
    shown = list(dict.fromkeys(s for s in samples if s is not None))[:20]
    if not shown:
        page.paragraph("no valid samples to draw", "note")
        return
    props = chem.compute_properties(shown, ["qed", "logp"])
    flags = dict(zip(samples, novel)) if novel is not None else {}
    legends = [f"QED {q:.2f}  logP {lp:.2f}" + ("\nnovel" if flags.get(s) else "") for s, (q, lp) in zip(shown, props)]
    page.image(plots.figure_bytes(molecule_grid, shown, legends), f"{len(shown)} sampled molecules")


# ----------------------------------------------------------------------------- optimization runs


def trace_path(output: str | Path) -> Path:
    """Where 'molvae optimize' writes the trace of ``output``: ``out.csv`` -> ``out.trace.csv``."""
    return runs.sibling_path(output, runs.TRACE_TABLE)


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = frame.copy()
    for c in columns:
        if c in frame.columns:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame


def _optimization_page(path: Path, top: int) -> _Page:
    evaluated = _numeric(read_frame(path), ("call", "step", "score"))
    tpath = trace_path(path)
    trace = _numeric(read_frame(tpath), ("step", "calls", "best_score")) if tpath.exists() else None
    objective = path.name.split(".")[0]  # the tables do not name the objective, unless a column does
    for frame in (trace, evaluated):
        if frame is not None and "objective" in frame.columns and len(frame):
            objective = str(frame["objective"].iloc[0])
            break
    page = _Page(f"molvae optimization: {objective}", _subtitle(path))
    scores = evaluated["score"].to_numpy(dtype=np.float64)
    ok = np.isfinite(scores)
    rows = [
        ("objective", objective),
        ("oracle calls", str(len(evaluated))),
        ("failed calls (no score)", str(int((~ok).sum()))),
    ]
    if "step" in evaluated.columns and evaluated["step"].notna().any():
        rows.append(("steps", _fmt(int(evaluated["step"].max()))))
    if "source" in evaluated.columns:
        rows += [(f"calls from {k}", str(v)) for k, v in evaluated["source"].value_counts(sort=False).items()]
    if ok.any():
        rows.append(("best score", _fmt(float(scores[ok].max()))))
        if "smiles" in evaluated.columns:
            rows.append(("best molecule", str(evaluated["smiles"].iloc[int(np.argmax(np.where(ok, scores, -np.inf)))])))
    if trace is None:
        rows.append(("trace", f"{tpath.name} not found; best-so-far computed from the table"))
    page.heading("Summary")
    page.pairs(rows)

    page.heading("Trace")
    page.image(
        plots.figure_bytes(plots.optimization_trace, evaluated, trace, objective_name=objective), "optimization trace"
    )

    page.heading(f"Top {top} molecules")
    best = evaluated[ok].sort_values("score", ascending=False, kind="stable")
    if "smiles" in best.columns:
        best = best.drop_duplicates("smiles")
    best = best.head(top)
    if best.empty or "smiles" not in best.columns:
        page.paragraph("no scored molecules", "note")
        return page
    smiles = best["smiles"].astype(str).tolist()
    steps = best["step"].to_numpy(dtype=np.float64) if "step" in best.columns else np.full(len(best), np.nan)
    legends = [
        f"#{i + 1}  score {score:.3f}" + (f"\nstep {int(step)}" if np.isfinite(step) else "")
        for i, (score, step) in enumerate(zip(best["score"], steps))
    ]
    page.image(plots.figure_bytes(molecule_grid, smiles, legends, mols_per_row=4), "top molecules")
    table = pd.DataFrame({"rank": np.arange(1, len(best) + 1), "score": best["score"].to_numpy()})
    for col in ("step", "call", "source"):
        if col in best.columns:
            table[col] = best[col].to_numpy()
    props = chem.compute_properties(smiles, GRID_PROPERTIES)
    for j, name in enumerate(GRID_PROPERTIES):
        table[name] = props[:, j]
    table["smiles"] = smiles
    page.table(table, text_columns=("source",))
    if trace is not None:
        page.heading(f"Best after each step ({tpath.name})")
        page.table(trace, scroll=True)
    return page

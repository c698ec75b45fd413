"""Figures (matplotlib): latent-space maps, training curves, optimization traces and property
distributions. Molecule grids are :mod:`molvae.viz.drawing`'s.

Every function writes one image file, PNG, SVG or PDF by the suffix of ``path``, atomically, and
returns the path. Figures are built on matplotlib's object API with the Agg
canvas, never through ``pyplot``: no display is needed, no backend is selected and no global state
changes, and matplotlib is imported only when a picture is drawn (so ``import molvae.viz.plots`` is cheap).

Example:
    >>> latent_map(z, qed, "map.png", "qed")                                                          # doctest: +SKIP
    >>> training_curves("runs/quickstart", "curves.png")                                             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from molvae import chem
from molvae.errors import InputError
from molvae.training import runs
from molvae.utils import atomic_path
from molvae.viz.drawing import check_image_path

if TYPE_CHECKING:  # imported lazily at draw time
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

FIGURE_FORMATS = (".png", ".svg", ".pdf")
PROJECTIONS = ("pca", "tsne")
DEFAULT_PROPERTIES = ("logp", "qed", "sa", "mw")
DPI = 110

# Axis labels with units for the properties plotted most often; others use the registry description.
PROPERTY_LABELS = {
    "logp": "logP (Crippen)",
    "qed": "QED (0-1, drug-likeness)",
    "sa": "SA score (1 easy - 10 hard)",
    "mw": "molecular weight (Da)",
    "tpsa": "TPSA (Å²)",
}

_REFERENCE_COLOR = "#7f7f7f"
_GENERATED_COLOR = "#1f77b4"


def property_label(name: str) -> str:
    """A human-readable axis label (with units) for a property or column name."""
    key = chem.PROPERTY_ALIASES.get(name.lower(), name.lower())
    if key in PROPERTY_LABELS:
        return PROPERTY_LABELS[key]
    if key in chem.PROPERTIES:
        return chem.PROPERTIES[key].description
    if key.startswith("pred_"):
        return f"predicted {property_label(key[5:])}"
    return name


# ----------------------------------------------------------------------------- matplotlib helpers


def _figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, made without pyplot (no display, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    fmt = check_image_path(path, FIGURE_FORMATS)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt[1:], dpi=DPI, facecolor="white")
    logger.debug("wrote %s", path)
    return path


def _note(ax: Axes, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------- latent maps


def project(
    z: np.ndarray, method: str = "pca", seed: int = 0, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """2-D projection of latent points ``z`` (``n x d``) with scikit-learn PCA or t-SNE.

    Returns ``n x 2`` coordinates, the coordinates of ``extra`` points (``m x d``, or None) on the
    same map, and the two axis labels (PCA labels carry the explained variance). PCA is fitted on
    ``z`` alone; t-SNE, which has no out-of-sample transform, embeds ``z`` and ``extra`` together.
    """
    z = np.asarray(z, dtype=np.float64)
    has_extra = extra is not None and len(extra) > 0
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(z)
        labels = [f"PC{i + 1} ({100 * r:.1f}% of latent variance)" for i, r in enumerate(pca.explained_variance_ratio_)]
        return pca.transform(z), (pca.transform(extra) if has_extra else None), labels
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        stacked = np.vstack([z, extra]) if has_extra else z
        perplexity = float(min(30.0, max(2.0, (len(stacked) - 1) / 3)))
        # One OpenMP thread: on the 2-core machine with another process busy, scikit-learn's Barnes-Hut
        # t-SNE took 43 s for 64 points with 2 threads and 0.15 s with one (2,000 points: 11 s).
        with threadpool_limits(limits=1, user_api="openmp"):
            coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(stacked)
        return coords[: len(z)], (coords[len(z) :] if has_extra else None), ["t-SNE 1", "t-SNE 2"]
    raise InputError(f"unknown projection {method!r}; choose from {', '.join(PROJECTIONS)}")


def latent_map(
    z: np.ndarray,
    values: np.ndarray,
    path: str | Path,
    color_by: str,
    method: str = "pca",
    trajectory: np.ndarray | None = None,
    seed: int = 0,
) -> Path:
    """Scatter plot of latent points ``z`` (``n x d``) projected to 2-D, coloured by ``values`` (``n``),
    as in Figure 3 of Gómez-Bombarelli et al. (2018).

    Rows of ``z`` with a NaN (molecules that could not be encoded) are left out; points whose value
    is NaN are drawn in grey. ``trajectory`` (``m x d``, e.g. the incumbents of an optimization run,
    in order) is projected with the same map and drawn as a numbered line over the points.

    Example:
        >>> enc = model.encode(smiles)                                               # doctest: +SKIP
        >>> latent_map(enc.mu, chem.compute_properties(enc.smiles, ["qed"])[:, 0], "map.png", "qed")  # doctest: +SKIP
    """
    check_image_path(path, FIGURE_FORMATS)
    if method not in PROJECTIONS:
        raise InputError(f"unknown projection {method!r}; choose from {', '.join(PROJECTIONS)}")
    z = np.asarray(z, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if z.ndim != 2 or len(z) != len(values):
        raise InputError(f"latent points ({z.shape}) and values ({values.shape}) do not match")
    keep = np.isfinite(z).all(axis=1)
    z, values = z[keep], values[keep]
    traj = None
    if trajectory is not None and len(trajectory):
        traj = np.asarray(trajectory, dtype=np.float64)
        if traj.ndim != 2 or traj.shape[1] != z.shape[1]:
            raise InputError(f"trajectory points have {traj.shape[-1]} dimensions, the map {z.shape[1]}")
        traj = traj[np.isfinite(traj).all(axis=1)]
    if len(z) < 3:
        raise InputError(f"a latent map needs at least 3 encodable molecules, got {len(z)}")
    xy, txy, axis_labels = project(z, method, seed, extra=traj)

    fig = _figure(7.0, 5.6)
    ax = fig.add_subplot()
    label = property_label(color_by)
    known = np.isfinite(values)
    point = float(np.clip(20000 / max(1, len(z)), 6, 40))
    if (~known).any():
        ax.scatter(xy[~known, 0], xy[~known, 1], s=point, c="#d0d0d0", linewidths=0, label="no value", rasterized=True)
    order = np.argsort(values[known])  # high values on top
    sc = ax.scatter(
        xy[known][order, 0],
        xy[known][order, 1],
        c=values[known][order],
        s=point,
        cmap="viridis",
        alpha=0.8,
        linewidths=0,
        rasterized=True,
    )
    if known.any():
        fig.colorbar(sc, ax=ax, label=label)
    if txy is not None and len(txy):
        from matplotlib.patheffects import withStroke

        ax.plot(
            txy[:, 0],
            txy[:, 1],
            "-",
            color="#d62728",
            linewidth=1.5,
            alpha=0.9,
            zorder=3,
            label="trajectory (numbered in order)",
        )
        ax.scatter(txy[:, 0], txy[:, 1], s=28, color="white", edgecolors="#d62728", linewidths=1.2, zorder=4)
        ax.scatter(
            txy[-1:, 0],
            txy[-1:, 1],
            s=160,
            marker="*",
            color="#d62728",
            edgecolors="black",
            linewidths=0.6,
            zorder=5,
            label="final incumbent",
        )
        every = max(1, len(txy) // 15)
        for i in range(len(txy)):
            if i % every == 0 or i == len(txy) - 1:
                ax.annotate(
                    str(i + 1),
                    txy[i],
                    xytext=(4, 4),
                    textcoords="offset points",
                    fontsize=8,
                    color="#8b0000",
                    zorder=6,
                    path_effects=[withStroke(linewidth=2.5, foreground="white")],
                )
    if (~known).any() or (txy is not None and len(txy)):
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    projection = "PCA" if method == "pca" else "t-SNE"
    ax.set_title(f"Latent space ({projection}) of {len(z)} molecules, coloured by {color_by}")
    return _save(fig, path)


# ----------------------------------------------------------------------------- training curves


def read_training_metrics(run_dir_or_metrics_csv: str | Path) -> pd.DataFrame:
    """``metrics.csv`` of a run directory (or the file itself) as numbers, one row per epoch."""
    path = Path(run_dir_or_metrics_csv)
    if path.is_dir():
        path = path / runs.METRICS
    if not path.exists():
        raise InputError(f"no training metrics found: {path} does not exist")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if "epoch" not in frame.columns or frame.empty:
        raise InputError(f"{path} is not a molvae metrics.csv (no 'epoch' column or no rows)")
    return frame.apply(pd.to_numeric, errors="coerce")


def training_curves(run_dir_or_metrics_csv: str | Path, path: str | Path, title: str | None = None) -> Path:
    """Six panels per epoch from a run's ``metrics.csv``: reconstruction loss, KL divergence,
    property loss (train and validation), KL weight, validation accuracies (greedy reconstruction,
    teacher-forced tokens, decoded validity) and property MAE in original units. ``title`` defaults
    to the run's name and number of epochs.

    Example:
        >>> training_curves("runs/quickstart", "runs/quickstart/training_curves.png")   # doctest: +SKIP
    """
    check_image_path(path, FIGURE_FORMATS)
    m = read_training_metrics(run_dir_or_metrics_csv)
    epochs = m["epoch"].to_numpy()
    marker = "o" if len(m) <= 30 else None
    fig = _figure(13.0, 7.2)
    axes = fig.subplots(2, 3)

    def lines(ax: Axes, columns: list[tuple[str, str]], ylabel: str, title: str, empty: str) -> None:
        drawn = False
        for col, name in columns:
            if col in m.columns and m[col].notna().any():
                ax.plot(epochs, m[col], marker=marker, markersize=4, label=name)
                drawn = True
        if not drawn:
            _note(ax, empty)
        else:
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if len(ax.get_lines()) > 1:
                ax.legend(fontsize=8)
        ax.set_title(title)

    lines(
        axes[0, 0],
        [("train_recon", "train"), ("val_recon", "validation")],
        "cross-entropy (nats / molecule)",
        "Reconstruction loss",
        "no reconstruction loss recorded",
    )
    lines(
        axes[0, 1],
        [("train_kl", "train"), ("val_kl", "validation")],
        "KL divergence (nats)",
        "KL divergence",
        "no KL recorded",
    )
    lines(
        axes[0, 2],
        [("train_prop", "train"), ("val_prop", "validation")],
        "MSE (standardized units)",
        "Property loss",
        "no property head trained",
    )
    lines(axes[1, 0], [("kl_weight", "KL weight (beta)")], "beta at end of epoch", "KL weight", "no KL weight recorded")
    lines(
        axes[1, 1],
        [
            ("val_recon_acc", "exact reconstruction (greedy)"),
            ("val_token_acc", "token accuracy"),
            ("val_valid", "valid decodes"),
        ],
        "fraction of validation set",
        "Validation accuracy",
        "no validation set",
    )
    mae = [(c, property_label(c[len("val_mae_") :])) for c in m.columns if c.startswith("val_mae_")]
    lines(
        axes[1, 2], mae, "mean absolute error (property units)", "Property MAE (validation)", "no property predictions"
    )
    if any(c in m.columns and m[c].notna().any() for c in ("val_recon_acc", "val_token_acc", "val_valid")):
        axes[1, 1].set_ylim(-0.02, 1.02)
    if "kl_weight" in m.columns and m["kl_weight"].notna().any():
        axes[1, 0].set_ylim(bottom=0)
    if len(mae) > 1:
        from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

        axes[1, 2].set_yscale("log")  # properties live on different scales (QED 0-1, MW hundreds)
        axes[1, 2].yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes[1, 2].yaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes[1, 2].yaxis.set_minor_formatter(NullFormatter())
    source = Path(run_dir_or_metrics_csv)
    name = source.name if source.is_dir() else source.parent.name if source.name == runs.METRICS else source.stem
    fig.suptitle(title or f"Training run {name}: {len(m)} epochs")
    return _save(fig, path)


# ----------------------------------------------------------------------------- optimization traces


def optimization_trace(
    evaluated: pd.DataFrame, trace: pd.DataFrame | None, path: str | Path, objective_name: str = "objective"
) -> Path:
    """Every evaluated score as a dot against its oracle call, and the best score so far as a step line.

    ``evaluated`` needs columns ``call`` and ``score`` (``source``, when present, colours the dots:
    initial samples vs. proposals). The best-so-far line is the running maximum of the scores (higher
    is better); ``trace`` (columns ``calls`` and ``best_score``, one row per step, optional) marks the
    best after each step. Failed calls (NaN score) are counted in the legend.

    Example:
        >>> optimization_trace(result.evaluated, result.trace, "trace.png", result.objective)   # doctest: +SKIP
    """
    check_image_path(path, FIGURE_FORMATS)
    if not {"call", "score"} <= set(evaluated.columns):
        raise InputError("an optimization table needs the columns 'call' and 'score'")
    calls = pd.to_numeric(evaluated["call"], errors="coerce").to_numpy(dtype=np.float64)
    scores = pd.to_numeric(evaluated["score"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(scores) & np.isfinite(calls)
    fig = _figure(8.0, 4.8)
    ax = fig.add_subplot()
    if "source" in evaluated.columns:
        sources = evaluated["source"].astype(str).to_numpy()
        for k, source in enumerate(dict.fromkeys(sources[ok])):
            sel = ok & (sources == source)
            ax.scatter(
                calls[sel],
                scores[sel],
                s=14,
                alpha=0.6,
                linewidths=0,
                color=f"C{k}",
                label=f"evaluated: {source} ({sel.sum()})",
            )
    else:
        ax.scatter(calls[ok], scores[ok], s=14, alpha=0.6, linewidths=0, label=f"evaluated ({ok.sum()})")
    order = np.argsort(calls[ok], kind="stable")
    tx, ty = calls[ok][order], np.maximum.accumulate(scores[ok][order])
    steps = None
    if trace is not None and {"calls", "best_score"} <= set(trace.columns) and len(trace):
        sx = pd.to_numeric(trace["calls"], errors="coerce").to_numpy(dtype=np.float64)
        sy = pd.to_numeric(trace["best_score"], errors="coerce").to_numpy(dtype=np.float64)
        good = np.isfinite(sx) & np.isfinite(sy)
        steps = sx[good], sy[good]
        if not len(tx):  # only the trace has scores
            tx, ty = steps
    if len(tx):
        ax.step(tx, ty, where="post", color="black", linewidth=1.8, label=f"best so far ({ty[-1]:.3f})")
    if steps is not None and len(steps[0]):
        ax.plot(steps[0], steps[1], "o", color="black", markersize=3.5, label="best after each step")
    failed = int((~np.isfinite(scores)).sum())
    if failed:
        ax.plot([], [], " ", label=f"failed calls: {failed}")
    if not ok.any() and not len(tx):
        _note(ax, "no successful oracle calls")
    ax.set_xlabel("oracle calls")
    ax.set_ylabel(f"score ({objective_name})")
    ax.set_title(f"Optimization of {objective_name}: {len(evaluated)} oracle calls")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


# ----------------------------------------------------------------------------- property distributions


def property_distributions(
    generated_smiles: Sequence[str | None],
    reference_smiles: Sequence[str | None],
    path: str | Path,
    properties: Sequence[str] = DEFAULT_PROPERTIES,
    labels: tuple[str, str] = ("generated", "reference"),
) -> Path:
    """Overlaid histograms (densities on shared bins) of RDKit properties of generated vs. reference
    molecules, one panel per property, with counts and means in the legends. Invalid SMILES are
    skipped; the bins span the 0.5-99.5 percentiles of both sets and values beyond them are counted
    in the edge bins.

    Example:
        >>> property_distributions(model.sample(1000), train_smiles, "props.png")   # doctest: +SKIP
    """
    check_image_path(path, FIGURE_FORMATS)
    names = [chem.property_spec(p).name for p in properties]
    if not names:
        raise InputError("no properties to plot")
    gen = chem.compute_properties(list(generated_smiles), names)
    ref = chem.compute_properties(list(reference_smiles), names)
    n_cols = min(len(names), 2 if len(names) == 4 else 3)
    n_rows = -(-len(names) // n_cols)
    fig = _figure(5.2 * n_cols, 3.6 * n_rows)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols)).reshape(-1)
    for j, name in enumerate(names):
        ax = axes[j]
        g, r = gen[:, j][np.isfinite(gen[:, j])], ref[:, j][np.isfinite(ref[:, j])]
        both = np.concatenate([g, r])
        if not len(both):
            _note(ax, f"no valid molecules for {name}")
            continue
        lo, hi = np.percentile(both, [0.5, 99.5]) if len(both) > 20 else (both.min(), both.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 40)
        if len(r):
            ax.hist(
                np.clip(r, lo, hi),
                bins=bins,
                density=True,
                alpha=0.45,
                color=_REFERENCE_COLOR,
                label=f"{labels[1]} (n={len(r)}, mean {r.mean():.2f})",
            )
        if len(g):
            ax.hist(
                np.clip(g, lo, hi),
                bins=bins,
                density=True,
                histtype="stepfilled",
                alpha=0.35,
                color=_GENERATED_COLOR,
                edgecolor=_GENERATED_COLOR,
                linewidth=1.5,
                label=f"{labels[0]} (n={len(g)}, mean {g.mean():.2f})",
            )
        ax.set_xlabel(property_label(name))
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"Property distributions: {labels[0]} vs. {labels[1]}")
    return _save(fig, path)


def figure_bytes(draw: Any, *args: Any, suffix: str = ".png", **kwargs: Any) -> bytes:
    """Run one of the drawing functions above into a temporary file and return the image bytes
    (for embedding, e.g. in the HTML report): ``figure_bytes(training_curves, run_dir)``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="molvae-plot-") as tmp:
        target = Path(tmp) / f"figure{suffix}"
        draw(*args, target, **kwargs)
        return target.read_bytes()

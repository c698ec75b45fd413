"""The public Python API: one function per CLI verb, each returning what the verb writes.

Every ``molvae VERB`` parses its flags and calls the function of the same name here, so a notebook
and a script see the same thing: each function returns a :class:`pandas.DataFrame` with the columns
of the verb's output file (``optimize`` returns an :class:`OptimizationRun` whose ``to_frame()`` is
that table; ``evaluate`` returns the metrics dict that ``molvae evaluate -o`` writes as JSON).

``molecules`` arguments take a list of SMILES, a :class:`molvae.io.MoleculeTable` or a path to a
molecule file (.csv/.tsv/.smi/.sdf/.parquet, optionally .gz).

Example:
    >>> import molvae
    >>> model = molvae.load("zinc250k_selfies")                   # doctest: +SKIP
    >>> samples = molvae.sample(model, 100, seed=0)               # doctest: +SKIP
    >>> samples.columns.tolist()[:4]                              # doctest: +SKIP
    ['smiles', 'valid', 'reason', 'repaired']
    >>> latents = molvae.encode(model, ["CCO", "c1ccccc1O"])      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molvae.chem import compute_properties
from molvae.errors import InputError
from molvae.evaluation.metrics import novel_fraction, uniqueness, validity
from molvae.io import MoleculeTable, read_molecules
from molvae.models import checkpoint
from molvae.models.ring_limit import DEFAULT_MAX_RING
from molvae.models.vae import RECONSTRUCT_BEAM, MolVAE
from molvae.pretrained import DESCRIPTIONS, bundled_models, default_model_path
from molvae.search.explore import DEFAULT_RADIUS

logger = logging.getLogger(__name__)

Molecules = Sequence[str] | MoleculeTable | str | Path


def load(name_or_path: str | Path | None = None, device: str = "cpu") -> MolVAE:
    """A model from a checkpoint path or a bundled model's name (``None``: the default bundled model,
    ``zinc250k_selfies``); ``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

    Example:
        >>> model = molvae.load("zinc250k_selfies")        # doctest: +SKIP
        >>> model = molvae.load("runs/demo/best.pt")       # doctest: +SKIP
    """
    return MolVAE.load(name_or_path, device=device)  # resolves bundled names; one error if none is installed


def list_models() -> pd.DataFrame:
    """The models bundled with this installation (``molvae models``), one row each: ``name`` (what
    ``--model`` and :func:`load` take), ``default_for`` (the verbs that use it without ``--model``),
    ``size_mb``, ``parameters`` and ``description``.

    Example:
        >>> molvae.list_models()[["name", "size_mb"]]          # doctest: +SKIP
    """
    latent, sampler = default_model_path("latent"), default_model_path("sample")
    defaults = {latent: "encode, reconstruct, score, neighbors, optimize, explore, interpolate"}
    defaults[sampler] = "sample, evaluate" if sampler != latent else "every verb"
    rows = []
    for name, path in bundled_models().items():
        state = checkpoint.read(path)["model"]["state_dict"]
        rows.append(
            {
                "name": name,
                "default_for": defaults.get(path, ""),
                "size_mb": path.stat().st_size / 1e6,
                "parameters": int(sum(t.numel() for t in state.values())),
                "description": DESCRIPTIONS.get(name, ""),
            }
        )
    return pd.DataFrame(rows, columns=["name", "default_for", "size_mb", "parameters", "description"])


def as_table(molecules: Molecules) -> MoleculeTable:
    """A :class:`MoleculeTable` from SMILES, a table or a file path (columns detected)."""
    if isinstance(molecules, MoleculeTable):
        return molecules
    if isinstance(molecules, (str, Path)):
        return read_molecules(molecules)
    smiles = [str(s) if s is not None else "" for s in molecules]
    return MoleculeTable(pd.DataFrame({"smiles": pd.Series(smiles, dtype=object)}), "smiles", None)


def row_columns(table: MoleculeTable) -> dict[str, object]:
    """``row`` (0-based input row), the input's id column if any, and the input SMILES: the first
    columns of every per-molecule output."""
    columns: dict[str, object] = {"row": np.arange(len(table))}
    if table.id_column:
        columns[table.id_column] = table.ids
    columns["input_smiles"] = table.smiles
    return columns


def latent_frame(z: np.ndarray, prefix: str = "z") -> pd.DataFrame:
    """Latent vectors (``n x latent_dim``) as columns ``z0 .. z{d-1}``."""
    return pd.DataFrame(np.asarray(z), columns=[f"{prefix}{i}" for i in range(np.asarray(z).shape[1])])


# ----------------------------------------------------------------------------- generation


def sample(
    model: MolVAE,
    n: int = 1000,
    *,
    seed: int = 0,
    prior: str = "auto",
    temperature: float | None = None,
    condition: Mapping[str, float] | None = None,
    guidance: float = 1.0,
    repair: bool = True,
    reference: Molecules | None = None,
    latents: bool = False,
    max_ring: int | None = DEFAULT_MAX_RING,
    index_temperature: float | None = None,
    compare_average: bool = False,
) -> pd.DataFrame:
    """``n`` molecules decoded from prior draws: one row per draw (``smiles`` None where invalid) with
    ``valid``, ``reason``, ``repaired``; ``novel`` against ``reference`` molecules (default: the
    model's own training set, when it carries one); ``z0..`` with ``latents``. ``condition`` (a
    conditional model): target property values such as ``{"qed": 0.9}``; with ``compare_average``
    the column ``average_smiles`` holds each draw decoded at the training-average condition instead,
    the control that shows what the request changed (``molvae sample --condition`` writes it).
    ``temperature`` None uses the model's packaged default. ``max_ring``: ring closures that would make
    a ring of more atoms are masked while decoding (:mod:`molvae.models.ring_limit`; the ``ring_masked``
    column says which rows needed it); None or 0: no limit. ``index_temperature``: the temperature of
    ring and branch sizes (None: the model's packaged choice, else ``temperature``; see
    ``SequenceVAE.generate``). :func:`summarize_samples` gives the numbers ``molvae sample`` prints.

    Example:
        >>> frame = molvae.sample(model, 1000, seed=0)                     # doctest: +SKIP
        >>> frame.shape                                                    # doctest: +SKIP
        (1000, 5)
    """
    if n < 1:
        raise InputError(f"the number of samples (-n) must be at least 1, not {n}")
    if compare_average and not condition:
        raise InputError("compare_average compares a conditioned sample with the average condition: give a condition")
    z = model.sample_prior(n, seed=seed, prior=prior)
    standardized = model.standardize_condition(dict(condition)) if condition else None
    temperature = model.sampling_temperature if temperature is None else temperature
    index_temperature = _index_temperature(model, temperature, index_temperature)

    def decode_at(condition: np.ndarray | None, guidance: float):
        return model.decode_detailed(
            z,
            temperature=temperature,
            seed=seed,
            condition=condition,
            guidance=guidance,
            repair=repair,
            max_ring=max_ring,
            index_temperature=index_temperature,
        )

    res = decode_at(standardized, guidance)
    frame = pd.DataFrame(
        {
            "smiles": pd.Series(res.smiles, dtype=object),
            "valid": [s is not None for s in res.smiles],
            "reason": res.reasons,
            "repaired": res.repaired,
        }
    )
    if max_ring:
        frame["ring_masked"] = res.ring_masked
    if compare_average:  # the same draws, decoded at the training-average condition
        frame["average_smiles"] = pd.Series(decode_at(None, 1.0).smiles, dtype=object)
    novel = novelty_flags(model, res.smiles, reference)
    if novel is not None:
        frame["novel"] = novel
    if latents:
        frame = pd.concat([frame, latent_frame(z)], axis=1)
    return frame


def summarize_samples(frame: pd.DataFrame, condition: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The numbers ``molvae sample`` prints, from a :func:`sample` frame: ``n``, ``validity``,
    ``uniqueness``, ``repaired`` and ``ring_masked`` (fractions of rows, where the frame has those
    columns), ``novelty`` (of the distinct valid molecules, where it has ``novel``; None without a
    valid one) and, per property of ``condition``, ``conditions[name]``: ``requested``, the samples'
    ``mean``, ``std`` and mean absolute error ``mae``, and with ``average_smiles`` the ``average_mean``
    and ``average_std`` of the same draws at the training-average condition.

    Example:
        >>> molvae.summarize_samples(molvae.sample(model, 1000))["validity"]     # doctest: +SKIP
    """
    smiles = [
        s if ok and isinstance(s, str) and s else None for s, ok in zip(frame["smiles"], frame["valid"], strict=True)
    ]
    summary: dict[str, Any] = {"n": len(frame), "validity": validity(smiles), "uniqueness": uniqueness(smiles)}
    for column in ("repaired", "ring_masked"):
        if column in frame:
            summary[column] = float(frame[column].mean()) if len(frame) else 0.0
    if "novel" in frame:
        has_valid = any(s is not None for s in smiles)
        summary["novelty"] = novel_fraction(smiles, frame["novel"].to_numpy()) if has_valid else None
    if condition:
        names = list(condition)

        def values(molecules: Sequence[str | None]) -> np.ndarray:
            return compute_properties([m for m in molecules if isinstance(m, str) and m], names)

        sampled = values(smiles)
        average = values(frame["average_smiles"].tolist()) if "average_smiles" in frame else None
        summary["conditions"] = {}
        for j, name in enumerate(names):
            v = sampled[:, j][np.isfinite(sampled[:, j])]
            entry = {
                "requested": float(condition[name]),
                "mean": _mean(v),
                "std": _std(v),
                "mae": _mean(np.abs(v - condition[name])),
            }
            if average is not None:
                b = average[:, j][np.isfinite(average[:, j])]
                entry.update(average_mean=_mean(b), average_std=_std(b))
            summary["conditions"][name] = entry
    return summary


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _std(values: np.ndarray) -> float:
    return float(values.std()) if values.size else float("nan")


def novelty_flags(model: MolVAE, smiles: Sequence[str | None], reference: Molecules | None = None) -> np.ndarray | None:
    """Per row, True where a (canonical) molecule is not among ``reference`` (default: the model's
    training set); None when there is no reference at all."""
    if reference is None:
        return model.novel(smiles)
    known = set(model.prepare(as_table(reference).smiles).canonical) - {None}
    return np.array([s is not None and s not in known for s in smiles])


def _index_temperature(model: MolVAE, temperature: float, index_temperature: float | None) -> float | None:
    """The temperature of ring and branch sizes to decode with: the one asked for (checked), else the
    model's packaged choice when tokens are sampled (greedy decoding has none)."""
    if index_temperature is not None and (index_temperature < 0 or temperature <= 0):
        raise InputError(
            f"an index temperature ({index_temperature:g}) needs a temperature above 0 and must be "
            f">= 0 (temperature: {temperature:g})"
        )
    if index_temperature is None and temperature > 0:
        return model.sampling_index_temperature
    return index_temperature


def decode(
    model: MolVAE, z: np.ndarray, *, temperature: float = 0.0, seed: int = 0, index_temperature: float | None = None
) -> pd.DataFrame:
    """Molecules at latent points ``z`` (``n x latent_dim``): ``row``, ``smiles``, ``valid``, ``reason``
    and the raw ``decoded_string``. Greedy by default; ``temperature`` > 0 samples tokens, with ring and
    branch sizes at ``index_temperature`` (None: the model's packaged choice, as :func:`sample`).

    Example:
        >>> molvae.decode(model, np.zeros((2, model.latent_dim)))          # doctest: +SKIP
    """
    z = np.asarray(z, dtype=np.float32)  # its shape is checked where every decode goes: MolVAE.decode_detailed
    res = model.decode_detailed(
        z,
        temperature=temperature,
        seed=seed,
        index_temperature=_index_temperature(model, temperature, index_temperature),
    )
    return pd.DataFrame(
        {
            "row": np.arange(len(z)),
            "smiles": res.smiles,
            "valid": [s is not None for s in res.smiles],
            "reason": res.reasons,
            "decoded_string": res.raw,
        }
    )


# ----------------------------------------------------------------------------- molecules in


def encode(
    model: MolVAE,
    molecules: Molecules,
    *,
    logvar: bool = False,
    keep_largest_fragment: bool = False,
    batch_size: int = 512,
) -> pd.DataFrame:
    r"""Encode molecules in memory: the columns of ``molvae encode`` (``row``, id, ``input_smiles``,
    ``smiles``, ``valid``, ``reason``, ``pred_*``, ``z0..``, with ``logvar`` also ``logvar0..``); every
    input row appears, invalid ones with NaN latents and a reason. For files larger than memory,
    :func:`molvae.library.stream.encode_file` streams file to file.

    Example:
        >>> frame = molvae.encode(model, ["CCO", "c1ccccc1O"])             # doctest: +SKIP
        >>> frame.filter(regex=r"^z\d+$").to_numpy().shape                 # doctest: +SKIP
        (2, 64)
    """
    from molvae.library.stream import StreamConfig, encode_chunk, model_spec, prepare_chunk

    table = as_table(molecules)
    config = StreamConfig(batch_size=batch_size, logvar=logvar, keep_largest_fragment=keep_largest_fragment)
    prepared = prepare_chunk(table.smiles, model_spec(model, keep_largest_fragment))
    return encode_chunk(model, table, prepared, 0, config)


def encode_file(
    model: MolVAE,
    input_path: str | Path,
    output: str | Path,
    config: Any = None,
    *,
    smiles_column: str | None = None,
    id_column: str | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = False,
):
    """Encode a molecule file of any size to a file (``molvae encode``): streamed in chunks in bounded
    memory and resumable (``engine="local"``, :func:`molvae.library.stream.encode_file`), or as Dask tasks
    into a partitioned Parquet directory (``engine="dask"``). ``config``: a
    :class:`molvae.library.stream.StreamConfig`. Returns the :class:`molvae.library.stream.StreamSummary`; the output
    file holds the columns of :func:`encode`.

    Example:
        >>> summary = molvae.encode_file(model, "library.smi.gz", "library.parquet")   # doctest: +SKIP
        >>> summary.n_valid, summary.rate                                              # doctest: +SKIP
    """
    from molvae.library.stream import StreamConfig
    from molvae.library.stream import encode_file as stream_encode

    config = config or StreamConfig()
    if engine == "dask":
        from molvae.library.dask_engine import encode_dask

        if resume:
            raise InputError("resume works with the local engine, not with dask")
        return encode_dask(
            model, input_path, output, config, smiles_column, id_column, scheduler=scheduler, progress=progress
        )
    if engine != "local":
        raise InputError(f"engine must be local or dask, not {engine!r}")
    return stream_encode(model, input_path, output, config, smiles_column, id_column, progress=progress, resume=resume)


def reconstruct(
    model: MolVAE, molecules: Molecules, *, keep_largest_fragment: bool = False, beam_width: int = RECONSTRUCT_BEAM
) -> pd.DataFrame:
    """Encode to the latent mean and decode the most probable sequence a beam of ``beam_width`` finds
    (1: greedy): ``row``, id, ``input_smiles``, ``smiles`` (canonical input),
    ``reconstructed``, ``match``, ``valid``, ``reason``.

    Example:
        >>> molvae.reconstruct(model, "data/moses_sample.csv")["match"].mean()   # doctest: +SKIP
    """
    table = as_table(molecules)
    enc, decoded = model.reconstruct(table.smiles, keep_largest_fragment=keep_largest_fragment, beam_width=beam_width)
    columns = row_columns(table)
    columns.update(
        {
            "smiles": enc.smiles,
            "reconstructed": decoded,
            "match": [d is not None and d == s for d, s in zip(decoded, enc.smiles)],
            "valid": enc.valid,
            "reason": enc.reasons,
        }
    )
    return pd.DataFrame(columns)


def score(
    model: MolVAE,
    molecules: Molecules,
    *,
    n_samples: int = 1,
    seed: int = 0,
    calibrate: Molecules | None = None,
    quantile: float | None = None,
    keep_largest_fragment: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Outlier scores (the ELBO as a likelihood, and the latent Mahalanobis distance) per molecule:
    ``row``, id, ``input_smiles`` and the columns of :func:`molvae.evaluation.scoring.score_molecules`.
    ``calibrate``: training molecules to fit the outlier thresholds on (90% fit, 10% held out, at
    ``quantile``); it replaces the model's stored reference in memory.

    Example:
        >>> molvae.score(model, ["CCO", "c1ccccc1O"])[["neg_elbo", "outlier"]]   # doctest: +SKIP
    """
    from molvae.evaluation.scoring import fit_outlier_reference, score_molecules, store_reference

    if quantile is not None and calibrate is None:
        raise InputError(
            "a quantile sets the threshold fitted on calibration molecules; give both "
            "(a model's own threshold keeps the quantile it was calibrated at)"
        )
    table = as_table(molecules)
    if calibrate is not None:
        train = as_table(calibrate).smiles
        order = np.random.default_rng(seed).permutation(len(train))
        cut = max(1, int(0.9 * len(train)))
        options = {} if quantile is None else {"quantile": quantile}  # else the library's default
        store_reference(
            model,
            fit_outlier_reference(
                model, [train[i] for i in order[:cut]], [train[i] for i in order[cut:]], seed=seed, **options
            ),
        )
    frame = score_molecules(
        model,
        table.smiles,
        n_samples=n_samples,
        seed=seed,
        keep_largest_fragment=keep_largest_fragment,
        progress=progress,
    )
    return pd.concat([pd.DataFrame(row_columns(table)), frame], axis=1)


# ----------------------------------------------------------------------------- search


def interpolate(model: MolVAE, start: str, end: str, *, steps: int = 10, method: str = "linear") -> pd.DataFrame:
    """Molecules along the latent path between two molecules (see :func:`molvae.search.interpolate`).

    Example:
        >>> molvae.interpolate(model, "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", steps=8)   # doctest: +SKIP
    """
    from molvae.search.interpolate import interpolate as run

    return run(model, start, end, steps=steps, method=method)


def explore(model: MolVAE, smiles: str, *, n: int = 100, radius: float = DEFAULT_RADIUS, seed: int = 0) -> pd.DataFrame:
    """Distinct valid neighbours of a molecule in latent space, from ``n`` draws ``radius`` posterior
    standard deviations around its latent mean (see :func:`molvae.search.explore`).

    Example:
        >>> molvae.explore(model, "CC(=O)Nc1ccc(O)cc1", n=100).head()        # doctest: +SKIP
    """
    from molvae.search.explore import explore as run

    return run(model, smiles, n=n, radius=radius, seed=seed)


def neighbors(
    model: MolVAE, library: str | Path, queries: Molecules | str, *, k: int = 10, rerank: bool = False
) -> pd.DataFrame:
    """The ``k`` nearest compounds of an encoded library (a ``molvae encode`` output) to each query
    molecule: ``query``, ``rank``, ``distance``, (``similarity``,) and the library's columns.
    ``queries``: one SMILES, a list, a table or a molecule file.

    Example:
        >>> molvae.neighbors(model, "library.parquet", "CC(=O)Nc1ccc(O)cc1", k=5)   # doctest: +SKIP
    """
    from molvae.search.neighbors import LatentLibrary

    library_index = LatentLibrary.from_file(library)
    if isinstance(queries, str) and not Path(queries).is_file():
        queries = [queries]
    smiles = as_table(queries).smiles
    enc = model.encode(smiles)
    if not enc.valid.any():
        bad = [f"{q!r} ({r})" for q, r in zip(smiles, enc.reasons) if r]
        raise InputError(f"no query molecule can be encoded by this model: {', '.join(bad[:3])}")
    return library_index.query(enc.mu, k, enc.smiles, rerank=rerank)


def optimize(
    model: MolVAE,
    objective: str | Callable[[list[str]], Sequence[float]],
    config: Any = None,
    *,
    init: Molecules | None = None,
    progress: bool = False,
):
    """Search the latent space for molecules that score high on ``objective``: a name or spec of
    :func:`molvae.search.objectives.make_objective` (``"qed"``, ``"module:function"``, ...) or a Python
    callable taking a list of SMILES and returning one float each (NaN for a failure). ``config``:
    an :class:`molvae.search.OptimizeConfig` (default: method evolve). Returns the
    :class:`molvae.search.OptimizationRun`; its ``to_frame()`` is ``molvae optimize``'s output table.

    Example:
        >>> run = molvae.optimize(model, "qed")                                          # doctest: +SKIP
        >>> run = molvae.optimize(model, lambda smiles: [len(s) for s in smiles])        # doctest: +SKIP
        >>> run.to_frame().sort_values("score").tail()                                   # doctest: +SKIP
    """
    from molvae.search.objectives import callable_objective, make_objective
    from molvae.search.optimization import run_optimization

    chosen = make_objective(objective, model) if isinstance(objective, str) else callable_objective(objective)
    init_smiles = as_table(init).smiles if init is not None else None
    return run_optimization(model, chosen, config, init_smiles=init_smiles, progress=progress)


def evaluate(
    model: MolVAE,
    test: Molecules,
    *,
    n_samples: int = 10000,
    seed: int = 0,
    train: Molecules | None = None,
    reference: Molecules | None = None,
    fcd_device: str = "cpu",
) -> dict[str, Any]:
    """Reconstruction, property errors (file columns or RDKit) and the sample metrics of
    :func:`molvae.evaluation.evaluate.evaluate_model`, as the dict ``molvae evaluate --test -o`` writes.

    Example:
        >>> molvae.evaluate(model, "test.csv", n_samples=1000)["fcd"]          # doctest: +SKIP
    """
    from molvae import chem
    from molvae.data.datasets import property_labels
    from molvae.evaluation.evaluate import evaluate_model

    table = as_table(test)
    canonical = [chem.canonicalize(s)[0] for s in table.smiles]
    props = property_labels(canonical, model.property_names, table)
    smiles_of = lambda m: as_table(m).smiles if m is not None else None
    return evaluate_model(
        model,
        table.smiles,
        props,
        train=smiles_of(train),
        n_samples=n_samples,
        seed=seed,
        reference=smiles_of(reference),
        fcd_device=fcd_device,
    )


# ----------------------------------------------------------------------------- looking at results


def show(
    molecules: pd.DataFrame | Sequence[str | None],
    n: int = 20,
    legend: Sequence[str] | None = None,
    mols_per_row: int = 5,
    size: int = 220,
    path: str | Path | None = None,
):
    """The first ``n`` molecules of a result frame (its ``smiles`` column; rows without a valid
    molecule skipped) or of a list of SMILES, drawn as a grid that Jupyter displays. ``legend``: the
    frame's columns written under each structure (default: the key numbers among ``score``,
    ``similarity``, ``qed``, ``neg_elbo``, ``distance``, ``t``, ``novel``, ``match``). ``path``: also
    save the grid there (.png or .svg). Outside a notebook nothing is displayed: without ``path``,
    a warning says how to save the grid instead.

    Example:
        >>> molvae.show(molvae.sample(model, 50))                         # doctest: +SKIP
        >>> molvae.show(molvae.sample(model, 50), path="samples.png")     # doctest: +SKIP
    """
    grid = _grid(molecules, n, legend, mols_per_row, size)
    if path is not None:
        grid.save(path)
    elif not _in_notebook():
        warnings.warn(
            "molvae.show draws in a notebook; outside one nothing is displayed: save the grid with "
            "molvae.show(frame, path='molecules.png') (or .svg)",
            stacklevel=2,
        )
    return grid


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (notebook, lab, VS Code, qtconsole), which displays a returned grid."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def _grid(
    molecules: pd.DataFrame | Sequence[str | None], n: int, legend: Sequence[str] | None, mols_per_row: int, size: int
):
    from molvae.viz.drawing import MoleculeGrid

    if not isinstance(molecules, pd.DataFrame):
        smiles = [s for s in molecules if isinstance(s, str) and s][:n]
        return MoleculeGrid(smiles, None, mols_per_row, size)
    if "smiles" not in molecules:
        raise InputError(f"the frame has no smiles column (columns: {', '.join(map(str, molecules.columns))})")
    rows = molecules[molecules["smiles"].map(lambda s: isinstance(s, str) and bool(s))].head(n)
    keys = (
        list(legend)
        if legend is not None
        else [c for c in ("score", "similarity", "qed", "neg_elbo", "distance", "t", "novel", "match") if c in rows]
    )
    missing = [c for c in keys if c not in rows]
    if missing:
        raise InputError(f"no column {', '.join(missing)} to write under the molecules")

    def text(value: Any) -> str:
        return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)

    legends = ["  ".join(f"{k} {text(r[k])}" for k in keys) for _, r in rows.iterrows()]
    return MoleculeGrid(rows["smiles"].tolist(), legends, mols_per_row, size)

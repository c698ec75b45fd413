"""Render the figures and tables of the documents from ``benchmarks/results/*.json``.

Each number lives once, in a result file; the documents show it through two kinds of marker:

* a table: ``<!-- table:NAME -->`` ... ``<!-- end -->``; the lines between are rewritten with the
  table ``NAME`` of :data:`TABLES`;
* a figure: ``[TEXT][fig:ID]``, a Markdown reference link; TEXT is rewritten with the value of figure
  ``ID`` of :data:`FIGURES`, and the block ``<!-- figures -->`` ... ``<!-- end -->`` (at the end of the
  document) with the link definitions ``[fig:ID]: PATH`` to each figure's result file, relative to the
  document.

Prose around the markers is hand-written and left alone.

    python scripts/render_docs.py            # rewrite README.md, docs/benchmarks.md, the model cards
    python scripts/render_docs.py --check    # exit 1 when a document is out of date (tests/test_docs.py)
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import explore_radius  # noqa: E402  (its table: one owner, the benchmark)
import zinc250k  # noqa: E402  (the rows of the ZINC250k table: one owner, the benchmark)

RESULTS = ROOT / "benchmarks" / "results"
DOCUMENTS = ("README.md", "docs/benchmarks.md", "molvae/pretrained/README.md")

TABLE = re.compile(r"(<!-- table:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)
FIGURE = re.compile(r"\[(?P<text>[^\]]*)\]\[fig:(?P<id>[\w.@-]+)\]")
DEFINITIONS = re.compile(r"(<!-- figures -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


@cache
def result(stem: str) -> dict:
    """The result file ``benchmarks/results/STEM.json``."""
    return json.loads((RESULTS / f"{stem}.json").read_text())


def model_metrics(model: str) -> dict:
    return next(m["metrics"] for m in result("zinc250k")["models"] if m["model"] == model)


SAMPLER, LATENT = "zinc250k_selfies_sampler", "zinc250k_selfies"


def markdown_table(header: str, rows: Iterable[str]) -> str:
    """A Markdown table: ``header`` (``| a | b |``), the rule under it, then ``rows``, one line each."""
    return "\n".join([header, "|" + "---|" * (header.count("|") - 1), *rows])


# ----------------------------------------------------------------------------- PMO

# the methods a PMO table shows, in this order, where the file holds them (the ablations of evolve last)
PMO_METHODS = ("screening", "mol_ga", "molvae_evolve", "evolve_graph_moves", "evolve_model_moves")


class PmoMeasure(NamedTuple):
    """A measure of the PMO runs beside AUC top-10: how :func:`pmo_summary` computes it and how
    :func:`pmo_table` shows it."""

    name: str  # its key in pmo_summary and in the figures' ids
    field: str  # the result rows' field, averaged over the seeds of each task
    reduce: Callable[[list[float]], float]  # over the tasks: summed or averaged
    label: str  # its row in the PMO table
    fmt: str


PMO_MEASURES = (  # in the order of their rows in the PMO table
    PmoMeasure("optimizer_s", "optimizer_seconds", statistics.fmean, "optimizer seconds per task", "{:.1f}"),
    PmoMeasure("oracle_s", "oracle_seconds", statistics.fmean, "oracle seconds per task", "{:.1f}"),
    PmoMeasure("sum_familiar", "auc_top10_familiar", sum, "**sum, unfamiliar molecules scored 0**", "**{:.3f}**"),
    PmoMeasure("familiar_share", "top10_familiar_share", statistics.fmean, "familiar share of the top-10", "{:.2f}"),
    PmoMeasure(
        "scaffolds", "top10_scaffolds", statistics.fmean, "distinct scaffolds in the top-10, mean per task", "{:.1f}"
    ),
    PmoMeasure(
        "sum_diverse",
        "auc_top10_diverse",
        sum,
        "**sum, diverse top-10** (Tanimoto distance >= 0.4 between hits)",
        "**{:.3f}**",
    ),
    PmoMeasure(
        "diversity", "top100_diversity", statistics.fmean, "diversity of the top-100 (PMO), mean per task", "{:.3f}"
    ),
)


def pmo_summary(budget: int) -> dict:
    """Per task and method: the mean and sd of AUC top-10 over seeds, as benchmarks/pmo.py tabulates
    them, and each of :data:`PMO_MEASURES` (None for a method whose rows lack it: older runs)."""
    rows = result(f"pmo_{budget}")["rows"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = [m for m in PMO_METHODS if any(r["method"] == m for r in rows)]
    out: dict = {"tasks": tasks, "methods": methods, "auc": {}, "sum": {}, "moves": {}}
    out.update({measure.name: {} for measure in PMO_MEASURES})
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        per_task = {}
        for t in tasks:
            values = [r["auc_top10"] for r in mine if r["task"] == t]
            per_task[t] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None)
        out["auc"][m] = per_task
        out["sum"][m] = sum(v[0] for v in per_task.values())
        for name, field, reduce, _, _ in PMO_MEASURES:
            if not all(r.get(field) is not None for r in mine):
                out[name][m] = None
                continue
            out[name][m] = reduce([statistics.fmean(r[field] for r in mine if r["task"] == t) for t in tasks])
        calls: dict[str, int] = {}
        top: dict[str, int] = {}
        for r in mine:
            for move, n in (r.get("calls_by_move") or {}).items():
                calls[move] = calls.get(move, 0) + n
            for move, n in (r.get("top10_by_move") or {}).items():
                top[move] = top.get(move, 0) + n
        if top:
            out["moves"][m] = (calls, top)
    return out


def pmo_wins(budget: int, ours: str = "molvae_evolve", peer: str = "mol_ga") -> int:
    s = pmo_summary(budget)
    return sum(s["auc"][ours][t][0] > s["auc"][peer][t][0] for t in s["tasks"])


def pmo_table(budget: int) -> str:
    s = pmo_summary(budget)
    methods = s["methods"]
    header = "| task | " + " | ".join(methods) + " |"
    lines: list[str] = []
    for t in s["tasks"]:
        cells = []
        for m in methods:
            mean, sd = s["auc"][m][t]
            cells.append(f"{mean:.3f}" + ("" if sd is None else f" ± {sd:.3f}"))
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines.append("| **sum** | " + " | ".join(f"**{s['sum'][m]:.3f}**" for m in methods) + " |")
    for name, _, _, label, fmt in PMO_MEASURES:
        if any(s[name][m] is not None for m in methods):
            cells = [fmt.format(s[name][m]) if s[name][m] is not None else "not measured" for m in methods]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return markdown_table(header, lines)


def pmo_moves_table(budget: int) -> str:
    """Which move made each molvae method's oracle calls and its top-10 molecules (shares over all tasks
    and seeds); ``init``: the start population."""
    s = pmo_summary(budget)
    moves = sorted({move for calls, top in s["moves"].values() for move in (*calls, *top)})
    header = "| method | " + " | ".join(f"{move}: calls / top-10" for move in moves) + " |"
    lines = []
    for m, (calls, top) in s["moves"].items():
        n_calls, n_top = sum(calls.values()) or 1, sum(top.values()) or 1
        cells = [f"{calls.get(move, 0) / n_calls:.2f} / {top.get(move, 0) / n_top:.2f}" for move in moves]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return markdown_table(header, lines)


# ----------------------------------------------------------------------------- latent coverage


def coverage_table() -> str:
    r = result("latent_coverage")
    columns = r["columns"]
    header = "| model | latent points | " + " | ".join(h for _, h, _ in columns) + " |"
    lines = []
    for label, m in r["models"].items():
        for name, row in m["rows"].items():
            cells = [fmt.format(row[k]) if k in row else "" for k, _, fmt in columns]
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    ref = r["reference"]
    cells = [f"{ref[k]:.3f}" if k in ref else "" for k, _, _ in columns]
    lines.append("| valid split itself | | " + " | ".join(cells) + " |")
    return markdown_table(header, lines)


# ----------------------------------------------------------------------------- ZINC250k

ZINC_MORE = (
    ("KL (nats per molecule)", "kl_total", "{:.1f}"),
    ("SNN / Frag / Scaf", ("snn", "frag", "scaf"), "{:.3f}"),
    ("IntDiv1", "intdiv1", "{:.3f}"),
    ("Wasserstein logP / QED / SA", ("wasserstein_logp", "wasserstein_qed", "wasserstein_sa"), "{:.3f}"),
    ("Wasserstein MW", "wasserstein_mw", "{:.1f}"),
)
ZINC_CHEMISTRY = (  # check, key, reference key, format
    ("carry radical electrons", "radicals", "ref_radicals", "{:.3f}"),
    (
        "sane (one fragment, no radicals, >= 10 heavy atoms, rings <= 8, ZINC elements, no PAINS)",
        "sanity",
        "ref_sanity",
        "{:.3f}",
    ),
    ("pass MOSES's Filters", "moses_filters", "ref_moses_filters", "{:.3f}"),
    ("match PAINS", "pains", "ref_pains", "{:.3f}"),
    ("familiar (every atom environment occurs in ZINC250k train)", "familiar", "ref_familiar", "{:.3f}"),
    ("mean heavy atoms", "heavy_atoms", "ref_heavy_atoms", "{:.1f}"),
    ("decodes changed by the repair", "repaired", None, "{:.3f}"),
    ("decodes changed by the ring limit", "ring_masked", None, "{:.3f}"),
)


def _cell(metrics: dict, key, fmt: str) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    return " / ".join(fmt.format(metrics[k]) if k in metrics else "not measured" for k in keys)


def zinc_models_table() -> str:
    """The main table's rows are benchmarks/zinc250k.py's :data:`METRICS` (label, anchors, target, format),
    then a few more measures of its result file."""
    s, v = model_metrics(SAMPLER), model_metrics(LATENT)
    header = "| metric | sampler (`sample`) | latent model (the verbs that encode) | published anchors | target |"
    lines: list[str] = []
    for key, metric in zinc250k.METRICS.items():
        lines.append(
            f"| {metric.label} | {_cell(s, key, metric.fmt)} | {_cell(v, key, metric.fmt)} "
            f"| {metric.anchors} | {metric.target} |"
        )
    for label, key, fmt in ZINC_MORE:
        lines.append(f"| {label} | {_cell(s, key, fmt)} | {_cell(v, key, fmt)} | | |")
    return markdown_table(header, lines)


def zinc_chemistry_table() -> str:
    s, v = model_metrics(SAMPLER), model_metrics(LATENT)
    header = "| check (over all 10,000 samples) | sampler | latent model | test set itself |"
    lines: list[str] = []
    for label, key, ref, fmt in ZINC_CHEMISTRY:
        reference = _cell(v if ref in v else s, ref, fmt) if ref else "-"
        lines.append(f"| {label} | {_cell(s, key, fmt)} | {_cell(v, key, fmt)} | {reference} |")
    lines.append(f"| sanity ratio (samples / test) | {s['sanity_ratio']:.3f} | {v['sanity_ratio']:.3f} | 1 |")
    return markdown_table(header, lines)


# ----------------------------------------------------------------------------- the other benchmarks


def library_table() -> str:
    d = result("library_throughput")
    floor, enc = d["floor_mol_per_s"], d["encode"]
    header = (
        f"| work ({d['n_molecules']:,} ZINC250k molecules, {d['cores']} cores) | molecules/s | ratio to floor "
        "| peak memory |"
    )
    rows = [
        f"| floor: RDKit parse + canonical SMILES + SELFIES, {d['cores']} processes, nothing else | {floor:,.0f} "
        "| 1.00 | |",
        f"| `{enc['command']}` | {enc['mol_per_s']:,.0f} | {enc['ratio_to_floor']:.2f} "
        f"| {enc['peak_rss_mb'] / 1000:.1f} GB |",
        f"| `molvae sample` defaults ({d['sampling_model']}, ring limit {d['sampling_max_ring']}) "
        f"| {d['sampling_mol_per_s']:,.0f} | {d['sampling_ratio_to_floor']:.2f} | |",
        f"| the same without the ring limit (`--max-ring 0`) | {d['sampling_mol_per_s_without_ring_limit']:,.0f} "
        f"| {d['sampling_mol_per_s_without_ring_limit'] / floor:.2f} | |",
        f"| `molvae sample --model zinc250k_selfies` (fitted prior, greedy) "
        f"| {d['latent_model_sampling_mol_per_s']:,.0f} | {d['latent_model_sampling_mol_per_s'] / floor:.2f} | |",
    ]
    return markdown_table(header, rows)


def train_table() -> str:
    header = "| encoder | precision | molecules/s | vs fp32 shipped |"
    rows = [
        f"| {r['encoder']} | {r['precision']} | {r['mol_per_s']:.0f} | {r['speedup_vs_fp32_shipped']:.2f}x |"
        for r in result("train_throughput")["rows"]
    ]
    return markdown_table(header, rows)


OPT_ANCHORS = {
    "qed": "about 0.948 (known maximum); JT-VAE 0.925",
    "plogp": "JT-VAE 5.30 / 4.93 / 4.49; LIMO 10.5 (top-1)",
    "constrained": "MolDQN 3.37 / 100%; GCPN 2.49 / 100%; JT-VAE 0.84 / 83.6%",
}
PLOGP_LABELS = {
    "capped": "`--max-heavy-atoms 38` (ZINC's largest)",
    "sized": "molecules over 38 heavy atoms score as failures",
    "default": "default cap of 100 heavy atoms",
    "unconstrained": "`--max-heavy-atoms 0` (any size)",
    "gradient": "`--method gradient` (any size)",
}


def optimization_table() -> str:
    d = result("optimization")
    header = "| task | molvae (bundled model) | heavy atoms of the top 3 | published anchors |"
    lines = [
        f"| QED: best novel molecule within {d['qed_budget']} calls ({len(d['qed']['runs'])} seeds) "
        f"| {d['qed']['best_novel_qed']} | | {OPT_ANCHORS['qed']} |",
        f"| the same, `--start prior` | {d['qed_prior_start']['best_novel_qed']} | | |",
    ]
    for key, label in PLOGP_LABELS.items():
        p = d["plogp"][key]
        heavy = [m["heavy_atoms"] for run in p["runs"] for m in run["molecules"]]
        lines.append(
            f"| penalized logP top-1 / 2 / 3 within {d['budget']} calls, {label} | {p['top1']} / {p['top2']} / "
            f"{p['top3']} | {min(heavy)}-{max(heavy)} | {OPT_ANCHORS['plogp'] if key == 'capped' else ''} |"
        )
    c = d["constrained"]
    lines.append(
        f"| constrained plogP (similarity >= 0.4, {c['n_molecules']} lowest test molecules): improvement / "
        f"success | {c['improvement']} / {c['success_rate']} | | {OPT_ANCHORS['constrained']} |"
    )
    return markdown_table(header, lines)


def constrained_tuning_table() -> str:
    header = "| graph-edit rounds | improvement | success | candidates per molecule | seconds per molecule |"
    rows = [
        f"| {r['edit_rounds']} | {r['improvement']:.2f} | {r['success_rate']:.3f} "
        f"| {r['candidates_per_molecule']:.0f} | {r['seconds_per_molecule']:.1f} |"
        for r in result("constrained_tuning")["rows"]
    ]
    return markdown_table(header, rows)


def anomaly_table() -> str:
    d = result("anomaly")
    header = (
        "| unusual set | n | readable by the model | AUROC neg ELBO | AUROC neg ELBO, readable only "
        "| AUROC Mahalanobis | flagged as outliers |"
    )
    lines: list[str] = []
    for s in ("peptides", "macrocycles", "sugars"):
        lines.append(
            f"| {s} | {d['n'][s]} | {d['readable'][s]:.3f} | {d['auroc'][s]['neg_elbo']:.3f} "
            f"| {d['auroc_readable_only'][s]['neg_elbo']:.3f} | {d['auroc'][s]['mahalanobis']:.3f} "
            f"| {d['outlier_rate'][s]:.3f} |"
        )
    a = d["auroc"]["all_unusual"]
    lines.append(f"| all unusual sets | | | {a['neg_elbo']:.3f} | | {a['mahalanobis']:.3f} | |")
    lines.append(
        f"| ZINC250k test molecules | {d['n']['zinc_test']} | {d['readable']['zinc_test']:.3f} | | | "
        f"| {d['outlier_rate']['zinc_test']:.3f} |"
    )
    return markdown_table(header, lines)


def conditional_table() -> str:
    w1, w2 = result("conditional")["targets"], result("conditional_guidance2")["targets"]
    header = (
        "| property = target | conditioned, W = 1 | conditioned, W = 2 | same draws, average condition "
        "| ratio W = 1 | ratio W = 2 | paired difference W = 1 (95% CI) |"
    )
    lines: list[str] = []
    for a, b in zip(w1, w2, strict=True):
        lo, hi = a["paired_difference_ci95"]
        lines.append(
            f"| {a['property']} = {a['target']:g} | {a['conditional_mae']:.3f} ({a['conditional_mean']:.2f}) "
            f"| {b['conditional_mae']:.3f} ({b['conditional_mean']:.2f}) "
            f"| {a['average_mae']:.3f} ({a['average_mean']:.2f}) | {a['ratio']:.2f}x | {b['ratio']:.2f}x "
            f"| {a['paired_difference']:+.3f} ({lo:+.3f} to {hi:+.3f}) |"
        )
    return markdown_table(header, lines)


def _variant_row(arm: dict, variant: str, v: dict) -> str:
    return (
        f"| {arm['arm']} | {variant} | {v['fcd']:.2f} | {v['sanity']:.3f} | {v['heavy_atoms']:.1f} | {v['unique']:.3f} "
        f"| {arm['reconstruction']:.3f} | {arm['kl']:.1f} |"
    )


ABLATION_HEADER = "| arm | prior / decoding | FCD | sanity | heavy atoms | unique | reconstruction | KL |"


def ablation_arms_table() -> str:
    """One row per arm of model_ablation.json: its decoding with the lowest FCD."""
    lines: list[str] = []
    for arm in result("model_ablation")["arms"]:
        variant, v = min(arm["variants"].items(), key=lambda kv: kv[1]["fcd"])
        lines.append(_variant_row(arm, variant, v))
    return markdown_table(ABLATION_HEADER, lines)


def ablation_v1_table() -> str:
    """The latent model's decodings: what the fitted prior, the repair and the ring limit do."""
    arm = next(a for a in result("model_ablation")["arms"] if a["arm"] == "v1")
    return markdown_table(ABLATION_HEADER, [_variant_row(arm, k, v) for k, v in arm["variants"].items()])


def ablation_sampler_table() -> str:
    """The run that chose the bundled sampler (5,000 valid-split samples per row)."""
    lines: list[str] = []
    for arm in result("model_ablation_gpu_5k")["arms"]:
        lines += [_variant_row(arm, k, v) for k, v in arm["variants"].items()]
    return markdown_table(ABLATION_HEADER, lines)


def drugs_table() -> str:
    """benchmarks/drugs.py: each model on the approved drugs, and in brackets on the ZINC control set."""
    r = result("drugs")
    labels = list(r["models"])
    header = "| measure | target (drugs) | " + " | ".join(f"`{label}`" for label in labels) + " |"
    lines: list[str] = []
    for name, key, target, fmt in r["rows"]:
        cells = []
        for label in labels:
            m = r["models"][label]
            cell = fmt.format(m[key])
            if "control" in m:
                cell += f" ({fmt.format(m['control'][key])})"
            cells.append(cell)
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")
    return markdown_table(header, lines)


def _drugs(key: str, control: bool = False) -> tuple[str, Callable[[], str]]:
    def value() -> str:
        r = result("drugs")
        m = r["models"][r["bundled"]]
        fmt = next(f for _, k, _, f in r["rows"] if k == key)
        return fmt.format((m["control"] if control else m)[key])

    return "drugs", value


TABLES: dict[str, Callable[[], str]] = {
    "drugs": drugs_table,
    "explore_radius": lambda: explore_radius.table(result("explore_radius")),
    "zinc250k": zinc_models_table,
    "zinc250k_chemistry": zinc_chemistry_table,
    "library_throughput": library_table,
    "train_throughput": train_table,
    "optimization": optimization_table,
    "constrained_tuning": constrained_tuning_table,
    "pmo_1000": lambda: pmo_table(1000),
    "pmo_1000_moves": lambda: pmo_moves_table(1000),
    "latent_coverage": coverage_table,
    "pmo_10000": lambda: pmo_table(10000),
    "anomaly": anomaly_table,
    "conditional": conditional_table,
    "model_ablation": ablation_arms_table,
    "model_ablation_v1": ablation_v1_table,
    "model_ablation_sampler": ablation_sampler_table,
}


# ----------------------------------------------------------------------------- figures


def _zinc(model: str, key: str, fmt: str) -> tuple[str, Callable[[], str]]:
    return "zinc250k", lambda: fmt.format(model_metrics(model)[key])


def _pmo(budget: int, what: str, method: str = "molvae_evolve") -> tuple[str, Callable[[], str]]:
    def value() -> str:
        s = pmo_summary(budget)
        if what == "ratio":
            return f"{s['sum']['molvae_evolve'] / s['sum']['mol_ga']:.3f}"
        if what == "wins":
            return f"{pmo_wins(budget, peer=method)} of {len(s['tasks'])}"
        if what in ("optimizer_s", "oracle_s", "scaffolds"):
            return f"{s[what][method]:.1f}"
        return f"{s[what][method]:.3f}"

    return f"pmo_{budget}", value


def _pmo_move(budget: int, method: str, move: str, what: str = "top10") -> tuple[str, Callable[[], str]]:
    """The share of a molvae method's top-10 molecules (``what="top10"``) or oracle calls (``"calls"``)
    that ``move`` made, over all tasks and seeds."""

    def value() -> str:
        calls, top = pmo_summary(budget)["moves"][method]
        counts = top if what == "top10" else calls
        return f"{counts.get(move, 0) / sum(counts.values()):.2f}"

    return f"pmo_{budget}", value


def _sampler_fcd_valid() -> str:
    arm = next(a for a in result("model_ablation_gpu_5k")["arms"] if a["arm"] == "pkg_half")
    return f"{next(iter(arm['variants'].values()))['fcd']:.2f}"


FIGURES: dict[str, tuple[str, Callable[[], str]]] = {
    "drugs.reconstruction": _drugs("reconstruction"),
    "drugs.explore_familiar": _drugs("explore_familiar"),
    "drugs.explore_similarity": _drugs("explore_median_similarity"),
    "drugs.interpolate_familiar": _drugs("interpolate_familiar"),
    "drugs.control.explore_familiar": _drugs("explore_familiar", control=True),
    "zinc250k.sampler.fcd": _zinc(SAMPLER, "fcd", "{:.3f}"),
    "zinc250k.sampler.sanity": _zinc(SAMPLER, "sanity", "{:.3f}"),
    "zinc250k.sampler.sanity_ratio": _zinc(SAMPLER, "sanity_ratio", "{:.3f}"),
    "zinc250k.sampler.novelty": _zinc(SAMPLER, "novelty", "{:.3f}"),
    "zinc250k.sampler.unique": _zinc(SAMPLER, "unique@10k", "{:.3f}"),
    "zinc250k.sampler.reconstruction": _zinc(SAMPLER, "reconstruction", "{:.3f}"),
    "zinc250k.sampler.kl": _zinc(SAMPLER, "kl_total", "{:.1f}"),
    "zinc250k.sampler.mae_logp": _zinc(SAMPLER, "mae_logp", "{:.3f}"),
    "zinc250k.latent.reconstruction": _zinc(LATENT, "reconstruction", "{:.3f}"),
    "zinc250k.latent.reconstruction_greedy": _zinc(LATENT, "reconstruction_greedy", "{:.3f}"),
    "zinc250k.latent.fcd": _zinc(LATENT, "fcd", "{:.2f}"),
    "zinc250k.latent.sanity": _zinc(LATENT, "sanity", "{:.3f}"),
    "zinc250k.latent.kl": _zinc(LATENT, "kl_total", "{:.1f}"),
    "zinc250k.latent.mae_logp": _zinc(LATENT, "mae_logp", "{:.3f}"),
    "zinc250k.latent.mae_qed": _zinc(LATENT, "mae_qed", "{:.3f}"),
    "zinc250k.latent.mae_sa": _zinc(LATENT, "mae_sa", "{:.3f}"),
    "zinc250k.latent.r2_qed": _zinc(LATENT, "r2_qed", "{:.2f}"),
    "zinc250k.test.sanity": _zinc(SAMPLER, "ref_sanity", "{:.3f}"),
    "pmo_1000.sum.molvae_evolve": _pmo(1000, "sum"),
    "pmo_1000.sum.mol_ga": _pmo(1000, "sum", "mol_ga"),
    "pmo_1000.sum.screening": _pmo(1000, "sum", "screening"),
    "pmo_1000.sum_familiar.mol_ga": _pmo(1000, "sum_familiar", "mol_ga"),
    "pmo_1000.ratio": _pmo(1000, "ratio"),
    "pmo_1000.optimizer_s.molvae_evolve": _pmo(1000, "optimizer_s"),
    "pmo_1000.optimizer_s.mol_ga": _pmo(1000, "optimizer_s", "mol_ga"),
    "pmo_1000.wins.mol_ga": _pmo(1000, "wins", "mol_ga"),
    "pmo_1000.sum.evolve_graph_moves": _pmo(1000, "sum", "evolve_graph_moves"),
    "pmo_1000.sum.evolve_model_moves": _pmo(1000, "sum", "evolve_model_moves"),
    "pmo_1000.wins_graph_only": _pmo(1000, "wins", "evolve_graph_moves"),
    "pmo_1000.sum_diverse.molvae_evolve": _pmo(1000, "sum_diverse"),
    "pmo_1000.scaffolds.molvae_evolve": _pmo(1000, "scaffolds"),
    "pmo_1000.scaffolds.mol_ga": _pmo(1000, "scaffolds", "mol_ga"),
    "pmo_1000.diversity.molvae_evolve": _pmo(1000, "diversity"),
    "pmo_1000.diversity.mol_ga": _pmo(1000, "diversity", "mol_ga"),
    "pmo_1000.oracle_s.molvae_evolve": _pmo(1000, "oracle_s"),
    "pmo_1000.top10.graph": _pmo_move(1000, "molvae_evolve", "graph"),
    "pmo_1000.calls.graph": _pmo_move(1000, "molvae_evolve", "graph", "calls"),
    "pmo_1000.top10.branch": _pmo_move(1000, "molvae_evolve", "branch"),
    "pmo_1000.calls.branch": _pmo_move(1000, "molvae_evolve", "branch", "calls"),
    "pmo_10000.sum.molvae_evolve": _pmo(10000, "sum"),
    "pmo_10000.sum.mol_ga": _pmo(10000, "sum", "mol_ga"),
    "pmo_10000.sum.screening": _pmo(10000, "sum", "screening"),
    "pmo_10000.sum_familiar.mol_ga": _pmo(10000, "sum_familiar", "mol_ga"),
    "pmo_10000.ratio": _pmo(10000, "ratio"),
    "pmo_10000.wins.mol_ga": _pmo(10000, "wins", "mol_ga"),
    "optimization.qed": ("optimization", lambda: result("optimization")["qed"]["best_novel_qed"]),
    "optimization.plogp_capped": ("optimization", lambda: result("optimization")["plogp"]["capped"]["top1"]),
    "optimization.constrained": ("optimization", lambda: result("optimization")["constrained"]["improvement"]),
    "optimization.constrained_success": ("optimization", lambda: result("optimization")["constrained"]["success_rate"]),
    "library_throughput.encode": (
        "library_throughput",
        lambda: f"{result('library_throughput')['encode']['mol_per_s']:,.0f}",
    ),
    "library_throughput.encode_ratio": (
        "library_throughput",
        lambda: f"{result('library_throughput')['encode']['ratio_to_floor']:.2f}",
    ),
    "library_throughput.sampling": (
        "library_throughput",
        lambda: f"{result('library_throughput')['sampling_mol_per_s']:,.0f}",
    ),
    "anomaly.mahalanobis": ("anomaly", lambda: f"{result('anomaly')['auroc']['all_unusual']['mahalanobis']:.3f}"),
    "anomaly.neg_elbo": ("anomaly", lambda: f"{result('anomaly')['auroc']['all_unusual']['neg_elbo']:.3f}"),
    "conditional.logp5.mean": ("conditional", lambda: f"{result('conditional')['targets'][5]['conditional_mean']:.2f}"),
    "conditional.logp1.mean": ("conditional", lambda: f"{result('conditional')['targets'][3]['conditional_mean']:.2f}"),
    "conditional.qed09.mean": ("conditional", lambda: f"{result('conditional')['targets'][2]['conditional_mean']:.2f}"),
    "conditional.average.qed": (
        "conditional",
        lambda: f"{result('conditional')['conditional_model_at_average_condition']['qed']:.2f}",
    ),
    "model_ablation.sampler_valid_fcd": ("model_ablation_gpu_5k", _sampler_fcd_valid),
}


def figure(fig_id: str) -> tuple[Path, str]:
    """The result file of figure ``fig_id`` and its value as the documents write it."""
    if fig_id not in FIGURES:
        raise KeyError(f"unknown figure {fig_id!r}; known: {', '.join(FIGURES)}")
    stem, value = FIGURES[fig_id]
    return RESULTS / f"{stem}.json", value()


# ----------------------------------------------------------------------------- rendering


def render(text: str, document: Path) -> str:
    """``text`` (the content of ``document``) with every table and figure marker rendered."""

    def table(m: re.Match) -> str:
        name = m["name"]
        if name not in TABLES:
            raise KeyError(f"{document}: unknown table {name!r}; known: {', '.join(TABLES)}")
        return f"{m.group(1)}{TABLES[name]()}\n{m.group(4)}"

    def fig(m: re.Match) -> str:
        return f"[{figure(m['id'])[1]}][fig:{m['id']}]"

    ids = list(dict.fromkeys(m["id"] for m in FIGURE.finditer(text)))
    if ids and not DEFINITIONS.search(text):
        raise KeyError(f"{document}: figures without a '<!-- figures -->' ... '<!-- end -->' block for their links")

    def definitions(m: re.Match) -> str:
        lines = [f"[fig:{i}]: {Path(os.path.relpath(figure(i)[0], document.parent)).as_posix()}" for i in ids]
        return m.group(1) + "".join(line + "\n" for line in lines) + m.group(3)

    return DEFINITIONS.sub(definitions, FIGURE.sub(fig, TABLE.sub(table, text)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a document is out of date")
    parser.add_argument("documents", nargs="*", default=list(DOCUMENTS), help="default: %(default)s")
    args = parser.parse_args(argv)
    stale = []
    for name in args.documents:
        path = (ROOT / name).resolve()
        text = path.read_text()
        try:
            new = render(text, path)
        except KeyError as e:
            print(f"render_docs: {e.args[0]}", file=sys.stderr)
            return 1
        if new == text:
            continue
        stale.append(name)
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(text.splitlines(True), new.splitlines(True), name, f"{name} (rendered)", n=0)
            )
        else:
            path.write_text(new)
            print(f"render_docs: rewrote {name}")
    if args.check and stale:
        print(f"render_docs: out of date: {', '.join(stale)} (run python scripts/render_docs.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

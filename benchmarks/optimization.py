#!/usr/bin/env python
"""Latent-space optimization benchmarks on the bundled model (issue 4); trains nothing.

Tasks (each over several seeds, mean ± sd):
  qed          best QED of a molecule not in ZINC250k within 300 oracle calls (the default optimizer, and
               the same with --start prior: the search model's own prior draws start it)
  plogp        top-3 penalized logP within 500 calls: the default optimizer on molecules of at most 38
               heavy atoms (ZINC250k's largest; larger molecules score as failures: sized_plogp), the
               same with the optimizer's own cap (--max-heavy-atoms 38: larger molecules are never
               scored), the same with the default cap (100 heavy atoms), unconstrained (--max-heavy-atoms 0),
               and gradient ascent on the predictor, with the size of the top molecules
  constrained  JT-VAE constrained optimization: the 800 ZINC250k test molecules with the lowest penalized
               logP, improved under Tanimoto similarity >= 0.4 to the start (--method improve)
Wall time per 500 oracle calls comes from the default optimizer's runs.

Writes benchmarks/results/optimization.json and .md (--quick: optimization_quick.*).

    python benchmarks/optimization.py            # 300/500 calls x 3 seeds, 800 molecules (about 50 min on 2 cores)
    python benchmarks/optimization.py --quick    # 100 calls x 1 seed, 30 molecules (under 2 minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import MolVAE, __version__, chem
from molvae.search.constrained import ConstrainedConfig, improve_molecules
from molvae.search.evolve import DEFAULT_MAX_HEAVY_ATOMS
from molvae.search.gradient import gradient_ascent
from molvae.search.objectives import callable_objective, make_objective, penalized_logp
from molvae.search.optimization import DEFAULT_METHOD, OptimizeConfig, run_optimization

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, hardware, parse_args  # noqa: E402

# Published anchors. QED maximum: Jin et al. 2018 (JT-VAE) and most later papers (about 0.948).
# Penalized logP top-3 within a budget: JT-VAE (Jin et al. 2018, sparse GP BO) 5.30 / 4.93 / 4.49;
# LIMO (Eckmann et al. 2022, gradient on a property predictor) 10.5 (top-1); weighted retraining
# (Tripp et al. 2020, 500 queries with model retraining) 27.84. Constrained optimization at similarity
# >= 0.4: JT-VAE improvement 0.84 ± 1.45, success 83.6% (Jin et al. 2018, Table 3).
# Wall time: PMO benchmark (Gao et al. 2022) about 20 minutes per 10,000-call VAE+BO run on a GPU.
ANCHORS = {
    "qed": "about 0.948 (known maximum; JT-VAE 0.925)",
    "plogp": "JT-VAE 5.30 / 4.93 / 4.49; LIMO 10.5 (top-1); weighted retraining 27.84",
    "constrained": "JT-VAE improvement 0.84 ± 1.45, success 83.6%",
    "wall": "PMO VAE+BO about 20 min per 10,000 calls on a GPU (about 1 min per 500)",
}


def mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.3f} (one seed)"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


class Zinc:
    """'Not in ZINC250k': not among the training-set hashes the bundled model carries (the train
    split, canonicalized the same way) nor in the canonical valid and test splits; and the test split."""

    def __init__(self, path: Path, model: MolVAE) -> None:
        frame = pd.read_csv(path, keep_default_na=False)
        held_out = frame[frame["split"] != "train"]
        canonical, _ = chem.canonicalize_many(held_out["smiles"].tolist())
        self.model = model
        self.held_out = {s for s in canonical if s}
        self.test = [c for c, split in zip(canonical, held_out["split"]) if split == "test" and c]

    def novel(self, smiles) -> np.ndarray:
        smiles = list(smiles)
        return self.model.novel(smiles) & np.array([s not in self.held_out for s in smiles], dtype=bool)


def size(smiles: str) -> dict:
    heavy, mw = chem.compute_properties([smiles], ["heavy_atoms", "mw"])[0]
    return {"smiles": smiles, "heavy_atoms": int(heavy), "mw": round(float(mw), 1)}


MAX_HEAVY_ATOMS = 38  # the largest ZINC250k molecule


def default_method(
    model, objective, budget: int, seed: int, max_heavy_atoms: int | None = None, start: str | None = None
):
    """What `molvae optimize --objective OBJECTIVE --budget BUDGET --seed SEED [--max-heavy-atoms N]
    [--start START]` runs (``objective``: a spec or an Objective)."""
    objective = make_objective(objective) if isinstance(objective, str) else objective
    config = OptimizeConfig(budget=budget, seed=seed, max_heavy_atoms=max_heavy_atoms, start=start)
    return run_optimization(model, objective, config, progress=False).result


def sized_plogp(smiles: list[str]) -> np.ndarray:
    """Penalized logP, and a failure (NaN, a spent call that teaches nothing) for molecules over
    MAX_HEAVY_ATOMS heavy atoms: a hard size cap, as a user oracle (`--objective module:function`)."""
    heavy = chem.compute_properties(smiles, ["heavy_atoms"])[:, 0]
    return np.where(heavy <= MAX_HEAVY_ATOMS, penalized_logp(smiles), np.nan)


def run_qed(model, zinc, budget, seeds, start: str | None = None) -> dict:
    """Best novel QED of the default optimizer; ``start``: its --start (None: the default, auto)."""
    runs = []
    for seed in seeds:
        r = default_method(model, "qed", budget, seed, start=start)
        ev = r.evaluated[np.isfinite(r.evaluated["score"])]
        ev = ev[zinc.novel(ev["smiles"])]
        best = ev.loc[ev["score"].idxmax()]
        runs.append(
            {
                "seed": seed,
                "best_novel_qed": round(float(best.score), 4),
                "smiles": best.smiles,
                "found_at_call": int(best.call),
                "calls": len(r.evaluated),
                "seconds": round(r.seconds, 1),
            }
        )
        logging.info(
            "qed (start %s) seed %d: %.4f %s (%.0f s)", start or "auto", seed, best.score, best.smiles, r.seconds
        )
    return {"runs": runs, "best_novel_qed": mean_sd([r["best_novel_qed"] for r in runs])}


PLOGP_RUNS = {
    "sized": f"penalized logP, molecules over {MAX_HEAVY_ATOMS} heavy atoms fail (sized_plogp)",
    "capped": f"penalized_logp with --max-heavy-atoms {MAX_HEAVY_ATOMS} (larger molecules never scored)",
    "default": f"penalized_logp (the default cap: molecules over {DEFAULT_MAX_HEAVY_ATOMS} heavy atoms never scored)",
    "unconstrained": "penalized_logp with --max-heavy-atoms 0 (any size)",
    "gradient": "penalized_logp",
}
CAPPED = ("sized", "capped")  # the runs whose molecules may have at most MAX_HEAVY_ATOMS heavy atoms


def run_plogp(model, zinc, budget, seeds, variants=tuple(PLOGP_RUNS)) -> dict:
    out = {}
    for label, spec in PLOGP_RUNS.items():
        if label not in variants:
            continue
        runs = []
        for seed in seeds:
            if label == "gradient":
                r = gradient_ascent(model, make_objective(spec), budget=budget, seed=seed, progress=False)
            elif label in ("capped", "default", "unconstrained"):
                cap = {"capped": MAX_HEAVY_ATOMS, "default": None, "unconstrained": 0}[label]
                r = default_method(model, "penalized_logp", budget, seed, max_heavy_atoms=cap)
            else:
                r = default_method(model, callable_objective(sized_plogp), budget, seed)
            ev = r.evaluated[np.isfinite(r.evaluated["score"])]
            plogp = penalized_logp(ev["smiles"].tolist())  # the size penalty is not part of what is reported
            heavy = chem.compute_properties(ev["smiles"].tolist(), ["heavy_atoms"])[:, 0]
            allowed = heavy <= MAX_HEAVY_ATOMS if label in CAPPED else np.ones(len(ev), dtype=bool)
            top = np.argsort(-np.where(allowed, plogp, -np.inf), kind="stable")[:3]
            top = [i for i in top if allowed[i]]
            smiles = [ev["smiles"].iloc[i] for i in top]
            runs.append(
                {
                    "seed": seed,
                    "top3": [round(float(plogp[i]), 3) for i in top],
                    "molecules": [size(s) for s in smiles],
                    "novel": zinc.novel(smiles).tolist(),
                    "calls": len(r.evaluated),
                    "seconds": round(r.seconds, 1),
                }
            )
            logging.info("plogp %s seed %d: %s (%.0f s)", label, seed, runs[-1]["top3"], r.seconds)
        tops = np.array([r["top3"] + [np.nan] * (3 - len(r["top3"])) for r in runs])
        out[label] = {
            "objective": spec,
            "method": "gradient" if label == "gradient" else DEFAULT_METHOD,
            "runs": runs,
            "top1": mean_sd(tops[:, 0]),
            "top2": mean_sd(tops[:, 1]),
            "top3": mean_sd(tops[:, 2]),
        }
    return out


def run_constrained(model, zinc, n_molecules, seeds) -> dict:
    scores = penalized_logp(zinc.test)
    starts = [zinc.test[i] for i in np.argsort(scores, kind="stable")[:n_molecules]]
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        table = improve_molecules(
            model, starts, make_objective("penalized_logp"), ConstrainedConfig(seed=seed), progress=False
        )
        gains = table["improvement"].fillna(0.0)
        runs.append(
            {
                "seed": seed,
                "improvement_mean": round(float(gains.mean()), 3),
                "improvement_sd": round(float(gains.std(ddof=1)), 3),
                "success_rate": round(float(table["success"].mean()), 4),
                "mean_similarity_of_successes": round(float(table.loc[table["success"], "similarity"].mean()), 3),
                "candidates_per_molecule": round(float(table["candidates"].mean()), 1),
                "not_encodable": int(table["reason"].notna().sum()),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        logging.info("constrained seed %d: %s", seed, runs[-1])
    return {
        "n_molecules": len(starts),
        "runs": runs,
        "improvement": mean_sd([r["improvement_mean"] for r in runs]),
        "success_rate": mean_sd([r["success_rate"] for r in runs]),
    }


def markdown(result: dict) -> str:
    rows = ["| task | molvae (bundled model) | published anchors |", "|---|---|---|"]
    if "qed" in result:
        rows.append(
            f"| QED: best novel molecule within {result['qed_budget']} calls ({DEFAULT_METHOD}) | "
            f"{result['qed']['best_novel_qed']} | {ANCHORS['qed']} |"
        )
    if "qed_prior_start" in result:
        rows.append(
            f"| QED: the same, {DEFAULT_METHOD} --start prior (the search model's own prior draws start it) | "
            f"{result['qed_prior_start']['best_novel_qed']} | {ANCHORS['qed']} |"
        )
    if "plogp" in result:
        labels = {
            "sized": f"{DEFAULT_METHOD}, <= {MAX_HEAVY_ATOMS} heavy atoms",
            "capped": f"{DEFAULT_METHOD} --max-heavy-atoms {MAX_HEAVY_ATOMS}",
            "default": f"{DEFAULT_METHOD}, default cap of {DEFAULT_MAX_HEAVY_ATOMS} heavy atoms",
            "unconstrained": f"{DEFAULT_METHOD} --max-heavy-atoms 0, any size",
            "gradient": "gradient ascent, any size",
        }
        for key, label in labels.items():
            if key not in result["plogp"]:
                continue
            p = result["plogp"][key]
            heavy = [m["heavy_atoms"] for run in p["runs"] for m in run["molecules"]]
            rows.append(
                f"| penalized logP top-1 / 2 / 3 within {result['budget']} calls ({label}) | "
                f"{p['top1']} / {p['top2']} / {p['top3']} (heavy atoms of these: "
                f"{min(heavy)}-{max(heavy)}) | {ANCHORS['plogp']} |"
            )
    if "constrained" in result:
        c = result["constrained"]
        rows.append(
            f"| constrained plogP, sim >= 0.4, {c['n_molecules']} lowest test molecules: improvement / "
            f"success | {c['improvement']} / {c['success_rate']} | {ANCHORS['constrained']} |"
        )
    if "seconds_per_500_calls" in result:
        rows.append(
            f"| wall time per 500 oracle calls ({DEFAULT_METHOD}, 2 CPU cores) | {result['seconds_per_500_calls']} s | "
            f"{ANCHORS['wall']} |"
        )
    seeds = {task: sorted({r["seed"] for r in runs}) for task, runs in _task_runs(result).items()}
    return "\n".join(rows) + (f"\n\nSeeds {seeds}, mean ± sd over seeds; {result['hardware']}.\n")


def _task_runs(result: dict) -> dict[str, list[dict]]:
    """Every task's runs (the plogP variants each), for the seeds each was run with."""
    out = {task: result[task]["runs"] for task in ("qed", "qed_prior_start", "constrained") if task in result}
    out.update({f"plogp {label}": v["runs"] for label, v in result.get("plogp", {}).items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 calls, one seed, 30 molecules (< 2 minutes)")
    parser.add_argument(
        "--tasks", nargs="+", default=["qed", "plogp", "constrained"], choices=["qed", "plogp", "constrained"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0 1 2 (quick: 0)")
    parser.add_argument("--budget", type=int, help="oracle calls per run (default: qed 300, plogp 500; quick 100)")
    parser.add_argument("--molecules", type=int, help="constrained task: starting molecules (default 800; quick 30)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="zinc250k.csv.gz (shared data)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--plogp-variants",
        nargs="+",
        choices=list(PLOGP_RUNS),
        default=list(PLOGP_RUNS),
        help="plogp task: the variants to run; the results file keeps the others' earlier results "
        "(the unconstrained one takes minutes per seed: its molecules grow to thousands of atoms)",
    )
    parser.add_argument(
        "--add-seeds",
        action="store_true",
        help="constrained task: keep the results file's runs of other seeds and report the mean "
        "over all of them (e.g. --tasks constrained --seeds 2 --add-seeds after seeds 0 1)",
    )
    args = parse_args(parser, argv)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    budget = args.budget or (100 if args.quick else 500)
    qed_budget = args.budget or (100 if args.quick else 300)
    n_molecules = args.molecules or (30 if args.quick else 800)
    if not args.data.exists():
        parser.error(f"{args.data} not found (the shared ZINC250k file)")
    t0 = time.perf_counter()
    model = MolVAE.load()
    zinc = Zinc(args.data, model)
    result = {
        "molvae": __version__,
        "hardware": hardware(),
        "seeds": seeds,
        "budget": budget,
        "qed_budget": qed_budget,
        "quick": args.quick,
    }
    stem = "optimization_quick" if args.quick else "optimization"
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / f"{stem}.json"
    if set(args.tasks) != {"qed", "plogp", "constrained"} and previous.exists():
        kept = json.loads(previous.read_text())  # a run of some tasks keeps the others' results
        result = {
            **{k: v for k, v in kept.items() if k in ("qed", "qed_prior_start", "plogp", "constrained")},
            **result,
        }

    def save() -> None:  # after every task, so a long run that is stopped keeps what it finished
        runs = [r for r in result.get("qed", {}).get("runs", [])]
        runs += result["plogp"].get("sized", {}).get("runs", []) if "plogp" in result else []
        if runs:
            result["seconds_per_500_calls"] = round(float(np.mean([500 * r["seconds"] / r["calls"] for r in runs])), 1)
        result["total_seconds"] = round(time.perf_counter() - t0, 1)
        (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(markdown(result))

    if "qed" in args.tasks:
        result["qed"] = run_qed(model, zinc, qed_budget, seeds)
        result["qed_prior_start"] = run_qed(model, zinc, qed_budget, seeds, start="prior")
        save()
    if "plogp" in args.tasks:
        for variant in args.plogp_variants:  # saved after each, so a stopped run keeps the variants it finished
            result["plogp"] = {**result.get("plogp", {}), **run_plogp(model, zinc, budget, seeds, [variant])}
            save()
    if "constrained" in args.tasks:
        new = run_constrained(model, zinc, n_molecules, seeds)
        earlier = result.get("constrained", {})
        if args.add_seeds and earlier.get("n_molecules") == new["n_molecules"]:
            runs = sorted({r["seed"]: r for r in earlier["runs"] + new["runs"]}.values(), key=lambda r: r["seed"])
            new = {
                **new,
                "runs": runs,
                "improvement": mean_sd([r["improvement_mean"] for r in runs]),
                "success_rate": mean_sd([r["success_rate"] for r in runs]),
            }
        result["constrained"] = new
        save()
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

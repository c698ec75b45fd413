#!/usr/bin/env python
"""Model ablations for the v2 model, measured on the ZINC250k *valid* split (never test).

Each arm is a training recipe (registry ``ARMS``) run from a warm start or from scratch on a
seeded subset of the train split; every arm is then judged the same way on valid molecules:
raw prior samples (no filter) decoded greedily and with token sampling, from N(0, I) and from a
mixture prior fitted to the aggregate posterior (:mod:`molvae.models.prior`), with FCD to valid
molecules, the radical and sanity rates beside the valid split's own, mean heavy atoms, uniqueness,
and greedy reconstruction of valid molecules.

    python benchmarks/model_ablation.py train ARM [ARM ...]   # run dirs under --runs (outside the repo)
    python benchmarks/model_ablation.py evaluate ARM [ARM ...] # -> results/model_ablation.json and .md
    python benchmarks/model_ablation.py --list                 # the arms

The arm "v1" is the bundled model as shipped (nothing trained).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEFAULT_DATA, RESULTS, hardware, save_results  # noqa: E402

from molvae import MolVAE, chem  # noqa: E402
from molvae.config import RunConfig  # noqa: E402
from molvae.evaluation.metrics import chemistry_metrics, fcd, reconstruction_accuracy, unique_at  # noqa: E402
from molvae.pretrained import default_model_path  # noqa: E402
from molvae.training.loop import train  # noqa: E402

DEFAULT_RUNS = HERE.parent.parent / "runs" / "ablation"
BASE_CONFIG = HERE.parent / "scripts" / "zinc250k.toml"


@dataclass(frozen=True)
class Arm:
    """One recipe: overrides of the bundled model's config, and whether to warm-start from it."""

    description: str
    train: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    warm_start: bool = True
    train_rows: int = 100_000
    run_dir: str | None = None  # a full training run (under --runs) judged at its best.pt instead
    bundled: str | None = None  # a bundled model judged as shipped instead


ARMS: dict[str, Arm] = {
    "v1": Arm("the bundled v1 model as shipped (beta 0.05, 10 epochs)", train_rows=0),
    "warm_b0.05": Arm(
        "v1 warm start, beta 0.05 held, lr 3e-4 (150 warm-up steps)",
        {
            "beta": 0.05,
            "kl_schedule": "constant",
            "learning_rate": 3e-4,
            "min_learning_rate": 1e-4,
            "warmup_steps": 150,
        },
    ),
    "warm_b0.2": Arm(
        "v1 warm start, beta 0.2, lr 3e-4 (150 warm-up steps)",
        {"beta": 0.2, "kl_schedule": "constant", "learning_rate": 3e-4, "min_learning_rate": 1e-4, "warmup_steps": 150},
    ),
    "warm_b0.5": Arm(
        "v1 warm start, beta 0.5, lr 3e-4 (150 warm-up steps)",
        {"beta": 0.5, "kl_schedule": "constant", "learning_rate": 3e-4, "min_learning_rate": 1e-4, "warmup_steps": 150},
    ),
    "v2_run": Arm(
        "v1 warm start on the whole train split, beta 0.3, 5 epochs (scripts/zinc250k_v2.toml)",
        train_rows=0,
        run_dir="v2_after5",
    ),
    "v2": Arm(
        "the opt-in v2 model as shipped in molvae 0.2 (the v2_run arm's weights, packaged; no longer "
        "bundled: git show 6cad863:molvae/pretrained/zinc250k_selfies_v2.pt)",
        train_rows=0,
        bundled="zinc250k_selfies_v2",
    ),
    "v2_run_e9": Arm(
        "the same run continued to 9 epochs (--resume --epochs 10; best.pt is epoch 9)", train_rows=0, run_dir="v2"
    ),
    "v3_e1": Arm(
        "the sampler run (v2 weights, beta 1 held, lr 3e-4, bf16; scripts/zinc250k_sampler.toml) after epoch 1",
        train_rows=0,
        run_dir="v3_ckpts/e1",
    ),
    "v3_e6": Arm("the same run after epoch 6 (copy of last.pt)", train_rows=0, run_dir="v3_ckpts/e6"),
    "sampler_e12": Arm(
        "the same run at its best.pt (epoch 12 of 13 by validation loss), shipped as zinc250k_selfies_sampler",
        train_rows=0,
        bundled="zinc250k_selfies_sampler",
    ),
    "sampler_cont": Arm(
        "the shipped sampler warm-started again: 6 more epochs, lr 1.5e-4 -> 1.5e-5 (100 warm-up "
        "steps), otherwise scripts/zinc250k_sampler.toml; judged at its best.pt, packaged as "
        "zinc250k_selfies_sampler in molvae 0.3 (git show e9a6bc4:molvae/pretrained/"
        "zinc250k_selfies_sampler.pt)",
        train_rows=0,
        run_dir="v3b",
    ),
    "wide": Arm(
        "that sampler grown to a 768-unit decoder (train --grow-decoder 768; "
        "scripts/zinc250k_sampler_wide.toml, lr 3e-4 -> 2e-5; a 16-epoch run resumed after epoch 5 with "
        "--epochs 12), judged at its best.pt",
        train_rows=0,
        run_dir="w2",
    ),
    "wide_cont": Arm(
        "the 768-unit sampler as packaged in molvae 0.4 warm-started again (--init): 4 epochs of "
        "scripts/zinc250k_sampler_wide.toml with lr 1e-4 -> 1e-5 (100 warm-up steps), judged at its best.pt",
        train_rows=0,
        run_dir="w3",
    ),
    "xl": Arm(
        "the shipped 768-unit sampler grown to a 1024-unit decoder (train --grow-decoder 1024; "
        "scripts/zinc250k_sampler_xl.toml: 12 epochs, lr 3e-4 -> 2e-5), judged at its best.pt",
        train_rows=0,
        run_dir="x1",
    ),
    "xl_cont": Arm(
        "the xl arm's best.pt warm-started again (--init): 12 epochs of scripts/zinc250k_sampler_xl.toml "
        "with lr 1.5e-4 -> 1e-5, seed 1, judged at its best.pt",
        train_rows=0,
        run_dir="x2",
    ),
    "xl_augment": Arm(
        "the xl_cont arm's best.pt warm-started with SMILES enumeration (--init ... --augment 0.5: half "
        "the training molecules of each epoch from a random SMILES): 16 epochs of "
        "scripts/zinc250k_sampler_xl.toml with lr 1e-4 -> 5e-6, seed 4, judged at its best.pt "
        "(epoch 5 of 16 when last evaluated; FCD 3.22 after epoch 2)",
        train_rows=0,
        run_dir="x5",
    ),
    "xl_ema": Arm(
        "the xl_cont arm's best.pt warm-started with weight averaging (--init ... --ema-decay 0.999): "
        "scripts/zinc250k_sampler_xl.toml with lr 5e-5 -> 1e-5 over 5 epochs, seed 5, stopped after 3 "
        "(validation loss 23.684 against 23.676), judged at its best.pt (epoch 3, the averaged weights)",
        train_rows=0,
        run_dir="x6",
    ),
    "deep": Arm(
        "a three-layer 512-unit GRU decoder with dropout 0.2 trained from scratch with a moving average of "
        "the weights (scripts/zinc250k_sampler_deep.toml: 30 epochs, lr 1e-3 -> 1e-5), judged at its "
        "best.pt",
        train_rows=0,
        run_dir="d1",
    ),
    "bundled_sampler": Arm(
        "the bundled zinc250k_selfies_sampler as packaged (with its stored decoding settings), "
        "judged beside a candidate in the same run",
        train_rows=0,
        bundled="zinc250k_selfies_sampler",
    ),
    "xxl": Arm(
        "the shipped 1024-unit sampler grown to a 1280-unit decoder (train --grow-decoder 1280; "
        "scripts/zinc250k_sampler_xxl.toml: 6 epochs planned, lr 2e-4 -> 1e-5, weight averaging 0.999, "
        "seed 2; stopped after 4), judged at its best.pt (epoch 3, the averaged weights)",
        train_rows=0,
        run_dir="g1",
    ),
    "gpu_gru1024": Arm(
        "a one-layer 1024-unit GRU decoder trained from scratch on one H200 GPU "
        "(scripts/zinc250k_sampler_gru1024.toml through scripts/device_train.py: 31 epochs in 8 "
        "minutes, lr 1e-3 -> 1e-5, dropout 0.2, weight averaging 0.999), judged at its best.pt",
        train_rows=0,
        run_dir="gpu_gru1024",
    ),
    "gpu_deep768": Arm(
        "a three-layer 768-unit GRU decoder with dropout 0.3 trained from scratch on one H200 GPU "
        "(scripts/zinc250k_sampler_deep768.toml through scripts/device_train.py: 27 epochs in 8 "
        "minutes, lr 1e-3 -> 1e-5, weight averaging 0.999; then resumed with --epochs 39, the cosine "
        "stretched from epoch 27), judged at its best.pt (epoch 39); shipped as the 0.5 sampler",
        train_rows=0,
        run_dir="gpu_deep768",
    ),
    "latent_v3": Arm(
        "the bundled latent model (v1) warm-started again on the whole train split: beta 0.05 held, "
        "lr 5e-4 -> 1e-5 cosine over 10 epochs (200 warm-up steps), batch 512, seed 3, one CPU thread "
        "(scripts/zinc250k_latent_v3.toml), judged at its best.pt",
        train_rows=0,
        run_dir="latent_v3",
    ),
}


def subset_file(data: Path, rows: int, seed: int, out: Path) -> Path:
    """A CSV with ``rows`` seeded train rows and every valid row (test rows left out)."""
    if out.exists():
        return out
    frame = pd.read_csv(data)
    train_rows = frame[frame["split"] == "train"].sample(n=rows, random_state=seed)
    pd.concat([train_rows, frame[frame["split"] == "valid"]]).to_csv(out, index=False)
    return out


def run_arm(name: str, args: argparse.Namespace) -> None:
    arm = ARMS[name]
    if not arm.train_rows:
        return
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    data = subset_file(Path(args.data), arm.train_rows, args.seed, runs / f"subset_{arm.train_rows}.csv")
    cfg = RunConfig.from_toml(BASE_CONFIG)
    cfg = cfg.override("train", epochs=1, recon_eval_size=500, seed=args.seed, num_threads=args.threads, **arm.train)
    if arm.model:
        cfg = cfg.override("model", **arm.model)
    t0 = time.perf_counter()
    train(data, runs / name, cfg, progress=False, init=default_model_path() if arm.warm_start else None)
    (runs / name / "seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")


def load_arm(name: str, runs: Path) -> MolVAE:
    arm = ARMS[name]
    if arm.bundled:
        return MolVAE.load(arm.bundled)
    if arm.run_dir:
        return MolVAE.load(runs.parent / arm.run_dir / "best.pt")
    return MolVAE.load(default_model_path() if not arm.train_rows else runs / name / "last.pt")


def evaluate_arm(
    name: str,
    model: MolVAE,
    valid: list[str],
    train_sample: list[str],
    n: int,
    seed: int,
    ref_profile: dict,
    ring_limits: tuple[int, ...] = (),
    shipped_only: bool = False,
    temperatures: tuple[float, ...] = (0.0, 1.0),
    priors: tuple[str, ...] = ("standard", "fitted"),
    raw: bool = True,
    index_temperatures: tuple[float | None, ...] = (None,),
) -> dict:
    out: dict = {"arm": name, "description": ARMS[name].description}
    t0 = time.perf_counter()
    enc, decoded = model.reconstruct(valid[:1000])
    out["reconstruction"] = reconstruction_accuracy(enc.smiles, decoded)
    mu, lv = enc.mu[enc.valid], enc.logvar[enc.valid]
    out["kl"] = float(0.5 * np.mean(np.sum(mu**2 + np.exp(lv) - 1 - lv, axis=1)))
    if "fitted" in priors or shipped_only:
        model.fit_prior(train_sample, n_components=16, seed=seed)
    out["variants"] = {}
    for prior in ("fitted",) if shipped_only else priors:
        z = model.sample_prior(n, seed=seed, prior=prior)
        for temperature, index_t in (
            [(0.0, None)]
            if shipped_only
            else [(t, i) for t in temperatures for i in (index_temperatures if t > 0 else (None,))]
        ):
            t1 = time.perf_counter()
            versions, ring_seconds = {}, {}
            seconds = 1.0
            name_t = f"T={temperature:g}" + ("" if index_t is None else f",sizes T={index_t:g}")
            if raw:
                res = model.decode_detailed(
                    z, temperature=temperature, seed=seed, repair=False, index_temperature=index_t
                )
                seconds = time.perf_counter() - t1
                versions[""] = res.smiles
                versions["+repair"] = chem.canonicalize_decoded(res.raw)[0]  # under-bonded atoms read as plain
            for limit in ring_limits:  # decoded again with larger rings masked (molvae.models.ring_limit)
                t1 = time.perf_counter()
                versions[f"+repair+rings<={limit}"] = model.decode_detailed(
                    z, temperature=temperature, seed=seed, max_ring=limit, index_temperature=index_t
                ).smiles
                ring_seconds[f"+repair+rings<={limit}"] = time.perf_counter() - t1
            for suffix, samples in versions.items():
                valid_samples = [s for s in samples if s is not None]
                row = {
                    "validity": len(valid_samples) / n,
                    "unique": unique_at(samples, n),
                    "fcd": fcd(valid_samples, valid[:n]),
                    "decode_mol_per_s": n / ring_seconds.get(suffix, seconds),
                }
                row.update(chemistry_metrics(samples, reference_profile=ref_profile))
                out["variants"][f"{prior}/{name_t}{suffix}"] = row
                logging.info(
                    "%s %s %s%s: %s",
                    name,
                    prior,
                    name_t,
                    suffix,
                    {k: round(v, 4) for k, v in row.items() if isinstance(v, float)},
                )
    out["seconds"] = time.perf_counter() - t0
    return out


def markdown(results: list[dict], n: int) -> str:
    lines = [
        f"# Model ablation on the ZINC250k valid split ({n} raw samples per row; FCD to {n} valid molecules)",
        "",
        "| arm | prior / decoding | FCD | radicals | sanity (valid split) | heavy atoms (valid split) "
        "| unique | validity | recon (1k valid) | KL |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for variant, v in r["variants"].items():
            lines.append(
                f"| {r['arm']} | {variant} | {v['fcd']:.2f} | {v['radicals']:.3f} | {v['sanity']:.3f} "
                f"({v['ref_sanity']:.3f}) | {v['heavy_atoms']:.1f} ({v['ref_heavy_atoms']:.1f}) | "
                f"{v['unique']:.3f} | {v['validity']:.4f} | {r['reconstruction']:.3f} | {r['kl']:.1f} |"
            )
    lines += ["", "Arms: " + "; ".join(f"`{r['arm']}`: {r['description']}" for r in results), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=("train", "evaluate"))
    p.add_argument("arms", nargs="*", metavar="ARM")
    p.add_argument("--list", action="store_true", help="list the arms and exit")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--runs", default=str(DEFAULT_RUNS), help="run directories (keep them outside the repository)")
    p.add_argument("-n", "--samples", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stem", default="model_ablation")
    p.add_argument(
        "--greedy-fitted-only",
        action="store_true",
        help="evaluate only the shipped decoding (fitted prior, greedy) and its repair and ring-limit "
        "variants; the arm's other rows are kept from the results file",
    )
    p.add_argument(
        "--temperatures",
        type=float,
        nargs="+",
        default=[0.0, 1.0],
        metavar="T",
        help="decoding temperatures to judge (0 = greedy; default: 0 1)",
    )
    p.add_argument(
        "--index-temperatures",
        type=lambda v: None if v == "same" else float(v),
        nargs="+",
        default=[None],
        metavar="T",
        help="with a temperature > 0, judge each of these temperatures of ring and branch sizes "
        "(SELFIES index tokens; 'same': the temperature itself; default: same)",
    )
    p.add_argument(
        "--priors",
        nargs="+",
        default=["standard", "fitted"],
        choices=["standard", "fitted"],
        help="where latent points are drawn (default: both)",
    )
    p.add_argument(
        "--shipped-decoding-only",
        action="store_true",
        help="skip the decodes without the ring limit (only the +repair+rings<=N rows)",
    )
    p.add_argument(
        "--ring-limits",
        type=int,
        nargs="*",
        default=[8, 7, 6],
        metavar="N",
        help="also decode the fitted-prior greedy samples with rings over N atoms masked, for each N",
    )
    p.add_argument(
        "--checkpoint",
        nargs=2,
        action="append",
        default=[],
        metavar=("ARM", "DIR"),
        help="also judge DIR/best.pt (a run directory, or a copy of one epoch's last.pt) as arm ARM",
    )
    args = p.parse_args(argv)
    for name, path in args.checkpoint:
        ARMS[name] = Arm(
            f"checkpoint {Path(path).name}/best.pt of a full training run",
            train_rows=0,
            run_dir=str(Path(path).resolve()),
        )
        args.arms.append(name)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.list or not args.action:
        for name, arm in ARMS.items():
            print(f"{name:14s} {arm.description}")
        return 0
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown or not args.arms:
        p.error(f"name arms from: {', '.join(ARMS)}")
    if args.action == "train":
        for name in args.arms:
            run_arm(name, args)
        return 0
    frame = pd.read_csv(args.data)
    valid = chem.canonicalize_many(frame.loc[frame["split"] == "valid", "smiles"].tolist())[0]
    valid = [s for s in valid if s is not None]
    train_sample = frame.loc[frame["split"] == "train", "smiles"].sample(n=20000, random_state=args.seed).tolist()
    ref_profile = chem.chemistry_profile(valid[: args.samples])
    results = [
        evaluate_arm(
            a,
            load_arm(a, Path(args.runs)),
            valid,
            train_sample,
            args.samples,
            args.seed,
            ref_profile,
            tuple(args.ring_limits),
            args.greedy_fitted_only,
            tuple(args.temperatures),
            tuple(args.priors),
            not args.shipped_decoding_only,
            tuple(args.index_temperatures),
        )
        for a in args.arms
    ]
    previous = RESULTS / f"{args.stem}.json"
    merged = {r["arm"]: r for r in (json.loads(previous.read_text())["arms"] if previous.exists() else [])}
    for r in results:  # an arm measured again keeps its earlier variants that were not re-run
        r["variants"] = {**merged.get(r["arm"], {}).get("variants", {}), **r["variants"]}
        merged[r["arm"]] = r
    ordered = [merged[a] for a in ARMS if a in merged]
    save_results(
        RESULTS,
        args.stem,
        {"split": "valid", "samples": args.samples, "hardware": hardware(), "arms": ordered},
        markdown(ordered, args.samples),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

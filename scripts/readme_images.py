#!/usr/bin/env python
"""Draw the pictures shown in docs/cli.md ("Pictures and reports") with the bundled models (CPU, about
a minute on 2 cores).

    python scripts/readme_images.py                  # writes docs/images/*.png

latent_map.png: the 2,000 molecules of data/moses_sample.csv encoded and projected with PCA,
coloured by QED (the latent model); samples.png: the first 20 of 1,000 raw samples as `molvae sample`
draws them (the sampler); properties.png: those 1,000 samples vs. the MOSES sample; training_curves.png:
the bundled model's training (benchmarks/results/zinc250k_training_metrics.csv).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from molvae import MolVAE, api, chem
from molvae.pretrained import default_model_path
from molvae.viz import plots
from molvae.viz.drawing import molecule_grid

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(ROOT / "docs" / "images"), help="folder (default: docs/images)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    model = MolVAE.load()
    data = pd.read_csv(ROOT / "data" / "moses_sample.csv")["smiles"].tolist()

    enc = model.encode(data)
    qed = chem.compute_properties(enc.smiles, ["qed"])[:, 0]
    plots.latent_map(enc.mu, qed, out / "latent_map.png", "qed", method="pca", seed=args.seed)

    frame = api.sample(MolVAE.load(default_model_path("sample")), 1000, seed=args.seed)  # `molvae sample` defaults
    samples = [s if ok else None for s, ok in zip(frame["smiles"], frame["valid"])]
    novel = frame["novel"].to_numpy() if "novel" in frame else None
    shown = [(i, s) for i, s in enumerate(samples) if s is not None][:20]
    props = chem.compute_properties([s for _, s in shown], ["qed", "logp"])
    legends = [
        f"QED {q:.2f}  logP {lp:.2f}" + ("" if novel is None else "\nnovel" if novel[i] else "\nin training set")
        for (i, _), (q, lp) in zip(shown, props)
    ]
    molecule_grid([s for _, s in shown], legends, out / "samples.png", mols_per_row=5, size=200)
    plots.property_distributions(
        samples, data, out / "properties.png", labels=("raw samples, bundled sampler", "MOSES sample")
    )

    metrics = ROOT / "benchmarks" / "results" / "zinc250k_training_metrics.csv"
    if metrics.exists():
        plots.training_curves(metrics, out / "training_curves.png", title="Training of the bundled model (ZINC250k)")
    for path in sorted(out.glob("*.png")):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Store training-latent statistics and a calibrated outlier threshold in a checkpoint.

The latent mean/covariance come from --n-stats training molecules; the thresholds (neg ELBO and
Mahalanobis distance at --quantile) from --n-heldout other training molecules. Only rows of the
`train` split are used (valid and test stay untouched).

    python scripts/calibrate_outliers.py ../shared/data/zinc250k.csv.gz molvae/pretrained/zinc250k_selfies.pt
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from molvae import MolVAE
from molvae.evaluation.scoring import fit_outlier_reference
from molvae.io import read_molecules
from molvae.models import checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="training molecules (a `split` column selects the `train` rows)")
    parser.add_argument("checkpoint", help="checkpoint to update in place")
    parser.add_argument("--n-stats", type=int, default=20000)
    parser.add_argument("--n-heldout", type=int, default=5000)
    parser.add_argument("--quantile", type=float, default=0.99)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    table = read_molecules(args.data)
    smiles = table.smiles
    if "split" in table.frame.columns:
        smiles = [s for s, split in zip(smiles, table.frame["split"]) if split == "train"]
    order = np.random.default_rng(args.seed).permutation(len(smiles))
    stats = [smiles[i] for i in order[: args.n_stats]]
    heldout = [smiles[i] for i in order[args.n_stats : args.n_stats + args.n_heldout]]
    model = MolVAE.load(args.checkpoint)
    ref = fit_outlier_reference(model, stats, heldout, args.quantile, args.seed)
    logging.info(
        "latent statistics from %d molecules; neg ELBO threshold %.2f nats, Mahalanobis %.2f "
        "(%.0f%% of %d held-out training molecules below)",
        ref.n,
        ref.threshold,
        ref.mahalanobis_threshold,
        100 * ref.quantile,
        len(heldout),
    )
    ckpt = checkpoint.read(args.checkpoint)
    ckpt["extras"]["outlier_reference"] = ref.to_dict()
    checkpoint.write(args.checkpoint, ckpt)
    MolVAE.load(args.checkpoint)  # still loads with weights_only=True
    return 0


if __name__ == "__main__":
    sys.exit(main())

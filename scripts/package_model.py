#!/usr/bin/env python
"""Copy a trained checkpoint into the package as the bundled model.

Keeps the weights, config, vocabulary, scaler and metadata; drops optimizer state; stores 64-bit
hashes of the training molecules (so `molvae sample` reports novelty without the data) and a
Gaussian-mixture prior fitted to where the encoder puts training molecules (molvae.models.prior); refuses a
result over 25 MB. With --half, floating-point weights are stored as float16 (half the file; loading
casts them back to float32, and decoding runs its matrix products in bfloat16, coarser still).

    python scripts/package_model.py runs/zinc250k/best.pt --data ../shared/data/zinc250k.csv.gz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from molvae import MolVAE
from molvae.models import checkpoint
from molvae.pretrained import BUNDLED_MODEL

MAX_BYTES = 25 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="the training file (with a split column)")
    parser.add_argument("--output", type=Path, default=BUNDLED_MODEL)
    parser.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="decoding temperature 'molvae sample' uses by default with this model (0: greedy); "
        "choose it on the valid split (benchmarks/model_ablation.py)",
    )
    parser.add_argument(
        "--index-temperature",
        type=float,
        default=None,
        help="with --temperature > 0: the temperature of ring and branch sizes (SELFIES index tokens; "
        "default: the same as --temperature); chosen on the valid split too",
    )
    parser.add_argument(
        "--prior-components",
        type=int,
        default=16,
        help="components of the Gaussian mixture fitted to the aggregate posterior (0: none)",
    )
    parser.add_argument(
        "--prior-molecules",
        type=int,
        default=50000,
        help="training molecules (seeded random subset) encoded to fit the prior",
    )
    parser.add_argument(
        "--half",
        action="store_true",
        help="store floating-point weights as float16 (loading casts them back to float32)",
    )
    args = parser.parse_args(argv)
    if args.index_temperature is not None and (args.index_temperature < 0 or args.temperature <= 0):
        parser.error("--index-temperature must be >= 0 and needs --temperature > 0")
    model = MolVAE.load(args.checkpoint)
    data = pd.read_csv(args.data, keep_default_na=False, na_filter=False)
    train = data[data["split"] == "train"]["smiles"].tolist() if "split" in data else data["smiles"].tolist()
    model.set_training_set([s for s in model.prepare(train).canonical if s])
    model.metadata["packaged_from"] = args.checkpoint.name
    model.metadata["sampling"] = {"temperature": args.temperature}
    if args.index_temperature is not None:
        model.metadata["sampling"]["index_temperature"] = args.index_temperature
    if args.prior_components:
        subset = pd.Series(train).sample(n=min(args.prior_molecules, len(train)), random_state=0).tolist()
        model.fit_prior(subset, n_components=args.prior_components, seed=0)
        model.metadata["prior"] = {"components": args.prior_components, "molecules": len(subset)}
    ckpt = model.to_checkpoint()
    checkpoint.write(args.output, checkpoint.half_precision(ckpt) if args.half else ckpt)
    size = args.output.stat().st_size
    if size > MAX_BYTES:
        args.output.unlink()
        sys.exit(f"{args.output} would be {size / 1e6:.1f} MB, over the 25 MB limit")
    print(f"wrote {args.output} ({size / 1e6:.1f} MB; {len(model.training_hashes)} training hashes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

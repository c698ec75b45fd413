#!/usr/bin/env python
"""Fetch the MOSES dataset (Polykovskiy et al. 2020, MIT licence) and optionally write a sample.

The `molsets` wheel on PyPI carries the dataset as package data; the package itself no longer installs
on a current Python, so we download the wheel without installing it and unpack the CSV files.

    python scripts/fetch_moses.py --output data/moses                 # full train/test (1.58 M / 176 k)
    python scripts/fetch_moses.py --output data --sample 2000 --seed 0  # a small sample (data/moses_sample.csv)
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "molsets==0.3.1"
FILES = {"train": "moses/dataset/data/train.csv.gz", "test": "moses/dataset/data/test.csv.gz"}


def download_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(dest)], check=True)
    wheels = sorted(dest.glob("molsets-*.whl"))
    if not wheels:
        raise SystemExit("pip download did not produce a molsets wheel")
    return wheels[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("data/moses"), help="output folder")
    parser.add_argument("--sample", type=int, default=0, help="write only N random training SMILES (0: full files)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--exclude", type=Path, help="a gzipped CSV whose 'smiles' column must not appear in the sample"
    )
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = zipfile.ZipFile(download_wheel(Path(tmp)))
        if not args.sample:
            for split, member in FILES.items():
                target = args.output / f"moses_{split}.csv.gz"
                target.write_bytes(wheel.read(member))
                print(f"wrote {target}")
            return 0
        lines = gzip.decompress(wheel.read(FILES["train"])).decode().splitlines()[1:]
    excluded: set[str] = set()
    if args.exclude:
        import pandas as pd

        excluded = set(pd.read_csv(args.exclude, usecols=["smiles"])["smiles"])
    rng = np.random.default_rng(args.seed)
    picked = [lines[i] for i in rng.permutation(len(lines)) if lines[i] not in excluded][: args.sample]
    target = args.output / "moses_sample.csv"
    target.write_text("smiles\n" + "\n".join(picked) + "\n")
    print(f"wrote {target} ({len(picked)} molecules)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

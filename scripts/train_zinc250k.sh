#!/usr/bin/env bash
# Train (or resume) the bundled ZINC250k model. Usage:
#   bash scripts/train_zinc250k.sh [DATA] [RUN_DIR] [extra molvae train flags...]
# DATA defaults to ../shared/data/zinc250k.csv.gz (columns smiles, logP, qed, SAS, split).
set -euo pipefail
data=${1:-../shared/data/zinc250k.csv.gz}
run=${2:-runs/zinc250k}
shift $(( $# > 2 ? 2 : $# )) || true
resume=()
[ -f "$run/last.pt" ] && resume=(--resume)
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
exec "$py" -m molvae train "$data" --output "$run" --config scripts/zinc250k.toml "${resume[@]}" "$@"

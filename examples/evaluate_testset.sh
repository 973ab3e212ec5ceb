#!/usr/bin/env bash
# The public test set and every method on it, in one command:
#   examples/evaluate_testset.sh [DATA_DIR] [RESULTS_DIR]
# Generates examples/configs/testset.yaml into DATA_DIR (resuming if it is there), then
# evaluates the default set and the full grid (calibration on/off, oracle/estimated σ,
# σ map, windows of 192/64/32 steps, and the network when its weights are bundled).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-data/testset}"
results="${2:-results}"
[ -x .venv/bin/python ] || ./run setup
export PATH="$PWD/.venv/bin:$PATH"
if [ -f "$data/manifest.yaml" ]; then resume=--resume; else resume=; fi
spikesim generate --config examples/configs/testset.yaml -o "$data" --workers 2 $resume
spikerestore eval "$data" --full-grid -o "$results" --overwrite

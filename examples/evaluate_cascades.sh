#!/usr/bin/env bash
# The paper's tables and montage, ours (issue 20, item 5; docs/cascades.md §5), in one command:
#   examples/evaluate_cascades.sh [PROCEDURAL_DIR] [RESULTS_DIR] [EXTRA EVAL OPTIONS...]
# Evaluates despike (the despike-natural weights), the classical cascades and every learned
# cascade that has weights (bundled under restore/cascades/weights/, or named in the extra
# options as --weights NETWORK=FILE) on data/natural_testset and data/natural_lowlight
# (calibration off and oracle) and on the procedural test set (examples/configs/testset.yaml,
# generated into PROCEDURAL_DIR, default data/testset, when absent; calibration
# $PROCEDURAL_CALIB, default oracle), at windows full, 64 and 32, one `spikerestore eval`
# per (set, calibration, window) into RESULTS_DIR/SET/CALIB/WINDOW (default results/cascades).
# A run whose directory holds the finished results of the same command on the same weights
# (sha256 of every weights file) is skipped, so an interrupted evaluation resumes. Then RESULTS_DIR/tables.md (examples/cascade_tables.py)
# and the montages RESULTS_DIR/montage_SET.png (examples/cascade_montage.py).
# A try on a few samples with intermediate checkpoints (minutes, not hours; WINDOWS picks
# the windows, default "full 64 32"):
#   WINDOWS="full 32" examples/evaluate_cascades.sh data/testset /tmp/try --limit 2 \
#       --weights tfp+gkmnet=runs/cascade_tfp_gkmnet/best.pt
set -euo pipefail
cd "$(dirname "$0")/.."
procedural="${1:-data/testset}"
results="${2:-results/cascades}"
shift $(( $# < 2 ? $# : 2 ))
extra=("$@")
export PATH="$PWD/.venv/bin:$PATH"
despike_weights=restore/despike/weights/despike-natural.pt
methods="despike,tfp,tfi,tfp+wiener,tfp+rl,tfi+wiener,tfi+rl"
weights=(--weights "despike=$despike_weights")
montage_weights=("${weights[@]}")
for m in tfp+gkmnet spk2imgnet spk2imgnet+gkmnet; do       # learned cascades with weights
  given=no
  for ((i = 0; i < ${#extra[@]}; i++)); do
    if [[ "${extra[$i]}" == "--weights" && "${extra[$((i + 1))]:-}" == "$m="* ]]; then
      given=yes; montage_weights+=(--weights "${extra[$((i + 1))]}")
    fi
  done
  if [ "$given" = yes ] || python -c "import sys; from restore.cascades.weights import \
bundled_path; sys.exit(0 if bundled_path(sys.argv[1]).is_file() else 1)" "$m"; then
    methods="$methods,$m"
  else
    echo "note: $m has no weights (bundled or --weights $m=FILE): left out" >&2
  fi
done
manifest="$procedural/manifest.yaml"
if [ ! -f "$manifest" ] || ! grep -q "^complete: true" "$manifest"; then
  resume=$([ -f "$manifest" ] && echo --resume || true)
  spikesim generate --config examples/configs/testset.yaml -o "$procedural" --workers 2 $resume
fi
# the weights every network reads, by content: a bundled or given file that changes (a
# training's best.pt, a new bundle) makes the evaluations that read it run again
weight_files=("$despike_weights" restore/cascades/weights/*.pt)
for ((i = 0; i < ${#extra[@]}; i++)); do
  if [[ "${extra[$i]}" == "--weights" ]]; then weight_files+=("${extra[$((i + 1))]#*=}"); fi
done
fingerprint=$(sha256sum "${weight_files[@]}" 2>/dev/null || true)
evaluate() {   # evaluate NAME DATA CALIB WINDOW
  local out="$results/$1/$3/$4"
  local cmd=(spikerestore eval "$2" --methods "$methods" --windows "$4" --calib-mode "$3"
             "${weights[@]}" "${extra[@]}" -o "$out" --overwrite --montage 0 -qq)
  local key="${cmd[*]}"$'\n'"$fingerprint"
  if [ -f "$out/results.json" ] && [ "$(cat "$out/args.txt" 2>/dev/null)" = "$key" ]; then
    echo "done already: $out"; return
  fi
  echo "evaluating: $out"
  "${cmd[@]}" > "$out.log"
  printf '%s' "$key" > "$out/args.txt"
}
mkdir -p "$results"
for window in ${WINDOWS:-full 64 32}; do
  for calib in off oracle; do
    for name in natural_testset natural_lowlight; do
      mkdir -p "$results/$name/$calib"
      evaluate "$name" "data/$name" "$calib" "$window"
    done
  done
  mkdir -p "$results/procedural/${PROCEDURAL_CALIB:-oracle}"
  evaluate procedural "$procedural" "${PROCEDURAL_CALIB:-oracle}" "$window"
done
python examples/cascade_tables.py "$results"
for name in natural_testset natural_lowlight; do
  python examples/cascade_montage.py "data/$name" -o "$results/montage_$name.png" \
    "${montage_weights[@]}"
done
python examples/cascade_montage.py "$procedural" -o "$results/montage_procedural.png" \
  "${montage_weights[@]}"

#!/usr/bin/env bash
# The paper's tables and montage, ours (issue 20, item 5; docs/cascades.md §5), in one command:
#   examples/evaluate_cascades.sh [PROCEDURAL_DIR] [RESULTS_DIR] [EXTRA EVAL OPTIONS...]
# Evaluates despike (its bundled default weights, or --weights despike=FILE), TFP, TFI and the classical cascades, and
# every learned cascade that has weights (bundled under restore/cascades/weights/, or named
# in the extra options as --weights NETWORK=FILE) on data/natural_testset and
# data/natural_lowlight (calibration off and oracle) and on the procedural test set
# (examples/configs/testset.yaml, generated into PROCEDURAL_DIR, default data/testset, when
# absent; calibration $PROCEDURAL_CALIB, default oracle), at windows full, 64 and 32: one
# `spikerestore eval` per (set, calibration, window, group) into
# RESULTS_DIR/SET/CALIB/WINDOW/GROUP (default results/cascades), the groups being despike,
# classical and each learned cascade. A group whose directory holds the finished results of
# the same command on the same weights (sha256 of the file each network reads) is skipped:
# an interrupted evaluation resumes, and a cascade bundled later adds only its own runs.
# Then RESULTS_DIR/tables.md (examples/cascade_tables.py) and the montages
# RESULTS_DIR/montage_SET.png (examples/cascade_montage.py). Extra options go to every
# `spikerestore eval` (e.g. --device cuda); WINDOWS picks the windows (default "full 64 32").
# A try on a few samples with intermediate checkpoints (minutes, not hours):
#   WINDOWS="full 32" examples/evaluate_cascades.sh data/testset /tmp/try --limit 2 \
#       --weights tfp+gkmnet=runs/cascade_tfp_gkmnet/best.pt
set -euo pipefail
cd "$(dirname "$0")/.."
procedural="${1:-data/testset}"
results="${2:-results/cascades}"
shift $(( $# < 2 ? $# : 2 ))
extra=() given=()            # extra eval options; the --weights among them, apart
while (( $# )); do
  if [[ "$1" == "--weights" && $# -ge 2 ]]; then given+=("$2"); shift 2
  else extra+=("$1"); shift; fi
done
export PATH="$PWD/.venv/bin:$PATH"
weights_of() {   # weights_of METHOD: the file the method reads (given, else bundled)
  local w
  for w in "${given[@]}"; do [[ "$w" == "$1="* ]] && { echo "${w#*=}"; return; }; done
  python -c "import os, sys
from restore.cascades.weights import bundled_path
from restore.despike.weights import bundled_weights_path
m = sys.argv[1]
print(os.path.relpath(bundled_weights_path() if m == 'despike' else bundled_path(m)))" "$1"
}                # relative: the keys below move with the checkout
despike_weights=$(weights_of despike)
groups=(despike classical)
declare -A group_methods=([despike]=despike
                          [classical]="tfp,tfi,tfp+wiener,tfp+rl,tfi+wiener,tfi+rl")
declare -A group_weights=([despike]="$despike_weights" [classical]="")
montage_methods="tfp,tfp+rl"
montage_weights=(--weights "despike=$despike_weights")
for m in tfp+gkmnet spk2imgnet spk2imgnet+gkmnet; do       # learned cascades with weights
  file=$(weights_of "$m")
  if [ -f "$file" ]; then
    groups+=("$m"); group_methods[$m]="$m"; group_weights[$m]="$file"
    montage_methods+=",$m"; montage_weights+=(--weights "$m=$file")
  else
    echo "note: $m has no weights (bundled or --weights $m=FILE): left out" >&2
  fi
done
montage_methods+=",despike"
manifest="$procedural/manifest.yaml"
if [ ! -f "$manifest" ] || ! grep -q "^complete: true" "$manifest"; then
  resume=$([ -f "$manifest" ] && echo --resume || true)
  spikesim generate --config examples/configs/testset.yaml -o "$procedural" --workers 2 $resume
fi
evaluate() {   # evaluate NAME DATA CALIB WINDOW GROUP
  local out="$results/$1/$3/$4/$5" file="${group_weights[$5]}"
  local cmd=(spikerestore eval "$2" --methods "${group_methods[$5]}" --windows "$4"
             --calib-mode "$3" "${extra[@]}" -o "$out" --overwrite --montage 0 -qq)
  if [ -n "$file" ]; then cmd+=(--weights "${group_methods[$5]}=$file"); fi
  local key    # the command and its weights' sha256 ($(...) drops the trailing newline)
  key=$(printf '%s\n' "${cmd[*]}"; if [ -n "$file" ]; then sha256sum "$file"; fi)
  if [ -f "$out/results.json" ] && [ "$(cat "$out/args.txt" 2>/dev/null)" = "$key" ]; then
    echo "done already: $out"; return
  fi
  echo "evaluating: $out"
  mkdir -p "$out"
  "${cmd[@]}" > "$out.log"
  printf '%s' "$key" > "$out/args.txt"
}
for window in ${WINDOWS:-full 64 32}; do
  for group in "${groups[@]}"; do
    for calib in off oracle; do
      for name in natural_testset natural_lowlight; do
        evaluate "$name" "data/$name" "$calib" "$window" "$group"
      done
    done
    evaluate procedural "$procedural" "${PROCEDURAL_CALIB:-oracle}" "$window" "$group"
  done
done
python examples/cascade_tables.py "$results"
for name in natural_testset natural_lowlight procedural; do
  data="data/$name"; [ "$name" = procedural ] && data="$procedural"
  python examples/cascade_montage.py "$data" -o "$results/montage_$name.png" \
    --methods "$montage_methods" "${montage_weights[@]}"
done

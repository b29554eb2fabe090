#!/usr/bin/env bash
# The main job: installs what is missing, builds, checks the builtin cells against the
# reference values, then trains the sentiment model (Embedding -> recurrent cell ->
# Dense) with the lstm, gru, peephole and cifg cells, prints a table (cell, the path
# its sequences ran, test accuracy, training examples/s), saves the best model and predicts
# three review sentences with it.
#   tools/demo.sh [--quick]     (--quick: 3 epochs per cell instead of 10)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
EPOCHS=10
[[ ${1:-} == --quick ]] && EPOCHS=3
tools/setup.sh
bazel build //tools:gatefuse //tools:tiny_lstm_demo
GF=bazel-bin/tools/gatefuse
# OpenMP threads that spin while waiting are fastest on idle cores but up to 20x
# slower when another process shares the 2 cores; passive waiting is steady.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
OUT=${GATEFUSE_DEMO_OUT:-/tmp/gatefuse-demo}
mkdir -p "$OUT"

echo "== gatefuse refcheck --path tape (cells from generic ops vs independent reference values)"
"$GF" refcheck --path tape tests/data/reference/*.txt

echo "== a tiny LSTM written with generic ops, on the adding problem (T=20)"
bazel-bin/tools/tiny_lstm_demo

echo "== sentiment: 1000 Amazon review sentences, 80/20 split, seed 1, $EPOCHS epochs per cell"
rows=()
best_acc=-1
best_cell=
for cell in lstm gru peephole cifg; do
  echo "-- $cell"
  "$GF" train --task sentiment --cell "$cell" --epochs "$EPOCHS" --seed 1 \
    --csv "$OUT/sentiment_$cell.csv" --out "$OUT/sentiment_$cell.gfm" | tee "$OUT/$cell.log"
  path=$(sed -n 's/^path: //p' "$OUT/$cell.log")
  acc=$(tail -n 1 "$OUT/$cell.log" | sed -n 's/^final: accuracy=\([0-9.]*\) .*/\1/p')
  # Mean training throughput over the epochs (column 7 of the metrics CSV).
  eps=$(awk -F, 'NR > 1 { s += $7; n++ } END { printf "%.0f", s / n }' "$OUT/sentiment_$cell.csv")
  rows+=("$(printf '%-10s %-15s %-13s %s' "$cell" "$path" "$acc" "$eps")")
  if awk -v a="$acc" -v b="$best_acc" 'BEGIN { exit !(a > b) }'; then
    best_acc=$acc
    best_cell=$cell
  fi
done
baseline=$(tail -n 1 "$OUT/lstm.log" | sed -n 's/.*baseline=//p')

echo
printf '%-10s %-15s %-13s %s\n' cell "path" "test accuracy" "train examples/s"
printf '%s\n' "${rows[@]}"
echo "(majority-class baseline: $baseline)"
cp "$OUT/sentiment_$best_cell.gfm" "$OUT/best.gfm"
echo "best: $best_cell ($best_acc), saved as $OUT/best.gfm"
"$GF" plot "$OUT/sentiment_$best_cell.csv" --out "$OUT/best_curves.png"
echo "training curves of $best_cell: $OUT/best_curves.png"

echo
echo "== gatefuse eval --model $OUT/best.gfm (the test split rebuilt from the model's settings)"
"$GF" eval --model "$OUT/best.gfm"

echo
echo "== gatefuse predict --model $OUT/best.gfm"
for text in \
  "This phone is excellent, the sound is clear and the battery lasts for days." \
  "Worst purchase ever, it broke after two days and support was useless." \
  "At first the headset was awful and kept disconnecting, but after the update it works great and I love it."; do
  printf '%s\n  ' "$text"
  "$GF" predict --model "$OUT/best.gfm" --text "$text"
done

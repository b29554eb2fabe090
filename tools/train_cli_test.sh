#!/usr/bin/env bash
# Smoke test of `gatefuse train | eval | predict | inspect`: bad flags exit 2 with a
# message, a small adding run saves a model that eval, inspect and predict load,
# a .cell cell trains, and a run resumed from a checkpoint ends with the same model
# file, byte for byte, as the uninterrupted run.
#   tools/train_cli_test.sh [path/to/gatefuse]
set -uo pipefail
GF=${1:-bazel-bin/tools/gatefuse}
CELLS=${2:-models/cells}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_usage_error "what the message says" ARGS...
expect_usage_error() {
  local want=$1; shift
  "$GF" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  [[ $rc == 2 ]] || fail "gatefuse $* exited $rc, want 2"
  grep -qF -- "$want" "$TMP/err" || fail "gatefuse $*: stderr lacks '$want': $(cat "$TMP/err")"
}

SMALL=(--task adding --T 8 --train-size 96 --test-size 64 --batch 16 --hidden 6 --seed 3)

expect_usage_error "unknown task 'poetry'" train --task poetry --cell lstm
expect_usage_error "train needs --cell" train --task adding
expect_usage_error "--epochs takes an integer from 1 to 1099511627776, got 'x'" train "${SMALL[@]}" --cell lstm --epochs x
expect_usage_error "--batch takes an integer from 1 to 65536, got '0'" train "${SMALL[@]}" --cell lstm --batch 0
expect_usage_error "--lr takes a number >= 0, got '-1'" train "${SMALL[@]}" --cell lstm --lr -1
expect_usage_error "unknown flag --hiden" train "${SMALL[@]}" --cell lstm --hiden 4
expect_usage_error "lstmm" train "${SMALL[@]}" --cell lstmm
expect_usage_error "nosuch.cell" train "${SMALL[@]}" --cell "$TMP/nosuch.cell"
expect_usage_error "--hidden takes an integer from 1 to 16384, got '99999999'" \
  train "${SMALL[@]}" --cell lstm --hidden 99999999
expect_usage_error "unknown kind 'cosine'" train "${SMALL[@]}" --cell lstm --lr-schedule cosine
expect_usage_error "needs --model" eval
expect_usage_error "usage: gatefuse inspect MODEL" inspect

# A small run with a model file and a CSV.
"$GF" train "${SMALL[@]}" --cell lstm --epochs 2 --out "$TMP/m.gfm" --csv "$TMP/m.csv" \
  >"$TMP/train.out" 2>"$TMP/train.err" || fail "train exited $?: $(cat "$TMP/train.err")"
final=$(tail -n 1 "$TMP/train.out")
[[ $final =~ ^final:\ mse=[0-9.]+\ baseline=[0-9.]+$ ]] || fail "last line of train: '$final'"
grep -qx "fused kernel: lstm" "$TMP/train.out" || fail "train does not print the fused kernel"
grep -qx "path: fused lstm" "$TMP/train.out" || fail "train does not print its path"
[[ $(head -n 1 "$TMP/m.csv") == "epoch,step,train_loss,test_loss,train_mse,test_mse,examples_per_s,seconds" ]] \
  || fail "CSV header: $(head -n 1 "$TMP/m.csv")"
[[ $(wc -l <"$TMP/m.csv") == 3 ]] || fail "CSV has $(wc -l <"$TMP/m.csv") lines, want 3"

"$GF" eval --model "$TMP/m.gfm" >"$TMP/eval.out" 2>&1 || fail "eval exited $?"
[[ $(tail -n 1 "$TMP/eval.out") == "$final" ]] || fail "eval says '$(tail -n 1 "$TMP/eval.out")', train said '$final'"
"$GF" inspect "$TMP/m.gfm" >"$TMP/inspect.out" 2>&1 || fail "inspect exited $?"
grep -qx "fused kernel on load: lstm" "$TMP/inspect.out" || fail "inspect lacks the fused kernel"
grep -qx "path: fused lstm" "$TMP/inspect.out" || fail "inspect lacks the path"
grep -q "recurrent.l0.fwd.Wi f32\[2,6\] 12" "$TMP/inspect.out" || fail "inspect lacks parameter shapes"
expect_usage_error "works for sentiment and lm" predict --model "$TMP/m.gfm" --text "1 2 3"

# A damaged model file is refused.
head -c 100 "$TMP/m.gfm" >"$TMP/cut.gfm"
expect_usage_error "truncated" eval --model "$TMP/cut.gfm"

# A .cell cell that no pattern matches, stacked and bidirectional.
"$GF" train "${SMALL[@]}" --cell "$CELLS/mgu.cell" --epochs 1 --layers 2 --bidirectional \
  >"$TMP/mgu.out" 2>&1 || fail "train with mgu.cell exited $?: $(cat "$TMP/mgu.out")"
grep -qx "fused kernel: custom" "$TMP/mgu.out" || fail "mgu.cell is not on the custom path"
grep -qx "path: compiled" "$TMP/mgu.out" || fail "mgu.cell does not run the compiled plan"

# The layer-normalised LSTM (reductions over the feature axis, gains initialised to
# 1) trains on the compiled plan and its loss goes down.
"$GF" train "${SMALL[@]}" --cell "$CELLS/ln_lstm.cell" --epochs 3 --csv "$TMP/ln.csv" \
  >"$TMP/ln.out" 2>&1 || fail "train with ln_lstm.cell exited $?: $(cat "$TMP/ln.out")"
grep -qx "path: compiled" "$TMP/ln.out" || fail "ln_lstm.cell does not run the compiled plan: $(grep path: "$TMP/ln.out")"
awk -F, 'NR == 2 { first = $3 } END { if (!($3 < first)) exit 1 }' "$TMP/ln.csv" \
  || fail "ln_lstm.cell: the train loss did not go down: $(cat "$TMP/ln.csv")"

# A model of a .cell cell still loads once the .cell file is gone: it holds the source.
cp "$CELLS/mgu.cell" "$TMP/moved.cell"
"$GF" train "${SMALL[@]}" --cell "$TMP/moved.cell" --epochs 1 --out "$TMP/mgu.gfm" >/dev/null 2>&1 \
  || fail "train with moved.cell exited $?"
rm "$TMP/moved.cell"
"$GF" eval --model "$TMP/mgu.gfm" >"$TMP/mgu_eval.out" 2>&1 || fail "eval without the .cell: $(cat "$TMP/mgu_eval.out")"
"$GF" inspect "$TMP/mgu.gfm" | grep -q "next h = (1 - f) \* h + f \* n" || fail "inspect lacks the .cell text"

# Resume: 1 epoch with checkpoints (the last one mid-epoch 2 is not reached), then
# continue to 2 epochs; the model file equals the uninterrupted run's.
"$GF" train "${SMALL[@]}" --cell gru --dropout 0.2 --epochs 2 --out "$TMP/direct.gfm" \
  >/dev/null 2>&1 || fail "direct run exited $?"
"$GF" train "${SMALL[@]}" --cell gru --dropout 0.2 --epochs 1 --checkpoint-every 4 \
  --checkpoint "$TMP/ck.gfm" >"$TMP/ck.out" 2>&1 || fail "checkpointed run exited $?"
grep -q "checkpoint: step 6 -> " "$TMP/ck.out" || fail "no checkpoint at the end: $(cat "$TMP/ck.out")"
expect_usage_error "--hidden cannot be combined with --resume" train --resume "$TMP/ck.gfm" --hidden 3
"$GF" train --resume "$TMP/ck.gfm" --epochs 2 --out "$TMP/resumed.gfm" >"$TMP/resume.out" 2>&1 \
  || fail "resumed run exited $?: $(cat "$TMP/resume.out")"
grep -q "resumed at step 6" "$TMP/resume.out" || fail "resume did not start at step 6"
cmp -s "$TMP/direct.gfm" "$TMP/resumed.gfm" || fail "resumed model differs from the direct run's"

if [[ $failures == 0 ]]; then echo "PASS"; else echo "$failures failure(s)"; exit 1; fi

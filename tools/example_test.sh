#!/usr/bin/env bash
# The example of a program built against gatefuse (examples/custom_cell: a Bazel
# workspace of its own with gatefuse as an external repository), end to end:
#   1. builds and runs it: it trains a cell written in C++ (JANET) on the adding task,
#      saves the model, reloads it and checks the reloaded model predicts the same;
#   2. hands the saved file to the gatefuse command line, which has no JANET code:
#      `inspect` must show the cell's step graph, `eval` must load the model, run it
#      (compiled, like the example) and compute the very test mse the example printed.
#
#   tools/example_test.sh [GATEFUSE_BINARY]
#
# Without an argument, //tools:gatefuse is built in this checkout's workspace. The
# example's workspace has its own Bazel server and output base; both share the disk
# cache of .bazelrc. Nothing is written outside a temporary folder, the two output
# bases and the disk cache, so the script can run any number of times, from any
# checkout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$root/examples/custom_cell"
work="$(mktemp -d "${TMPDIR:-/tmp}/gatefuse_example_test.XXXXXX")"
# The example's Bazel server is stopped at the end (its outputs and the disk cache
# stay): on a small machine it would otherwise hold its memory for hours.
cleanup() {
  rm -rf "$work"
  (cd "$example" && bazel shutdown) >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() {
  echo "example_test: FAIL: $*" >&2
  exit 1
}

# The first line of $2 that starts with $1 (empty if none).
line_of() { grep -m1 "^$1" "$2" || true; }

if [[ $# -gt 1 ]]; then
  echo "usage: tools/example_test.sh [GATEFUSE_BINARY]" >&2
  exit 2
fi
if [[ $# -eq 1 ]]; then
  gatefuse="$1"
  [[ -x "$gatefuse" ]] || fail "'$gatefuse' is not an executable file"
else
  echo "== bazel build //tools:gatefuse (in $root)"
  (cd "$root" && bazel build //tools:gatefuse) || fail "//tools:gatefuse did not build"
  gatefuse="$(cd "$root" && bazel info bazel-bin)/tools/gatefuse"
fi

echo "== bazel build //:custom_cell (in examples/custom_cell)"
(cd "$example" && bazel build //:custom_cell) || fail "the example did not build"
example_bin="$(cd "$example" && bazel info bazel-bin)/custom_cell"

model="$work/janet.gfm"
echo "== custom_cell --out $model"
"$example_bin" --out "$model" | tee "$work/example.txt" ||
  fail "custom_cell exited with status ${PIPESTATUS[0]}"
[[ -s "$model" ]] || fail "custom_cell wrote no model file at $model"
# No builtin pattern matches the cell, so the recurrent layer runs the compiled plan.
grep -q '^path: compiled' "$work/example.txt" ||
  fail "custom_cell printed no 'path: compiled' line (see above)"
grep -q '^reloaded:' "$work/example.txt" || fail "custom_cell did not check the reloaded model"
example_final="$(line_of 'final:' "$work/example.txt")"
[[ -n "$example_final" ]] || fail "custom_cell printed no 'final:' line"

echo "== gatefuse inspect $model"
"$gatefuse" inspect "$model" | tee "$work/inspect.txt" || fail "gatefuse inspect failed"
grep -q '^cell: janet' "$work/inspect.txt" || fail "inspect names no cell 'janet'"
grep -q 'graph janet: .* nodes' "$work/inspect.txt" || fail "inspect shows no step graph of the cell"
grep -q 'graph of the layers above the first' "$work/inspect.txt" ||
  fail "inspect shows no step graph of the second layer"
for op in matmul sigmoid tanh; do
  grep -qi "$op" "$work/inspect.txt" || fail "inspect's cell graph has no $op"
done
grep -q '^path: compiled' "$work/inspect.txt" ||
  fail "inspect: the loaded model does not run compiled"

echo "== gatefuse eval --model $model"
"$gatefuse" eval --model "$model" | tee "$work/eval.txt" || fail "gatefuse eval failed"
grep -q '^path: compiled' "$work/eval.txt" || fail "eval: the loaded model does not run compiled"
eval_final="$(line_of 'final:' "$work/eval.txt")"
[[ "$eval_final" == "$example_final" ]] ||
  fail "gatefuse eval gives '$eval_final', the example gave '$example_final'"

echo "example_test: OK (the C++ cell trained, saved, reloaded; gatefuse inspected and" \
  "evaluated it without its code: $eval_final)"

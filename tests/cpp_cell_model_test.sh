#!/bin/bash
# A model whose cell is written in C++ loads and runs from its stored step graph in
# a binary without that C++ code: cpp_cell_model_writer trains and saves it and
# prints its test mse; the gatefuse binary inspects it (the graph is shown) and
# evaluates it, and must print the same mse on the same compiled path.
set -euo pipefail
writer=$1
gatefuse=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$writer" "$dir/janet.gfm" >"$dir/writer.txt"
cat "$dir/writer.txt"
"$gatefuse" inspect "$dir/janet.gfm" >"$dir/inspect.txt"
"$gatefuse" eval --model "$dir/janet.gfm" >"$dir/eval.txt"
cat "$dir/eval.txt"

fail() { echo "FAIL: $*" >&2; exit 1; }
grep -q "^cell: janet" "$dir/inspect.txt" || fail "inspect does not name the cell janet"
grep -q "graph janet: .* nodes" "$dir/inspect.txt" || fail "inspect shows no step graph"
grep -q "Sigmoid" "$dir/inspect.txt" || fail "inspect does not list the graph's equations"
grep -q "graph of the layers above the first" "$dir/inspect.txt" ||
  fail "inspect does not show the deeper layers' graph"
want=$(grep -o '^final: mse=[0-9.]*' "$dir/writer.txt")
got=$(grep -o '^final: mse=[0-9.]*' "$dir/eval.txt") || fail "eval printed no final mse"
[[ "$got" == "$want" ]] || fail "eval gives '$got', the writer '$want'"
grep -q '^path: compiled$' "$dir/writer.txt" || fail "the writer's model did not run compiled"
grep -q '^path: compiled$' "$dir/eval.txt" || fail "the loaded model does not run compiled"
echo "OK: the C++ cell's model runs from its stored graph in gatefuse ($got)"

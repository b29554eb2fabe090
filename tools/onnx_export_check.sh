#!/usr/bin/env bash
# The exporter checked against ONNX Runtime: //tools:export_cases writes untrained task
# models (every fused kind, a .cell LSTM, two stacked bidirectional layers, each task,
# custom cells as Scan);
# for each, `gatefuse export --test-data 1` writes the ONNX file and gatefuse's outputs,
# ONNX Runtime (tools/ort_run.js --expect) runs the file and compares its outputs with
# gatefuse's (1e-4), and `gatefuse onnx-test` runs the same file through gatefuse's
# importer (the round trip gfm -> onnx -> gfm, Scans included). Exits with 1 if any
# check fails.
#
#   tools/onnx_export_check.sh
# Needs what tools/setup.sh installs (Bazel, libonnx-dev, node, onnxruntime-node in .ort/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
die() { echo "onnx_export_check: error: $*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || die "node is not installed (run tools/setup.sh)"
[ -f .ort/node_modules/onnxruntime-node/package.json ] ||
  die "ONNX Runtime is not installed in .ort/ (run tools/setup.sh)"

echo "== bazel build -c opt //tools:export_cases //tools:gatefuse"
bazel build -c opt //tools:export_cases //tools:gatefuse
bin=bazel-out/k8-opt/bin/tools
dir="$(mktemp -d "${TMPDIR:-/tmp}/gatefuse-export.XXXXXX")"
status=0
trap 'if [ "$status" -ne 0 ]; then echo "onnx_export_check: the cases are in $dir"; else rm -rf "$dir"; fi' EXIT
"$bin/export_cases" --out "$dir"
checked=0
failed=0
for model in "$dir"/*.gfm; do
  name="$(basename "$model" .gfm)"
  out="$dir/$name"
  echo "== $name"
  if ! "$bin/gatefuse" export "$model" --out "$out" --test-data 1 --T 9 --B 3; then
    failed=$((failed + 1)); continue
  fi
  node tools/ort_run.js --model "$out/model.onnx" --inputs "$out/test_data_set_0" \
    --expect "$out/test_data_set_0" || failed=$((failed + 1))
  result="$("$bin/gatefuse" onnx-test "$out" | head -n 1)"
  echo "round trip: $result"
  [[ "$result" == *' OK' ]] || failed=$((failed + 1))
  checked=$((checked + 1))
done
[ "$failed" -eq 0 ] || status=1
echo "onnx export: $checked models, $failed failed checks"
exit "$status"

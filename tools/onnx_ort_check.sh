#!/usr/bin/env bash
# The ONNX importer checked against ONNX Runtime: writes the LSTM / GRU / RNN cases of
# //tools:onnx_cases (ONNX backend test layout), has ONNX Runtime (tools/ort_run.js) write each
# case's expected outputs, derives the layout=1 cases' outputs from their layout-0 twins (ORT
# refuses layout=1), then runs `gatefuse onnx-test` on every case folder and exits with its
# status.
#
#   tools/onnx_ort_check.sh [--seed S]
#
# The cases go into a fresh temporary folder, removed at the end unless something failed; set
# ONNX_CASES_DIR=DIR (a missing or empty folder) to write them there and keep them.
# Needs what tools/setup.sh installs (Bazel, libonnx-dev, node, onnxruntime-node in .ort/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seed_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) [ $# -ge 2 ] || { echo "onnx_ort_check: --seed needs a value" >&2; exit 2; }
            seed_args=(--seed "$2"); shift 2 ;;
    --seed=*) seed_args=(--seed "${1#--seed=}"); shift ;;
    *) echo "usage: tools/onnx_ort_check.sh [--seed S]" >&2; exit 2 ;;
  esac
done

die() { echo "onnx_ort_check: error: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (run tools/setup.sh)"
[ -f .ort/node_modules/onnxruntime-node/package.json ] ||
  die "ONNX Runtime is not installed in .ort/ (run tools/setup.sh)"

echo "== bazel build -c opt //tools:onnx_cases //tools:gatefuse"
bazel build -c opt //tools:onnx_cases //tools:gatefuse
cases_bin=bazel-out/k8-opt/bin/tools/onnx_cases
gatefuse_bin=bazel-out/k8-opt/bin/tools/gatefuse

if [ -n "${ONNX_CASES_DIR:-}" ]; then
  dir="$ONNX_CASES_DIR"
  keep=1
else
  dir="$(mktemp -d "${TMPDIR:-/tmp}/gatefuse-onnx-cases.XXXXXX")"
  keep=0
fi
finish() {
  local status=$?
  if [ "$keep" = 1 ] || [ "$status" -ne 0 ]; then
    echo "onnx_ort_check: the cases are in $dir"
  else
    rm -rf "$dir"
  fi
}
trap finish EXIT

echo "== onnx_cases --out $dir${seed_args[*]:+ ${seed_args[*]}}"
"$cases_bin" --out "$dir" "${seed_args[@]}"

# Expected outputs from ONNX Runtime, for every case ORT can run (all but the layout=1 ones).
echo "== ONNX Runtime (tools/ort_run.js) on every case but the layout=1 ones"
ran=0
refused=()
layout1=()
for case_dir in "$dir"/*/; do
  case_dir="${case_dir%/}"
  name="$(basename "$case_dir")"
  if [ -f "$case_dir/twin" ]; then
    layout1+=("$case_dir")
    continue
  fi
  if node tools/ort_run.js --model "$case_dir/model.onnx" --inputs "$case_dir/test_data_set_0" \
       --outputs "$case_dir/test_data_set_0" 2>"$dir/.ort_error"; then
    ran=$((ran + 1))
  else
    refused+=("$name")
    echo "onnx_ort_check: ONNX Runtime fails on $name: $(cat "$dir/.ort_error")" >&2
  fi
done
rm -f "$dir/.ort_error"
echo "ONNX Runtime ran $ran cases"
[ ${#refused[@]} -eq 0 ] || die "ONNX Runtime fails on ${#refused[@]} case(s): ${refused[*]}"

echo "== layout=1 cases: the twins' ORT outputs, transposed"
for case_dir in "${layout1[@]}"; do
  "$cases_bin" --transpose-twin-outputs "$case_dir"
done

all=("$dir"/*/)
all=("${all[@]%/}")
for case_dir in "${all[@]}"; do
  [ -f "$case_dir/test_data_set_0/output_0.pb" ] ||
    die "$(basename "$case_dir") has no expected outputs"
done
echo "expected outputs ready for ${#all[@]} case folders ($ran from ONNX Runtime, ${#layout1[@]} layout=1 cases transposed from their twins)"

echo "== gatefuse onnx-test (${#all[@]} case folders)"
status=0
"$gatefuse_bin" onnx-test "${all[@]}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "onnx_ort_check: gatefuse onnx-test failed (status $status)" >&2
fi
exit "$status"

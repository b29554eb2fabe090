#!/usr/bin/env bash
# The tests: installs what is missing, runs `bazel test //...` (optimised), then the
# same suite under AddressSanitizer + UndefinedBehaviorSanitizer (skip that with
# GATEFUSE_SKIP_ASAN=1), the concurrent-inference test under ThreadSanitizer, the
# random-weight ONNX cases against ONNX Runtime, exported task models against ONNX
# Runtime, then the libFuzzer targets for a
# bounded time (below).
# Exits non-zero on any failure; the last line is `tests: N passed, M failed`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/setup.sh || exit 1

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The reference data is a copy of ../shared/reference/cells (and ln_lstm); where
# those folders are present, the copies must be byte-identical.
check_copy() {  # check_copy SHARED-FOLDER COPY-FOLDER
  [ -d "$1" ] || return 0
  for f in "$1"/*; do
    if ! cmp -s "$f" "$2/$(basename "$f")"; then
      echo "$2/$(basename "$f") differs from $f"
      failed=1
    fi
  done
}
check_copy ../shared/reference/cells tests/data/reference
check_copy ../shared/reference/ln_lstm tests/data/reference_ln_lstm

run() {  # run LABEL BAZEL-ARGS...
  echo "== $1"
  shift
  bazel test "$@" //... 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
}
run "bazel test (opt)"
if [ "${GATEFUSE_SKIP_ASAN:-0}" != 1 ]; then
  run "bazel test --config=asan" --config=asan
fi
# Many threads on one loaded network, under ThreadSanitizer (.bazelrc says why with
# OMP_NUM_THREADS=1).
echo "== bazel test --config=tsan //models/onnx:network_threads_test"
bazel test --config=tsan //models/onnx:network_threads_test 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed=1

# ---- a program of its own against gatefuse (examples/custom_cell) -----------
echo "== tools/example_test.sh"
tools/example_test.sh 2>&1 | tee -a "$log"
if [ "${PIPESTATUS[0]}" -eq 0 ]; then
  example_report="examples/custom_cell: OK"$'\n'
else
  failed=1
  example_report="examples/custom_cell: FAILED (see above)"$'\n'
fi

# ---- ONNX Runtime: the random-weight cases (tools/onnx_ort_check.sh) ---------
echo "== tools/onnx_ort_check.sh"
ort_log=$(mktemp)
if tools/onnx_ort_check.sh >"$ort_log" 2>&1; then
  tail -n 3 "$ort_log"
  ort_report="onnx vs ONNX Runtime: $(grep -oE 'onnx-test: [0-9]+ passed, [0-9]+ failed' "$ort_log")"$'\n'
else
  grep -E 'FAIL|rror' "$ort_log" | head -n 40
  tail -n 5 "$ort_log"
  failed=1
  ort_report="onnx vs ONNX Runtime: FAILED (see above)"$'\n'
fi
rm -f "$ort_log"

# ---- ONNX out: exported task models in ONNX Runtime (tools/onnx_export_check.sh) ----
echo "== tools/onnx_export_check.sh"
export_log=$(mktemp)
if tools/onnx_export_check.sh >"$export_log" 2>&1; then
  tail -n 1 "$export_log"
  export_report="$(tail -n 1 "$export_log") (ONNX Runtime and the importer agree with gatefuse)"$'\n'
else
  grep -E 'FAIL|rror|fails' "$export_log" | head -n 40
  tail -n 5 "$export_log"
  failed=1
  export_report="onnx export vs ONNX Runtime: FAILED (see above)"$'\n'
fi
rm -f "$export_log"

# ---- fuzzing (tools/fuzz.sh) ------------------------------------------------
# Each libFuzzer target for a bounded time after the bazel runs: GATEFUSE_FUZZ_SECONDS
# per target (default 60), GATEFUSE_SKIP_FUZZ=1 skips. A crash, leak or UB fails the
# run; tools/fuzz.sh has then copied the input into tests/fuzz_corpus/TARGET/.
fuzz_report=""
if [ "${GATEFUSE_SKIP_FUZZ:-0}" != 1 ]; then
  fuzz_log=$(mktemp)
  for target in model_file cell_language onnx_import; do
    echo "== tools/fuzz.sh $target ${GATEFUSE_FUZZ_SECONDS:-60}"
    # libFuzzer prints a line per new input: only the end is shown (all of it is
    # in .fuzz/TARGET/fuzz.log).
    if tools/fuzz.sh "$target" "${GATEFUSE_FUZZ_SECONDS:-60}" >"$fuzz_log" 2>&1; then
      grep -vE '^#[0-9]|^"|Uses:|libprotobuf' "$fuzz_log" | tail -n 4
      fuzz_report+="fuzz $target: no problem in ${GATEFUSE_FUZZ_SECONDS:-60} s"$'\n'
    else
      grep -vE '^#[0-9]|^"|Uses:|libprotobuf' "$fuzz_log" | tail -n 60
      failed=1
      found=$(grep -oE 'tests/fuzz_corpus/[^ ]+ \([a-z]+\)' "$fuzz_log" | tr '\n' ' ')
      fuzz_report+="fuzz $target: FAILED ${found:-(see the log above)}"$'\n'
    fi
  done
  rm -f "$fuzz_log"
fi
printf '%s' "$example_report" "$ort_report" "$export_report" "$fuzz_report"
# ---- end of fuzzing ----------------------------------------------------------

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
broken=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
[ "$failed" -eq 0 ] || [ "$broken" -gt 0 ] || broken=1
echo "tests: $passed passed, $broken failed"
exit "$failed"

#!/usr/bin/env bash
# The tests: installs what is missing, runs `bazel test //...` (optimised), then the
# same suite under AddressSanitizer + UndefinedBehaviorSanitizer (skip that with
# GATEFUSE_SKIP_ASAN=1). Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/setup.sh || exit 1

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The reference data is a copy of ../shared/reference/cells; where that folder is
# present, the copy must be byte-identical.
if [ -d ../shared/reference/cells ]; then
  for f in ../shared/reference/cells/*; do
    if ! cmp -s "$f" "tests/data/reference/$(basename "$f")"; then
      echo "tests/data/reference/$(basename "$f") differs from $f"
      failed=1
    fi
  done
fi

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

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
broken=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
[ "$failed" -eq 0 ] || [ "$broken" -gt 0 ] || broken=1
echo "tests: $passed passed, $broken failed"
exit "$failed"

#!/usr/bin/env bash
# Fuzzes the model-file loader (models/io/model_file_fuzzer.cc) with libFuzzer.
#
#   tools/fuzz_model_file.sh [SECONDS] [WORKDIR]      # default: 60 s, a fresh temp dir
#
# Builds outside Bazel with Debian's clang (-fsanitize=fuzzer,address,undefined;
# every gatefuse source it needs is instrumented, the system protobuf, Abseil and
# oneDNN are linked as they are), generates the .pb.cc files with the system
# protoc into WORKDIR, writes a seed corpus of valid files and payloads, and runs
# the fuzzer for SECONDS. Exits non-zero if the fuzzer finds a crash, a leak or
# undefined behaviour; the reproducer is left in WORKDIR (crash-*, leak-*).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
WORK="${2:-$(mktemp -d "${TMPDIR:-/tmp}/gatefuse_fuzz.XXXXXX")}"
CXX="${CXX:-/usr/bin/clang++}"
JOBS="${JOBS:-$(nproc)}"
mkdir -p "$WORK/gen" "$WORK/obj" "$WORK/corpus"

command -v "$CXX" >/dev/null || { echo "no $CXX: apt-get install clang libclang-rt-14-dev" >&2; exit 2; }
command -v protoc >/dev/null || { echo "no protoc: apt-get install protobuf-compiler" >&2; exit 2; }

# ---- generated protobuf code ----
(cd "$ROOT" && protoc -I. --cpp_out="$WORK/gen" graph/graph.proto models/io/model_file.proto)

# ---- sources: the libraries the loader depends on, tests and tools excluded ----
SOURCES=()
for f in "$ROOT"/core/*.cc "$ROOT"/ops/*.cc "$ROOT"/graph/*.cc; do
  case "$f" in *_test.cc|*_benchmark.cc) continue ;; esac
  SOURCES+=("$f")
done
SOURCES+=("$ROOT/models/cells/cell.cc" "$ROOT/models/cells/cell_graph.cc" "$ROOT/models/cells/cell_language.cc"
          "$ROOT/models/io/model_file.cc" "$ROOT/models/io/model_file_fuzzer.cc"
          "$WORK/gen/graph/graph.pb.cc" "$WORK/gen/models/io/model_file.pb.cc")

CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer
          -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
          -I"$ROOT" -I"$WORK/gen")
export ROOT WORK CXX
export CXXFLAGS_STR="${CXXFLAGS[*]}"

echo "compiling ${#SOURCES[@]} files with $("$CXX" --version | head -1) ($JOBS jobs)"
# One object per source, rebuilt only if older than its source. The loader's own
# files compile with -Wall -Wextra under clang too; the rest quietly (-w).
OBJECTS=$(printf '%s\n' "${SOURCES[@]}" | xargs -P "$JOBS" -I{} bash -c '
  set -e
  read -r -a flags <<< "$CXXFLAGS_STR"
  src="{}"
  obj="$WORK/obj/$(echo "${src#"$ROOT"/}" | tr "/" "_").o"
  case "$src" in
    */model_file*.cc|*/graph/serialize.cc) flags+=(-Wall -Wextra -Wno-unused-parameter) ;;
    *) flags+=(-w) ;;
  esac
  [[ "$obj" -nt "$src" ]] || "$CXX" "${flags[@]}" -c "$src" -o "$obj"
  echo "$obj"')

ABSL_LIBS=$(pkg-config --libs absl_statusor absl_status absl_strings absl_str_format \
            absl_synchronization absl_time)
# shellcheck disable=SC2086
"$CXX" -fsanitize=fuzzer,address,undefined $OBJECTS -o "$WORK/model_file_fuzzer" \
  -lprotobuf -ldnnl $ABSL_LIBS -lpthread
echo "built $WORK/model_file_fuzzer"

# ---- seeds, then the run ----
GATEFUSE_FUZZ_WRITE_SEEDS="$WORK/corpus" "$WORK/model_file_fuzzer"
cd "$WORK"
set +e
OMP_NUM_THREADS=1 ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0" \
  ./model_file_fuzzer -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -rss_limit_mb=4096 \
  -timeout=25 -print_final_stats=1 corpus 2>&1 | tee fuzz.log
STATUS=${PIPESTATUS[0]}
set -e
if [[ $STATUS -ne 0 ]]; then
  echo "FUZZER FOUND A PROBLEM (exit $STATUS); reproducers in $WORK:" >&2
  ls "$WORK" | grep -E '^(crash|leak|timeout|oom)-' >&2 || true
  exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' fuzz.log || true
echo "no crash in ${SECONDS_TO_RUN}s; corpus and log in $WORK"

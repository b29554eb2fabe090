#!/usr/bin/env bash
# Fuzzes one libFuzzer target of gatefuse under ASan and UBSan.
#
#   tools/fuzz.sh TARGET [SECONDS] [WORKDIR]    # default: 60 s, .fuzz/TARGET
#
#   TARGET  model_file      the model-file loader (models/io/model_file_fuzzer.cc)
#           cell_language   the .cell lexer, parser, checks and compiler
#                           (models/cells/cell_language_fuzzer.cc)
#           onnx_import     the ONNX importer and the Network it builds and runs
#                           (models/onnx/onnx_import_fuzzer.cc)
#
# Builds outside Bazel with Debian's clang (-fsanitize=fuzzer,address,undefined):
# the sources are every .cc file of the target's Bazel dependencies (asked of
# `bazel query`, so a new file is never missed), the .proto files among them go
# through the system protoc, the system libraries are linked as the BUILD files
# say. Objects are cached in .fuzz/cache (git-ignored; GATEFUSE_FUZZ_CACHE
# overrides), keyed by the flags and rebuilt when the source or any header it
# includes is newer, so a second run starts in seconds.
#
# The corpus starts from the binary's own seeds (GATEFUSE_FUZZ_WRITE_SEEDS), the
# target's regression corpus tests/fuzz_corpus/TARGET/ (which
# //tests:TARGET_fuzz_corpus_test replays in every bazel test run) and, for
# cell_language, the builtin models/cells/*.cell. If the fuzzer finds a crash, a
# leak, undefined behaviour, a timeout or an out-of-memory, the input is copied
# to tests/fuzz_corpus/TARGET/<its sha1> and the script exits 1: fix the bug,
# keep the file, and the corpus test keeps it fixed.
set -euo pipefail

usage() { echo "usage: tools/fuzz.sh model_file|cell_language|onnx_import [SECONDS] [WORKDIR]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 3 ]] || usage
TARGET="$1"
case "$TARGET" in
  model_file)
    LABEL=//models/io:model_file_fuzzer
    STRICT='models/io/* graph/serialize.cc'   # compiled with -Wall -Wextra, the rest with -w
    MAX_LEN=65536 ;;
  cell_language)
    LABEL=//models/cells:cell_language_fuzzer
    STRICT='models/cells/cell_*'
    MAX_LEN=8192 ;;
  onnx_import)
    LABEL=//models/onnx:onnx_import_fuzzer
    STRICT='models/onnx/*'
    MAX_LEN=65536 ;;
  *) usage ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${2:-60}"
WORK="$(mkdir -p "${3:-$ROOT/.fuzz/$TARGET}" && cd "${3:-$ROOT/.fuzz/$TARGET}" && pwd)"
REGRESSION="$ROOT/tests/fuzz_corpus/$TARGET"
CXX="${CXX:-/usr/bin/clang++}"
JOBS="${JOBS:-$(nproc)}"
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || usage

command -v "$CXX" >/dev/null || { echo "no $CXX: apt-get install clang libclang-rt-14-dev" >&2; exit 2; }
command -v protoc >/dev/null || { echo "no protoc: apt-get install protobuf-compiler" >&2; exit 2; }
command -v bazel >/dev/null || { echo "no bazel: run tools/setup.sh" >&2; exit 2; }

CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer
          -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
CACHE="${GATEFUSE_FUZZ_CACHE:-$ROOT/.fuzz/cache}/$(echo "$CXX ${CXXFLAGS[*]}" | sha1sum | cut -c1-12)"
mkdir -p "$CACHE/gen" "$CACHE/obj"

# ---- what the target is made of, from its BUILD files ----
cd "$ROOT"
query() {  # query ARGS...: bazel query, its errors shown only if it fails
  bazel query --noshow_progress "$@" 2>"$WORK/query.log" ||
    { cat "$WORK/query.log" >&2; echo "bazel query $* failed" >&2; exit 2; }
}
LABELS=$(query "kind('source file', deps($LABEL))")
BUILD_TEXT=$(query "deps($LABEL)" --output=build)
FILES=$(grep '^//' <<<"$LABELS" | sed -e 's|^//||' -e 's|:|/|' -e 's|^/||')
# The -l flags. Sources compile without -fopenmp (one thread is what the fuzzer
# wants, the pragmas are ignored), but a target linked with -fopenmp may call the
# runtime: GCC's libgomp, the one oneDNN loads too.
LIBS=$(grep -oE '"-l[^"]+"' <<<"$BUILD_TEXT" | tr -d '"' | awk '!seen[$0]++' | tr '\n' ' ')
if grep -q '"-fopenmp"' <<<"$BUILD_TEXT"; then LIBS+=" -lgomp"; fi
# The `defines` of the targets (libonnx's headers need ONNX_NAMESPACE).
DEFINES=$({ grep -E '^ *defines = ' <<<"$BUILD_TEXT" || true; } | grep -oE '"[^"]+"' | tr -d '"' |
          awk '!seen[$0]++ { printf "-D%s ", $0 }' || true)

PROTOS=$(grep '\.proto$' <<<"$FILES" || true)
SOURCES=()
while read -r f; do [[ -n "$f" ]] && SOURCES+=("$ROOT/$f"); done < <(grep '\.cc$' <<<"$FILES")
if [[ -n "$PROTOS" ]]; then
  # Generated afresh, but a file replaces the cached one only if it differs, so
  # the objects that include it stay up to date.
  rm -rf "$CACHE/gen.new" && mkdir -p "$CACHE/gen.new"
  # shellcheck disable=SC2086
  protoc -I. --cpp_out="$CACHE/gen.new" $PROTOS
  (cd "$CACHE/gen.new" && find . -type f) | while read -r f; do
    cmp -s "$CACHE/gen.new/$f" "$CACHE/gen/$f" ||
      { mkdir -p "$(dirname "$CACHE/gen/$f")" && cp "$CACHE/gen.new/$f" "$CACHE/gen/$f"; }
  done
  for p in $PROTOS; do SOURCES+=("$CACHE/gen/${p%.proto}.pb.cc"); done
fi

# The .cell files compiled in as C++ raw strings (models/cells/BUILD, genrule
# ln_lstm_cell_inc: the same text between R"cell( and )cell"), found by -I$CACHE/gen.
mkdir -p "$CACHE/gen/models/cells"
for c in "$ROOT"/models/cells/*.cell; do
  inc="$CACHE/gen/models/cells/$(basename "$c").inc"
  { printf 'R"cell('; cat "$c"; printf ')cell"\n'; } >"$inc.new"
  if cmp -s "$inc.new" "$inc"; then rm "$inc.new"; else mv "$inc.new" "$inc"; fi
done

# ---- compile (each object once, again only when it or a header is newer) ----
export ROOT CACHE CXX STRICT
export CXXFLAGS_STR="${CXXFLAGS[*]} $DEFINES -I$ROOT -I$CACHE/gen"
echo "$TARGET: ${#SOURCES[@]} sources, $("$CXX" --version | head -1), $JOBS jobs"
OBJECTS=$(printf '%s\n' "${SOURCES[@]}" | xargs -P "$JOBS" -I{} bash -c '
  set -e
  read -r -a flags <<< "$CXXFLAGS_STR"
  src="{}"
  rel="${src#"$ROOT"/}"
  obj="$CACHE/obj/$(echo "$rel" | tr "/" "_").o"
  stale=0
  if [[ -f "$obj" && -f "$obj.d" ]]; then
    for dep in $(sed -e "s/^[^:]*://" -e "s/\\\\$//" "$obj.d"); do
      [[ "$dep" -nt "$obj" ]] && { stale=1; break; }
    done
  else
    stale=1
  fi
  if [[ $stale == 1 ]]; then
    warn=(-w)
    read -r -a patterns <<< "$STRICT"
    for pattern in "${patterns[@]}"; do
      # shellcheck disable=SC2053
      [[ "$rel" == $pattern ]] && warn=(-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
    done
    flags+=("${warn[@]}")
    "$CXX" "${flags[@]}" -MMD -MF "$obj.d.tmp" -c "$src" -o "$obj.tmp"
    mv "$obj.d.tmp" "$obj.d"
    mv "$obj.tmp" "$obj"
  fi
  echo "$obj"') || { echo "$TARGET: compiling failed" >&2; exit 1; }
# shellcheck disable=SC2086
"$CXX" -fsanitize=fuzzer,address,undefined $OBJECTS -o "$WORK/${TARGET}_fuzzer" $LIBS -lprotobuf -lpthread
echo "built $WORK/${TARGET}_fuzzer"

# ---- corpus: seeds, the regression corpus, the builtin cells ----
mkdir -p "$WORK/corpus" "$REGRESSION"
GATEFUSE_FUZZ_WRITE_SEEDS="$WORK/corpus" "$WORK/${TARGET}_fuzzer"
cp -p "$REGRESSION"/* "$WORK/corpus/" 2>/dev/null || true
DICT=()
if [[ $TARGET == cell_language ]]; then
  cp -p "$ROOT"/models/cells/*.cell "$WORK/corpus/"
  # The language's words, so mutations build statements instead of noise.
  printf '"%s"\n' cell input state param next sigmoid tanh relu exp log concat split \
    "# sizes: " "batch=" "f64" "I=" "H=" " = " " @ " "[" "]" "(" ")" "," "*" "+" "-" "\\x0a" \
    > "$WORK/cell_language.dict"
  DICT=(-dict="$WORK/cell_language.dict")
fi
if [[ $TARGET == onnx_import ]]; then
  for f in "$ROOT"/tests/data/onnx/torch/*/model.onnx \
           /usr/share/libonnx-testdata/data/node/test_{lstm,gru,simple_rnn,rnn_seq,scan}*/model.onnx; do
    [[ -f "$f" ]] && cp "$f" "$WORK/corpus/$(basename "$(dirname "$f")").onnx"
  done
fi

# ---- the run ----
cd "$WORK"
rm -f crash-* leak-* timeout-* oom-* slow-unit-*
set +e
OMP_NUM_THREADS=1 ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0" \
  "./${TARGET}_fuzzer" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -rss_limit_mb=4096 \
  -timeout=25 -print_final_stats=1 "${DICT[@]}" corpus 2>&1 | tee fuzz.log
STATUS=${PIPESTATUS[0]}
set -e
if [[ $STATUS -ne 0 ]]; then
  echo "FUZZER FOUND A PROBLEM in $TARGET (exit $STATUS); log: $WORK/fuzz.log" >&2
  for f in crash-* leak-* timeout-* oom-*; do
    [[ -f "$f" ]] || continue
    sha=$(sha1sum "$f" | cut -c1-40)
    cp "$f" "$REGRESSION/$sha"
    echo "  reproducer: tests/fuzz_corpus/$TARGET/$sha (${f%%-*})" >&2
  done
  echo "  replay: $WORK/${TARGET}_fuzzer tests/fuzz_corpus/$TARGET/<file>" >&2
  exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' fuzz.log || true
echo "$TARGET: no problem in ${SECONDS_TO_RUN}s; corpus and log in $WORK"

#!/usr/bin/env bash
# Data-parallel training under `mpirun -np 2` on loopback (tests/BUILD):
#   1. sentiment with lstm (a global batch of 33: shards of 16 and 17, a last batch of
#      25), lm with a 2-layer gru and adding: after K steps the 2-rank run's parameters
#      equal one process's to 1e-5 relative, and differ from one step fewer;
#   2. --verify-replicas: every rank's parameters hash the same after every step;
#   3. a 2-rank run resumed from its mid-run checkpoint ends bit for bit as the
#      uninterrupted 2-rank run;
#   4. a rank killed mid-run ends the run, non-zero, within 30 s;
#   5. ranks given different flags all stop at once with a message naming them.
#   tests/distributed_test.sh path/to/gatefuse path/to/param_diff
set -uo pipefail
GF=$(realpath "$1")
DIFF=$(realpath "$2")
ROOT=$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")  # the workspace
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

skip_or_fail() {  # under CI=true (tools/test.sh after setup) a missing piece fails
  if [[ "${CI:-}" == true ]]; then echo "FAIL: $*"; exit 1; fi
  echo "SKIP: $* (run tools/setup.sh)"; exit 0
}
command -v mpirun >/dev/null 2>&1 || skip_or_fail "mpirun is not installed"
SENTIMENT="$ROOT/data/wink-sentiment/test/data/amazon_cells_labelled.txt"
MOBY="$ROOT/data/moby-dick/data/data.txt"
[[ -f "$SENTIMENT" && -f "$MOBY" ]] || skip_or_fail "the data sets are not in $ROOT/data"

# Root in CI; two ranks on two cores, over shared memory and loopback TCP only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's own allocations outlive MPI_Finalize: an ASan build suppresses the leaks
# whose stacks pass through Open MPI's libraries (the slow unwinder, because Debian's
# libmpi has no frame pointers: the fast one stops in an unnamed plugin frame) and
# still reports any other.
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libpmix.so\nleak:libevent\nleak:libhwloc\nleak:mca_\n' >"$TMP/lsan.supp"
export LSAN_OPTIONS="suppressions=$TMP/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:fast_unwind_on_malloc=0"
MPI=(mpirun -np 2 -x LSAN_OPTIONS -x ASAN_OPTIONS -x OMP_NUM_THREADS=1)
export OMP_NUM_THREADS=1

# run NAME [mpirun...] gatefuse-args...: stdout+stderr to $TMP/NAME.log
run() {
  local name=$1; shift
  "$@" >"$TMP/$name.log" 2>&1
  local rc=$?
  [[ $rc == 0 ]] || { fail "$name exited $rc: $(tail -n 5 "$TMP/$name.log")"; }
  return $rc
}

SENT=(train --task sentiment --cell lstm --data "$SENTIMENT" --train-size 256 --test-size 64
      --batch 33 --hidden 16 --embed 16 --epochs 1 --seed 5)
LM=(train --task lm --cell gru --layers 2 --data "$MOBY" --train-size 512 --test-size 64
    --batch 32 --hidden 24 --embed 16 --vocab 300 --T 8 --epochs 1 --seed 5)
ADD=(train --task adding --cell lstm --T 20 --train-size 256 --test-size 64 --batch 32
     --hidden 8 --epochs 1 --seed 5)
K=6

# ---- 1 and 2: two ranks against one process ------------------------------------------
for task in SENT LM ADD; do
  declare -n args=$task
  run "$task.one" "$GF" "${args[@]}" --max-steps $K --out "$TMP/$task.one.gfm"
  run "$task.fewer" "$GF" "${args[@]}" --max-steps $((K - 1)) --out "$TMP/$task.fewer.gfm"
  run "$task.two" "${MPI[@]}" "$GF" "${args[@]}" --max-steps $K --verify-replicas \
    --out "$TMP/$task.two.gfm" || continue
  grep -q "ranks: 2, threads per rank: 1" "$TMP/$task.two.log" ||
    fail "$task: the 2-rank run does not say 'ranks: 2, threads per rank: 1'"
  grep -q "^allreduce: .* MB per step" "$TMP/$task.two.log" || fail "$task: no allreduce line"
  [[ $(grep -c "^final:" "$TMP/$task.two.log") == 1 ]] ||
    fail "$task: not exactly one rank printed the final line"
  "$DIFF" "$TMP/$task.two.gfm" "$TMP/$task.one.gfm" 1e-5 >"$TMP/$task.diff" ||
    fail "$task: 2 ranks differ from 1 process by more than 1e-5: $(tail -n 1 "$TMP/$task.diff")"
  echo "$task: 2 ranks against 1 process: $(tail -n 1 "$TMP/$task.diff")"
  # The tolerance bites: one step fewer is far from it.
  if "$DIFF" "$TMP/$task.two.gfm" "$TMP/$task.fewer.gfm" 1e-3 >/dev/null; then
    fail "$task: $K steps and $((K - 1)) steps give parameters within 1e-3"
  fi
done

# ---- 3: resumed from a checkpoint ---------------------------------------------------
run full "${MPI[@]}" "$GF" "${SENT[@]}" --out "$TMP/full.gfm"
run first "${MPI[@]}" "$GF" "${SENT[@]}" --max-steps 3 --checkpoint-every 3 \
  --checkpoint "$TMP/ckpt.gfm"
run resumed "${MPI[@]}" "$GF" train --resume "$TMP/ckpt.gfm" --verify-replicas \
  --out "$TMP/resumed.gfm" && {
  grep -q "resumed at step 3" "$TMP/resumed.log" || fail "the resumed run does not say so"
  "$DIFF" "$TMP/resumed.gfm" "$TMP/full.gfm" 0 >"$TMP/resume.diff" ||
    fail "resumed differs from uninterrupted: $(tail -n 1 "$TMP/resume.diff")"
  echo "resumed against uninterrupted: $(tail -n 1 "$TMP/resume.diff")"
}

# ---- 4: a rank killed mid-run ---------------------------------------------------------
"${MPI[@]}" "$GF" train --task adding --cell lstm --T 50 --train-size 100000 --test-size 64 \
  --batch 32 --hidden 16 --epochs 50 >"$TMP/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 1 100); do  # until both ranks are training
  grep -q "^ranks: 2" "$TMP/killed.log" && break
  sleep 0.2
done
ranks=$(pgrep -f "$GF train --task adding --cell lstm --T 50" | grep -v "^$launcher$")
victim=$(echo "$ranks" | tail -n 1)
if [[ -z "$victim" ]]; then
  fail "no rank process found to kill: $(tail -n 5 "$TMP/killed.log")"
  kill -9 "$launcher" 2>/dev/null
else
  kill -9 "$victim"
  start=$SECONDS
  for _ in $(seq 1 300); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$launcher" 2>/dev/null; then
    fail "30 s after a rank was killed, mpirun still runs"
    pkill -9 -f "$GF train --task adding --cell lstm --T 50"
    kill -9 "$launcher" 2>/dev/null
  fi
  wait "$launcher"
  rc=$?
  [[ $rc != 0 ]] || fail "mpirun exited 0 after a rank was killed"
  echo "a killed rank: the run ended in $((SECONDS - start)) s, exit status $rc"
fi

# ---- 5: ranks that disagree ------------------------------------------------------------
ADD_SMALL=(train --task adding --cell lstm --T 10 --train-size 64 --test-size 32 --batch 16)
start=$SECONDS
mpirun -np 1 -x OMP_NUM_THREADS=1 "$GF" "${ADD_SMALL[@]}" --hidden 8 : \
       -np 1 -x OMP_NUM_THREADS=1 "$GF" "${ADD_SMALL[@]}" --hidden 9 >"$TMP/disagree.log" 2>&1
rc=$?
[[ $rc != 0 ]] || fail "ranks with different --hidden: mpirun exited 0"
grep -q "the ranks disagree: the flags of rank(s) 1 differ from rank 0's; here (rank 1): '--hidden 9', rank 0: '--hidden 8'" \
  "$TMP/disagree.log" || fail "no message naming the disagreeing rank: $(head -n 5 "$TMP/disagree.log")"
(( SECONDS - start < 30 )) || fail "ranks that disagree took $((SECONDS - start)) s to stop"

if [[ $failures -gt 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "distributed: all checks passed"

#!/bin/bash
# Data-parallel training on this machine: examples/s of `gatefuse train` as one
# process with 1 and with 2 OpenMP threads against `mpirun -np 2` with 1 thread per
# rank, for the sentiment and lm defaults (lm one epoch), each configuration run
# twice, alternating, in one session; the 2-rank runs' share of the step time in the
# allreduce and the bytes summed per step; the allreduce of those bytes alone (after
# a barrier, so without waiting for a late rank); then the projection to N machines
# on 10 and 100 Gb/s networks from the measured step time and bytes (ring allreduce:
# 2 (N - 1) / N * bytes / bandwidth, plus 2 (N - 1) message latencies of 10 us).
# Needs a quiet machine and tools/setup.sh's data and Open MPI; not part of the suite.
#   tools/bench_distributed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt //tools:gatefuse >/dev/null 2>&1
bin=$(mktemp -d)/gatefuse
cp bazel-out/k8-opt/bin/tools/gatefuse "$bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
"$bin" bench --cell lstm --mode infer --T 2 --B 1 --I 8 --H 8 --min-iters 1 --min-seconds 0 |
  grep -E "^isa" || true
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

declare -A args=(
  [sentiment]="--task sentiment --cell lstm --epochs 3"
  [lm]="--task lm --cell lstm --epochs 1"
)
out=$(mktemp -d)
# The mean ex/s over the run's epoch lines.
ex_per_s() { grep -oE '\| [0-9]+ ex/s' "$1" | awk '{s += $2; n++} END {printf "%.0f\n", s / n}'; }

for task in sentiment lm; do
  for round in 1 2; do
    OMP_NUM_THREADS=1 "$bin" train ${args[$task]} >"$out/$task.1x1.$round" 2>/dev/null
    OMP_NUM_THREADS=2 "$bin" train ${args[$task]} >"$out/$task.1x2.$round" 2>/dev/null
    mpirun -np 2 -x OMP_NUM_THREADS=1 "$bin" train ${args[$task]} >"$out/$task.2x1.$round" 2>/dev/null
  done
  rate() { for r in 1 2; do ex_per_s "$out/$task.$1.$r"; done | paste -sd/; }
  echo "$task: 1 rank x 1 thread $(rate 1x1) ex/s; 1 rank x 2 threads $(rate 1x2) ex/s;" \
       "2 ranks x 1 thread $(rate 2x1) ex/s (runs 1/2)"
  grep -h '^allreduce:' "$out/$task.2x1.1" "$out/$task.2x1.2" | sed "s/^/  $task 2 ranks: /"
done

# The allreduce alone: 2 ranks, after a barrier, 200 times each size.
cat >"$out/allreduce.c" <<'PROGRAM'
#include <openmpi/mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int a = 1; a < argc; ++a) {
    const int n = atoi(argv[a]);
    float* x = calloc(n, sizeof(float));
    double total = 0;
    for (int k = 0; k < 200; ++k) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      total += MPI_Wtime() - t;
    }
    if (rank == 0) printf("  allreduce of %.2f MB alone: %.3f ms\n", n * 4e-6, 1e3 * total / 200);
    free(x);
  }
  MPI_Finalize();
  return 0;
}
PROGRAM
gcc -O2 "$out/allreduce.c" -o "$out/allreduce" -lmpi
floats() { grep -h '^allreduce:' "$out/$1.2x1.1" | sed -E 's/.*, ([0-9.]+) MB per step/\1/' |
  awk '{printf "%d", $1 * 1e6 / 4}'; }
mpirun -np 2 "$out/allreduce" "$(floats sentiment)" "$(floats lm)"

echo
echo "projection (strong scaling, the default global batch split over N machines of this"
echo "kind; compute per step from the 2-rank runs: step time minus allreduce, times 2):"
for task in sentiment lm; do
  line=$(grep -h '^allreduce:' "$out/$task.2x1.1")
  # allreduce: X% of the step time (R ms of S ms per step), M MB per step
  read -r reduce_ms step_ms mb < <(echo "$line" |
    sed -E 's/.*\(([0-9.]+) ms of ([0-9.]+) ms per step\), ([0-9.]+) MB.*/\1 \2 \3/')
  awk -v task="$task" -v r="$reduce_ms" -v s="$step_ms" -v mb="$mb" 'BEGIN {
    compute = 2 * (s - r) / 1e3;  # one process, the whole batch, seconds
    bytes = mb * 1e6; latency = 10e-6;
    for (g = 10; g <= 100; g *= 10) {
      bw = g * 1e9 / 8; stop = 0;
      for (n = 2; n <= 4096; n++) {
        comm = 2 * (n - 1) / n * bytes / bw + 2 * (n - 1) * latency;
        if (comm >= compute / n) { stop = n; break; }
      }
      printf "  %s at %d Gb/s: %.2f ms compute per batch, %.3f MB: allreduce >= compute per rank from N = %d\n",
             task, g, compute * 1e3, mb, stop;
    }
  }'
done

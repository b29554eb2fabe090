#!/usr/bin/env bash
# gatefuse bench, small sizes: the three rows with numbers, the ratio lines, the
# ratio last; every kind; usage errors exit 2. Timings are never asserted.
set -u
bin="$1"
fail() { echo "FAIL: $*"; exit 1; }

for cell in lstm peephole cifg gru gru_lbr rnn_tanh rnn_relu; do
  for mode in train infer; do
    out=$("$bin" bench --cell "$cell" --mode "$mode" --T 4 --B 2 --I 3 --H 5 --min-iters 1 \
          --min-seconds 0) || fail "$cell $mode: exit $?: $out"
    for row in direct_onednn fused tape; do
      echo "$out" | grep -Eq "^$row +[0-9.]+ +[0-9.]+ +[0-9]+$" || fail "$cell $mode: no $row row: $out"
    done
    echo "$out" | tail -1 | grep -Eq '^ratio_fused_vs_direct=[0-9.]+$' || fail "$cell $mode: last line: $out"
    echo "$out" | grep -Eq '^ratio_fused_vs_tape=[0-9.]+$' || fail "$cell $mode: no tape ratio: $out"
    echo "$out" | grep -Eq '^path: fused [a-z_]+$' || fail "$cell $mode: no fused path line: $out"
    echo "$out" | grep -Eq '^isa: [a-z0-9_]+, threads: [0-9]+$' || fail "$cell $mode: no isa line: $out"
  done
done
out=$("$bin" bench --cell lstm --mode train --T 4 --B 2 --I 3 --H 5 --tape never --min-iters 1 \
      --min-seconds 0) || fail "tape never: exit $?"
echo "$out" | grep -q '^tape .*skipped' || fail "tape never must say skipped: $out"
out=$("$bin" bench --cell models/cells/mgu.cell --mode train --T 4 --B 2 --I 3 --H 5 --min-iters 1 \
      --min-seconds 0) || fail "mgu: exit $?: $out"
echo "$out" | grep -q 'fusion=custom' || fail "mgu is custom: $out"
echo "$out" | grep -q '^path: compiled$' || fail "mgu runs the compiled plan: $out"
out=$("$bin" bench --cell lstm --mode train --T 4 --B 2 --I 3 --H 5 --no-recognize --min-iters 1 \
      --min-seconds 0) || fail "no-recognize: exit $?: $out"
echo "$out" | grep -Eq '^fused_custom +[0-9.]+' || fail "no-recognize row: $out"
echo "$out" | grep -Eq '^direct_onednn +[0-9.]+' || fail "no-recognize keeps the LSTM ceiling: $out"

"$bin" bench --cell lstm --mode walk --T 4 --B 2 --I 3 --H 5 2>/dev/null
[ $? -eq 2 ] || fail "bad --mode must exit 2"
"$bin" bench --cell lstm --mode train --T 0 --B 2 --I 3 --H 5 2>/dev/null
[ $? -eq 2 ] || fail "--T 0 must exit 2"
"$bin" bench --cell lsmt --mode train --T 4 --B 2 --I 3 --H 5 2>/dev/null
[ $? -eq 2 ] || fail "unknown cell must exit 2"
"$bin" bench --mode train --T 4 --B 2 --I 3 --H 5 2>/dev/null
[ $? -eq 2 ] || fail "missing --cell must exit 2"
echo "bench_cli_test: 1 passed, 0 failed"

#!/usr/bin/env bash
# gatefuse refcheck --path tape|fused: one OK line per good file and exit 0; a damaged
# file gives a FAIL line and exit 1; usage errors exit 2.
set -u
bin="$1"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$bin" refcheck --path tape tests/data/reference/*.txt) || fail "exit $? on good files: $out"
n=$(echo "$out" | grep -c ' tape max_rel_err=.* OK$')
[ "$n" -eq "$(ls tests/data/reference/*.txt | wc -l)" ] || fail "expected one OK line per file: $out"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Flip the sign of the first value of d_W.
awk 'prev ~ /^tensor d_W / { $1 = -$1 } { print; prev = $0 }' \
  tests/data/reference/lstm_T5_B3_I4_H6_s1.txt > "$tmp/lstm_bad.txt"
out=$("$bin" refcheck --path tape tests/data/reference/gru_T5_B3_I4_H6_s1.txt "$tmp/lstm_bad.txt")
code=$?
[ "$code" -eq 1 ] || fail "damaged file: exit $code, want 1"
echo "$out" | grep -q 'gru_T5_B3_I4_H6_s1.txt tape max_rel_err=.* OK$' || fail "good file line: $out"
echo "$out" | grep -q 'lstm_bad.txt tape max_rel_err=.* FAIL worst: d_W \[0,0,0\]: ours ' \
  || fail "bad file line must name the worst element: $out"

# A NaN among the reference values fails with an infinite error, on both paths.
awk 'prev ~ /^tensor y / { $2 = "nan" } { print; prev = $0 }' \
  tests/data/reference/lstm_T5_B3_I4_H6_s1.txt > "$tmp/lstm_nan.txt"
for path in tape fused; do
  out=$("$bin" refcheck --path "$path" "$tmp/lstm_nan.txt"); code=$?
  [ "$code" -eq 1 ] || fail "NaN reference ($path): exit $code, want 1: $out"
  echo "$out" | grep -q "lstm_nan.txt $path max_rel_err=inf FAIL" || fail "NaN reference ($path): $out"
done

head -c 100 tests/data/reference/lstm_T5_B3_I4_H6_s1.txt > "$tmp/truncated.txt"
out=$("$bin" refcheck --path tape "$tmp/truncated.txt"); code=$?
[ "$code" -eq 1 ] || fail "truncated file: exit $code, want 1"
echo "$out" | grep -q 'FAIL (.*truncated.txt:3: tensor x \[5,3,4\] needs 60 values' || fail "truncated file line: $out"

# --path fused: f32 through the compiler and the fused kernels, OK at 1e-4, with
# the kernel chosen; the damaged file fails there too.
out=$("$bin" refcheck --path fused tests/data/reference/*.txt) || fail "fused: exit $? on good files: $out"
n=$(echo "$out" | grep -c ' fused max_rel_err=.* OK (fusion: [a-z_]*, path: [a-z_ -]*)$')
[ "$n" -eq "$(ls tests/data/reference/*.txt | wc -l)" ] || fail "fused: expected one OK line per file: $out"
echo "$out" | grep -q 'lstm_T5_B3_I4_H6_s1.txt fused .* (fusion: lstm, path: fused lstm)$' || fail "lstm must fuse: $out"
echo "$out" | grep -q 'mgu_T5_B3_I4_H6_s1.txt fused .* (fusion: custom, path: compiled)$' || fail "mgu is compiled: $out"
if echo "$out" | grep -q 'path: op-by-op'; then fail "nothing may run op by op: $out"; fi
"$bin" refcheck --path fused "$tmp/lstm_bad.txt" > /dev/null
[ $? -eq 1 ] || fail "fused: damaged file must exit 1"

"$bin" refcheck --path warp tests/data/reference/lstm_T5_B3_I4_H6_s1.txt 2>/dev/null
[ $? -eq 2 ] || fail "unknown --path must exit 2"
"$bin" refcheck --bogus 2>/dev/null
[ $? -eq 2 ] || fail "unknown flag must exit 2"
echo "refcheck_cli_test: 1 passed, 0 failed"

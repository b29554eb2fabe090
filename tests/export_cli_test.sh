#!/usr/bin/env bash
# gatefuse export: a trained adding model exports with test data that gatefuse's own
# importer reproduces (onnx-test OK), a custom cell as a Scan; the errors name what is
# wrong, with exit status 2 for a bad command line and 1 for a model that cannot be
# exported, and write nothing.
set -u
bin="$1"
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

train() {  # train CELL OUT
  "$bin" train --task adding --cell "$1" --T 6 --hidden 5 --epochs 1 --train-size 200 \
    --test-size 50 --out "$2" >"$tmp/train.log" 2>&1 || fail "train $1: $(cat "$tmp/train.log")"
}
train gru "$tmp/gru.gfm"
out=$("$bin" export "$tmp/gru.gfm" --out "$tmp/gru" --test-data 2 --T 7 --B 2) || fail "export: $out"
out_export="$out"
echo "$out" | grep -q 'recurrent: GRU' || fail "no GRU node: $out"
echo "$out" | grep -q '^inputs x: float \[T, B, 2\], sequence_lens: int32 \[B\]; outputs: prediction$' ||
  fail "io line: $out"
[ -f "$tmp/gru/model.onnx" ] && [ -f "$tmp/gru/test_data_set_1/input_1.pb" ] &&
  [ -f "$tmp/gru/test_data_set_1/output_0.pb" ] || fail "files: $(ls -R "$tmp/gru")"
out=$("$bin" onnx-test "$tmp/gru") || fail "onnx-test of the export: $out"
echo "$out" | grep -q 'max_rel_err=.* OK' || fail "onnx-test: $out"
# The test data comes from the model's own test set (the file records its run), or,
# asked for, from seeded random inputs of --T x --B.
echo "$out_export" | grep -q 'test data set(s): the first 2 test batches of 2' ||
  fail "task test data: $out_export"
out=$("$bin" export "$tmp/gru.gfm" --out "$tmp/gru_random" --test-data 1 --random-test-data \
  --T 5 --B 2) || fail "random test data: $out"
echo "$out" | grep -q 'test data set(s): seeded random inputs' || fail "random test data: $out"
"$bin" onnx-test "$tmp/gru_random" | grep -q 'max_rel_err=.* OK' || fail "onnx-test of random data"

# A custom cell: one Scan.
train models/cells/mgu.cell "$tmp/mgu.gfm"
out=$("$bin" export "$tmp/mgu.gfm" --out "$tmp/mgu" --test-data 1) || fail "mgu: exit $?: $out"
echo "$out" | grep -q 'recurrent: Scan)' || fail "mgu: no Scan: $out"
[ -f "$tmp/mgu/test_data_set_0/output_0.pb" ] || fail "mgu: no test data"

# Refusals write nothing.
out=$("$bin" export "$tmp/gru.gfm" --out "$tmp/o" --opset 9 2>&1); code=$?
[ "$code" -eq 1 ] && echo "$out" | grep -q 'opsets 14 to 17' || fail "opset 9: exit $code: $out"
[ ! -e "$tmp/o" ] || fail "opset 9: $tmp/o was created"
out=$("$bin" export "$tmp/gru.gfm" 2>&1); code=$?
[ "$code" -eq 2 ] && echo "$out" | grep -q 'usage: gatefuse export' || fail "no --out: exit $code: $out"
out=$("$bin" export "$tmp/none.gfm" --out "$tmp/n" 2>&1); code=$?
[ "$code" -eq 1 ] && echo "$out" | grep -q 'none.gfm' || fail "missing model: exit $code: $out"
touch "$tmp/file"
out=$("$bin" export "$tmp/gru.gfm" --out "$tmp/file" 2>&1); code=$?
[ "$code" -eq 1 ] && echo "$out" | grep -q 'exists and is not a folder' || fail "--out a file: exit $code: $out"
echo "export_cli_test: OK"

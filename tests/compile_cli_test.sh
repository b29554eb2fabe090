#!/usr/bin/env bash
# gatefuse compile prints its fusion and the path the cell's sequences take: fused for
# a recognised cell, compiled for mgu, op by op with the op named for a cell the
# compiled plan cannot take; --verify checks the compiled graph against the traced one.
set -u
bin="$1"
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$bin" compile --cell models/cells/lstm.cell --size I=4,H=6 --verify) || fail "lstm: exit $?: $out"
echo "$out" | grep -qx 'fusion: lstm' || fail "lstm fusion line: $out"
echo "$out" | grep -qx 'path: fused lstm' || fail "lstm path line: $out"
echo "$out" | grep -q '^verify: max_rel_err=.* OK$' || fail "lstm verify: $out"

out=$("$bin" compile --cell models/cells/mgu.cell --size I=4,H=6 --explain --verify) || fail "mgu: exit $?: $out"
echo "$out" | grep -qx 'fusion: custom' || fail "mgu fusion line: $out"
echo "$out" | grep -qx 'path: compiled' || fail "mgu path line: $out"
echo "$out" | grep -q '^verify: max_rel_err=.* OK$' || fail "mgu verify: $out"

# The pointwise part ends in a concatenation of two gates: the compiled plan takes
# it (a concatenation of per-step values is a copy into the state's columns).
cat > "$tmp/halves.cell" <<'CELL'
cell halves
input x[I]
state h[2*K]
param W[I,2*K] U[2*K,2*K]
a, b = split(x @ W + h @ U, 2)
next h = concat(tanh(a), sigmoid(b))
CELL
out=$("$bin" compile --cell "$tmp/halves.cell" --size I=3,K=4 --verify) || fail "halves: exit $?: $out"
echo "$out" | grep -qx 'fusion: custom' || fail "halves fusion line: $out"
echo "$out" | grep -qx 'path: compiled' || fail "halves must run compiled: $out"
echo "$out" | grep -q '^verify: max_rel_err=.* OK$' || fail "halves verify: $out"
# A step in which nothing can be computed before the sequence (x enters only through
# a sum with the state) has no compiled plan yet: it runs op by op, and says why.
cat > "$tmp/direct.cell" <<'CELL'
cell direct
input x[H]
state h[H]
next h = tanh(x + h)
CELL
out=$("$bin" compile --cell "$tmp/direct.cell" --size H=4 --verify) || fail "direct: exit $?: $out"
echo "$out" | grep -Eq '^path: op-by-op: cell direct: no compiled plan: .*hoisted' ||
  fail "direct must run op by op and say why: $out"
echo "$out" | grep -q '^verify: max_rel_err=.* OK$' || fail "direct verify: $out"
echo "compile_cli_test: 1 passed, 0 failed"

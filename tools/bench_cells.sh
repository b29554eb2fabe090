#!/bin/bash
# The custom-cell rows of the README's benchmark table, in one run: gatefuse bench
# for LN-LSTM (models/cells/ln_lstm.cell), the LSTM forced down the compiled path,
# mgu, and the small-batch sizes, then PyTorch eager at the same sizes: its
# LayerNorm LSTM (../shared/bench/torch_lnlstm_bench.py) and an LSTM written as
# equations (torch_lstm_bench.py lstm_cell_eager); Debian python3-torch with
# libopenblas0-pthread, 2 threads), so every ratio compares rows of one session.
# Needs a quiet machine; not part of the test suite.
#   tools/bench_cells.sh [--no-torch]
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt //tools:gatefuse >/dev/null 2>&1
bin=$(mktemp -d)/gatefuse
cp bazel-bin/tools/gatefuse "$bin"
big="--T 100 --B 64 --I 512 --H 512 --min-iters 7 --min-seconds 4"
small="--T 100 --B 16 --I 128 --H 128 --min-iters 7 --min-seconds 4"
run() { echo "== gatefuse bench $*"; "$bin" bench "$@"; }
run --cell models/cells/ln_lstm.cell --mode train $big
run --cell lstm --no-recognize --mode train $big
run --cell mgu --mode train $big
run --cell lstm --no-recognize --mode train $small
run --cell mgu --mode train $small
run --cell models/cells/ln_lstm.cell --mode train $small
torch_script=../shared/bench/torch_lnlstm_bench.py
torch_lstm=../shared/bench/torch_lstm_bench.py
if [[ "${1:-}" != "--no-torch" ]]; then
  if [[ ! -f "$torch_script" ]]; then
    echo "no $torch_script: PyTorch rows skipped"
  elif ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "Debian's python3-torch is not installed: PyTorch rows skipped"
  else
    echo "== PyTorch eager LayerNorm LSTM (BLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3))"
    /usr/bin/python3 "$torch_script" eager 100 64 512 512 5
    /usr/bin/python3 "$torch_script" eager 100 16 128 128 10
    echo "== PyTorch eager LSTM written as equations (the custom-cell path's counterpart)"
    /usr/bin/python3 "$torch_lstm" lstm_cell_eager 100 64 512 512 5
    /usr/bin/python3 "$torch_lstm" lstm_cell_eager 100 16 128 128 10
  fi
fi

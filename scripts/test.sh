#!/usr/bin/env bash
# Builds and runs every test: the release build of snibind and the benchmarks (the build the
# README's run command and docker/Dockerfile use), the whole suite under ASan+UBSan (unit,
# integration with real clients, the browser test), the concurrency tests under TSan, and each
# fuzz target for FUZZ_SECONDS (default 20 each). On 2 cores it takes about 13 minutes; the
# ASan build dominates. `ctest --preset release` runs the same suite without sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
# playwright-core for the browser test (npm registry; pinned by tests/browser/package-lock.json)
[ -d tests/browser/node_modules/playwright-core ] ||
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
jobs=$(nproc)

echo "== release build: snibind and the benchmarks"
scripts/build.sh release snibind reader_bench selection_bench

echo "== ASan+UBSan build and the whole test suite"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --preset asan -j "$jobs"

echo "== TSan: concurrency tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target binding_table_stress_test
TSAN_OPTIONS=halt_on_error=1 ctest --preset tsan

export FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
echo "== fuzzing: every target for $FUZZ_SECONDS s"
scripts/fuzz.sh

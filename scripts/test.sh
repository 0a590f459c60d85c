#!/usr/bin/env bash
# Builds and runs every test: the suite (release), the suite again under ASan+UBSan, the
# concurrency tests under TSan, and each fuzz target for FUZZ_SECONDS (default 30 each).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
# playwright-core for the browser test (npm registry; pinned by tests/browser/package-lock.json)
[ -d tests/browser/node_modules/playwright-core ] ||
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
jobs=$(nproc)

echo "== release build and tests"
scripts/build.sh release   # the same build the README's run command and docker/Dockerfile use
ctest --preset release -j "$jobs"

echo "== ASan+UBSan build and tests"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --preset asan -j "$jobs"

echo "== TSan: concurrency tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target binding_table_stress_test
TSAN_OPTIONS=halt_on_error=1 ctest --preset tsan

if [ -x scripts/fuzz.sh ]; then
  echo "== fuzzing: every target for ${FUZZ_SECONDS:-30} s"
  scripts/fuzz.sh
fi

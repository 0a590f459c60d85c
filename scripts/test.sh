#!/usr/bin/env bash
# Builds and runs every test: the suite (release), the suite again under ASan+UBSan, the table's
# concurrency tests under TSan, and the ClientHello fuzzer for FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)

echo "== release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
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
  echo "== fuzzing the ClientHello reader for ${FUZZ_SECONDS:-60} s"
  scripts/fuzz.sh
fi

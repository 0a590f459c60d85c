#!/usr/bin/env bash
# Builds and runs every test: the release build of snibind and the benchmarks (the build the
# README's run command and docker/Dockerfile use), the whole suite under ASan+UBSan (unit,
# integration with real clients, the browser test), the concurrency tests under TSan, the whole
# suite again on BoringSSL (-DSNIBIND_TLS=boringssl, the other TLS stack snibind builds on), each
# fuzz target for FUZZ_SECONDS (default 20 each), plus the rule-id and package checks. On 2
# cores it takes about 25 minutes on a bare Debian 12 (package installs included); the ASan and
# fuzz builds dominate. `ctest --preset release` runs the same suite without sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
# playwright-core for the browser test (npm registry; pinned by tests/browser/package-lock.json)
[ -d tests/browser/node_modules/playwright-core ] ||
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
jobs=$(nproc)

# Every rule id the code, tests and README cite (L1-L9, S1-S4, I1-I7, sections, pitfalls, the
# reader's design rules) must be written down in src/bindings/README.md or src/tls/README.md.
bash scripts/check-rule-ids.sh

# The layers of src/ (src/CMakeLists.txt): no cycle between folders. Its self-test: the same tree
# with bindings/ including proxy/ must fail, naming the cycle.
python3 scripts/check-layers.py
layers_probe=$(mktemp -d)
cp -r src "$layers_probe/src"
echo '#include "proxy/runtime.h"' >>"$layers_probe/src/bindings/record.h"
if python3 scripts/check-layers.py "$layers_probe" 2>"$layers_probe/err"; then
  echo "check-layers.py missed bindings -> proxy -> ... -> bindings" >&2; exit 1
fi
grep -q "cycle: bindings -> " "$layers_probe/err" || { cat "$layers_probe/err" >&2; exit 1; }
rm -rf "$layers_probe"

echo "== release build: snibind and the benchmarks"
scripts/build.sh release snibind reader_bench selection_bench tls_bakeoff_openssl
# Every header and library that build used must come from a package `deps.sh build` names or
# pulls in: a package preinstalled on this machine must not hide a gap on a bare Debian 12.
python3 scripts/check-deps.py build/release build

echo "== ASan+UBSan build and the whole test suite"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
python3 scripts/check-deps.py build/asan test
# The check's own test: with libxml2-dev (used by src/iis) left out of the list, it must fail
# and name the package.
if python3 scripts/check-deps.py build/asan test --omit libxml2-dev 2>/tmp/check-deps-self.$$; then
  echo "check-deps.py passed a list without libxml2-dev" >&2; exit 1
fi
grep -q "libxml2-dev is used by the build" /tmp/check-deps-self.$$ ||
  { cat /tmp/check-deps-self.$$ >&2; echo "check-deps.py did not name libxml2-dev" >&2; exit 1; }
rm -f /tmp/check-deps-self.$$
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --preset asan -j "$jobs"

echo "== TSan: concurrency tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target binding_table_stress_test snibind serve_forward_test
TSAN_OPTIONS=halt_on_error=1 ctest --preset tsan
# The forward path's event loops, one per worker thread, against the runtime, the connection
# limit and the access log that the workers share: `snibind serve` itself built with TSan.
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan --output-on-failure -R '^ServeForward\.'

echo "== BoringSSL build (-DSNIBIND_TLS=boringssl) and the whole test suite again"
cmake --preset boringssl >/dev/null
cmake --build --preset boringssl -j "$jobs"
python3 scripts/check-deps.py build/boringssl test
ctest --preset boringssl -j "$jobs"

export FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
echo "== fuzzing: every target for $FUZZ_SECONDS s"
scripts/fuzz.sh
python3 scripts/check-deps.py build/fuzz test

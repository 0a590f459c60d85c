#!/usr/bin/env bash
# Builds the "fuzz" preset and runs the ClientHello fuzzer for FUZZ_SECONDS (default 60).
# The corpus lives in build/fuzz/corpus and is seeded from tests/data/clienthello/*.bin.
# Exits non-zero when the fuzzer finds a crash, a sanitizer report or a broken invariant
# (the reproducer is written to build/fuzz/artifacts/).
# Usage: scripts/fuzz.sh [extra libFuzzer flags...]
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
build=build/fuzz
corpus="$build/corpus"
artifacts="$build/artifacts"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target client_hello_fuzz

mkdir -p "$corpus" "$artifacts"
cp -n tests/data/clienthello/*.bin "$corpus"/

set +e
"$build/tests/fuzz/client_hello_fuzz" \
    -max_total_time="$seconds" -max_len=20000 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$@" "$corpus"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: the fuzzer failed (exit $status); reproducers in $artifacts/" >&2
fi
exit "$status"

#!/usr/bin/env bash
# Builds the "fuzz" preset and runs every libFuzzer target declared in tests/fuzz/CMakeLists.txt
# in turn, each for FUZZ_SECONDS (default 30). Each target NAME keeps its own corpus in
# build/fuzz/corpus/NAME, seeded from the SEEDS of its CMake line (copied to
# build/fuzz/tests/fuzz/seeds/NAME; the ClientHello fuzzer's are tests/data/clienthello/*.bin)
# and from the kept corpus tests/fuzz/corpus/NAME/ when there is one: what earlier campaigns
# found, so that CI's short runs start where they ended. To keep a campaign's findings, merge
# its working corpus into the kept one (only the inputs that add coverage):
#   build/fuzz/tests/fuzz/NAME -merge=1 tests/fuzz/corpus/NAME build/fuzz/corpus/NAME
# Exits non-zero when any fuzzer finds a crash, a sanitizer report or a broken invariant (the
# reproducer is written to build/fuzz/artifacts/NAME/); the other targets still run.
# Usage: scripts/fuzz.sh [extra libFuzzer flags, given to every target...]
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
build=build/fuzz

cmake --preset fuzz >/dev/null
# Written by tests/fuzz/CMakeLists.txt at configure time, one target a line.
mapfile -t targets <"$build/tests/fuzz/fuzz_targets.txt"
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets are declared" >&2
    exit 1
fi
cmake --build --preset fuzz --target "${targets[@]}"

failed=()
for name in "${targets[@]}"; do
    corpus="$build/corpus/$name"
    artifacts="$build/artifacts/$name"
    seeds="$build/tests/fuzz/seeds/$name"
    kept="tests/fuzz/corpus/$name"
    mkdir -p "$corpus" "$artifacts"
    for dir in "$seeds" "$kept"; do
        # -n: a file the working corpus already has (same name) is left as it is.
        if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
            cp -n "$dir"/* "$corpus"/
        fi
    done

    echo "== fuzz.sh: $name for $seconds s"
    set +e
    "$build/tests/fuzz/$name" \
        -max_total_time="$seconds" -max_len=20000 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$@" "$corpus"
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        echo "fuzz.sh: $name failed (exit $status); reproducers in $artifacts/" >&2
        failed+=("$name")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran $seconds s each without a failure"

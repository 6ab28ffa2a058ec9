#!/bin/sh
# Build and run every test (unit + integration) with ctest.
#   scripts/test.sh            normal build in build/
#   scripts/test.sh --asan     AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh --fuzz     clang libFuzzer targets in build-fuzz/, each run for a bounded time
set -eu
cd "$(dirname "$0")/.."
mode="${1:-normal}"
jobs="$(nproc 2>/dev/null || echo 2)"
case "$mode" in
normal)
    dir=build
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRMQ_WERROR=ON >/dev/null
    ;;
--asan)
    dir=build-asan
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DRMQ_ASAN=ON -DRMQ_UBSAN=ON -DRMQ_WERROR=ON >/dev/null
    # Leaks fail the run; abort on the first UBSan report.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ;;
--fuzz)
    dir=build-fuzz
    CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRMQ_FUZZ=ON -DRMQ_WERROR=ON >/dev/null
    cmake --build "$dir" -j"$jobs" --target rmq_fuzz
    exec ctest --test-dir "$dir" -L fuzz --output-on-failure
    ;;
*)
    echo "usage: $0 [--asan|--fuzz]" >&2
    exit 2
    ;;
esac
cmake --build "$dir" -j"$jobs"
ctest --test-dir "$dir" --output-on-failure -LE fuzz

#!/bin/sh
# The build a packager or an operator types first: Release, warnings as errors, with gcc and
# with clang, each in its own directory (build-release-gcc/, build-release-clang/).
set -eu
cd "$(dirname "$0")/.."
jobs="$(nproc 2>/dev/null || echo 2)"
for cc in gcc clang; do
    dir=build-release-$cc
    echo "== Release build with $cc in $dir/"
    CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DRMQ_WERROR=ON >/dev/null
    cmake --build "$dir" -j"$jobs" >/dev/null
done
echo "Release builds: gcc and clang clean"

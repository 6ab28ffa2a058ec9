#!/bin/sh
# Fail when a tracked C source or header is not formatted as .clang-format says (STYLE.md:
# 4 spaces, 100 columns). Prints the files and how to fix them.
#   scripts/check-format.sh          check
#   scripts/check-format.sh --fix    reformat in place
set -eu
cd "$(dirname "$0")/.."
cf=$(command -v clang-format || command -v clang-format-14 || true)
[ -n "$cf" ] || { echo "check-format: clang-format not installed (scripts/install-deps.sh)" >&2; exit 2; }
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
    echo "$files" | xargs "$cf" -i
    exit 0
fi
bad=""
for f in $files; do
    "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "check-format: not formatted as .clang-format says:" >&2
    for f in $bad; do echo "  $f" >&2; done
    echo "fix with: scripts/check-format.sh --fix" >&2
    exit 1
fi
echo "check-format: $(echo "$files" | wc -l) files formatted"

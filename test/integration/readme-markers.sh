#!/bin/sh
# readme-markers: every ```sh block of README.md, client/README.md and deploy/README.md carries a
# readme-test marker (scripts/test-readme.sh refuses to run otherwise), checked without running
# anything: a copy of the three files gets one unmarked block appended, and test-readme.sh must
# fail naming exactly that block's file:line and nothing else.
set -eu
src="$1"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-readme-markers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/scripts" "$tmp/client" "$tmp/deploy"
cp "$src/scripts/test-readme.sh" "$tmp/scripts/"
cp "$src/README.md" "$tmp/"
cp "$src/client/README.md" "$tmp/client/"
cp "$src/deploy/README.md" "$tmp/deploy/"
printf '\nAn unmarked block:\n\n```sh\nfalse\n```\n' >>"$tmp/deploy/README.md"
line=$(grep -n '^```sh$' "$tmp/deploy/README.md" | tail -1 | cut -d: -f1)
rc=0
sh "$tmp/scripts/test-readme.sh" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
[ "$rc" -ne 0 ] || { echo "FAIL: test-readme.sh accepted an unmarked block" >&2; exit 1; }
grep -q "^FAIL: deploy/README.md:$line: a \`\`\`sh block without a readme-test marker; put one of <!-- readme-test: run -->" "$tmp/out" ||
    { echo "FAIL: no failure naming deploy/README.md:$line" >&2; exit 1; }
n=$(grep -c '^FAIL' "$tmp/out")
[ "$n" -eq 1 ] || { echo "FAIL: $((n - 1)) more block(s) without a valid marker (above): classify them" >&2; exit 1; }
! grep -q '^==' "$tmp/out" || { echo "FAIL: something ran before the markers were checked" >&2; exit 1; }
echo "readme markers: OK"

#!/bin/sh
# librmq.so exports only the public API: every defined dynamic symbol must be a function
# declared in the public headers (rmq.h, rmq_err.h), and every such function must be exported.
# Usage: check_exports.sh LIB HEADER...
set -eu
lib=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declarations: comments stripped, then every "rmq_name(" not opening a function pointer type
# ("rmq_txn_state_t (*cb)(").
for h in "$@"; do
    sed -e ':a' -e 's:/\*[^*]*\*\+\([^/*][^*]*\*\+\)*/::g' -e '/\/\*/{N;ba' -e '}' "$h"
done | grep -v '^[[:space:]]*#' | grep -oE '\brmq_[a-z0-9_]+[[:space:]]*\([^*]' |
    sed -E 's/[[:space:]]*\(.$//' | sort -u >"$tmp/declared"

nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/exported"

status=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
    echo "exported but not declared in the public headers:"
    echo "$extra" | sed 's/^/  /'
    status=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then
    echo "declared in the public headers but not exported:"
    echo "$missing" | sed 's/^/  /'
    status=1
fi
[ "$status" -eq 0 ] && echo "ok: $(wc -l <"$tmp/exported") symbols, all public"
exit $status

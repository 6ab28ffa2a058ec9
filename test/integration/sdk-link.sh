#!/bin/sh
# The SDK as a C or C++ developer uses it (issue 13), from an installed tree:
#  1. `cmake --install` into a temp prefix; a small program links librmq.a through
#     rmq-static.pc (ldd shows no librmq.so) and librmq.so through rmq.pc with an rpath; both run.
#  2. every ```c block of client/README.md and README.md compiles and links as C (gcc) and as
#     C++ (g++ -x c++): a block's top-level function definitions go before main(), the rest
#     into main().
# usage: sdk-link.sh SRC_DIR BUILD_DIR
set -eu
src=$1
build=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-sdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"

cat >"$tmp/app.c" <<'C'
#include <stdio.h>
#include <string.h>

#include <rmq/rmq.h>

int main(void) {
    char err[256];
    rmq_conf_t *c = rmq_conf_new();
    if (rmq_conf_set(c, "namesrvAddr", "127.0.0.1:9876", err, sizeof err) != RMQ_CONF_OK) return 1;
    rmq_msg_t *m = rmq_msg_new("TopicTest", "TagA", "k1", "hello", 5, RMQ_MSG_F_COPY);
    size_t len = 0;
    const void *b = rmq_msg_body(m, &len);
    int ok = m && len == 5 && memcmp(b, "hello", 5) == 0;
    rmq_msg_destroy(m);
    rmq_conf_destroy(c);
    printf("%s %s\n", ok ? "OK" : "BAD", rmq_strerror(RMQ_ERR_TOPIC_NOT_EXIST));
    return ok ? 0 : 1;
}
C
cc -Wall -Werror "$tmp/app.c" $(pkg-config --cflags --libs rmq-static) -o "$tmp/app-static"
if ldd "$tmp/app-static" | grep -q librmq; then
    echo "FAIL: the static link still needs librmq.so:" >&2
    ldd "$tmp/app-static" >&2
    exit 1
fi
"$tmp/app-static" | grep -q '^OK' || { echo "FAIL: static program" >&2; exit 1; }
cc -Wall -Werror "$tmp/app.c" $(pkg-config --cflags --libs rmq) -Wl,-rpath,"$tmp/prefix/lib" \
    -o "$tmp/app-shared"
ldd "$tmp/app-shared" | grep -q "$tmp/prefix/lib/librmq.so.0" ||
    { echo "FAIL: shared program does not use the installed librmq.so.0" >&2; exit 1; }
"$tmp/app-shared" | grep -q '^OK' || { echo "FAIL: shared program" >&2; exit 1; }
g++ -Wall -Werror -x c++ "$tmp/app.c" -x none $(pkg-config --cflags --libs rmq-static) -o "$tmp/app-cxx"
"$tmp/app-cxx" | grep -q '^OK' || { echo "FAIL: C++ program" >&2; exit 1; }
echo "static, shared and C++ links: OK"

# README snippets
n=0
for md in "$src/client/README.md" "$src/README.md"; do
    awk -v dir="$tmp" -v base="$(basename "$(dirname "$md")")" '
        /^```c$/ { inb = 1; n++; top = dir "/snip-" base "-" n ".top"; body = dir "/snip-" base "-" n ".body";
                   printf "" > top; printf "" > body; infn = 0; next }
        /^```/ && inb { inb = 0; next }
        inb {
            # a top-level function definition: from a column-0 line ending in "{" or "," that
            # is not a statement, to the closing "}" at column 0
            if (!infn && $0 ~ /^(static |int |void |const )/ && $0 ~ /\(/ && $0 !~ /;[ \t]*(\/\*.*\*\/)?[ \t]*$/) infn = 1
            if (infn) { print > top; if ($0 ~ /^}/) infn = 0; next }
            print > body
        }' "$md"
done
for top in "$tmp"/snip-*.top; do
    [ -e "$top" ] || continue
    b=${top%.top}
    {
        printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <rmq/rmq.h>\n'
        cat "$top"
        printf 'int main(void) {\n'
        cat "$b.body"
        printf 'return 0;\n}\n'
    } >"$b.c"
    flags="-Wall -Werror -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unused-parameter"
    # shellcheck disable=SC2086
    gcc -std=c11 $flags "$b.c" $(pkg-config --cflags --libs rmq-static) -o "$b.c.out" ||
        { echo "FAIL: $(basename "$b") does not compile as C:" >&2; cat -n "$b.c" >&2; exit 1; }
    # shellcheck disable=SC2086
    g++ $flags -x c++ "$b.c" -x none $(pkg-config --cflags --libs rmq-static) -o "$b.cxx.out" ||
        { echo "FAIL: $(basename "$b") does not compile as C++:" >&2; cat -n "$b.c" >&2; exit 1; }
    n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL: no C snippet found" >&2; exit 1; }
echo "$n README C snippets compile and link as C and C++: OK"

#!/bin/sh
# Run every ```sh block of README.md, client/README.md and deploy/README.md as written, on this
# tree, and compile every ```c block; fail on the first command that fails (issue 13). Meant for
# a fresh clone, as root (CI) or as a user with sudo: `scripts/test-readme.sh`.
#
# Every ```sh block must be preceded (on the line right before its fence, blank lines allowed) by
# one marker; a block without one FAILS the test, so every new README block gets classified:
#   <!-- readme-test: run -->               run as one `sh -e` script from the repository root
#   <!-- readme-test: background "TEXT" --> started in the background (its own process group),
#                                           waited for until its output shows TEXT, and stopped
#                                           (SIGTERM to the group) when everything else is done
#   <!-- readme-test: skip "REASON" -->     not run; REASON is printed. Only for what cannot run
#                                           in a test: real remote hosts, systemctl without
#                                           systemd as PID 1, docker/kubectl without a runtime,
#                                           placeholders only a live system's output fills in
# Blocks run file by file in that order (README.md, client/README.md, deploy/README.md), so the
# quick start's servers (README.md) are up while the later files' blocks run.
#
# ```c blocks of README.md and client/README.md: each is compiled as C (cc -std=c11 -Wall
# -Werror -c) and as C++ (g++ -x c++ -Wall -Werror -c) against client/include and include (the
# installed rmq.h and rmq_err.h), after <stdio.h>, <stdlib.h>, <string.h>, <rmq/rmq.h>. A
# snippet may be a fragment: a column-0 line starting with `static `, `int `, `void ` or
# `const ` that has a "(" and does not end in ";" starts a function definition, kept at file
# scope up to the next "}" at column 0; every other line is a statement, placed in order in the
# body of `int readme_snippet(void)` (unused variables, parameters and results are not errors;
# everything else is).
#
# client/README.md's `cc app.c` lines get a small app.c in the repository root (removed
# afterwards); then app-static must not need librmq.so and both programs must run.
# Environment (not part of the commands): RMQ_HOME (temp dir) and RMQ_COMMITLOG_SIZE (64 MiB)
# for start-local.sh; RMQ_README_SKIP_DEPS=1 skips scripts/install-deps.sh (no network).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-readme.XXXXXX")
bgpids=""
cleanup() {
    # the whole group ("-PID"; dash's kill takes no "--")
    for p in $bgpids; do kill -TERM "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
    for p in $bgpids; do wait "$p" 2>/dev/null || true; done
    for p in $bgpids; do # until every process of the group stopped (brokers shut down cleanly)
        n=0
        while kill -0 "-$p" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.2; n=$((n + 1)); done
    done
    rm -f "$root/app.c" "$root/app" "$root/app-static"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export RMQ_HOME="${RMQ_HOME:-$tmp/home}"
export RMQ_COMMITLOG_SIZE="${RMQ_COMMITLOG_SIZE:-67108864}"
start=$(date +%s)
files="README.md client/README.md deploy/README.md"
markers='<!-- readme-test: run -->, <!-- readme-test: background "TEXT" -->, <!-- readme-test: skip "REASON" -->'

# sh blocks of a file: tmp/<tag>.<n>.sh, .mode (run | background "TEXT" | skip "REASON" | "-"
# unmarked | "?<marker>" unknown) and .where (file:line of the fence)
extract() { # file tag
    awk -v dir="$tmp" -v tag="$2" -v file="$1" '
        /^<!-- readme-test: .* -->$/ { mode = $0; sub(/^<!-- readme-test: /, "", mode); sub(/ -->$/, "", mode); next }
        /^```sh$/ { n++; f = dir "/" tag "." n ".sh"; printf "" > f;
                    m = mode == "" ? "-" : mode
                    if (m != "-" && m != "run" && m !~ /^background ".+"$/ && m !~ /^skip ".+"$/) m = "?" m
                    print m > (dir "/" tag "." n ".mode"); print file ":" NR > (dir "/" tag "." n ".where")
                    mode = ""; inb = 1; next }
        /^```/ { inb = 0; mode = ""; next }
        inb { print >> f; next }
        /^[ \t]*$/ { next }
        { mode = "" }' "$1"
}

# 1. every sh block classified (before running anything)
bad=0
t=0
for f in $files; do
    [ -e "$f" ] || continue
    t=$((t + 1))
    extract "$f" "f$t"
    for m in "$tmp/f$t".*.mode; do
        [ -e "$m" ] || continue
        case "$(cat "$m")" in
        -) echo "FAIL: $(cat "${m%.mode}.where"): a \`\`\`sh block without a readme-test marker; put one of $markers on the line before it" >&2; bad=1 ;;
        \?*) echo "FAIL: $(cat "${m%.mode}.where"): unknown marker \"$(cut -c2- "$m")\"; the markers are $markers" >&2; bad=1 ;;
        esac
    done
done
[ "$bad" = 0 ] || exit 1

# 2. C snippets, as C and as C++
nc=0
for f in README.md client/README.md; do
    awk -v dir="$tmp" -v tag="$(echo "$f" | tr '/.' '__')" '
        /^```c$/ { inb = 1; n++; top = dir "/snip-" tag "-" n ".top"; body = dir "/snip-" tag "-" n ".body";
                   print FILENAME ":" NR > (dir "/snip-" tag "-" n ".where"); printf "" > top; printf "" > body; infn = 0; next }
        /^```/ && inb { inb = 0; next }
        inb {
            if (!infn && $0 ~ /^(static |int |void |const )/ && $0 ~ /\(/ && $0 !~ /;[ \t]*(\/\*.*\*\/)?[ \t]*$/) infn = 1
            if (infn) { print > top; if ($0 ~ /^}/) infn = 0; next }
            print > body
        }' "$f"
done
flags="-Wall -Werror -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unused-parameter -Wno-unused-result -Iclient/include -Iinclude"
for top in "$tmp"/snip-*.top; do
    [ -e "$top" ] || continue
    b=${top%.top}
    {
        printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n#include <rmq/rmq.h>\n'
        cat "$top"
        printf 'int readme_snippet(void);\nint readme_snippet(void) {\n'
        cat "$b.body"
        printf 'return 0;\n}\n'
    } >"$b.c"
    echo "== C snippet $(cat "$b.where") (as C and as C++)"
    # shellcheck disable=SC2086
    cc -std=c11 $flags -c "$b.c" -o "$b.o" 2>"$tmp/out" ||
        { cat "$tmp/out" >&2; cat -n "$b.c" >&2; echo "FAIL: C snippet at $(cat "$b.where") does not compile as C" >&2; exit 1; }
    # shellcheck disable=SC2086
    g++ $flags -x c++ -c "$b.c" -o "$b.o" 2>"$tmp/out" ||
        { cat "$tmp/out" >&2; cat -n "$b.c" >&2; echo "FAIL: C snippet at $(cat "$b.where") does not compile as C++" >&2; exit 1; }
    nc=$((nc + 1))
done

# 3. the sh blocks, in order
cat >"$root/app.c" <<'C'
#include <stdio.h>

#include <rmq/rmq.h>

int main(void) {
    rmq_msg_t *m = rmq_msg_new("TopicTest", "TagA", "k1", "hello", 5, RMQ_MSG_F_COPY);
    printf("%s\n", m ? "OK" : "BAD");
    rmq_msg_destroy(m);
    return m ? 0 : 1;
}
C
nrun=0
nbg=0
nskip=0
: >"$tmp/skipped"
t=0
for f in $files; do
    [ -e "$f" ] || continue
    t=$((t + 1))
    i=1
    while [ -e "$tmp/f$t.$i.sh" ]; do
        b="$tmp/f$t.$i"
        where=$(cat "$b.where")
        mode=$(cat "$b.mode")
        case "$mode" in
        run)
            if [ "${RMQ_README_SKIP_DEPS:-0}" = 1 ] && grep -q install-deps "$b.sh"; then
                echo "== $where: skipped (RMQ_README_SKIP_DEPS=1)"
                echo "$where: RMQ_README_SKIP_DEPS=1" >>"$tmp/skipped"
                nskip=$((nskip + 1))
            else
                echo "== $where"
                sed 's/^/   $ /' "$b.sh"
                if ! (cd "$root" && sh -e "$b.sh") >"$tmp/out" 2>&1; then
                    cat "$tmp/out" >&2
                    echo "FAIL: $where: the block above failed" >&2
                    exit 1
                fi
                nrun=$((nrun + 1))
            fi
            ;;
        background*)
            text=$(echo "$mode" | sed 's/^background "\(.*\)"$/\1/')
            echo "== $where (background, until \"$text\")"
            sed 's/^/   $ /' "$b.sh"
            if grep -q start-local "$b.sh"; then
                for port in 9876 10911; do
                    if python3 -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $port)) != 0)"; then
                        echo "FAIL: 127.0.0.1:$port is already in use; stop that server first" >&2
                        exit 1
                    fi
                done
            fi
            # its own session and process group (setsid execs in place: $! is the group), so
            # stopping it stops what its commands started in the foreground too
            : >"$b.log"
            (cd "$root" && exec setsid sh -e "$b.sh") >"$b.log" 2>&1 &
            bgpids="$bgpids $!"
            n=0
            until grep -q "$text" "$b.log"; do
                n=$((n + 1))
                if [ $n -gt 1800 ] || ! kill -0 "$!" 2>/dev/null; then # the first build may take a while
                    cat "$b.log" >&2
                    echo "FAIL: $where: the block never printed \"$text\"" >&2
                    exit 1
                fi
                sleep 0.5
            done
            sleep 2 # a broker registers with the NameServer right after "boot success"
            nbg=$((nbg + 1))
            ;;
        skip*)
            reason=$(echo "$mode" | sed 's/^skip "\(.*\)"$/\1/')
            echo "== $where: skipped: $reason"
            echo "$where: $reason" >>"$tmp/skipped"
            nskip=$((nskip + 1))
            ;;
        esac
        i=$((i + 1))
    done
done
if [ -e "$root/app-static" ]; then
    ! ldd "$root/app-static" | grep -q librmq || { echo "FAIL: app-static needs librmq.so" >&2; exit 1; }
    "$root/app-static" | grep -q OK || { echo "FAIL: app-static" >&2; exit 1; }
fi
if [ -e "$root/app" ]; then "$root/app" | grep -q OK || { echo "FAIL: app" >&2; exit 1; }; fi
echo "README commands: OK in $(($(date +%s) - start)) s: $nrun run, $nbg in the background, $nskip skipped; $nc C snippets compiled as C and C++"
sed 's/^/   skipped: /' "$tmp/skipped"

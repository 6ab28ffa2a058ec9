#!/bin/sh
# Run the README's quick start and client/README.md's sh blocks as written, on this tree, and
# fail on the first command that fails (issue 13). Run as root or as a user with sudo.
#   README.md: each ```sh block after a `<!-- readme-test: run -->` line runs as one `sh -e`
#     script from the repository root; a block after `<!-- readme-test: background "TEXT" -->`
#     is started in the background and waited for until its output shows TEXT, and stopped
#     (SIGTERM to it, which stops what it started) when everything else is done.
#   client/README.md: every ```sh block, with a small app.c in the repository root (removed
#     afterwards) for its `cc app.c` lines; then app-static must not need librmq.so and both
#     programs must run.
# Environment (not part of the commands): RMQ_HOME (temp dir) and RMQ_COMMITLOG_SIZE (64 MiB)
# for start-local.sh; RMQ_README_SKIP_DEPS=1 skips scripts/install-deps.sh (no network).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-readme.XXXXXX")
bgpids=""
cleanup() {
    for p in $bgpids; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $bgpids; do wait "$p" 2>/dev/null || true; done
    rm -f "$root/app.c" "$root/app" "$root/app-static"
    rm -rf "$tmp"
}
trap cleanup EXIT
export RMQ_HOME="${RMQ_HOME:-$tmp/home}"
export RMQ_COMMITLOG_SIZE="${RMQ_COMMITLOG_SIZE:-67108864}"

# blocks of a file: tmp/<name>.<n>.sh and tmp/<name>.<n>.mode ("run", "background TEXT", "-")
extract() {
    awk -v dir="$tmp" -v name="$2" '
        /^<!-- readme-test: / { mode = $0; sub(/^<!-- readme-test: /, "", mode); sub(/ -->$/, "", mode); next }
        /^```sh$/ { n++; f = dir "/" name "." n ".sh"; printf "" > f;
                    print (mode == "" ? "-" : mode) > (dir "/" name "." n ".mode"); mode = ""; inb = 1; next }
        /^```/ { inb = 0; next }
        inb { print >> f }' "$1"
}

run_block() { # file label
    echo "== $2"
    sed 's/^/   $ /' "$1"
    if ! (cd "$root" && sh -e "$1") >"$tmp/out" 2>&1; then
        cat "$tmp/out" >&2
        echo "FAIL: $2" >&2
        exit 1
    fi
}

extract README.md readme
i=1
while [ -e "$tmp/readme.$i.sh" ]; do
    mode=$(cat "$tmp/readme.$i.mode")
    case "$mode" in
    run)
        if [ "${RMQ_README_SKIP_DEPS:-0}" = 1 ] && grep -q install-deps "$tmp/readme.$i.sh"; then
            echo "== README.md block $i skipped (RMQ_README_SKIP_DEPS=1)"
        else
            run_block "$tmp/readme.$i.sh" "README.md block $i"
        fi
        ;;
    background*)
        text=$(echo "$mode" | sed 's/^background "\(.*\)"$/\1/')
        echo "== README.md block $i (background, until \"$text\")"
        sed 's/^/   $ /' "$tmp/readme.$i.sh"
        for port in 9876 10911; do
            if python3 -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $port)) != 0)"; then
                echo "FAIL: 127.0.0.1:$port is already in use; stop that server first" >&2
                exit 1
            fi
        done
        (cd "$root" && exec sh -e "$tmp/readme.$i.sh") >"$tmp/bg.$i.log" 2>&1 &
        bgpids="$bgpids $!"
        n=0
        until grep -q "$text" "$tmp/bg.$i.log"; do
            n=$((n + 1))
            if [ $n -gt 1800 ]; then # the first build may take a while
                cat "$tmp/bg.$i.log" >&2
                echo "FAIL: README.md block $i never printed \"$text\"" >&2
                exit 1
            fi
            sleep 0.5
        done
        sleep 2 # the broker registers with the NameServer right after "boot success"
        ;;
    *) ;; # unmarked: not part of the quick start
    esac
    i=$((i + 1))
done

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
extract client/README.md sdk
i=1
while [ -e "$tmp/sdk.$i.sh" ]; do
    run_block "$tmp/sdk.$i.sh" "client/README.md block $i"
    i=$((i + 1))
done
if [ -e "$root/app-static" ]; then
    ! ldd "$root/app-static" | grep -q librmq || { echo "FAIL: app-static needs librmq.so" >&2; exit 1; }
    "$root/app-static" | grep -q OK || { echo "FAIL: app-static" >&2; exit 1; }
fi
if [ -e "$root/app" ]; then "$root/app" | grep -q OK || { echo "FAIL: app" >&2; exit 1; }; fi
echo "README commands: OK"

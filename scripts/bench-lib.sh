# Shared by scripts/bench-*.sh (source it; bash): a temporary work directory, the processes a
# benchmark started (stopped by pid, then the directory removed, at exit), free ports and a
# NameServer. Benchmarks print figures and assert nothing.

# bench_init NAME BUILD_DIR BINARY...: sets root, bin (BUILD_DIR/bin, relative to the repository
# unless absolute), work and pids; exits when a binary is missing.
bench_init() {
    bench_name="$1"
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local build="$2"
    shift 2
    case "$build" in /*) ;; *) build="$root/$build" ;; esac
    bin="$build/bin"
    for b in "$@"; do
        [ -x "$bin/$b" ] || { echo "$bench_name: $bin/$b missing (build it first)" >&2; exit 1; }
    done
    work="$(mktemp -d "${TMPDIR:-/tmp}/rmq-$bench_name.XXXXXX")"
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}

# A free port whose neighbours (-2 fast port, +1 HA port) are free too.
free_port() {
    python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 60000)
    if all(free(q) for q in (p - 2, p, p + 1)):
        print(p); break
PY
}

wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "$bench_name: nothing listens on $1" >&2
    return 1
}

# bench_namesrv [CONF_LINES]: a NameServer on a free port (CONF_LINES, newline-terminated, are
# added to its config); sets ns_port and ns (127.0.0.1:port).
bench_namesrv() {
    ns_port="$(free_port)"
    printf 'listenPort=%s\nkvConfigPath=%s/kv.json\n%s' "$ns_port" "$work" "${1:-}" > "$work/ns.conf"
    "$bin/mqnamesrv" -c "$work/ns.conf" > "$work/ns.log" 2>&1 &
    pids+=($!)
    wait_port "$ns_port"
    ns="127.0.0.1:$ns_port"
}

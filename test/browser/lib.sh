# Sourced by console-api.sh and console-browser.sh: a NameServer + broker on free ports in a temp
# dir, mqconsole instances, and a cleanup that stops only the processes started here, by pid.
# Needs $build (the build dir) and $tmp (a scratch dir) set by the caller.
pids=""
# stop_all: SIGTERM to every process started here, up to 15 s to exit, then SIGKILL.
stop_all() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 150); do
        alive=
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -n "$alive" ] || break
        sleep 0.1
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    pids=""
}
cleanup() {
    stop_all
    rm -rf "$tmp"
}
# check_logs: no ERROR line from the servers, no sanitizer report from anyone (after stop_all).
check_logs() {
    if grep -h " ERROR " "$tmp"/broker.out "$tmp"/namesrv.out; then fail "ERROR lines in the server logs"; fi
    if grep -l "Sanitizer" "$tmp"/*.out; then fail "sanitizer report(s) above"; fi
}
fail() {
    echo "FAIL: $*" >&2
    for f in "$tmp"/*.out; do [ -e "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
    exit 1
}
free_port() {
    python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(1000):
    p = random.randint(20000, 30000)
    if all(free(q) for q in (p - 2, p, p + 1)):
        print(p); break
PY
}
# start_servers: mqnamesrv on $nsport, mqbroker on $brport (small segments, temp store).
start_servers() {
    nsport=$(free_port)
    brport=$(free_port)
    [ "$nsport" != "$brport" ] || brport=$(free_port)
    mkdir -p "$tmp/store" "$tmp/home"
    "$build/bin/mqnamesrv" -D listenPort="$nsport" -D kvConfigPath="$tmp/home/kv.json" \
        >"$tmp/namesrv.out" 2>&1 &
    pids="$pids $!"
    for _ in $(seq 1 100); do
        grep -q "boot success" "$tmp/namesrv.out" 2>/dev/null && break
        sleep 0.1
    done
    "$build/bin/mqbroker" -n "127.0.0.1:$nsport" -D brokerClusterName=DefaultCluster \
        -D brokerName=broker-a -D listenPort="$brport" -D brokerIP1=127.0.0.1 \
        -D storePathRootDir="$tmp/store" -D mappedFileSizeCommitLog=4194304 \
        -D mapedFileSizeConsumeQueue=60000 >"$tmp/broker.out" 2>&1 &
    brpid=$!
    pids="$pids $brpid"
    i=0
    until "$build/bin/mqadmin" clusterList -n "127.0.0.1:$nsport" 2>/dev/null |
        grep -q "127.0.0.1:$brport"; do
        i=$((i + 1))
        [ $i -lt 150 ] || fail "broker never registered"
        kill -0 "$brpid" 2>/dev/null || fail "broker exited"
        sleep 0.2
    done
}
# start_console NAME ARGS...: mqconsole on a free port; sets ${NAME}_port and ${NAME}_pid.
start_console() {
    name=$1
    shift
    port=$(free_port)
    "$build/bin/mqconsole" -n "127.0.0.1:$nsport" --port "$port" --sample-interval 1 "$@" \
        >"$tmp/console-$name.out" 2>&1 &
    cpid=$!
    pids="$pids $cpid"
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$port/api/whoami"; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "mqconsole $name never answered"
        kill -0 "$cpid" 2>/dev/null || fail "mqconsole $name exited"
        sleep 0.1
    done
    eval "${name}_port=$port ${name}_pid=$cpid"
}

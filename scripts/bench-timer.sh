#!/usr/bin/env bash
# Timer message figures (issue 10): delivery lateness of 5.x timer messages at RATE due per
# second (p50 / p99 / max of receive time - deliver time at a librmq push consumer, and of store
# time - deliver time in the real topic), then the broker's memory with PARKED (1,000,000)
# timers pending, against its memory before parking them in the same run. A benchmark, not a
# test: it prints figures and asserts nothing.
#
#   scripts/bench-timer.sh [build-dir]     (default: build; needs mqnamesrv, mqbroker, mqadmin,
#                                           timer_bench)
#   RATE=10000 WINDOW_S=10 LEAD_S=15 PARKED=1000000 PRECISION=100 scripts/bench-timer.sh
#
# Starts a NameServer and a broker (timerPrecisionMs=PRECISION, ASYNC_FLUSH) on free ports in a
# temporary directory; stops only the processes it started (by pid) and removes the directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bin"
rate="${RATE:-10000}"
window_s="${WINDOW_S:-10}"
lead_s="${LEAD_S:-15}"
parked="${PARKED:-1000000}"
precision="${PRECISION:-100}"
for b in mqnamesrv mqbroker mqadmin timer_bench; do
    [ -x "$bin/$b" ] || { echo "bench-timer: $bin/$b missing (build it first)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/rmq-bench-timer.XXXXXX")"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

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
    echo "bench-timer: nothing listens on $1" >&2
    return 1
}

ns_port="$(free_port)"
printf 'listenPort=%s\nkvConfigPath=%s/kv.json\n' "$ns_port" "$work" > "$work/ns.conf"
"$bin/mqnamesrv" -c "$work/ns.conf" > "$work/ns.log" 2>&1 &
pids+=($!)
wait_port "$ns_port"
ns="127.0.0.1:$ns_port"

bp="$(free_port)"
"$bin/mqbroker" -n "$ns" -D brokerClusterName=BenchTimer -D brokerName=bench-timer -D brokerIP1=127.0.0.1 \
    -D flushDiskType=ASYNC_FLUSH -D mappedFileSizeCommitLog=268435456 -D listenPort="$bp" \
    -D timerPrecisionMs="$precision" -D timerMaxDelaySec=86400 \
    -D storePathRootDir="$work/store" > "$work/broker.log" 2>&1 &
bpid=$!
pids+=("$bpid")
wait_port "$bp"
"$bin/mqadmin" updateTopic -n "$ns" -b "127.0.0.1:$bp" -t TimerBench -r 4 -w 4 > /dev/null
sleep 2

mem() { # VmRSS RssAnon RssFile of the broker, kB
    awk '/^VmRSS|^RssAnon|^RssFile/ {printf "%s %s ", $1, $2}' "/proc/$bpid/status"
}
status() { "$bin/mqadmin" brokerStatus -n "$ns" -b "127.0.0.1:$bp" 2>/dev/null | grep -E "^timer" | tr -s ' ' | tr '\n' ' '; }

n=$((rate * window_s))
echo "machine: $(nproc) cores, shared (load average $(cut -d' ' -f1-3 /proc/loadavg)); timerPrecisionMs=$precision"
echo "== lateness: $n timer messages due over ${window_s} s (${rate}/s), first due ${lead_s} s after the start"
"$bin/timer_bench" -n "$ns" -t TimerBench latency "$n" "$((window_s * 1000))" "$((lead_s * 1000))"
echo "broker after: $(status)"

echo "== memory with $parked pending timers (due in 1 h)"
echo "before: $(mem)"
"$bin/timer_bench" -n "$ns" -t TimerBench park "$parked" 3600
for _ in $(seq 1 120); do # until the wheel holds them all
    b="$("$bin/mqadmin" brokerStatus -n "$ns" -b "127.0.0.1:$bp" 2>/dev/null | awk -F': ' '/^timerBacklog/{print $2}')"
    [ "${b:-0}" -ge "$parked" ] && break
    sleep 1
done
echo "after:  $(mem)"
echo "broker: $(status)"
ls -l "$work/store/timerwheel" "$work/store/timerlog" | sed 's/^/  /'
du -sh "$work/store/timerwheel" "$work/store/timerlog" | sed 's/^/  disk /'

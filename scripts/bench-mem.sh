#!/usr/bin/env bash
# Broker memory (issue 15): the broker's anonymous memory (smaps_rollup "Anonymous": RSS minus
# the mapped file pages of CommitLog, ConsumeQueue and index) with CONNS (1,000) registered
# client connections and a BACKLOG (1,000,000) message backlog, against the 64 MB goal; then
# again after a consumer drained DRAIN (100,000) messages with the connections still open. A
# benchmark, not a test: it prints figures and asserts nothing.
#
#   scripts/bench-mem.sh [build-dir]     (default: build; needs mqnamesrv, mqbroker, mqadmin,
#                                         mqbench, and python3 for scripts/bench-conns.py)
#   CONNS=1000 BACKLOG=1000000 DRAIN=100000 SIZE=1024 CONN_GROUPS=10 SEGMENT=1073741824 \
#   BROKER_ENV="MALLOC_ARENA_MAX=2" scripts/bench-mem.sh
#
# A NameServer and a broker (ASYNC_FLUSH, SEGMENT-byte CommitLog segments, RocketMQ's 1 GiB by
# default: the backlog needs ~1.2 GB of CommitLog, and the broker reserves the next segment, so
# about 3 GiB of free disk under TMPDIR) on free ports in a temporary directory; the backlog is
# sent with `mqbench producer -b 32`; the connections are scripts/bench-conns.py's: raw TCP, each
# one a consumer group member (CONN_GROUPS groups) that heartbeats every 20 s. Stops only the
# processes it started (by pid) and removes the directory.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init bench-mem "${1:-build}" mqnamesrv mqbroker mqadmin mqbench
conns="${CONNS:-1000}"
backlog="${BACKLOG:-1000000}"
drain="${DRAIN:-100000}"
size="${SIZE:-1024}"
groups="${CONN_GROUPS:-10}"
segment="${SEGMENT:-1073741824}"
goal_mb=64

need_kb=$(((backlog * (size + 200) + 2 * segment) / 1024))
avail_kb=$(df -Pk "$work" | awk 'NR == 2 {print $4}')
if [ "$avail_kb" -lt "$need_kb" ]; then
    echo "bench-mem: needs about $((need_kb / 1024)) MB free under ${TMPDIR:-/tmp}, has $((avail_kb / 1024)) MB" >&2
    exit 1
fi
# the broker and bench-conns.py each hold CONNS sockets
ulimit -n $((conns + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

bench_namesrv
bp="$(free_port)"
# shellcheck disable=SC2086
env ${BROKER_ENV:-} "$bin/mqbroker" -n "$ns" -D brokerClusterName=BenchMem -D brokerName=bench-mem \
    -D brokerIP1=127.0.0.1 -D listenPort="$bp" -D flushDiskType=ASYNC_FLUSH \
    -D mappedFileSizeCommitLog="$segment" -D storePathRootDir="$work/store" > "$work/broker.log" 2>&1 &
bpid=$!
pids+=("$bpid")
wait_port "$bp"
"$bin/mqadmin" updateTopic -n "$ns" -b "127.0.0.1:$bp" -t BenchMem -r 8 -w 8 > /dev/null
for _ in $(seq 1 50); do
    "$bin/mqadmin" topicRoute -n "$ns" -t BenchMem > /dev/null 2>&1 && break
    sleep 0.2
done

# mem LABEL: one line from /proc/PID/smaps_rollup (kB -> MB) and the ratio of anon to the goal
anon_kb() { awk '/^Anonymous:/ {print $2}' "/proc/$bpid/smaps_rollup"; }
mem() {
    awk -v label="$1" -v goal="$goal_mb" -v threads="$(ls "/proc/$bpid/task" | wc -l)" '
        { v[$1] = $2 }
        END { anon = v["Anonymous:"] / 1024
              printf "%-44s anon %7.1f MB (%.2f x the %d MB goal)  rss %7.1f MB  file %7.1f MB  threads %d\n",
                     label, anon, anon / goal, goal, v["Rss:"] / 1024,
                     (v["Rss:"] - v["Anonymous:"]) / 1024, threads }' "/proc/$bpid/smaps_rollup"
}

echo "machine: $(nproc) cores (load average $(cut -d' ' -f1-3 /proc/loadavg)); CommitLog segments of $segment bytes; broker env: ${BROKER_ENV:-none}"
sleep 1
mem "idle"
echo "== backlog: $backlog messages of $size bytes (mqbench producer, 4 threads, batches of 32)"
"$bin/mqbench" producer -n "$ns" -t BenchMem -w 4 -b 32 -s "$size" -q "$backlog" 2>&1 | grep '^\[Complete\]' || true
for _ in $(seq 1 120); do # until the dispatcher wrote every ConsumeQueue entry
    total=$("$bin/mqadmin" topicStatus -n "$ns" -t BenchMem 2>/dev/null | awk 'NR > 1 && $2 ~ /^[0-9]+$/ {s += $4} END {print s + 0}')
    [ "$total" -ge "$backlog" ] && break
    sleep 1
done
mem "backlog of $total"
before_conns=$(anon_kb)

echo "== $conns connections, each a consumer group member ($groups groups), heartbeating"
python3 "$root/scripts/bench-conns.py" "127.0.0.1:$bp" "$conns" BenchMem "$groups" > "$work/conns.log" 2>&1 &
cpid=$!
pids+=("$cpid")
for _ in $(seq 1 600); do
    grep -q '^registered' "$work/conns.log" && break
    kill -0 "$cpid" 2>/dev/null || { cat "$work/conns.log" >&2; exit 1; }
    sleep 0.1
done
grep -q '^registered' "$work/conns.log" || { echo "bench-mem: connections not registered" >&2; cat "$work/conns.log" >&2; exit 1; }
sleep 2
echo "broker connections: $(ls -l "/proc/$bpid/fd" 2>/dev/null | grep -c socket:) sockets"
mem "backlog + $conns connections"
echo "per connection: $(( ($(anon_kb) - before_conns) * 1024 / conns )) bytes of anonymous memory"

echo "== a consumer drains $drain messages (mqbench consumer, connections still open)"
"$bin/mqbench" consumer -n "$ns" -t BenchMem -g bench_mem_drain -w 20 -b 32 -q "$drain" --seconds 300 2>&1 |
    grep '^\[Complete\]' || true
sleep 1
mem "after draining $drain, $conns connections"
kill -0 "$cpid" 2>/dev/null || { echo "bench-mem: the connection holder died:" >&2; cat "$work/conns.log" >&2; }
# grep -c exits 1 when it counts none: that is the good case, not a failure of the bench
echo "broker log ERROR lines: $(grep -c ' ERROR ' "$work/broker.log" || true)"

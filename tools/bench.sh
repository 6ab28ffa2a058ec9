#!/usr/bin/env bash
# The README figures in one run: for ASYNC_FLUSH and then SYNC_FLUSH, start one NameServer and
# one broker in temp dirs on free ports, and run with mqbench:
#   rtt (raw request/response rate, one connection, sync)   producer sync 1 thread
#   producer sync 32 threads   producer async, 256 outstanding   producer batches of 32
#   consumer draining a 1,000,000-message backlog
# then print every [Complete] line and each rate as a ratio to the rtt rate of the same run.
# Only the processes this script started are stopped (by pid).
#
# Usage: tools/bench.sh [bin-dir]          (default: build/bin of this repo)
# Env:   BENCH_SECONDS (10) per producer run, BENCH_BACKLOG (1000000), BENCH_SIZE (1024),
#        BENCH_PIN=1 pins broker+NameServer to CPU 0 and mqbench to CPU 1 with taskset.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/bin}
secs=${BENCH_SECONDS:-10}
backlog=${BENCH_BACKLOG:-1000000}
size=${BENCH_SIZE:-1024}
for b in mqnamesrv mqbroker mqadmin mqbench; do
  [ -x "$bin/$b" ] || { echo "bench.sh: $bin/$b not found (build first or pass the bin dir)" >&2; exit 1; }
done

pids=()
dirs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
  for d in "${dirs[@]}"; do rm -rf "$d"; done
  dirs=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

ncpu=$(nproc)
if [ "${BENCH_PIN:-0}" = 1 ] && command -v taskset >/dev/null && [ "$ncpu" -ge 2 ]; then
  srv_pin="taskset -c 0"; cli_pin="taskset -c 1"
  placement="pinned: NameServer+broker on CPU 0, mqbench on CPU 1 (taskset)"
else
  srv_pin=""; cli_pin=""
  placement="unpinned: NameServer, broker and mqbench share all $ncpu CPUs"
fi

echo "== rmq benchmark $(date -u '+%Y-%m-%d %H:%M:%S') UTC"
echo "host: $(uname -srm), $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo "placement: $placement"
echo "body: $size bytes, producer runs: ${secs}s each, backlog: $backlog messages"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

summary=()

start_cluster() { # $1 = flush type
  local d; d=$(mktemp -d /tmp/rmq-bench.XXXXXX); dirs+=("$d")
  local nsp bp; nsp=$(free_port); bp=$(free_port)
  mkdir -p "$d/ns" "$d/broker"
  printf 'listenPort=%s\nrocketmqHome=%s/ns\nkvConfigPath=%s/ns/kvConfig.json\n' "$nsp" "$d" "$d" \
    > "$d/ns/namesrv.conf"
  printf 'brokerClusterName=BenchCluster\nbrokerName=bench-broker\nbrokerId=0\nlistenPort=%s\nbrokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%s\nstorePathRootDir=%s/broker/store\nflushDiskType=%s\nmappedFileSizeCommitLog=268435456\n' \
    "$bp" "$nsp" "$d" "$1" > "$d/broker/broker.conf"
  $srv_pin "$bin/mqnamesrv" -c "$d/ns/namesrv.conf" > "$d/ns/namesrv.out" 2>&1 &
  pids+=($!)
  wait_port "$nsp" || { echo "bench.sh: NameServer did not start" >&2; exit 1; }
  $srv_pin "$bin/mqbroker" -c "$d/broker/broker.conf" > "$d/broker/broker.out" 2>&1 &
  pids+=($!)
  wait_port "$bp" || { echo "bench.sh: broker did not start" >&2; exit 1; }
  NS=127.0.0.1:$nsp
  BROKER=127.0.0.1:$bp
  echo "NameServer $NS (pid ${pids[-2]}), broker $BROKER (pid ${pids[-1]}), $1, store $d/broker/store"
  for t in BenchTopic BenchBacklog; do
    for _ in $(seq 1 50); do
      "$bin/mqadmin" updateTopic -n "$NS" -c BenchCluster -t "$t" -r 8 -w 8 >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
  for _ in $(seq 1 50); do
    "$bin/mqadmin" topicRoute -n "$NS" -t BenchBacklog >/dev/null 2>&1 && break
    sleep 0.2
  done
}

# run NAME args... : runs mqbench, keeps the [Complete] line in $LAST
run() {
  local name=$1; shift
  echo "-- $name: mqbench $*"
  local out; out=$($cli_pin "$bin/mqbench" "$@" -n "$NS" 2>&1)
  local rc=$?
  LAST=$(printf '%s\n' "$out" | grep '^\[Complete\]' | tail -1)
  printf '%s\n' "$out" | grep -v '^\[Complete\]' | tail -3 | sed 's/^/   /'
  echo "$LAST"
  [ $rc -eq 0 ] || echo "   (exit status $rc)"
}
field() { # field LINE NAME -> number after "NAME: "
  printf '%s\n' "$1" | sed -n "s/.*$2: \([0-9.]*\).*/\1/p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

for mode in ASYNC_FLUSH SYNC_FLUSH; do
  echo
  echo "==== $mode"
  start_cluster "$mode"
  run "rtt (GET_MAX_OFFSET, 1 connection, sync)" rtt -t BenchTopic --seconds 5
  rtt_line=$LAST; rtt=$(field "$rtt_line" "RTT TPS")
  summary+=("$mode|rtt, 1 connection sync|$rtt|$(field "$rtt_line" "p50(ms)")|$(field "$rtt_line" "p99(ms)")|1.000")
  run "producer sync, 1 thread" producer -t BenchTopic -w 1 -s "$size" --seconds "$secs"
  summary+=("$mode|producer sync, 1 thread|$(field "$LAST" "Send TPS")|$(field "$LAST" "p50(ms)")|$(field "$LAST" "p99(ms)")|$(ratio "$(field "$LAST" "Send TPS")" "$rtt")")
  run "producer sync, 32 threads" producer -t BenchTopic -w 32 -s "$size" --seconds "$secs"
  summary+=("$mode|producer sync, 32 threads|$(field "$LAST" "Send TPS")|$(field "$LAST" "p50(ms)")|$(field "$LAST" "p99(ms)")|$(ratio "$(field "$LAST" "Send TPS")" "$rtt")")
  run "producer async, window 256" producer -t BenchTopic -w 1 -y --window 256 -s "$size" --seconds "$secs"
  summary+=("$mode|producer async, 256 outstanding|$(field "$LAST" "Send TPS")|$(field "$LAST" "p50(ms)")|$(field "$LAST" "p99(ms)")|$(ratio "$(field "$LAST" "Send TPS")" "$rtt")")
  run "producer batch 32, 4 threads" producer -t BenchTopic -w 4 -b 32 -s "$size" --seconds "$secs"
  summary+=("$mode|producer batch 32 (4 threads sync)|$(field "$LAST" "Send TPS")|$(field "$LAST" "p50(ms)")|$(field "$LAST" "p99(ms)")|$(ratio "$(field "$LAST" "Send TPS")" "$rtt")")
  run "backlog fill ($backlog messages, batches of 32)" producer -t BenchBacklog -w 4 -b 32 -s "$size" -q "$backlog"
  run "consumer draining the backlog" consumer -t BenchBacklog -g bench_drain_$mode -w 20 -b 32 -q "$backlog" --seconds 300
  summary+=("$mode|consumer drain $backlog (batch 32)|$(field "$LAST" "Consume TPS")|-|p99 B2C $(field "$LAST" "p99 B2C RT(ms)")|$(ratio "$(field "$LAST" "Consume TPS")" "$rtt")")
  echo "broker log ERROR lines: $(cat "${dirs[-1]}"/broker/broker.out "${dirs[-1]}"/broker/store/*.log 2>/dev/null | grep -c ' ERROR ')"
  cleanup
done

echo
echo "==== summary (msgs/s; ratio = rate / rtt rate of the same flush mode; $placement)"
printf '%-12s %-38s %12s %10s %16s %8s\n' "#Flush" "#Run" "#TPS" "#p50(ms)" "#p99(ms)" "#xRTT"
for s in "${summary[@]}"; do
  IFS='|' read -r m n t p50 p99 r <<< "$s"
  printf '%-12s %-38s %12s %10s %16s %8s\n' "$m" "$n" "$t" "$p50" "$p99" "$r"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

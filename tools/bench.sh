#!/usr/bin/env bash
# The README figures in one run: for ASYNC_FLUSH and then SYNC_FLUSH, start one NameServer and
# one broker in temp dirs on free ports, and run with mqbench:
#   rtt (raw request/response rate, one connection, sync)   producer sync 1 thread
#   producer sync 32 threads   producer async, 256 outstanding (JSON, then binary header)
#   producer batches of 32
#   consumer draining a 1,000,000-message backlog (32 per listener call, then the default 1),
#        each once the broker has settled after the fill (settle below)
#   e2e: send -> listener latency at 1,000 and 5,000 msgs/s (producer and push consumer in one
#        mqbench, sends paced by the clock), beside rawbench's round trip paced at the same rates
# then print every [Complete] line and each rate as a ratio to the rtt rate of the same run.
# Before the brokers start, rawbench measures the raw loopback request -> ack limit of the host
# (a bare libuv server, 1 KiB requests, 32-byte acks, window 1 and window 256); every rate is
# also printed as a ratio to those two, and the e2e percentiles as multiples of the raw
# window-1 round trip's same percentile. rawbench --fill also measures what the page cache for
# new data costs here (CPU per GiB of fresh memory); each run's CPU line shows how busy the host
# was and how much of it the broker's warm-up thread spent getting the CommitLog's pages.
# Only the processes this script started are stopped (by pid).
#
# Usage: tools/bench.sh [bin-dir]          (default: build/bin of this repo)
# Env:   BENCH_SECONDS (10) per producer run, BENCH_BACKLOG (1000000), BENCH_SIZE (1024),
#        BENCH_E2E_SECONDS (20) per e2e rate, BENCH_E2E_RATES ("1000 5000"),
#        BENCH_PIN=1 pins broker+NameServer to CPU 0 and mqbench to CPU 1 with taskset.
#        BENCH_MEM=0 skips the last part, the broker's memory with a backlog and 1,000
#        connections (scripts/bench-mem.sh, with BENCH_BACKLOG and BENCH_SIZE).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/bin}
secs=${BENCH_SECONDS:-10}
backlog=${BENCH_BACKLOG:-1000000}
size=${BENCH_SIZE:-1024}
e2e_secs=${BENCH_E2E_SECONDS:-20}
e2e_rates=${BENCH_E2E_RATES:-1000 5000}
for b in mqnamesrv mqbroker mqadmin mqbench rawbench; do
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
e2e_summary=()

field() { # field LINE NAME -> number after "NAME: "
  printf '%s\n' "$1" | sed -n "s/.*$2: \([0-9.]*\).*/\1/p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

echo
echo "==== raw loopback request -> ack limit (rawbench: libuv server, no rmq code)"
raw() { # raw RAWBENCH-ARGS... -> [Complete] line in $LAST
  echo "-- rawbench $* --size $size"
  LAST=$($cli_pin "$bin/rawbench" "$@" --size "$size" 2>&1 | grep '^\[Complete\]')
  [ -n "$LAST" ] || LAST="[Complete] (rawbench $* failed)"
  echo "$LAST"
}
raw --window 1 --seconds 5; raw1_line=$LAST; raw1=$(field "$raw1_line" "TPS")
raw1_p50=$(field "$raw1_line" "p50(ms)"); raw1_p99=$(field "$raw1_line" "p99(ms)")
raw --window 256 --seconds 5; raw256_line=$LAST; raw256=$(field "$raw256_line" "TPS")
# the page cache's price: fresh memory (on a VM that returns free memory to its host) and memory
# just freed, CPU seconds per GiB read into the page cache
raw --fill 512; fill_fresh=$(field "$LAST" "Fresh CPU s per GiB"); fill_again=$(field "$LAST" "Again CPU s per GiB")
# the raw round trip at each e2e rate, one request every 1/rate s by the clock as mqbench's e2e
# sender paces: this host's latency when its CPUs idle between messages (wake-ups included)
declare -A rawp_p99 rawp_p999 rawp_max
for r in $e2e_rates; do
  raw --rate "$r" --seconds "$e2e_secs"
  rawp_p99[$r]=$(field "$LAST" "p99(ms)"); rawp_p999[$r]=$(field "$LAST" "p999(ms)"); rawp_max[$r]=$(field "$LAST" "Max(ms)")
done

start_cluster() { # $1 = flush type
  local d; d=$(mktemp -d /tmp/rmq-bench.XXXXXX); dirs+=("$d")
  local nsp bp; nsp=$(free_port); bp=$(free_port)
  mkdir -p "$d/ns" "$d/broker"
  printf 'listenPort=%s\nrocketmqHome=%s/ns\nkvConfigPath=%s/ns/kvConfig.json\n' "$nsp" "$d" "$d" \
    > "$d/ns/namesrv.conf"
  printf 'brokerClusterName=BenchCluster\nbrokerName=bench-broker\nbrokerId=0\nlistenPort=%s\nbrokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%s\nstorePathRootDir=%s/broker/store\nflushDiskType=%s\n' \
    "$bp" "$nsp" "$d" "$1" > "$d/broker/broker.conf"
  $srv_pin "$bin/mqnamesrv" -c "$d/ns/namesrv.conf" > "$d/ns/namesrv.out" 2>&1 &
  pids+=($!)
  wait_port "$nsp" || { echo "bench.sh: NameServer did not start" >&2; exit 1; }
  $srv_pin "$bin/mqbroker" -c "$d/broker/broker.conf" > "$d/broker/broker.out" 2>&1 &
  pids+=($!)
  wait_port "$bp" || { echo "bench.sh: broker did not start" >&2; exit 1; }
  NS=127.0.0.1:$nsp
  BROKER=127.0.0.1:$bp
  BPID=${pids[-1]}
  echo "NameServer $NS (pid ${pids[-2]}), broker $BROKER (pid ${pids[-1]}), $1, store $d/broker/store"
  for t in BenchTopic BenchBacklog BenchE2E; do
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

# settle: wait (at most 30 s) until the broker uses under a tenth of a CPU for a whole second. A
# run right after a large write otherwise shares the CPUs with what that write left the broker to
# do: the 1M-message fill leaves ~1.5 s of CPU reading the next CommitLog segment into the page
# cache, and the first drain after it ran at 630-660k msgs/s against 860-980k settled. The same
# after the broker starts (its first two segments).
tick=$(getconf CLK_TCK)
settle() {
  local t0 t1 i
  for i in $(seq 1 30); do
    t0=$(awk '{print $14 + $15}' /proc/"$BPID"/stat); sleep 1
    t1=$(awk '{print $14 + $15}' /proc/"$BPID"/stat)
    [ $((t1 - t0)) -le $((tick / 10)) ] && break
  done
  echo "-- broker settled after $i s"
}

# CPU accounting around each run: the host's busy and idle ticks (/proc/stat), and the ticks of
# the broker's threads named $1
host_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
thread_ticks() {
  local t s=0
  for t in /proc/"$BPID"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] && s=$((s + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)))
  done
  echo "$s"
}
cpu_summary=()

# row LABEL RATE-FIELD [P50 P99]: a summary row for the [Complete] line in $LAST (p50 and p99
# from it unless given), its rate also as ratios to the rtt and raw rates of the same run
row() {
  local tps; tps=$(field "$LAST" "$2")
  local p50=${3-$(field "$LAST" "p50(ms)")} p99=${4-$(field "$LAST" "p99(ms)")}
  summary+=("$mode|$1|$tps|$p50|$p99|$(ratio "$tps" "$rtt")|$(ratio "$tps" "$raw1")|$(ratio "$tps" "$raw256")")
  cpu_summary+=("$mode|$1|$CPU_LAST")
}

# run NAME args... : runs mqbench, keeps the [Complete] line in $LAST
run() {
  local name=$1; shift
  echo "-- $name: mqbench $*"
  local h0 w0 h1 w1
  h0=$(host_ticks); w0=$(thread_ticks rmq-alloc)
  local out; out=$($cli_pin "$bin/mqbench" "$@" -n "$NS" 2>&1)
  local rc=$?
  h1=$(host_ticks); w1=$(thread_ticks rmq-alloc)
  # busy %, the warm-up thread's CPU seconds, and its share of the busy CPU
  CPU_LAST=$(echo "$h0 $h1 $w0 $w1" | awk -v hz="$tick" '{ b = $3 - $1; i = $4 - $2; w = $6 - $5
    printf "%.0f|%.2f|%.0f", (b + i > 0) ? 100 * b / (b + i) : 0, w / hz, (b > 0) ? 100 * w / b : 0 }')
  LAST=$(printf '%s\n' "$out" | grep '^\[Complete\]' | tail -1)
  printf '%s\n' "$out" | grep -v '^\[Complete\]' | tail -3 | sed 's/^/   /'
  echo "$LAST"
  local busy warm share; IFS='|' read -r busy warm share <<< "$CPU_LAST"
  echo "   CPU: host busy $busy %; broker warm-up thread $warm s ($share % of the busy CPU)"
  [ $rc -eq 0 ] || echo "   (exit status $rc)"
}
for mode in ASYNC_FLUSH SYNC_FLUSH; do
  echo
  echo "==== $mode"
  start_cluster "$mode"
  # with its first message a new broker reads its first two segments into the page cache (2 GiB,
  # ~3.5 s of CPU on fresh memory here): start-up work, which the first rows would otherwise
  # share the CPUs with. Send 100 messages, and wait for it.
  run "first messages" producer -t BenchTopic -w 1 -s "$size" -q 100
  settle
  run "rtt (GET_MAX_OFFSET, 1 connection, sync)" rtt -t BenchTopic --seconds 5
  rtt_line=$LAST; rtt=$(field "$rtt_line" "RTT TPS")
  summary+=("$mode|rtt, 1 connection sync|$rtt|$(field "$rtt_line" "p50(ms)")|$(field "$rtt_line" "p99(ms)")|1.000|$(ratio "$rtt" "$raw1")|$(ratio "$rtt" "$raw256")")
  run "producer sync, 1 thread" producer -t BenchTopic -w 1 -s "$size" --seconds "$secs"
  row "producer sync, 1 thread" "Send TPS"
  run "producer sync, 32 threads" producer -t BenchTopic -w 32 -s "$size" --seconds "$secs"
  row "producer sync, 32 threads" "Send TPS"
  run "producer async, window 256" producer -t BenchTopic -w 1 -y --window 256 -s "$size" --seconds "$secs"
  row "producer async, 256 outstanding" "Send TPS"
  # the same with ROCKETMQ's binary header (serializeType=ROCKETMQ): about a third less CPU per
  # message on both sides than JSON text (README, "The binary header")
  run "producer async, window 256, binary header" producer -t BenchTopic -w 1 -y --window 256 -s "$size" --seconds "$secs" -D serializeType=ROCKETMQ
  row "producer async 256, binary header" "Send TPS"
  run "producer batch 32, 4 threads" producer -t BenchTopic -w 4 -b 32 -s "$size" --seconds "$secs"
  row "producer batch 32 (4 threads sync)" "Send TPS"
  run "backlog fill ($backlog messages, batches of 32)" producer -t BenchBacklog -w 4 -b 32 -s "$size" -q "$backlog"
  settle
  run "consumer draining the backlog" consumer -t BenchBacklog -g bench_drain_$mode -w 20 -b 32 -q "$backlog" --seconds 300
  row "consumer drain $backlog (batch 32)" "Consume TPS" - "p99 B2C $(field "$LAST" "p99 B2C RT(ms)")"
  # the default push consumer: 20 threads, consumeMessageBatchMaxSize 1 (one message per
  # listener call), a new group so it drains the same backlog from its first offset
  settle
  run "default consumer (1 per listener call) draining the backlog" consumer -t BenchBacklog -g bench_drain1_$mode -w 20 -b 1 -q "$backlog" --seconds 300
  row "consumer drain $backlog (1 per call)" "Consume TPS" - "p99 B2C $(field "$LAST" "p99 B2C RT(ms)")"
  for r in $e2e_rates; do
    run "e2e at $r msgs/s for ${e2e_secs}s" e2e -t BenchE2E -w 20 -s "$size" --rate "$r" --seconds "$e2e_secs"
    cpu_summary+=("$mode|e2e at $r msgs/s|$CPU_LAST")
    e2e_summary+=("$mode|$r|$(field "$LAST" "Pub rate")|$(field "$LAST" "Cons rate")|$(field "$LAST" "p50(ms)")|$(field "$LAST" "p99(ms)")|$(field "$LAST" "p999(ms)")|$(field "$LAST" "Max(ms)")|$(ratio "$(field "$LAST" "p50(ms)")" "$raw1_p50")|$(ratio "$(field "$LAST" "p99(ms)")" "$raw1_p99")|${rawp_p99[$r]:-n/a}/${rawp_p999[$r]:-n/a}/${rawp_max[$r]:-n/a}|$(ratio "$(field "$LAST" "p999(ms)")" "${rawp_p999[$r]:-0}")|$(field "$LAST" "Missing")")
  done
  echo "broker log ERROR lines: $(cat "${dirs[-1]}"/broker/broker.out "${dirs[-1]}"/broker/store/*.log 2>/dev/null | grep -c ' ERROR ')"
  cleanup
done

echo
echo "==== raw limit (rawbench, same run): window 1: $raw1 req/s (p50 $raw1_p50 ms, p99 $raw1_p99 ms); window 256: $raw256 req/s"
echo "==== summary (msgs/s; xRTT = rate / rtt rate of the same flush mode; xRaw1 / xRaw256 = rate / raw window-1 / window-256 rate; $placement)"
printf '%-12s %-38s %12s %10s %16s %8s %8s %8s\n' "#Flush" "#Run" "#TPS" "#p50(ms)" "#p99(ms)" "#xRTT" "#xRaw1" "#xRaw256"
for s in "${summary[@]}"; do
  IFS='|' read -r m n t p50 p99 r r1 r256 <<< "$s"
  printf '%-12s %-38s %12s %10s %16s %8s %8s %8s\n' "$m" "$n" "$t" "$p50" "$p99" "$r" "$r1" "$r256"
done
echo "==== CPU during each run: host busy (% of $ncpu CPUs), the broker's warm-up thread (CPU s: the page cache for new CommitLog bytes, fresh memory at $fill_fresh s/GiB in this run, memory just freed $fill_again s/GiB) and its share of the busy CPU"
printf '%-12s %-38s %10s %12s %10s\n' "#Flush" "#Run" "#busy(%)" "#warm-up(s)" "#share(%)"
for s in "${cpu_summary[@]}"; do
  IFS='|' read -r m n busy w share <<< "$s"
  printf '%-12s %-38s %10s %12s %10s\n' "$m" "$n" "$busy" "$w" "$share"
done
echo "==== end to end, send -> listener (ms; p50/p99 xRaw1 = multiple of the raw window-1 round trip's p50/p99; raw paced = rawbench's round trip at the same rate, p99/p99.9/max, and p99.9 as a multiple of it)"
printf '%-12s %8s %8s %8s %9s %9s %9s %9s %10s %10s %22s %11s %8s\n' "#Flush" "#Rate" "#Pub" "#Cons" "#p50" "#p99" "#p99.9" "#max" "#p50xRaw1" "#p99xRaw1" "#raw paced" "#p99.9xRaw" "#Missing"
for s in "${e2e_summary[@]}"; do
  IFS='|' read -r m r pub cons p50 p99 p999 mx x50 x99 rp x999 miss <<< "$s"
  printf '%-12s %8s %8s %8s %9s %9s %9s %9s %10s %10s %22s %11s %8s\n' "$m" "$r" "$pub" "$cons" "$p50" "$p99" "$p999" "$mx" "$x50" "$x99" "$rp" "$x999" "$miss"
done
if [ "${BENCH_MEM:-1}" != 0 ]; then
  echo
  echo "==== broker anonymous memory, $backlog backlog + 1,000 connections (scripts/bench-mem.sh; BENCH_MEM=0 skips)"
  BACKLOG=$backlog SIZE=$size "$here/scripts/bench-mem.sh" "$bin/.." || echo "   (bench-mem.sh failed: $?)"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

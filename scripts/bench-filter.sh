#!/usr/bin/env bash
# SQL92 filter figure (issue 10): drains of one queue set of TOTAL (1,000,000) messages by push
# consumers of fresh groups, unfiltered ("*") and with SQL92 filters, alternating in the same
# run. Each message carries a property n = its number mod 100, so "n < 50" matches half and
# "n = 7" one in a hundred. The drain rate is TOTAL / (first delivery to last delivery): the
# broker reads every record's properties for the filtered drains, so this is the rate the
# queue is scanned at. A benchmark, not a test: it prints figures and asserts nothing.
#
#   scripts/bench-filter.sh [build-dir]          (default: build; needs mqnamesrv, mqbroker,
#                                                 mqbench)
#   TOTAL=1000000 SIZE=128 ROUNDS=1 scripts/bench-filter.sh build
#
# Starts a NameServer and a broker (enablePropertyFilter=true) on free ports in a temporary
# directory; stops only the processes it started (by pid) and removes that directory.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init bench-filter "${1:-build}" mqnamesrv mqbroker mqbench
total="${TOTAL:-1000000}"
size="${SIZE:-128}"
rounds="${ROUNDS:-1}"

bench_namesrv
bp="$(free_port)"
"$bin/mqbroker" -n "$ns" -D brokerClusterName=BenchFilter -D brokerName=bench-filter \
    -D brokerIP1=127.0.0.1 -D flushDiskType=ASYNC_FLUSH -D enablePropertyFilter=true \
    -D mappedFileSizeCommitLog="${SEGMENT:-268435456}" -D listenPort="$bp" \
    -D storePathRootDir="$work/store" > "$work/broker.log" 2>&1 &
bpid=$!
pids+=("$bpid")
wait_port "$bp"
sleep 1

# CPU seconds the broker used so far (utime + stime from /proc).
broker_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$bpid/stat"
}

echo "machine: $(nproc) cores, shared (load average $(cut -d' ' -f1-3 /proc/loadavg)); $total messages of $size bytes, property n = number mod 100"
"$bin/mqbench" producer -n "$ns" -t FilterBench -y --window 512 -s "$size" -q "$total" \
    --propMod 100 > "$work/producer.log" 2>&1
grep -E '^\[Complete\]|Send TPS' "$work/producer.log" | tail -1 | sed 's/^/produced: /'

# drain NAME WANT [SQL]: a fresh group from the first offset until WANT deliveries; prints the
# drain rate in queue messages per second (TOTAL over first-to-last delivery) and the broker's
# CPU microseconds per queue message during the drain.
drain() {
    local name="$1" want="$2" sql="${3:-}" log="$work/$1.log"
    local args=(consumer -n "$ns" -t FilterBench -g "bench_${name}_$RANDOM$RANDOM" -q "$want")
    [ -n "$sql" ] && args+=(--sql "$sql")
    local c0 c1
    c0="$(broker_cpu)"
    timeout 600 "$bin/mqbench" "${args[@]}" > "$log" 2>&1 || true
    c1="$(broker_cpu)"
    local line n tps
    line="$(grep -E '^\[Complete\]' "$log" | tail -1)"
    n="$(echo "$line" | grep -oE 'Consume Total: [0-9]+' | grep -oE '[0-9]+$' || true)"
    tps="$(echo "$line" | grep -oE 'Consume TPS: [0-9.]+' | grep -oE '[0-9.]+$' || true)"
    if [ -z "$n" ] || [ -z "$tps" ] || [ "$tps" = "0" ] || [ "$n" -lt "$want" ]; then
        echo "bench-filter: $name drain incomplete; its output:" >&2
        tail -3 "$log" >&2
        echo "0 0"
        return
    fi
    awk -v n="$n" -v t="$tps" -v T="$total" -v a="$c0" -v b="$c1" \
        'BEGIN { printf "%.0f %.2f", T / (n / t), (b - a) * 1e6 / T }'
}

sum_all=0; sum_half=0; sum_one=0
for r in $(seq 1 "$rounds"); do
    read -r a ac <<< "$(drain all "$total")"
    read -r h hc <<< "$(drain half "$((total / 2))" "n < 50")"
    read -r o oc <<< "$(drain one "$((total / 100))" "n = 7")"
    printf 'round %d: queue messages drained per second (broker CPU us per queue message):\n' "$r"
    printf '  unfiltered %s (%s), "n < 50" %s (%s), "n = 7" %s (%s)\n' "$a" "$ac" "$h" "$hc" "$o" "$oc"
    sum_all=$((sum_all + a)); sum_half=$((sum_half + h)); sum_one=$((sum_one + o))
done
awk -v a="$sum_all" -v h="$sum_half" -v o="$sum_one" -v n="$rounds" 'BEGIN {
    printf "mean: unfiltered %.0f, \"n < 50\" %.0f (%s of unfiltered), \"n = 7\" %.0f (%s of unfiltered) msgs/s (goal >= 50 %%)\n",
        a / n, h / n, (a > 0 ? sprintf("%.1f %%", 100 * h / a) : "n/a"),
        o / n, (a > 0 ? sprintf("%.1f %%", 100 * o / a) : "n/a") }'

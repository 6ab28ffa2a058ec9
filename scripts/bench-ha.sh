#!/usr/bin/env bash
# Replication figures (issue 9): the send rate of a SYNC_MASTER against an ASYNC_MASTER, each
# with one slave (ASYNC_FLUSH), measured back to back in the same run; the ASYNC_MASTER slave's
# lag under that load (p50/p99/max of the master's runtime info sampled every 200 ms); and the
# slave catch-up rate of broker/bench/ha_bench. A benchmark, not a test: it prints figures and
# asserts nothing.
#
#   scripts/bench-ha.sh [build-dir]        (default: build; needs mqnamesrv, mqbroker, mqbench,
#                                           ha_bench)
#   ROUNDS=2 SECONDS_PER_RUN=10 SIZE=1024 WINDOW=256 CATCHUP_MB=512 scripts/bench-ha.sh build-ha
#
# Starts a NameServer and, per role, a master and a slave on free ports in a temporary
# directory; stops only the processes it started (by pid) and removes that directory.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init bench-ha "${1:-build}" mqnamesrv mqbroker mqbench mqadmin ha_bench
secs="${SECONDS_PER_RUN:-10}"
size="${SIZE:-1024}"
window="${WINDOW:-256}"
catchup_mb="${CATCHUP_MB:-512}"

bench_namesrv

# run ROLE: a master with that role and its slave, mqbench for $secs s; prints the send rate.
run() {
    local role="$1" mp sp mpid spid
    mp="$(free_port)"
    sp="$(free_port)"
    # 256 MiB segments (SEGMENT): with the default 1 GiB ones the first seconds of every fresh
    # broker go to the kernel zeroing pre-touched pages, which swamps a 10 s run on 2 cores.
    local common="-n $ns -D brokerClusterName=BenchHa -D brokerIP1=127.0.0.1 -D flushDiskType=ASYNC_FLUSH -D mappedFileSizeCommitLog=${SEGMENT:-268435456}"
    # shellcheck disable=SC2086
    "$bin/mqbroker" $common -D brokerName="bench-$role" -D brokerId=0 -D brokerRole="$role" \
        -D listenPort="$mp" -D storePathRootDir="$work/$role-$mp-m" > "$work/$role-$mp-m.log" 2>&1 &
    mpid=$!
    pids+=("$mpid")
    wait_port "$mp"
    # shellcheck disable=SC2086
    "$bin/mqbroker" $common -D brokerName="bench-$role" -D brokerId=1 -D brokerRole=SLAVE \
        -D haMasterAddress="127.0.0.1:$((mp + 1))" -D listenPort="$sp" \
        -D storePathRootDir="$work/$role-$mp-s" > "$work/$role-$mp-s.log" 2>&1 &
    spid=$!
    pids+=("$spid")
    wait_port "$sp"
    sleep 2 # the slave connects and reports
    # While the load runs, sample the master's view of its slave (runtime info, as `mqadmin
    # brokerStatus` prints it) every 200 ms: "bytes ms" per line, for the lag percentiles.
    : > "$work/$role-lag.txt"
    (
        while sleep 0.2; do
            "$bin/mqadmin" brokerStatus -n "$ns" -b "127.0.0.1:$mp" 2>/dev/null |
                awk -F': ' '/^slave0FallBehindBytes /{b=$2} /^slave0FallBehindMs /{m=$2}
                            END {if (b != "") print b, m}' >> "$work/$role-lag.txt"
        done
    ) &
    local sampler=$!
    "$bin/mqbench" producer -n "$ns" -y --window "$window" -s "$size" --seconds "$secs" \
        > "$work/$role-bench.log" 2>&1 || true
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    kill "$spid" "$mpid" 2>/dev/null || true
    wait "$spid" "$mpid" 2>/dev/null || true
    rm -rf "$work/$role-$mp-m" "$work/$role-$mp-s" # 1 GiB segments: free the disk at once
    # the last "Send TPS: N" line mqbench prints (its summary)
    local tps
    tps="$(grep -oE 'Send TPS: *[0-9.]+' "$work/$role-bench.log" | tail -1 | grep -oE '[0-9.]+$' || true)"
    if [ -z "$tps" ]; then
        echo "bench-ha: no rate from mqbench for $role; its output:" >&2
        tail -5 "$work/$role-bench.log" >&2
        tps=0
    fi
    echo "$tps"
}

# lag ROLE: p50 / p99 / max of the sampled slave lag (bytes, ms) during the last ROLE run.
lag() {
    local f="$work/$1-lag.txt" n
    n="$(wc -l < "$f")"
    if [ "$n" -eq 0 ]; then echo "no samples"; return; fi
    pct() { sort -n | awk -v q="$1" '{v[NR]=$1} END {i=int(NR*q+0.999); if (i<1) i=1; print v[i]}'; }
    printf '%d samples; behind in bytes p50 %s p99 %s max %s; in ms p50 %s p99 %s max %s' "$n" \
        "$(cut -d' ' -f1 "$f" | pct 0.5)" "$(cut -d' ' -f1 "$f" | pct 0.99)" "$(cut -d' ' -f1 "$f" | pct 1)" \
        "$(cut -d' ' -f2 "$f" | pct 0.5)" "$(cut -d' ' -f2 "$f" | pct 0.99)" "$(cut -d' ' -f2 "$f" | pct 1)"
}

rounds="${ROUNDS:-2}"
echo "machine: $(nproc) cores, shared (load average $(cut -d' ' -f1-3 /proc/loadavg)); ${secs} s per run, ${size}-byte bodies, async window ${window}; ${rounds} rounds, ASYNC and SYNC alternating"
async_sum=0
sync_sum=0
for r in $(seq 1 "$rounds"); do
    a="$(run ASYNC_MASTER)"
    s="$(run SYNC_MASTER)"
    printf 'round %d: ASYNC_MASTER + slave %s msgs/s, SYNC_MASTER + slave %s msgs/s\n' "$r" "$a" "$s"
    printf '  ASYNC_MASTER slave lag under that load: %s\n' "$(lag ASYNC_MASTER)"
    async_sum="$(awk -v x="$async_sum" -v y="$a" 'BEGIN { print x + y }')"
    sync_sum="$(awk -v x="$sync_sum" -v y="$s" 'BEGIN { print x + y }')"
done
awk -v a="$async_sum" -v s="$sync_sum" -v n="$rounds" 'BEGIN {
    printf "mean: ASYNC_MASTER %.0f msgs/s, SYNC_MASTER %.0f msgs/s: SYNC at %s of ASYNC (goal >= 60 %%)\n",
        a / n, s / n, (a > 0 ? sprintf("%.1f %%", 100 * s / a) : "n/a") }'
echo "catch-up (ha_bench --mb $catchup_mb):"
"$bin/ha_bench" --mb "$catchup_mb" --dir "$work" 2>&1 | grep -vE ' (INFO|DEBUG) ' | sed 's/^/  /'

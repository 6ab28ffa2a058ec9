#!/usr/bin/env bash
# TLS figure (issue 11): mqbench's async send rate over TLS against plaintext, measured back to
# back in the same run against the same NameServer and broker, both in tls.server.mode=permissive
# (one port serves both kinds of client), ASYNC_FLUSH. Certificates come from
# test/integration/tls-certs.sh (EC P-256, TLS 1.2 ECDHE-ECDSA-AES-GCM). A benchmark, not a
# test: it prints figures and asserts nothing.
#
#   scripts/bench-tls.sh [build-dir]        (default: build; needs mqnamesrv, mqbroker, mqbench)
#   ROUNDS=3 SECONDS_PER_RUN=10 SIZE=1024 WINDOW=256 scripts/bench-tls.sh
#
# Starts its processes on free ports in a temporary directory; stops only them (by pid) and
# removes that directory.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_init bench-tls "${1:-build}" mqnamesrv mqbroker mqbench
secs="${SECONDS_PER_RUN:-10}"
size="${SIZE:-1024}"
window="${WINDOW:-256}"
rounds="${ROUNDS:-3}"

sh "$root/test/integration/tls-certs.sh" "$work/pki" > /dev/null
cat > "$work/tls.properties" <<PROPS
tls.server.mode=permissive
tls.server.need.client.auth=none
tls.server.certPath=$work/pki/server.crt
tls.server.keyPath=$work/pki/server.key
PROPS

bench_namesrv "tls.config.file=$work/tls.properties"$'\n'

bp="$(free_port)"
"$bin/mqbroker" -n "$ns" -D brokerClusterName=BenchTls -D brokerName=bench-tls \
    -D brokerIP1=127.0.0.1 -D flushDiskType=ASYNC_FLUSH \
    -D mappedFileSizeCommitLog="${SEGMENT:-268435456}" -D listenPort="$bp" \
    -D storePathRootDir="$work/store" -D tls.config.file="$work/tls.properties" \
    > "$work/broker.log" 2>&1 &
pids+=($!)
wait_port "$bp"
sleep 2 # registered with the NameServer

tls_opts=(--tls -D tls.client.authServer=true -D "tls.client.trustCertPath=$work/pki/ca.crt")

# run NAME [mqbench options...]: one async producer run; prints its send rate.
run() {
    local name="$1" tps
    shift
    "$bin/mqbench" producer -n "$ns" -t BenchTls -y --window "$window" -s "$size" \
        --seconds "$secs" "$@" > "$work/$name.log" 2>&1 || true
    tps="$(grep -oE 'Send TPS: *[0-9.]+' "$work/$name.log" | tail -1 | grep -oE '[0-9.]+$' || true)"
    if [ -z "$tps" ]; then
        echo "bench-tls: no rate from mqbench for $name; its output:" >&2
        tail -5 "$work/$name.log" >&2
        tps=0
    fi
    echo "$tps"
}

echo "machine: $(nproc) cores, shared (load average $(cut -d' ' -f1-3 /proc/loadavg)); ${secs} s per run, ${size}-byte bodies, async window ${window}; ${rounds} rounds, plaintext and TLS alternating on one permissive broker"
plain_sum=0
tls_sum=0
for r in $(seq 1 "$rounds"); do
    p="$(run "plain-$r")"
    t="$(run "tls-$r" "${tls_opts[@]}")"
    printf 'round %d: plaintext %s msgs/s, TLS %s msgs/s\n' "$r" "$p" "$t"
    plain_sum="$(awk -v x="$plain_sum" -v y="$p" 'BEGIN { print x + y }')"
    tls_sum="$(awk -v x="$tls_sum" -v y="$t" 'BEGIN { print x + y }')"
done
awk -v p="$plain_sum" -v t="$tls_sum" -v n="$rounds" 'BEGIN {
    printf "mean: plaintext %.0f msgs/s, TLS %.0f msgs/s: TLS at %s of plaintext (goal >= 50 %%)\n",
        p / n, t / n, (p > 0 ? sprintf("%.1f %%", 100 * t / p) : "n/a") }'

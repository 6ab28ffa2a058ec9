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

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bin"
secs="${SECONDS_PER_RUN:-10}"
size="${SIZE:-1024}"
window="${WINDOW:-256}"
rounds="${ROUNDS:-3}"
for b in mqnamesrv mqbroker mqbench; do
    [ -x "$bin/$b" ] || { echo "bench-tls: $bin/$b missing (build it first)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/rmq-bench-tls.XXXXXX")"
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
    echo "bench-tls: nothing listens on $1" >&2
    return 1
}

sh "$root/test/integration/tls-certs.sh" "$work/pki" > /dev/null
cat > "$work/tls.properties" <<PROPS
tls.server.mode=permissive
tls.server.need.client.auth=none
tls.server.certPath=$work/pki/server.crt
tls.server.keyPath=$work/pki/server.key
PROPS

ns_port="$(free_port)"
printf 'listenPort=%s\nkvConfigPath=%s/kv.json\ntls.config.file=%s/tls.properties\n' \
    "$ns_port" "$work" "$work" > "$work/ns.conf"
"$bin/mqnamesrv" -c "$work/ns.conf" > "$work/ns.log" 2>&1 &
pids+=($!)
wait_port "$ns_port"
ns="127.0.0.1:$ns_port"

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

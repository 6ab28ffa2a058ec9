#!/bin/sh
# The Debian package (issue 13): `cpack -G DEB` from the build tree, `dpkg -x` into a scratch
# root, then the packaged mqnamesrv + mqbroker run from /opt/rmq there with the packaged conf
# examples (temp store, small segments, free ports), and the packaged mqadmin sends and
# consumes a message. Stops only the processes it started, by pid.
# usage: package-deb.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-deb.XXXXXX")
nspid=
brpid=
cleanup() {
    for p in $brpid $nspid; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    for p in $brpid $nspid; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in "$tmp"/*.out; do [ -e "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
    exit 1
}

(cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.out" 2>&1) || { cat "$tmp/cpack.out" >&2; fail "cpack"; }
deb=$(ls "$tmp"/pkg/rmq_*.deb)
dpkg-deb --info "$deb" | grep -q 'Package: rmq' || fail "no package name in $deb"
dpkg-deb --info "$deb" | grep -q 'Depends:.*libuv' || fail "no libuv dependency"
dpkg -x "$deb" "$tmp/root"
R="$tmp/root/opt/rmq"
for f in bin/mqnamesrv bin/mqbroker bin/mqadmin bin/mqbench bin/store_check lib/librmq.a \
    lib/librmq.so.0 include/rmq/rmq.h lib/pkgconfig/rmq.pc etc/rmq/broker.conf \
    etc/rmq/namesrv.conf etc/rmq/2m-2s-sync/broker-a.properties \
    lib/systemd/system/mqnamesrv.service lib/systemd/system/mqbroker@.service \
    share/doc/rmq/mqadmin.txt share/doc/rmq/mqbroker.txt; do
    [ -e "$R/$f" ] || fail "$f missing from the package"
done
grep -q '/opt/rmq/bin/mqbroker' "$R/lib/systemd/system/mqbroker@.service" || fail "unit paths"
"$R/bin/mqbroker" --version | grep -q 'RocketMQ' || fail "--version"

# free ports: the NameServer's, and a broker port p with p - 2 and p + 1 free
ports=$(python3 - <<'PY'
import socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
def any_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
ns = any_port()
import random
for _ in range(1000):
    p = random.randint(20000, 30000)
    if p != ns and all(free(q) for q in (p - 2, p, p + 1)):
        print(ns, p); break
PY
)
nsport=${ports% *}
brport=${ports#* }
mkdir -p "$tmp/store" "$tmp/home"
"$R/bin/mqnamesrv" -c "$R/etc/rmq/namesrv.conf" -D listenPort="$nsport" \
    -D kvConfigPath="$tmp/home/kvConfig.json" >"$tmp/namesrv.out" 2>&1 &
nspid=$!
# the broker registers at start and then every 30 s: let the NameServer listen first
for _ in $(seq 1 100); do
    grep -q "boot success" "$tmp/namesrv.out" 2>/dev/null && break
    sleep 0.1
done
"$R/bin/mqbroker" -c "$R/etc/rmq/broker.conf" -n "127.0.0.1:$nsport" -D listenPort="$brport" \
    -D brokerIP1=127.0.0.1 -D storePathRootDir="$tmp/store" \
    -D mappedFileSizeCommitLog=4194304 -D mapedFileSizeConsumeQueue=60000 \
    >"$tmp/broker.out" 2>&1 &
brpid=$!
A="$R/bin/mqadmin"
N="-n 127.0.0.1:$nsport"
i=0
until $A clusterList $N 2>/dev/null | grep -q "127.0.0.1:$brport"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "broker never registered"
    kill -0 $brpid 2>/dev/null || fail "broker exited"
    sleep 0.2
done
$A updateTopic $N -b "127.0.0.1:$brport" -t PkgTopic -r 1 -w 1 >/dev/null || fail "updateTopic"
i=0
until $A sendMessage $N -t PkgTopic -p "hello from the package" 2>/dev/null | grep -q SEND_OK; do
    i=$((i + 1))
    [ $i -lt 50 ] || fail "sendMessage"
    sleep 0.2
done
$A consumeMessage $N -t PkgTopic 2>&1 | grep -q "BODY: hello from the package" ||
    fail "consumeMessage did not return the message"
kill -TERM $brpid
wait $brpid || fail "broker exit status $?"
brpid=
kill -TERM $nspid
wait $nspid || fail "namesrv exit status $?"
nspid=
[ ! -e "$tmp/store/abort" ] || fail "broker left an abort file"
echo "package $(basename "$deb"): installs under /opt/rmq, starts, sends and consumes: OK"

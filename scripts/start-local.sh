#!/bin/sh
# Start one NameServer (127.0.0.1:9876) and one broker (127.0.0.1:10911) in the foreground of
# this script, with data under ${RMQ_HOME:-$HOME/rmq-local}. Ctrl-C stops both.
# Builds first if build/bin is missing.
set -eu
cd "$(dirname "$0")/.."
[ -x build/bin/mqbroker ] && [ -x build/bin/mqnamesrv ] || {
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target mqnamesrv mqbroker
}
home="${RMQ_HOME:-$HOME/rmq-local}"
mkdir -p "$home/namesrv" "$home/store"
build/bin/mqnamesrv -c conf/namesrv.conf -D "kvConfigPath=$home/namesrv/kvConfig.json" &
ns=$!
trap 'kill -TERM $ns ${br:-} 2>/dev/null; wait' INT TERM EXIT
sleep 0.5
build/bin/mqbroker -c conf/broker.conf -n 127.0.0.1:9876 -D "storePathRootDir=$home/store" \
    -D brokerIP1=127.0.0.1 &
br=$!
echo "mqnamesrv pid $ns on 127.0.0.1:9876, mqbroker pid $br on 127.0.0.1:10911 (Ctrl-C stops both)"
wait

#!/bin/sh
# Start one NameServer (127.0.0.1:9876) and one broker (127.0.0.1:10911) in the foreground of
# this script, with data under ${RMQ_HOME:-$HOME/rmq-local}. Ctrl-C (or SIGTERM) stops both.
# Builds first when any of mqnamesrv, mqbroker, mqadmin, mqbench is missing from build/bin.
# RMQ_COMMITLOG_SIZE: bytes per CommitLog segment (default RocketMQ's 1 GiB, reserved on disk up
# front; e.g. RMQ_COMMITLOG_SIZE=67108864 for 64 MiB on a laptop).
set -eu
cd "$(dirname "$0")/.."
for b in mqnamesrv mqbroker mqadmin mqbench; do
    [ -x "build/bin/$b" ] && continue
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target mqnamesrv mqbroker mqadmin mqbench
    break
done
home="${RMQ_HOME:-$HOME/rmq-local}"
seg="${RMQ_COMMITLOG_SIZE:-1073741824}"
mkdir -p "$home/namesrv" "$home/store"
build/bin/mqnamesrv -c conf/namesrv.conf -D "kvConfigPath=$home/namesrv/kvConfig.json" &
ns=$!
trap 'kill -TERM $ns ${br:-} 2>/dev/null; wait' INT TERM EXIT
sleep 0.5
build/bin/mqbroker -c conf/broker.conf -n 127.0.0.1:9876 -D "storePathRootDir=$home/store" \
    -D brokerIP1=127.0.0.1 -D "mappedFileSizeCommitLog=$seg" &
br=$!
echo "mqnamesrv pid $ns on 127.0.0.1:9876, mqbroker pid $br on 127.0.0.1:10911 (Ctrl-C stops both)"
echo "store: $home/store, CommitLog segments of $seg bytes (two are reserved on disk up front)"
wait

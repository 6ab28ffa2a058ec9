#!/bin/bash
# Companion of 0400-wire-conformance: a REAL, unmodified ali-ons (npm) producer and push
# consumer against our mqnamesrv + mqbroker. Not run by ctest (it needs node and the npm
# registry); .ci/run runs it when npm is there. Exit 77 = skipped (no npm, or the registry
# could not be reached), 0 = passed, anything else = failed.
#
#   test/integration/0400-ali-ons-live.sh [BUILD_DIR]      (default: build)
#
# Phase 1 sends 5 messages and consumes them with a new group from the first offset; phase 2
# sends 3 more and restarts the consumer, which must resume from the offsets the first one
# persisted (45 s: heartbeats, route refreshes, offset persistence). ali-ons does not fall back
# to TBW102, so the topic is created first with mqadmin, as its users do.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
work=$(mktemp -d /tmp/rmq-ali-ons.XXXXXX)
trap 'kill -TERM ${brpid:-} ${nspid:-} 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nsp=$(port); brp=$(port)
printf 'listenPort=%s\nrocketmqHome=%s\nkvConfigPath=%s/kv.json\n' "$nsp" "$work" "$work" > "$work/ns.conf"
printf 'brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=0\nlistenPort=%s\n' "$brp" > "$work/br.conf"
printf 'brokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%s\nstorePathRootDir=%s/store\n' "$nsp" "$work" >> "$work/br.conf"
"$build/bin/mqnamesrv" -c "$work/ns.conf" > "$work/ns.log" 2>&1 & nspid=$!
sleep 0.5
"$build/bin/mqbroker" -c "$work/br.conf" > "$work/br.log" 2>&1 & brpid=$!
sleep 2
"$build/bin/mqadmin" updateTopic -n "127.0.0.1:$nsp" -b "127.0.0.1:$brp" -t TopicNode > /dev/null
command -v npm > /dev/null && command -v node > /dev/null || { echo "ali-ons live: skipped (no node/npm)"; exit 77; }
(cd "$work" && npm init -y > /dev/null && npm install --no-audit --no-fund ali-ons@3.12.0 > /dev/null) ||
    { echo "ali-ons live: skipped (npm install ali-ons@3.12.0 failed)"; exit 77; }
cat > "$work/run.js" <<'EOF'
'use strict';
const { Producer, Consumer, Message } = require('ali-ons');
const opts = { nameSrv: process.argv[2], httpclient: { request: async () => { throw new Error('no http'); } } };
const [ from, to, wait ] = process.argv.slice(3).map(Number);
(async () => {
  const producer = new Producer(Object.assign({ producerGroup: 'PG_NODE' }, opts));
  await producer.ready();
  for (let i = from; i < to; i++) {
    const r = await producer.send(new Message('TopicNode', 'TagN', Buffer.from('ali-ons ' + i)));
    if (r.sendStatus !== 'SEND_OK') throw new Error('send ' + r.sendStatus);
  }
  const consumer = new Consumer(Object.assign({ consumerGroup: 'CG_NODE', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' }, opts));
  const got = [];
  consumer.subscribe('TopicNode', 'TagN || TagZ', async msg => { got.push(Number(msg.body.toString().split(' ')[1])); });
  await consumer.ready();
  const until = Date.now() + wait;
  while (Date.now() < until && (wait > 20000 || got.length < to - from)) await new Promise(r => setTimeout(r, 200));
  await consumer.close();
  await producer.close();
  got.sort((a, b) => a - b);
  const want = Array.from({ length: to - from }, (_, k) => from + k);
  console.log('received', JSON.stringify(got), 'want', JSON.stringify(want));
  process.exit(JSON.stringify(got) === JSON.stringify(want) ? 0 : 1);
})().catch(e => { console.error('FAIL', e); process.exit(2); });
EOF
(cd "$work" && node run.js "127.0.0.1:$nsp" 0 5 20000 2> /dev/null)
(cd "$work" && node run.js "127.0.0.1:$nsp" 5 8 45000 2> /dev/null)
kill -TERM $brpid; wait $brpid; brpid=; kill -TERM $nspid; wait $nspid; nspid=
if grep -h " ERROR " "$work"/*.log; then echo "ERROR lines in the server logs"; exit 1; fi
echo "ali-ons live: ok"

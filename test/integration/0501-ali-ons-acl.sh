#!/bin/bash
# ACL with a REAL, unmodified ali-ons (npm) client (issue 11): against mqnamesrv + mqbroker with
# aclEnable=true on both, ali-ons configured with accessKeyId/accessKeySecret produces 5
# messages and consumes them; the same client without credentials is refused (its send fails
# with NO_PERMISSION). Not run by ctest (needs node and the npm registry); exit 77 = skipped,
# 0 = passed, anything else = failed.
#
#   test/integration/0501-ali-ons-acl.sh [BUILD_DIR]      (default: build)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
work=$(mktemp -d /tmp/rmq-ali-ons-acl.XXXXXX)
trap 'kill -TERM ${brpid:-} ${nspid:-} 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nsp=$(port); brp=$(port)
mkdir -p "$work/conf"
cat > "$work/conf/plain_acl.yml" <<'EOF'
accounts:
  - accessKey: nodeUser01
    secretKey: nodeSecret01
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - TopicNodeAcl=PUB|SUB
    groupPerms:
      - CG_NODE_ACL=SUB
  - accessKey: adminUser01
    secretKey: adminSecret01
    admin: true
EOF
printf 'listenPort=%s\nrocketmqHome=%s\nkvConfigPath=%s/kv.json\naclEnable=true\n' "$nsp" "$work" "$work" > "$work/ns.conf"
printf 'brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=0\nlistenPort=%s\n' "$brp" > "$work/br.conf"
printf 'brokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%s\nstorePathRootDir=%s/store\n' "$nsp" "$work" >> "$work/br.conf"
printf 'aclEnable=true\nrocketmqHome=%s\naccessKey=adminUser01\nsecretKey=adminSecret01\n' "$work" >> "$work/br.conf"
"$build/bin/mqnamesrv" -c "$work/ns.conf" > "$work/ns.log" 2>&1 & nspid=$!
sleep 0.5
"$build/bin/mqbroker" -c "$work/br.conf" > "$work/br.log" 2>&1 & brpid=$!
sleep 2
"$build/bin/mqadmin" updateTopic -n "127.0.0.1:$nsp" -b "127.0.0.1:$brp" -t TopicNodeAcl \
    -ak adminUser01 -sk adminSecret01 > /dev/null
command -v npm > /dev/null && command -v node > /dev/null || { echo "ali-ons acl: skipped (no node/npm)"; exit 77; }
(cd "$work" && npm init -y > /dev/null && npm install --no-audit --no-fund ali-ons@3.12.0 > /dev/null) ||
    { echo "ali-ons acl: skipped (npm install ali-ons@3.12.0 failed)"; exit 77; }
cat > "$work/run.js" <<'EOF'
'use strict';
const { Producer, Consumer, Message } = require('ali-ons');
const [ ns, ak, sk ] = process.argv.slice(2);
const opts = { nameSrv: ns, httpclient: { request: async () => { throw new Error('no http'); } } };
if (ak) Object.assign(opts, { accessKeyId: ak, accessKeySecret: sk });
(async () => {
  const producer = new Producer(Object.assign({ producerGroup: 'PG_NODE_ACL' }, opts));
  await producer.ready();
  for (let i = 0; i < 5; i++) {
    const r = await producer.send(new Message('TopicNodeAcl', 'TagN', Buffer.from('acl ' + i)));
    if (r.sendStatus !== 'SEND_OK') throw new Error('send ' + r.sendStatus);
  }
  const consumer = new Consumer(Object.assign({ consumerGroup: 'CG_NODE_ACL', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' }, opts));
  const got = [];
  consumer.subscribe('TopicNodeAcl', '*', async msg => { got.push(Number(msg.body.toString().split(' ')[1])); });
  await consumer.ready();
  const until = Date.now() + 30000;
  while (Date.now() < until && got.length < 5) await new Promise(r => setTimeout(r, 200));
  await consumer.close();
  await producer.close();
  got.sort((a, b) => a - b);
  console.log('received', JSON.stringify(got));
  process.exit(JSON.stringify(got) === '[0,1,2,3,4]' ? 0 : 1);
})().catch(e => { console.log('FAIL', String(e && e.message || e).split('\n')[0]); process.exit(2); });
EOF
(cd "$work" && timeout 120 node run.js "127.0.0.1:$nsp" nodeUser01 nodeSecret01 2> /dev/null)
set +e
out=$(cd "$work" && timeout 60 node run.js "127.0.0.1:$nsp" 2> /dev/null); rc=$?
set -e
echo "without credentials: $out"
[ $rc -eq 2 ] && grep -q "accessKey=(none)" "$work/br.log" || { echo "ali-ons acl: the client without credentials was not refused"; exit 1; }
grep -q "refused SEND_MESSAGE" "$work/br.log" || { echo "ali-ons acl: no refusal logged"; exit 1; }
kill -TERM $brpid; wait $brpid; brpid=; kill -TERM $nspid; wait $nspid; nspid=
if grep -h " ERROR " "$work"/*.log; then echo "ERROR lines in the server logs"; exit 1; fi
echo "ali-ons acl: ok"

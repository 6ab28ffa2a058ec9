#!/bin/bash
# mqconsole's JSON API without a browser (curl + python3): a NameServer + broker on free ports,
# then mqconsole three times: open (every call, bad input and its errors), --read-only (a
# create refused with 403) and --users (401 without a session, login, a viewer refused).
# Stops only the processes it started, by pid.   usage: console-api.sh [BUILD_DIR]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-console-api.XXXXXX")
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
command -v curl >/dev/null || { echo "console-api: skipped (no curl)"; exit 77; }

# api METHOD PORT PATH [JSON] [curl args...] (GET with curl args: JSON ""): the answer in $tmp/r.json, the status in $code.
api() {
    local m=$1 p=$2 path=$3 body=${4:-}
    shift 4 || shift $#
    if [ "$m" = POST ]; then
        code=$(curl -s -o "$tmp/r.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            --data "$body" "$@" "http://127.0.0.1:$p/api/$path")
    else
        code=$(curl -s -o "$tmp/r.json" -w '%{http_code}' "$@" "http://127.0.0.1:$p/api/$path")
    fi
}
# want CODE PYTHON-EXPR: the status is CODE and the expression over the answer j is true.
want() {
    [ "$code" = "$1" ] || fail "HTTP $code, wanted $1: $(cat "$tmp/r.json")"
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" \
        "$tmp/r.json" || fail "answer fails [$2]: $(head -c 600 "$tmp/r.json")"
}

start_servers
start_console open
P=$open_port

api GET $P cluster
want 200 "any(b['addr']=='127.0.0.1:$brport' and b['role']=='MASTER' for b in j['brokers'])"
api POST $P topic/create '{"topic":"ApiTopic","readQueueNums":4,"writeQueueNums":4}'
want 200 "j['brokers']==['127.0.0.1:$brport']"
api GET $P topics
want 200 "{'topic':'ApiTopic','kind':'NORMAL'} in j['topics']"
api GET $P "topic/route?topic=ApiTopic"
want 200 "j['queueDatas'][0]['writeQueueNums']==4"
api GET $P "topic/status?topic=ApiTopic"
want 200 "len(j['queues'])==4"
api POST $P topic/create '{"topic":"NoClusterTopic","cluster":"NoSuchCluster"}'
want 404 "'cluster NoSuchCluster does not exist' in j['error']"
api POST $P topic/create '{"topic":"bad name!"}'
want 400 "'bad topic name' in j['error']"
api GET $P topic/create
want 405 "'POST' in j['error']"
api POST $P topic/create '{not json'
want 400 "'not a JSON object' in j['error']"
code=$(curl -s -o "$tmp/r.json" -w '%{http_code}' -X POST -H 'Content-Type: text/plain' \
    --data '{"topic":"FormTopic"}' "http://127.0.0.1:$P/api/topic/create")
want 415 "'application/json' in j['error']"
api GET $P nosuchcall
want 404 "'/api/nosuchcall' in j['error']"
api GET $P "topic/status?topic=NoSuchTopic"
want 404 "'NoSuchTopic' in j['error']"

api POST $P send '{"topic":"ApiTopic","tags":"TagA","keys":"order-42","body":"hello console"}'
want 200 "j['sendStatus']=='SEND_OK'"
msgid=$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['msgId'])")
offid=$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['offsetMsgId'])")
for _ in $(seq 1 50); do # the key index is built by the reput thread: wait for it
    api GET $P "messages/by-key?topic=ApiTopic&key=order-42"
    [ "$code" = 200 ] && python3 -c "import json; exit(0 if json.load(open('$tmp/r.json'))['messages'] else 1)" && break
    sleep 0.2
done
want 200 "j['messages'][0]['msgId']=='$msgid'"
api GET $P "messages/by-time?topic=ApiTopic&begin=0"
want 200 "[m['msgId'] for m in j['messages']]==['$msgid']"
api GET $P "message?id=$offid"
want 200 "j['bodyText']=='hello console' and j['properties']['KEYS']=='order-42' and j['bodyHex'].startswith('68656c6c6f') and j['bodyBase64']=='aGVsbG8gY29uc29sZQ==' and j['tags']=='TagA' and 'tracks' in j"
api GET $P "message?id=$msgid&topic=ApiTopic"
want 200 "j['offsetMsgId']=='$offid'"
api GET $P "message?id=0123456789ABCDEF0123456789ABCDEF&topic=ApiTopic"
want 404 "'no message' in j['error']"

api POST $P group/reset-offset '{"group":"ApiGroup","topic":"ApiTopic","timestamp":0}'
want 200 "len(j['offsets'])==4 and all(o['offset']==0 for o in j['offsets'])"
api GET $P "group?group=ApiGroup"
want 200 "j['diffTotal']==1 and not j['online'] and len(j['queues'])==4"
api POST $P group/reset-offset '{"group":"ApiGroup","topic":"ApiTopic","timestamp":"yesterday"}'
want 400 "'bad time' in j['error']"
api GET $P groups
want 200 "isinstance(j['groups'], list)"
api GET $P "dlq?group=ApiGroup"
want 404 "'dead letters' in j['error']"
api POST $P message/resend "{\"id\":\"$offid\",\"group\":\"ApiGroup\"}"
want 409 "'no online client' in j['error']"

# an online push consumer (mqbench): members, running info, which groups consumed the message,
# and CONSUME_MESSAGE_DIRECTLY on that member
"$build/bin/mqbench" consumer -n "127.0.0.1:$nsport" -t ApiTopic -g ApiConsumer -w 1 \
    --seconds 300 >"$tmp/mqbench.out" 2>&1 &
benchpid=$!
pids="$pids $benchpid"
for _ in $(seq 1 100); do
    api GET $P "group?group=ApiConsumer"
    [ "$code" = 200 ] && python3 -c "import json; j=json.load(open('$tmp/r.json')); exit(0 if j['online'] and j['diffTotal']==0 and j['queues'] else 1)" && break
    sleep 0.3
done
want 200 "j['online'] and len(j['connections'])==1 and j['diffTotal']==0 and j['subscriptions'][0]['topic']=='ApiTopic'"
cid=$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['connections'][0]['clientId'])")
ecid=$(python3 -c "import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=''))" "$cid")
api GET $P "group/running-info?group=ApiConsumer&clientId=$ecid"
want 200 "'properties' in j or 'subscriptionSet' in j"
api GET $P groups
want 200 "any(g['group']=='ApiConsumer' and g['count']==1 for g in j['groups'])"
api GET $P "message?id=$offid"
want 200 "{'consumerGroup':'ApiConsumer','trackType':'CONSUMED','exceptionDesc':''} in j['tracks']"
api POST $P message/resend "{\"id\":\"$offid\",\"group\":\"ApiConsumer\"}"
want 200 "j['clientId']=='$cid' and j['result']['consumeResult']=='CR_SUCCESS'"
kill -TERM $benchpid 2>/dev/null || true
wait $benchpid 2>/dev/null || true

# the sampler (1 s here) has points with the broker's TPS and the lag of the group looked at
for _ in $(seq 1 30); do
    api GET $P series
    python3 -c "import json; j=json.load(open('$tmp/r.json')); exit(0 if any('ApiGroup' in p['lag'] for p in j['points']) and any('ApiTopic' in p['topicTps'] for p in j['points']) else 1)" && break
    sleep 0.5
done
want 200 "len(j['points'])>=2 and all(p['ok'] for p in j['points']) and any(p['lag'].get('ApiGroup')==1 for p in j['points']) and any('ApiTopic' in p['topicTps'] for p in j['points'])"

api POST $P topic/delete '{"topic":"ApiTopic"}'
want 200 "j['deleted']=='ApiTopic'"
api GET $P topics
want 200 "not any(t['topic']=='ApiTopic' for t in j['topics'])"

# --read-only: reads work, a create is refused and nothing is created
start_console ro --read-only
api GET $ro_port cluster
want 200 "len(j['brokers'])==1"
api POST $ro_port topic/create '{"topic":"RoTopic"}'
want 403 "'read-only' in j['error']"
api GET $ro_port whoami
want 200 "j['readOnly'] is True"
api GET $P topics
want 200 "not any(t['topic']=='RoTopic' for t in j['topics'])"

# --users: login required; an admin may create, a viewer may not
echo 's3cret-pw' | "$build/bin/mqconsole" --hash-password alice admin >"$tmp/users"
echo 'view-pw' | "$build/bin/mqconsole" --hash-password bob viewer >>"$tmp/users"
grep -q '^alice:admin:[0-9a-f]\{32\}:[0-9a-f]\{64\}$' "$tmp/users" || fail "hash line: $(cat "$tmp/users")"
start_console auth --users "$tmp/users"
A=$auth_port
api GET $A cluster
want 401 "'login required' in j['error']"
api GET $A whoami
want 200 "j['loginRequired'] is True and j.get('user') is None"
api POST $A login '{"user":"alice","password":"wrong"}'
want 401 "'wrong user or password' in j['error']"
api POST $A login '{"user":"alice","password":"s3cret-pw"}' -c "$tmp/alice.jar" -D "$tmp/h.txt"
want 200 "j['role']=='admin'"
grep -qi '^set-cookie: rmqsid=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict' "$tmp/h.txt" || fail "cookie: $(cat "$tmp/h.txt")"
api GET $A cluster "" -b "$tmp/alice.jar"
want 200 "len(j['brokers'])==1"
api POST $A topic/create '{"topic":"AuthTopic"}' -b "$tmp/alice.jar"
want 200 "j['topic']=='AuthTopic'"
api POST $A login '{"user":"bob","password":"view-pw"}' -c "$tmp/bob.jar"
want 200 "j['role']=='viewer'"
api POST $A topic/delete '{"topic":"AuthTopic"}' -b "$tmp/bob.jar"
want 403 "'read-only user' in j['error']"
api POST $A logout '{}' -b "$tmp/alice.jar"
want 200 "j['ok']"
api GET $A cluster "" -b "$tmp/alice.jar"
want 401 "'login required' in j['error']"

# the page itself is served by the binary
curl -sf -o "$tmp/index.html" "http://127.0.0.1:$P/" || fail "no page at /"
grep -q '<title>rmq console</title>' "$tmp/index.html" || fail "/ is not the console's page"
curl -sf -o "$tmp/app.js" "http://127.0.0.1:$P/app.js" || fail "no app.js"
cmp -s "$tmp/app.js" "$(dirname "$0")/../../tools/mqconsole/web/app.js" || fail "app.js differs from web/app.js"
stop_all
check_logs
echo "console-api: ok"

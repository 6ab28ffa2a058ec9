#!/usr/bin/env python3
"""Hold N client connections to a broker, each one a registered consumer group member.

  bench-conns.py HOST:PORT N TOPIC [GROUPS] [INTERVAL_S]

Opens N TCP connections, and on each sends a HEART_BEAT (code 34, JSON header) whose
HeartbeatData names its own clientID and one consumer group (bench_mem_cg<i % GROUPS>,
CLUSTERING, subscribed to TOPIC "*"), as a RocketMQ client does; every INTERVAL_S (default 20,
below the broker's 120 s channel expiry) it heartbeats again. Frames from the broker (answers,
NOTIFY_CONSUMER_IDS_CHANGED) are read and dropped. Prints "registered N" once every connection
had its first heartbeat answered with code 0, then stays until SIGTERM. Used by
scripts/bench-mem.sh (issue 15).
"""
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time


def frame(code, opaque, body):
    hdr = json.dumps({"code": code, "language": "CPP", "version": 401, "opaque": opaque,
                      "flag": 0, "extFields": {}}).encode()
    return struct.pack(">II", 4 + len(hdr) + len(body), len(hdr)) + hdr + body


def heartbeat(cid, group, topic):
    return json.dumps({
        "clientID": cid,
        "producerDataSet": [],
        "consumerDataSet": [{
            "groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET", "unitMode": False,
            "subscriptionDataSet": [{"topic": topic, "subString": "*", "tagsSet": [], "codeSet": [],
                                     "subVersion": int(time.time() * 1000),
                                     "classFilterMode": False, "expressionType": "TAG"}],
        }],
    }).encode()


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    n, topic = int(sys.argv[2]), sys.argv[3]
    groups = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    interval = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(n):
        s = socket.create_connection((host, int(port)))
        s.setblocking(False)
        c = {"s": s, "buf": b"", "cid": "127.0.0.1@bench-mem-%d-%d" % (os.getpid(), i),
             "group": "bench_mem_cg%d" % (i % groups), "ok": False}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)

    opaque = [0]

    def beat(c):
        opaque[0] += 1
        c["s"].setblocking(True)
        c["s"].sendall(frame(34, opaque[0], heartbeat(c["cid"], c["group"], topic)))
        c["s"].setblocking(False)

    for c in conns:
        beat(c)
    registered = 0
    next_beat = time.time() + interval
    while True:
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            try:
                d = c["s"].recv(65536)
            except BlockingIOError:
                continue
            if not d:
                sys.exit("bench-conns: the broker closed connection %s" % c["cid"])
            c["buf"] += d
            while len(c["buf"]) >= 8:
                total, hl = struct.unpack(">II", c["buf"][:8])
                if len(c["buf"]) < 4 + total:
                    break
                hdr = json.loads(c["buf"][8:8 + (hl & 0xFFFFFF)])
                c["buf"] = c["buf"][4 + total:]
                if hdr.get("flag", 0) & 1 and not c["ok"]:  # a response: the first heartbeat's
                    if hdr.get("code") != 0:
                        sys.exit("bench-conns: HEART_BEAT answered %s" % hdr)
                    c["ok"] = True
                    registered += 1
                    if registered == n:
                        print("registered %d" % n, flush=True)
        if time.time() >= next_beat:
            for c in conns:
                beat(c)
            next_beat = time.time() + interval


if __name__ == "__main__":
    main()

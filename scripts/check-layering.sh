#!/usr/bin/env bash
# Layering check (issue 8): calls and includes point one way.
#
#   scripts/check-layering.sh [build-dir]      (default: build)
#
# Fails (exit 1, naming the offending files) when
#   (a) the files of broker/ form a cycle. A file and its header are one node ("topic" is
#       topic.c + topic.h); edges are `#include "broker/..."` lines and cross-file references:
#       a symbol defined (nm: T/D/B/R) in one object of <build-dir>/broker and used (U) in
#       another. Build the broker first (cmake --build <build-dir> --target mqbroker);
#   (b) a server-side or shared file (common/ remoting/ store/ namesrv/ broker/ include/)
#       includes the SDK's header (rmq/rmq.h) or anything under client/;
#   (c) common/ includes anything of ours outside common/ and include/rmq/.
# When green it prints one summary line per check; LAYERING_VERBOSE=1 lists broker/'s edges.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac

exec python3 - "$root" "$build" <<'PY'
import os, re, subprocess, sys

root, build = sys.argv[1], sys.argv[2]
INC = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
failed = False


def fail(msg):
    global failed
    failed = True
    print("check-layering: " + msg)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return INC.findall(f.read())


def sources(d):
    out = []
    for dp, _, fs in os.walk(os.path.join(root, d)):
        out += [os.path.join(dp, f) for f in fs if f.endswith((".c", ".h"))]
    return sorted(out)


# ---- (a) broker/ is acyclic ---------------------------------------------------------------
bdir = os.path.join(root, "broker")
bfiles = sorted(f for f in os.listdir(bdir) if f.endswith((".c", ".h")))
node = lambda f: os.path.splitext(f)[0]
nodes = sorted({node(f) for f in bfiles})
edges = {}  # (from, to) -> why


def add_edge(a, b, why):
    if a != b and (a, b) not in edges:
        edges[(a, b)] = why


for f in bfiles:
    for _, inc in includes(os.path.join(bdir, f)):
        if inc.startswith("broker/") and os.path.basename(inc) in bfiles:
            add_edge(node(f), node(os.path.basename(inc)), "includes " + inc)

objs = {}
for dp, _, fs in os.walk(os.path.join(build, "broker")):
    for o in fs:
        if o.endswith(".c.o") and o[:-4] + ".c" in bfiles:
            objs[o[:-4] + ".c"] = os.path.join(dp, o)
missing = [f for f in bfiles if f.endswith(".c") and f not in objs]
if missing:
    fail("no objects in %s/broker for %s (build mqbroker first)" % (build, ", ".join(missing)))
    sys.exit(1)
defs, uses = {}, {}
for src, obj in objs.items():
    out = subprocess.run(["nm", obj], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRC":
            defs[parts[2]] = src
        elif len(parts) == 2 and parts[0] == "U":
            uses.setdefault(src, set()).add(parts[1])
for src, syms in uses.items():
    for s in sorted(syms):
        if s in defs:
            add_edge(node(src), node(defs[s]), "uses " + s + " (" + defs[s] + ")")

if os.environ.get("LAYERING_VERBOSE"):
    for (a, b), why in sorted(edges.items()):
        print("    %s -> %s: %s" % (a, b, why))
graph = {n: sorted(b for (a, b) in edges if a == n) for n in nodes}
state, stack, cycle = {}, [], None


def dfs(n):
    global cycle
    state[n] = 1
    stack.append(n)
    for m in graph[n]:
        if cycle:
            return
        if state.get(m) == 1:
            cycle = stack[stack.index(m):] + [m]
            return
        if not state.get(m):
            dfs(m)
    stack.pop()
    state[n] = 2


for n in nodes:
    if not state.get(n) and not cycle:
        dfs(n)
if cycle:
    fail("cycle in broker/: " + " -> ".join(cycle))
    for a, b in zip(cycle, cycle[1:]):
        print("    %s -> %s: %s" % (a, b, edges[(a, b)]))
else:
    print("broker/: %d files, %d edges, no cycle" % (len(bfiles), len(edges)))

# ---- (b) no SDK header below the SDK ------------------------------------------------------
nb = 0
for d in ("common", "remoting", "store", "namesrv", "broker", "include"):
    for p in sources(d):
        for _, inc in includes(p):
            nb += 1
            if inc == "rmq/rmq.h" or inc.startswith("client/"):
                fail("%s includes the SDK header %s" % (os.path.relpath(p, root), inc))

# ---- (c) common/ is the floor -------------------------------------------------------------
ours = ("broker/", "remoting/", "store/", "namesrv/", "client/", "tools/", "test/", "include/")
nc = 0
for p in sources("common"):
    for _, inc in includes(p):
        nc += 1
        if inc.startswith("common/"):
            continue
        if inc.startswith("rmq/"):
            if not os.path.exists(os.path.join(root, "include", inc)):
                fail("%s includes %s, not under include/rmq/" % (os.path.relpath(p, root), inc))
            continue
        if inc.startswith(ours) or (not inc.startswith(("/",)) and "/" not in inc and
                                    any(os.path.exists(os.path.join(root, d, inc))
                                        for d in ("remoting", "store", "broker", "namesrv",
                                                  "client"))
                                    and not os.path.exists(os.path.join(root, "common", inc))):
            fail("%s includes %s, outside common/ and include/rmq/" %
                 (os.path.relpath(p, root), inc))
if not failed:
    print("no SDK header below client/ (%d includes), common/ includes only common/ and "
          "include/rmq/ (%d includes)" % (nb, nc))
sys.exit(1 if failed else 0)
PY

#!/usr/bin/env python3
"""/metrics of mqbroker and mqnamesrv against real processes (issue 14).

Starts a NameServer and a broker with metricsExporterType=PROM on free ports, parses every
scrape with the Prometheus client library's parser (and promtool's check with its lint when
Debian's prometheus package is installed), and that the figures move with traffic: 500
messages sent by mqbench show up as rocketmq_messages_in_total 500 and the bytes and size
histogram with them, a consumer group's pull as rocketmq_messages_out_total 500 and its lag
falling to 0, request latency counts, the NameServer's live broker and its request counters.
Every metric name the Grafana dashboard (deploy/grafana/rmq-overview.json) uses must be
served. Bad metrics settings stop the broker with a clear error.

    test/integration/0500-metrics.py BUILD_DIR
Exit 0 passed, 77 skipped (no python3-prometheus-client), 1 failed."""
import json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
binp = lambda n: os.path.join(build, "bin", n)
try:
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:  # a python3 other than Debian's (pyenv): use Debian's package anyway
        sys.path.append("/usr/lib/python3/dist-packages")
        from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("0500-metrics: skipped (python3-prometheus-client not installed)")
    sys.exit(77)
PROMTOOL = shutil.which("promtool")  # stricter (lint too) when Debian's prometheus is there

procs = []
work = tempfile.mkdtemp(prefix="rmq-metrics.")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def free_port(ha=False):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if not ha:
            return p
        ok = True
        for q in (p - 2, p + 1):  # fast port and HA port of a broker
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            t.close()
        if ok and p > 1024:
            return p


def start(name, args):
    log = open(os.path.join(work, name + ".log"), "w")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def wait_log(name, pattern, timeout=20):
    path = os.path.join(work, name + ".log")
    end = time.time() + timeout
    while time.time() < end:
        with open(path) as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        time.sleep(0.1)
    return None


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def parses(text):
    """Prometheus's own parsers: prometheus_client's, and promtool's (with its lint) if present."""
    try:
        fams = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends on bad input
        print("prometheus_client parser:", e)
        return False
    if not fams:
        return False
    if PROMTOOL:
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        if r.returncode != 0:
            print((r.stdout + r.stderr).decode())
            return False
    return True


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))))
    return out


def value(text, name, **labels):
    tot = None
    for n, l, v in samples(text):
        if n == name and all(l.get(k) == v2 for k, v2 in labels.items()):
            tot = (tot or 0) + v
    return tot


def run(args, timeout=60):
    r = subprocess.run(args, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        print(" ".join(args), "->", r.returncode, r.stdout.decode()[-500:], r.stderr.decode()[-500:])
    return r.returncode


try:
    nsp, brp = free_port(), free_port(ha=True)
    ns_conf = os.path.join(work, "ns.conf")
    with open(ns_conf, "w") as f:
        f.write("listenPort=%d\nkvConfigPath=%s/kv.json\nmetricsExporterType=PROM\n"
                "metricsPromExporterHost=127.0.0.1\nmetricsPromExporterPort=0\n" % (nsp, work))
    br_conf = os.path.join(work, "br.conf")
    with open(br_conf, "w") as f:
        f.write("brokerClusterName=MetricsCluster\nbrokerName=broker-m\nlistenPort=%d\n"
                "brokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%d\nstorePathRootDir=%s/store\n"
                "mapedFileSizeCommitLog=8388608\nmetricsExporterType=PROM\n"
                "metricsPromExporterPort=0\nmetricsLabel=env:ci,team:mq\n" % (brp, nsp, work))
    start("ns", [binp("mqnamesrv"), "-c", ns_conf])
    m = wait_log("ns", r"Prometheus metrics on http://[0-9.]+:(\d+)/metrics")
    check(m is not None, "NameServer announces its metrics port")
    ns_mport = int(m.group(1))
    start("br", [binp("mqbroker"), "-c", br_conf])
    m = wait_log("br", r"Prometheus metrics on http://[0-9.]+:(\d+)/metrics")
    check(m is not None, "broker announces its metrics port")
    br_mport = int(m.group(1))
    check(wait_log("br", "boot success") is not None, "broker booted")
    time.sleep(1)

    st, ctype, text = scrape(br_mport)
    check(st == 200 and ctype.startswith("text/plain; version=0.0.4"), "200 with the 0.0.4 type")
    check(parses(text), "parsers accept the idle broker page")
    check(value(text, "rmq_up", cluster="MetricsCluster", node_type="broker", node_id="broker-m",
                env="ci", team="mq") == 1, "rmq_up 1 with cluster/node labels and metricsLabel")
    check(value(text, "process_resident_memory_bytes") and
          value(text, "process_open_fds") and value(text, "process_cpu_seconds_total") is not None,
          "process_* figures")
    check(scrape(br_mport, "/healthz")[2] == "ok\n", "/healthz answers ok")
    try:
        scrape(br_mport, "/nope")
        check(False, "unknown path is 404")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "unknown path is 404")

    ns = "127.0.0.1:%d" % nsp
    N = 500
    check(run([binp("mqadmin"), "updateTopic", "-n", ns, "-b", "127.0.0.1:%d" % brp, "-t",
               "MetricsT", "-r", "4", "-w", "4"]) == 0, "topic created")
    check(run([binp("mqbench"), "producer", "-n", ns, "-t", "MetricsT", "-q", str(N), "-w", "4",
               "-s", "1024"], 120) == 0, "mqbench sent %d" % N)
    _, _, text = scrape(br_mport)
    check(parses(text), "parsers accept the page after sends")
    check(value(text, "rocketmq_messages_in_total", topic="MetricsT", message_type="normal") == N,
          "rocketmq_messages_in_total == %d" % N)
    check(value(text, "rocketmq_throughput_in_total", topic="MetricsT") == N * 1024,
          "rocketmq_throughput_in_total == %d bytes" % (N * 1024))
    check(value(text, "rocketmq_message_size_count", topic="MetricsT") == N and
          value(text, "rocketmq_message_size_bucket", topic="MetricsT", le="1024") == N and
          value(text, "rocketmq_message_size_sum", topic="MetricsT") == N * 1024,
          "message size histogram: %d bodies of 1 KiB in the 1 KiB bucket" % N)
    sends = value(text, "rocketmq_rpc_latency_count", request_code="send_message_v2") or 0
    sends += value(text, "rocketmq_rpc_latency_count", request_code="send_message") or 0
    check(sends >= N, "rocketmq_rpc_latency counts the sends (%d)" % sends)
    check((value(text, "rocketmq_storage_size") or 0) > N * 1024, "rocketmq_storage_size grew")

    check(run([binp("mqbench"), "consumer", "-n", ns, "-t", "MetricsT", "-g", "MetricsG", "-q",
               str(N), "--seconds", "30"], 60) == 0, "mqbench consumed")
    lag = None
    for _ in range(50):
        _, _, text = scrape(br_mport)
        lag = value(text, "rocketmq_consumer_lag_messages", topic="MetricsT",
                    consumer_group="MetricsG")
        if lag == 0:
            break
        time.sleep(0.3)
    check(parses(text), "parsers accept the page after consumption")
    check(value(text, "rocketmq_messages_out_total", topic="MetricsT",
                consumer_group="MetricsG") == N, "rocketmq_messages_out_total == %d" % N)
    check(lag == 0, "consumer lag fell to 0 (last %s)" % lag)
    check(value(text, "rocketmq_consumer_ready_messages", topic="MetricsT",
                consumer_group="MetricsG") == 0, "ready 0 after the drain")
    # more sends while nobody consumes: lag and ready follow
    check(run([binp("mqbench"), "producer", "-n", ns, "-t", "MetricsT", "-q", "100", "-w", "2"],
              60) == 0, "100 more sent")
    _, _, text = scrape(br_mport)
    check(value(text, "rocketmq_consumer_lag_messages", topic="MetricsT",
                consumer_group="MetricsG") == 100, "lag 100 with the group offline")
    check(value(text, "rocketmq_consumer_ready_messages", topic="MetricsT",
                consumer_group="MetricsG") == 100, "ready 100 with the group offline")

    _, _, nstext = scrape(ns_mport)
    check(parses(nstext), "parsers accept the NameServer page")
    check(value(nstext, "rmq_namesrv_brokers_alive") == 1, "NameServer: 1 broker alive")
    check((value(nstext, "rmq_namesrv_requests_total", request_code="register_broker") or 0) >= 1,
          "NameServer counts REGISTER_BROKER")
    check((value(nstext, "rmq_namesrv_requests_total", request_code="get_routeinfo_by_topic")
           or 0) >= 1, "NameServer counts route lookups")

    # the dashboard uses only names that are served
    served = {n for n, _, _ in samples(text)} | {n for n, _, _ in samples(nstext)}
    for line in text.splitlines() + nstext.splitlines():
        if line.startswith("# TYPE "):
            served.add(line.split()[2])  # families without samples yet (HA on a lone master)
    dash = json.load(open(os.path.join(root, "deploy", "grafana", "rmq-overview.json")))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = set()
    for e in exprs:
        for tok in re.findall(r'\b(rocketmq_[a-z_]+|rmq_[a-z_]+|process_[a-z_]+)\b', e):
            base = re.sub(r'_(bucket|sum|count)$', '', tok)
            used.add(base if base != tok and base in served else tok)
    missing = sorted(u for u in used if u not in served)
    check(not missing, "every metric of the Grafana dashboard is served (missing: %s)" % missing)

    # bad settings: a clear error, no broker
    for bad, why in (("metricsExporterType=OTLP_GRPC", "not served by rmq"),
                     ("metricsLabel=broken", "metricsLabel")):
        bc = os.path.join(work, "bad.conf")
        with open(bc, "w") as f:
            f.write("listenPort=%d\nbrokerIP1=127.0.0.1\nnamesrvAddr=127.0.0.1:%d\n"
                    "storePathRootDir=%s/bad\nmapedFileSizeCommitLog=1048576\n"
                    "metricsExporterType=PROM\nmetricsPromExporterPort=0\n%s\n"
                    % (free_port(ha=True), nsp, work, bad))
        r = subprocess.run([binp("mqbroker"), "-c", bc], capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode()
        check(r.returncode != 0 and why in out, "%s stops the broker naming the problem" % bad)
finally:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    for name in ("ns", "br"):
        path = os.path.join(work, name + ".log")
        if os.path.exists(path) and failures:
            print("---- %s.log (tail)" % name)
            print("".join(open(path).readlines()[-20:]))
    shutil.rmtree(work, ignore_errors=True)

print("0500-metrics: %s" % ("FAILED: " + "; ".join(failures) if failures else "ok"))
sys.exit(1 if failures else 0)

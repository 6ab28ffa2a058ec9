#!/usr/bin/env python3
"""Check deploy/ against the code (issue 14): what an operator copies must agree with conf/ and
the binaries.

  scripts/check-deploy.py BUILD_DIR

- deploy/systemd units pass `systemd-analyze verify` (ExecStart pointed at BUILD_DIR/bin, since
  /opt/rmq need not exist here); skipped with a line when systemd-analyze is missing;
- every config file embedded in deploy/k8s/*.yaml loads with `mqbroker -p` / `mqnamesrv -p`
  without an unknown key or an error;
- container and Service ports are exactly the ports those configs open (listenPort, the fast
  port listenPort - 2, HA listenPort + 1, metricsPromExporterPort), the readiness probe asks
  /healthz on the metrics port and metrics are on;
- deploy/container/Dockerfile EXPOSEs every one of those ports, and its runtime packages are
  the ones that provide each shared library the built binaries link directly (NEEDED,
  ldd, dpkg -S).
Exit 0 ok, 1 on any mismatch (each printed)."""
import glob, os, re, shutil, subprocess, sys, tempfile

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bad = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        bad.append(what)


tmp = tempfile.mkdtemp(prefix="rmq-deploy.")
try:
    # ---- systemd ----
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("skip systemd-analyze verify (systemd-analyze not installed)")
    else:
        for unit in sorted(glob.glob(os.path.join(root, "deploy/systemd/*.service"))):
            name = os.path.basename(unit).replace("@.service", "@broker-a.service")
            text = open(unit).read().replace("/opt/rmq/bin", os.path.join(build, "bin"))
            path = os.path.join(tmp, name)
            open(path, "w").write(text)
            r = subprocess.run([sa, "verify", path], capture_output=True, text=True)
            out = "\n".join(l for l in (r.stdout + r.stderr).splitlines()
                            if "sysinit.target" not in l and "rmq" in l.lower() or "Command" in l)
            check(r.returncode == 0, "systemd-analyze verify %s %s" % (name, out.strip()))

    # ---- Kubernetes: embedded configs and ports ----
    def props(text):
        kv = {}
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                kv[k.strip()] = v.strip()
        return kv

    all_ports = set()
    for y in sorted(glob.glob(os.path.join(root, "deploy/k8s/*.yaml"))):
        docs = open(y).read().split("\n---\n")
        base = os.path.basename(y)
        confs = {}
        for d in docs:
            if re.search(r"^kind: ConfigMap", d, re.M):
                for m in re.finditer(r"^  ([\w.-]+): \|\n((?:    .*\n|\n)*)", d + "\n", re.M):
                    confs[m.group(1)] = "\n".join(l[4:] for l in m.group(2).splitlines())
        check(confs, "%s embeds its config files" % base)
        namesrv = any(k.startswith("namesrv") for k in confs)
        want = set()
        for fname, text in confs.items():
            path = os.path.join(tmp, fname)
            open(path, "w").write(text + "\n")
            binp = os.path.join(build, "bin", "mqnamesrv" if namesrv else "mqbroker")
            r = subprocess.run([binp, "-c", path, "-p"], capture_output=True, text=True)
            msg = (r.stdout + r.stderr)
            check(r.returncode == 0 and "unknown" not in msg.lower(),
                  "%s/%s loads with %s -p%s" % (base, fname, os.path.basename(binp),
                                                "" if r.returncode == 0 else ": " + msg[-300:]))
            kv = props(text)
            check(kv.get("metricsExporterType") == "PROM", "%s/%s turns metrics on" % (base, fname))
            lp = int(kv.get("listenPort", "9876" if namesrv else "10911"))
            mp = int(kv.get("metricsPromExporterPort", "5558" if namesrv else "5557"))
            want |= {lp, mp} if namesrv else {lp, lp - 2, lp + 1, mp}
            probe_port = mp
        all_ports |= want
        for d in docs:
            kind = re.search(r"^kind: (\w+)", d, re.M)
            kind = kind.group(1) if kind else ""
            if kind == "StatefulSet":
                got = {int(p) for p in re.findall(r"containerPort: (\d+)", d)}
                check(got == want, "%s StatefulSet ports %s == config's %s" % (base, sorted(got),
                                                                             sorted(want)))
                m = re.search(r"readinessProbe:\s*\n\s*httpGet:\s*\n\s*path: (\S+)\s*\n\s*port: (\d+)", d)
                check(m and m.group(1) == "/healthz" and int(m.group(2)) == probe_port,
                      "%s readiness probe is /healthz on the metrics port %d" % (base, probe_port))
                check("PodDisruptionBudget" in open(y).read(), "%s has a PodDisruptionBudget" % base)
            if kind == "Service":
                got = {int(p) for p in re.findall(r"^\s+port: (\d+)", d, re.M)}
                check(got == want, "%s Service ports %s == config's %s" % (base, sorted(got),
                                                                          sorted(want)))
                check("clusterIP: None" in d, "%s Service is headless" % base)

    # ---- container image file ----
    df = open(os.path.join(root, "deploy/container/Dockerfile")).read()
    exposed = {int(p) for m in re.findall(r"^EXPOSE (.*)$", df, re.M) for p in m.split()}
    check(all_ports <= exposed, "Dockerfile EXPOSEs %s (has %s)" % (sorted(all_ports),
                                                                 sorted(exposed)))
    runtime = df.split("FROM debian:12-slim", 1)[1]
    pkgs = set(re.findall(r"\b(lib[\w.+-]+|zlib1g)\b", runtime.split("&& rm -rf")[0]))
    need = set()
    if shutil.which("dpkg"):
        for b in ("mqbroker", "mqnamesrv", "mqadmin", "mqbench"):
            binp = os.path.join(build, "bin", b)
            out = subprocess.run(["ldd", binp], capture_output=True, text=True).stdout
            direct = set(re.findall(r"NEEDED\s+(\S+)", subprocess.run(
                ["objdump", "-p", binp], capture_output=True, text=True).stdout))
            for so, lib in re.findall(r"^\s*(\S+) => (/\S+)", out, re.M):
                if so not in direct:  # a dependency's dependency comes with its package
                    continue
                if re.search(r"/(libc|libm|libpthread|libdl|librt|libgcc_s|ld-linux|libasan|"
                             r"libubsan|libtsan|liblsan)[.-]", lib):  # libc, or a sanitizer build
                    continue
                real = os.path.realpath(lib)
                r = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
                if r.returncode != 0:
                    r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
                if r.returncode == 0:
                    need.add(r.stdout.split(":")[0])
        missing = sorted(p for p in need if p not in pkgs)
        check(not missing, "Dockerfile runtime packages cover the binaries' libraries %s "
                           "(missing: %s)" % (sorted(need), missing))
    else:
        print("skip library check (no dpkg)")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print("check-deploy: %s" % ("ok" if not bad else "%d failed" % len(bad)))
sys.exit(1 if bad else 0)

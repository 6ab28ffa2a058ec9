#!/bin/sh
# Everything rmq needs to build and test on a fresh Debian 12 machine (run as root or via sudo).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config git ca-certificates \
    libuv1-dev libjansson-dev libmbedtls-dev libcmocka-dev zlib1g-dev libyaml-dev \
    clang libclang-rt-14-dev clang-format python3 \
    libmicrohttpd-dev python3-prometheus-client curl systemd
# mqconsole's browser test (test/browser): Debian's Chromium, and puppeteer-core from npm when
# node/npm are there (pinned in test/browser/package-lock.json; it drives that Chromium and
# downloads no browser). Best effort: without them that one test says "skipped" and exits 77.
$SUDO apt-get install -y -qq --no-install-recommends chromium ||
    echo "install-deps: chromium not installed; the console-browser test will be skipped"
if command -v npm >/dev/null; then
    (cd "$(dirname "$0")/../test/browser" && npm ci --no-audit --no-fund >/dev/null) ||
        echo "install-deps: npm ci of puppeteer-core failed; the console-browser test will be skipped"
fi

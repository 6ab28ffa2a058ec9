#!/bin/bash
# mqconsole in headless Chromium (test/browser/console.test.js, puppeteer-core from npm): a
# NameServer + broker on free ports and three consoles (open, --read-only, --users), the
# script clicks through every page; screenshots go to BUILD_DIR/test-artifacts/console/*.png.
# Exit 77 with one line when Chromium, node or puppeteer-core is not installed
# (scripts/install-deps.sh installs them). Stops only what it started, by pid.
#   usage: console-browser.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "console-browser: skipped: chromium not installed ($chromium)"; exit 77; }
command -v node >/dev/null || { echo "console-browser: skipped: node not installed"; exit 77; }
[ -f "$here/node_modules/puppeteer-core/package.json" ] ||
    { echo "console-browser: skipped: puppeteer-core not installed (npm ci --prefix test/browser)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmq-console-browser.XXXXXX")
. "$here/lib.sh"
trap cleanup EXIT
shots="$build/test-artifacts/console"
mkdir -p "$shots"
rm -f "$shots"/*.png

start_servers
start_console open
start_console ro --read-only
export CONSOLE_PW="pw-$RANDOM-$RANDOM"
echo "$CONSOLE_PW" | "$build/bin/mqconsole" --hash-password alice admin >"$tmp/users"
start_console auth --users "$tmp/users"
CHROMIUM="$chromium" node "$here/console.test.js" "http://127.0.0.1:$open_port/" \
    "http://127.0.0.1:$ro_port/" "http://127.0.0.1:$auth_port/" "$shots" ||
    fail "the browser test failed (screenshots in $shots)"
for p in cluster topics send messages groups dlq readonly login after-login; do
    [ -s "$shots/$p.png" ] || fail "no screenshot $p.png"
done
stop_all
check_logs
echo "console-browser: ok"

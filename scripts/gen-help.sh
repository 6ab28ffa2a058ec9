#!/bin/sh
# Man-style help text of every binary, from its own -h: gen-help.sh BIN_DIR OUT_DIR.
# Run by the build (target rmq_help) so `cmake --install` ships share/doc/rmq/<binary>.txt.
set -eu
bin=$1
out=$2
mkdir -p "$out"
for b in mqnamesrv mqbroker mqbench store_check mqconsole; do
    [ -x "$bin/$b" ] || continue
    { "$bin/$b" --version; echo; "$bin/$b" -h; } >"$out/$b.txt" 2>&1
done
if [ -x "$bin/mqadmin" ]; then
    {
        "$bin/mqadmin" --version
        echo
        "$bin/mqadmin"
        # one section per subcommand: its name from the list, then `mqadmin help <cmd>`
        "$bin/mqadmin" | awk '/^   [A-Za-z]/ {print $1}' | while read -r cmd; do
            echo
            echo "== mqadmin $cmd"
            "$bin/mqadmin" help "$cmd"
        done
    } >"$out/mqadmin.txt" 2>&1
fi

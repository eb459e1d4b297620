#!/usr/bin/env bash
# fresh.sh with the server profiled from ready to the end of the run
# (perf record -F 2999, dwarf stacks); then perf script of every sample,
# with its time, to /tmp/LABEL.script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
label=$1; shift
( for _ in $(seq 1 1200); do
    pid=$(pgrep -f 'state-fresh' | head -1 || true)
    [ -n "$pid" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18391/readyz)" = 200 ] && break
    sleep 0.1
  done
  perf record -F 2999 --call-graph dwarf,16384 -p "$pid" -o "/tmp/$label.perf.data" -- sleep 14 2>/dev/null >/dev/null ) &
rec=$!
"$here/fresh.sh" "$label" "$@"
wait $rec
perf script -i "/tmp/$label.perf.data" -F time,tid,ip,sym 2>/dev/null > "/tmp/$label.script"

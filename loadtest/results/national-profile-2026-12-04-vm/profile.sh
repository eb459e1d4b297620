#!/usr/bin/env bash
# Profiles `serve --threads 1` (core 0) at 100 M items under the national mix
# at RATE/s from loadgen (core 1): perf samples the server for 8 s of a 20 s
# run. Needs the index and the sample of loadtest/national.sh in
# target/national. Usage: profile.sh LABEL [RATE]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here=$(cd "$(dirname "$0")" && pwd)
label=$1 rate=${2:-25000}
bin=${BIN:-$root/target/release}
work=$root/target/national
port=18390
rm -rf "$work/state-prof"
taskset -c 0 "$bin/tracescan" serve --index "$work/index-100000000.tsidx" --threads 1 \
  --state-dir "$work/state-prof" --listen "127.0.0.1:$port" --access-log-sample 0 >"$here/$label.server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.1; done
taskset -c 1 "$bin/loadgen" run --snapshot "$work/sample-100000000" --mix element=50,dl=50 --zipf 0 \
  --keys 200000 --sequence 1000000 --target "127.0.0.1:$port" --connections 128 --rate "$rate" \
  --warmup 2 --duration 20 --check snapshot --server-pid "$pid" --label "$label" \
  --json "$here/$label.json" >"$here/$label.txt" &
lg=$!
# Load begins once loadgen has read its sample: wait for the first scans,
# then 6 s more, so that the profile holds no first second.
for _ in $(seq 1 600); do
  n=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^tracescan_scans_total/ {print $2}')
  [ "${n:-0}" -gt 0 ] && break; sleep 0.1
done
sleep 6
perf record -F 1999 --call-graph dwarf,16384 -p "$pid" -o "/tmp/$label.perf.data" -- sleep 8 2>/dev/null
(sleep 0; curl -s "http://127.0.0.1:$port/metrics" | grep -E "^tracescan_scan") > "$here/$label.metrics"
wait $lg
cat "$here/$label.txt"

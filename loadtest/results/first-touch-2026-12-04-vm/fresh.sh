#!/usr/bin/env bash
# A fresh server's first seconds at 100 M items: start `serve --threads 1`
# (core 0), wait until ready, then loadgen (core 1) at RATE/s with no
# warm-up for SECONDS, so the first second of load is timed. One line a run.
# Usage: fresh.sh LABEL RATE SECONDS [ENV=VALUE ...]   (BIN: the binaries' dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here=$(cd "$(dirname "$0")" && pwd)
label=$1 rate=$2 seconds=$3; shift 3
bin=${BIN:-$root/target/release}
work=$root/target/national
port=18391
rm -rf "$work/state-fresh"
started=$(date +%s.%N)
env "$@" taskset -c 0 "$bin/tracescan" serve --index "$work/index-100000000.tsidx" --threads 1 \
  --state-dir "$work/state-fresh" --listen "127.0.0.1:$port" --access-log-sample 0 >"$here/$label.server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.1; done
ready=$(date +%s.%N)
sleep "${IDLE:-0}"
taskset -c 1 "$root/target/release/loadgen" run --snapshot "$work/sample-100000000" --mix element=50,dl=50 --zipf 0 \
  --keys 200000 --sequence 1000000 --target "127.0.0.1:$port" --connections 128 --rate "$rate" \
  --warmup 0 --duration "$seconds" --check snapshot --server-pid "$pid" --label "$label" \
  --json "$here/$label.json" >"$here/$label.txt"
python3 - "$here/$label.json" "$label" "$(echo "$ready - $started" | bc)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["latency_us"]
print(f'{sys.argv[2]}: ready in {float(sys.argv[3]):.1f} s, p50 {l["p50"]/1000:.3f} p99 {l["p99"]/1000:.2f} p99.9 {l["p99_9"]/1000:.2f} max {l["max"]/1000:.1f} ms, cpu {r["server_cpu_us_per_request"]:.2f} us, wrong {r["wrong"]}')
PY

#!/usr/bin/env bash
# fresh.sh's run against a fresh fixed-body ceiling (2,325-byte bodies, the
# mean tracescan answer of this mix): does the ceiling have a first second?
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
label=$1 rate=$2 seconds=$3
port=18392
taskset -c 0 "$root/target/release/fixed-body" "127.0.0.1:$port" 2325 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
taskset -c 1 "$root/target/release/loadgen" run --snapshot "$root/target/national/sample-100000000" --mix element=50,dl=50 --zipf 0 \
  --keys 200000 --sequence 1000000 --target "127.0.0.1:$port" --connections 128 --rate "$rate" \
  --warmup 0 --duration "$seconds" --check any200 --server-pid "$pid" --label "$label" \
  --json "/tmp/$label.json" >/dev/null
python3 - "/tmp/$label.json" "$label" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["latency_us"]
print(f'{sys.argv[2]}: p50 {l["p50"]/1000:.3f} p99 {l["p99"]/1000:.2f} p99.9 {l["p99_9"]/1000:.2f} max {l["max"]/1000:.1f} ms, cpu {r["server_cpu_us_per_request"]:.2f} us')
PY

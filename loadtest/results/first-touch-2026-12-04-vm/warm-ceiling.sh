#!/usr/bin/env bash
# A warm fixed-body ceiling (2,325-byte bodies) and two fresh loadgen runs
# after it, no warm-up, with the server's CPU sampled every 100 ms: does a
# server that is not fresh have a first second too?
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd); port=18393
taskset -c 0 "$root/target/release/fixed-body" "127.0.0.1:$port" 2325 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.5
for i in 1 2; do
( prev=$(awk '{s+=$1} END {printf "%.0f", s}' /proc/$pid/task/*/schedstat); for k in $(seq 1 150); do sleep 0.1; now=$(awk '{s+=$1} END {printf "%.0f", s}' /proc/$pid/task/*/schedstat); printf '%d ' $(( (now - prev) / 1000000 )); prev=$now; done; echo ) > /tmp/cpu-$i.txt &
s=$!
taskset -c 1 "$root/target/release/loadgen" run --snapshot "$root/target/national/sample-100000000" --mix element=50,dl=50 --zipf 0 \
  --keys 200000 --sequence 1000000 --target "127.0.0.1:$port" --connections 128 --rate 30000 \
  --warmup 0 --duration 4 --check any200 --server-pid "$pid" --label x --json "/tmp/wc-$i.json" >/dev/null
wait $s
python3 -c "
import json; r=json.load(open('/tmp/wc-$i.json')); l=r['latency_us']
print('run $i: p99 %.2f p99.9 %.2f max %.1f ms' % (l['p99']/1000, l['p99_9']/1000, l['max']/1000))"
echo "server ms of CPU per 100 ms: $(cat /tmp/cpu-$i.txt)"
done

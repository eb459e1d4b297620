#!/usr/bin/env bash
# Overload: 4,000 keep-alive connections in a closed loop against one worker,
# once with the connection cap above them (everything queues) and once with a
# cap of 1,000 (the rest are shed with 503 at once); during each run, health
# checks on new connections, one every 20 ms, alternately on the public
# address and on the admin address (--admin-listen, a thread of its own).
# Loopback only, bounded in time.
#
#   loadtest/overload.sh [SECONDS] [CAP]
#
# Server on core 0, load generator and health checks on core 1. Results go to
# loadtest/results/<date>-<host>-overload/: loadgen's text and JSON per run,
# and the health checks' latencies.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
cap=${2:-1000}
connections=4000
ulimit -n "$(ulimit -Hn)"
cargo build --release --locked --bins -p tracescan -p tracescan-loadtest >&2
out="loadtest/results/$(date +%F)-$(hostname -s)-overload"
mkdir -p "$out"
port=18190

percentiles() { # file of seconds, one a line -> "p50 X ms, p99 Y ms, max Z ms (N checks)"
  sort -n "$1" | awk '{v[NR]=$1} END {
    p50=v[int(NR*0.5)+1]; p99=v[int(NR*0.99)+1 > NR ? NR : int(NR*0.99)+1]; max=v[NR];
    printf "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d checks)\n", p50*1000, p99*1000, max*1000, NR }'
}

for max in $((connections * 2)) "$cap"; do
  label="cap-$max"
  taskset -c 0 ./target/release/tracescan serve --snapshot data/sample --threads 1 \
    --listen 127.0.0.1:$port --admin-listen 127.0.0.1:$((port + 1)) \
    --max-connections "$max" >"$out/$label.server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/readyz)" = 200 ] && break
    sleep 0.1
  done
  taskset -c 1 ./target/release/loadgen run --target 127.0.0.1:$port --snapshot data/sample \
    --connections $connections --warmup 1 --duration "$seconds" --max-requests 20000000 \
    --server-pid $server --label "$label" --json "$out/$label.json" >"$out/$label.txt" &
  load=$!
  sleep 2
  : >"$out/$label.healthz"
  : >"$out/$label.healthz-admin"
  end=$((SECONDS + seconds - 3))
  while [ $SECONDS -lt $end ]; do
    for p in $port:healthz $((port + 1)):healthz-admin; do
      taskset -c 1 curl -s -o /dev/null -m 5 -w '%{time_total}\n' "http://127.0.0.1:${p%%:*}/healthz" \
        >>"$out/$label.${p#*:}" || echo 5 >>"$out/$label.${p#*:}"
      sleep 0.02
    done
  done
  wait $load || true
  kill $server; wait $server 2>/dev/null || true
  trap - EXIT
  cat "$out/$label.txt"
  {
    echo "  healthz on new connections, public address: $(percentiles "$out/$label.healthz")"
    echo "  healthz on new connections, admin address:  $(percentiles "$out/$label.healthz-admin")"
  } | tee -a "$out/$label.txt"
done
echo "results in $out"

#!/usr/bin/env bash
set -u
cd /work/main
W=target/national; out=loadtest/results/idle-2026-12-03-vm; mkdir -p $out
rm -rf $W/state-i
taskset -c 0 /tmp/ts-new serve --index $W/index-100000000.tsidx --threads 1 --state-dir $W/state-i \
  --listen 127.0.0.1:18380 --access-log-sample 0 --trusted-proxy 127.0.0.1 > $out/server-2.log 2>&1 &
pid=$!
for i in $(seq 1 900); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18380/readyz)" = 200 ] && break; sleep 0.2; done
run() { # LABEL RATE SECONDS
  taskset -c 1 target/release/loadgen run --snapshot $W/sample-100000000 --mix element=50,dl=50 --zipf 0 --keys 200000 \
    --sequence 1300000 --target 127.0.0.1:18380 --connections 128 --rate $2 --warmup 1 --duration $3 \
    --clients 4000000 --check snapshot --server-pid $pid --label $1 --json $out/$1.json > $out/$1.txt
  head -3 $out/$1.txt | tr '\n' ' '; echo
}
run warm-2 20000 20
run trickle-200-2 200 120
run after-trickle-2 20000 20
echo "idle 120 s"; sleep 120
run after-idle-120s-2 20000 20
kill $pid; wait $pid 2>/dev/null

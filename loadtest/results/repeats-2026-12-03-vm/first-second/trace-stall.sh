#!/usr/bin/env bash
set -u
cd /work/main
W=target/national; out=/tmp/diag
WA="--snapshot $W/sample-100000000 --mix element=50,dl=50 --zipf 0 --keys 200000 --sequence 1300000"
for n in 1 2 3; do
  rm -rf $W/state-rep
  taskset -c 0 /tmp/ts-new serve --index $W/index-100000000.tsidx --threads 1 --state-dir $W/state-rep \
    --listen 127.0.0.1:18380 --access-log-sample 0 --trusted-proxy 127.0.0.1 > $out/t$n.log 2>&1 &
  pid=$!
  for i in $(seq 1 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18380/readyz)" = 200 ] && break; sleep 0.2; done
  taskset -c 1 python3 /tmp/sampler.py $pid 75 $out/t$n.states &
  sp=$!
  echo "loadgen start $(date +%s.%N)" > $out/t$n.times
  taskset -c 1 target/release/loadgen run $WA --target 127.0.0.1:18380 --connections 128 --rate 20000 \
    --warmup 1 --duration 60 --clients 4000000 --check snapshot --server-pid $pid --label t$n > $out/t$n.txt
  echo "loadgen end $(date +%s.%N)" >> $out/t$n.times
  kill $pid; wait $pid 2>/dev/null; kill $sp 2>/dev/null; wait $sp 2>/dev/null
  head -3 $out/t$n.txt
done

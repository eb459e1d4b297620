#!/usr/bin/env bash
set -u
cd /work/main
W=target/national; out=loadtest/results/folios-2026-12-03-vm; mkdir -p $out
WA="--snapshot $W/sample-100000000 --mix element=50,dl=50 --zipf 0 --keys 200000 --sequence 1300000"
for round in 1 2; do
  for state in small large; do
    python3 /tmp/folio.py $W/index-100000000.tsidx $state
    rm -rf $W/state-f
    taskset -c 0 /tmp/ts-new serve --index $W/index-100000000.tsidx --threads 1 --state-dir $W/state-f \
      --listen 127.0.0.1:18380 --access-log-sample 0 --trusted-proxy 127.0.0.1 > $out/$state-$round.server.log 2>&1 &
    pid=$!
    for i in $(seq 1 900); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18380/readyz)" = 200 ] && break; sleep 0.2; done
    pmd=$(awk '/FilePmdMapped/ {print $2}' /proc/$pid/smaps_rollup)
    for phase in first steady; do
      d=20; [ $phase = steady ] && d=30
      taskset -c 1 target/release/loadgen run $WA --target 127.0.0.1:18380 --connections 128 --rate 20000 \
        --warmup 1 --duration $d --clients 4000000 --check snapshot --server-pid $pid \
        --label $state-$round-$phase --json $out/$state-$round-$phase.json > $out/$state-$round-$phase.txt
      echo "FilePmdMapped $pmd kB" >> $out/$state-$round-$phase.txt
      head -3 $out/$state-$round-$phase.txt | tr '\n' ' '; echo "pmd=$pmd kB"
    done
    kill $pid; wait $pid 2>/dev/null
  done
done

#!/usr/bin/env bash
# closed.sh ROUNDS BIN... : closed loop 1M items, each binary on core 0 in turn, loadgen on core 1
set -u
rounds=$1; shift
snap=/work/main/target/loadtest/snapshot-1000000
idx=/work/main/target/loadtest/index-1000000.tsidx
port=18481
for r in $(seq 1 $rounds); do
  for b in "$@"; do
    if [ "$(basename $b)" = fixed-body ]; then
      taskset -c 0 $b 127.0.0.1:$port 2378 >/dev/null 2>&1 & pid=$!; check=any200
    else
      taskset -c 0 $b serve --index $idx --threads 1 --listen 127.0.0.1:$port >/dev/null 2>&1 & pid=$!; check=snapshot
    fi
    for i in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    taskset -c 1 /tmp/loadgen run --target 127.0.0.1:$port --snapshot $snap --mix element=20,raw=10,dl=30,stamp=40 --duration 2 --check any200 >/dev/null 2>&1
    taskset -c 1 /tmp/loadgen run --target 127.0.0.1:$port --snapshot $snap --mix element=20,raw=10,dl=30,stamp=40 --duration ${DUR:-6} --check $check --server-pid $pid --json /tmp/ab.json >/dev/null 2>&1
    python3 -c "
import json;r=json.load(open('/tmp/ab.json'));print('$r', '$(basename $b)', round(r['server_cpu_us_per_request'],2), r['timed'], r['wrong']+r['unanswered'])"
    kill $pid; wait $pid 2>/dev/null
  done
done

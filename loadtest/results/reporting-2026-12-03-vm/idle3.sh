#!/usr/bin/env bash
# Does the guest's free page reporting make an idle server's first second dear?
# One server; after a warm run, three idle spells of 120 s, each followed by
# a 20 s run at 20 000/s: reporting on, off, on again. Records what the
# kernel reported to the host (page_reporting's reported_kib) and what DAMON
# paged out (its scheme's sz_applied) during each idle spell.
set -u
cd /work/main
W=target/national; out=loadtest/results/reporting-2026-12-03-vm; mkdir -p $out
PR=/sys/module/page_reporting/parameters
DA=/sys/kernel/mm/damon/admin/kdamonds/0
order0=$(cat $PR/page_reporting_order)
rm -rf $W/state-i
taskset -c 0 target/release/tracescan serve --index $W/index-100000000.tsidx --threads 1 --state-dir $W/state-i \
  --listen 127.0.0.1:18380 --access-log-sample 0 --trusted-proxy 127.0.0.1 > $out/server.log 2>&1 &
pid=$!
for i in $(seq 1 900); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18380/readyz)" = 200 ] && break; sleep 0.2; done
stats() {
  echo update_schemes_stats > $DA/state 2>/dev/null
  echo "reported_kib=$(cat $PR/reported_kib) damon_sz_applied=$(cat $DA/contexts/0/schemes/0/stats/sz_applied) refault_file=$(awk '/workingset_refault_file/ {print $2}' /proc/vmstat) free_kib=$(awk '/MemFree/ {print $2}' /proc/meminfo) worker_minflt=$(awk '{print $10}' /proc/$pid/stat)"
}
run() { # LABEL
  taskset -c 1 target/release/loadgen run --snapshot $W/sample-100000000 --mix element=50,dl=50 --zipf 0 --keys 200000 \
    --sequence 1300000 --target 127.0.0.1:18380 --connections 128 --rate 20000 --warmup 1 --duration 20 \
    --clients 4000000 --check snapshot --server-pid $pid --label $1 --json $out/$1.json > $out/$1.txt
  echo "$1: $(sed -n 2p $out/$1.txt)"
}
idle() { # LABEL
  echo "before idle $1: $(stats)"; sleep 120; echo "after idle $1: $(stats)"
}
run warm
idle reporting-on; run after-idle-reporting-on
min0=$(cat $PR/min_free_ms)
echo "reporting off: order $order0 -> 11 (no free block is that large), else 10 and min_free_ms $min0 -> 3600000; DAMON off"
echo 11 > $PR/page_reporting_order 2>/dev/null || { echo 10 > $PR/page_reporting_order; echo 3600000 > $PR/min_free_ms; }
echo "order now $(cat $PR/page_reporting_order), min_free_ms $(cat $PR/min_free_ms)"
echo off > $DA/state; echo "damon $(cat $DA/state)"
idle reporting-off; run after-idle-reporting-off
echo $order0 > $PR/page_reporting_order; echo $min0 > $PR/min_free_ms; echo on > $DA/state
echo "restored: order $(cat $PR/page_reporting_order), damon $(cat $DA/state)"
idle reporting-on-again; run after-idle-reporting-on-again
kill $pid; wait $pid 2>/dev/null

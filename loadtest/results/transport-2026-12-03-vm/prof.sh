#!/usr/bin/env bash
# prof.sh BIN OUT : closed loop 1M, perf record the server for 4 s
snap=/work/main/target/loadtest/snapshot-1000000
idx=/work/main/target/loadtest/index-1000000.tsidx
port=18481; b=$1; out=$2
taskset -c 0 $b serve --index $idx --threads 1 --listen 127.0.0.1:$port >/dev/null 2>&1 & pid=$!
for i in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
taskset -c 1 /tmp/loadgen run --target 127.0.0.1:$port --snapshot $snap --mix element=20,raw=10,dl=30,stamp=40 --duration 2 --check any200 >/dev/null 2>&1
(taskset -c 1 /tmp/loadgen run --target 127.0.0.1:$port --snapshot $snap --mix element=20,raw=10,dl=30,stamp=40 --duration 7 --check any200 >/dev/null 2>&1 &)
sleep 1.5
perf record -e cpu-clock -F 4999 --call-graph dwarf,8192 -p $pid -o $out -- sleep 4 >/dev/null 2>&1
sleep 2; kill $pid; wait $pid 2>/dev/null
perf script -i $out -F ip,sym 2>/dev/null > $out.txt

#!/usr/bin/env bash
# strace.sh BIN : system calls of the server per answer, closed loop 1M, 3 s
snap=/work/main/target/loadtest/snapshot-1000000
idx=/work/main/target/loadtest/index-1000000.tsidx
port=18481; b=$1
taskset -c 0 $b serve --index $idx --threads 1 --listen 127.0.0.1:$port >/dev/null 2>&1 & pid=$!
for i in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
(taskset -c 1 /tmp/loadgen run --target 127.0.0.1:$port --snapshot $snap --mix element=20,raw=10,dl=30,stamp=40 --duration 6 --check any200 --json /tmp/st.json >/dev/null 2>&1 &)
sleep 2
timeout 3 strace -c -f -p $pid -o /tmp/strace.out >/dev/null 2>&1
sleep 2; kill $pid; wait $pid 2>/dev/null
grep -E "calls|writev|recvfrom|epoll_wait|total" /tmp/strace.out

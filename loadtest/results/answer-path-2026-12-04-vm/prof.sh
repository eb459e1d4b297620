#!/bin/bash
# prof.sh BIN FILTER OUT: perf the bench only while criterion profiles it
BIN=$1; F=$2; OUT=$3
cd /work/main
taskset -c 1 $BIN --bench --profile-time 10 "$F" > /tmp/prof-run.log 2>&1 &
P=$!
until grep -q Profiling /tmp/prof-run.log; do sleep 0.2; done
sleep 1
perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 -p $P -o $OUT -- sleep 5 2>/dev/null
wait $P

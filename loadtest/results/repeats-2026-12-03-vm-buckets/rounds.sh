#!/usr/bin/env bash
# Rounds of the repeat-window benches, two bench binaries in turn on core 1:
# OLD (a HashSet a window) and NEW (one table of buckets), built from the
# same benches/live.rs. Usage: rounds.sh ROUNDS OLD NEW > rounds.txt
set -euo pipefail
rounds=${1:?rounds} old=${2:?old bench binary} new=${3:?new bench binary}
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    taskset -c 1 "$bin" --bench --noplot --warm-up-time 2 --measurement-time 5 "repeats/" 2>&1 |
      awk -v r="$r" -v w="$which" '/^repeats\//{name=$1} /time:/{print r, w, name, $4, $5}'
  done
done

#!/usr/bin/env bash
# Rounds of the batch-decoding benches, two `lookup` bench binaries in turn
# on core 1. Usage: rounds.sh ROUNDS OLD NEW > rounds.txt
set -euo pipefail
rounds=${1:?rounds} old=${2:?old bench binary} new=${3:?new bench binary}
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    taskset -c 1 "$bin" --bench --noplot --warm-up-time 2 --measurement-time 5 \
      "answer_1M/(batch_json_decoded|scan_item_code)$" 2>&1 |
      awk -v r="$r" -v w="$which" '/^answer_1M\//{name=$1} /time:/{print r, w, name, $4, $5}'
  done
done

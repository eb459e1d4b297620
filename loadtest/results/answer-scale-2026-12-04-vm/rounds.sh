#!/usr/bin/env bash
# The in-process answer at 1 M, 10 M and 100 M items, ROUNDS rounds in turn
# on core 1: answer_1M/scan_item_code (a generated 1 M-item index in memory)
# and, on the index files of loadtest/scale.sh (target/scale/index-10m.tsidx,
# index-100m.tsidx, warm), the product probe, the item probe and the whole
# JSON answer to an item's element string.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
bench=${BENCH:-$(ls -t target/release/deps/lookup-* | grep -v '\.d$' | head -1)}
args=(--bench --warm-up-time 1 --measurement-time 3 --noplot)
for round in $(seq 1 "${ROUNDS:-3}"); do
  echo "## round $round"
  taskset -c 1 "$bench" "${args[@]}" 'answer_1M/scan_item_code$' 2>&1 | grep -E '^answer|time:'
  for scale in 10m 100m; do
    TRACESCAN_BENCH_INDEX=target/scale/index-$scale.tsidx taskset -c 1 "$bench" "${args[@]}" \
      'file_.*/(index_product_hit|index_item_hit_slot_prefetched|answer_item_element_string)$' 2>&1 | grep -E '^file|time:'
  done
done

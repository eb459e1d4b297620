#!/bin/bash
# old and new at the same time, one on each core, cores swapped each round
cd /work/main
mkdir -p /tmp/ab2
for r in 1 2 3 4 5 6; do
  if [ $((r % 2)) = 1 ]; then a=0; b=1; else a=1; b=0; fi
  taskset -c $a /tmp/lookup-old2 --bench --warm-up-time 1 --measurement-time 4 --noplot 'answer_1M/(handle_request|handle_request_dl_json)$' > /tmp/ab2/lookup-old2-$r.txt 2>&1 &
  taskset -c $b /tmp/lookup-new --bench --warm-up-time 1 --measurement-time 4 --noplot 'answer_1M/(handle_request|handle_request_dl_json)$' > /tmp/ab2/lookup-new-$r.txt 2>&1 &
  wait
done
echo done > /tmp/ab2/DONE

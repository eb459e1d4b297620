#!/bin/bash
cd /work/main
for r in 1 2 3; do
  for v in old2 new; do
    taskset -c 1 /tmp/lookup-$v --bench --warm-up-time 2 --measurement-time 5 --noplot 'answer_1M/(scan_item_code|handle_request|handle_request_dl_json)$' > /tmp/rounds/lookup-$v-$r.txt 2>&1
    P=old; [ $v = new ] && P=new
    taskset -c 1 /tmp/parse-$P --bench --warm-up-time 1 --measurement-time 3 --noplot 'parse/' > /tmp/rounds/parse-$v-$r.txt 2>&1
  done
done
echo done > /tmp/rounds/DONE

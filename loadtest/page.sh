#!/usr/bin/env bash
# What the consumer page costs beside the JSON answer, over real sockets:
#
#   loadtest/page.sh [ITEMS] [SECONDS] [ROUNDS]    # default: 1000000 items, 10 s, 3 rounds
#
# One tracescan (one worker thread, core 0) serves a generated snapshot of
# ITEMS items; loadgen (core 1) asks it, closed loop, 32 connections, for
# item hits in every code form (element string, raw, Digital Link, stamp):
# as JSON, then as pages (`--page`: `Accept: text/html`, every page checked
# for the item's GTIN and serial), ROUNDS times in turn so that drift on a
# shared machine falls on both. Prints each run and, last, the medians and
# the ratio page/JSON of server CPU per answer. Results go to
# loadtest/results/<date>-<host>-page/. Loopback only.
set -euo pipefail
items=${1:-1000000}
seconds=${2:-10}
rounds=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRACESCAN_LOADTEST_DIR:-$root/target/loadtest}
out=$root/loadtest/results/$(date -u +%Y-%m-%d)-$(hostname)-page
mkdir -p "$work" "$out"
port=18083
cargo build --release --quiet --workspace --bins --manifest-path "$root/Cargo.toml"
bin=$root/target/release

products=$(( (items + 99) / 100 ))
snap=$work/snapshot-$items
if [ ! -f "$snap/manifest.json" ]; then
  "$bin/gen-snapshot" --products "$products" --batches-per-product 10 --items-per-batch 10 --out "$snap"
fi
index=$work/index-$items.tsidx
[ -f "$index" ] || "$bin/tracescan" build "$snap" --out "$index"

taskset -c 0 "$bin/tracescan" serve --index "$index" --threads 1 --listen "127.0.0.1:$port" >"$work/page-server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.1
done

hits=element=20,raw=10,dl=30,stamp=40
: > "$out/runs.txt"
load() { # LABEL ARGS...
  local label=$1; shift
  taskset -c 1 "$bin/loadgen" run --target "127.0.0.1:$port" --snapshot "$snap" --mix "$hits" \
    --duration "$seconds" --label "$label" --server-pid "$pid" --json "$out/$label.json" "$@" \
    | tee -a "$out/runs.txt"
}
field() { sed -n "s/^ *\"$2\": \([0-9.]*\).*/\1/p" "$out/$1.json" | head -1; } # RUN NAME
taskset -c 1 "$bin/loadgen" run --target "127.0.0.1:$port" --snapshot "$snap" --duration 3 --label settle >/dev/null
for r in $(seq 1 "$rounds"); do
  load "json-$r"
  load "page-$r" --page
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
{
  echo "| run | answers/s | p50 ms | p99 ms | server CPU µs/answer | body bytes |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for r in $(seq 1 "$rounds"); do
    for kind in json page; do
      run=$kind-$r
      printf '| %s | %.0f | %.3f | %.3f | %.2f | %s |\n' "$run" "$(field $run throughput)" \
        "$(awk "BEGIN{print $(field $run p50)/1000}")" "$(awk "BEGIN{print $(field $run p99)/1000}")" \
        "$(field $run server_cpu_us_per_request)" "$(field $run mean_body_bytes)"
    done
  done
  json=$(for r in $(seq 1 "$rounds"); do field "json-$r" server_cpu_us_per_request; done | median)
  page=$(for r in $(seq 1 "$rounds"); do field "page-$r" server_cpu_us_per_request; done | median)
  echo
  awk "BEGIN{printf \"median server CPU per answer: JSON %.2f µs, page %.2f µs; page/JSON = %.2f\n\", $json, $page, $page/$json}"
} | tee "$out/summary.md"

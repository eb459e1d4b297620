#!/usr/bin/env bash
# What each way of asking costs beside a single JSON lookup, over real
# sockets:
#
#   loadtest/modes.sh [ITEMS] [SECONDS] [ROUNDS] [MODES]
#       # default: 1000000 items, 10 s, 3 rounds, "json page batch"
#       # the resolver: loadtest/modes.sh 1000000 10 3 "dl redirect linkset"
#
# One tracescan (one worker thread, core 0) serves a generated snapshot of
# ITEMS items; loadgen (core 1) asks it, closed loop, 32 connections, for
# item hits in every code form (element string, raw, Digital Link, stamp),
# in each mode: `json` (single lookups), `page` (the consumer page: `Accept:
# text/html`, every page checked for the item's GTIN and serial), `batch`
# (`POST /v1/scan` of 100 codes, each code's answer checked), and the GS1
# resolver's answers for the same Digital Link paths: `dl` (the path alone:
# the JSON answer, tracescan's page being the default link), `redirect`
# (`?linkType=gs1:pip`: a 307, checked for its Location and Link headers),
# `linkset` (`?linkType=linkset`: the linkset, checked for its anchor and
# links). The modes run
# in turn, ROUNDS times, so that drift on a shared machine falls on all.
# Prints each run and, last, the medians of server CPU per answer (per code
# for a batch) and each mode's ratio to the first mode named. Results go to
# loadtest/results/<date>-<host>-modes/. Loopback only.
set -euo pipefail
items=${1:-1000000}
seconds=${2:-10}
rounds=${3:-3}
modes=${4:-json page batch}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRACESCAN_LOADTEST_DIR:-$root/target/loadtest}
out=$root/loadtest/results/$(date -u +%Y-%m-%d)-$(hostname)-modes-$(echo $modes | tr " " -)
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
  taskset -c 1 "$bin/loadgen" run --target "127.0.0.1:$port" --snapshot "$snap" \
    --duration "$seconds" --label "$label" --server-pid "$pid" --json "$out/$label.json" "$@" \
    | tee -a "$out/runs.txt"
}
field() { sed -n "s/^ *\"$2\": \([0-9.]*\).*/\1/p" "$out/$1.json" | head -1; } # RUN NAME
taskset -c 1 "$bin/loadgen" run --target "127.0.0.1:$port" --snapshot "$snap" --duration 3 --label settle >/dev/null
args_of() {
  case $1 in
    json) echo --mix $hits ;; page) echo --mix $hits --page ;; batch) echo --mix $hits --batch 100 ;;
    dl) echo --mix dl=100 ;; redirect) echo --mix redirect=100 ;; linkset) echo --mix linkset=100 ;;
  esac
}
for r in $(seq 1 "$rounds"); do
  for mode in $modes; do
    # shellcheck disable=SC2046
    load "$mode-$r" $(args_of "$mode")
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
{
  echo "| run | answers/s | p50 ms | p99 ms | server CPU µs/answer | body bytes |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for r in $(seq 1 "$rounds"); do
    for mode in $modes; do
      run=$mode-$r
      printf '| %s | %.0f | %.3f | %.3f | %.2f | %s |\n' "$run" "$(field $run throughput)" \
        "$(awk "BEGIN{print $(field $run p50)/1000}")" "$(awk "BEGIN{print $(field $run p99)/1000}")" \
        "$(field $run server_cpu_us_per_request)" "$(field $run mean_body_bytes)"
    done
  done
  echo
  # Each mode beside the first named (json, or dl for the resolver's).
  base=${modes%% *}
  first=$(for r in $(seq 1 "$rounds"); do field "$base-$r" server_cpu_us_per_request; done | median)
  for mode in $modes; do
    m=$(for r in $(seq 1 "$rounds"); do field "$mode-$r" server_cpu_us_per_request; done | median)
    awk "BEGIN{printf \"median server CPU per answer, $mode: %.2f µs; $mode/$base = %.2f\n\", $m, $m/$first}"
  done
} | tee "$out/summary.md"

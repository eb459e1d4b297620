#!/usr/bin/env bash
# National scale side by side: open-loop scan traffic at fixed rates against
# tracescan serving a 100 M-item index on one core, and against the stack's
# ceiling (a fixed body from bare hyper, as large as tracescan's mean answer),
# each measured by two clients: loadgen and oha (crates.io; independent, with
# latency correction), so that the figures compare with anyone's.
#
#   loadtest/national.sh [ITEMS] [SECONDS] [RATES]
#   loadtest/national.sh 100000000 20 "30000 50000"     # the defaults
#
# 1. Generates the snapshot (ITEMS items: 10 batches x 10 items a product)
#    and builds its index, once: both are kept in $TRACESCAN_NATIONAL_DIR
#    (default target/national) for the next run.
# 2. Draws the requests: 200 000 distinct items spread evenly over the whole
#    snapshot, half as element strings, half as Digital Link paths, the same
#    for both clients (loadgen reads a sampled copy of the snapshot, oha a
#    file of the URLs loadgen would send).
# 3. tracescan (`serve --threads 1 --residency $RESIDENCY`, default auto) on
#    core 0, clients on core 1:
#      cold       the first SECONDS after a start with the page cache
#                 dropped (where the OS lets us), at the lowest rate, loadgen
#      <rate>     warm, each rate, each client
#      pressure   at the lowest rate while a second process takes all but
#                 a third of the index's size of the memory available (set
#                 PRESSURE=0 to skip), loadgen
# 4. The ceiling, same rates, same clients.
# 5. Writes loadtest/results/national-<date>-<host>[-$TRACESCAN_NATIONAL_LABEL]/:
#    setup.txt, each run's
#    output, and summary.md: p50/p99/p99.9, server CPU per answer, failures,
#    and tracescan's p99 over the ceiling's under the same client.
#
# Loopback only, bounded in time (SECONDS a run) and count (loadgen's and
# oha's own bounds). Needs taskset, curl, python3, zstd and oha (`cargo install oha`).
set -euo pipefail
items=${1:-100000000}
seconds=${2:-20}
rates=${3:-"30000 50000"}
residency=${RESIDENCY:-auto}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRACESCAN_NATIONAL_DIR:-$root/target/national}
out=$root/loadtest/results/national-$(date -u +%Y-%m-%d)-$(hostname)${TRACESCAN_NATIONAL_LABEL:+-$TRACESCAN_NATIONAL_LABEL}
mkdir -p "$work" "$out"
port=18380 fixed_port=18382
command -v oha >/dev/null || { echo "oha is missing: cargo install oha --locked" >&2; exit 2; }
cargo build --release --quiet --workspace --bins --manifest-path "$root/Cargo.toml"
bin=$root/target/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() { # URL: a 200 (tracescan answers /readyz 503 until its index is verified,
  # which at 100 M items takes a minute or more from a cold page cache)
  for _ in $(seq 1 6000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0; sleep 0.1
  done
  echo "not ready: $1" >&2; exit 1
}
drop_caches() {
  if [ -w /proc/sys/vm/drop_caches ]; then sync; echo 3 > /proc/sys/vm/drop_caches; echo "page cache dropped"
  else echo "page cache NOT dropped (not allowed here)"; fi
}
cpu_ns() { awk '{s += $1} END {printf "%.0f", s}' /proc/"$1"/task/*/schedstat; }

# 1. Snapshot and index.
products=$(( (items + 99) / 100 ))
snap=$work/snapshot-$items
index=$work/index-$items.tsidx
if [ ! -f "$snap/manifest.json" ]; then
  "$bin/gen-snapshot" --products "$products" --batches-per-product 10 --items-per-batch 10 --out "$snap"
fi
if [ ! -f "$index" ]; then
  /usr/bin/time -f '%e s, peak %M KiB' -o "$work/build.time" "$bin/tracescan" build "$snap" --out "$index" | tee "$work/build.log"
fi

# 2. The requests: every (ITEMS / 200 000)th item line, all products (an
# unknown GTIN must be surely unknown) and the batches that mark a default
# link (their Digital Link paths redirect).
sample=$work/sample-$items
if [ ! -f "$sample/items.jsonl" ]; then
  mkdir -p "$sample"
  # gen-snapshot compresses its files; the sample is written plain.
  lines() { if [ -f "$snap/$1" ]; then cat "$snap/$1"; else zstdcat "$snap/$1.zst"; fi; }
  for f in "$snap"/products.jsonl*; do ln -sf "$f" "$sample/"; done
  lines batches.jsonl | grep '"default"' > "$sample/batches.jsonl" || true
  lines items.jsonl | awk -v every=$(( items / 200000 > 0 ? items / 200000 : 1 )) 'NR % every == 1' > "$sample/items.jsonl.tmp"
  mv "$sample/items.jsonl.tmp" "$sample/items.jsonl"
fi
work_args=(--snapshot "$sample" --mix element=50,dl=50 --zipf 0 --keys 200000 --sequence 1000000)
"$bin/loadgen" urls "${work_args[@]}" --target "127.0.0.1:$port" --out "$work/urls-tracescan.txt"
sed "s/:$port\//:$fixed_port\//" "$work/urls-tracescan.txt" > "$work/urls-fixed.txt"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(hostname), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "tracescan: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(oha --version)"
  echo "index: $(stat -L -c %s "$index") bytes, $items items; build: $(cat "$work/build.time" 2>/dev/null || echo "built earlier")"
  echo "requests: $(wc -l < "$work/urls-tracescan.txt") distinct, element strings and Digital Link paths, uniform"
  echo "runs: $seconds s each, open loop, 128 connections; server on core 0 (one thread, --residency $residency), clients on core 1"
} > "$out/setup.txt"

# One run: LABEL CLIENT PORT PID RATE [WARMUP]. Writes $out/LABEL.txt and a
# line "p50 p99 p99.9 cpu_us failed answers" (ms, µs) to $out/LABEL.row.
run() {
  local label=$1 client=$2 port=$3 pid=$4 rate=$5 warmup=${6:-1}
  local before after
  if [ "$client" = loadgen ]; then
    taskset -c 1 "$bin/loadgen" run "${work_args[@]}" --target "127.0.0.1:$port" \
      --connections 128 --rate "$rate" --warmup "$warmup" --duration "$seconds" \
      --check "$([ "$port" = "$fixed_port" ] && echo any200 || echo snapshot)" \
      --server-pid "$pid" --label "$label" --json "$out/$label.json" >"$out/$label.txt" || true
    python3 - "$out/$label.json" > "$out/$label.row" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_us"]
failed = r["wrong"] + r["unanswered"] + r["shed"] + sum(e["connections"] for e in r["errors"])
print(f'{l["p50"]/1000:.3f} {l["p99"]/1000:.3f} {l["p99_9"]/1000:.3f} {r["server_cpu_us_per_request"]:.2f} {failed} {r["timed"]}')
PY
  else
    local urls=$work/urls-tracescan.txt
    [ "$port" = "$fixed_port" ] && urls=$work/urls-fixed.txt
    # oha has no warm-up of its own: a short run first, not reported.
    [ "$warmup" = 0 ] || taskset -c 1 oha --no-tui -z "${warmup}s" -q "$rate" -c 128 \
      --latency-correction --urls-from-file "$urls" >/dev/null 2>&1 || true
    before=$(cpu_ns "$pid")
    taskset -c 1 oha --no-tui -z "${seconds}s" -q "$rate" -c 128 --latency-correction \
      --urls-from-file "$urls" --output-format json >"$out/$label.json" 2>"$out/$label.txt" || true
    after=$(cpu_ns "$pid")
    python3 - "$out/$label.json" "$before" "$after" > "$out/$label.row" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = sum(n for c, n in codes.items() if c in ("200", "307"))
# Requests still in flight when the run's time is up are cut off by oha
# ("aborted due to deadline"): not answered late, not answered wrong.
errors = {k: n for k, n in r.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
failed = sum(codes.values()) - ok + sum(errors.values())
cpu_us = (int(sys.argv[3]) - int(sys.argv[2])) / 1000 / max(ok, 1)
print(f'{p["p50"]*1000:.3f} {p["p99"]*1000:.3f} {p["p99.9"]*1000:.3f} {cpu_us:.2f} {failed} {ok}')
PY
  fi
  echo "$label: $(cat "$out/$label.row")"
}

start_tracescan() {
  taskset -c 0 "$bin/tracescan" serve --index "$index" --threads 1 --residency "$residency" \
    --state-dir "$work/state" --listen "127.0.0.1:$port" --access-log-sample 0 >"$out/tracescan.log" 2>&1 &
  ts_pid=$!; pids+=("$ts_pid")
  wait_ready "http://127.0.0.1:$port/readyz"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
low=${rates%% *}

# 3. tracescan: cold, warm, under memory pressure.
rm -rf "$work/state"
echo "cold: $(drop_caches)" >> "$out/setup.txt"
start=$(date +%s.%N)
start_tracescan
echo "cold start to ready: $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}") s" >> "$out/setup.txt"
run cold loadgen "$port" "$ts_pid" "$low" 0
for rate in $rates; do
  run "tracescan-$rate-loadgen" loadgen "$port" "$ts_pid" "$rate"
  run "tracescan-$rate-oha" oha "$port" "$ts_pid" "$rate"
done
if [ "${PRESSURE:-1}" = 1 ]; then
  # Anonymous memory, written to, so that it is resident; with no swap the
  # kernel can only take pages from the page cache (the index, unless locked).
  take=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 1024 - $(stat -L -c %s "$index") / 3 ))
  taskset -c 1 python3 -c "
import sys, time
b = bytearray($take)
for i in range(0, len(b), 4096): b[i] = 1
print('holding', len(b), 'bytes', flush=True)
time.sleep($seconds + 30)
" > "$out/pressure-hog.txt" 2>&1 &
  hog=$!; pids+=("$hog")
  for _ in $(seq 1 600); do grep -q holding "$out/pressure-hog.txt" 2>/dev/null && break; kill -0 "$hog" 2>/dev/null || break; sleep 0.5; done
  echo "pressure: $(cat "$out/pressure-hog.txt" | tr '\n' ' ') (tracescan $(awk '/VmRSS|VmLck/ {printf "%s %s kB ", $1, $2}' /proc/$ts_pid/status))" >> "$out/setup.txt"
  run pressure loadgen "$port" "$ts_pid" "$low" 0
  stop "$hog"
fi
bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean_body_bytes"])' "$out/tracescan-$low-loadgen.json" || echo 2000)
stop "$ts_pid"

# 4. The ceiling: the same bytes, no work.
taskset -c 0 "$bin/fixed-body" "127.0.0.1:$fixed_port" "${bytes:-2000}" >/dev/null &
fixed_pid=$!; pids+=("$fixed_pid")
wait_ready "http://127.0.0.1:$fixed_port/"
for rate in $rates; do
  run "ceiling-$rate-loadgen" loadgen "$fixed_port" "$fixed_pid" "$rate"
  run "ceiling-$rate-oha" oha "$fixed_port" "$fixed_pid" "$rate"
done
stop "$fixed_pid"

# 5. Summary.
{
  echo "# National-scale load test, $(date -u +%Y-%m-%d) on $(hostname)"
  echo
  sed 's/^/    /' "$out/setup.txt"
  echo
  echo "| run | client | rate/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/answer | failed | answers | p99 / ceiling's |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  row() { # LABEL SERVER CLIENT RATE
    [ -f "$out/$1.row" ] || return 0
    read -r p50 p99 p999 cpu failed answers < "$out/$1.row"
    local ratio=""
    if [ "$2" = tracescan ] && [ -f "$out/ceiling-$4-$3.row" ]; then
      ratio=$(awk -v a="$p99" -v b="$(cut -d' ' -f2 "$out/ceiling-$4-$3.row")" 'BEGIN{printf "%.2f", a/b}')
    fi
    echo "| $2 | $3 | $4 | $p50 | $p99 | $p999 | $cpu | $failed | $answers | $ratio |"
  }
  row cold "tracescan cold" loadgen "$low"
  for rate in $rates; do
    for client in loadgen oha; do row "tracescan-$rate-$client" tracescan $client "$rate"; done
  done
  row pressure "tracescan under memory pressure" loadgen "$low"
  for rate in $rates; do
    for client in loadgen oha; do row "ceiling-$rate-$client" ceiling $client "$rate"; done
  done
} > "$out/summary.md"
cat "$out/summary.md"
echo "results in $out"

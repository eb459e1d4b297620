#!/usr/bin/env bash
# The whole HTTP comparison, from nothing to a result directory:
#
#   loadtest/run.sh [ITEMS] [SECONDS]      # default: 1000000 items, 10 s per run
#
# 1. Generates a snapshot of ITEMS items (10 batches x 10 items per product)
#    and builds its index.
# 2. Starts tracescan pinned to core 0 (one worker thread) and runs, with
#    loadgen pinned to core 1:
#      max        closed loop, 32 connections, item hits in every code form
#      mix        closed loop, the realistic mix: 5 % unknown, 5 % malformed
#      rate-25/50/80   open loop at 25, 50 and 80 % of max's throughput
#      cold       the first seconds after a restart with the page cache
#                 dropped (where the OS lets us), no warm-up
# 3. Serves the same answers, pre-rendered as static files, from nginx (one
#    worker, core 0), and a fixed body from a bare hyper server (the stack's
#    ceiling): 600 bytes, then as large as tracescan's mean item answer.
# 4. Writes loadtest/results/<date>-<host>/: setup.txt, one JSON per run,
#    summary.md (the table and the ratios) and latency.svg.
#
# Loopback only. Needs taskset (util-linux) and curl; installs nginx with
# apt-get when it is missing and we are root.
set -euo pipefail
items=${1:-1000000}
seconds=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRACESCAN_LOADTEST_DIR:-$root/target/loadtest}
out=$root/loadtest/results/$(date -u +%Y-%m-%d)-$(hostname)
mkdir -p "$work" "$out"
port=18080 nginx_port=18081 fixed_port=18082

if ! command -v nginx >/dev/null && [ -x /usr/sbin/nginx ]; then PATH=$PATH:/usr/sbin; fi
if ! command -v nginx >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
    PATH=$PATH:/usr/sbin
  else
    echo "nginx is missing (apt-get install nginx-light)" >&2; exit 2
  fi
fi
cargo build --release --quiet --workspace --bins --manifest-path "$root/Cargo.toml"
bin=$root/target/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() { # URL: any HTTP answer will do
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ] && return 0; sleep 0.1
  done
  echo "not ready: $1" >&2; exit 1
}

# 1. Snapshot and index.
products=$(( (items + 99) / 100 ))
snap=$work/snapshot-$items
if [ ! -f "$snap/manifest.json" ]; then
  "$bin/gen-snapshot" --products "$products" --batches-per-product 10 --items-per-batch 10 --out "$snap"
fi
"$bin/tracescan" build "$snap" --out "$work/index-$items.tsidx"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(hostname), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "rustc: $(rustc --version)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "tracescan: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "snapshot: $items items, $products products (gen-snapshot, seed 1)"
  echo "runs: $seconds s measured after 1 s of warm-up; server on core 0, loadgen on core 1"
} > "$out/setup.txt"

hits=element=20,raw=10,dl=30,stamp=40
mix=gtin=10,element=15,raw=10,dl=25,stamp=30,unknown=5,malformed=5
load() { # LABEL PORT PID ARGS...
  local label=$1 port=$2 pid=$3; shift 3
  taskset -c 1 "$bin/loadgen" run --target "127.0.0.1:$port" --snapshot "$snap" \
    --duration "${DUR:-$seconds}" --label "$label" --server-pid "$pid" --json "$out/$label.json" "$@" \
    | tee -a "$out/runs.txt"
}
field() { sed -n "s/^ *\"$2\": \([0-9.]*\).*/\1/p" "$out/$1.json" | head -1; } # RUN NAME
throughput() { field "$1" throughput | cut -d. -f1; }

start_tracescan() {
  taskset -c 0 "$bin/tracescan" serve --index "$work/index-$items.tsidx" --threads 1 \
    --state-dir "$work/state" --listen "127.0.0.1:$port" >"$work/tracescan.log" 2>&1 &
  ts_pid=$!; pids+=("$ts_pid")
}

# 2. tracescan.
: > "$out/runs.txt"
rm -rf "$work/state"
start_tracescan
wait_ready "http://127.0.0.1:$port/readyz"
# A settling run, not reported: the first seconds after a start are the cold
# scenario's, measured below.
taskset -c 1 "$bin/loadgen" run --target "127.0.0.1:$port" --snapshot "$snap" --duration 3 --label settle >/dev/null
load max "$port" "$ts_pid" --mix "$hits"
load mix "$port" "$ts_pid" --mix "$mix"
max=$(throughput max)
for pct in 25 50 80; do
  # Many connections, so that one slow answer does not hold a connection's
  # next send past its time (the wait still counts: latency runs from the
  # intended send time).
  load "rate-$pct" "$port" "$ts_pid" --mix "$mix" --connections 128 --rate $(( max * pct / 100 ))
done

# The answers as static files, fetched from tracescan itself; kept for the
# next run over the same index contents (the 256-byte header holds the build
# time, so it is left out of the key).
static=$work/static-$(tail -c +257 "$work/index-$items.tsidx" | cksum | cut -d' ' -f1)
"$bin/loadgen" prerender --target "127.0.0.1:$port" --snapshot "$snap" --mix "$mix" --out "$static"
"$bin/loadgen" prerender --target "127.0.0.1:$port" --snapshot "$snap" --mix "$hits" --out "$static"

kill "$ts_pid"; wait "$ts_pid" 2>/dev/null || true
if [ -w /proc/sys/vm/drop_caches ]; then sync; echo 3 > /proc/sys/vm/drop_caches; cold_note="page cache dropped"; else cold_note="page cache NOT dropped (not allowed here)"; fi
start_tracescan
wait_ready "http://127.0.0.1:$port/readyz"
DUR=3 load cold "$port" "$ts_pid" --mix "$mix" --warmup 0
echo "cold: $cold_note" >> "$out/setup.txt"
kill "$ts_pid"; wait "$ts_pid" 2>/dev/null || true

# 3. nginx with the same answers, and the fixed-body ceiling.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  log_not_found off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
  # No open_file_cache: with hundreds of thousands of answer files it churns,
  # and measured here it made nginx slower, not faster.
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  default_type "application/json; charset=utf-8";
  server {
    listen 127.0.0.1:$nginx_port;
    root $static;
    location = /v1/scan { try_files /scan/\$arg_code =404; }
    location /01/ { root $static/dl; try_files \$uri =404; }
  }
}
CONF
taskset -c 0 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!; pids+=("$nginx_pid")
sleep 0.5
wait_ready "http://127.0.0.1:$nginx_port/v1/scan?code=nothing"
worker=$(pgrep -P "$nginx_pid" | head -1)
load nginx-max "$nginx_port" "$worker" --mix "$hits" --check loose4xx
load nginx-mix "$nginx_port" "$worker" --mix "$mix" --check loose4xx
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true

start_fixed() { # BYTES
  taskset -c 0 "$bin/fixed-body" "127.0.0.1:$fixed_port" "$1" >/dev/null &
  fixed_pid=$!; pids+=("$fixed_pid")
  wait_ready "http://127.0.0.1:$fixed_port/"
}
stop_fixed() { kill "$fixed_pid"; wait "$fixed_pid" 2>/dev/null || true; }
start_fixed 600
load fixed-max "$fixed_port" "$fixed_pid" --mix "$hits" --check any200
# The machine's own latency at rate-50's rate: what a server doing no work
# at all sees here.
load fixed-rate-50 "$fixed_port" "$fixed_pid" --mix "$hits" --check any200 --connections 128 --rate $(( max * 50 / 100 ))
stop_fixed
# The same ceiling with bodies as large as tracescan's item answers: what is
# left between the two is the work, not the bytes.
start_fixed "$(field max mean_body_bytes)"
load fixed-max-sized "$fixed_port" "$fixed_pid" --mix "$hits" --check any200
stop_fixed

# 4. Summary.
{
  echo "# HTTP load test, $(date -u +%Y-%m-%d) on $(hostname)"
  echo
  sed 's/^/    /' "$out/setup.txt"
  echo
  echo "| run | answers/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | server CPU µs/answer | body bytes | wrong | unanswered |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for run in max mix rate-25 rate-50 rate-80 cold nginx-max nginx-mix fixed-max fixed-rate-50 fixed-max-sized; do
    [ -f "$out/$run.json" ] || continue
    printf '| %s | %.0f | %s | %s | %s | %s | %s | %.2f | %s | %s | %s |\n' "$run" "$(field $run throughput)" \
      "$(awk "BEGIN{print $(field $run p50)/1000}")" "$(awk "BEGIN{print $(field $run p90)/1000}")" \
      "$(awk "BEGIN{print $(field $run p99)/1000}")" "$(awk "BEGIN{print $(field $run p99_9)/1000}")" \
      "$(awk "BEGIN{print $(field $run max)/1000}")" "$(field $run server_cpu_us_per_request)" \
      "$(field $run mean_body_bytes)" "$(field $run wrong)" "$(field $run unanswered)"
  done
  echo
  ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
  echo "Ratios, same run (throughput: higher is better for tracescan; CPU per answer: lower is better):"
  echo
  echo "- mix vs nginx-mix: throughput $(ratio "$(field mix throughput)" "$(field nginx-mix throughput)")×, server CPU per answer $(ratio "$(field mix server_cpu_us_per_request)" "$(field nginx-mix server_cpu_us_per_request)")×"
  echo "- max vs nginx-max: throughput $(ratio "$(field max throughput)" "$(field nginx-max throughput)")×, server CPU per answer $(ratio "$(field max server_cpu_us_per_request)" "$(field nginx-max server_cpu_us_per_request)")×"
  echo "- max vs fixed-max: throughput $(ratio "$(field max throughput)" "$(field fixed-max throughput)")×, server CPU per answer $(ratio "$(field max server_cpu_us_per_request)" "$(field fixed-max server_cpu_us_per_request)")×"
  echo "- max vs fixed-max-sized (bodies of the same mean size): throughput $(ratio "$(field max throughput)" "$(field fixed-max-sized throughput)")×, server CPU per answer $(ratio "$(field max server_cpu_us_per_request)" "$(field fixed-max-sized server_cpu_us_per_request)")×"
  echo "- rate-50 vs fixed-rate-50 (same rate): p99 $(ratio "$(field rate-50 p99)" "$(field fixed-rate-50 p99)")×, p99.9 $(ratio "$(field rate-50 p99_9)" "$(field fixed-rate-50 p99_9)")×"
} > "$out/summary.md"
"$bin/loadgen" plot --out "$out/latency.svg" "$out"/max.json "$out"/rate-50.json "$out"/rate-80.json "$out"/nginx-max.json "$out"/fixed-max.json "$out"/fixed-rate-50.json
cat "$out/summary.md"
echo "results in $out"

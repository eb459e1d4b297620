#!/usr/bin/env bash
# A fleet on one machine, from standard parts, all on 127.0.0.1: moto's
# S3-compatible server (the index store), redis-server (recalls and scan
# counts shared), three tracescan replicas following the store, and HAProxy
# in front (health checks on /readyz, retries of the idempotent scans,
# redispatch). loadgen drives scans through HAProxy, every answer checked,
# while the script publishes a new index, sets a recall on one replica, and
# SIGKILLs another and restarts it. It prints what a client saw and how long
# each change took to reach every replica.
#
#   bash loadtest/fleet.sh [RESULTS_DIR]          # 40 s at 1500 scans/s
#   bash loadtest/fleet.sh --short [RESULTS_DIR]  # 12 s at 400 scans/s (CI)
#
# TRACESCAN_BIN_DIR names a directory holding tracescan and loadgen already
# built (default: a release build). Needs haproxy, redis-server and python3
# (moto is installed by loadtest/moto.sh). Exits non-zero when a scan failed,
# a replica missed the new index or the recall, or the killed replica did not
# come back.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=40 rate=1500
if [ "${1:-}" = --short ]; then
  duration=12 rate=400
  shift
fi
results=${1:-}
base=${FLEET_PORT_BASE:-18600}
lb=$base moto_port=$((base + 1)) redis_port=$((base + 2))
ports=($((base + 11)) $((base + 12)) $((base + 13)))
url=s3://tracescan/fleet
token=fleet-admin-token-0123456789
batch='(01)08930002000017(10)L2611'

for tool in haproxy redis-server python3 curl; do
  command -v "$tool" >/dev/null || { echo "fleet: $tool is not installed" >&2; exit 2; }
done
bin=${TRACESCAN_BIN_DIR:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin tracescan
  cargo build --release --quiet -p tracescan-loadtest --bin loadgen
  bin=target/release
fi
moto_server=${TRACESCAN_MOTO_SERVER:-$(bash loadtest/moto.sh)}

work=$(mktemp -d)
declare -A pid
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Milliseconds since the epoch, and since a mark.
now_ms() { date +%s%3N; }
since() { echo "$(( $(now_ms) - $1 ))"; }
# Waits until "$@" succeeds, at most $1 seconds; fails past it.
wait_until() {
  local limit=$1; shift
  local until=$(( $(now_ms) + limit * 1000 ))
  until "$@"; do
    [ "$(now_ms)" -lt "$until" ] || return 1
    sleep 0.01
  done
}
get() { curl -s --max-time 2 "$@"; }
ready() { [ "$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ]; }
serves() { get "http://127.0.0.1:$1/v1/index" | grep -q "\"snapshot\":\"$2\""; }
recalled() { get "http://127.0.0.1:$1/v1/scan?code=%2801%2908930002000017%2810%29L2611" | grep -q '"code":"recalled"'; }

# 1. The store and Redis.
"$moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pid[moto]=$!
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work" \
  --appendonly yes --appendfsync always --save '' >"$work/redis.log" 2>&1 &
pid[redis]=$!
wait_until 30 curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$moto_port/"
curl -s -X PUT "http://127.0.0.1:$moto_port/tracescan" >/dev/null
export AWS_ENDPOINT=http://127.0.0.1:$moto_port AWS_ALLOW_HTTP=true \
  AWS_ACCESS_KEY_ID=fleet AWS_SECRET_ACCESS_KEY=fleet-secret AWS_REGION=us-east-1

# 2. The first index, published before any replica starts.
mkdir -p "$work/build"
"$bin/tracescan" build data/sample --out "$work/build/first.tsidx" --publish "$url" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
# The next night's snapshot: the same records under a new snapshot id, so
# that loadgen's checks hold across the swap and /v1/index tells them apart.
mkdir -p "$work/next"
cp data/sample/*.jsonl "$work/next/"
sed 's/"snapshot_id": "[^"]*"/"snapshot_id": "sample-next-night"/' data/sample/manifest.json >"$work/next/manifest.json"

# 3. Three replicas, each with its own disk, following the store and sharing
# Redis; HAProxy names the client in X-Forwarded-For.
echo "$token" >"$work/token"
start_replica() {
  local i=$1
  "$bin/tracescan" serve --index-dir "$work/replica$i" --follow "$url" --follow-poll-ms 200 \
    --redis "redis://127.0.0.1:$redis_port/0" --admin-token-file "$work/token" \
    --trusted-proxy 127.0.0.1 --listen "127.0.0.1:${ports[$i]}" --threads 1 \
    --unready-before-stop-ms 600 --log-format json >>"$work/replica$i.log" 2>&1 &
  pid[replica$i]=$!
}
for i in 0 1 2; do start_replica "$i"; done
for i in 0 1 2; do wait_until 60 ready "${ports[$i]}"; done

cat >"$work/haproxy.cfg" <<EOF
global
    log stderr format short local0 warning
defaults
    mode http
    log global
    option httplog
    timeout connect 500ms
    timeout client 30s
    timeout server 5s
    # A scan is idempotent: one a replica could not answer (refused,
    # cut off by a SIGKILL, 503 while it drains) is sent to another.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
frontend scans
    bind 127.0.0.1:$lb
    option forwardfor
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 200ms fastinter 100ms downinter 200ms fall 2 rise 2
    server r0 127.0.0.1:${ports[0]}
    server r1 127.0.0.1:${ports[1]}
    server r2 127.0.0.1:${ports[2]}
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pid[haproxy]=$!
wait_until 10 ready "$lb"

# 4. Scans through HAProxy, every answer checked, while the fleet changes.
"$bin/loadgen" run --target "127.0.0.1:$lb" --snapshot data/sample --warmup 0 \
  --duration "$duration" --rate "$rate" --connections 16 \
  --max-requests $((duration * rate + rate)) --label fleet --json "$work/loadgen.json" \
  >"$work/loadgen.txt" 2>&1 &
loadgen=$!
step=$((duration * 1000 / 5))
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# A new index published: how long until every replica serves it.
sleep_ms "$step"
t0=$(now_ms)
"$bin/tracescan" build "$work/next" --out "$work/build/next.tsidx" --publish "$url" >>"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
published=$(since "$t0")
swap_ok=1
for i in 0 1 2; do wait_until 60 serves "${ports[$i]}" sample-next-night || swap_ok=0; done
swap_ms=$(since "$t0")

# A recall set on replica 0: how long until every replica answers with it.
sleep_ms "$step"
t0=$(now_ms)
curl -s --max-time 5 -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:${ports[0]}/admin/overlay" \
  -d '{"gtin":"08930002000017","lot":"L2611","status":"recalled","notice":"Thu hồi (fleet test)"}' >"$work/recall.json"
recall_ok=1
recall_ms=()
for i in 0 1 2; do
  if wait_until 10 recalled "${ports[$i]}"; then recall_ms+=("$(since "$t0")"); else recall_ok=0; recall_ms+=(never); fi
done

# Replica 2 SIGKILLed, restarted a second later: how long until it is ready
# again, and until HAProxy sends it scans.
sleep_ms "$step"
kill -KILL "${pid[replica2]}"
wait "${pid[replica2]}" 2>/dev/null || true
sleep 1
t0=$(now_ms)
start_replica 2
rejoin_ok=1
wait_until 60 ready "${ports[2]}" || rejoin_ok=0
ready_ms=$(since "$t0")
before=$(get "http://127.0.0.1:${ports[2]}/metrics" | awk '$1 == "tracescan_scans_total" {print $2}')
wait_until 30 sh -c "[ \"\$(curl -s --max-time 1 http://127.0.0.1:${ports[2]}/metrics | awk '\$1 == \"tracescan_scans_total\" {print \$2}')\" -gt ${before:-0} ]" || rejoin_ok=0
serving_ms=$(since "$t0")

wait "$loadgen" || true
cat "$work/loadgen.txt"

# 5. What the fleet's Redis holds, and what the replicas say of it.
total=$(redis-cli -p "$redis_port" --raw hvals tracescan:scans | awk '{s += $1} END {print s + 0}')
lags=$(for p in "${ports[@]}"; do get "http://127.0.0.1:$p/metrics" | awk '$1 == "tracescan_fleet_changes_lag_seconds" {print $2}'; done | paste -sd' ')
read -r answers wrong unanswered errors < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["answers"], r["wrong"], r["unanswered"] + r["shed"], len(r["errors"]))' "$work/loadgen.json")
failed=$((wrong + unanswered + errors))

summary=$(cat <<EOF
fleet: 3 replicas behind HAProxy, moto S3, redis-server; ${duration} s at ${rate} scans/s through the load balancer
  answers: $answers, failed: $failed (wrong $wrong, unanswered or shed $unanswered, connection errors $errors)
  new index: published in ${published} ms; served by every replica ${swap_ms} ms after the publish began
  recall set on replica 0: in force on replicas 0, 1, 2 after ${recall_ms[*]} ms
  replica 2 SIGKILLed and restarted: ready after ${ready_ms} ms, answering scans from HAProxy after ${serving_ms} ms
  fleet's scan count in Redis: $total item scans; change-stream lag per replica (s): $lags
EOF
)
echo "$summary"

if [ -n "$results" ]; then
  mkdir -p "$results"
  echo "$summary" >"$results/summary.txt"
  cp "$work/loadgen.txt" "$work/loadgen.json" "$work/haproxy.cfg" "$results/"
  grep -h -E 'WARN|ERROR' "$work"/replica*.log >"$results/replica-warnings.log" || true
fi

[ "$failed" -eq 0 ] && [ "$answers" -gt 0 ] && [ "$swap_ok" = 1 ] && [ "$recall_ok" = 1 ] && [ "$rejoin_ok" = 1 ] || {
  echo "fleet: FAILED (failed answers $failed, swap $swap_ok, recall $recall_ok, rejoin $rejoin_ok); logs in $work" >&2
  trap - EXIT
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  exit 1
}

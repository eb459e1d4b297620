#!/usr/bin/env bash
# GS1's resolver conformance suite against tracescan on the bundled sample,
# as it is deployed: behind HAProxy terminating TLS on loopback (the suite's
# TLS, description-file and HTTP-version checks always ask for https), for a
# product-level and an item-level Digital Link of a product with links.
#
#   bash loadtest/gs1-conformance/run.sh [RESULTS_DIR]
#       # TRACESCAN_BIN=target/debug/tracescan to test a binary already built
#
# Needs haproxy, openssl and node (18 or later); exits non-zero when a test of
# either run fails. Every request stays on 127.0.0.1 and has a timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=loadtest/gs1-conformance
results=${1:-}
http_port=${HTTP_PORT:-18480}
tls_port=${TLS_PORT:-18443}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

for tool in haproxy openssl node; do
    command -v "$tool" >/dev/null || { echo "gs1-conformance: $tool is not installed" >&2; exit 2; }
done

# A certificate for 127.0.0.1 that only this run trusts.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/haproxy.pem"
cat > "$work/haproxy.cfg" <<EOF
global
    log stderr format short local0 warning
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend tls
    bind 127.0.0.1:$tls_port ssl crt $work/haproxy.pem alpn http/1.1
    default_backend tracescan
backend tracescan
    server local 127.0.0.1:$http_port
EOF

# The binary to test: TRACESCAN_BIN, or a release build.
bin=${TRACESCAN_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin tracescan
    bin=target/release/tracescan
fi
"$bin" serve --listen "127.0.0.1:$http_port" \
    --public-url "https://127.0.0.1:$tls_port" > "$work/serve.log" 2>&1 &
pids+=($!)
haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -sf --max-time 1 --cacert "$work/cert.pem" "https://127.0.0.1:$tls_port/readyz" >/dev/null && break
    sleep 0.1
done
curl -sf --max-time 2 --cacert "$work/cert.pem" "https://127.0.0.1:$tls_port/readyz" >/dev/null || {
    echo "gs1-conformance: the server did not come up behind HAProxy" >&2
    cat "$work/serve.log" "$work/haproxy.log" >&2
    exit 2
}

[ -d "$here/node_modules/ajv-dist" ] || (cd "$here" && npm ci --silent --no-audit --no-fund)

status=0
for dl in /01/08930002000154 /01/08930002000154/10/L2625/21/S021001; do
    name=$(echo "$dl" | tr / _ | sed 's/^_//')
    json=()
    [ -n "$results" ] && mkdir -p "$results" && json=(--json "$results/$name.json")
    echo "== $dl"
    NODE_EXTRA_CA_CERTS="$work/cert.pem" node "$here/run.mjs" \
        --base "https://127.0.0.1:$tls_port" --dl "$dl" \
        --rd-schema tests/fixtures/gs1-resolver/description-file-schema.json \
        "${json[@]}" | tee "$work/out.txt" || status=1
    [ -n "$results" ] && cp "$work/out.txt" "$results/$name.txt"
done
exit $status

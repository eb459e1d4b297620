#!/usr/bin/env bash
# The consumer pages of the bundled sample (and of the hostile fixture) as a
# phone shows them: headless Chromium at 390 px wide, one PNG each in docs/.
# Run from anywhere: `bash docs/screenshots.sh`. Needs `chromium`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --bin tracescan
bin=target/debug/tracescan
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" build data/fixtures/hostile --out "$work/hostile.tsidx" >/dev/null
"$bin" serve --listen 127.0.0.1:18090 --scan-warn-above 3 --scan-repeat-window-s 0 2>/dev/null &
"$bin" serve --listen 127.0.0.1:18091 --index "$work/hostile.tsidx" 2>/dev/null &
for port in 18090 18091; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
# A stamp scanned past the threshold of 3.
for _ in 1 2 3 4; do curl -s -o /dev/null http://127.0.0.1:18090/s/VN-0012-1013; done

shot() { # name lang height url
  timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --disable-background-networking --no-first-run --force-device-scale-factor=1 \
    --lang="$2" --accept-lang="$2" --window-size="390,$3" \
    --screenshot="docs/$1.png" "$4" 2>/dev/null >/dev/null
  echo "docs/$1.png"
}
s=http://127.0.0.1:18090
shot page-item vi 2000 "$s/01/08930002000017/10/L2611/21/S001001"
shot page-recalled vi 1100 "$s/01/08930002000369"
shot page-unregistered-serial vi 1000 "$s/01/08930002000017/21/FAKE1"
shot page-scanned-many-times vi 2200 "$s/s/VN-0012-1013"
shot page-not-found vi 520 "$s/01/08930002000024"
shot page-invalid-code en 560 "$s/01/08930002000018"
shot page-hostile vi 1300 "http://127.0.0.1:18091/s/%3Cscript%3Ex%3C%2Fscript%3E"

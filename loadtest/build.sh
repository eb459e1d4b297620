#!/usr/bin/env bash
# The build's speed and peak memory, two binaries taking turns on one
# snapshot: a baseline (an earlier commit's `tracescan`) and this checkout's,
# so that the ratio comes from one window of a noisy machine.
#
#   loadtest/build.sh BASELINE_BIN [ITEMS] [ROUNDS]
#   loadtest/build.sh /work/old/target/release/tracescan 10000000 3
#
# ITEMS (default 10 M) picks a snapshot of ITEMS/100 products x 10 batches x
# 10 items, generated once under $TRACESCAN_BUILD_DIR (default target/build;
# 100 M reuses loadtest/national.sh's). Each round builds with the baseline,
# then with this checkout, the snapshot warm in the page cache for both; the
# index is removed after each build. Results: loadtest/results/build-<date>-<host>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
baseline=${1:?usage: loadtest/build.sh BASELINE_BIN [ITEMS] [ROUNDS]}
items=${2:-10000000}
rounds=${3:-3}
[ -x "$baseline" ] || { echo "no baseline binary at $baseline" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
(( items >= 100 && items % 100 == 0 )) || { echo "ITEMS must be a multiple of 100" >&2; exit 2; }
cargo build --release --quiet --bins --manifest-path "$root/Cargo.toml"
bin=$root/target/release
work=${TRACESCAN_BUILD_DIR:-$root/target/build}
snap=$work/snapshot-$items
[ "$items" = 100000000 ] && [ -d "$root/target/national/snapshot-$items" ] && snap=$root/target/national/snapshot-$items
out=$root/loadtest/results/build-$(date -u +%Y-%m-%d)-$(hostname)
mkdir -p "$work" "$out"
if [ ! -f "$snap/manifest.json" ]; then
  rm -rf "$snap"
  "$bin/gen-snapshot" --products $((items / 100)) --batches-per-product 10 --items-per-batch 10 --out "$snap"
fi
# Warm: both binaries read the snapshot from the page cache.
cat "$snap"/*.zst >/dev/null

{
  echo "# Build runs, $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname)"
  echo
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; snapshot $snap ($items items)"
  echo "baseline: $baseline; candidate: $bin/tracescan ($(git -C "$root" rev-parse --short HEAD))"
  echo
  echo "| round | binary | products (s) | batches (s) | items (s) | tables and writing (s) | total (s) | records/s | peak RSS (MiB) | index (bytes) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} >"$out/summary.md"

run() {
  local round=$1 name=$2 exe=$3 index=$work/index-$items.tsidx
  /usr/bin/time -f '%e %M' -o "$out/$name-$round.time" \
    "$exe" build "$snap" --out "$index" >"$out/$name-$round.log"
  local size; size=$(stat -c %s "$index")
  rm -f "$index" "$index.rejects.jsonl"
  local secs kib; read -r secs kib <"$out/$name-$round.time"
  local file; file() { grep "$1" "$out/$name-$round.log" | grep -o '([0-9.]* s)' | tr -d '(s )'; }
  local records; records=$(grep -o '[0-9]* records in' "$out/$name-$round.log" | awk '{print $1}')
  local tables; tables=$(grep -o 'tables and writing [0-9.]* s' "$out/$name-$round.log" | awk '{print $4}')
  printf '| %s | %s | %s | %s | %s | %s | %s | %.0f | %d | %s |\n' "$round" "$name" \
    "$(file products)" "$(file batches)" "$(file items)" "$tables" "$secs" \
    "$(echo "$records / $secs" | bc -l)" $((kib / 1024)) "$size" | tee -a "$out/summary.md"
}

for round in $(seq 1 "$rounds"); do
  run "$round" baseline "$baseline"
  run "$round" candidate "$bin/tracescan"
done

# Medians of the rounds, and the candidate's over the baseline's.
awk -F'|' '
  /^\| [0-9]/ { gsub(/ /, "", $3); t[$3] = t[$3] " " $8; m[$3] = m[$3] " " $10 }
  function median(list,   n, a, i, j, x) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    bt = median(t["baseline"]); ct = median(t["candidate"])
    bm = median(m["baseline"]); cm = median(m["candidate"])
    printf "\nmedian total: baseline %s s, candidate %s s (%.2fx as fast); median peak RSS: baseline %s MiB, candidate %s MiB (%.2fx)\n", bt, ct, bt / ct, bm, cm, cm / bm
  }' "$out/summary.md" | tee -a "$out/summary.md"
echo "written to $out/summary.md"

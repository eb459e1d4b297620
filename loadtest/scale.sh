#!/usr/bin/env bash
# National-scale build runs: for each scale, generate a snapshot of P products
# x 10 batches x 10 items, build its index, then drop the page cache (when
# allowed) and inspect it cold, timing the first lookups after the open.
#
#   loadtest/scale.sh 1m 10m 100m      # 10 k, 100 k and 1 M products
#
# Everything goes under $TRACESCAN_SCALE_DIR (default target/scale); the table
# of results is printed and written to loadtest/results/scale-<date>-<host>.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRACESCAN_SCALE_DIR:-$root/target/scale}
mkdir -p "$work" "$root/loadtest/results"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
cargo build --release --quiet --bins --manifest-path "$root/Cargo.toml"
bin=$root/target/release
out=$root/loadtest/results/scale-$(date -u +%Y-%m-%d)-$(hostname).md

{
  echo "# Scale runs, $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname)"
  echo
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(rustc --version)"
  echo
  echo "| items | products | generate (s) | build (s) | records/s | peak RSS (MiB) | index (bytes) | entries+tables/item (B) | JSON blob (bytes) | verify cold (s) | first item lookups | first misses |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} | tee "$out"

for scale in "$@"; do
  case $scale in
    1m) products=10000 ;;
    10m) products=100000 ;;
    100m) products=1000000 ;;
    *) echo "unknown scale $scale (1m, 10m or 100m)" >&2; exit 2 ;;
  esac
  dir=$work/snapshot-$scale
  index=$work/index-$scale.tsidx
  rm -rf "$dir"
  /usr/bin/time -f '%e %M' -o "$work/gen.time" \
    "$bin/gen-snapshot" --products $products --batches-per-product 10 --items-per-batch 10 --out "$dir" >"$work/gen.log"
  /usr/bin/time -f '%e %M' -o "$work/build.time" \
    "$bin/tracescan" build "$dir" --out "$index" >"$work/build-$scale.log"
  # A cold page cache, where the machine lets us drop it.
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not allowed here)" >&2
  "$bin/tracescan" inspect "$index" --sample 10000 >"$work/inspect-$scale.log"
  read -r gen_s _ <"$work/gen.time"
  read -r build_s build_kib <"$work/build.time"
  records=$(grep -o '[0-9]* records in' "$work/build-$scale.log" | awk '{print $1}')
  items=$(awk '/^items:/ {print $2}' "$work/inspect-$scale.log")
  payload=$(awk '/^payload:/ {print $2}' "$work/inspect-$scale.log")
  blob=$(awk '/^blob:/ {print $2}' "$work/inspect-$scale.log")
  size=$(stat -c %s "$index")
  verify=$(grep -o 'in [0-9.]* s' "$work/inspect-$scale.log" | awk '{print $2}')
  hits=$(grep 'item lookups' "$work/inspect-$scale.log" | sed 's/.*: //')
  misses=$(grep 'unknown-GTIN' "$work/inspect-$scale.log" | sed 's/.*: *//')
  printf '| %s | %s | %s | %s | %.0f | %d | %s | %.1f | %s | %s | %s | %s |\n' \
    "$items" "$products" "$gen_s" "$build_s" "$(echo "$records / $build_s" | bc -l)" $((build_kib / 1024)) \
    "$size" "$(echo "$payload / $items" | bc -l)" "$blob" "$verify" "$hits" "$misses" | tee -a "$out"
done
echo
echo "written to $out"

#!/usr/bin/env bash
# Metering benchmark: rtcbill's whole run of one day vs DuckDB's metering query on the same
# files, several runs each, medians, ratio and peak memory; then a 30-day backfill against
# 30 single days. Data is generated once per size under $BENCH_DIR (default target/bench).
#
#   jobs/bench/bench.sh            # sizes 10 and 100 (millions of slices), 3 runs each
#   jobs/bench/bench.sh 10         # one size
#   RUNS=5 jobs/bench/bench.sh 10
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 100)
runs=${RUNS:-3}
dir=${BENCH_DIR:-target/bench}
mkdir -p "$dir"
cargo build --release -p rtcbill
bin=target/release/rtcbill
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
for m in "${sizes[@]}"; do
  root="$dir/usage-${m}m"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    echo "generating $m M slices into $root ..."
    # ~1M apps and 500k accounts at 100M: apps scale with the size, 100 slices per app-day
    "$bin" generate --no-scenarios --seed 42 --days 1 --accounts $((m * 5000)) --max-apps 3 \
      --slices-per-app-day 100 --dirty-per-mille 30 --out "$root"
    touch "$root/.complete"
  fi
  python3 jobs/bench/bench.py --bin "$bin" --root "$root" --runs "$runs" --label "${m}M"
done
if [ "${BACKFILL:-1}" = 1 ]; then
  root="$dir/backfill-30d"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    "$bin" generate --no-scenarios --seed 43 --days 30 --accounts 5000 --max-apps 3 \
      --slices-per-app-day 100 --dirty-per-mille 30 --out "$root"
    touch "$root/.complete"
  fi
  python3 jobs/bench/bench.py --bin "$bin" --root "$root" --backfill
fi

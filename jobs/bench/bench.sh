#!/usr/bin/env bash
# Metering benchmark: rtcbill's whole run of one day vs the DuckDB metering query a data
# engineer would write, on the same files, several runs each: medians, ratio, peak memory and
# rtcbill's time per phase; then a nightly adding a day to a year of done days against the same
# size of day added to one; then a 30-day backfill against 30 single days.
#
# Data is made once per size under $BENCH_DIR (default target/bench): `rtcbill generate`
# (1% identical copies, 1% copies with other seconds, 1% bad rows), then jobs/bench/shape.py
# rewrites each day with DuckDB as 4 files of its default row groups, apps in random order,
# with 1% more event ids re-sent with other content. DuckDB (Python) is installed into a
# venv under target/py-bench from PyPI.
#
#   jobs/bench/bench.sh            # sizes 10 and 100 (millions of slices), 3 runs each
#   jobs/bench/bench.sh 10         # one size
#   RUNS=5 OLD_BASELINE=1 jobs/bench/bench.sh 10   # also time the old DISTINCT query
#   NIGHTLY=0 BACKFILL=0 jobs/bench/bench.sh 10     # the metering comparison only
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 100)
runs=${RUNS:-3}
dir=${BENCH_DIR:-target/bench}
mkdir -p "$dir"
cargo build --release -p rtcbill
bin=target/release/rtcbill
py=target/py-bench/bin/python
if ! "$py" -c "import duckdb" 2>/dev/null; then
  python3 -m venv target/py-bench
  "$py" -m pip install --quiet duckdb
fi
old=(); [ "${OLD_BASELINE:-0}" = 1 ] && old=(--old-baseline)
for m in "${sizes[@]}"; do
  root="$dir/usage-${m}m"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root" "$dir/gen-${m}m"
    echo "generating $m M slices into $root ..."
    # ~1M apps and 500k accounts at 100M: apps scale with the size, 100 slices per app-day
    "$bin" generate --no-scenarios --seed 42 --days 1 --accounts $((m * 5000)) --max-apps 3 \
      --slices-per-app-day 100 --dirty-per-mille 30 --out "$dir/gen-${m}m"
    "$py" jobs/bench/shape.py "$dir/gen-${m}m" "$root"
    touch "$root/.complete"
  fi
  "$py" jobs/bench/bench.py --bin "$bin" --root "$root" --runs "$runs" --label "${m}M" "${old[@]}"
done
if [ "${NIGHTLY:-1}" = 1 ]; then
  # A year of days and the same size of day alone: the generator's default size (24 accounts
  # and its scenarios, about 2,500 slices a day), and 2,000 accounts (about 160k slices a day).
  for accounts in 24 2000; do
    for d in 366 2; do
      root="$dir/nightly-${accounts}a-${d}d"
      if [ ! -f "$root/.complete" ]; then
        rm -rf "$root"
        "$bin" generate --seed 44 --days "$d" --accounts "$accounts" --out "$root" >/dev/null
        touch "$root/.complete"
      fi
    done
    "$py" jobs/bench/bench.py --bin "$bin" --root "$dir/nightly-${accounts}a-366d" --runs 9 \
      --nightly "$dir/nightly-${accounts}a-2d" --label "$accounts accounts"
  done
fi
if [ "${BACKFILL:-1}" = 1 ]; then
  root="$dir/backfill-30d"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    "$bin" generate --no-scenarios --seed 43 --days 30 --accounts 5000 --max-apps 3 \
      --slices-per-app-day 100 --dirty-per-mille 30 --out "$root"
    touch "$root/.complete"
  fi
  "$py" jobs/bench/bench.py --bin "$bin" --root "$root" --backfill
fi

"""Times rtcbill and DuckDB on the same data root; see bench.sh."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

DUCKDB_QUERY = """
WITH u AS (SELECT * FROM read_parquet('{root}/usage/*/*.parquet')),
d AS (SELECT DISTINCT * FROM u),
c AS (SELECT event_id FROM d GROUP BY event_id HAVING count(*) > 1)
SELECT app_id, usage_class, count(*) AS slices, sum(seconds) AS seconds,
       (sum(seconds) + 59) // 60 AS billable_minutes
FROM d ANTI JOIN c USING (event_id)
GROUP BY ALL
"""


def timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS in MiB) of that child alone."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    err = p.stderr.read().decode()
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_maxrss / 1024


def rtcbill(binary, root, args=()):
    out = tempfile.mkdtemp(prefix="rtcbill-bench-")
    try:
        env = dict(os.environ, RTCBILL_LOG="warn")
        return timed([binary, "run", "--data", root, "--out", out, *args], env)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def duckdb(root):
    code = (
        "import duckdb; con = duckdb.connect(); "
        f"con.sql({DUCKDB_QUERY.format(root=root)!r}).fetchall()"
    )
    return timed([sys.executable, "-c", code])


def median(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label", default="")
    ap.add_argument("--backfill", action="store_true")
    a = ap.parse_args()
    if a.backfill:
        return backfill(a)
    import duckdb as db  # the row count, from the footers
    glob = os.path.join(a.root, "usage", "*", "*.parquet")
    rows = db.sql(f"SELECT sum(num_rows) FROM parquet_file_metadata('{glob}')").fetchall()[0][0]
    r, d = [], []
    for _ in range(a.runs):
        r.append(rtcbill(a.bin, a.root))
        d.append(duckdb(a.root))
    rt, rm = median([x[0] for x in r]), max(x[1] for x in r)
    dt, dm = median([x[0] for x in d]), max(x[1] for x in d)
    print(f"{a.label} ({rows:,} slices, {a.runs} runs)")
    print(f"  rtcbill run (whole day)   median {rt:7.2f} s   peak RSS {rm:7.0f} MiB")
    print(f"  duckdb metering query     median {dt:7.2f} s   peak RSS {dm:7.0f} MiB")
    print(f"  ratio rtcbill/duckdb      {rt / dt:5.2f}x time   {rm / dm:5.2f}x memory")


def backfill(a):
    out = tempfile.mkdtemp(prefix="rtcbill-bench-")
    try:
        env = dict(os.environ, RTCBILL_LOG="warn")
        full, _ = timed([a.bin, "run", "--data", a.root, "--out", out], env)
        days = sorted(d.split("=")[1] for d in os.listdir(os.path.join(a.root, "usage")))
        singles = []
        for day in days[1:4]:
            t, _ = timed([a.bin, "run", "--data", a.root, "--out", out, "--from", day, "--to", day], env)
            singles.append(t)
        back, mem = timed([a.bin, "backfill", "--data", a.root, "--out", out, "--from", days[0]], env)
        one = median(singles)
        print(f"backfill of {len(days)} days: {back:.2f} s (first run {full:.2f} s); one day alone: {one:.2f} s; "
              f"backfill / ({len(days)} x one day) = {back / (len(days) * one):.2f}; peak RSS {mem:.0f} MiB")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Times rtcbill and DuckDB on the same data root; see bench.sh."""
import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The metering query a data engineer would write: the reject rules in the WHERE, then one
# group by event_id comparing a hash of the other columns (identical copies collapse,
# differing copies are all rejected), then the sums per app and class.
HASH_QUERY = """
WITH u AS (
    SELECT event_id, app_id, usage_class, seconds,
           hash(app_id, user_id, room_id, usage_class, start_time, seconds) AS h
    FROM read_parquet('{root}/usage/*/*.parquet', hive_partitioning = false)
    WHERE event_id <> ''
      AND start_time >= TIMESTAMPTZ '{day} 00:00:00{offset}'
      AND start_time < TIMESTAMPTZ '{day} 00:00:00{offset}' + INTERVAL 1 DAY
      AND app_id IN (SELECT app_id FROM read_parquet('{root}/apps/*.parquet'))
      AND usage_class IN ({classes})
      AND seconds BETWEEN 0 AND 86400
),
e AS (
    SELECT any_value(app_id) AS app_id, any_value(usage_class) AS usage_class,
           any_value(seconds) AS seconds
    FROM u GROUP BY event_id HAVING min(h) = max(h)
)
SELECT app_id, usage_class, count(*) AS slices, sum(seconds) AS seconds,
       (sum(seconds) + 59) // 60 AS billable_minutes
FROM e GROUP BY ALL
"""

# The previous baseline: DISTINCT over every column, then an anti-join of the ids left twice.
DISTINCT_QUERY = """
WITH u AS (SELECT * FROM read_parquet('{root}/usage/*/*.parquet', hive_partitioning = false)),
d AS (SELECT DISTINCT * FROM u),
c AS (SELECT event_id FROM d GROUP BY event_id HAVING count(*) > 1)
SELECT app_id, usage_class, count(*) AS slices, sum(seconds) AS seconds,
       (sum(seconds) + 59) // 60 AS billable_minutes
FROM d ANTI JOIN c USING (event_id)
GROUP BY ALL
"""

# rtcbill's debug log lines that end a phase, and the phase each ends.
PHASES = [
    ("inputs", r"inputs loaded secs=([\d.]+)"),
    ("pass 1", r"metering pass 1 .* secs=([\d.]+)"),
    ("fingerprint sort", r"fingerprints seen more than once .* secs=([\d.]+)"),
    ("pass 2", r"metering pass 2 .* secs=([\d.]+)"),
    ("sorting", r"usage summed, rejects sorted .* secs=([\d.]+)"),
    ("rejects (beside the engine)", r"rejects_secs=([\d.]+)"),
    ("engine", r"engine_secs=([\d.]+)"),
    ("writing", r"writing_secs=([\d.]+)"),
    ("usage_daily, state, commit", r"usage written and day committed .* secs=([\d.]+)"),
]


def timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS in MiB, stdout + stderr) of that child alone."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out}")
    return elapsed, usage.ru_maxrss / 1024, out


def phases(log):
    """Each phase's seconds, from a debug log (metering's are cumulative there)."""
    found = {}
    for name, pat in PHASES:
        m = re.search(pat, log)
        found[name] = float(m.group(1)) if m else float("nan")
    passes = re.search(r"metering passes done .* secs=([\d.]+)", log)
    found["sorting"] -= float(passes.group(1)) if passes else float("nan")
    for later, earlier in [("pass 2", "fingerprint sort"), ("fingerprint sort", "pass 1")]:
        found[later] -= found[earlier]
    return found


def rtcbill(binary, root, args=()):
    out = tempfile.mkdtemp(prefix="rtcbill-bench-")
    try:
        env = dict(os.environ, RTCBILL_LOG="debug", NO_COLOR="1")
        return timed([binary, "run", "--data", root, "--out", out, "-q", *args], env)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def duckdb(query, root):
    import tomllib

    with open(os.path.join(root, "catalog.toml"), "rb") as f:
        cat = tomllib.load(f)
    day = usage_days(root)[0]
    sql = query.format(
        root=root,
        day=day,
        offset=cat["billing"]["utc_offset"],
        classes=", ".join(f"'{c['name']}'" for c in cat["usage_classes"]),
    )
    code = f"import duckdb; con = duckdb.connect(); print(sum(r[2] for r in con.sql({sql!r}).fetchall()))"
    t, m, out = timed([sys.executable, "-c", code])
    return t, m, int(out.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label", default="")
    ap.add_argument("--old-baseline", action="store_true", help="also time the DISTINCT query")
    ap.add_argument("--backfill", action="store_true")
    ap.add_argument("--nightly", metavar="ALONE_ROOT",
                    help="time a nightly adding the last day of --root to all the days before it, "
                         "against one adding the last day of ALONE_ROOT (2 days) to its first")
    a = ap.parse_args()
    if a.backfill:
        return backfill(a)
    if a.nightly:
        return nightly(a)
    import duckdb as db  # the row count, from the footers

    glob = os.path.join(a.root, "usage", "*", "*.parquet")
    rows = db.sql(f"SELECT sum(num_rows) FROM parquet_file_metadata('{glob}')").fetchall()[0][0]
    r, h, d = [], [], []
    for _ in range(a.runs):
        r.append(rtcbill(a.bin, a.root))
        h.append(duckdb(HASH_QUERY, a.root))
        if a.old_baseline:
            d.append(duckdb(DISTINCT_QUERY, a.root))
    # Both count the same accepted slices, or the comparison is void.
    accepted = {int(re.search(r"accepted=(\d+)", x[2]).group(1)) for x in r}
    counted = {x[2] for x in h}
    if len(accepted | counted) != 1:
        sys.exit(f"accepted slices differ: rtcbill {accepted}, duckdb {counted}")
    rt, rm = median([x[0] for x in r]), max(x[1] for x in r)
    ht, hm = median([x[0] for x in h]), max(x[1] for x in h)
    print(f"{a.label} ({rows:,} slices, {accepted.pop():,} accepted by both, {a.runs} runs)")
    print(f"  rtcbill run (whole day)        median {rt:7.2f} s   peak RSS {rm:7.0f} MiB")
    print(f"  duckdb hash-dedupe query       median {ht:7.2f} s   peak RSS {hm:7.0f} MiB")
    if d:
        dt, dm = median([x[0] for x in d]), max(x[1] for x in d)
        print(f"  duckdb DISTINCT query (old)    median {dt:7.2f} s   peak RSS {dm:7.0f} MiB")
    print(f"  ratio rtcbill / hash query     {rt / ht:5.2f}x time   {rm / hm:5.2f}x memory")
    ph = [phases(x[2]) for x in r]
    print("  rtcbill phases (median s): " + ", ".join(
        f"{name} {median([p[name] for p in ph]):.2f}" for name, _ in PHASES))


def median(xs):
    return statistics.median(xs)


def backfill(a):
    out = tempfile.mkdtemp(prefix="rtcbill-bench-")
    try:
        env = dict(os.environ, RTCBILL_LOG="warn")
        full, _, _ = timed([a.bin, "run", "--data", a.root, "--out", out], env)
        days = usage_days(a.root)
        singles = []
        for day in days[1:4]:
            t, _, _ = timed([a.bin, "run", "--data", a.root, "--out", out, "--from", day, "--to", day], env)
            singles.append(t)
        back, mem, _ = timed([a.bin, "backfill", "--data", a.root, "--out", out, "--from", days[0]], env)
        one = median(singles)
        print(f"backfill of {len(days)} days: {back:.2f} s (first run {full:.2f} s); one day alone: {one:.2f} s; "
              f"backfill / ({len(days)} x one day) = {back / (len(days) * one):.2f}; peak RSS {mem:.0f} MiB")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def usage_days(root):
    return sorted(d.split("=")[1] for d in os.listdir(os.path.join(root, "usage")))


def nightly_base(binary, root):
    """A copy-ready output root with every day of `root` done but the last, made as cron makes
    it: the last few days by nightlies, so the snapshots it keeps are there. Returns it, the
    number of done days and the `--today` that adds the last day."""
    days = usage_days(root)
    env = dict(os.environ, RTCBILL_LOG="warn")
    base = tempfile.mkdtemp(prefix="rtcbill-bench-")
    after = lambda d: (datetime.date.fromisoformat(d) + datetime.timedelta(days=1)).isoformat()
    nightlies = days[-6:-1] if len(days) > 6 else []
    timed([binary, "run", "--data", root, "--out", base, "--to", days[-2 - len(nightlies)]], env)
    for d in nightlies:
        timed([binary, "nightly", "--data", root, "--out", base, "--today", after(d)], env)
    return base, len(days) - 1, after(days[-1])


def nightly_once(binary, root, base, today):
    """One nightly on a fresh copy of `base` (the copy and its writeback are not timed)."""
    out = base + "-copy"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(["cp", "-a", base, out], check=True)
    os.sync()
    env = dict(os.environ, RTCBILL_LOG="warn")
    t, _, _ = timed([binary, "nightly", "--data", root, "--out", out, "--today", today], env)
    shutil.rmtree(out)
    return t


def nightly(a):
    """A nightly adding the last day of --root to all the days before it, against one adding
    the last day of the 2-day root ALONE_ROOT to its first; runs alternate, so a drift of the
    machine (its page cache comes and goes) falls on both."""
    long_base, history, long_today = nightly_base(a.bin, a.root)
    alone_base, _, alone_today = nightly_base(a.bin, a.nightly)
    try:
        long, alone = [], []
        for _ in range(a.runs):
            long.append(nightly_once(a.bin, a.root, long_base, long_today))
            alone.append(nightly_once(a.bin, a.nightly, alone_base, alone_today))
    finally:
        shutil.rmtree(long_base, ignore_errors=True)
        shutil.rmtree(alone_base, ignore_errors=True)
    lm, am = median(long), median(alone)
    ms = lambda xs: f"{min(xs) * 1000:.0f}-{max(xs) * 1000:.0f}"
    print(f"{a.label}: nightly adding a day to {history} done days: {lm * 1000:.0f} ms ({ms(long)}); "
          f"the same size of day added to 1 done day: {am * 1000:.0f} ms ({ms(alone)}); "
          f"ratio {lm / am:.2f}x ({a.runs} runs each, alternating, medians); "
          f"the history's cost {(lm - am) / (history - 1) * 1e6:.0f} us a done day")


if __name__ == "__main__":
    main()

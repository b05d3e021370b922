"""rtcbill metering (rules.md, Metering) as a PySpark job, for days one machine cannot hold.

Reads a data root's `catalog.toml`, `apps/` and `usage/usage_date=D/` partitions and writes,
per billing day, the `usage_daily` and `rejected_usage` datasets of rules.md, Outputs plus
`meter_counts` (slices read, accepted, rejected, collapsed), Hive-partitioned by
`billing_date`, with int64 ids and counts and timestamp[us, UTC]. `rtcbill run --metered OUT`
then runs the rest of the chain from them.

    spark-submit jobs/spark/meter.py --data DATA --out METERED [--from D] [--to D]

Paths are anything Spark reads and writes (local, hdfs://, s3a://). The rules, in order:
the first reject reason that applies; among the slices left, copies of an event id that are
equal in every column count once, copies that differ are all rejected
`conflicting_duplicate`; billable minutes = ceil(sum(seconds) / 60) per app, class and day.
"""
import argparse
import datetime as dt
import re
import tomllib

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

MAX_SECONDS = 86_400
USAGE_COLUMNS = ["event_id", "app_id", "user_id", "room_id", "usage_class", "start_time", "seconds"]


def offset_seconds(s):
    if s in ("Z", "UTC"):
        return 0
    sign = -1 if s[0] == "-" else 1
    h, m = s[1:].split(":")
    return sign * (int(h) * 3600 + int(m) * 60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="rtcbill data root (rules.md, Inputs)")
    ap.add_argument("--out", required=True, help="where to write the metered datasets")
    ap.add_argument("--from", dest="from_", help="first day (YYYY-MM-DD)")
    ap.add_argument("--to", help="last day (YYYY-MM-DD)")
    ap.add_argument("--master", help="Spark master when not given by spark-submit (e.g. local[2])")
    a = ap.parse_args()

    b = SparkSession.builder.appName("rtcbill-meter")
    if a.master:
        b = b.master(a.master)
    spark = (
        b.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    sc = spark.sparkContext
    sc.setLogLevel("WARN")

    with open_text(spark, f"{a.data}/catalog.toml") as text:
        catalog = tomllib.loads(text)
    offset_us = offset_seconds(catalog.get("billing", {}).get("utc_offset", "+08:00")) * 1_000_000
    classes = spark.createDataFrame(
        [(c["name"], int(c["ratio"])) for c in catalog["usage_classes"]],
        T.StructType([T.StructField("usage_class", T.StringType()), T.StructField("__ratio", T.LongType())]),
    )
    apps = spark.read.parquet(f"{a.data}/apps").select(
        F.col("app_id").cast("long").alias("app_id"), F.col("account_id").cast("long").alias("__account_id")
    )

    # The usage_date= partitions to meter, and each one's files read with canonical types.
    days = list_days(spark, f"{a.data}/usage", a.from_, a.to)
    if not days:
        raise SystemExit(f"{a.data}/usage: no usage_date= partition in range")
    frames = []
    for day, path in days:
        epoch_day = (day - dt.date(1970, 1, 1)).days
        lo = epoch_day * 86_400_000_000 - offset_us
        u = spark.read.parquet(path).select(
            F.col("event_id").cast("string"),
            F.col("app_id").cast("long"),
            F.col("user_id").cast("string"),
            F.col("room_id").cast("string"),
            F.col("usage_class").cast("string"),
            F.col("start_time").cast("timestamp"),
            F.col("seconds").cast("long"),
        )
        frames.append(u.withColumn("billing_date", F.lit(day.isoformat())).withColumn("__lo", F.lit(lo)))
    raw = frames[0]
    for f in frames[1:]:
        raw = raw.unionByName(f)

    start_us = F.unix_micros(F.col("start_time"))
    secs = F.col("seconds")
    reason = (
        F.when(F.col("event_id").isNull() | (F.col("event_id") == ""), "missing_event_id")
        .when(F.col("start_time").isNull(), "missing_start_time")
        .when((start_us < F.col("__lo")) | (start_us >= F.col("__lo") + F.lit(86_400_000_000)), "wrong_partition")
        .when(F.col("__account_id").isNull(), "unknown_app")
        .when(F.col("__ratio").isNull(), "unknown_usage_class")
        .when(secs.isNull() | (secs < 0) | (secs > MAX_SECONDS), "invalid_seconds")
    )
    classified = (
        raw.join(F.broadcast(apps), "app_id", "left")
        .join(F.broadcast(classes), "usage_class", "left")
        .withColumn("reason", reason)
        .cache()
    )
    keys = ["billing_date", "event_id"]
    valid = classified.filter(F.col("reason").isNull())
    # Copies of one event id on one day: distinct rows; more than one distinct row: a conflict.
    n_distinct = F.size(F.collect_set(F.struct(*USAGE_COLUMNS)).over(Window.partitionBy(*keys)))
    settled = valid.withColumn("__variants", n_distinct)
    conflicting = settled.filter(F.col("__variants") > 1).withColumn("reason", F.lit("conflicting_duplicate"))
    accepted = settled.filter(F.col("__variants") == 1).dropDuplicates(keys)

    seconds = F.sum("seconds")
    usage_daily = (
        accepted.groupBy("billing_date", "__account_id", "app_id", "usage_class", "__ratio")
        .agg(F.count(F.lit(1)).cast("long").alias("slices"), seconds.cast("long").alias("seconds"))
        .withColumn("billable_minutes", F.expr("(seconds + 59) div 60").cast("long"))
        .withColumn("package_minutes", (F.col("billable_minutes") * F.col("__ratio")).cast("long"))
        .select(
            F.col("__account_id").alias("account_id"), "app_id", "usage_class", "slices", "seconds",
            "billable_minutes", "package_minutes", "billing_date",
        )
    )
    rejected = (
        classified.filter(F.col("reason").isNotNull())
        .unionByName(conflicting.drop("__variants"))
        .select(*USAGE_COLUMNS, "reason", "billing_date")
    )
    per_day = lambda df, name: df.groupBy("billing_date").agg(F.count(F.lit(1)).cast("long").alias(name))
    counts = (
        per_day(raw, "slices_read")
        .join(usage_daily.groupBy("billing_date").agg(F.sum("slices").cast("long").alias("accepted")), "billing_date", "left")
        .join(per_day(rejected, "rejected"), "billing_date", "left")
        .fillna(0, ["accepted", "rejected"])
        .withColumn("collapsed", F.col("slices_read") - F.col("accepted") - F.col("rejected"))
        .select("slices_read", "accepted", "rejected", "collapsed", "billing_date")
    )
    try:
        for name, df in [("usage_daily", usage_daily), ("rejected_usage", rejected), ("meter_counts", counts)]:
            # Replace only the partitions of the days metered here.
            (
                df.repartition("billing_date").write.mode("overwrite")
                .option("partitionOverwriteMode", "dynamic")
                .partitionBy("billing_date").parquet(f"{a.out}/{name}")
            )
    except Exception as e:
        raise SystemExit(unreadable(str(e)) or e)
    spark.stop()


def unreadable(error):
    """A file Spark's reader fails on, in one line instead of a JVM stack (None for other errors).
    Its reader turns millisecond timestamps into microseconds with overflow checks: a start_time
    beyond what microseconds hold stops the job, where rtcbill's own metering rejects the slice
    `wrong_partition`."""
    m = re.search(r"Encountered error while reading file (\S+?)\.(\s|$)", error)
    if m is None:
        return None
    why = "a timestamp beyond what microseconds hold" if "long overflow" in error else "see Spark's log"
    return f"meter.py: Spark cannot read {m.group(1)} ({why}); nothing of the failed dataset was written"


class open_text:
    """Reads a small text file through Hadoop's file system (local, HDFS, object storage)."""

    def __init__(self, spark, path):
        self.text = "\n".join(r.value for r in spark.read.text(path).collect())

    def __enter__(self):
        return self.text

    def __exit__(self, *exc):
        return False


def list_days(spark, usage_root, first, last):
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    root = jvm.org.apache.hadoop.fs.Path(usage_root)
    fs = root.getFileSystem(conf)
    out = []
    for st in fs.listStatus(root):
        name = st.getPath().getName()
        if not st.isDirectory() or not name.startswith("usage_date="):
            continue
        day = dt.date.fromisoformat(name.split("=", 1)[1])
        if (first and day.isoformat() < first) or (last and day.isoformat() > last):
            continue
        out.append((day, st.getPath().toString()))
    return sorted(out)


if __name__ == "__main__":
    main()

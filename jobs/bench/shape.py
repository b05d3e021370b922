"""Reshapes a generated data root's usage the way real exports arrive; see bench.sh.

`rtcbill generate` writes each app's slices together, in files of its own. Here DuckDB
rewrites every usage day of SRC into DST as 4 files written with its default row groups,
each slice in a file picked by a hash of its event id, in random app order; and re-sends
about 1% of event ids with another room (so, with generate's own differing copies, about
2% of event ids carry differing re-sends). Everything but usage is linked from SRC.
"""
import argparse
import os
import shutil

import duckdb

FILES = 4
RESEND_PER_MILLE = 10


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    src, dst = os.path.abspath(a.src), os.path.abspath(a.dst)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(os.path.join(dst, "usage"))
    for name in os.listdir(src):
        if name != "usage":
            os.symlink(os.path.join(src, name), os.path.join(dst, name))
    con = duckdb.connect()
    con.sql("SET preserve_insertion_order = false")
    con.sql("SET enable_progress_bar = false")
    for day in sorted(os.listdir(os.path.join(src, "usage"))):
        out = os.path.join(dst, "usage", day)
        os.makedirs(out)
        glob = os.path.join(src, "usage", day, "*.parquet")
        rows = f"""
            SELECT * FROM read_parquet('{glob}', hive_partitioning = false)
            UNION ALL
            SELECT event_id, app_id, user_id, 'resent-' || room_id AS room_id, usage_class,
                   start_time, seconds
            FROM read_parquet('{glob}', hive_partitioning = false)
            WHERE hash(event_id, 'resend') % 1000 < {RESEND_PER_MILLE}
        """
        for f in range(FILES):
            con.sql(f"""
                COPY (
                    SELECT * FROM ({rows}) r
                    WHERE hash(r.event_id, r.room_id) % {FILES} = {f}
                    ORDER BY hash(r.event_id, r.room_id, 'order')
                ) TO '{out}/part-{f}.parquet' (FORMAT parquet)
            """)


if __name__ == "__main__":
    main()

"""Reads every output dataset of an rtcbill run with the clients analysts use (DuckDB,
pyarrow, polars) and checks names, types, decimal scales, time zones and the partition key
against the contract, then reconciles bills with their lines and usage with deductions and
charges in DuckDB. Usage: read_outputs.py OUT CONTRACT.json; prints one line per check."""
import json
import sys

import duckdb
import polars as pl
import pyarrow.dataset as ds

out, contract_path = sys.argv[1], sys.argv[2]
contract = json.load(open(contract_path))

ARROW = {"int64": "int64", "int32": "int32", "string": "string", "bool": "bool",
         "decimal(18,2)": "decimal128(18, 2)", "decimal(18,6)": "decimal128(18, 6)",
         "timestamp[us, UTC]": "timestamp[us, tz=UTC]", "date32": "date32[day]"}
DUCK = {"int64": "BIGINT", "int32": "INTEGER", "string": "VARCHAR", "bool": "BOOLEAN",
        "decimal(18,2)": "DECIMAL(18,2)", "decimal(18,6)": "DECIMAL(18,6)",
        "timestamp[us, UTC]": "TIMESTAMP WITH TIME ZONE", "date32": "DATE"}
POLARS = {"int64": pl.Int64, "int32": pl.Int32, "string": pl.String, "bool": pl.Boolean,
          "decimal(18,2)": pl.Decimal(18, 2), "decimal(18,6)": pl.Decimal(18, 6),
          "timestamp[us, UTC]": pl.Datetime("us", "UTC"), "date32": pl.Date}

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got}, want {want}")


con = duckdb.connect()
for name, columns in contract.items():
    glob = f"{out}/{name}/**/*.parquet"
    # pyarrow, hive partitioning
    t = ds.dataset(f"{out}/{name}", format="parquet", partitioning="hive").to_table()
    for col, ty, _nullable in columns:
        check(f"pyarrow {name}.{col}", str(t.schema.field(col).type), ARROW[ty])
    check(f"pyarrow {name} partition key", "billing_date" in t.schema.names, True)
    # DuckDB
    rel = con.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
    types = dict(zip(rel.columns, [str(x) for x in rel.types]))
    for col, ty, _nullable in columns:
        check(f"duckdb {name}.{col}", types.get(col), DUCK[ty])
    check(f"duckdb {name} billing_date", types.get("billing_date"), "DATE")
    # polars
    lf = pl.scan_parquet(glob, hive_partitioning=True)
    schema = lf.collect_schema()
    for col, ty, _nullable in columns:
        check(f"polars {name}.{col}", schema.get(col), POLARS[ty])
    check(f"polars {name} rows", lf.select(pl.len()).collect().item(), t.num_rows)
    print(f"read {name}: {t.num_rows} rows with pyarrow, duckdb and polars")

P = lambda n: f"read_parquet('{out}/{n}/**/*.parquet', hive_partitioning = true)"
bad_bills = con.sql(f"""
    SELECT b.bill_id FROM {P('bills')} b LEFT JOIN {P('bill_lines')} l USING (bill_id, billing_date)
    GROUP BY b.bill_id, b.amount HAVING round(coalesce(sum(l.amount), 0), 2) <> b.amount""").fetchall()
check("bills = rounded sum of their lines", bad_bills, [])
totals = con.sql(f"SELECT (SELECT sum(amount) FROM {P('bills')}), (SELECT round(sum(amount), 2) FROM {P('bill_lines')})").fetchone()
print(f"sum of bills {totals[0]}, sum of lines {totals[1]}")
bad_minutes = con.sql(f"""
    WITH d AS (SELECT billing_date, app_id, usage_class, sum(usage_minutes) m FROM {P('deductions')} GROUP BY ALL),
         c AS (SELECT billing_date, app_id, usage_class, sum(minutes) m FROM {P('charges')} GROUP BY ALL)
    SELECT u.* FROM {P('usage_daily')} u
    LEFT JOIN d USING (billing_date, app_id, usage_class) LEFT JOIN c USING (billing_date, app_id, usage_class)
    WHERE u.billable_minutes <> coalesce(d.m, 0) + coalesce(c.m, 0)""").fetchall()
check("billable minutes = deductions + charges", bad_minutes, [])
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("all checks passed")

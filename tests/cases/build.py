#!/usr/bin/env python3
"""Builds the data roots (`data/`) and overlays of the conformance cases defined below.

Run from the checkout root, in a virtual environment with pyarrow:

    python3 -m venv target/py-cases && target/py-cases/bin/pip install pyarrow
    target/py-cases/bin/python tests/cases/build.py            # every case defined here
    target/py-cases/bin/python tests/cases/build.py reclaim    # one case

Each case below is the readable definition of its inputs (rules.md, Inputs): accounts, apps,
transactions, packages, package_events and usage slices per `usage_date=` folder, plus overlays
(folders of the case copied over the data root before a later step of its `case.toml`). The
script replaces `data/` and the overlay folders of the cases it builds and never touches
`expected/`, `README.md` or `case.toml`, nor the cases not defined here (`metering/` and
`order/` were built outside the project).

Types are the contract's: ids int64, money decimal128(18, 2), instants timestamp[us, UTC],
quantity int32, auto_renew bool; usage columns as in rules.md, Inputs (all nullable).
"""

import shutil
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

# The default catalog: sample-data/catalog.toml as of this writing (rules.md, Class ratios and prices,
# the products of seed 000, a pay-as-you-go price change on 2026-10-15), grace_hours = 24,
# reclaim_days = 60. Copied here so that a change to the sample does not change the cases.
CATALOG = """\
# rtcbill catalog of the sample data root: the default classes and prices of rules.md, Metering
# and the products of seed 000.

[billing]
utc_offset = "+08:00"
currency = "USD"
grace_hours = 24
reclaim_days = 60

[[usage_classes]]
name = "audio"
ratio = 1
[[usage_classes]]
name = "video_hd"
ratio = 4
[[usage_classes]]
name = "video_fhd"
ratio = 9
[[usage_classes]]
name = "video_2k"
ratio = 16
[[usage_classes]]
name = "video_4k"
ratio = 36

[[payg]]
effective_from = "2020-01-01"
audio = "0.99"
video_hd = "3.99"
video_fhd = "8.99"
video_2k = "15.99"
video_4k = "35.99"

# A price change inside a month (rules.md, Packages: the price in force on the usage day; a monthly bill
# then carries one line per class and price).
[[payg]]
effective_from = "2026-10-15"
audio = "0.89"
video_hd = "3.59"
video_fhd = "8.09"
video_2k = "14.39"
video_4k = "32.39"

[[versions]]
product = "rtc_engine"
version = "free"
rank = 0
minutes = 10000
list_price = "0.00"
effective_from = "2020-01-01"
[[versions]]
product = "rtc_engine"
version = "lite"
rank = 1
minutes = 50000
list_price = "9.90"
effective_from = "2020-01-01"
[[versions]]
product = "rtc_engine"
version = "standard"
rank = 2
minutes = 250000
list_price = "99.00"
effective_from = "2020-01-01"
[[versions]]
product = "rtc_engine"
version = "pro"
rank = 3
minutes = 1000000
list_price = "359.00"
effective_from = "2020-01-01"
[[versions]]
product = "call"
version = "lite"
rank = 1
minutes = 30000
list_price = "19.00"
effective_from = "2020-01-01"
[[versions]]
product = "call"
version = "standard"
rank = 2
minutes = 120000
list_price = "69.00"
effective_from = "2020-01-01"
[[versions]]
product = "call"
version = "pro"
rank = 3
minutes = 400000
list_price = "199.00"
effective_from = "2020-01-01"
[[versions]]
product = "live"
version = "lite"
rank = 1
minutes = 40000
list_price = "29.00"
effective_from = "2020-01-01"
[[versions]]
product = "live"
version = "standard"
rank = 2
minutes = 200000
list_price = "129.00"
effective_from = "2020-01-01"
[[versions]]
product = "conference"
version = "standard"
rank = 2
minutes = 100000
list_price = "59.00"
effective_from = "2020-01-01"
[[versions]]
product = "conference"
version = "pro"
rank = 3
minutes = 300000
list_price = "149.00"
effective_from = "2020-01-01"
[[versions]]
product = "chat"
version = "standard"
rank = 2
minutes = 0
list_price = "399.00"
effective_from = "2020-01-01"
[[versions]]
product = "chat"
version = "premium"
rank = 3
minutes = 0
list_price = "699.00"
effective_from = "2020-01-01"
[[versions]]
product = "beauty_ar"
version = "standard"
rank = 1
minutes = 0
list_price = "49.00"
effective_from = "2020-01-01"
[[versions]]
product = "beauty_ar"
version = "pro"
rank = 2
minutes = 0
list_price = "99.00"
effective_from = "2020-01-01"

[[topups]]
spec = "25k"
minutes = 25000
list_price = "24.00"
effective_from = "2020-01-01"
[[topups]]
spec = "250k"
minutes = 250000
list_price = "227.00"
effective_from = "2020-01-01"
[[topups]]
spec = "1m"
minutes = 1000000
list_price = "856.00"
effective_from = "2020-01-01"
"""

# The default opening time of the cases' accounts: 2020-01-01 00:00 in the billing zone.
OPEN = "2019-12-31T16:00:00Z"


# --- readable constructors -------------------------------------------------------------------

def account(account_id, billing_mode, opening_balance, opening_time=OPEN):
    return dict(account_id=account_id, billing_mode=billing_mode,
                opening_balance=opening_balance, opening_time=opening_time)


def app(app_id, account_id, created_at=OPEN, disabled_at=None, violation_at=None):
    return dict(app_id=app_id, account_id=account_id, created_at=created_at,
                disabled_at=disabled_at, violation_at=violation_at)


def txn(txn_id, account_id, time, kind, amount):
    return dict(txn_id=txn_id, account_id=account_id, time=time, kind=kind, amount=amount)


def package(package_id, account_id, app_id, kind, product, version, purchased_at, paid_price,
            auto_renew, quantity=1):
    return dict(package_id=package_id, account_id=account_id, app_id=app_id, kind=kind,
                product=product, version=version, quantity=quantity, purchased_at=purchased_at,
                paid_price=paid_price, auto_renew=auto_renew)


def pevent(event_id, package_id, time, kind, target_version=None):
    return dict(event_id=event_id, package_id=package_id, time=time, kind=kind,
                target_version=target_version)


def slice_(event_id, app_id, usage_class, start_time, seconds, user_id="u1", room_id="r1"):
    return dict(event_id=event_id, app_id=app_id, user_id=user_id, room_id=room_id,
                usage_class=usage_class, start_time=start_time, seconds=seconds)


# --- the cases -------------------------------------------------------------------------------
# Each case: the inputs of its data root; `usage` maps a usage_date folder to its slices (an
# empty list writes an empty file, so that the run reaches that day); `overlays` maps an
# overlay folder name to {usage_date: slices} written under OVERLAY/usage/usage_date=D/part-1.

CASES = {
    # Mid-cycle upgrades (rules.md, Packages Upgrade): A at list price in a 31-day cycle, decided in the
    # window of 02-20 but on billing day 02-21; B bought at a discount in a 28-day cycle, price
    # exactly half a cent (half-up); then a rejected not_higher_version and an unknown_package.
    "upgrade": dict(
        accounts=[account(1, "daily", "1000.00")],
        apps=[app(11, 1), app(12, 1)],
        transactions=[],
        packages=[
            package("pkg-a", 1, 11, "monthly", "rtc_engine", "lite", "2026-01-25T02:00:00Z", "9.90", False),
            package("pkg-b", 1, 12, "monthly", "call", "lite", "2026-02-01T02:00:00Z", "14.98", False),
        ],
        package_events=[
            pevent("up-a", "pkg-a", "2026-02-20T18:00:00Z", "upgrade", "standard"),
            pevent("up-b", "pkg-b", "2026-02-22T03:00:00Z", "upgrade", "pro"),
            pevent("up-b2", "pkg-b", "2026-02-22T05:00:00Z", "upgrade", "standard"),
            pevent("up-ghost", "ghost", "2026-02-22T06:00:00Z", "upgrade", "pro"),
        ],
        usage={
            "2026-02-20": [
                slice_("a1", 11, "video_4k", "2026-02-20T02:00:00Z", 81601),
                slice_("b1", 12, "video_fhd", "2026-02-20T03:00:00Z", 66601),
            ],
            "2026-02-21": [
                slice_("a2", 11, "video_4k", "2026-02-21T02:00:00Z", 35950),
                slice_("b2", 12, "video_fhd", "2026-02-21T03:00:00Z", 66601),
            ],
            "2026-02-22": [
                slice_("b3", 12, "video_fhd", "2026-02-22T01:00:00Z", 45000),
                slice_("b4", 12, "video_fhd", "2026-02-22T08:00:00Z", 44990),
            ],
        },
    ),
    # Upgrades and renewal together (rules.md, Packages): P1 upgraded (u1), renewed at the upgraded
    # version's list price, then upgraded again (u2) on its old cycle's last day with the base
    # the first upgrade set, while the renewed cycle keeps its version; a rejected purchase
    # (overlapping_monthly) and an upgrade rejected for the balance (account 2).
    "upgrade-renewal": dict(
        accounts=[account(1, "daily", "200.00"), account(2, "daily", "5.00", "2026-08-02T00:00:00Z")],
        apps=[app(11, 1), app(21, 2)],
        transactions=[],
        packages=[
            package("P1", 1, 11, "monthly", "rtc_engine", "lite", "2026-07-10T02:00:00Z", "9.90", True),
            package("P1b", 1, 11, "monthly", "rtc_engine", "standard", "2026-08-07T02:00:00Z", "99.00", True),
            package("P2", 2, 21, "monthly", "call", "lite", "2026-08-01T02:00:00Z", "19.00", False),
        ],
        package_events=[
            pevent("u1", "P1", "2026-08-06T02:00:00Z", "upgrade", "standard"),
            pevent("u2", "P1", "2026-08-09T02:00:00Z", "upgrade", "pro"),
            pevent("u3", "P2", "2026-08-06T03:00:00Z", "upgrade", "standard"),
        ],
        usage={
            "2026-08-06": [slice_("p1", 11, "video_4k", "2026-08-06T04:00:00Z", 83950)],
            "2026-08-09": [slice_("p2", 11, "video_4k", "2026-08-09T04:00:00Z", 71950)],
            "2026-08-10": [slice_("p3", 11, "video_4k", "2026-08-10T04:00:00Z", 5950)],
        },
    ),
    # Auto-renewal (rules.md, Packages): R1 (account 1, bought at a discount) renews at 00:00 of its last
    # cycle day at the list price; the new cycle does not cover that last day. R2 (account 2,
    # bought before its opening_time, flag switched on by an event) fails for the balance.
    "renewal": dict(
        accounts=[account(1, "daily", "100.00"), account(2, "daily", "5.00", "2026-02-10T00:00:00Z")],
        apps=[app(11, 1), app(21, 2)],
        transactions=[],
        packages=[
            package("R1", 1, 11, "monthly", "rtc_engine", "lite", "2026-02-03T02:00:00Z", "8.00", True),
            package("R2", 2, 21, "monthly", "rtc_engine", "lite", "2026-02-04T02:00:00Z", "9.90", False),
        ],
        package_events=[
            pevent("on-r2", "R2", "2026-03-01T05:00:00Z", "auto_renew_on"),
        ],
        usage={
            "2026-03-01": [slice_("r1-1", 11, "video_4k", "2026-03-01T02:00:00Z", 59950)],
            "2026-03-02": [slice_("r1-2", 11, "video_4k", "2026-03-02T02:00:00Z", 59950)],
            "2026-03-03": [
                slice_("r1-3", 11, "video_4k", "2026-03-03T02:00:00Z", 59950),
                slice_("r2-3", 21, "audio", "2026-03-03T02:00:00Z", 5950),
            ],
            "2026-03-04": [slice_("r2-4", 21, "audio", "2026-03-04T02:00:00Z", 5950)],
        },
    ),
    # Arrears (rules.md, Arrears and suspension): account 1 enters arrears, clears it with a recharge before the deadline,
    # goes negative by an adjustment (no arrears), then a 0.00 bill starts arrears again.
    # Account 2 enters arrears, is suspended at the deadline (the end of a window), a partial
    # recharge does not restore it, a second one does.
    "arrears": dict(
        accounts=[account(1, "daily", "1.00"), account(2, "daily", "1.00")],
        apps=[app(11, 1), app(21, 2)],
        transactions=[
            txn("t1", 1, "2026-04-07T10:00:00Z", "recharge", "5.00"),
            txn("t2", 1, "2026-04-08T05:00:00Z", "adjustment", "-2.00"),
            txn("t3", 2, "2026-04-08T03:00:00Z", "recharge", "1.00"),
            txn("t4", 2, "2026-04-08T06:00:00Z", "recharge", "5.00"),
        ],
        packages=[],
        package_events=[],
        usage={
            "2026-04-06": [
                slice_("a1-6", 11, "video_4k", "2026-04-06T02:00:00Z", 5990),
                slice_("a2-6", 21, "video_4k", "2026-04-06T02:00:00Z", 5990),
            ],
            "2026-04-07": [
                slice_("a1-7", 11, "video_4k", "2026-04-07T02:00:00Z", 2990),
                slice_("a2-7", 21, "video_4k", "2026-04-07T02:00:00Z", 590),
            ],
            "2026-04-08": [slice_("a1-8", 11, "audio", "2026-04-08T02:00:00Z", 241)],
        },
    ),
    # Reclaim (rules.md, Arrears and suspension): suspended 2026-05-06 00:00Z, never paid (a partial recharge on 06-01),
    # reclaimed at suspended_at + 60 days = 2026-07-05 00:00Z; the app-scoped top-up loses its
    # minutes left, so 07-05's usage is overage.
    "reclaim": dict(
        accounts=[account(1, "daily", "0.50", "2026-04-30T00:00:00Z")],
        apps=[app(11, 1), app(12, 1)],
        transactions=[txn("t1", 1, "2026-06-01T03:00:00Z", "recharge", "1.00")],
        packages=[
            package("top-12", 1, 12, "topup", "rtc_engine", "25k", "2026-04-20T02:00:00Z", "24.00", False),
        ],
        package_events=[],
        usage={
            "2026-05-04": [
                slice_("c1", 11, "video_4k", "2026-05-04T02:00:00Z", 5990),
                slice_("c2", 12, "audio", "2026-05-04T02:00:00Z", 59950),
            ],
            "2026-07-04": [slice_("c3", 12, "audio", "2026-07-04T02:00:00Z", 600)],
            "2026-07-05": [slice_("c4", 12, "audio", "2026-07-05T02:00:00Z", 30)],
        },
    ),
    # Monthly billing across a pay-as-you-go price change (catalog: new prices from 2026-10-15):
    # the epoch month (September, from 09-29) and October with one line per class and price.
    "monthly-price-change": dict(
        accounts=[account(1, "monthly", "100.00")],
        apps=[app(11, 1)],
        transactions=[],
        packages=[],
        package_events=[],
        usage={
            "2026-09-29": [slice_("m1", 11, "audio", "2026-09-29T02:00:00Z", 60000)],
            "2026-09-30": [slice_("m2", 11, "audio", "2026-09-30T02:00:00Z", 30000)],
            "2026-10-01": [slice_("m3", 11, "audio", "2026-10-01T02:00:00Z", 30241)],
            "2026-10-14": [
                slice_("m4", 11, "audio", "2026-10-14T02:00:00Z", 30000),
                slice_("m5", 11, "video_hd", "2026-10-14T03:00:00Z", 90),
                slice_("m6", 11, "video_hd", "2026-10-14T04:00:00Z", 61),
            ],
            "2026-10-15": [slice_("m7", 11, "audio", "2026-10-15T02:00:00Z", 60000)],
            "2026-10-20": [slice_("m8", 11, "video_hd", "2026-10-20T02:00:00Z", 120)],
            "2026-10-31": [slice_("m9", 11, "audio", "2026-10-31T02:00:00Z", 241)],
        },
    ),
    # A run of 06-10..06-12, then late usage of 06-10 and `nightly --today 2026-06-13`: the bill
    # of 06-10 becomes revision 2 (a bill_revisions row), later bills keep revision 1 with their
    # balances moved by the change.
    "backfill-revision": dict(
        accounts=[account(1, "daily", "10.00")],
        apps=[app(11, 1)],
        transactions=[],
        packages=[],
        package_events=[],
        usage={
            "2026-06-10": [slice_("d1", 11, "video_4k", "2026-06-10T02:00:00Z", 600)],
            "2026-06-11": [slice_("d2", 11, "video_4k", "2026-06-11T02:00:00Z", 1200)],
            "2026-06-12": [slice_("d3", 11, "video_4k", "2026-06-12T02:00:00Z", 300)],
        },
        overlays={
            "late": {
                "2026-06-10": [
                    slice_("d1-late", 11, "video_4k", "2026-06-10T05:00:00Z", 1800),
                    slice_("d1-late-a", 11, "audio", "2026-06-10T06:00:00Z", 5950),
                ],
            },
        },
    ),
}


# --- writing ---------------------------------------------------------------------------------

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)

SCHEMAS = {
    "accounts": pa.schema([
        pa.field("account_id", pa.int64(), False),
        pa.field("billing_mode", pa.string(), False),
        pa.field("opening_balance", MONEY, False),
        pa.field("opening_time", TS, False),
    ]),
    "apps": pa.schema([
        pa.field("app_id", pa.int64(), False),
        pa.field("account_id", pa.int64(), False),
        pa.field("created_at", TS, False),
        pa.field("disabled_at", TS, True),
        pa.field("violation_at", TS, True),
    ]),
    "transactions": pa.schema([
        pa.field("txn_id", pa.string(), False),
        pa.field("account_id", pa.int64(), False),
        pa.field("time", TS, False),
        pa.field("kind", pa.string(), False),
        pa.field("amount", MONEY, False),
    ]),
    "packages": pa.schema([
        pa.field("package_id", pa.string(), False),
        pa.field("account_id", pa.int64(), False),
        pa.field("app_id", pa.int64(), True),
        pa.field("kind", pa.string(), False),
        pa.field("product", pa.string(), False),
        pa.field("version", pa.string(), False),
        pa.field("quantity", pa.int32(), True),
        pa.field("purchased_at", TS, False),
        pa.field("paid_price", MONEY, False),
        pa.field("auto_renew", pa.bool_(), True),
    ]),
    "package_events": pa.schema([
        pa.field("event_id", pa.string(), False),
        pa.field("package_id", pa.string(), False),
        pa.field("time", TS, False),
        pa.field("kind", pa.string(), False),
        pa.field("target_version", pa.string(), True),
    ]),
    "usage": pa.schema([
        pa.field("event_id", pa.string(), True),
        pa.field("app_id", pa.int64(), True),
        pa.field("user_id", pa.string(), True),
        pa.field("room_id", pa.string(), True),
        pa.field("usage_class", pa.string(), True),
        pa.field("start_time", TS, True),
        pa.field("seconds", pa.int64(), True),
    ]),
}


def convert(value, typ):
    """A definition's value (ISO-8601 text for instants, text for money) as pyarrow takes it."""
    if value is None:
        return None
    if pa.types.is_timestamp(typ):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    if pa.types.is_decimal(typ):
        d = Decimal(value)
        assert d == d.quantize(Decimal("0.01")), f"{value}: money has whole cents"
        return d.quantize(Decimal("0.01"))
    return value


def write(path, dataset, rows):
    schema = SCHEMAS[dataset]
    cols = {f.name: pa.array([convert(r[f.name], f.type) for r in rows], type=f.type) for f in schema}
    table = pa.Table.from_pydict(cols, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def check_usage_day(day, slices):
    """Every slice's billing day (+08:00) is its folder's: [D-1 16:00Z, D 16:00Z)."""
    for s in slices:
        t = convert(s["start_time"], TS).timestamp() + 8 * 3600
        assert datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d") == day, (day, s)


def build(name, case):
    root = HERE / name
    data = root / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    (data / "catalog.toml").write_text(CATALOG)
    for ds in ["accounts", "apps", "transactions", "packages", "package_events"]:
        write(data / ds / "part-0.parquet", ds, case[ds])
    for day, slices in case["usage"].items():
        check_usage_day(day, slices)
        write(data / "usage" / f"usage_date={day}" / "part-0.parquet", "usage", slices)
    for overlay, days in case.get("overlays", {}).items():
        odir = root / overlay
        if odir.exists():
            shutil.rmtree(odir)
        for day, slices in days.items():
            check_usage_day(day, slices)
            write(odir / "usage" / f"usage_date={day}" / "part-1.parquet", "usage", slices)


def main(argv):
    names = argv[1:] or list(CASES)
    for n in names:
        if n not in CASES:
            sys.exit(f"unknown case {n}; defined: {', '.join(CASES)}")
        build(n, CASES[n])
        print(f"built {n}")


if __name__ == "__main__":
    main(sys.argv)

//! `rtcbill export focus`: a month of the sample, with a correction of the month before, as a
//! FOCUS 1.2 Cost and Usage dataset that the official validator (PyPI focus-validator 2.2.1,
//! in a Python 3.12 virtual environment under `target/`) passes, and whose figures reconcile
//! with the month's charges, bills and orders.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rust_decimal::Decimal;

use crate::common::*;

fn export(data: &str, out: &Path, month: &str, file: &Path) -> std::process::Output {
    rtcbill(&[
        "export",
        "focus",
        "--month",
        month,
        "--data",
        data,
        "--outputs",
        out.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ])
}

fn in_month<'a>(rows: &'a [Row], month: &str) -> Vec<&'a Row> {
    rows.iter().filter(|r| text(r, "billing_date").starts_with(month)).collect()
}

fn sum(rows: &[&Row], k: &str) -> Decimal {
    rows.iter().map(|r| dec(r, k)).sum()
}

#[test]
fn a_month_exports_as_focus_that_reconciles_with_bills_and_passes_the_official_validator() {
    let data_dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("sample-data"), data_dir.path());
    let data = data_dir.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    // September and half of October are billed; then a late file for 2026-09-10 (6000 s of
    // audio for app 100401, account 1004, no package) is found by the nightly of 2026-10-16,
    // whose last day is 2026-10-15: the change to a September bill is reported in October.
    ok(rtcbill(&["nightly", "--data", data, "--out", o, "--today", "2026-10-16"]));
    let late = Slice { app_id: Some(100401), ..slice("late-1", "2026-09-10T03:00:00Z", 6000) };
    write_usage(&data_dir.path().join("usage/usage_date=2026-09-10/late-0.parquet"), &[late]);
    ok(rtcbill(&["nightly", "--data", data, "--out", o, "--today", "2026-10-16"]));
    ok(rtcbill(&["nightly", "--data", data, "--out", o, "--today", "2026-11-02"]));

    let files = tempfile::tempdir().unwrap();
    let (oct, sep) =
        (files.path().join("focus-2026-10.parquet"), files.path().join("focus-2026-09.parquet"));
    ok(export(data, out.path(), "2026-10", &oct));
    ok(export(data, out.path(), "2026-09", &sep));
    let rows = read_file(&oct);
    let kind = |r: &Row| {
        (text(r, "ChargeCategory").to_string(), r["ChargeClass"].as_str().map(str::to_string))
    };
    let of = |cat: &str, class: Option<&str>| -> Vec<&Row> {
        rows.iter().filter(|r| kind(r) == (cat.to_string(), class.map(str::to_string))).collect()
    };

    // One correction: the September bill's change, on its invoice, for its own day, in October.
    let revs = read_dataset(out.path(), "bill_revisions");
    assert_eq!(revs.len(), 1, "{revs:?}");
    let corrections = of("Usage", Some("Correction"));
    assert_eq!(corrections.len(), 1, "{corrections:?}");
    let c = corrections[0];
    assert_eq!(text(c, "InvoiceId"), "daily-1004-20260910");
    assert_eq!(dec(c, "BilledCost"), dec(&revs[0], "change"));
    assert_eq!(text(c, "ChargePeriodStart"), "2026-09-09T16:00:00Z"); // 2026-09-10 00:00 +08:00 (rules.md, Clock)
    assert_eq!(text(c, "ChargePeriodEnd"), "2026-09-10T16:00:00Z");
    assert_eq!(text(c, "BillingPeriodStart"), "2026-09-30T16:00:00Z");
    assert_eq!(text(c, "BillingPeriodEnd"), "2026-10-31T16:00:00Z");
    // September's own export shows the restated usage and no correction.
    let sep_rows = read_file(&sep);
    assert!(sep_rows.iter().all(|r| r["ChargeClass"].is_null()));

    // Usage rows are October's charges, one each, at the same amounts.
    let charges = read_dataset(out.path(), "charges");
    let charges = in_month(&charges, "2026-10");
    let usage = of("Usage", None);
    assert_eq!(usage.len(), charges.len());
    assert_eq!(sum(&usage, "BilledCost"), sum(&charges, "amount"));
    for u in &usage {
        // FOCUS: ListUnitPrice x PricingQuantity = ListCost; price per 1,000 minutes
        assert_eq!(dec(u, "ListUnitPrice") * dec(u, "PricingQuantity"), dec(u, "ListCost"));
        assert_eq!(dec(u, "PricingQuantity") * Decimal::from(1000), dec(u, "ConsumedQuantity"));
        assert_eq!(text(u, "PricingUnit"), "1000 Minutes");
    }

    // Every October bill: the BilledCost on its InvoiceId (usage + rounding) is its amount
    // (rules.md, Bills: amount = round_half_up(sum of lines, 2), so a rounding row is at most half
    // a cent).
    let bills = read_dataset(out.path(), "bills");
    let bills = in_month(&bills, "2026-10");
    let mut on_invoice: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["ChargeClass"].is_null()) {
        *on_invoice.entry(text(r, "InvoiceId")).or_default() += dec(r, "BilledCost");
    }
    assert!(!bills.is_empty());
    for b in &bills {
        assert_eq!(on_invoice.get(text(b, "bill_id")), Some(&dec(b, "amount")), "{b:?}");
    }
    let roundings = of("Adjustment", None);
    assert!(!roundings.is_empty(), "the sample has bills whose lines do not sum to whole cents");
    assert!(roundings.iter().all(|r| dec(r, "BilledCost").abs() <= "0.005".parse().unwrap()));

    // Purchase rows: October's accepted, charged orders of paid packages; prepaid, so
    // EffectiveCost 0 (FOCUS EffectiveCost-C-005).
    let orders = read_dataset(out.path(), "orders");
    let packages = read_file(&repo().join("sample-data/packages/part-0.parquet"));
    let free: Vec<&str> = packages
        .iter()
        .filter(|p| text(p, "kind") == "free")
        .map(|p| text(p, "package_id"))
        .collect();
    let mut want: Vec<&str> = in_month(&orders, "2026-10")
        .into_iter()
        .filter(|r| text(r, "status") == "accepted" && !free.contains(&text(r, "package_id")))
        .map(|r| text(r, "order_id"))
        .collect();
    let purchases = of("Purchase", None);
    let mut got: Vec<&str> = purchases.iter().map(|r| text(r, "x_OrderId")).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(
        purchases.iter().any(|r| text(r, "ChargeFrequency") == "Recurring"),
        "a renewal in October"
    );
    for p in &purchases {
        assert_eq!(dec(p, "EffectiveCost"), Decimal::ZERO);
        assert_eq!(dec(p, "ListUnitPrice") * dec(p, "PricingQuantity"), dec(p, "ListCost"));
    }
    assert_eq!(rows.len(), usage.len() + roundings.len() + purchases.len() + corrections.len());

    // The official validator passes the file (tests/clients/focus_check.py).
    let py = python_venv_of(
        &python312(),
        "RTCBILL_FOCUS_PYTHON",
        "py-focus",
        &["focus-validator==2.2.1", "pyarrow<20"],
    );
    for f in [&oct, &sep] {
        let v = Command::new(&py)
            .arg(repo().join("tests/clients/focus_check.py"))
            .arg(f)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&v.stdout);
        assert!(
            v.status.success(),
            "{}: {stdout}\n{}",
            f.display(),
            String::from_utf8_lossy(&v.stderr)
        );
        assert!(stdout.contains("FOCUS validation passed"), "{stdout}");
    }
}

#[test]
fn an_export_of_a_month_not_run_or_of_no_output_root_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("f.parquet");
    let sample = repo().join("sample-data");
    let s = sample.to_str().unwrap();
    // not an output root: exit 65, nothing written
    let o = export(s, &out.path().join("nothing"), "2026-10", &file);
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an rtcbill output root"));
    ok(rtcbill(&["run", "--data", s, "--out", out.path().to_str().unwrap(), "--to", "2026-09-02"]));
    let o = export(s, out.path(), "2026-10", &file);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds no billing day of 2026-10"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!file.exists());
    // a month that is not YYYY-MM: a usage error, 64 (EX_USAGE)
    let o = export(s, out.path(), "2026-13", &file);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a month YYYY-MM"));
}

#[test]
fn the_epoch_month_exports_and_a_charge_belongs_to_the_billing_day_of_its_instant() {
    // Epoch 2026-07-01. Package m-epoch (lite, 9.90) bought 2026-06-01 10:00 +08:00 renews at
    // 2026-06-30 00:00 +08:00, before the epoch: the epoch's run processes it (rules.md,
    // Epoch and opening_time). Package m-aug is bought 2026-08-01 07:59:59 +08:00: the run of
    // 2026-07-31 (window up to 08-01 08:00) processes it, but it is a charge of 2026-08-01.
    let root = DataRoot::new();
    root.usage("2026-07-01", "part-0.parquet", &[slice("u1", "2026-07-01T01:00:00Z", 60)]);
    root.usage("2026-08-01", "part-0.parquet", &[slice("u2", "2026-08-01T01:00:00Z", 60)]);
    write_packages(
        &root.path().join("packages/part-0.parquet"),
        &[
            (
                "m-epoch",
                10,
                Some(101),
                "monthly",
                "rtc_engine",
                "lite",
                "2026-06-01T02:00:00Z",
                990,
                Some(true),
            ),
            (
                "m-aug",
                10,
                Some(102),
                "monthly",
                "rtc_engine",
                "lite",
                "2026-07-31T23:59:59Z",
                990,
                Some(false),
            ),
        ],
    );
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let orders = read_dataset(out.path(), "orders");
    let aug = orders.iter().find(|r| text(r, "order_id") == "m-aug").unwrap();
    assert_eq!(text(aug, "billing_date"), "2026-07-31", "processed by the run of the day before");
    assert_eq!(
        text(
            orders.iter().find(|r| text(r, "order_id") == "m-epoch@2026-07-01").unwrap(),
            "version"
        ),
        "lite"
    );
    let files = tempfile::tempdir().unwrap();
    let (jul, augf) = (files.path().join("jul.parquet"), files.path().join("aug.parquet"));
    let data = root.path().to_str().unwrap();
    ok(export(data, out.path(), "2026-07", &jul));
    ok(export(data, out.path(), "2026-08", &augf));
    let ids = |f: &Path| -> Vec<(String, String)> {
        read_file(f)
            .iter()
            .filter(|r| text(r, "ChargeCategory") == "Purchase")
            .map(|r| (text(r, "x_OrderId").to_string(), text(r, "ChargePeriodStart").to_string()))
            .collect()
    };
    // July: the purchase and the renewal of m-epoch, both before the epoch: on the epoch's day;
    // its next renewal at 2026-07-31 00:00 +08:00, on that day.
    let mut jul_ids = ids(&jul);
    jul_ids.sort();
    let epoch_start = "2026-06-30T16:00:00Z"; // 2026-07-01 00:00 +08:00
    let pairs = |v: &[(&str, &str)]| {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>()
    };
    assert_eq!(
        jul_ids,
        pairs(&[
            ("m-epoch", epoch_start),
            ("m-epoch@2026-07-01", epoch_start),
            ("m-epoch@2026-08-01", "2026-07-30T16:00:00Z")
        ])
    );
    // August: m-aug, on 2026-08-01 (00:00 +08:00 = 07-31T16:00Z), not on the run's day.
    assert_eq!(ids(&augf), [("m-aug".to_string(), "2026-07-31T16:00:00Z".to_string())]);
    let py = python_venv_of(
        &python312(),
        "RTCBILL_FOCUS_PYTHON",
        "py-focus",
        &["focus-validator==2.2.1", "pyarrow<20"],
    );
    for f in [&jul, &augf] {
        let v = Command::new(&py)
            .arg(repo().join("tests/clients/focus_check.py"))
            .arg(f)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{}: {}\n{}",
            f.display(),
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
}

#[test]
fn a_bill_withdrawn_then_issued_again_is_corrected_by_both_changes() {
    // rules.md, Revisions. July 31: 600 s of video_4k (app 101, no package): 10 min x 35.99 /
    // 1000 = 0.3599, billed 0.36 and exported with July. A top-up of 25,000 package minutes
    // bought that day, found late by the nightly whose last day is 2026-08-03, covers the 360
    // package minutes: the bill is withdrawn (an August correction of -0.36). Late usage of
    // 48,000 s more, found by the nightly whose last day is 2026-09-01, makes 810 min: the
    // top-up covers floor(25,000 / 36) = 694, the 116 left are 116 x 35.99 / 1000 = 4.17484:
    // the bill is issued again at 4.17, revision 2 (a September correction of +4.17). What
    // July billed plus the corrections is what the bill is now: 0.36 - 0.36 + 4.17.
    let root = DataRoot::new();
    let data = root.path().to_str().unwrap();
    let video = |id, s| Slice { class: Some("video_4k"), ..slice(id, "2026-07-31T01:00:00Z", s) };
    root.usage("2026-07-31", "part-0.parquet", &[video("u1", 600)]);
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let files = tempfile::tempdir().unwrap();
    let file = |m: &str| files.path().join(format!("focus-{m}.parquet"));
    let corrections = |m: &str| -> Vec<(String, Decimal)> {
        read_file(&file(m))
            .iter()
            .filter(|r| r["ChargeClass"].as_str() == Some("Correction"))
            .map(|r| (text(r, "InvoiceId").to_string(), dec(r, "BilledCost")))
            .collect()
    };
    let bill = "daily-10-20260731".to_string();

    ok(rtcbill(&["nightly", "--data", data, "--out", o, "--today", "2026-08-03"]));
    ok(export(data, out.path(), "2026-07", &file("2026-07")));
    let july: Decimal = read_file(&file("2026-07"))
        .iter()
        .filter(|r| text(r, "InvoiceId") == bill)
        .map(|r| dec(r, "BilledCost"))
        .sum();
    assert_eq!(july, "0.36".parse().unwrap());

    write_packages(
        &root.path().join("packages/part-0.parquet"),
        &[("t1", 10, Some(101), "topup", "rtc_engine", "25k", "2026-07-31T02:00:00Z", 2400, None)],
    );
    ok(rtcbill(&["nightly", "--data", data, "--out", o, "--today", "2026-08-04"]));
    assert!(read_dataset(out.path(), "bills").is_empty());
    root.usage("2026-07-31", "late-0.parquet", &[video("u2", 48_000)]);
    ok(rtcbill(&["nightly", "--data", data, "--out", o, "--today", "2026-09-02"]));
    let bills = read_dataset(out.path(), "bills");
    assert_eq!(bills.len(), 1, "{bills:?}");
    assert_eq!(
        (dec(&bills[0], "amount"), int(&bills[0], "revision")),
        ("4.17".parse().unwrap(), 2)
    );

    ok(export(data, out.path(), "2026-08", &file("2026-08")));
    let sep = ok(export(data, out.path(), "2026-09", &file("2026-09")));
    // (September is billed to its 1st only: the export says so)
    let said = String::from_utf8_lossy(&sep.stderr);
    assert!(said.contains("only 1 of the month's 30 days are billed"), "{said}");
    assert_eq!(corrections("2026-08"), [(bill.clone(), "-0.36".parse().unwrap())]);
    assert_eq!(corrections("2026-09"), [(bill.clone(), "4.17".parse().unwrap())]);
    let revs: Vec<(i64, Option<i64>, Decimal, Decimal)> =
        read_dataset(out.path(), "bill_revisions")
            .iter()
            .map(|r| {
                (
                    int(r, "revision"),
                    r["replaced_by_revision"].as_i64(),
                    dec(r, "amount"),
                    dec(r, "change"),
                )
            })
            .collect();
    assert_eq!(
        revs,
        [
            (1, Some(2), Decimal::ZERO, "4.17".parse().unwrap()),
            (1, None, "0.36".parse().unwrap(), "-0.36".parse().unwrap()),
        ]
    );
    // verify holds, and names the bill when the reissue's row is gone (the defect before).
    let verify = || rtcbill(&["verify", "--data", data, "--outputs", o]);
    ok(verify());
    let revisions = out.path().join("bill_revisions/billing_date=2026-07-31/part-0.parquet");
    edit_parquet(&revisions, |b| drop_row(b, 0));
    let v = verify();
    let said = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "first billed 0.36, changed by -0.36 in bill_revisions, but it bills 4.17 now"
        ),
        "{said}"
    );
}

//! rules.md, Metering through the binary: the reject reasons and their order, duplicates, the
//! ceil at the day total, and the accounting identity raw = accepted + rejected + collapsed.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, LargeStringArray, TimestampNanosecondArray};

use serde_json::Value;

use crate::common::*;

fn usage_row<'a>(rows: &'a [Row], app: i64, class: &str) -> &'a Row {
    rows.iter()
        .find(|r| int(r, "app_id") == app && text(r, "usage_class") == class)
        .unwrap_or_else(|| panic!("no usage_daily row for {app} {class}: {rows:?}"))
}

#[test]
fn billable_minutes_are_the_ceil_of_the_day_total() {
    // rules.md, Metering: ceil(sum(seconds) / 60) per (app, day, class), not per slice.
    // Billing day 2026-02-10 (+08:00) is 2026-02-09T16:00Z .. 2026-02-10T16:00Z.
    let root = DataRoot::new();
    let mut rows = vec![
        slice("a1", "2026-02-09T16:00:00Z", 30),
        slice("a2", "2026-02-10T01:00:00Z", 30),
        slice("a3", "2026-02-10T15:59:59Z", 1),
    ];
    // app 102: 59 s of video_hd → 1 minute, 4 package minutes; 0 s of video_fhd → 0 minutes.
    rows.push(Slice {
        app_id: Some(102),
        class: Some("video_hd"),
        ..slice("b1", "2026-02-10T02:00:00Z", 59)
    });
    rows.push(Slice {
        app_id: Some(102),
        class: Some("video_fhd"),
        ..slice("b2", "2026-02-10T02:00:00Z", 0)
    });
    root.usage("2026-02-10", "part-0.parquet", &rows);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let u = read_dataset(out.path(), "usage_daily");
    assert_eq!(u.len(), 3);
    let a = usage_row(&u, 101, "audio");
    assert_eq!(
        (
            int(a, "slices"),
            int(a, "seconds"),
            int(a, "billable_minutes"),
            int(a, "package_minutes")
        ),
        (3, 61, 2, 2)
    );
    let b = usage_row(&u, 102, "video_hd");
    assert_eq!(
        (int(b, "seconds"), int(b, "billable_minutes"), int(b, "package_minutes")),
        (59, 1, 4)
    );
    let c = usage_row(&u, 102, "video_fhd");
    assert_eq!(
        (int(c, "slices"), int(c, "billable_minutes"), int(c, "package_minutes")),
        (1, 0, 0)
    );
    // No package: 2 minutes of audio at 0.99 and 1 of video_hd at 3.99 per 1,000 are charged.
    let charges = read_dataset(out.path(), "charges");
    assert_eq!(charges.len(), 2, "{charges:?}");
    let bills = read_dataset(out.path(), "bills");
    // 0.00198 + 0.00399 = 0.00597 → 0.01 (rules.md, Bills, one rounding per bill).
    assert_eq!(text(&bills[0], "amount"), "0.01");
}

#[test]
fn every_reject_reason_in_order_and_the_accounting_identity() {
    let root = DataRoot::new();
    let t = "2026-02-10T04:00:00Z";
    let s =
        |e: Option<&'static str>,
         app: Option<i64>,
         class: Option<&'static str>,
         start: Option<&'static str>,
         secs: Option<i64>| Slice { event_id: e, app_id: app, class, start, seconds: secs };
    let rows = vec![
        // missing_event_id wins over every later reason
        s(None, None, None, None, None),
        s(Some(""), Some(101), Some("audio"), Some(t), Some(10)),
        // missing_start_time before unknown_app
        s(Some("m1"), Some(999), Some("audio"), None, Some(10)),
        // wrong_partition: the billing day of 2026-02-10T16:00Z is 2026-02-11
        s(Some("w1"), Some(999), Some("audio"), Some("2026-02-10T16:00:00Z"), Some(10)),
        s(Some("w2"), Some(101), Some("audio"), Some("2026-02-09T15:59:59Z"), Some(10)),
        s(Some("u1"), Some(999), Some("nope"), Some(t), Some(-1)),
        s(Some("u2"), None, Some("audio"), Some(t), Some(10)),
        s(Some("c1"), Some(101), Some("nope"), Some(t), Some(-1)),
        s(Some("i1"), Some(101), Some("audio"), Some(t), Some(-1)),
        s(Some("i2"), Some(101), Some("audio"), Some(t), Some(86_401)),
        s(Some("i3"), Some(101), Some("audio"), Some(t), None),
        // 86,400 is allowed
        s(Some("ok-max"), Some(101), Some("audio"), Some(t), Some(86_400)),
        // identical copies: counted once, two collapsed
        s(Some("same"), Some(101), Some("audio"), Some(t), Some(60)),
        s(Some("same"), Some(101), Some("audio"), Some(t), Some(60)),
        s(Some("same"), Some(101), Some("audio"), Some(t), Some(60)),
        // differing copies: all three rejected, the identical pair too
        s(Some("diff"), Some(101), Some("audio"), Some(t), Some(60)),
        s(Some("diff"), Some(101), Some("audio"), Some(t), Some(60)),
        s(Some("diff"), Some(101), Some("audio"), Some(t), Some(61)),
        // a rejected copy does not make its twin a duplicate
        s(Some("half"), Some(101), Some("audio"), Some(t), Some(5)),
        s(Some("half"), Some(101), Some("audio"), Some(t), Some(-5)),
    ];
    root.usage("2026-02-10", "part-0.parquet", &rows);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let mut got: Vec<(String, String)> = read_dataset(out.path(), "rejected_usage")
        .iter()
        .map(|r| {
            (r["event_id"].as_str().unwrap_or("<null>").to_string(), text(r, "reason").to_string())
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("<null>", "missing_event_id"),
        ("", "missing_event_id"),
        ("m1", "missing_start_time"),
        ("w1", "wrong_partition"),
        ("w2", "wrong_partition"),
        ("u1", "unknown_app"),
        ("u2", "unknown_app"),
        ("c1", "unknown_usage_class"),
        ("i1", "invalid_seconds"),
        ("i2", "invalid_seconds"),
        ("i3", "invalid_seconds"),
        ("diff", "conflicting_duplicate"),
        ("diff", "conflicting_duplicate"),
        ("diff", "conflicting_duplicate"),
        ("half", "invalid_seconds"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);

    let u = read_dataset(out.path(), "usage_daily");
    let a = usage_row(&u, 101, "audio");
    // accepted: ok-max, same (once), half (the valid copy) = 3 slices, 86400 + 60 + 5 s
    assert_eq!(
        (int(a, "slices"), int(a, "seconds"), int(a, "billable_minutes")),
        (3, 86_465, 1442)
    );
    // rules.md, Metering identity: raw 20 = accepted 3 + rejected 15 + collapsed 2
    let accepted: i64 = u.iter().map(|r| int(r, "slices")).sum();
    assert_eq!(rows.len() as i64, accepted + want.len() as i64 + 2);
}

#[test]
fn any_integer_width_string_kind_and_timestamp_unit_is_accepted() {
    // rules.md, Inputs: a second file of the same day with int32 app ids, large strings, ns
    // timestamps.
    let root = DataRoot::new();
    root.usage("2026-02-10", "part-0.parquet", &[slice("a1", "2026-02-10T01:00:00Z", 90)]);
    let ns = ts_us("2026-02-10T02:00:00Z") * 1000 + 999;
    let b = batch(vec![
        ("event_id", Arc::new(LargeStringArray::from(vec!["n1", "a1"])) as ArrayRef, false),
        ("app_id", Arc::new(Int32Array::from(vec![101, 101])), false),
        ("user_id", Arc::new(LargeStringArray::from(vec![Some("u"), None])), true),
        ("room_id", Arc::new(LargeStringArray::from(vec![None::<&str>, None])), true),
        ("usage_class", Arc::new(LargeStringArray::from(vec!["audio", "audio"])), false),
        (
            "start_time",
            Arc::new(TimestampNanosecondArray::from(vec![ns, ns]).with_timezone("+08:00")),
            false,
        ),
        ("seconds", Arc::new(Int32Array::from(vec![30, 90])), false),
    ]);
    write_parquet(&root.path().join("usage/usage_date=2026-02-10/part-1.parquet"), &b);
    let out = tempfile::tempdir().unwrap();
    run_ok(root.path(), out.path(), &[]);
    let u = read_dataset(out.path(), "usage_daily");
    let a = usage_row(&u, 101, "audio");
    // n1 accepted (30 s); "a1" appears in both files with different start times: conflicting.
    assert_eq!((int(a, "slices"), int(a, "seconds"), int(a, "billable_minutes")), (1, 30, 1));
    let rej = read_dataset(out.path(), "rejected_usage");
    assert_eq!(rej.len(), 2);
    assert!(rej.iter().all(|r| text(r, "reason") == "conflicting_duplicate"));
}

#[test]
fn odd_files_meter_the_same_both_ways() {
    // rules.md, Inputs and Reject reasons, through both metering paths: file names that read
    // as glob patterns, u8 and u16 integers, dictionary-encoded text, a time zone name outside
    // the IANA database, a
    // nanosecond time before 1970 (floored to microseconds) and a millisecond time beyond
    // what microseconds hold.
    use arrow::array::{
        DictionaryArray, StringArray, TimestampMillisecondArray, UInt16Array, UInt8Array,
    };
    use arrow::datatypes::Int32Type;
    let root = DataRoot::new();
    let day = "2026-02-10";
    root.usage(day, "part-[01].parquet", &[slice("g1", "2026-02-10T01:00:00Z", 60)]);
    root.usage(day, "part-0.parquet", &[slice("g2", "2026-02-10T01:00:00Z", 30)]);
    root.usage(day, "part-1.parquet", &[slice("g3", "2026-02-10T01:00:00Z", 15)]);
    let strs = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let ms = ts_us("2026-02-10T02:00:00Z") / 1000;
    write_parquet(
        &root.path().join(format!("usage/usage_date={day}/part-2.parquet")),
        &batch(vec![
            ("event_id", strs(vec![Some("small"), Some("far")]), false),
            ("app_id", Arc::new(UInt16Array::from(vec![101, 101])), false),
            ("user_id", strs(vec![None, None]), true),
            ("room_id", strs(vec![None, None]), true),
            ("usage_class", strs(vec![Some("audio"), Some("audio")]), false),
            (
                "start_time",
                Arc::new(
                    TimestampMillisecondArray::from(vec![ms, 2_305_844_797_535_293_952])
                        .with_timezone("Z"),
                ),
                false,
            ),
            ("seconds", Arc::new(UInt8Array::from(vec![200, 10])), false),
        ]),
    );
    write_parquet(
        &root.path().join(format!("usage/usage_date={day}/part-3.parquet")),
        &batch(vec![
            ("event_id", strs(vec![Some("old")]), false),
            ("app_id", Arc::new(Int32Array::from(vec![101])), false),
            ("user_id", strs(vec![None]), true),
            ("room_id", strs(vec![None]), true),
            // dictionary-encoded text, as pandas writes a categorical
            ("usage_class", Arc::new(DictionaryArray::<Int32Type>::from_iter(["audio"])), false),
            ("start_time", Arc::new(TimestampNanosecondArray::from(vec![-1500])), false),
            ("seconds", Arc::new(Int32Array::from(vec![10])), false),
        ]),
    );
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(root.path(), a.path(), &[]);
    run_ok(root.path(), b.path(), &["--meter", "polars"]);
    let (fa, fb) = (crate::sample::files(a.path()), crate::sample::files(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{k} differs between the metering engines");
    }

    // g1, g2, g3 and "small": 4 slices, 60 + 30 + 15 + 200 = 305 s, ceil(305 / 60) = 6 minutes.
    let u = read_dataset(a.path(), "usage_daily");
    let r = usage_row(&u, 101, "audio");
    assert_eq!((int(r, "slices"), int(r, "seconds"), int(r, "billable_minutes")), (4, 305, 6));
    let mut rej: Vec<(String, String, Value)> = read_dataset(a.path(), "rejected_usage")
        .iter()
        .map(|r| (text(r, "event_id").into(), text(r, "reason").into(), r["start_time"].clone()))
        .collect();
    rej.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        rej,
        [
            // beyond microseconds: on no billing day, its time not representable
            ("far".into(), "wrong_partition".into(), Value::Null),
            // -1500 ns floors to -2 µs: 1969-12-31T23:59:59.999998Z
            ("old".into(), "wrong_partition".into(), Value::from("1969-12-31T23:59:59.999998Z")),
        ]
    );
    let record = std::fs::read(a.path().join(format!("current/_days/{day}.json"))).unwrap();
    let m: Value = serde_json::from_slice(&record).unwrap();
    assert_eq!((&m["slices_read"], &m["slices_rejected"]), (&Value::from(6), &Value::from(2)));
}

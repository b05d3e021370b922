//! A deterministic synthetic data root (rules.md, Inputs): hand-made scenario accounts that
//! exercise every billing rule, plus random background accounts for volume. The same options give
//! the same files, byte for byte. `sample-data/` is its output with the default options.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rtcbill_schemas::{self as schemas, Dataset};
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::{
    add_days, add_months, month_start, Ts, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SECOND,
};
use crate::error::{Error, Result};
use crate::output::{write_file, Cols};

/// The catalog written with every generated data root: the default catalog of rules.md, Metering
/// and the seed's products, with a pay-as-you-go price change on 2026-10-15.
pub const CATALOG: &str = include_str!("../../sample-data/catalog.toml");

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub seed: u64,
    pub out: PathBuf,
    /// First usage day (the epoch).
    pub start: NaiveDate,
    pub days: u32,
    /// Random background accounts, besides the scenario accounts.
    pub accounts: u32,
    /// Apps per background account (1 to this many).
    pub max_apps: u32,
    /// Usage slices per app per day, on average.
    pub slices_per_app_day: u32,
    /// Most rows per usage file (a day with more is split into several files).
    pub rows_per_file: usize,
    /// Whether to add the hand-made scenario accounts and the bad usage rows.
    pub scenarios: bool,
    /// Background slices followed by a dirty row, per thousand: an identical copy, a
    /// differing copy, or a row with an unknown class (a third each).
    pub dirty_per_mille: u32,
}

/// An app: (app_id, account_id, created_at, disabled_at, violation_at).
type AppRow = (i64, i64, Ts, Option<Ts>, Option<Ts>);

#[derive(Default)]
struct Root {
    accounts: Vec<(i64, &'static str, Decimal, Ts)>,
    apps: Vec<AppRow>,
    txns: Vec<(String, i64, Ts, &'static str, Decimal)>,
    packages: Vec<Pkg>,
    events: Vec<(String, String, Ts, &'static str, Option<&'static str>)>,
    /// App usage plans: (app, first day, last day, mean minutes a day, class weights).
    plans: Vec<Plan>,
}

struct Pkg {
    id: String,
    account: i64,
    app: Option<i64>,
    kind: &'static str,
    product: &'static str,
    version: &'static str,
    quantity: Option<i32>,
    at: Ts,
    paid: Decimal,
    auto_renew: Option<bool>,
}

#[derive(Clone)]
struct Plan {
    app: i64,
    /// Mean seconds of one slice, per class (0: class not used).
    seconds: [i64; 5],
    /// Slices a day on average.
    slices: u32,
}

fn money(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

struct Clock {
    cat: Catalog,
}

impl Clock {
    /// `day` at hh:mm billing-zone time.
    fn at(&self, day: NaiveDate, hh: i64, mm: i64) -> Ts {
        self.cat.zone.start_of(day) + hh * MICROS_PER_HOUR + mm * 60 * MICROS_PER_SECOND
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().expect("literal date")
}

/// The scenario accounts (ids 1001…), each named after the rules it exercises.
fn scenarios(r: &mut Root, c: &Clock, start: NaiveDate) {
    let before = add_days(start, -1);
    let open = c.at(before, 0, 0);
    let months = [
        add_months(month_start(start), 0),
        add_months(month_start(start), 1),
        add_months(month_start(start), 2),
    ];
    let pkg = |r: &mut Root,
               id: &str,
               account: i64,
               app: Option<i64>,
               kind: &'static str,
               product: &'static str,
               version: &'static str,
               quantity: Option<i32>,
               at: Ts,
               paid: i64,
               auto_renew: Option<bool>| {
        r.packages.push(Pkg {
            id: id.into(),
            account,
            app,
            kind,
            product,
            version,
            quantity,
            at,
            paid: money(paid),
            auto_renew,
        });
    };
    let audio = |secs: i64| [secs, 0, 0, 0, 0];

    // 1001 free only: a monthly free grant runs out late in the month (free_quota_exhausted,
    // raised again after the next month's grant), daily bills of the overage.
    r.accounts.push((1001, "daily", money(5000), open));
    r.apps.push((100101, 1001, c.at(d("2026-01-05"), 10, 0), None, None));
    for (i, m) in months.iter().enumerate() {
        pkg(
            r,
            &format!("free-1001-{i}"),
            1001,
            Some(100101),
            "free",
            "rtc_engine",
            "free",
            None,
            c.at(*m, 0, 5),
            0,
            None,
        );
    }
    r.plans.push(Plan { app: 100101, seconds: audio(600), slices: 40 });

    // 1002 monthly + top-up + upgrade at a discount: lite bought at 5.00 (list 9.90), upgraded
    // to standard mid-cycle, renewed at list price; a 25k top-up ×2 for the whole account.
    r.accounts.push((1002, "daily", money(50000), open));
    r.apps.push((100201, 1002, c.at(d("2026-02-01"), 9, 0), None, None));
    r.apps.push((100202, 1002, c.at(d("2026-02-01"), 9, 5), None, None));
    pkg(
        r,
        "mon-1002",
        1002,
        Some(100201),
        "monthly",
        "rtc_engine",
        "lite",
        None,
        c.at(add_days(start, 4), 10, 0),
        500,
        None,
    );
    r.events.push((
        "upg-1002".into(),
        "mon-1002".into(),
        c.at(add_days(start, 14), 15, 30),
        "upgrade",
        Some("standard"),
    ));
    pkg(
        r,
        "top-1002",
        1002,
        None,
        "topup",
        "rtc_engine",
        "25k",
        Some(2),
        c.at(add_days(start, 9), 11, 0),
        4800,
        None,
    );
    r.plans.push(Plan { app: 100201, seconds: [900, 600, 300, 0, 0], slices: 60 });
    r.plans.push(Plan { app: 100202, seconds: audio(1200), slices: 50 });

    // 1003 monthly billing, renewal failure: a call package bought before the opening (no
    // charge), its renewal fails on a low balance (renewal_failed), overage billed monthly.
    r.accounts.push((1003, "monthly", money(3000), open));
    r.apps.push((100301, 1003, c.at(d("2025-11-11"), 8, 0), None, None));
    pkg(
        r,
        "mon-1003",
        1003,
        None,
        "monthly",
        "call",
        "standard",
        None,
        c.at(add_days(start, -7), 12, 0),
        6900,
        Some(true),
    );
    r.plans.push(Plan { app: 100301, seconds: [1500, 900, 0, 0, 0], slices: 80 });

    // 1004 arrears cleared in time: the first bill leaves the balance below 0, a recharge 12 h
    // later clears it.
    r.accounts.push((1004, "daily", money(100), open));
    r.apps.push((100401, 1004, c.at(d("2026-03-03"), 8, 0), None, None));
    r.plans.push(Plan { app: 100401, seconds: [3000, 600, 0, 0, 0], slices: 50 });
    r.txns.push((
        "tx-1004-1".into(),
        1004,
        c.at(add_days(start, 1), 20, 0),
        "recharge",
        money(20000),
    ));

    // 1005 suspended, then restored by a recharge four days later.
    r.accounts.push((1005, "daily", money(50), open));
    r.apps.push((100501, 1005, c.at(d("2026-03-03"), 8, 0), None, None));
    r.plans.push(Plan { app: 100501, seconds: [3000, 600, 0, 0, 0], slices: 30 });
    r.txns.push((
        "tx-1005-1".into(),
        1005,
        c.at(add_days(start, 5), 9, 0),
        "recharge",
        money(30000),
    ));

    // 1006 never pays: in arrears, suspended, reclaimed 60 days later; the reclaim clears its
    // top-up. A refund and an adjustment move the balance without starting arrears.
    r.accounts.push((1006, "daily", money(0), open));
    r.apps.push((100601, 1006, c.at(d("2026-04-04"), 8, 0), None, None));
    r.apps.push((100602, 1006, c.at(d("2026-04-04"), 8, 0), None, None));
    pkg(
        r,
        "top-1006",
        1006,
        Some(100602),
        "topup",
        "rtc_engine",
        "25k",
        Some(1),
        c.at(add_days(start, -20), 9, 0),
        2400,
        None,
    );
    r.plans.push(Plan { app: 100601, seconds: [0, 0, 0, 0, 400], slices: 5 });
    r.txns.push(("tx-1006-1".into(), 1006, c.at(add_days(start, 20), 9, 0), "refund", money(-100)));
    r.txns.push((
        "tx-1006-2".into(),
        1006,
        c.at(add_days(start, 21), 9, 0),
        "adjustment",
        money(50),
    ));

    // 1007 app events: one app disabled, one suspended for a violation before the epoch whose
    // app packages are reclaimed 60 days after it.
    r.accounts.push((1007, "daily", money(20000), open));
    r.apps.push((
        100701,
        1007,
        c.at(d("2026-05-05"), 8, 0),
        Some(c.at(add_days(start, 9), 3, 0)),
        None,
    ));
    r.apps.push((
        100702,
        1007,
        c.at(d("2026-05-05"), 8, 0),
        None,
        Some(c.at(add_days(start, -12), 14, 0)),
    ));
    pkg(
        r,
        "top-1007",
        1007,
        Some(100702),
        "topup",
        "rtc_engine",
        "250k",
        Some(1),
        c.at(add_days(start, -30), 9, 0),
        22700,
        None,
    );
    r.plans.push(Plan { app: 100701, seconds: audio(800), slices: 20 });
    r.plans.push(Plan { app: 100702, seconds: [600, 300, 0, 0, 0], slices: 20 });

    // 1008 orders that are rejected, and auto-renew switched off.
    r.accounts.push((1008, "daily", money(10000), open));
    r.apps.push((100801, 1008, c.at(d("2026-06-06"), 8, 0), None, None));
    let t = |n: i64, h: i64| c.at(add_days(start, n), h, 0);
    pkg(
        r,
        "mon-1008",
        1008,
        Some(100801),
        "monthly",
        "rtc_engine",
        "lite",
        None,
        t(1, 10),
        990,
        None,
    );
    // overlapping_monthly
    pkg(
        r,
        "mon-1008-dup",
        1008,
        Some(100801),
        "monthly",
        "rtc_engine",
        "standard",
        None,
        t(9, 10),
        9900,
        None,
    );
    // invalid_quantity
    pkg(r, "top-1008-q0", 1008, None, "topup", "rtc_engine", "25k", Some(0), t(2, 10), 0, None);
    // unknown_version
    pkg(r, "mon-1008-x", 1008, None, "monthly", "rtc_engine", "ultra", None, t(2, 11), 1000, None);
    // insufficient_balance
    pkg(r, "top-1008-1m", 1008, None, "topup", "rtc_engine", "1m", Some(1), t(3, 10), 85600, None);
    pkg(
        r,
        "bar-1008",
        1008,
        Some(100801),
        "monthly",
        "beauty_ar",
        "standard",
        None,
        t(3, 11),
        4900,
        None,
    );
    pkg(
        r,
        "call-1008-old",
        1008,
        None,
        "monthly",
        "call",
        "lite",
        None,
        c.at(add_days(start, -62), 10, 0),
        1900,
        Some(false),
    );
    // not_higher_version
    r.events.push(("upg-1008-down".into(), "mon-1008".into(), t(4, 10), "upgrade", Some("free")));
    // not_upgradable
    r.events.push(("upg-1008-bar".into(), "bar-1008".into(), t(4, 11), "upgrade", Some("pro")));
    r.events.push((
        "upg-1008-old".into(),
        "call-1008-old".into(),
        t(4, 12),
        "upgrade",
        Some("pro"),
    )); // not_in_force
    r.events.push((
        "upg-1008-none".into(),
        "no-such-package".into(),
        t(4, 13),
        "upgrade",
        Some("pro"),
    )); // unknown_package
    r.events.push(("ar-1008-off".into(), "mon-1008".into(), t(20, 10), "auto_renew_off", None));
    r.plans.push(Plan { app: 100801, seconds: [1200, 600, 0, 0, 0], slices: 30 });

    // 1009 monthly billing across the 2026-10-15 price change: two lines per class in October.
    r.accounts.push((1009, "monthly", money(100000), open));
    r.apps.push((100901, 1009, c.at(d("2026-07-07"), 8, 0), None, None));
    r.plans.push(Plan { app: 100901, seconds: [900, 900, 600, 300, 120], slices: 40 });
}

fn background(r: &mut Root, rng: &mut ChaCha8Rng, c: &Clock, o: &GenerateOptions) {
    let open = c.at(add_days(o.start, -1), 0, 0);
    let products: [(&str, &str, i64); 5] = [
        ("rtc_engine", "lite", 990),
        ("rtc_engine", "standard", 9900),
        ("call", "lite", 1900),
        ("live", "lite", 2900),
        ("conference", "standard", 5900),
    ];
    for i in 0..o.accounts as i64 {
        let id = 2001 + i;
        let mode = if rng.random_range(0..5) == 0 { "monthly" } else { "daily" };
        r.accounts.push((id, mode, money(rng.random_range(0..50_000)), open));
        let n_apps = rng.random_range(1..=o.max_apps.max(1)) as i64;
        for a in 0..n_apps {
            let app = id * 100 + a + 1;
            r.apps.push((app, id, open - 86_400 * MICROS_PER_SECOND * 30, None, None));
            let mut seconds = [0i64; 5];
            for (k, s) in seconds.iter_mut().enumerate() {
                if k == 0 || rng.random_range(0..(k as u32 + 2)) == 0 {
                    *s = rng.random_range(60..1800);
                }
            }
            r.plans.push(Plan {
                app,
                seconds,
                slices: rng.random_range(1..=2 * o.slices_per_app_day.max(1)),
            });
        }
        let mut m = month_start(o.start);
        while m < add_days(o.start, o.days as i64) {
            r.packages.push(Pkg {
                id: format!("free-{id}-{}", m.format("%Y%m")),
                account: id,
                app: None,
                kind: "free",
                product: "rtc_engine",
                version: "free",
                quantity: None,
                at: c.at(m, 0, 1),
                paid: Decimal::ZERO,
                auto_renew: None,
            });
            m = add_months(m, 1);
        }
        if rng.random_range(0..3) == 0 {
            let (product, version, price) = products[rng.random_range(0..products.len())];
            r.packages.push(Pkg {
                id: format!("mon-{id}"),
                account: id,
                app: Some(id * 100 + 1),
                kind: "monthly",
                product,
                version,
                quantity: None,
                at: c.at(add_days(o.start, rng.random_range(0..20)), rng.random_range(0..24), 0),
                paid: money(price),
                auto_renew: Some(rng.random_range(0..4) != 0),
            });
        }
        for k in 0..rng.random_range(0..3) {
            r.txns.push((
                format!("tx-{id}-{k}"),
                id,
                c.at(
                    add_days(o.start, rng.random_range(0..o.days as i64)),
                    rng.random_range(0..24),
                    0,
                ),
                "recharge",
                money(rng.random_range(1..20) * 1000),
            ));
        }
    }
}

fn werr(path: &Path, m: String) -> Error {
    Error::Write { path: path.to_path_buf(), msg: m }
}

fn write(out: &Path, ds: &'static Dataset, b: crate::output::Batch) -> Result<()> {
    let dir = out.join(ds.name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join("part-0.parquet");
    let (_, b) = b.map_err(|m| werr(&path, m.into()))?;
    write_file(&path, ds, &b)
}

/// One usage row.
type Slice = (
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Ts>,
    Option<i64>,
);

fn write_usage(path: &Path, rows: &[Slice]) -> Result<()> {
    let b = Cols::new(&schemas::USAGE)
        .str("event_id", rows.iter().map(|r| r.0.as_deref()))
        .i64("app_id", rows.iter().map(|r| r.1))
        .str("user_id", rows.iter().map(|r| r.2.as_deref()))
        .str("room_id", rows.iter().map(|r| r.3.as_deref()))
        .str("usage_class", rows.iter().map(|r| r.4.as_deref()))
        .ts("start_time", rows.iter().map(|r| r.5))
        .i64("seconds", rows.iter().map(|r| r.6))
        .finish();
    let (_, b) = b.map_err(|m| werr(path, m.into()))?;
    write_file(path, &schemas::USAGE, &b)
}

/// The bad rows of one day (rules.md, Reject reasons and duplicates), on a few days only.
fn bad_rows(day_index: u32, c: &Clock, day: NaiveDate) -> Vec<Slice> {
    if day_index % 7 != 2 {
        return Vec::new();
    }
    let t = c.at(day, 12, 0);
    let s = |x: &str| Some(x.to_string());
    let id = |k: &str| Some(format!("bad-{}-{k}", day.format("%Y%m%d")));
    let ok = |e: Option<String>, secs: i64| {
        (e, Some(100101), s("u1"), s("r1"), s("audio"), Some(t), Some(secs))
    };
    let mut v = vec![
        (None, Some(100101), s("u1"), s("r1"), s("audio"), Some(t), Some(60)),
        (s(""), Some(100101), s("u1"), s("r1"), s("audio"), Some(t), Some(60)),
        (id("nostart"), Some(100101), s("u1"), s("r1"), s("audio"), None, Some(60)),
        (
            id("nextday"),
            Some(100101),
            s("u1"),
            s("r1"),
            s("audio"),
            Some(t + MICROS_PER_DAY),
            Some(60),
        ),
        (id("noapp"), Some(999_999), s("u1"), s("r1"), s("audio"), Some(t), Some(60)),
        (id("noclass"), Some(100101), s("u1"), s("r1"), s("video_8k"), Some(t), Some(60)),
        (id("negative"), Some(100101), s("u1"), s("r1"), s("audio"), Some(t), Some(-5)),
        (id("toolong"), Some(100101), s("u1"), s("r1"), s("audio"), Some(t), Some(86_401)),
        (id("nullsecs"), Some(100101), s("u1"), s("r1"), s("audio"), Some(t), None),
    ];
    // identical copies collapse; differing copies are all rejected
    v.push(ok(id("dup-same"), 61));
    v.push(ok(id("dup-same"), 61));
    v.push(ok(id("dup-diff"), 30));
    v.push(ok(id("dup-diff"), 31));
    v
}

/// Writes the data root.
pub fn generate(o: &GenerateOptions) -> Result<()> {
    // Files of an earlier root left beside these would be read with them.
    if std::fs::read_dir(&o.out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::Invalid(format!(
            "--out {} is not empty: generate writes a whole data root (remove it first)",
            o.out.display()
        )));
    }
    // A root `run` takes: its catalog prices days from 2020-01-01, and every instant lies in
    // the years 1 to 9999 (rules.md, Inputs; the scenarios reach past the last day).
    let end = o.start.checked_add_days(chrono::Days::new(u64::from(o.days)));
    let (low, high) = (NaiveDate::from_ymd_opt(2020, 1, 1), NaiveDate::from_ymd_opt(9998, 12, 31));
    if Some(o.start) < low || end.is_none() || end > high {
        return Err(Error::Invalid(format!(
            "--start {} and --days {}: the days must lie from 2020-01-01 (the generated \
             catalog's first prices) to 9998-12-31 (every instant in the years 1 to 9999)",
            o.start, o.days
        )));
    }
    let cat = crate::catalog_file::parse(CATALOG).map_err(Error::Invalid)?;
    let c = Clock { cat };
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut r = Root::default();
    if o.scenarios {
        scenarios(&mut r, &c, o.start);
    }
    background(&mut r, &mut rng, &c, o);

    let out = &o.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let cat_path = out.join("catalog.toml");
    std::fs::write(&cat_path, CATALOG).map_err(|e| Error::io(&cat_path, e))?;
    let a = &r.accounts;
    write(
        out,
        &schemas::ACCOUNTS,
        Cols::new(&schemas::ACCOUNTS)
            .i64("account_id", a.iter().map(|x| Some(x.0)))
            .str("billing_mode", a.iter().map(|x| Some(x.1)))
            .dec("opening_balance", a.iter().map(|x| Some(x.2)))
            .and_then(|b| b.ts("opening_time", a.iter().map(|x| Some(x.3))).finish()),
    )?;
    let p = &r.apps;
    write(
        out,
        &schemas::APPS,
        Cols::new(&schemas::APPS)
            .i64("app_id", p.iter().map(|x| Some(x.0)))
            .i64("account_id", p.iter().map(|x| Some(x.1)))
            .ts("created_at", p.iter().map(|x| Some(x.2)))
            .ts("disabled_at", p.iter().map(|x| x.3))
            .ts("violation_at", p.iter().map(|x| x.4))
            .finish(),
    )?;
    let t = &r.txns;
    write(
        out,
        &schemas::TRANSACTIONS,
        Cols::new(&schemas::TRANSACTIONS)
            .str("txn_id", t.iter().map(|x| Some(x.0.as_str())))
            .i64("account_id", t.iter().map(|x| Some(x.1)))
            .ts("time", t.iter().map(|x| Some(x.2)))
            .str("kind", t.iter().map(|x| Some(x.3)))
            .dec("amount", t.iter().map(|x| Some(x.4)))
            .and_then(|b| b.finish()),
    )?;
    let k = &r.packages;
    write(
        out,
        &schemas::PACKAGES,
        Cols::new(&schemas::PACKAGES)
            .str("package_id", k.iter().map(|x| Some(x.id.as_str())))
            .i64("account_id", k.iter().map(|x| Some(x.account)))
            .i64("app_id", k.iter().map(|x| x.app))
            .str("kind", k.iter().map(|x| Some(x.kind)))
            .str("product", k.iter().map(|x| Some(x.product)))
            .str("version", k.iter().map(|x| Some(x.version)))
            .i32("quantity", k.iter().map(|x| x.quantity))
            .ts("purchased_at", k.iter().map(|x| Some(x.at)))
            .dec("paid_price", k.iter().map(|x| Some(x.paid)))
            .and_then(|b| b.bool("auto_renew", k.iter().map(|x| x.auto_renew)).finish()),
    )?;
    let e = &r.events;
    write(
        out,
        &schemas::PACKAGE_EVENTS,
        Cols::new(&schemas::PACKAGE_EVENTS)
            .str("event_id", e.iter().map(|x| Some(x.0.as_str())))
            .str("package_id", e.iter().map(|x| Some(x.1.as_str())))
            .ts("time", e.iter().map(|x| Some(x.2)))
            .str("kind", e.iter().map(|x| Some(x.3)))
            .str("target_version", e.iter().map(|x| x.4))
            .finish(),
    )?;

    let classes: Vec<String> = c.cat.classes.iter().map(|k| k.name.clone()).collect();
    for i in 0..o.days {
        let day = add_days(o.start, i as i64);
        let dir = crate::partition::dir(&out.join("usage"), schemas::USAGE_PARTITION_KEY, day);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let day0 = c.cat.zone.start_of(day);
        let mut rows: Vec<Slice> = if o.scenarios { bad_rows(i, &c, day) } else { Vec::new() };
        let mut part = 0;
        let mut n = 0u64;
        for plan in &r.plans {
            let slices = rng.random_range(0..=2 * plan.slices);
            for _ in 0..slices {
                let used: Vec<usize> = (0..5).filter(|&k| plan.seconds[k] > 0).collect();
                let k = used[rng.random_range(0..used.len())];
                let secs = rng.random_range(1..=2 * plan.seconds[k]).min(86_400);
                n += 1;
                rows.push((
                    Some(format!("{}-{}-{n}", day.format("%Y%m%d"), plan.app)),
                    Some(plan.app),
                    Some(format!("u{}", rng.random_range(0..1000))),
                    Some(format!("r{}", rng.random_range(0..100))),
                    Some(classes[k].clone()),
                    Some(
                        day0 + rng.random_range(0..MICROS_PER_DAY / MICROS_PER_SECOND)
                            * MICROS_PER_SECOND,
                    ),
                    Some(secs),
                ));
                if o.dirty_per_mille > 0 && rng.random_range(0..1000) < o.dirty_per_mille {
                    let mut copy = rows.last().expect("just pushed").clone();
                    match rng.random_range(0..3) {
                        0 => {}
                        1 => copy.6 = copy.6.map(|s| s + 1),
                        _ => copy.4 = Some("video_8k".into()),
                    }
                    rows.push(copy);
                }
                if rows.len() >= o.rows_per_file {
                    write_usage(&dir.join(format!("part-{part}.parquet")), &rows)?;
                    rows.clear();
                    part += 1;
                }
            }
        }
        if !rows.is_empty() || part == 0 {
            write_usage(&dir.join(format!("part-{part}.parquet")), &rows)?;
        }
    }
    Ok(())
}

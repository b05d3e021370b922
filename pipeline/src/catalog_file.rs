//! Reading `catalog.toml` (rules.md, Inputs) into the core's [`Catalog`]: every setting checked,
//! money as decimals (never floats), each error naming the entry.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use rtcbill_core::catalog::{Catalog, Topup, UsageClass, Version};
use rtcbill_core::clock::Zone;

use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    billing: RawBilling,
    usage_classes: Vec<RawClass>,
    payg: Vec<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    versions: Vec<RawVersion>,
    #[serde(default)]
    topups: Vec<RawTopup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBilling {
    #[serde(default = "default_offset")]
    utc_offset: String,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default = "default_grace")]
    grace_hours: i64,
    #[serde(default = "default_reclaim")]
    reclaim_days: i64,
}

fn default_offset() -> String {
    "+08:00".into()
}
fn default_currency() -> String {
    "USD".into()
}
fn default_grace() -> i64 {
    24
}
fn default_reclaim() -> i64 {
    60
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: String,
    ratio: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    product: String,
    version: String,
    rank: i64,
    minutes: i64,
    list_price: toml::Value,
    effective_from: toml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopup {
    spec: String,
    minutes: i64,
    list_price: toml::Value,
    effective_from: toml::Value,
}

/// Parses `+08:00` / `-05:30` / `Z` into seconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" || s == "+00:00" || s == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 || h < 0 || m < 0 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Longest grace (ten years) and reclaim delay (a hundred years) a catalog may set.
const MAX_GRACE_HOURS: i64 = 87_600;
const MAX_RECLAIM_DAYS: i64 = 36_500;
/// Largest class ratio (rules.md lists 1 to 36) and minutes in a version or top-up block (its
/// largest is 1,000,000): far beyond any real catalog, and far enough from i64's range that
/// package minutes (a block times a quantity of int32, billable minutes times a ratio) and
/// their sums cannot wrap.
const MAX_RATIO: i64 = 10_000;
const MAX_MINUTES: i64 = 1_000_000_000;

/// Reads and checks a `catalog.toml`.
pub fn load(path: &Path) -> Result<Catalog> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => {
            Error::Input { file: path.to_path_buf(), msg: "not UTF-8 text".into() }
        }
        _ => Error::io(path, e),
    })?;
    parse(&text).map_err(|msg| Error::Input { file: path.to_path_buf(), msg })
}

/// Parses and checks the text of a `catalog.toml`.
pub fn parse(text: &str) -> std::result::Result<Catalog, String> {
    let raw: RawCatalog =
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
    let offset = parse_offset(&raw.billing.utc_offset).ok_or_else(|| {
        format!("[billing] utc_offset: {:?} is not an offset like +08:00", raw.billing.utc_offset)
    })?;
    // Bounded so the clock's arithmetic stays within its calendar (a reclaim a million years
    // on would overflow the dates it is counted in).
    if !(0..=MAX_GRACE_HOURS).contains(&raw.billing.grace_hours)
        || !(0..=MAX_RECLAIM_DAYS).contains(&raw.billing.reclaim_days)
    {
        return Err(format!(
            "[billing] grace_hours must be 0 to {MAX_GRACE_HOURS} and reclaim_days 0 to \
             {MAX_RECLAIM_DAYS}"
        ));
    }
    if raw.usage_classes.is_empty() {
        return Err("[[usage_classes]]: at least one class is needed".into());
    }
    let mut classes = Vec::new();
    for c in raw.usage_classes {
        if !(1..=MAX_RATIO).contains(&c.ratio) {
            return Err(format!("[[usage_classes]] {}: ratio must be 1 to {MAX_RATIO}", c.name));
        }
        if classes.iter().any(|x: &UsageClass| x.name == c.name) {
            return Err(format!("[[usage_classes]] {}: listed twice", c.name));
        }
        classes.push(UsageClass { name: c.name, ratio: c.ratio });
    }
    let mut payg = Vec::new();
    for (i, mut entry) in raw.payg.into_iter().enumerate() {
        let from = entry
            .remove("effective_from")
            .ok_or_else(|| format!("[[payg]] #{}: effective_from missing", i + 1))?;
        let from = date(&from).map_err(|e| format!("[[payg]] #{} effective_from: {e}", i + 1))?;
        let mut prices = Vec::new();
        for c in &classes {
            let v = entry
                .remove(&c.name)
                .ok_or_else(|| format!("[[payg]] {from}: no price for class {}", c.name))?;
            prices.push(money(&v, 3).map_err(|e| format!("[[payg]] {from} {}: {e}", c.name))?);
        }
        if let Some(k) = entry.keys().next() {
            return Err(format!("[[payg]] {from}: {k} is not a usage class"));
        }
        payg.push((from, prices));
    }
    payg.sort_by_key(|p| p.0);
    if first_repeat(payg.iter().map(|p| p.0)).is_some() {
        return Err("[[payg]]: two entries share an effective_from".into());
    }
    let mut versions = Vec::new();
    for v in raw.versions {
        let ctx = format!("[[versions]] {} {}", v.product, v.version);
        versions.push(Version {
            list_price: money(&v.list_price, 2).map_err(|e| format!("{ctx} list_price: {e}"))?,
            effective_from: date(&v.effective_from)
                .map_err(|e| format!("{ctx} effective_from: {e}"))?,
            minutes: minutes(v.minutes).map_err(|e| format!("{ctx} minutes: {e}"))?,
            product: v.product,
            version: v.version,
            rank: v.rank,
        });
    }
    if let Some((product, version, from)) =
        first_repeat(versions.iter().map(|v| (&v.product, &v.version, v.effective_from)))
    {
        return Err(format!(
            "[[versions]] {product} {version}: two entries share an effective_from ({from})"
        ));
    }
    let mut topups = Vec::new();
    for t in raw.topups {
        let ctx = format!("[[topups]] {}", t.spec);
        topups.push(Topup {
            list_price: money(&t.list_price, 2).map_err(|e| format!("{ctx} list_price: {e}"))?,
            effective_from: date(&t.effective_from)
                .map_err(|e| format!("{ctx} effective_from: {e}"))?,
            minutes: minutes(t.minutes).map_err(|e| format!("{ctx} minutes: {e}"))?,
            spec: t.spec,
        });
    }
    if let Some((spec, from)) = first_repeat(topups.iter().map(|t| (&t.spec, t.effective_from))) {
        return Err(format!("[[topups]] {spec}: two entries share an effective_from ({from})"));
    }
    // ISO 4217's shape: bills, orders and the FOCUS export carry it as such.
    let cur = &raw.billing.currency;
    if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "[billing] currency: {cur:?} is not a code of three capital letters such as \"USD\""
        ));
    }
    Ok(Catalog::new(
        Zone::from_seconds(offset),
        raw.billing.utc_offset,
        raw.billing.currency,
        raw.billing.grace_hours,
        raw.billing.reclaim_days,
        classes,
        payg,
        versions,
        topups,
    ))
}

/// The first key seen twice. Two entries in force from the same day would make the one used
/// depend on file order.
fn first_repeat<K: Ord + Clone>(keys: impl IntoIterator<Item = K>) -> Option<K> {
    let mut seen = std::collections::BTreeSet::new();
    keys.into_iter().find(|k| !seen.insert(k.clone()))
}

fn date(v: &toml::Value) -> std::result::Result<NaiveDate, String> {
    match v {
        toml::Value::String(s) => s.parse().map_err(|_| format!("{s:?} is not a date YYYY-MM-DD")),
        toml::Value::Datetime(d) => {
            d.to_string().parse().map_err(|_| format!("{d} is not a date YYYY-MM-DD"))
        }
        other => Err(format!("{other} is not a date")),
    }
}

/// A price: a string of decimals (or an integer), at most `max_scale` decimals, ≥ 0.
fn money(v: &toml::Value, max_scale: u32) -> std::result::Result<Decimal, String> {
    let d = match v {
        toml::Value::String(s) => {
            Decimal::from_str(s).map_err(|_| format!("{s:?} is not a decimal"))?
        }
        toml::Value::Integer(i) => Decimal::from(*i),
        other => {
            return Err(format!(
                "{other} must be a string of decimals such as \"0.99\" (no floats for money)"
            ))
        }
    };
    if d.normalize().scale() > max_scale {
        return Err(format!("{d} has more than {max_scale} decimals"));
    }
    if d.is_sign_negative() {
        return Err(format!("{d} is negative"));
    }
    // A price times a day's minutes must stay far inside what a decimal holds, and a unit
    // price must fit its output column (decimal(18, 6)).
    if d >= Decimal::from(MAX_PRICE) {
        return Err(format!("{d} is too large (a price is below {MAX_PRICE})"));
    }
    Ok(d)
}

/// The bound on any catalog price: 10^12.
const MAX_PRICE: i64 = 1_000_000_000_000;

fn minutes(n: i64) -> std::result::Result<i64, String> {
    if n < 0 {
        Err(format!("{n} is negative"))
    } else if n > MAX_MINUTES {
        Err(format!("{n} is above {MAX_MINUTES}"))
    } else {
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const CATALOG: &str = r#"
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
[[payg]]
effective_from = "2020-01-01"
audio = "0.99"
video_hd = "3.99"
[[payg]]
effective_from = "2026-03-15"
audio = "0.89"
video_hd = "3.49"
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
"#;

    #[test]
    fn a_price_too_large_to_bill_is_refused_naming_its_key() {
        for price in ["\"1000000000000\"", "\"9999999999999999999999999999\""] {
            let text =
                CATALOG.replacen("list_price = \"9.90\"", &format!("list_price = {price}"), 1);
            let e = parse(&text).unwrap_err();
            assert!(e.contains("list_price") && e.contains("too large"), "{e}");
        }
        assert!(parse(&CATALOG.replacen("\"9.90\"", "\"999999999999.99\"", 1)).is_ok());
    }

    #[test]
    fn prices_in_force_follow_effective_from() {
        let c = parse(CATALOG).unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(c.payg(0, d("2026-03-14")), Some(Decimal::from_str("0.99").unwrap()));
        assert_eq!(c.payg(0, d("2026-03-15")), Some(Decimal::from_str("0.89").unwrap()));
        assert_eq!(c.payg(1, d("2019-12-31")), None);
        assert_eq!(c.version("rtc_engine", "lite", d("2026-01-01")).unwrap().minutes, 50000);
        assert_eq!(c.topup("25k", d("2026-01-01")).unwrap().list_price, Decimal::from(24));
        assert_eq!(c.zone.offset_us, 8 * 3600 * 1_000_000);
    }

    #[test]
    fn bad_catalogs_say_what_is_wrong() {
        let e = parse(&CATALOG.replace("audio = \"0.99\"", "audio = 0.99")).unwrap_err();
        assert!(e.contains("no floats for money"), "{e}");
        let e = parse(&CATALOG.replace("\"+08:00\"", "\"8h\"")).unwrap_err();
        assert!(e.contains("utc_offset"), "{e}");
        let e = parse(&CATALOG.replace("video_hd = \"3.99\"", "")).unwrap_err();
        assert!(e.contains("no price for class video_hd"), "{e}");
        assert_eq!(parse_offset("-05:30"), Some(-(5 * 3600 + 30 * 60)));
        // rules.md, Packages: a version in force from the same day twice, with other minutes,
        // would bill by file order.
        let lite = "[[versions]]\nproduct = \"rtc_engine\"\nversion = \"lite\"\nrank = 1\n";
        let twice = CATALOG.replacen(
            lite,
            &format!(
                "{lite}minutes = 1\nlist_price = \"9.90\"\neffective_from = \"2020-01-01\"\n{lite}"
            ),
            1,
        );
        assert_ne!(twice, CATALOG);
        let e = parse(&twice).unwrap_err();
        assert!(e.contains("[[versions]] rtc_engine lite: two entries share"), "{e}");
        for bad in ["", "usd", "€", " USD", "USDX", "US"] {
            let e = parse(&CATALOG.replace("currency = \"USD\"", &format!("currency = {bad:?}")))
                .unwrap_err();
            assert!(e.contains("currency"), "{e}");
        }
    }
}

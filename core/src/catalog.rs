//! The catalog (rules.md, Inputs): billing settings, usage classes, pay-as-you-go prices,
//! package versions and top-up specs, each priced with `effective_from` history. Look-ups use
//! the entry in force on a billing day (rules.md, Packages: greatest `effective_from` ≤ that
//! day). Reading `catalog.toml` is the pipeline's; this is what the engine asks of it.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::clock::Zone;

#[derive(Debug, Clone, Serialize)]
pub struct UsageClass {
    pub name: String,
    /// Package minutes per usage minute (rules.md, Class ratios).
    pub ratio: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub product: String,
    pub version: String,
    pub rank: i64,
    pub minutes: i64,
    pub list_price: Decimal,
    pub effective_from: NaiveDate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Topup {
    pub spec: String,
    pub minutes: i64,
    pub list_price: Decimal,
    pub effective_from: NaiveDate,
}

/// (effective_from, price per 1,000 minutes by class index).
pub type PaygEntry = (NaiveDate, Vec<Decimal>);

/// Serialized only to be hashed (the chain hash of day records).
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub zone: Zone,
    pub utc_offset: String,
    pub currency: String,
    pub grace_hours: i64,
    pub reclaim_days: i64,
    /// In deduction order (rules.md, Deduction order: step 1).
    pub classes: Vec<UsageClass>,
    /// Ascending by `effective_from`.
    payg: Vec<PaygEntry>,
    versions: Vec<Version>,
    topups: Vec<Topup>,
}

impl Catalog {
    /// A catalog from its parts, already validated by the reader; `payg` is sorted here.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        zone: Zone,
        utc_offset: String,
        currency: String,
        grace_hours: i64,
        reclaim_days: i64,
        classes: Vec<UsageClass>,
        mut payg: Vec<PaygEntry>,
        versions: Vec<Version>,
        topups: Vec<Topup>,
    ) -> Catalog {
        payg.sort_by_key(|p| p.0);
        Catalog {
            zone,
            utc_offset,
            currency,
            grace_hours,
            reclaim_days,
            classes,
            payg,
            versions,
            topups,
        }
    }

    /// Index of a usage class by name.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c.name == name)
    }

    /// Pay-as-you-go price per 1,000 minutes of a class in force on `day`.
    pub fn payg(&self, class: usize, day: NaiveDate) -> Option<Decimal> {
        self.payg_in_force(day).map(|(_, p)| p[class])
    }

    /// The `effective_from` of the pay-as-you-go prices in force on `day`.
    pub fn payg_from(&self, day: NaiveDate) -> Option<NaiveDate> {
        self.payg_in_force(day).map(|(from, _)| *from)
    }

    fn payg_in_force(&self, day: NaiveDate) -> Option<&PaygEntry> {
        self.payg.iter().rev().find(|(from, _)| *from <= day)
    }

    /// A product version in force on `day`.
    pub fn version(&self, product: &str, version: &str, day: NaiveDate) -> Option<&Version> {
        in_force(
            self.versions.iter().filter(|v| v.product == product && v.version == version),
            day,
            |v| v.effective_from,
        )
    }

    /// A top-up spec in force on `day`.
    pub fn topup(&self, spec: &str, day: NaiveDate) -> Option<&Topup> {
        in_force(self.topups.iter().filter(|t| t.spec == spec), day, |t| t.effective_from)
    }
}

fn in_force<'a, T>(
    it: impl Iterator<Item = &'a T>,
    day: NaiveDate,
    from: impl Fn(&T) -> NaiveDate,
) -> Option<&'a T> {
    it.filter(|x| from(x) <= day).max_by_key(|x| from(x))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::str::FromStr;

    use super::*;

    /// The engine tests' catalog: two classes (audio 1, video_hd 4), a price change on
    /// 2026-03-15, the rtc_engine versions, beauty_ar, one top-up spec. The same as
    /// `catalog_file`'s test catalog in TOML.
    pub(crate) fn catalog() -> Catalog {
        let d = |s: &str| NaiveDate::from_str(s).unwrap();
        let m = |s: &str| Decimal::from_str(s).unwrap();
        let from = d("2020-01-01");
        let v = |product: &str, version: &str, rank, minutes, price: &str| Version {
            product: product.into(),
            version: version.into(),
            rank,
            minutes,
            list_price: m(price),
            effective_from: from,
        };
        Catalog::new(
            Zone::from_seconds(8 * 3600),
            "+08:00".into(),
            "USD".into(),
            24,
            60,
            vec![
                UsageClass { name: "audio".into(), ratio: 1 },
                UsageClass { name: "video_hd".into(), ratio: 4 },
            ],
            vec![(from, vec![m("0.99"), m("3.99")]), (d("2026-03-15"), vec![m("0.89"), m("3.49")])],
            vec![
                v("rtc_engine", "free", 0, 10_000, "0.00"),
                v("rtc_engine", "lite", 1, 50_000, "9.90"),
                v("rtc_engine", "standard", 2, 250_000, "99.00"),
                v("rtc_engine", "pro", 3, 1_000_000, "359.00"),
                v("beauty_ar", "standard", 1, 0, "49.00"),
                v("beauty_ar", "pro", 2, 0, "99.00"),
            ],
            vec![Topup {
                spec: "25k".into(),
                minutes: 25_000,
                list_price: m("24.00"),
                effective_from: from,
            }],
        )
    }

    #[test]
    fn prices_in_force_follow_effective_from() {
        let c = catalog();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(c.payg(0, d("2026-03-14")), Some(Decimal::from_str("0.99").unwrap()));
        assert_eq!(c.payg(0, d("2026-03-15")), Some(Decimal::from_str("0.89").unwrap()));
        assert_eq!(c.payg(1, d("2019-12-31")), None);
        assert_eq!(c.version("rtc_engine", "lite", d("2026-01-01")).unwrap().minutes, 50000);
        assert_eq!(c.topup("25k", d("2026-01-01")).unwrap().list_price, Decimal::from(24));
    }
}

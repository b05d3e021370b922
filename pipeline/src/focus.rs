//! `rtcbill export focus --month YYYY-MM`: the month's charges as a FOCUS 1.2 Cost and Usage
//! dataset, read from the outputs of the days of that month (rules.md, Outputs) and the catalog.
//!
//! Rows, each from the `billing_date` partitions of the month:
//! - Usage: one per `charges` row (overage of an app and class on a day, at its pay-as-you-go
//!   price), on the bill that day's or month's usage goes to.
//! - Purchase: one per accepted, charged order (purchase, upgrade, renewal) of a paid package.
//! - Adjustment: a bill's rounding to cents (rules.md, Bills: one rounding per bill), so that the
//!   BilledCost of an InvoiceId sums to the bill's amount.
//! - Usage with ChargeClass Correction: a change to a bill of an earlier month made by a rerun
//!   whose last day falls in this month (`bill_revisions.restated_on`).
//!
//! A restatement of a bill of the same month is not a correction (FOCUS: ChargeClass is null
//! for a correction within the billing period): the month's usage rows already show it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use rtcbill_schemas::{self as schemas, c};
use rust_decimal::Decimal;

use crate::catalog::Catalog;
use crate::clock::{add_days, add_months, month_start, Ts, Zone};
use crate::engine::{charged, Kind};
use crate::error::{Error, Result};
use crate::input::{BillingMode, Inputs, PackageOrder, Table};
use crate::output::{partition_file, write_file, Cols};
use crate::store::Published;
use crate::vocab::{BillCycle, OrderKind, OrderStatus};

const SERVICE_NAME: &str = "Real-Time Communication";
const SERVICE_CATEGORY: &str = "Media";
const SERVICE_SUBCATEGORY: &str = "Media Streaming";

/// What an export wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Billing days of the month found done in the outputs.
    pub days: usize,
    pub usage: usize,
    pub purchases: usize,
    pub roundings: usize,
    pub corrections: usize,
    /// Sum of BilledCost.
    pub billed: Decimal,
}

/// One FOCUS row; fields follow the columns of [`schemas::FOCUS`].
#[derive(Debug, Clone, Default)]
struct Row {
    billed: Decimal,
    account_id: i64,
    charge_category: &'static str,
    correction: bool,
    description: String,
    frequency: &'static str,
    period: (Ts, Ts),
    consumed_minutes: Option<i64>,
    effective: Decimal,
    invoice_id: String,
    list_cost: Decimal,
    list_unit_price: Option<Decimal>,
    contracted_unit_price: Option<Decimal>,
    pricing_quantity: Option<Decimal>,
    pricing_unit: Option<&'static str>,
    sku_id: Option<String>,
    sku_meter: Option<String>,
    sku_price_id: Option<String>,
    app_id: Option<i64>,
    billing_date: NaiveDate,
    order_id: Option<String>,
    usage_class: Option<String>,
}

/// What the rows need of the data root, looked up once per export.
struct Lookups<'a> {
    monthly: BTreeSet<i64>,
    opening: BTreeMap<i64, Ts>,
    packages: BTreeMap<&'a str, &'a PackageOrder>,
}

impl<'a> Lookups<'a> {
    fn new(inputs: &'a Inputs) -> Lookups<'a> {
        Lookups {
            monthly: inputs
                .accounts
                .iter()
                .filter(|a| a.mode == BillingMode::Monthly)
                .map(|a| a.id)
                .collect(),
            opening: inputs.accounts.iter().map(|a| (a.id, a.opening_time)).collect(),
            packages: inputs.packages.iter().map(|p| (p.package_id.as_str(), p)).collect(),
        }
    }
}

/// A billing day as instants (rules.md, Clock).
fn day_period(zone: &Zone, day: NaiveDate) -> (Ts, Ts) {
    (zone.start_of(day), zone.start_of(add_days(day, 1)))
}

/// The period of a bill: its day, or its month for a monthly bill (rules.md, Bills).
fn bill_period(zone: &Zone, bill_id: &str, day: NaiveDate) -> (Ts, Ts) {
    if BillCycle::of_bill_id(bill_id) == Some(BillCycle::Monthly) {
        let first = month_start(day);
        (zone.start_of(first), zone.start_of(add_months(first, 1)))
    } else {
        day_period(zone, day)
    }
}

/// Writes the FOCUS export of the month starting `month` to `dest` (atomically: a temporary
/// file beside it, renamed). `out` must hold at least one done day of the month.
pub fn export(
    data: &Path,
    out: &Path,
    month: NaiveDate,
    provider: &str,
    dest: &Path,
) -> Result<Summary> {
    crate::destination::for_reader(dest, out, data)?;
    // The published snapshot: a run never changes it, so no lock is needed to read it whole
    // (unless it is recycled under a slow reader: `confirm`).
    let published = Published::open(out)?;
    let (s, batch) =
        published.confirm(export_published(data, &published, month, provider, dest))?;
    crate::destination::write_whole(dest, |tmp| write_file(tmp, &schemas::FOCUS, &batch))?;
    Ok(s)
}

/// The export's rows read from one published snapshot, and its summary.
fn export_published(
    data: &Path,
    published: &Published,
    month: NaiveDate,
    provider: &str,
    dest: &Path,
) -> Result<(Summary, arrow::array::RecordBatch)> {
    let out = published.root.as_path();
    let inputs = Inputs::load(data)?;
    let lookups = Lookups::new(&inputs);
    let cat = &inputs.catalog;
    let zone = cat.zone;
    let next = add_months(month, 1);
    let mut rows = Vec::new();
    let mut s = Summary::default();
    let done = published.done_days()?;
    published.check_days(done.range(add_days(month, -1)..next).copied())?;
    let epoch = done.first().copied().unwrap_or(month);
    for &day in done.range(month..next) {
        s.days += 1;
        let before = rows.len();
        usage_rows(out, cat, &lookups, day, &mut rows)?;
        s.usage += rows.len() - before;
        let before = rows.len();
        rounding_rows(out, &zone, day, &mut rows)?;
        s.roundings += rows.len() - before;
    }
    // Orders of the month's first hours are in the partition of the day before it.
    for &day in done.range(add_days(month, -1)..next) {
        let before = rows.len();
        order_rows(out, cat, &lookups, day, (month, next), epoch, &mut rows)?;
        s.purchases += rows.len() - before;
    }
    if s.days == 0 {
        return Err(Error::Invalid(format!(
            "{} holds no billing day of {}: run the month first",
            out.display(),
            month.format("%Y-%m")
        )));
    }
    // (an export of a month still running is not the month's invoice)
    let in_month = (next - month).num_days() as usize;
    if s.days < in_month {
        tracing::warn!(
            days = s.days,
            "only {} of the month's {in_month} days are billed: the export holds those",
            s.days
        );
    }
    let before = rows.len();
    correction_rows(out, &zone, done.range(..month).copied(), (month, next), &mut rows)?;
    s.corrections = rows.len() - before;
    s.billed = rows.iter().map(|r| r.billed).sum();
    let period = (zone.start_of(month), zone.start_of(next));
    let batch = to_batch(&rows, period, cat, provider)
        .map_err(|m| Error::Write { path: dest.to_path_buf(), msg: m })?;
    Ok((s, batch))
}

/// Usage rows: the day's `charges`, each on its daily bill or its month's bill.
fn usage_rows(
    out: &Path,
    cat: &Catalog,
    lk: &Lookups,
    day: NaiveDate,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let Some(f) = partition_file(out, &schemas::CHARGES, day) else { return Ok(()) };
    let t = Table::load(&f, &schemas::CHARGES)?;
    let (acc, app, class, minutes) =
        (t.i64(c::ACCOUNT_ID)?, t.i64(c::APP_ID)?, t.str(c::USAGE_CLASS)?, t.i64("minutes")?);
    let price = t.required("unit_price_per_1000", t.opt_decimal("unit_price_per_1000")?)?;
    let amount = t.required(c::AMOUNT, t.opt_decimal(c::AMOUNT)?)?;
    let price_from = cat
        .payg_from(day)
        .ok_or_else(|| Error::Invalid(format!("no pay-as-you-go prices in force on {day}")))?;
    let zone = cat.zone;
    for i in 0..t.rows() {
        let invoice_id = if lk.monthly.contains(&acc[i]) {
            BillCycle::Monthly.bill_id(acc[i], month_start(day))
        } else {
            BillCycle::Daily.bill_id(acc[i], day)
        };
        let sku = format!("payg/{}", class[i]);
        rows.push(Row {
            billed: amount[i],
            account_id: acc[i],
            charge_category: "Usage",
            description: format!(
                "{} {} minutes beyond packages at {} per 1,000 minutes",
                minutes[i],
                class[i],
                price[i].normalize()
            ),
            frequency: "Usage-Based",
            period: day_period(&zone, day),
            consumed_minutes: Some(minutes[i]),
            effective: amount[i],
            invoice_id,
            list_cost: amount[i],
            list_unit_price: Some(price[i]),
            contracted_unit_price: Some(price[i]),
            pricing_quantity: Some(Decimal::new(minutes[i], 3)),
            pricing_unit: Some("1000 Minutes"),
            sku_meter: Some(format!("{} minutes", class[i])),
            sku_price_id: Some(format!("{sku}@{price_from}")),
            sku_id: Some(sku),
            app_id: Some(app[i]),
            billing_date: day,
            usage_class: Some(class[i].clone()),
            ..Row::default()
        });
    }
    Ok(())
}

/// Purchase rows: the accepted orders of paid packages in `day`'s partition that were charged
/// (not at or before the account's `opening_time`, rules.md, Clock) on a billing day of `month`. A
/// charge belongs to the billing day of its instant (an order at 00:00-08:00 of the 1st is
/// processed by the run of the month before, and belongs to the new month); one before the
/// epoch, to the epoch.
fn order_rows(
    out: &Path,
    cat: &Catalog,
    lk: &Lookups,
    day: NaiveDate,
    month: (NaiveDate, NaiveDate),
    epoch: NaiveDate,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let Some(f) = partition_file(out, &schemas::ORDERS, day) else { return Ok(()) };
    let t = Table::load(&f, &schemas::ORDERS)?;
    let (ids, acc, pkg, kind, time, status) = (
        t.str("order_id")?,
        t.opt_i64(c::ACCOUNT_ID)?,
        t.str(c::PACKAGE_ID)?,
        t.str(c::KIND)?,
        t.ts(c::TIME)?,
        t.str("status")?,
    );
    let (amount, version) = (t.opt_money(c::AMOUNT)?, t.opt_str(c::VERSION)?);
    let bad = |m: String| Error::Invalid(format!("{}: {m}", f.display()));
    for i in 0..t.rows() {
        let Some(account_id) = acc[i] else { continue };
        let on = cat.zone.day_of(time[i]).max(epoch);
        if status[i] != OrderStatus::Accepted.as_str()
            || lk.opening.get(&account_id).is_some_and(|o| !charged(*o, time[i]))
            || on < month.0
            || on >= month.1
        {
            continue;
        }
        let p = lk
            .packages
            .get(pkg[i].as_str())
            .ok_or_else(|| bad(format!("order {} of unknown package {}", ids[i], pkg[i])))?;
        if Kind::parse(&p.kind) == Some(Kind::Free) {
            continue;
        }
        let amount =
            amount[i].ok_or_else(|| bad(format!("accepted order {} has no amount", ids[i])))?;
        let version = version[i]
            .as_deref()
            .ok_or_else(|| bad(format!("accepted order {} has no version", ids[i])))?;
        // (SKU, SkuPriceId suffix, list unit price, quantity, unit, frequency)
        let order_kind = OrderKind::parse(&kind[i]);
        let (sku, price_from, list, qty, unit, freq) = match (order_kind, Kind::parse(&p.kind)) {
            (Some(OrderKind::Purchase), Some(Kind::Topup)) => {
                let e = cat
                    .topup(version, on)
                    .ok_or_else(|| bad(format!("top-up {version} not in the catalog on {on}")))?;
                (
                    format!("topup/{version}"),
                    e.effective_from.to_string(),
                    e.list_price,
                    p.quantity.unwrap_or(1),
                    "Packages",
                    "One-Time",
                )
            }
            (Some(k), _) => {
                let e = cat.version(&p.product, version, on).ok_or_else(|| {
                    bad(format!("{} {version} not in the catalog on {on}", p.product))
                })?;
                let sku = format!("monthly/{}/{version}", p.product);
                match k {
                    OrderKind::Renewal => (
                        sku,
                        e.effective_from.to_string(),
                        e.list_price,
                        1,
                        "Packages",
                        "Recurring",
                    ),
                    // rules.md, Packages: the upgrade's price is prorated; it is its own list
                    // price.
                    OrderKind::Upgrade => (
                        sku,
                        format!("{}/upgrade", e.effective_from),
                        amount,
                        1,
                        "Upgrades",
                        "One-Time",
                    ),
                    OrderKind::Purchase => {
                        (sku, e.effective_from.to_string(), e.list_price, 1, "Packages", "One-Time")
                    }
                }
            }
            (None, _) => return Err(bad(format!("order {} of unknown kind {}", ids[i], kind[i]))),
        };
        let qty_d = Decimal::from(qty);
        rows.push(Row {
            billed: amount,
            account_id,
            charge_category: "Purchase",
            description: format!("{} of package {} ({sku})", kind[i], pkg[i]),
            frequency: freq,
            period: day_period(&cat.zone, on),
            // FOCUS EffectiveCost-C-005: a purchase that prepays future usage has EffectiveCost 0.
            effective: Decimal::ZERO,
            invoice_id: ids[i].clone(),
            list_cost: list * qty_d,
            list_unit_price: Some(list),
            contracted_unit_price: Some((amount / qty_d).round_dp(6)),
            pricing_quantity: Some(qty_d),
            pricing_unit: Some(unit),
            sku_meter: Some(format!("{} package", p.product)),
            sku_price_id: Some(format!("{sku}@{price_from}")),
            sku_id: Some(sku),
            app_id: p.app_id,
            billing_date: on,
            order_id: Some(ids[i].clone()),
            ..Row::default()
        });
    }
    Ok(())
}

/// Adjustment rows: each bill of the day minus the exact sum of its lines (rules.md, Rounding).
fn rounding_rows(out: &Path, zone: &Zone, day: NaiveDate, rows: &mut Vec<Row>) -> Result<()> {
    let Some(f) = partition_file(out, &schemas::BILLS, day) else { return Ok(()) };
    let t = Table::load(&f, &schemas::BILLS)?;
    let (ids, acc, amount) = (t.str("bill_id")?, t.i64(c::ACCOUNT_ID)?, t.money(c::AMOUNT)?);
    let mut lines: BTreeMap<String, Decimal> = BTreeMap::new();
    if let Some(f) = partition_file(out, &schemas::BILL_LINES, day) {
        let t = Table::load(&f, &schemas::BILL_LINES)?;
        let (ids, amount) = (t.str("bill_id")?, t.required(c::AMOUNT, t.opt_decimal(c::AMOUNT)?)?);
        for (id, a) in ids.into_iter().zip(amount) {
            *lines.entry(id).or_default() += a;
        }
    }
    for i in 0..t.rows() {
        let diff = amount[i] - lines.get(&ids[i]).copied().unwrap_or_default();
        if diff.is_zero() {
            continue;
        }
        rows.push(Row {
            billed: diff,
            account_id: acc[i],
            charge_category: "Adjustment",
            description: format!(
                "rounding of bill {} to {} (one rounding per bill)",
                ids[i], amount[i]
            ),
            frequency: "Usage-Based",
            period: bill_period(zone, &ids[i], day),
            effective: diff,
            invoice_id: ids[i].clone(),
            list_cost: diff,
            billing_date: day,
            ..Row::default()
        });
    }
    Ok(())
}

/// Correction rows: changes to bills of the done days `before` the month, made by a rerun
/// whose last day is in the month `[month, next)`.
fn correction_rows(
    out: &Path,
    zone: &Zone,
    before: impl Iterator<Item = NaiveDate>,
    (month, next): (NaiveDate, NaiveDate),
    rows: &mut Vec<Row>,
) -> Result<()> {
    for day in before {
        let Some(f) = partition_file(out, &schemas::BILL_REVISIONS, day) else { continue };
        let t = Table::load(&f, &schemas::BILL_REVISIONS)?;
        let (ids, acc, rev, by) = (
            t.str("bill_id")?,
            t.i64(c::ACCOUNT_ID)?,
            t.i64("revision")?,
            t.opt_i64("replaced_by_revision")?,
        );
        let (change, on) = (t.money("change")?, t.date("restated_on")?);
        for i in 0..t.rows() {
            if on[i] < month || on[i] >= next {
                continue;
            }
            let what = match by[i] {
                Some(r) => format!("revision {} replaced by revision {r}", rev[i]),
                None => format!("revision {} withdrawn", rev[i]),
            };
            rows.push(Row {
                billed: change[i],
                account_id: acc[i],
                charge_category: "Usage",
                correction: true,
                description: format!("correction of bill {}: {what} on {}", ids[i], on[i]),
                frequency: "Usage-Based",
                period: bill_period(zone, &ids[i], day),
                effective: change[i],
                invoice_id: ids[i].clone(),
                list_cost: change[i],
                billing_date: day,
                ..Row::default()
            });
        }
    }
    Ok(())
}

fn to_batch(
    rows: &[Row],
    period: (Ts, Ts),
    cat: &Catalog,
    provider: &str,
) -> std::result::Result<arrow::array::RecordBatch, String> {
    let n = rows.len();
    let same = |v: &str| vec![Some(v.to_string()); n];
    let r = rows;
    Cols::new(&schemas::FOCUS)
        .dec("BilledCost", r.iter().map(|r| Some(r.billed)))?
        .str("BillingAccountId", r.iter().map(|r| Some(r.account_id.to_string())))
        .str("BillingAccountName", vec![None::<String>; n])
        .str("BillingCurrency", same(&cat.currency))
        .ts("BillingPeriodEnd", vec![Some(period.1); n])
        .ts("BillingPeriodStart", vec![Some(period.0); n])
        .str("ChargeCategory", r.iter().map(|r| Some(r.charge_category)))
        .str("ChargeClass", r.iter().map(|r| r.correction.then_some("Correction")))
        .str("ChargeDescription", r.iter().map(|r| Some(r.description.as_str())))
        .str("ChargeFrequency", r.iter().map(|r| Some(r.frequency)))
        .ts("ChargePeriodEnd", r.iter().map(|r| Some(r.period.1)))
        .ts("ChargePeriodStart", r.iter().map(|r| Some(r.period.0)))
        .str("CommitmentDiscountStatus", vec![None::<String>; n])
        .dec("ConsumedQuantity", r.iter().map(|r| r.consumed_minutes.map(Decimal::from)))?
        .str("ConsumedUnit", r.iter().map(|r| r.consumed_minutes.map(|_| "Minutes")))
        .dec("ContractedCost", r.iter().map(|r| Some(r.billed)))?
        .dec("EffectiveCost", r.iter().map(|r| Some(r.effective)))?
        .str("InvoiceId", r.iter().map(|r| Some(r.invoice_id.as_str())))
        .str("InvoiceIssuerName", same(provider))
        .dec("ListCost", r.iter().map(|r| Some(r.list_cost)))?
        .dec("ListUnitPrice", r.iter().map(|r| r.list_unit_price))?
        .dec("PricingCurrencyContractedUnitPrice", r.iter().map(|r| r.contracted_unit_price))?
        .dec("PricingCurrencyEffectiveCost", r.iter().map(|r| Some(r.effective)))?
        .dec("PricingCurrencyListUnitPrice", r.iter().map(|r| r.list_unit_price))?
        .dec("PricingQuantity", r.iter().map(|r| r.pricing_quantity))?
        .str("PricingUnit", r.iter().map(|r| r.pricing_unit))
        .str("ProviderName", same(provider))
        .str("PublisherName", same(provider))
        .str("ServiceCategory", same(SERVICE_CATEGORY))
        .str("ServiceName", same(SERVICE_NAME))
        .str("ServiceSubcategory", same(SERVICE_SUBCATEGORY))
        .str("SkuId", r.iter().map(|r| r.sku_id.as_deref()))
        .str("SkuMeter", r.iter().map(|r| r.sku_meter.as_deref()))
        .str("SkuPriceDetails", vec![None::<String>; n])
        .str("SkuPriceId", r.iter().map(|r| r.sku_price_id.as_deref()))
        .str("SubAccountId", r.iter().map(|r| r.app_id.map(|a| a.to_string())))
        .str("SubAccountName", r.iter().map(|r| r.app_id.map(|a| format!("app {a}"))))
        .date("x_BillingDate", r.iter().map(|r| Some(r.billing_date)))
        .str("x_OrderId", r.iter().map(|r| r.order_id.as_deref()))
        .str("x_UsageClass", r.iter().map(|r| r.usage_class.as_deref()))
        .finish()
        .map(|(_, b)| b)
        .map_err(String::from)
}

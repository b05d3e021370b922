//! rules.md, Bills: daily bills for D at D+1 08:00, monthly bills for M at the 1st of M+1
//! 08:00; one line per (app, class, unit price); one round-half-up per bill.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::clock::{add_days, add_months, month_start, Ts};
use crate::records::BillingMode;
use crate::rows::{BillLineRow, BillRow};
use crate::vocab::BillCycle;

use super::deduct::line_amount;
use super::{arrears, Account, DayCtx, DayRows};

/// Overage minutes by (app, class, unit price): a bill's lines.
type Lines = BTreeMap<(i64, usize, Decimal), i64>;

/// `round_half_up(x, 2)`.
pub fn round_cents(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Issues the account's bill due at `at` = as_of(D), if it has at least one line.
pub fn issue(acc: &mut Account, ctx: DayCtx, at: Ts, rows: &mut DayRows) {
    let day = ctx.day;
    let (cycle, start, end, lines): (BillCycle, NaiveDate, NaiveDate, Lines) = match acc.mode {
        BillingMode::Daily => {
            let lines = rows
                .charges
                .iter()
                .filter(|c| c.account_id == acc.id)
                .map(|c| ((c.app_id, c.class, c.unit_price_per_1000), c.minutes))
                .collect();
            (BillCycle::Daily, day, add_days(day, 1), lines)
        }
        BillingMode::Monthly => {
            if add_days(day, 1).day() != 1 {
                return;
            }
            let start = month_start(day);
            (
                BillCycle::Monthly,
                start,
                add_months(start, 1),
                std::mem::take(&mut acc.month_overage),
            )
        }
    };
    if lines.is_empty() {
        return;
    }
    let id = cycle.bill_id(acc.id, start);
    let mut total = Decimal::ZERO;
    for (&(app_id, class, price), &minutes) in &lines {
        let amount = line_amount(minutes, price);
        total += amount;
        rows.bill_lines.push(BillLineRow {
            account_id: acc.id,
            bill_id: id.clone(),
            app_id,
            class,
            unit_price_per_1000: price,
            minutes,
            amount,
        });
    }
    let amount = round_cents(total);
    let before = acc.balance;
    acc.balance -= amount;
    rows.bills.push(BillRow {
        account_id: acc.id,
        bill_id: id.clone(),
        cycle,
        period_start: start,
        period_end: end,
        issued_at: at,
        amount,
        balance_before: before,
        balance_after: acc.balance,
        revision: 1,
    });
    arrears::bill(acc, at, &id, ctx.catalog, rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn one_rounding_per_bill() {
        // rules.md, Bills, conformance `metering`: 0.00198 + 0.00798 + 1.42659 + 0.00899 = 1.44554
        // → 1.45.
        let sum: Decimal = ["0.00198", "0.00798", "1.42659", "0.00899"]
            .iter()
            .map(|s| Decimal::from_str(s).unwrap())
            .sum();
        assert_eq!(round_cents(sum), Decimal::from_str("1.45").unwrap());
        // Per-line rounding would give 0.00 + 0.01 + 1.43 + 0.01 = 1.45 here but differs below:
        // three lines of 0.004 round to 0.00 each, their sum 0.012 to 0.01.
        assert_eq!(
            round_cents(Decimal::from_str("0.012").unwrap()),
            Decimal::from_str("0.01").unwrap()
        );
        assert_eq!(
            round_cents(Decimal::from_str("0.005").unwrap()),
            Decimal::from_str("0.01").unwrap()
        );
        assert_eq!(
            line_amount(1441, Decimal::from_str("0.99").unwrap()),
            Decimal::from_str("1.42659").unwrap()
        );
    }
}

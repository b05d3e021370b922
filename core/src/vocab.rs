//! The vocabularies of the output datasets (rules.md, Outputs): each value a variant, each
//! written and read through its one [`as_str`](OrderKind::as_str). The schema docs
//! (`schemas/src/lib.rs`) list the same words; a test of the pipeline keeps them in sync.
//!
//! Values order as their text does, so a row type that derives `Ord` sorts as its file does.

use std::cmp::Ordering;
use std::fmt;

/// An enum of text values: `as_str`, `parse`, `ALL`, `Display`, and the order of the text.
macro_rules! vocab {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The value as written in the datasets.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }

            /// The value written as `s`, if it is one.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($s => Some($name::$v),)+
                    _ => None,
                }
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocab! {
    /// `orders.kind` (rules.md, Outputs).
    OrderKind {
        Purchase => "purchase",
        Upgrade => "upgrade",
        Renewal => "renewal",
    }
}

vocab! {
    /// `orders.status`.
    OrderStatus {
        Accepted => "accepted",
        Rejected => "rejected",
    }
}

vocab! {
    /// `orders.reason`: why a purchase, an upgrade or a renewal was rejected (rules.md,
    /// Purchases, Upgrades, Auto-renewal).
    OrderReason {
        UnknownVersion => "unknown_version",
        InvalidQuantity => "invalid_quantity",
        OverlappingMonthly => "overlapping_monthly",
        InsufficientBalance => "insufficient_balance",
        UnknownPackage => "unknown_package",
        NotUpgradable => "not_upgradable",
        NotInForce => "not_in_force",
        NotHigherVersion => "not_higher_version",
    }
}

vocab! {
    /// `status_events.event` (rules.md, Arrears and suspension).
    StatusEvent {
        ArrearsEntered => "arrears_entered",
        ArrearsCleared => "arrears_cleared",
        Suspended => "suspended",
        Restored => "restored",
        ReclaimDue => "reclaim_due",
        RenewalFailed => "renewal_failed",
        AppDisabled => "app_disabled",
        Violation => "violation",
        FreeQuotaExhausted => "free_quota_exhausted",
    }
}

vocab! {
    /// `bills.cycle` (rules.md, Daily and monthly bills).
    BillCycle {
        Daily => "daily",
        Monthly => "monthly",
    }
}

vocab! {
    /// `account_status.state` (rules.md, Account states); kept in the state between days under
    /// its variant names.
    #[derive(serde::Serialize, serde::Deserialize)]
    AccountState {
        Current => "current",
        InArrears => "in_arrears",
        Suspended => "suspended",
        Reclaimed => "reclaimed",
    }
}

vocab! {
    /// `package_balances.status`.
    PackageStatus {
        Active => "active",
        Exhausted => "exhausted",
    }
}

vocab! {
    /// `rejected_usage.reason`, in the order the reasons apply (rules.md, Reject reasons).
    RejectReason {
        MissingEventId => "missing_event_id",
        MissingStartTime => "missing_start_time",
        WrongPartition => "wrong_partition",
        UnknownApp => "unknown_app",
        UnknownUsageClass => "unknown_usage_class",
        InvalidSeconds => "invalid_seconds",
        ConflictingDuplicate => "conflicting_duplicate",
    }
}

impl BillCycle {
    /// `{cycle}-{account_id}-{period_start YYYYMMDD}` (rules.md, Bill ids).
    pub fn bill_id(self, account_id: i64, period_start: chrono::NaiveDate) -> String {
        format!("{}-{account_id}-{}", self.as_str(), period_start.format("%Y%m%d"))
    }

    /// The cycle of a bill id, from its prefix.
    pub fn of_bill_id(bill_id: &str) -> Option<BillCycle> {
        BillCycle::parse(bill_id.split('-').next()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_orders_as_text() {
        fn check<T: Copy + Ord + fmt::Debug>(
            all: &[T],
            s: fn(T) -> &'static str,
            p: fn(&str) -> Option<T>,
        ) {
            for &v in all {
                assert_eq!(p(s(v)), Some(v));
            }
            let mut by_value = all.to_vec();
            by_value.sort();
            let mut by_text: Vec<_> = all.iter().map(|v| s(*v)).collect();
            by_text.sort();
            assert_eq!(by_value.into_iter().map(s).collect::<Vec<_>>(), by_text);
        }
        check(OrderKind::ALL, OrderKind::as_str, OrderKind::parse);
        check(OrderStatus::ALL, OrderStatus::as_str, OrderStatus::parse);
        check(OrderReason::ALL, OrderReason::as_str, OrderReason::parse);
        check(StatusEvent::ALL, StatusEvent::as_str, StatusEvent::parse);
        check(BillCycle::ALL, BillCycle::as_str, BillCycle::parse);
        check(AccountState::ALL, AccountState::as_str, AccountState::parse);
        check(PackageStatus::ALL, PackageStatus::as_str, PackageStatus::parse);
        check(RejectReason::ALL, RejectReason::as_str, RejectReason::parse);
        assert_eq!(OrderKind::parse("refund"), None);
    }

    #[test]
    fn bill_ids() {
        let d = "2026-11-01".parse().unwrap();
        assert_eq!(BillCycle::Monthly.bill_id(1001, d), "monthly-1001-20261101");
        assert_eq!(BillCycle::of_bill_id("daily-7-20261020"), Some(BillCycle::Daily));
        assert_eq!(BillCycle::of_bill_id("weekly-7-20261020"), None);
    }
}

//! Consolidated e-invoices (business rules §1): the monthly e-invoice a supplier issues for
//! the sales whose buyers asked for no e-invoice.
//!
//! - [`rules`]: the consolidation facts (the RM10,000 single-transaction limit and the
//!   excluded activities from 1 Jan 2026, the interim relaxation periods, the 7-day deadline,
//!   the document limits). Their dated rows are in the one table of dated rules,
//!   [`crate::rules::RULES`] (re-exported here as [`RULES`], versioned by [`RULES_VERSION`]).
//!   [`may_consolidate`] asks them about one transaction.
//! - [`build`]: receipts into consolidated e-invoices with the model's builders, one line per
//!   receipt or per run of continuous receipt numbers, split within the document limits.
//! - [`check`]: the rules a consolidated document (a line classified `004`) is checked
//!   against locally (codes `CON001`-`CON006`).
//!
//! Months are Malaysian calendar months (UTC+8, no daylight saving): a receipt issued at
//! 20:00 UTC on 31 March belongs to April.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Utc};

use crate::model::{Address, Party};
use crate::validate::GENERAL_PUBLIC_TIN;

pub mod build;
pub mod check;
pub mod rules;

pub use build::{
    BuiltDocument, ConsolidationSpec, LineMethod, LineSpan, Receipt, SplitLimits, consolidate,
};
pub use check::{ConsolidationContext, check, is_consolidated};
pub use rules::{
    Activity, Exclusion, Limit, Phase, RELAXATION_PERIODS, RULES, RULES_VERSION, Relaxation, Rule,
    RuleRow, Transaction, may_consolidate,
};

/// The classification of every consolidated line ("Consolidated e-Invoice").
pub const CLASSIFICATION: &str = "004";

/// The buyer details a consolidated e-invoice carries (SG45 Table 3.5): `NA` where a member
/// of the public gives nothing, state `17` ("Not Applicable").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneralPublicDetails {
    /// Registration name.
    pub name: &'static str,
    /// The general TIN.
    pub tin: &'static str,
    /// Identification scheme (the official sample's).
    pub id_scheme: &'static str,
    /// Identification number.
    pub id: &'static str,
    /// SST registration.
    pub sst: &'static str,
    /// Address line 0 (and the city, which the UBL address needs).
    pub address: &'static str,
    /// State code.
    pub state: &'static str,
    /// Contact number.
    pub phone: &'static str,
}

/// The General Public, as the guideline gives it (the official sample's `Consolidated
/// Buyer's` name is a placeholder; the guideline's name is used).
pub const GENERAL_PUBLIC: GeneralPublicDetails = GeneralPublicDetails {
    name: "General Public",
    tin: GENERAL_PUBLIC_TIN,
    id_scheme: "BRN",
    id: "NA",
    sst: "NA",
    address: "NA",
    state: "17",
    phone: "NA",
};

/// The General Public as a buyer [`Party`].
pub fn general_public() -> Party {
    let g = GENERAL_PUBLIC;
    Party::new(
        g.name,
        g.tin,
        g.id_scheme,
        g.id,
        Address::new(g.address, g.address, g.state, "MYS"),
        g.phone,
    )
    .sst(g.sst)
}

/// Malaysia's time zone, UTC+8 all year.
pub fn malaysia() -> FixedOffset {
    // Eight hours is inside the day `east_opt` accepts, so the fallback is never taken.
    FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix())
}

/// The Malaysian calendar date of an instant.
pub fn malaysian_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&malaysia()).date_naive()
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month, if `month` is 1 to 12.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|_| Month { year, month })
    }

    /// Reads `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        Month::new(y.parse().ok()?, m.parse().ok()?)
    }

    /// The month of a date.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The Malaysian month of an instant.
    pub fn of_instant(at: DateTime<Utc>) -> Month {
        Month::of(malaysian_date(at))
    }

    /// The first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                month: self.month + 1,
                ..self
            }
        }
    }

    /// The last day.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or_default()
    }

    /// When the month closes: midnight in Malaysia at the start of the next month.
    pub fn closes_at(self) -> DateTime<Utc> {
        local_midnight(self.next().first_day())
    }

    /// The last day its consolidated e-invoice may be submitted on ([`rules::DEADLINE_DAYS`]
    /// calendar days after the month's end: October's by 7 November).
    pub fn deadline(self) -> NaiveDate {
        self.last_day() + chrono::Days::new(u64::from(rules::DEADLINE_DAYS))
    }

    /// The instant the deadline passes: midnight in Malaysia after the deadline day.
    pub fn deadline_passes_at(self) -> DateTime<Utc> {
        local_midnight(self.deadline() + chrono::Days::new(1))
    }

    /// `YYYYMM`, for document numbers.
    pub fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Midnight at the start of `day` in Malaysia, as UTC.
fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    malaysia()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_close_and_fall_due_in_malaysian_time() {
        let march = Month::parse("2026-03").unwrap();
        assert_eq!(march.to_string(), "2026-03");
        assert_eq!(
            march.last_day(),
            NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
        );
        assert_eq!(
            march.closes_at(),
            Utc.with_ymd_and_hms(2026, 3, 31, 16, 0, 0).unwrap()
        );
        assert_eq!(
            march.deadline(),
            NaiveDate::from_ymd_opt(2026, 4, 7).unwrap()
        );
        assert_eq!(
            march.deadline_passes_at(),
            Utc.with_ymd_and_hms(2026, 4, 7, 16, 0, 0).unwrap()
        );
        let dec = Month::parse("2025-12").unwrap();
        assert_eq!(dec.next().to_string(), "2026-01");
        assert_eq!(dec.deadline(), NaiveDate::from_ymd_opt(2026, 1, 7).unwrap());
        // 20:00 UTC on 31 March is 04:00 on 1 April in Kuala Lumpur.
        let late = Utc.with_ymd_and_hms(2026, 3, 31, 20, 0, 0).unwrap();
        assert_eq!(Month::of_instant(late).to_string(), "2026-04");
        for bad in ["2026-13", "2026-3", "26-03", "march"] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}

//! The consolidation facts (limits, activities, relaxation periods) and the question every
//! receipt is asked before it goes into a consolidated e-invoice ([`may_consolidate`]). Their
//! dated rows are in the one table of dated rules, [`crate::rules::RULES`], re-exported here.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::rules::date;
pub use crate::rules::{Limit, RULES, RULES_VERSION, Rule, RuleRow, rule};

/// RM10,000.00: from 1 Jan 2026 a single transaction above it gets its own e-invoice.
pub const SINGLE_TRANSACTION_LIMIT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 2);

/// When the single-transaction limit and the 2026 activity exclusions start.
pub const LIMITS_FROM: NaiveDate = date(2026, 1, 1);

/// The most lines one consolidated e-invoice gets: the Submit Documents page mentions a
/// "1,000 lines limitation" without saying more, so it is read as invoice lines.
pub const MAX_LINES_PER_DOCUMENT: usize = 1_000;

/// Calendar days after the month's end by which its consolidated e-invoice is submitted.
pub const DEADLINE_DAYS: u32 = 7;

/// A kind of transaction that the guideline names as needing its own e-invoice (or, for some,
/// names and then puts on hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Activity {
    /// Sale of any motor vehicle.
    MotorVehicle,
    /// Flight tickets and private charters.
    FlightTicket,
    /// Construction contracts (Income Tax (Construction Contracts) Regulations 2007).
    ConstructionContract,
    /// Pay-outs to betting and gaming winners (casino and gaming-machine pay-outs are exempt).
    BettingPayout,
    /// Payments to agents, dealers and distributors (ITA s.83A(4)).
    AgentPayment,
    /// Distribution, supply or sale of electricity, by electricity service providers.
    Electricity,
    /// Telecommunication postpaid plans.
    TelecomPostpaid,
    /// Internet subscriptions.
    InternetSubscription,
    /// Sales of electronic devices (by telecommunication providers).
    ElectronicDevice,
    /// Luxury goods and jewellery: listed, but on hold.
    LuxuryGoods,
    /// Wholesale or retail of construction materials: listed for 2026, then withdrawn.
    ConstructionMaterials,
}

impl Activity {
    /// Every activity, in table order.
    pub const ALL: [Activity; 11] = [
        Activity::MotorVehicle,
        Activity::FlightTicket,
        Activity::ConstructionContract,
        Activity::BettingPayout,
        Activity::AgentPayment,
        Activity::Electricity,
        Activity::TelecomPostpaid,
        Activity::InternetSubscription,
        Activity::ElectronicDevice,
        Activity::LuxuryGoods,
        Activity::ConstructionMaterials,
    ];

    /// Its name on the wire (receipts, CSV, API).
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::MotorVehicle => "motor_vehicle",
            Activity::FlightTicket => "flight_ticket",
            Activity::ConstructionContract => "construction_contract",
            Activity::BettingPayout => "betting_payout",
            Activity::AgentPayment => "agent_payment",
            Activity::Electricity => "electricity",
            Activity::TelecomPostpaid => "telecom_postpaid",
            Activity::InternetSubscription => "internet_subscription",
            Activity::ElectronicDevice => "electronic_device",
            Activity::LuxuryGoods => "luxury_goods",
            Activity::ConstructionMaterials => "construction_materials",
        }
    }

    /// The activity of a wire name.
    pub fn parse(s: &str) -> Option<Activity> {
        Activity::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// An implementation phase, which decides a taxpayer's interim relaxation period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Annual turnover above RM100 million (from 1 Aug 2024).
    One,
    /// Above RM25 million up to RM100 million (from 1 Jan 2025).
    Two,
    /// Above RM5 million up to RM25 million (from 1 Jul 2025).
    Three,
    /// RM1 million up to RM5 million (from 1 Jan 2026).
    Four,
    /// New businesses implementing from 1 Jul 2026.
    Five,
}

impl Phase {
    /// The phase numbered 1 to 5.
    pub fn from_number(n: u8) -> Option<Phase> {
        [
            Phase::One,
            Phase::Two,
            Phase::Three,
            Phase::Four,
            Phase::Five,
        ]
        .get(usize::from(n).checked_sub(1)?)
        .copied()
    }

    /// Its number, 1 to 5.
    pub fn number(self) -> u8 {
        match self {
            Phase::One => 1,
            Phase::Two => 2,
            Phase::Three => 3,
            Phase::Four => 4,
            Phase::Five => 5,
        }
    }
}

/// Interim relaxation periods by phase: (phase, first day, last day, source). The last two
/// end dates are disputed (SG45: 30 Jun 2026; MR260105: 31 Dec 2026; FAQ26 Q104 and SG48
/// 16.1: 31 Dec 2027): the newest reading is the default and [`Relaxation::ending`] overrides.
pub const RELAXATION_PERIODS: [(Phase, NaiveDate, NaiveDate, &str); 5] = [
    (Phase::One, date(2024, 8, 1), date(2025, 1, 31), "SG45 16.1"),
    (Phase::Two, date(2025, 1, 1), date(2025, 6, 30), "SG45 16.1"),
    (
        Phase::Three,
        date(2025, 7, 1),
        date(2025, 12, 31),
        "SG45 16.1",
    ),
    (
        Phase::Four,
        date(2026, 1, 1),
        date(2027, 12, 31),
        "FAQ26 Q104, SG48 16.1",
    ),
    (
        Phase::Five,
        date(2026, 7, 1),
        date(2027, 12, 31),
        "FAQ26 Q104, SG48 16.1",
    ),
];

/// A taxpayer's interim relaxation period, when it adopts it (adopting is optional, FAQ26
/// Q106). Inside it the Table 3.6 exclusions are lifted ([`RuleRow::relaxable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relaxation {
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub until: NaiveDate,
}

impl Relaxation {
    /// The period of a phase, as [`RELAXATION_PERIODS`] has it.
    pub fn of_phase(phase: Phase) -> Relaxation {
        let (_, from, until, _) = RELAXATION_PERIODS
            .iter()
            .find(|(p, ..)| *p == phase)
            .copied()
            .unwrap_or(RELAXATION_PERIODS[0]);
        Relaxation { from, until }
    }

    /// The same period ending on another day (the disputed phase 4 and 5 ends).
    pub fn ending(self, until: NaiveDate) -> Relaxation {
        Relaxation { until, ..self }
    }

    /// Whether `on` is inside the period.
    pub fn covers(&self, on: NaiveDate) -> bool {
        self.from <= on && on <= self.until
    }
}

/// What [`may_consolidate`] is asked about one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Its date (Malaysian calendar).
    pub date: NaiveDate,
    /// Its value including tax: the guideline does not say whether the RM10,000 is with or
    /// without tax, so the larger reading is tested and nothing above the limit either way
    /// is consolidated.
    pub value: Decimal,
    /// The activity it belongs to, when it is one the guideline names.
    pub activity: Option<Activity>,
    /// A sale to a foreign diplomatic office, which may use the General Public details even
    /// in the named industries (SG45 3.7.4).
    pub diplomatic: bool,
}

/// Why a transaction may not be consolidated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The rule that excludes it.
    pub rule: Rule,
    /// In words, with the figures.
    pub reason: String,
    /// The source of the rule.
    pub source: &'static str,
}

/// Whether a transaction may go into a consolidated e-invoice, under the rules in force on
/// its date and the taxpayer's relaxation period (if it adopts one).
pub fn may_consolidate(tx: &Transaction, relaxation: Option<&Relaxation>) -> Result<(), Exclusion> {
    let relaxed = relaxation.is_some_and(|r| r.covers(tx.date));
    for row in RULES.iter().filter(|r| r.applies_on(tx.date)) {
        if relaxed && row.relaxable {
            continue;
        }
        let reason = match (row.rule, row.limit) {
            (Rule::SingleTransactionLimit, Limit::Myr(limit)) if tx.value > limit => format!(
                "a single transaction of RM{} is above RM{limit}: from {LIMITS_FROM} it needs \
                 its own e-invoice",
                tx.value.round_dp(2)
            ),
            (Rule::ExcludedActivity(a), _) if tx.activity == Some(a) && !tx.diplomatic => {
                format!(
                    "{} transactions each need their own e-invoice (from {})",
                    a.as_str().replace('_', " "),
                    row.production_from
                        .map_or("the start of e-invoicing".to_owned(), |d| d.to_string())
                )
            }
            _ => continue,
        };
        return Err(Exclusion {
            rule: row.rule,
            reason,
            source: row.source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(on: NaiveDate, cents: i64, activity: Option<Activity>) -> Transaction {
        Transaction {
            date: on,
            value: Decimal::new(cents, 2),
            activity,
            diplomatic: false,
        }
    }

    const DEC_31: NaiveDate = date(2025, 12, 31);
    const JAN_1: NaiveDate = date(2026, 1, 1);

    #[test]
    fn the_single_transaction_limit_starts_on_1_january_2026() {
        let big = 1_000_001; // RM10,000.01
        assert_eq!(may_consolidate(&sale(DEC_31, big, None), None), Ok(()));
        let refused = may_consolidate(&sale(JAN_1, big, None), None).unwrap_err();
        assert_eq!(refused.rule, Rule::SingleTransactionLimit);
        assert!(refused.reason.contains("10000.01"), "{}", refused.reason);
        // "Exceeding RM10,000": RM10,000.00 itself may still be consolidated.
        assert_eq!(may_consolidate(&sale(JAN_1, 1_000_000, None), None), Ok(()));
    }

    #[test]
    fn activities_by_date() {
        let power = Some(Activity::Electricity);
        assert_eq!(may_consolidate(&sale(DEC_31, 100, power), None), Ok(()));
        let e = may_consolidate(&sale(JAN_1, 100, power), None).unwrap_err();
        assert_eq!(e.rule, Rule::ExcludedActivity(Activity::Electricity));
        // Always excluded, on both sides of 2026.
        let car = Some(Activity::MotorVehicle);
        assert!(may_consolidate(&sale(DEC_31, 100, car), None).is_err());
        assert!(may_consolidate(&sale(JAN_1, 100, car), None).is_err());
        // On hold, and withdrawn before it applied.
        for a in [Activity::LuxuryGoods, Activity::ConstructionMaterials] {
            for on in [DEC_31, JAN_1, date(2026, 8, 1)] {
                assert_eq!(
                    may_consolidate(&sale(on, 100, Some(a)), None),
                    Ok(()),
                    "{a:?}"
                );
            }
        }
        // Diplomatic offices may be in the General Public even in those industries.
        let mut embassy = sale(JAN_1, 100, car);
        embassy.diplomatic = true;
        assert_eq!(may_consolidate(&embassy, None), Ok(()));
    }

    #[test]
    fn a_relaxation_period_lifts_table_3_6_inside_it_only() {
        let phase4 = Relaxation::of_phase(Phase::Four);
        assert_eq!(phase4.from, JAN_1);
        assert_eq!(phase4.until, date(2027, 12, 31));
        let big = 2_000_000;
        assert_eq!(
            may_consolidate(&sale(JAN_1, big, None), Some(&phase4)),
            Ok(())
        );
        let car = Some(Activity::MotorVehicle);
        assert_eq!(
            may_consolidate(&sale(date(2027, 12, 31), 100, car), Some(&phase4)),
            Ok(())
        );
        assert!(may_consolidate(&sale(date(2028, 1, 1), big, None), Some(&phase4)).is_err());
        // The disputed end, configured: the day after it, the limits apply.
        let short = phase4.ending(date(2026, 6, 30));
        assert_eq!(
            may_consolidate(&sale(date(2026, 6, 30), big, None), Some(&short)),
            Ok(())
        );
        assert!(may_consolidate(&sale(date(2026, 7, 1), big, None), Some(&short)).is_err());
        // A phase 3 period ended with 2025: nothing lifted in 2026.
        let phase3 = Relaxation::of_phase(Phase::Three);
        assert!(may_consolidate(&sale(JAN_1, big, None), Some(&phase3)).is_err());
        assert_eq!(Phase::from_number(4), Some(Phase::Four));
        assert_eq!(Phase::from_number(0), None);
        assert_eq!(Phase::from_number(6), None);
    }

    #[test]
    fn the_table_names_every_rule_once_with_a_source() {
        let mut names: Vec<String> = RULES.iter().map(|r| r.rule.name()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(RULES.iter().all(|r| !r.source.is_empty()));
        assert_eq!(rule(Rule::Deadline).limit, Limit::Days(7));
        for a in Activity::ALL {
            assert_eq!(Activity::parse(a.as_str()), Some(a));
            assert_eq!(
                rule(Rule::ExcludedActivity(a)).rule,
                Rule::ExcludedActivity(a)
            );
        }
    }
}

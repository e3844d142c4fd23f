//! Every dated MyInvois rule, as one versioned table ([`RULES`]): the field rules LHDN's
//! release notes announce with effective dates (which can differ between LHDN's sandbox and
//! production), and the consolidation rules of the Specific Guideline.
//!
//! A row says what the rule is, the field it is about, its limit, the first day it applies
//! in each [`Environment`], the day it stops applying, and where it is written. Code asks
//! [`in_force`] (or [`RuleRow::in_force`]) rather than comparing dates itself, so a date that
//! changes is changed here only.
//!
//! Days are Malaysian calendar days: MyInvois runs on Malaysian time, and LHDN announces
//! "from 15 August 2026" in it. Field rules are read at the moment MyInvois validates
//! (the `now` of a [`crate::ValidationContext`]); consolidation rules at the transaction's
//! date.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::codes::Table;
use crate::consolidation::rules::{
    Activity, DEADLINE_DAYS, LIMITS_FROM, MAX_LINES_PER_DOCUMENT, SINGLE_TRANSACTION_LIMIT,
};

/// The newest source [`RULES`] follows: LHDN's SDK release notes through their entry of
/// 17 Jul 2026 ([`SOURCES`] lists each source with the date it was read to). A newer
/// release note means re-reading the table.
pub const RULES_VERSION: &str = "2026-07-17";

/// One source the table follows, and how far it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Its name.
    pub name: &'static str,
    /// Where it is published.
    pub url: &'static str,
    /// The newest entry or version covered, when the source is dated.
    pub covered_through: Option<NaiveDate>,
    /// What "covered" means for it.
    pub note: &'static str,
}

/// The sources of [`RULES`] and of `invois_api::validator_errors`, newest first.
pub const SOURCES: [Source; 3] = [
    Source {
        name: "MyInvois SDK release notes",
        url: "https://sdk.myinvois.hasil.gov.my/sdk-1-0-release/",
        covered_through: Some(date(2026, 7, 17)),
        note: "every entry up to and including 17 Jul 2026",
    },
    Source {
        name: "e-Invoice Specific Guideline",
        url: "https://www.hasil.gov.my/en/e-invoice/reference-for-the-implementation-of-e-invoice/guidelines/",
        covered_through: Some(date(2026, 7, 7)),
        note: "v4.8 as transcribed (consolidation rules and relaxation periods)",
    },
    Source {
        name: "MyInvois validator error pages",
        url: "https://sdk.myinvois.hasil.gov.my/documentvalidationrules/",
        covered_through: None,
        note: "the opening rows of each page; the live pages list more",
    },
];

/// A date written as a constant (every date in the tables is a real calendar date).
pub(crate) const fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(d) => d,
        None => panic!("not a calendar date"),
    }
}

/// Which MyInvois: LHDN runs new rules in its sandbox (pre-production) first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Environment {
    /// LHDN's pre-production environment.
    Sandbox,
    /// LHDN's production environment.
    #[default]
    Production,
}

impl Environment {
    /// `sandbox` or `production`.
    pub const fn name(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An environment name that is neither `sandbox` nor `production`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{0}`: expected `sandbox` (or `preprod`) or `production`")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandbox" | "preprod" | "pre-production" => Ok(Environment::Sandbox),
            "production" | "prod" => Ok(Environment::Production),
            other => Err(UnknownEnvironment(other.to_owned())),
        }
    }
}

impl From<invois_api::RateProfile> for Environment {
    /// The sandbox's `--profile` says which MyInvois it stands for, for rates and rules alike.
    fn from(profile: invois_api::RateProfile) -> Self {
        match profile {
            invois_api::RateProfile::Sandbox => Environment::Sandbox,
            invois_api::RateProfile::Production => Environment::Production,
        }
    }
}

/// Which rule a row of [`RULES`] states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Consolidation: the buyer is the General Public, with the details of
    /// [`crate::consolidation::GENERAL_PUBLIC`].
    GeneralPublicBuyer,
    /// Consolidation: every line has classification `004`.
    Classification004,
    /// Consolidation: lines are one per receipt, or one per run of continuous receipt
    /// numbers, and every receipt number appears in a description.
    ReceiptLines,
    /// Consolidation: no single transaction above [`SINGLE_TRANSACTION_LIMIT`].
    SingleTransactionLimit,
    /// Consolidation: transactions of this activity each get their own e-invoice.
    ExcludedActivity(Activity),
    /// Consolidation: submitted by the 7th calendar day after the month's end.
    Deadline,
    /// Consolidation: one document within 300 KB; split into several when needed.
    DocumentSize,
    /// Consolidation: one document within [`MAX_LINES_PER_DOCUMENT`] lines.
    LinesPerDocument,
    /// Consolidation: a buyer asking for an individual e-invoice asks within the
    /// transaction's month; once the month is consolidated, the request may be refused.
    IndividualRequest,
    /// Every date field is a real `YYYY-MM-DD` date (`N/A` and the like refused).
    DateFormat,
    /// The supplier's bank account number.
    BankAccountLength,
    /// The e-invoice number (`cbc:ID`).
    InvoiceNumberLength,
    /// The certified exporter's authorisation number (CertEX).
    CertExLength,
    /// Incoterms.
    IncotermsLength,
    /// The frequency of billing.
    BillingFrequencyLength,
    /// Every `unitCode` is in the unit table.
    UnitCodeInTable,
    /// The supplier's business activity description.
    ActivityDescriptionLength,
    /// Payment terms.
    PaymentTermsLength,
    /// The prepayment reference number.
    PrepaymentReferenceLength,
    /// `TaxExchangeRate` in every document whose currency is not MYR.
    TaxExchangeRate,
    /// State code `17` only in consolidated e-invoices or for places outside Malaysia.
    StateCode17,
    /// Amounts are plain decimals: no scientific notation.
    PlainAmounts,
    /// A state outside Malaysia is free text of limited length (Malaysian ones are codes).
    ForeignStateLength,
    /// The shipping recipient's postcode in Malaysia.
    ShippingPostcodeMalaysia,
    /// The shipping recipient's postcode elsewhere.
    ShippingPostcodeForeign,
}

impl Rule {
    /// A stable name for records and answers (`single_transaction_limit`,
    /// `excluded_activity:motor_vehicle`, `invoice_number_length`).
    pub fn name(self) -> String {
        let name = match self {
            Rule::ExcludedActivity(a) => return format!("excluded_activity:{}", a.as_str()),
            Rule::GeneralPublicBuyer => "general_public_buyer",
            Rule::Classification004 => "classification_004",
            Rule::ReceiptLines => "receipt_lines",
            Rule::SingleTransactionLimit => "single_transaction_limit",
            Rule::Deadline => "deadline",
            Rule::DocumentSize => "document_size",
            Rule::LinesPerDocument => "lines_per_document",
            Rule::IndividualRequest => "individual_request",
            Rule::DateFormat => "date_format",
            Rule::BankAccountLength => "bank_account_length",
            Rule::InvoiceNumberLength => "invoice_number_length",
            Rule::CertExLength => "certex_length",
            Rule::IncotermsLength => "incoterms_length",
            Rule::BillingFrequencyLength => "billing_frequency_length",
            Rule::UnitCodeInTable => "unit_code_in_table",
            Rule::ActivityDescriptionLength => "activity_description_length",
            Rule::PaymentTermsLength => "payment_terms_length",
            Rule::PrepaymentReferenceLength => "prepayment_reference_length",
            Rule::TaxExchangeRate => "tax_exchange_rate",
            Rule::StateCode17 => "state_code_17",
            Rule::PlainAmounts => "plain_amounts",
            Rule::ForeignStateLength => "foreign_state_length",
            Rule::ShippingPostcodeMalaysia => "shipping_postcode_malaysia",
            Rule::ShippingPostcodeForeign => "shipping_postcode_foreign",
        };
        name.to_owned()
    }
}

/// The limit a rule sets, when it sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// No number: the rule is a requirement.
    None,
    /// An amount in MYR (exceeding it breaks the rule).
    Myr(rust_decimal::Decimal),
    /// Calendar days.
    Days(u32),
    /// Bytes of one document.
    Bytes(usize),
    /// Lines of one document.
    Lines(usize),
    /// A code the rule is about.
    Code(&'static str),
    /// Characters of one value, at most.
    Chars(usize),
    /// Values from this code table.
    Table(Table),
    /// Values of this written form.
    Format(&'static str),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::None => f.write_str("-"),
            Limit::Myr(m) => write!(f, "RM{m}"),
            Limit::Days(d) => write!(f, "{d} days"),
            Limit::Bytes(b) => write!(f, "{b} bytes"),
            Limit::Lines(l) => write!(f, "{l} lines"),
            Limit::Code(c) => write!(f, "code {c}"),
            Limit::Chars(c) => write!(f, "{c} characters"),
            Limit::Table(t) => write!(f, "{} table", t.file_name()),
            Limit::Format(s) => f.write_str(s),
        }
    }
}

/// One dated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRow {
    /// What the rule is.
    pub rule: Rule,
    /// The field it is about, as a UBL path; `None` for a rule about the whole document.
    pub field: Option<&'static str>,
    /// Its number, if any.
    pub limit: Limit,
    /// The first day it applies in LHDN's sandbox; `None`: since e-invoicing began.
    pub sandbox_from: Option<NaiveDate>,
    /// The first day it applies in production; `None`: since e-invoicing began.
    pub production_from: Option<NaiveDate>,
    /// The first day it no longer applies (in both); `None`: still in force.
    pub effective_until: Option<NaiveDate>,
    /// Listed, but not enforced until further notice (luxury goods).
    pub on_hold: bool,
    /// Consolidation: lifted for a taxpayer inside its interim relaxation period (SG45
    /// 16.2(a)).
    pub relaxable: bool,
    /// Where it is written (tags of the project's MyInvois reference).
    pub source: &'static str,
}

impl RuleRow {
    /// The first day it applies in `env`.
    pub fn from_in(&self, env: Environment) -> Option<NaiveDate> {
        match env {
            Environment::Sandbox => self.sandbox_from,
            Environment::Production => self.production_from,
        }
    }

    /// Whether the rule applies on day `on` in `env`.
    pub fn in_force(&self, env: Environment, on: NaiveDate) -> bool {
        !self.on_hold
            && self.from_in(env).is_none_or(|from| on >= from)
            && self.effective_until.is_none_or(|until| on < until)
    }

    /// Whether the rule applies to a transaction of `on` in production. The consolidation
    /// rules start on the same day in both environments, so they ask this.
    pub fn applies_on(&self, on: NaiveDate) -> bool {
        self.in_force(Environment::Production, on)
    }
}

const fn row(rule: Rule, limit: Limit, source: &'static str) -> RuleRow {
    RuleRow {
        rule,
        field: None,
        limit,
        sandbox_from: None,
        production_from: None,
        effective_until: None,
        on_hold: false,
        relaxable: false,
        source,
    }
}

/// A rule starting on the same day in both environments.
const fn since(day: NaiveDate, row: RuleRow) -> RuleRow {
    RuleRow {
        sandbox_from: Some(day),
        production_from: Some(day),
        ..row
    }
}

/// An activity that always needed its own e-invoice (lifted during relaxation).
const fn activity(a: Activity) -> RuleRow {
    RuleRow {
        relaxable: true,
        ..row(
            Rule::ExcludedActivity(a),
            Limit::None,
            "SG45 3.7.2 Table 3.6",
        )
    }
}

/// An activity that needs its own e-invoice from 1 Jan 2026.
const fn activity_2026(a: Activity) -> RuleRow {
    since(LIMITS_FROM, activity(a))
}

/// The ten field rules announced on 10 Dec 2025: in LHDN's sandbox from 15 Dec 2025; in
/// production first postponed, then set to 15 Aug 2026 by the release note of 3 Jul 2026.
const fn dec_2025(rule: Rule, field: &'static str, limit: Limit) -> RuleRow {
    RuleRow {
        field: Some(field),
        sandbox_from: Some(date(2025, 12, 15)),
        production_from: Some(date(2026, 8, 15)),
        ..row(
            rule,
            limit,
            "REL 10 Dec 2025; production date REL 3 Jul 2026",
        )
    }
}

/// A field rule of one release note, on the same day in both environments (the notes give
/// no environment for these; "effective immediately" or no date of their own is read as the
/// note's date).
const fn field_rule(
    day: NaiveDate,
    rule: Rule,
    field: &'static str,
    limit: Limit,
    source: &'static str,
) -> RuleRow {
    RuleRow {
        field: Some(field),
        ..since(day, row(rule, limit, source))
    }
}

/// The dated rules, versioned by [`RULES_VERSION`]: each fact once, with its dates and
/// source. The consolidation rows come first, the field rows after them.
pub const RULES: [RuleRow; 35] = [
    row(
        Rule::GeneralPublicBuyer,
        Limit::None,
        "SG45 Table 3.5, Appendix 2",
    ),
    row(
        Rule::Classification004,
        Limit::Code(crate::consolidation::CLASSIFICATION),
        "SG45 3.6.3",
    ),
    row(Rule::ReceiptLines, Limit::None, "SG45 3.6.3, Fig. 3.3, 3.7"),
    RuleRow {
        relaxable: true,
        ..since(
            LIMITS_FROM,
            row(
                Rule::SingleTransactionLimit,
                Limit::Myr(SINGLE_TRANSACTION_LIMIT),
                "SG45 3.7.2 Table 3.6",
            ),
        )
    },
    activity(Activity::MotorVehicle),
    activity(Activity::FlightTicket),
    activity(Activity::ConstructionContract),
    activity(Activity::BettingPayout),
    activity(Activity::AgentPayment),
    activity_2026(Activity::Electricity),
    activity_2026(Activity::TelecomPostpaid),
    activity_2026(Activity::InternetSubscription),
    activity_2026(Activity::ElectronicDevice),
    RuleRow {
        on_hold: true,
        ..activity(Activity::LuxuryGoods)
    },
    // Listed in v4.5 from 2026 and withdrawn by the 5 Jan 2026 release before it applied: an
    // empty window, kept so that the table says why such receipts are consolidated.
    RuleRow {
        effective_until: Some(LIMITS_FROM),
        source: "SG45 Table 3.6; withdrawn by MR260105, gone from SG48",
        ..activity_2026(Activity::ConstructionMaterials)
    },
    row(
        Rule::Deadline,
        Limit::Days(DEADLINE_DAYS),
        "SG45 3.6.2, 3.6.10, Ex. 2",
    ),
    row(
        Rule::DocumentSize,
        Limit::Bytes(invois_api::submission::MAX_DOCUMENT_BYTES),
        "SG45 3.6.4; Submit Documents",
    ),
    row(
        Rule::LinesPerDocument,
        Limit::Lines(MAX_LINES_PER_DOCUMENT),
        "Submit Documents (\"1,000 lines limitation\")",
    ),
    row(
        Rule::IndividualRequest,
        Limit::None,
        "SG45 3.6.8-3.6.9, Ex. 4-5",
    ),
    dec_2025(
        Rule::DateFormat,
        "every date (cbc:IssueDate, cbc:StartDate, cbc:PaidDate, ...)",
        Limit::Format("YYYY-MM-DD"),
    ),
    dec_2025(
        Rule::BankAccountLength,
        "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID",
        Limit::Chars(150),
    ),
    dec_2025(Rule::InvoiceNumberLength, "cbc:ID", Limit::Chars(50)),
    dec_2025(
        Rule::CertExLength,
        "cac:AccountingSupplierParty/cbc:AdditionalAccountID[@schemeAgencyName='CertEX']",
        Limit::Chars(300),
    ),
    dec_2025(
        Rule::IncotermsLength,
        "cac:AdditionalDocumentReference/cbc:ID (Incoterms: no DocumentType)",
        Limit::Chars(3),
    ),
    dec_2025(
        Rule::BillingFrequencyLength,
        "cac:InvoicePeriod/cbc:Description",
        Limit::Chars(50),
    ),
    dec_2025(
        Rule::UnitCodeInTable,
        "@unitCode (cbc:InvoicedQuantity, cbc:BaseUnitMeasure)",
        Limit::Table(Table::Units),
    ),
    dec_2025(
        Rule::ActivityDescriptionLength,
        "cac:AccountingSupplierParty/cac:Party/cbc:IndustryClassificationCode/@name",
        Limit::Chars(300),
    ),
    dec_2025(
        Rule::PaymentTermsLength,
        "cac:PaymentTerms/cbc:Note",
        Limit::Chars(300),
    ),
    dec_2025(
        Rule::PrepaymentReferenceLength,
        "cac:PrepaidPayment/cbc:ID",
        Limit::Chars(150),
    ),
    RuleRow {
        field: Some("cac:TaxExchangeRate"),
        sandbox_from: Some(date(2025, 8, 9)),
        production_from: Some(date(2025, 9, 1)),
        ..row(Rule::TaxExchangeRate, Limit::None, "REL 1 Aug 2025")
    },
    field_rule(
        date(2026, 4, 30),
        Rule::StateCode17,
        "cbc:CountrySubentityCode",
        Limit::Code("17"),
        "REL 30 Apr 2026 (effective immediately)",
    ),
    field_rule(
        date(2026, 4, 30),
        Rule::PlainAmounts,
        "every amount, quantity and rate",
        Limit::Format("digits with an optional decimal part, no exponent"),
        "REL 30 Apr 2026",
    ),
    field_rule(
        date(2026, 7, 3),
        Rule::ForeignStateLength,
        "cbc:CountrySubentityCode outside Malaysia",
        Limit::Chars(50),
        "REL 3 Jul 2026",
    ),
    field_rule(
        date(2026, 7, 3),
        Rule::ShippingPostcodeMalaysia,
        "cac:Delivery/cac:DeliveryParty/cac:PostalAddress/cbc:PostalZone (Malaysia)",
        Limit::Chars(5),
        "REL 3 Jul 2026",
    ),
    field_rule(
        date(2026, 7, 3),
        Rule::ShippingPostcodeForeign,
        "cac:Delivery/cac:DeliveryParty/cac:PostalAddress/cbc:PostalZone (elsewhere)",
        Limit::Chars(50),
        "REL 3 Jul 2026",
    ),
];

/// The row of a rule (every [`Rule`] has one, as a test checks).
pub fn rule(rule: Rule) -> &'static RuleRow {
    RULES.iter().find(|r| r.rule == rule).unwrap_or(&RULES[0])
}

/// Whether `rule` applies at `at` in `env`, reading `at` as a Malaysian calendar day.
pub fn in_force(rule: Rule, env: Environment, at: DateTime<Utc>) -> bool {
    self::rule(rule).in_force(env, crate::consolidation::malaysian_date(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_rule_has_one_row_with_a_source() {
        let mut names: Vec<String> = RULES.iter().map(|r| r.rule.name()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a rule is written twice");
        for r in RULES {
            assert!(!r.source.is_empty(), "{:?}", r.rule);
            assert_eq!(rule(r.rule).rule, r.rule);
        }
    }

    #[test]
    fn the_december_2025_rules_start_earlier_in_the_sandbox() {
        let row = rule(Rule::InvoiceNumberLength);
        assert_eq!(row.limit, Limit::Chars(50));
        for (env, first) in [
            (Environment::Sandbox, date(2025, 12, 15)),
            (Environment::Production, date(2026, 8, 15)),
        ] {
            assert!(!row.in_force(env, first.pred_opt().unwrap()), "{env}");
            assert!(row.in_force(env, first), "{env}");
        }
    }

    #[test]
    fn days_are_malaysian() {
        // 16:00 UTC on 14 Aug 2026 is midnight of 15 Aug in Kuala Lumpur.
        let before = Utc.with_ymd_and_hms(2026, 8, 14, 15, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 8, 14, 16, 0, 0).unwrap();
        let p = Environment::Production;
        assert!(!in_force(Rule::PaymentTermsLength, p, before));
        assert!(in_force(Rule::PaymentTermsLength, p, after));
    }

    #[test]
    fn environments_are_read_from_their_names_and_rate_profiles() {
        assert_eq!("preprod".parse(), Ok(Environment::Sandbox));
        assert_eq!(" Production ".parse(), Ok(Environment::Production));
        assert!("staging".parse::<Environment>().is_err());
        assert_eq!(
            Environment::from(invois_api::RateProfile::Sandbox),
            Environment::Sandbox
        );
        assert_eq!(Environment::default().to_string(), "production");
    }
}

//! The consolidation rules a consolidated document (one with a line classified `004`) is
//! checked against locally. MyInvois is not known to check these itself; they are the
//! guideline's, so a document that breaks one is the supplier's risk, not a rejection.
//!
//! | Code | Severity | Rule |
//! | --- | --- | --- |
//! | CON001 | error | every line of a consolidated document is classified `004` |
//! | CON002 | error | the buyer is the General Public TIN `EI00000000010` |
//! | CON003 | warning | the other General Public details (`General Public`, `NA`, state `17`) |
//! | CON004 | error | a line for one receipt above RM10,000 (from 1 Jan 2026, unless relaxed) |
//! | CON005 | warning | the supplier's industry (MSIC) is one whose transactions of a named kind each need their own e-invoice |
//! | CON006 | warning | issued after the 7th day after the month's end |
//!
//! The transaction date the dated rules are read at is the invoice period's start (a
//! consolidated e-invoice issued in January for December carries December's sales), or the
//! issue date when there is no period.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::rules::{self, Activity, Limit, Relaxation, Rule};
use super::{CLASSIFICATION, GENERAL_PUBLIC, Month};
use crate::document::Document;
use crate::tree::Element;
use crate::validate::{Category, Finding, Severity};

/// What the check needs besides the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsolidationContext {
    /// The supplier's interim relaxation period, when it adopts one: inside it the Table 3.6
    /// exclusions are lifted.
    pub relaxation: Option<Relaxation>,
}

fn line_class(line: &Element) -> Option<&str> {
    line.at(&["Item"])?
        .children_named("CommodityClassification")
        .filter_map(|c| c.child("ItemClassificationCode"))
        .find(|c| c.attr_value("listID") == Some("CLASS"))
        .and_then(Element::text)
}

/// Whether a document is a consolidated e-invoice: a line classified `004`.
pub fn is_consolidated(doc: &Document) -> bool {
    doc.root()
        .children_named("InvoiceLine")
        .any(|l| line_class(l) == Some(CLASSIFICATION))
}

/// MSIC 2008 codes (by prefix) of the industries whose named transactions need their own
/// e-invoice. Only the industry is visible in a document, so a match is a warning to look.
const INDUSTRIES: [(&str, Activity); 8] = [
    ("4510", Activity::MotorVehicle),
    ("4540", Activity::MotorVehicle),
    ("511", Activity::FlightTicket),
    ("41", Activity::ConstructionContract),
    ("42", Activity::ConstructionContract),
    ("9200", Activity::BettingPayout),
    ("351", Activity::Electricity),
    ("61", Activity::TelecomPostpaid),
];

struct Out {
    findings: Vec<Finding>,
}

impl Out {
    fn push(&mut self, code: &'static str, severity: Severity, at: (String, String), rule: String) {
        self.findings.push(Finding {
            code,
            category: Category::CoreFields,
            severity,
            json_path: at.0,
            xpath: at.1,
            rule,
            value: None,
            lhdn_code: None,
            lhdn_message: None,
        });
    }

    fn value(&mut self, value: Option<&str>) {
        if let Some(f) = self.findings.last_mut() {
            f.value = value.map(str::to_owned);
        }
    }
}

/// (JSON path, XPath) of line `i` of `n`, and below it.
fn line_path(i: usize, n: usize, json_tail: &str, xpath_tail: &str) -> (String, String) {
    let pos = if n > 1 {
        format!("[{}]", i + 1)
    } else {
        String::new()
    };
    (
        format!("$.Invoice[0].InvoiceLine[{i}]{json_tail}"),
        format!("/Invoice/cac:InvoiceLine{pos}{xpath_tail}"),
    )
}

fn date_at(root: &Element, path: &[&str]) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(root.text_at(path)?, "%Y-%m-%d").ok()
}

fn decimal_at(e: &Element, path: &[&str]) -> Decimal {
    e.text_at(path)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_default()
}

/// Checks a consolidated document against the consolidation rules; any other document has
/// nothing to check (an empty list).
pub fn check(doc: &Document, ctx: &ConsolidationContext) -> Vec<Finding> {
    let mut out = Out {
        findings: Vec::new(),
    };
    if !is_consolidated(doc) {
        return out.findings;
    }
    let root = doc.root();
    let on = date_at(root, &["InvoicePeriod", "StartDate"])
        .or_else(|| date_at(root, &["IssueDate"]))
        .unwrap_or_default();
    let relaxed = ctx.relaxation.is_some_and(|r| r.covers(on));
    lines(root, on, relaxed, &mut out);
    buyer(root, &mut out);
    industry(root, on, relaxed, &mut out);
    deadline(root, &mut out);
    out.findings
}

fn lines(root: &Element, on: NaiveDate, relaxed: bool, out: &mut Out) {
    let all: Vec<&Element> = root.children_named("InvoiceLine").collect();
    let limit_row = rules::rule(Rule::SingleTransactionLimit);
    let limit = match limit_row.limit {
        Limit::Myr(m) if limit_row.applies_on(on) && !relaxed => Some(m),
        _ => None,
    };
    for (i, line) in all.iter().enumerate() {
        let class = line_class(line);
        if class != Some(CLASSIFICATION) {
            out.push(
                "CON001",
                Severity::Error,
                line_path(
                    i,
                    all.len(),
                    ".Item[0].CommodityClassification[0].ItemClassificationCode[0]",
                    "/cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode",
                ),
                format!(
                    "every line of a consolidated e-invoice is classified {CLASSIFICATION} \
                     (SG45 3.6.3); sales that are not consolidated go on their own e-invoices"
                ),
            );
            out.value(class);
        }
        let description = line.text_at(&["Item", "Description"]).unwrap_or("");
        // A run of receipts ("1110 - 1112") may sum above the limit; one receipt may not.
        let one_receipt = !description.contains(" - ");
        let value = decimal_at(line, &["LineExtensionAmount"])
            + decimal_at(line, &["TaxTotal", "TaxAmount"]);
        if let Some(limit) = limit.filter(|l| one_receipt && value > *l) {
            out.push(
                "CON004",
                Severity::Error,
                line_path(
                    i,
                    all.len(),
                    ".LineExtensionAmount[0]",
                    "/cbc:LineExtensionAmount",
                ),
                format!(
                    "a single transaction above RM{limit} (here RM{value} with tax) may not \
                     be consolidated from {} ({}): issue it its own e-invoice",
                    rules::LIMITS_FROM,
                    limit_row.source
                ),
            );
            out.value(Some(description));
        }
    }
}

fn buyer(root: &Element, out: &mut Out) {
    let Some(party) = root.at(&["AccountingCustomerParty", "Party"]) else {
        return;
    };
    let id = |scheme: &str| {
        party
            .children_named("PartyIdentification")
            .filter_map(|p| p.child("ID"))
            .find(|i| i.attr_value("schemeID") == Some(scheme))
            .and_then(Element::text)
    };
    let at = |json: &str, xpath: &str| {
        (
            format!("$.Invoice[0].AccountingCustomerParty[0].Party[0].{json}"),
            format!("/Invoice/cac:AccountingCustomerParty/cac:Party/{xpath}"),
        )
    };
    let g = GENERAL_PUBLIC;
    let tin = id("TIN");
    if tin != Some(g.tin) {
        out.push(
            "CON002",
            Severity::Error,
            at(
                "PartyIdentification[0].ID[0]",
                "cac:PartyIdentification/cbc:ID[@schemeID='TIN']",
            ),
            format!(
                "the buyer of a consolidated e-invoice is the General Public, TIN {} \
                 ({})",
                g.tin,
                rules::rule(Rule::GeneralPublicBuyer).source
            ),
        );
        out.value(tin);
    }
    let name = party.text_at(&["PartyLegalEntity", "RegistrationName"]);
    let line0 = party
        .at(&["PostalAddress"])
        .and_then(|a| a.children_named("AddressLine").next())
        .and_then(|l| l.text_at(&["Line"]));
    let state = party.text_at(&["PostalAddress", "CountrySubentityCode"]);
    let phone = party.text_at(&["Contact", "Telephone"]);
    let registration = id("BRN").or(id("NRIC")).or(id("PASSPORT")).or(id("ARMY"));
    let checks = [
        (
            "name",
            name,
            g.name,
            at(
                "PartyLegalEntity[0].RegistrationName[0]",
                "cac:PartyLegalEntity/cbc:RegistrationName",
            ),
        ),
        (
            "registration",
            registration,
            g.id,
            at("PartyIdentification", "cac:PartyIdentification/cbc:ID"),
        ),
        (
            "SST registration",
            id("SST"),
            g.sst,
            at(
                "PartyIdentification",
                "cac:PartyIdentification/cbc:ID[@schemeID='SST']",
            ),
        ),
        (
            "address line",
            line0,
            g.address,
            at(
                "PostalAddress[0].AddressLine[0].Line[0]",
                "cac:PostalAddress/cac:AddressLine/cbc:Line",
            ),
        ),
        (
            "state",
            state,
            g.state,
            at(
                "PostalAddress[0].CountrySubentityCode[0]",
                "cac:PostalAddress/cbc:CountrySubentityCode",
            ),
        ),
        (
            "contact number",
            phone,
            g.phone,
            at("Contact[0].Telephone[0]", "cac:Contact/cbc:Telephone"),
        ),
    ];
    for (what, found, expected, path) in checks {
        if found != Some(expected) {
            out.push(
                "CON003",
                Severity::Warning,
                path,
                format!(
                    "the General Public's {what} on a consolidated e-invoice is `{expected}` \
                     (SG45 Table 3.5)"
                ),
            );
            out.value(found);
        }
    }
}

fn industry(root: &Element, on: NaiveDate, relaxed: bool, out: &mut Out) {
    if relaxed {
        return;
    }
    let Some(msic) = root.text_at(&[
        "AccountingSupplierParty",
        "Party",
        "IndustryClassificationCode",
    ]) else {
        return;
    };
    let Some((_, activity)) = INDUSTRIES.iter().find(|(p, _)| msic.starts_with(p)) else {
        return;
    };
    let row = rules::rule(Rule::ExcludedActivity(*activity));
    if !row.applies_on(on) {
        return;
    }
    out.push(
        "CON005",
        Severity::Warning,
        (
            "$.Invoice[0].AccountingSupplierParty[0].Party[0].IndustryClassificationCode[0]"
                .to_owned(),
            "/Invoice/cac:AccountingSupplierParty/cac:Party/cbc:IndustryClassificationCode"
                .to_owned(),
        ),
        format!(
            "the supplier's industry (MSIC {msic}) sells {}: such transactions each need their \
             own e-invoice ({}); make sure none is consolidated here",
            activity.as_str().replace('_', " "),
            row.source
        ),
    );
    out.value(Some(msic));
}

fn deadline(root: &Element, out: &mut Out) {
    let (Some(end), Some(issued)) = (
        date_at(root, &["InvoicePeriod", "EndDate"]),
        date_at(root, &["IssueDate"]),
    ) else {
        return;
    };
    let due = Month::of(end).deadline();
    if issued > due {
        out.push(
            "CON006",
            Severity::Warning,
            (
                "$.Invoice[0].IssueDate[0]".to_owned(),
                "/Invoice/cbc:IssueDate".to_owned(),
            ),
            format!(
                "a consolidated e-invoice for the month ending {end} is due by {due} \
                 ({}); this one is issued later",
                rules::rule(Rule::Deadline).source
            ),
        );
        out.value(root.text_at(&["IssueDate"]));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::consolidation::build::{ConsolidationSpec, LineMethod, Receipt, SplitLimits};
    use crate::consolidation::{Phase, consolidate};
    use crate::model::{Address, Party};

    fn supplier(msic: &str) -> Party {
        Party::new(
            "Kedai Runcit Sdn Bhd",
            "C25845632020",
            "BRN",
            "202001234567",
            Address::new("Lot 1, Jalan Besar", "Kuala Lumpur", "14", "MYS").postal_zone("50480"),
            "+60123456789",
        )
        .msic(msic, "Retail sale")
    }

    /// A consolidated document of `month` with one receipt of `cents`.
    fn consolidated(month: &str, cents: i64, msic: &str) -> Document {
        let month = Month::parse(month).unwrap();
        let spec = ConsolidationSpec {
            supplier: supplier(msic),
            month,
            issued_at: month.closes_at() + chrono::Duration::hours(30),
            id_prefix: format!("CONS-{}", month.compact()),
            version: "1.0".to_owned(),
            method: LineMethod::PerReceipt,
            limits: SplitLimits::default(),
        };
        let receipt = Receipt {
            number: "R-0001".to_owned(),
            amount: Decimal::new(cents, 2),
            tax_type: "06".to_owned(),
            tax_rate: Decimal::ZERO,
            tax_amount: Decimal::ZERO,
            exemption_reason: None,
        };
        let built = consolidate(&[receipt], &spec).unwrap();
        Document::parse(built[0].json.as_bytes()).unwrap()
    }

    fn codes(doc: &Document, ctx: &ConsolidationContext) -> Vec<&'static str> {
        check(doc, ctx).iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_built_consolidated_document_passes_and_validates() {
        let doc = consolidated("2026-03", 2_500, "47111");
        assert!(is_consolidated(&doc));
        assert_eq!(
            codes(&doc, &ConsolidationContext::default()),
            Vec::<&str>::new()
        );
        let now = Utc.with_ymd_and_hms(2026, 4, 2, 0, 0, 0).unwrap();
        let report = crate::validate(&doc, &crate::ValidationContext::at(now));
        assert!(
            report.is_valid(),
            "{:?}",
            report.errors().collect::<Vec<_>>()
        );
    }

    #[test]
    fn one_receipt_above_rm10000_is_refused_from_2026_unless_relaxed() {
        let ctx = ConsolidationContext::default();
        assert!(codes(&consolidated("2025-12", 1_500_000, "47111"), &ctx).is_empty());
        assert_eq!(
            codes(&consolidated("2026-01", 1_500_000, "47111"), &ctx),
            ["CON004"]
        );
        assert!(codes(&consolidated("2026-01", 1_000_000, "47111"), &ctx).is_empty());
        let relaxed = ConsolidationContext {
            relaxation: Some(Relaxation::of_phase(Phase::Four)),
        };
        assert!(codes(&consolidated("2026-01", 1_500_000, "47111"), &relaxed).is_empty());
    }

    #[test]
    fn industries_with_excluded_sales_are_warned_by_date() {
        let ctx = ConsolidationContext::default();
        // Electricity from 2026; motor vehicles always.
        assert!(codes(&consolidated("2025-12", 100, "35101"), &ctx).is_empty());
        assert_eq!(
            codes(&consolidated("2026-01", 100, "35101"), &ctx),
            ["CON005"]
        );
        assert_eq!(
            codes(&consolidated("2025-12", 100, "45101"), &ctx),
            ["CON005"]
        );
    }

    #[test]
    fn general_public_details_and_classification_are_checked() {
        let doc = consolidated("2026-03", 100, "47111");
        let mut json = doc.to_json_string();
        json = json.replace("EI00000000010", "C10987654320");
        json = json.replace("General Public", "Walk-in");
        let edited = Document::parse(json.as_bytes()).unwrap();
        let found = codes(&edited, &ConsolidationContext::default());
        assert_eq!(found, ["CON002", "CON003"]);
        // A second line that is not 004.
        let mut two = consolidated("2026-03", 100, "47111");
        let root = two.root_mut();
        let mut line = root.child("InvoiceLine").unwrap().clone();
        for c in &mut line.children {
            if c.name == "Item" {
                for cc in &mut c.children {
                    if let Some(code) = cc.child_mut("ItemClassificationCode") {
                        code.value = Some(crate::tree::Value::string("022"));
                    }
                }
            }
        }
        root.children.push(line);
        let found = check(&two, &ConsolidationContext::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, "CON001");
        assert!(
            found[0].xpath.contains("InvoiceLine[2]"),
            "{}",
            found[0].xpath
        );
    }

    #[test]
    fn a_late_issue_is_warned() {
        let month = "2026-03";
        let doc = consolidated(month, 100, "47111");
        let late = doc
            .to_json_string()
            .replace("\"2026-04-01\"", "\"2026-04-08\"");
        let late = Document::parse(late.as_bytes()).unwrap();
        assert_eq!(late.issue_date(), Some("2026-04-08"));
        assert_eq!(codes(&late, &ConsolidationContext::default()), ["CON006"]);
    }
}

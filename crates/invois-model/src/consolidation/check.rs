//! The consolidation rules a consolidated document (one with a line classified `004`) is
//! checked against, by `invois validate` and by the sandbox's Core Fields step alike. They are
//! the Specific Guideline's; LHDN does not say whether a MyInvois validator checks them. The
//! guideline's requirements are errors (the sandbox refuses them); what it only advises, or
//! what a document cannot show (what was sold), is a warning, which the sandbox does not
//! report.
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
//! issue date when there is no period; the rules in force on it are those of the context's
//! [`Environment`] (LHDN starts the consolidation rules on the same day in both).
//!
//! A consolidated self-billed e-invoice (types 11-14) names the General Public as its
//! *supplier*, since the buyer issues it, and may use any classification (SG45 3.6.5-3.6.7),
//! so CON002/CON003 look at the supplier there and CON001 is not asked. For credit, debit and
//! refund notes that adjust a consolidated e-invoice the guideline sets out no details (FAQ26
//! Q45 only allows them), so what would be an error on an invoice is a warning on a note.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::rules::{self, Activity, Limit, Relaxation, Rule};
use super::{CLASSIFICATION, GENERAL_PUBLIC, Month};
use crate::document::Document;
use crate::rules::Environment;
use crate::tree::Element;
use crate::validate::{Category, Finding, Severity};

/// What the check needs besides the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsolidationContext {
    /// The supplier's interim relaxation period, when it adopts one: inside it the Table 3.6
    /// exclusions are lifted.
    pub relaxation: Option<Relaxation>,
    /// Which MyInvois the document is for: the dated rows are read in its column.
    pub environment: Environment,
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
    let kind = doc.document_type();
    let self_billed = kind.is_some_and(|k| k.is_self_billed());
    let relaxed = ctx.relaxation.is_some_and(|r| r.covers(on));
    let when = When {
        on,
        relaxed,
        environment: ctx.environment,
    };
    lines(root, &when, !self_billed, &mut out);
    let role = if self_billed {
        "AccountingSupplierParty"
    } else {
        "AccountingCustomerParty"
    };
    general_public(root, role, &mut out);
    industry(root, &when, &mut out);
    deadline(root, &mut out);
    if kind.is_some_and(|k| k.is_note()) {
        for f in &mut out.findings {
            if f.severity == Severity::Error {
                f.severity = Severity::Warning;
                f.rule.push_str(
                    " (a warning on a note: the guideline sets out no details for notes that \
                     adjust a consolidated e-invoice)",
                );
            }
        }
    }
    out.findings
}

/// The day the dated rules are read at, in which environment, and whether the supplier's
/// relaxation period covers it.
struct When {
    on: NaiveDate,
    relaxed: bool,
    environment: Environment,
}

impl When {
    /// Whether a consolidation rule applies on that day (never a relaxable one inside the
    /// relaxation period).
    fn applies(&self, row: &rules::RuleRow) -> bool {
        row.in_force(self.environment, self.on) && !(self.relaxed && row.relaxable)
    }
}

fn lines(root: &Element, when: &When, classification: bool, out: &mut Out) {
    let all: Vec<&Element> = root.children_named("InvoiceLine").collect();
    let limit_row = rules::rule(Rule::SingleTransactionLimit);
    let limit = match limit_row.limit {
        Limit::Myr(m) if when.applies(limit_row) => Some(m),
        _ => None,
    };
    for (i, line) in all.iter().enumerate() {
        let class = line_class(line);
        if classification && class != Some(CLASSIFICATION) {
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

/// The General Public's details on the party that stands for the public: the buyer, or the
/// supplier of a self-billed document (`role`).
fn general_public(root: &Element, role: &str, out: &mut Out) {
    let Some(party) = root.at(&[role, "Party"]) else {
        return;
    };
    let (who, what) = if role == "AccountingSupplierParty" {
        ("supplier", "a consolidated self-billed e-invoice")
    } else {
        ("buyer", "a consolidated e-invoice")
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
            format!("$.Invoice[0].{role}[0].Party[0].{json}"),
            format!("/Invoice/cac:{role}/cac:Party/{xpath}"),
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
                "the {who} of {what} is the General Public, TIN {} ({})",
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
    for (detail, found, expected, path) in checks {
        if found != Some(expected) {
            out.push(
                "CON003",
                Severity::Warning,
                path,
                format!("the General Public's {detail} on {what} is `{expected}` (SG45 Table 3.5)"),
            );
            out.value(found);
        }
    }
}

fn industry(root: &Element, when: &When, out: &mut Out) {
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
    if !when.applies(row) {
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
            ..ConsolidationContext::default()
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
    fn self_billed_documents_name_the_public_as_supplier_and_notes_only_warn() {
        let ctx = ConsolidationContext::default();
        let json = consolidated("2026-01", 1_500_000, "47111").to_json_string();
        // A self-billed invoice: the public is the supplier, the issuing buyer is real, so
        // the buyer's details are not the General Public's and need not be.
        let swapped = json
            .replace("\"AccountingSupplierParty\"", "\"Tmp\"")
            .replace("\"AccountingCustomerParty\"", "\"AccountingSupplierParty\"")
            .replace("\"Tmp\"", "\"AccountingCustomerParty\"")
            .replace("\"_\":\"01\"", "\"_\":\"11\"");
        let self_billed = Document::parse(swapped.as_bytes()).unwrap();
        assert_eq!(self_billed.invoice_type_code(), Some("11"));
        assert_eq!(codes(&self_billed, &ctx), ["CON004"]);
        // A credit note adjusting a consolidated e-invoice: the same findings, as warnings.
        let note =
            Document::parse(json.replace("\"_\":\"01\"", "\"_\":\"02\"").as_bytes()).unwrap();
        assert_eq!(note.invoice_type_code(), Some("02"));
        let found = check(&note, &ctx);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, "CON004");
        assert_eq!(found[0].severity, Severity::Warning);
    }

    #[test]
    fn the_rules_are_read_in_the_contexts_environment() {
        // Both environments start the consolidation rules on 1 Jan 2026.
        for environment in [Environment::Sandbox, Environment::Production] {
            let ctx = ConsolidationContext {
                environment,
                ..ConsolidationContext::default()
            };
            assert!(codes(&consolidated("2025-12", 1_500_000, "47111"), &ctx).is_empty());
            assert_eq!(
                codes(&consolidated("2026-01", 1_500_000, "47111"), &ctx),
                ["CON004"]
            );
        }
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

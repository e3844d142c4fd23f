//! The dated rules of `invois_model::rules::RULES`, each on both sides of its first day, in
//! both environments: the day before, a breach is a warning (MyInvois does not refuse it
//! yet); from the first day, an error.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use invois_model::rules::{self, Environment, Rule};
use invois_model::tree::{Element, Value, ValueKind};
use invois_model::{CodeTables, Document, DocumentType, Severity, ValidationContext, validate};

/// Noon in Kuala Lumpur (04:00 UTC) on `day`.
fn noon(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(4, 0, 0).unwrap())
}

fn example(now: DateTime<Utc>) -> Document {
    invois_model::model::example(DocumentType::Invoice, "1.0", now - Duration::hours(1)).unwrap()
}

fn el<'a>(doc: &'a mut Document, path: &[&str]) -> &'a mut Element {
    let mut e = doc.root_mut();
    for name in path {
        e = e.child_mut(name).unwrap_or_else(|| panic!("no {name}"));
    }
    e
}

fn set(doc: &mut Document, path: &[&str], text: &str) {
    let e = el(doc, path);
    let kind = e.value.as_ref().map_or(ValueKind::String, |v| v.kind);
    e.value = Some(Value {
        text: text.to_owned(),
        kind,
    });
}

fn add(doc: &mut Document, path: &[&str], child: Element) {
    el(doc, path).children.push(child);
}

fn set_attr(doc: &mut Document, path: &[&str], name: &str, value: &str) {
    let e = el(doc, path);
    e.attrs.retain(|(n, _)| n != name);
    e.attrs.push((name.to_owned(), value.to_owned()));
}

const BUYER_ADDRESS: [&str; 4] = [
    "AccountingCustomerParty",
    "Party",
    "PostalAddress",
    "Country",
];

/// A buyer address abroad (Singapore), without the Malaysian postcode.
fn abroad(doc: &mut Document) {
    set(
        doc,
        &[&BUYER_ADDRESS[..], &["IdentificationCode"]].concat(),
        "SGP",
    );
    el(doc, &BUYER_ADDRESS[..3])
        .children
        .retain(|c| c.name != "PostalZone");
}

/// A shipping recipient with this address.
fn shipping(doc: &mut Document, postcode: &str, country: &str) {
    let address = Element::cac(
        "PostalAddress",
        vec![
            Element::cbc("CityName", "Kuala Lumpur"),
            Element::cbc("PostalZone", postcode),
            Element::cbc("CountrySubentityCode", "14"),
            Element::cac("AddressLine", vec![Element::cbc("Line", "Lot 1")]),
            Element::cac(
                "Country",
                vec![
                    Element::cbc("IdentificationCode", country)
                        .attr("listID", "ISO3166-1")
                        .attr("listAgencyID", "6"),
                ],
            ),
        ],
    );
    let delivery = Element::cac(
        "Delivery",
        vec![Element::cac("DeliveryParty", vec![address])],
    );
    doc.root_mut().children.push(delivery);
}

/// One breach of each dated field rule, and the code it is reported under.
fn breach(rule: Rule, doc: &mut Document) -> &'static str {
    let long = |n: usize| "x".repeat(n + 1);
    match rule {
        Rule::DateFormat => {
            let period = Element::cac("InvoicePeriod", vec![Element::cbc("StartDate", "N/A")]);
            doc.root_mut().children.push(period);
            "S005"
        }
        Rule::BankAccountLength => {
            let path = ["PaymentMeans", "PayeeFinancialAccount", "ID"];
            set(doc, &path, &long(150));
            "CF002"
        }
        Rule::InvoiceNumberLength => {
            set(doc, &["ID"], &long(50));
            "CF002"
        }
        Rule::CertExLength => {
            let certex =
                Element::cbc("AdditionalAccountID", long(300)).attr("schemeAgencyName", "CertEX");
            add(doc, &["AccountingSupplierParty"], certex);
            "CF002"
        }
        Rule::IncotermsLength => {
            let incoterms = Element::cac(
                "AdditionalDocumentReference",
                vec![Element::cbc("ID", "CIFX")],
            );
            doc.root_mut().children.push(incoterms);
            "CF002"
        }
        Rule::BillingFrequencyLength => {
            let period = Element::cac("InvoicePeriod", vec![Element::cbc("Description", long(50))]);
            doc.root_mut().children.push(period);
            "CF002"
        }
        Rule::UnitCodeInTable => {
            set_attr(doc, &["InvoiceLine", "InvoicedQuantity"], "unitCode", "ZZZ");
            "C001"
        }
        Rule::ActivityDescriptionLength => {
            let path = [
                "AccountingSupplierParty",
                "Party",
                "IndustryClassificationCode",
            ];
            set_attr(doc, &path, "name", &long(300));
            "CF002"
        }
        Rule::PaymentTermsLength => {
            set(doc, &["PaymentTerms", "Note"], &long(300));
            "CF002"
        }
        Rule::PrepaymentReferenceLength => {
            let prepaid = Element::cac("PrepaidPayment", vec![Element::cbc("ID", long(150))]);
            doc.root_mut().children.push(prepaid);
            "CF002"
        }
        Rule::TaxExchangeRate => {
            set(doc, &["DocumentCurrencyCode"], "USD");
            "CUR001"
        }
        Rule::StateCode17 => {
            set(
                doc,
                &[&BUYER_ADDRESS[..3], &["CountrySubentityCode"]].concat(),
                "17",
            );
            "CF009"
        }
        Rule::PlainAmounts => {
            set(doc, &["InvoiceLine", "Price", "PriceAmount"], "3.5E3");
            "S005"
        }
        Rule::ForeignStateLength => {
            abroad(doc);
            set(
                doc,
                &[&BUYER_ADDRESS[..3], &["CountrySubentityCode"]].concat(),
                &long(50),
            );
            "CF002"
        }
        Rule::ShippingPostcodeMalaysia => {
            shipping(doc, "504801", "MYS");
            "CF014"
        }
        Rule::ShippingPostcodeForeign => {
            shipping(doc, &long(50), "SGP");
            "CF002"
        }
        other => panic!("{other:?} is not a field rule"),
    }
}

/// The field rules: every row of the table with a field and a first day, except the
/// consolidation rows (tested with consolidation).
fn field_rules() -> Vec<Rule> {
    rules::RULES
        .iter()
        .filter(|r| r.field.is_some())
        .map(|r| r.rule)
        .collect()
}

/// The severity of the breach's finding at `now` in `env`.
fn severity_at(rule: Rule, env: Environment, now: DateTime<Utc>) -> Severity {
    let mut doc = example(now);
    let code = breach(rule, &mut doc);
    let ctx = ValidationContext::at(now)
        .in_environment(env)
        .with_codes(Arc::new(CodeTables::embedded()));
    let report = validate(&doc, &ctx);
    let found: Vec<_> = report.with_code(code).collect();
    assert!(!found.is_empty(), "{rule:?}: no {code} in {report:#?}");
    found.iter().map(|f| f.severity).min().unwrap()
}

#[test]
fn every_field_rule_is_a_warning_the_day_before_and_an_error_from_its_first_day() {
    let rules = field_rules();
    assert_eq!(rules.len(), 16, "a field rule without a case here");
    for rule in rules {
        let row = rules::rule(rule);
        for env in [Environment::Sandbox, Environment::Production] {
            let first = row.from_in(env).expect("a field rule has a first day");
            let before = severity_at(rule, env, noon(first.pred_opt().unwrap()));
            let from = severity_at(rule, env, noon(first));
            assert_eq!(
                before,
                Severity::Warning,
                "{rule:?} in {env} before {first}"
            );
            assert_eq!(from, Severity::Error, "{rule:?} in {env} from {first}");
        }
    }
}

#[test]
fn the_december_2025_rules_differ_between_sandbox_and_production_in_between() {
    // 1 Jan 2026: in force in LHDN's sandbox (since 15 Dec 2025), not in production (15 Aug).
    let between = noon(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    let rule = Rule::InvoiceNumberLength;
    assert_eq!(
        severity_at(rule, Environment::Sandbox, between),
        Severity::Error
    );
    assert_eq!(
        severity_at(rule, Environment::Production, between),
        Severity::Warning
    );
    // The warning says from when production refuses it.
    let mut doc = example(between);
    breach(rule, &mut doc);
    let report = validate(&doc, &ValidationContext::at(between));
    assert!(report.is_valid());
    let f = report.with_code("CF002").next().unwrap();
    assert!(f.rule.contains("2026-08-15"), "{}", f.rule);
    assert!(f.rule.contains("production"), "{}", f.rule);
}

#[test]
fn a_day_is_a_malaysian_day() {
    // 15 Aug 2026 starts at 16:00 UTC on 14 Aug.
    let first = rules::rule(Rule::PaymentTermsLength)
        .from_in(Environment::Production)
        .unwrap();
    let midnight_kl =
        Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap()) - Duration::hours(8);
    let p = Environment::Production;
    assert_eq!(
        severity_at(
            Rule::PaymentTermsLength,
            p,
            midnight_kl - Duration::seconds(1)
        ),
        Severity::Warning
    );
    assert_eq!(
        severity_at(Rule::PaymentTermsLength, p, midnight_kl),
        Severity::Error
    );
}

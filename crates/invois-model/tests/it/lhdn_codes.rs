//! Findings carry LHDN's published code and text (`invois_api::validator_errors`) for the rules
//! LHDN publishes one for, next to invois's own code.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use invois_api::DocumentStatus;
use invois_api::validator_errors::{self as lhdn, Validator};
use invois_model::tree::{Element, Value, ValueKind};
use invois_model::validate::{ReferenceLookup, ReferencedDocument};
use invois_model::{
    CodeTables, Document, DocumentType, Finding, Format, ValidationContext, validate,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 4, 0, 0).unwrap()
}

fn ctx() -> ValidationContext {
    ValidationContext::at(now()).with_codes(Arc::new(CodeTables::embedded()))
}

fn example(t: DocumentType, version: &str) -> Document {
    invois_model::model::example(t, version, now() - Duration::hours(1)).unwrap()
}

fn el<'a>(doc: &'a mut Document, path: &[&str]) -> &'a mut Element {
    let mut e = doc.root_mut();
    for name in path {
        e = e.child_mut(name).unwrap_or_else(|| panic!("no {name}"));
    }
    e
}

fn set(doc: &mut Document, path: &[&str], text: &str) {
    el(doc, path).value = Some(Value {
        text: text.to_owned(),
        kind: ValueKind::String,
    });
}

/// The one finding with this invois code.
fn only(doc: &Document, code: &str) -> Finding {
    let report = validate(doc, &ctx());
    let found: Vec<&Finding> = report.with_code(code).collect();
    assert_eq!(found.len(), 1, "{code}: {report:#?}");
    found[0].clone()
}

fn address_line(role: &str) -> [&str; 5] {
    [role, "Party", "PostalAddress", "AddressLine", "Line"]
}

#[test]
fn address_lines_are_cf345_for_the_supplier_and_cf346_for_the_buyer() {
    let line = "L".repeat(151);
    for (role, code) in [
        ("AccountingSupplierParty", "CF345"),
        ("AccountingCustomerParty", "CF346"),
    ] {
        let mut doc = example(DocumentType::Invoice, "1.0");
        set(&mut doc, &address_line(role), &line);
        let f = only(&doc, "CF002");
        assert_eq!(f.lhdn_code, Some(code));
        assert_eq!(
            f.lhdn_message.as_deref(),
            Some(
                format!("Address Line 0 maximum length is 150 characters. (Count: 151) - {line}")
                    .as_str()
            )
        );
        assert_eq!(f.validator(), Validator::CoreFields);
    }
}

#[test]
fn a_missing_currency_is_cf378() {
    let mut doc = example(DocumentType::Invoice, "1.0");
    doc.root_mut()
        .children
        .retain(|c| c.name != "DocumentCurrencyCode");
    let report = validate(&doc, &ctx());
    let f = report
        .with_code("CF001")
        .find(|f| f.xpath.ends_with("DocumentCurrencyCode"))
        .unwrap();
    assert_eq!(f.lhdn_code, Some("CF378"));
    assert_eq!(
        f.lhdn_message.as_deref(),
        Some("Invoice currency code is required")
    );
}

#[test]
fn the_suppliers_ttx_is_cf407_and_the_buyers_has_no_lhdn_code() {
    for (role, lhdn_code) in [
        ("AccountingSupplierParty", Some("CF407")),
        ("AccountingCustomerParty", None),
    ] {
        let mut doc = example(DocumentType::Invoice, "1.0");
        let ttx = Element::cac(
            "PartyIdentification",
            vec![Element::cbc("ID", "TTX 1/2").attr("schemeID", "TTX")],
        );
        el(&mut doc, &[role, "Party"]).children.push(ttx);
        let f = only(&doc, "CF008");
        assert_eq!(f.lhdn_code, lhdn_code, "{role}");
        if lhdn_code.is_some() {
            assert_eq!(
                f.lhdn_message.as_deref(),
                Some("Enter valid TTX registration number - TTX 1/2")
            );
        }
    }
}

#[test]
fn a_missing_signature_is_ds301_and_a_missing_signing_time_ds303() {
    let doc = example(DocumentType::Invoice, "1.1");
    let report = validate(&doc, &ctx());
    let unsigned: Vec<&Finding> = report.with_code("CF013").collect();
    assert!(!unsigned.is_empty());
    for f in unsigned {
        assert_eq!(f.lhdn_code, Some("DS301"));
        assert_eq!(f.lhdn_message.as_deref(), Some(lhdn::DS301.text));
        assert_eq!(f.validator(), Validator::Signature);
    }
    // A signature block without its signing time.
    let mut signed = doc.clone();
    let signature = Element::cac(
        "Signature",
        vec![Element::cac(
            "Object",
            vec![Element::cac(
                "QualifyingProperties",
                vec![Element::cac(
                    "SignedProperties",
                    vec![Element::cac("SignedSignatureProperties", vec![])],
                )],
            )],
        )],
    );
    let extensions = Element::cac(
        "UBLExtensions",
        vec![Element::cac(
            "UBLExtension",
            vec![Element::cac("ExtensionContent", vec![signature])],
        )],
    );
    signed.root_mut().children.insert(0, extensions);
    signed.root_mut().children.push(Element::cac(
        "Signature",
        vec![Element::cbc(
            "ID",
            "urn:oasis:names:specification:ubl:signature:Invoice",
        )],
    ));
    let f = only(&signed, "CF018");
    assert_eq!(f.lhdn_code, Some("DS303"));
    assert_eq!(f.lhdn_message.as_deref(), Some("Signing time not found."));
    assert!(!validate(&signed, &ctx()).has("CF013"));
}

#[test]
fn the_foreign_buyer_tin_as_supplier_is_err208() {
    let mut doc = example(DocumentType::Invoice, "1.0");
    let tin = el(&mut doc, &["AccountingSupplierParty", "Party"])
        .children
        .iter_mut()
        .filter(|c| c.name == "PartyIdentification")
        .filter_map(|p| p.child_mut("ID"))
        .find(|id| id.attr_value("schemeID") == Some("TIN"))
        .unwrap();
    tin.value = Some(Value::string("EI00000000020"));
    let f = only(&doc, "CF006");
    assert_eq!(f.lhdn_code, Some("ERR208"));
    assert_eq!(f.validator(), Validator::Taxpayer);
    // The general-public TIN as supplier breaks the same invois rule, which LHDN's visible
    // rows give no code.
    el(&mut doc, &["AccountingSupplierParty", "Party"])
        .children
        .iter_mut()
        .filter_map(|p| p.child_mut("ID"))
        .find(|id| id.attr_value("schemeID") == Some("TIN"))
        .unwrap()
        .value = Some(Value::string("EI00000000010"));
    assert_eq!(only(&doc, "CF006").lhdn_code, None);
}

#[test]
fn codes_outside_their_table_are_cv302_and_malaysian_states_abroad_cv316() {
    let mut doc = example(DocumentType::Invoice, "1.0");
    set(&mut doc, &["PaymentMeans", "PaymentMeansCode"], "99");
    let f = only(&doc, "C001");
    assert_eq!(f.lhdn_code, Some("CV302"));
    assert_eq!(
        f.lhdn_message.as_deref(),
        Some("ItemCode 99 does not exist in CodeType PaymentMethods")
    );

    let mut abroad = example(DocumentType::Invoice, "1.0");
    let address = ["AccountingCustomerParty", "Party", "PostalAddress"];
    set(
        &mut abroad,
        &[&address[..], &["Country", "IdentificationCode"]].concat(),
        "SGP",
    );
    el(&mut abroad, &address)
        .children
        .retain(|c| c.name != "PostalZone");
    // The example's buyer is in Selangor (10).
    let f = only(&abroad, "C003");
    assert_eq!(f.lhdn_code, Some("CV316"));
    assert_eq!(
        f.lhdn_message.as_deref(),
        Some("State Codes 01\u{2013}16 must be restricted to MYS only - 10")
    );
    // A state written out is what an address abroad has.
    set(
        &mut abroad,
        &[&address[..], &["CountrySubentityCode"]].concat(),
        "Central Region",
    );
    assert!(validate(&abroad, &ctx()).is_valid());
}

#[test]
fn amounts_in_another_currency_are_dc502_and_tax_amounts_outside_the_tax_currency_dc501() {
    let mut doc = example(DocumentType::Invoice, "1.0");
    let payable = el(&mut doc, &["LegalMonetaryTotal", "PayableAmount"]);
    payable.attrs.retain(|(n, _)| n != "currencyID");
    payable
        .attrs
        .push(("currencyID".to_owned(), "USD".to_owned()));
    let f = only(&doc, "CUR003");
    assert_eq!(f.lhdn_code, Some("DC502"));
    assert_eq!(
        f.lhdn_message.as_deref(),
        Some("If the document currency is MYR, all currency codes for amounts should also be MYR")
    );

    let mut taxed = example(DocumentType::Invoice, "1.0");
    let at = taxed
        .root()
        .children
        .iter()
        .position(|c| c.name == "DocumentCurrencyCode")
        .unwrap();
    taxed
        .root_mut()
        .children
        .insert(at + 1, Element::cbc("TaxCurrencyCode", "MYR"));
    let tax = el(&mut taxed, &["TaxTotal", "TaxAmount"]);
    tax.attrs.retain(|(n, _)| n != "currencyID");
    tax.attrs.push(("currencyID".to_owned(), "SGD".to_owned()));
    let f = only(&taxed, "CUR003");
    assert_eq!(f.lhdn_code, Some("DC501"));
    assert_eq!(f.validator(), Validator::Currency);
}

struct Cancelled;
impl ReferenceLookup for Cancelled {
    fn lookup(&self, _uuid: &str) -> Option<ReferencedDocument> {
        Some(ReferencedDocument {
            document_type: DocumentType::Invoice,
            status: DocumentStatus::Cancelled,
        })
    }
}

#[test]
fn a_reference_to_an_original_that_is_not_valid_is_dr303() {
    let doc = example(DocumentType::CreditNote, "1.0");
    let report = validate(&doc, &ctx().with_references(Arc::new(Cancelled)));
    let f = report.with_code("R005").next().unwrap();
    assert_eq!(f.lhdn_code, Some("DR303"));
    assert_eq!(
        f.lhdn_message.as_deref(),
        Some("The status of referenced document uuid F9D425P6DS7D8IU8ENCQEA5AQ1 is Cancelled")
    );
    assert_eq!(f.validator(), Validator::ReferencedDocuments);
}

#[test]
fn xml_out_of_order_is_the_structure_pages_invalid_child_element_with_a_null_code() {
    let doc = example(DocumentType::Invoice, "1.0");
    let xml = doc.to_string_as(Format::Xml);
    // IssueTime written before IssueDate.
    let date_start = xml.find("<cbc:IssueDate>").unwrap();
    let date_end = xml.find("</cbc:IssueDate>").unwrap() + "</cbc:IssueDate>".len();
    let date = &xml[date_start..date_end];
    let time_end = xml.find("</cbc:IssueTime>").unwrap() + "</cbc:IssueTime>".len();
    let swapped = format!(
        "{}{}{}{}",
        &xml[..date_start],
        &xml[date_end..time_end],
        date,
        &xml[time_end..]
    );
    let doc = Document::parse_as(swapped.as_bytes(), Format::Xml).unwrap();
    let report = invois_model::validate::validate_structure(&doc, &ctx());
    let f = report.with_code("S002").next().unwrap();
    assert_eq!(f.lhdn_code, None);
    assert_eq!(f.lhdn_message.as_deref(), Some("Invalid child element"));
    assert_eq!(f.validator(), Validator::Structure);
}

#[test]
fn findings_without_a_published_rule_have_no_lhdn_code_and_keep_their_validator() {
    let mut doc = example(DocumentType::Invoice, "1.0");
    set(
        &mut doc,
        &["AccountingSupplierParty", "Party", "Contact", "Telephone"],
        "12",
    );
    let f = only(&doc, "CF003");
    assert_eq!((f.lhdn_code, f.lhdn_message.as_deref()), (None, None));
    assert_eq!(f.validator(), Validator::CoreFields);
}

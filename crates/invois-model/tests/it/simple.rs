//! invois's own document JSON: the example becomes a valid document whose totals match its
//! lines, every type builds, round-trips are faithful, every refusal names its field, and
//! numbers stay exact.

use chrono::{DateTime, Duration, Utc};
use invois_model::simple::{self, ErrorKind, SimpleDocument, SimpleError};
use invois_model::{Document, DocumentType, Format, ValidationContext, validate};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/simple-invoice.json");

fn example_bytes() -> Vec<u8> {
    std::fs::read(EXAMPLE).expect("the example file is part of the crate")
}

fn example_value() -> Value {
    serde_json::from_slice(&example_bytes()).unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Validation as of an hour after the issue instant (inside the 72-hour window).
fn ctx_for(doc: &Document) -> ValidationContext {
    ValidationContext::at(doc.issued_at().unwrap() + Duration::hours(1))
}

fn errors(doc: &Document) -> Vec<String> {
    validate(doc, &ctx_for(doc))
        .errors()
        .map(|f| format!("{} {} at {}", f.code, f.rule, f.xpath))
        .collect()
}

fn parse_value(v: &Value) -> Result<Document, SimpleError> {
    simple::parse(serde_json::to_string(v).unwrap().as_bytes())
}

fn refused(v: &Value) -> SimpleError {
    match parse_value(v) {
        Ok(_) => panic!("accepted: {v}"),
        Err(e) => e,
    }
}

#[test]
fn example_becomes_a_document_that_validates_clean() {
    let doc = simple::parse(&example_bytes()).unwrap();
    assert_eq!(errors(&doc), Vec::<String>::new());
    assert_eq!(doc.document_type(), Some(DocumentType::Invoice));
    assert_eq!(doc.version(), Some("1.0"));
    assert_eq!(doc.id(), Some("SI-2026-00042"));
    // +08:00 in the input, UTC in the document.
    assert_eq!(doc.issue_date(), Some("2026-11-20"));
    assert_eq!(doc.issue_time(), Some("02:15:00Z"));
    assert_eq!(doc.supplier_tin(), Some("C2584563200"));
    assert_eq!(doc.buyer_tin(), Some("C2584563220"));
    assert_eq!(doc.supplier_id("SST"), Some("W10-1808-32000001"));
    assert_eq!(doc.buyer_id("SST"), Some("NA"));
    assert_eq!(doc.line_count(), 4);
    let r = doc.root();
    assert_eq!(
        r.text_at(&["InvoicePeriod", "Description"]),
        Some("Monthly")
    );
    assert_eq!(
        r.text_at(&["BillingReference", "AdditionalDocumentReference", "ID"]),
        Some("PO-77812")
    );
    assert_eq!(r.children_named("AdditionalDocumentReference").count(), 3);
    assert_eq!(
        r.text_at(&["Delivery", "Shipment", "FreightAllowanceCharge", "Amount"]),
        Some("25.00")
    );
    assert_eq!(r.text_at(&["PaymentMeans", "PaymentMeansCode"]), Some("03"));
    assert_eq!(
        r.text_at(&["PrepaidPayment", "PaidDate"]),
        Some("2026-11-02")
    );
    assert_eq!(
        r.text_at(&["PrepaidPayment", "PaidTime"]),
        Some("01:00:00Z")
    );
}

#[test]
fn example_totals_match_its_lines() {
    let bytes = example_bytes();
    let s: SimpleDocument = simple::from_slice(&bytes).unwrap();
    let doc = simple::parse(&bytes).unwrap();

    // Recomputed here from the simple document, independently of the builder.
    let mut lines = Decimal::ZERO;
    let mut tax = Decimal::ZERO;
    for l in &s.lines {
        let net = l.quantity * l.unit_price - l.discounts.iter().map(|d| d.amount).sum::<Decimal>()
            + l.charges.iter().map(|c| c.amount).sum::<Decimal>();
        lines += net;
        for t in &l.taxes {
            tax += match (t.percent, t.per_unit) {
                _ if t.tax_type == "E" => Decimal::ZERO,
                (Some(p), _) => (net * p / Decimal::ONE_HUNDRED).round_dp(2),
                (_, Some(u)) => u * l.quantity,
                _ => unreachable!(),
            };
        }
    }
    let allowances: Decimal = s.discounts.iter().map(|d| d.amount).sum();
    let charges: Decimal = s.charges.iter().map(|c| c.amount).sum();
    let exclusive = lines - allowances + charges;
    let payable = exclusive + tax - s.prepayment.as_ref().unwrap().amount + s.rounding.unwrap();

    let t = doc.totals();
    assert_eq!(t.line_extension, Some(lines));
    assert_eq!(t.allowance_total, Some(allowances));
    assert_eq!(t.charge_total, Some(charges));
    assert_eq!(t.tax_exclusive, Some(exclusive));
    assert_eq!(t.tax, Some(tax));
    assert_eq!(t.tax_inclusive, Some(exclusive + tax));
    assert_eq!(t.payable_rounding, Some(dec("-0.20")));
    assert_eq!(t.payable, Some(payable));
    // And the figures worked out by hand for the README.
    assert_eq!(t.line_extension, Some(dec("9290.00")));
    assert_eq!(t.tax, Some(dec("781.20")));
    assert_eq!(t.payable, Some(dec("9031.00")));
}

#[test]
fn example_round_trips_through_ubl_json_and_xml() {
    let doc = simple::parse(&example_bytes()).unwrap();
    let json = doc.to_json_string();
    assert!(json.starts_with("{\"_D\":"), "{json}");
    let from_json = Document::parse_as(json.as_bytes(), Format::Json).unwrap();
    assert_eq!(from_json.to_json_string(), json);
    assert_eq!(from_json.totals(), doc.totals());
    assert_eq!(errors(&from_json), Vec::<String>::new());

    let xml = doc.to_xml_string();
    let from_xml = Document::parse_as(xml.as_bytes(), Format::Xml).unwrap();
    assert_eq!(from_xml.to_xml_string(), xml);
    assert_eq!(from_xml.totals(), doc.totals());
    assert_eq!(errors(&from_xml), Vec::<String>::new());

    // UBL JSON is never mistaken for the simple format, nor is XML.
    assert!(simple::looks_like_simple(&example_bytes()));
    assert!(!simple::looks_like_simple(json.as_bytes()));
    assert!(!simple::looks_like_simple(xml.as_bytes()));
}

#[test]
fn to_simple_and_back_gives_the_same_document() {
    let doc = simple::parse(&example_bytes()).unwrap();
    let s = simple::to_simple(&doc).unwrap();
    let again = simple::parse(&serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(again.to_json_string(), doc.to_json_string());
    // The simple form read back equals the original, apart from the instants now in UTC and
    // the values normalised by the typed model.
    let original = simple::from_slice(&example_bytes()).unwrap();
    assert_eq!(s.lines, original.lines);
    assert_eq!(s.supplier, original.supplier);
    assert_eq!(s.issued_at, original.issued_at);
    assert_eq!(s.delivery, original.delivery);
}

#[test]
fn all_eight_types_by_code_and_by_name() {
    assert_eq!(simple::TYPE_NAMES.len(), DocumentType::ALL.len());
    for (name, t) in &simple::TYPE_NAMES {
        assert_eq!(simple::type_name(*t), *name);
        for label in [*name, t.code()] {
            let mut v = example_value();
            v["type"] = json!(label);
            if t.is_note() {
                let original = if t.is_self_billed() {
                    "11-0001"
                } else {
                    "01-0001"
                };
                v["originals"] = json!([{"uuid": "F9D425P6DS7D8IU8ENCQEA5AQ1", "id": original}]);
            }
            let doc = parse_value(&v).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(doc.document_type(), Some(*t), "{label}");
            assert_eq!(doc.invoice_type_code(), Some(t.code()), "{label}");
            assert_eq!(errors(&doc), Vec::<String>::new(), "{label}");
            if t.is_note() {
                let refs = doc.billing_references();
                assert_eq!(refs.len(), 1, "{label}");
                assert_eq!(refs[0].uuid.as_deref(), Some("F9D425P6DS7D8IU8ENCQEA5AQ1"));
            }
        }
    }
}

#[test]
fn every_note_needs_its_original() {
    for t in DocumentType::ALL.into_iter().filter(|t| t.is_note()) {
        let mut v = example_value();
        v["type"] = json!(t.code());
        let e = refused(&v);
        assert_eq!(e.path, "originals", "{t}");
        assert_eq!(e.kind, ErrorKind::Rule);
        assert!(e.message.contains(t.description()), "{e}");
    }
}

#[test]
fn version_defaults_to_1_1_and_every_version_is_accepted() {
    let mut v = example_value();
    v.as_object_mut().unwrap().remove("version");
    let doc = parse_value(&v).unwrap();
    assert_eq!(doc.version(), Some("1.1"));
    // Unsigned 1.1: the only errors are the missing signature.
    let codes: Vec<&str> = validate(&doc, &ctx_for(&doc))
        .errors()
        .map(|f| f.code)
        .collect();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| *c == "CF013"),
        "{codes:?}"
    );
    for version in ["1.0", "1.1", "1.2", "1.3"] {
        v["version"] = json!(version);
        assert_eq!(parse_value(&v).unwrap().version(), Some(version));
    }
    v["version"] = json!("2.0");
    let e = refused(&v);
    assert_eq!((e.path.as_str(), e.kind), ("version", ErrorKind::BadValue));
}

#[test]
fn foreign_currency_with_exchange_rate() {
    let mut v = example_value();
    v["currency"] = json!("USD");
    v["exchangeRate"] = json!("4.4725");
    let doc = parse_value(&v).unwrap();
    assert_eq!(errors(&doc), Vec::<String>::new());
    assert_eq!(doc.currency(), Some("USD"));
    let r = doc.root();
    assert_eq!(r.text_at(&["TaxCurrencyCode"]), Some("MYR"));
    assert_eq!(
        r.text_at(&["TaxExchangeRate", "CalculationRate"]),
        Some("4.4725")
    );
    // The line total is in USD, the tax in MYR.
    assert_eq!(doc.totals().line_extension, Some(dec("9290.00")));
    assert_eq!(doc.totals().tax, Some(dec("3493.92")));

    v.as_object_mut().unwrap().remove("exchangeRate");
    let e = refused(&v);
    assert_eq!((e.path.as_str(), e.kind), ("exchangeRate", ErrorKind::Rule));
    v["currency"] = json!("MYR");
    v["exchangeRate"] = json!(4.5);
    assert_eq!(refused(&v).path, "exchangeRate");
}

#[test]
fn numbers_stay_exact() {
    let mut v = example_value();
    let line = v["lines"][0].clone();
    let mut a = line.clone();
    let mut b = line;
    // JSON numbers, which a binary float would turn into 0.30000000000000004.
    a["unitPrice"] = serde_json::from_str("0.1").unwrap();
    a["quantity"] = json!(1);
    a.as_object_mut().unwrap().remove("discounts");
    b["unitPrice"] = serde_json::from_str("0.2").unwrap();
    b["quantity"] = json!(1);
    b.as_object_mut().unwrap().remove("discounts");
    v["lines"] = json!([a, b]);
    v.as_object_mut().unwrap().remove("prepayment");
    let doc = parse_value(&v).unwrap();
    assert_eq!(doc.totals().line_extension, Some(dec("0.3")));

    // More digits than an f64 holds, as a number and as a string.
    let mut v = example_value();
    v["lines"][0]["unitPrice"] = serde_json::from_str("1234567890.123456789").unwrap();
    v["lines"][1]["unitPrice"] = json!("0.000000000000000000000000001");
    let s = simple::from_slice(serde_json::to_string(&v).unwrap().as_bytes()).unwrap();
    assert_eq!(s.lines[0].unit_price.to_string(), "1234567890.123456789");
    assert_eq!(
        s.lines[1].unit_price.to_string(),
        "0.000000000000000000000000001"
    );
    // Exponent form is read exactly too.
    v["lines"][0]["unitPrice"] = serde_json::from_str("1.5e3").unwrap();
    let s = simple::from_slice(serde_json::to_string(&v).unwrap().as_bytes()).unwrap();
    assert_eq!(s.lines[0].unit_price, dec("1500"));
}

#[test]
fn unknown_field_names_its_path() {
    let mut v = example_value();
    v["supplier"]["address"]["zip"] = json!("50400");
    let e = refused(&v);
    assert_eq!(e.path, "supplier.address.zip");
    assert_eq!(e.kind, ErrorKind::UnknownField);
    assert!(
        e.message.contains("postalCode"),
        "lists the known fields: {e}"
    );

    let mut v = example_value();
    v["lines"][3]["vat"] = json!(6);
    let e = refused(&v);
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("lines[3].vat", ErrorKind::UnknownField)
    );
}

#[test]
fn bad_decimal_names_its_path() {
    let mut v = example_value();
    v["lines"][2]["unitPrice"] = json!("12.3.4");
    let e = refused(&v);
    assert_eq!(e.path, "lines[2].unitPrice");
    assert_eq!(e.kind, ErrorKind::BadDecimal);
    assert!(e.message.contains("12.3.4"), "{e}");
    assert!(e.to_string().starts_with("lines[2].unitPrice: "), "{e}");

    let mut v = example_value();
    v["lines"][1]["taxes"][0]["percent"] = json!(true);
    let e = refused(&v);
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("lines[1].taxes[0].percent", ErrorKind::BadDecimal)
    );
    let mut v = example_value();
    v["prepayment"]["amount"] = json!("RM 10");
    assert_eq!(refused(&v).path, "prepayment.amount");
}

#[test]
fn missing_fields_name_their_path() {
    let mut v = example_value();
    v["supplier"].as_object_mut().unwrap().remove("tin");
    let e = refused(&v);
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("supplier.tin", ErrorKind::Missing)
    );
    assert_eq!(e.to_string(), "supplier.tin: required field is missing");

    let mut v = example_value();
    v.as_object_mut().unwrap().remove("buyer");
    assert_eq!(refused(&v).path, "buyer");

    let mut v = example_value();
    v["lines"][1].as_object_mut().unwrap().remove("unit");
    assert_eq!(refused(&v).path, "lines[1].unit");
}

#[test]
fn empty_lines_are_refused() {
    let mut v = example_value();
    v["lines"] = json!([]);
    let e = refused(&v);
    assert_eq!((e.path.as_str(), e.kind), ("lines", ErrorKind::Rule));
}

#[test]
fn wrong_types_and_bad_values_name_their_path() {
    let mut v = example_value();
    v["id"] = json!(42);
    let e = refused(&v);
    assert_eq!((e.path.as_str(), e.kind), ("id", ErrorKind::WrongType));

    let mut v = example_value();
    v["type"] = json!("05");
    let e = refused(&v);
    assert_eq!((e.path.as_str(), e.kind), ("type", ErrorKind::BadValue));
    assert!(e.message.contains("credit_note"), "lists the names: {e}");

    let mut v = example_value();
    v["issuedAt"] = json!("20/11/2026 10:15");
    assert_eq!(refused(&v).path, "issuedAt");

    let mut v = example_value();
    v["period"]["end"] = json!("2026-02-30");
    let e = refused(&v);
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("period.end", ErrorKind::BadValue)
    );

    let mut v = example_value();
    v["buyer"]["idType"] = json!("MYKAD");
    assert_eq!(refused(&v).path, "buyer.idType");

    let mut v = example_value();
    v["supplier"]["address"]["lines"] = json!([]);
    assert_eq!(refused(&v).path, "supplier.address.lines");

    let mut v = example_value();
    v["supplier"]
        .as_object_mut()
        .unwrap()
        .remove("businessActivity");
    assert_eq!(refused(&v).path, "supplier.businessActivity");
}

#[test]
fn tax_rules_name_their_path() {
    let mut v = example_value();
    v["lines"][3]["taxes"][0]
        .as_object_mut()
        .unwrap()
        .remove("exemptionReason");
    let e = refused(&v);
    assert_eq!(e.path, "lines[3].taxes[0].exemptionReason");
    assert_eq!(e.kind, ErrorKind::Rule);

    let mut v = example_value();
    v["lines"][2]["taxes"][1]["percent"] = json!(6);
    assert_eq!(refused(&v).path, "lines[2].taxes[1]");

    let mut v = example_value();
    v["lines"][0]["taxes"] = json!([{"type": "01"}]);
    assert_eq!(refused(&v).path, "lines[0].taxes[0]");

    // No taxes at all: Not Applicable (06) at 0 %.
    let mut v = example_value();
    v["lines"][0].as_object_mut().unwrap().remove("taxes");
    let doc = parse_value(&v).unwrap();
    assert_eq!(errors(&doc), Vec::<String>::new());
    let first = doc.root().children_named("InvoiceLine").next().unwrap();
    assert_eq!(
        first.text_at(&["TaxTotal", "TaxSubtotal", "TaxCategory", "ID"]),
        Some("06")
    );
}

#[test]
fn syntax_errors_and_trailing_content() {
    let e = simple::parse(b"{\"type\": \"01\",").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.message.contains("line 1"), "{e}");
    let mut bytes = example_bytes();
    bytes.extend_from_slice(b" {}");
    assert_eq!(simple::parse(&bytes).unwrap_err().kind, ErrorKind::Syntax);
}

#[test]
fn detection() {
    assert!(simple::looks_like_simple(b"  {\"type\": \"01\"}"));
    assert!(simple::looks_like_simple(b"\xEF\xBB\xBF{}"));
    // `_D` as a value is not the UBL key.
    assert!(simple::looks_like_simple(b"{\"description\": \"_D\"}"));
    assert!(!simple::looks_like_simple(
        b"{\"_D\" : \"urn:x\", \"Invoice\": []}"
    ));
    assert!(!simple::looks_like_simple(b"<Invoice/>"));
    assert!(!simple::looks_like_simple(b"[]"));
    assert!(!simple::looks_like_simple(b""));
    let now: DateTime<Utc> = "2026-11-20T02:00:00Z".parse().unwrap();
    let ubl = invois_model::model::example(DocumentType::Invoice, "1.0", now).unwrap();
    assert!(!simple::looks_like_simple(ubl.to_json_string().as_bytes()));
}

#[test]
fn the_top_level_scan_decides_ubl_by_one_rule() {
    use simple::JsonTop;
    let ubl = JsonTop::scan(b"{\"_D\":\"urn:x\",\"Invoice\":[{\"ID\":[{\"_\":\"A\"}]}]}").unwrap();
    assert!(ubl.is_ubl() && ubl.invoice_is_array);
    assert_eq!(ubl.keys, ["_D", "Invoice"]);
    // A UBL document that lost its header is still UBL by its root array.
    assert!(JsonTop::scan(b"{\"Invoice\":[]}").unwrap().is_ubl());
    // invois's own JSON, and a root `Invoice` that is not an array.
    assert!(!JsonTop::scan(b"{\"type\":\"01\"}").unwrap().is_ubl());
    assert!(
        !JsonTop::scan(b"{\"Invoice\":{\"a\":[1]}}")
            .unwrap()
            .is_ubl()
    );
    // Not an object at all.
    let list = JsonTop::scan(b"[1,2]").unwrap();
    assert!(!list.is_object && !list.is_ubl());
    // A syntax error deep inside is still found, with its position.
    let e = JsonTop::scan(b"{\"a\": [1,\n 2,,]}").unwrap_err();
    assert_eq!(e.line(), 2);
    // Trailing content is an error too.
    assert!(JsonTop::scan(b"{} {}").is_err());
}

//! Every test document (the fixtures, and LHDN's samples when switched on) parses; JSON and XML round-trips are faithful; JSON <-> XML keeps every
//! value.

use invois_model::tree::Element;
use invois_model::{Document, Format, canonicalize};
use invois_testkit::{Corpus, Kind, Version};

/// The text with every whitespace byte outside strings removed: what a faithful minifying
/// writer gives. (Not through `serde_json::Value`, which would silently drop the repeated
/// `TaxSubtotal` member of LHDN's own 1.0 multi-line sample.)
fn minified_json(bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.trim_start_matches('\u{feff}').chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn document_counts_are_as_published() {
    // Guards against a silently empty directory. LHDN: 22 + 22 + 16 + 16 + 2 files (§13);
    // fixtures: 11 kinds in 1.0 and 1.1 (signed and unsigned), 8 in 1.2 and 1.3 (signed and
    // unsigned).
    for corpus in Corpus::available() {
        let want = if corpus.is_lhdn() { 39 } else { 57 };
        for format in [Format::Json, Format::Xml] {
            assert_eq!(corpus.files(format).len(), want, "{}", corpus.name());
        }
    }
}

fn corpus_is_lhdn(path: &std::path::Path) -> bool {
    Corpus::lhdn().is_some_and(|c| path.starts_with(c.root()))
}

#[test]
fn every_json_sample_parses_and_round_trips_byte_for_byte() {
    for path in crate::common::samples("json") {
        let bytes = crate::common::read(&path);
        let doc =
            Document::from_json_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(doc.source_format(), Format::Json);
        assert!(doc.id().is_some(), "{}", path.display());
        if !doc.duplicate_keys().is_empty() {
            // LHDN's 1.0 multi-line sample writes `TaxSubtotal` twice in one object. Both are
            // kept (and reported as S008), and the writer puts repeats in one array, so that
            // file alone cannot come back byte for byte; its output is stable and clean.
            assert!(corpus_is_lhdn(&path), "{}", path.display());
            let again = Document::from_json_bytes(doc.to_json_string().as_bytes()).unwrap();
            assert!(again.duplicate_keys().is_empty());
            assert_eq!(again.to_json_string(), doc.to_json_string());
            continue;
        }
        assert_eq!(
            doc.to_json_string(),
            minified_json(&bytes),
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_xml_sample_parses_and_round_trips_canonically() {
    for path in crate::common::samples("xml") {
        let bytes = crate::common::read(&path);
        let doc =
            Document::from_xml_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(doc.id().is_some(), "{}", path.display());
        let out = doc.to_xml_string();
        assert_eq!(
            canonicalize(out.as_bytes()).unwrap(),
            canonicalize(&bytes).unwrap(),
            "{}",
            path.display()
        );
        // Minified: no indentation between elements (a leaf's own text is kept as is).
        assert!(
            !out.contains("\n<cac:") && !out.contains("\n  "),
            "{}",
            path.display()
        );
        assert!(out.len() < bytes.len(), "{}", path.display());
    }
}

#[test]
fn format_detection_parses_both() {
    for path in crate::common::samples("json")
        .into_iter()
        .chain(crate::common::samples("xml"))
    {
        let bytes = crate::common::read(&path);
        Document::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Every (path of names, attributes, value text) of a tree, order-insensitive between siblings
/// of different names (JSON groups repeated names; the XML writer puts them in UBL order).
fn facts(el: &Element, path: &str, out: &mut Vec<String>) {
    let here = format!("{path}/{}", el.name);
    let mut attrs = el.attrs.clone();
    attrs.sort();
    out.push(format!(
        "{here} {attrs:?} {:?}",
        el.value.as_ref().map(|v| (&v.text, v.kind))
    ));
    for c in &el.children {
        facts(c, &here, out);
    }
}

fn all_facts(doc: &Document) -> Vec<String> {
    let mut v = Vec::new();
    facts(doc.root(), "", &mut v);
    v.sort();
    v
}

#[test]
fn json_to_xml_to_json_keeps_every_value() {
    for path in crate::common::samples("json") {
        let doc = Document::from_json_bytes(&crate::common::read(&path)).unwrap();
        let xml = doc.to_xml_string();
        let back = Document::from_xml_bytes(xml.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}\n{xml}", path.display()));
        assert_eq!(all_facts(&back), all_facts(&doc), "{}", path.display());
        // And back to JSON: the same values, numbers still numbers with the same digits.
        let json = back.to_json_string();
        let again = Document::from_json_bytes(json.as_bytes()).unwrap();
        assert_eq!(all_facts(&again), all_facts(&doc), "{}", path.display());
    }
}

#[test]
fn xml_to_json_to_xml_keeps_every_value() {
    for path in crate::common::samples("xml") {
        let doc = Document::from_xml_bytes(&crate::common::read(&path)).unwrap();
        let json = doc.to_json_string();
        let back = Document::from_json_bytes(json.as_bytes()).unwrap();
        assert_eq!(all_facts(&back), all_facts(&doc), "{}", path.display());
        let xml = back.to_xml_string();
        let again = Document::from_xml_bytes(xml.as_bytes()).unwrap();
        assert_eq!(all_facts(&again), all_facts(&doc), "{}", path.display());
    }
}

#[test]
fn json_and_xml_samples_of_the_same_kind_hold_the_same_values() {
    // The official JSON and XML samples of one kind are the same document; converting the XML
    // gives the JSON's values (the signature block differs between the two publications, so
    // only unsigned 1.0 samples are compared).
    for path in crate::common::samples("json")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/v1.0/"))
    {
        let json = Document::from_json_bytes(&crate::common::read(&path)).unwrap();
        let xml =
            Document::from_xml_bytes(&crate::common::read(&path.with_extension("xml"))).unwrap();
        // IDs differ by design (`JSON-INV...` vs `XML-INV...`).
        assert_eq!(
            json.id().map(|i| &i[i.find('-').unwrap_or(0)..]),
            xml.id().map(|i| &i[i.find('-').unwrap_or(0)..])
        );
        let (j, x) = (json.totals(), xml.totals());
        // The publications differ in optional zero totals; the mandatory ones agree.
        assert_eq!(
            (j.tax_exclusive, j.tax_inclusive, j.payable),
            (x.tax_exclusive, x.tax_inclusive, x.payable),
            "{}",
            path.display()
        );
        assert_eq!(
            json.supplier_tin(),
            xml.supplier_tin(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn numbers_keep_their_exact_text() {
    let src = br#"{"_D":"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2","Invoice":[{"ID":[{"_":"A"}],"LegalMonetaryTotal":[{"PayableAmount":[{"_":1.0,"currencyID":"MYR"}],"TaxExclusiveAmount":[{"_":87.630,"currencyID":"MYR"}]}]}]}"#;
    let doc = Document::from_json_bytes(src).unwrap();
    assert_eq!(doc.to_json_string().as_bytes(), &src[..]);
    let xml = doc.to_xml_string();
    assert!(xml.contains(">1.0</cbc:PayableAmount>"), "{xml}");
    assert!(xml.contains(">87.630</cbc:TaxExclusiveAmount>"), "{xml}");
}

#[test]
fn json_from_xml_puts_signature_last_and_xml_from_json_puts_extensions_first() {
    let path = Corpus::fixtures().path(Version::V1_1, Kind::Invoice, Format::Xml);
    let doc = Document::from_xml_bytes(&crate::common::read(&path)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&doc.to_json_string()).unwrap();
    let keys: Vec<&String> = json["Invoice"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys[keys.len() - 2..], ["UBLExtensions", "Signature"]);
    let jpath = Corpus::fixtures().path(Version::V1_1, Kind::Invoice, Format::Json);
    let jdoc = Document::from_json_bytes(&crate::common::read(&jpath)).unwrap();
    let xml = jdoc.to_xml_string();
    assert!(xml.starts_with("<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\" xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\" xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\"><UBLExtensions xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2\">"), "{}", &xml[..200]);
    assert!(xml.contains("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""));
    assert!(
        xml.contains(
            "<xades:QualifyingProperties xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\""
        )
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    for bad in [
        &b""[..],
        b"hello",
        b"{",
        b"<Invoice>",
        b"<a></b>",
        b"{\"Invoice\":[1]}",
        b"<!DOCTYPE x><Invoice/>",
        b"[]",
        b"<Other/>",
    ] {
        assert!(
            Document::parse(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn submission_payload_is_hashed_over_the_minified_bytes() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let path = Corpus::fixtures().path(Version::V1_0, Kind::Invoice, Format::Json);
    let bytes = crate::common::read(&path);
    let p = invois_model::prepare_for_submission(&bytes).unwrap();
    assert_eq!(p.bytes(), minified_json(&bytes).as_bytes());
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(p.base64())
            .unwrap(),
        p.bytes()
    );
    assert_eq!(p.sha256_hex(), hex::encode(sha2::Sha256::digest(p.bytes())));
    assert_eq!(p.sha256_hex().len(), 64);
    assert!(
        p.sha256_hex()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let xml = crate::common::read(&path.with_extension("xml"));
    let px = invois_model::prepare_for_submission(&xml).unwrap();
    assert!(px.bytes().len() < xml.len());
    assert_eq!(
        canonicalize(px.bytes()).unwrap(),
        canonicalize(&xml).unwrap()
    );
}

#[test]
fn hostile_nesting_and_names_are_errors() {
    let deep = format!(
        "<Invoice>{}{}</Invoice>",
        "<cac:A xmlns:cac=\"x\">".repeat(5000),
        "</cac:A>".repeat(5000)
    );
    assert!(Document::parse(deep.as_bytes()).is_err());
    let bad_name = br#"{"Invoice":[{"a b":[{"_":"x"}]}]}"#;
    assert!(matches!(
        Document::parse(bad_name),
        Err(invois_model::ParseError::Shape { .. })
    ));
}

#[test]
fn xml_declaration_and_entities_survive_a_round_trip() {
    let src = br#"<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>A &amp; B &lt;1&gt; &#233;</cbc:ID></Invoice>"#;
    let doc = Document::parse(src).unwrap();
    assert_eq!(doc.id(), Some("A & B <1> \u{e9}"));
    let out = doc.to_xml_string();
    assert!(
        out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{out}"
    );
    assert_eq!(
        canonicalize(out.as_bytes()).unwrap(),
        canonicalize(src).unwrap()
    );
    let json = doc.to_json_string();
    assert!(
        json.contains("\"ID\":[{\"_\":\"A & B <1> \u{e9}\"}]"),
        "{json}"
    );
}

#[test]
fn unknown_elements_are_listed() {
    let src = br#"{"Invoice":[{"ID":[{"_":"A"}],"Colour":[{"_":"blue"}]}]}"#;
    let doc = Document::parse(src).unwrap();
    let unknown = doc.unknown_elements();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].xpath, "/Invoice/cbc:Colour");
}

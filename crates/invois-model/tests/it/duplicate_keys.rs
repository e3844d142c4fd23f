//! A JSON key written twice in one object: `S008`, with the key and both occurrences named.

use invois_model::validate::validate_structure;
use invois_model::{Category, Document, Finding, Format, ParseError, Severity, ValidationContext};
use invois_testkit::{Kind, Version};

/// The 1.0 invoice fixture, minified (members in the fixture's order).
fn invoice() -> String {
    serde_json::to_string(&invois_testkit::fixture_json(Version::V1_0, Kind::Invoice)).unwrap()
}

/// `text` with `insertion` written right after the first `anchor`.
fn insert_after(text: &str, anchor: &str, insertion: &str) -> String {
    assert!(text.contains(anchor), "no {anchor} in the fixture");
    text.replacen(anchor, &format!("{anchor}{insertion}"), 1)
}

fn s008(doc: &Document) -> Vec<Finding> {
    validate_structure(doc, &ValidationContext::at(chrono::Utc::now()))
        .findings
        .into_iter()
        .filter(|f| f.code == "S008")
        .collect()
}

const ID: &str = r#""ID":[{"_":"FX10-01-invoice"}]"#;

#[test]
fn the_fixture_has_no_repeated_key() {
    let doc = Document::parse(invoice().as_bytes()).unwrap();
    assert!(doc.duplicate_keys().is_empty());
    assert!(s008(&doc).is_empty());
}

#[test]
fn a_repeated_member_is_an_error_naming_the_key_and_both_paths() {
    // `ID` is member #1 of the invoice object; the repeat comes after `IssueDate` (#2).
    let text = insert_after(
        &invoice(),
        r#""IssueDate":[{"_":"2026-01-15"}]"#,
        r#","ID":[{"_":"B"}]"#,
    );
    let doc = Document::parse(text.as_bytes()).unwrap();
    let found = s008(&doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.category, Category::Structure);
    assert_eq!(f.json_path, "$.Invoice[0].ID");
    assert_eq!(f.xpath, "/Invoice/cbc:ID[2]");
    assert_eq!(f.value.as_deref(), Some("ID"));
    assert!(
        f.rule.starts_with(
            "member \"ID\" appears twice in $.Invoice[0]: \
             first at $.Invoice[0].ID (member #1, /Invoice/cbc:ID[1]), \
             again at $.Invoice[0].ID (member #3, /Invoice/cbc:ID[2])"
        ),
        "{}",
        f.rule
    );
    assert!(!validate_structure(&doc, &ValidationContext::at(chrono::Utc::now())).is_valid());
    assert_eq!(doc.duplicate_keys(), found);
    // Nothing is silently dropped: the tree holds both, the first first.
    let ids: Vec<_> = doc
        .root()
        .children_named("ID")
        .filter_map(|e| e.text())
        .collect();
    assert_eq!(ids, ["FX10-01-invoice", "B"]);
    assert_eq!(doc.id(), Some("FX10-01-invoice"));
}

#[test]
fn repeats_are_found_at_any_depth_and_for_attributes_and_values() {
    let text = insert_after(&invoice(), r#""schemeID":"TIN""#, r#","schemeID":"BRN""#);
    let text = insert_after(&text, r#"{"_":"MYR""#, r#","_":"USD""#);
    let doc = Document::parse(text.as_bytes()).unwrap();
    let found = s008(&doc);
    assert_eq!(found.len(), 2, "{found:#?}");
    // Document order: `DocumentCurrencyCode` comes before the supplier.
    let (value, attr) = (&found[0], &found[1]);
    assert_eq!(value.json_path, "$.Invoice[0].DocumentCurrencyCode[0]._");
    assert_eq!(value.xpath, "/Invoice/cbc:DocumentCurrencyCode/text()");
    assert!(
        value.rule.starts_with(
            "member \"_\" appears twice in $.Invoice[0].DocumentCurrencyCode[0]: first at"
        ),
        "{}",
        value.rule
    );
    let party = "$.Invoice[0].AccountingSupplierParty[0].Party[0].PartyIdentification[0].ID[0]";
    assert_eq!(attr.json_path, format!("{party}.schemeID"));
    assert_eq!(
        attr.xpath,
        "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification[1]/cbc:ID/@schemeID"
    );
    assert!(
        attr.rule.contains(&format!(
            "first at {party}.schemeID (member #2, {xpath}), again at {party}.schemeID (member #3, {xpath})",
            xpath = attr.xpath
        )),
        "{}",
        attr.rule
    );
    // The first occurrence of an attribute or a value is the one kept.
    assert_eq!(doc.currency(), Some("MYR"));
    assert_eq!(doc.supplier_tin(), Some("C25845632020"));
}

#[test]
fn a_third_occurrence_is_reported_against_the_first() {
    let text = insert_after(&invoice(), ID, r#","ID":[{"_":"B"}],"ID":[{"_":"C"}]"#);
    let doc = Document::parse(text.as_bytes()).unwrap();
    let found = s008(&doc);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].rule.contains("appears twice"), "{}", found[0].rule);
    assert!(
        found[1].rule.contains("appears 3 times")
            && found[1].rule.contains("(member #1, /Invoice/cbc:ID[1])")
            && found[1].rule.contains("(member #3, /Invoice/cbc:ID[3])"),
        "{}",
        found[1].rule
    );
}

#[test]
fn an_empty_first_occurrence_is_still_a_repeat() {
    let text = insert_after(&invoice(), r#""Invoice":[{"#, r#""InvoiceLine":[],"#);
    let doc = Document::parse(text.as_bytes()).unwrap();
    let found = s008(&doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .rule
            .contains("first at $.Invoice[0].InvoiceLine (member #1, /Invoice/cac:InvoiceLine)"),
        "{}",
        found[0].rule
    );
}

#[test]
fn the_same_key_in_different_objects_is_fine() {
    // `ID` in the invoice, in each party identification and in the line; `Line` in two
    // address lines: all in different objects.
    let text = invoice();
    assert!(text.matches(r#""ID":"#).count() > 3);
    let doc = Document::parse(text.as_bytes()).unwrap();
    assert!(s008(&doc).is_empty());
    let small =
        br#"{"Invoice":[{"A":[{"ID":[{"_":"1"}]},{"ID":[{"_":"2"}]}],"B":[{"ID":[{"_":"3"}]}]}]}"#;
    assert!(Document::parse(small).unwrap().duplicate_keys().is_empty());
}

#[test]
fn top_level_repeats_are_reported_and_the_first_root_is_kept() {
    let text = invoice();
    let root = &text[text.find(r#""Invoice":"#).unwrap()..text.len() - 1];
    let second = root.replace("FX10-01-invoice", "SECOND");
    let text = format!(r#"{{"_D":"x",{},{second}}}"#, &text[1..text.len() - 1]);
    let doc = Document::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.id(), Some("FX10-01-invoice"));
    let found = s008(&doc);
    let paths: Vec<_> = found.iter().map(|f| f.json_path.as_str()).collect();
    assert_eq!(paths, ["$._D", "$.Invoice"], "{found:#?}");
    assert!(
        found[0].rule.starts_with(
            "member \"_D\" appears twice in $: first at $._D (member #1, /Invoice), again at $._D (member #2, /Invoice)"
        ),
        "{}",
        found[0].rule
    );
    // The namespace kept is the first one.
    assert!(doc.to_json_string().starts_with(r#"{"_D":"x""#));
}

#[test]
fn repeats_inside_a_dropped_second_root_are_not_reported_against_the_first() {
    let text = invoice();
    let second = r#""Invoice":[{"ID":[{"_":"A"}],"ID":[{"_":"B"}]}]"#;
    let text = format!("{},{second}}}", &text[..text.len() - 1]);
    let doc = Document::parse(text.as_bytes()).unwrap();
    let paths: Vec<_> = s008(&doc).into_iter().map(|f| f.json_path).collect();
    assert_eq!(paths, ["$.Invoice"]);
}

#[test]
fn xml_is_unaffected() {
    let xml = invois_testkit::fixture_xml(Version::V1_0, Kind::Invoice);
    let doc = Document::parse_as(xml.as_bytes(), Format::Xml).unwrap();
    assert!(doc.duplicate_keys().is_empty());
    assert!(s008(&doc).is_empty());
    // Repeated elements are XML's way of writing a list, not a repeated key.
    let two_lines = invois_testkit::fixture_xml(Version::V1_0, Kind::MultiLine);
    let doc = Document::parse_as(two_lines.as_bytes(), Format::Xml).unwrap();
    assert!(doc.line_count() > 1);
    assert!(s008(&doc).is_empty());
    // And the JSON written from a document with a repeat, read back, has none.
    let text = insert_after(&invoice(), ID, r#","ID":[{"_":"B"}]"#);
    let doc = Document::parse(text.as_bytes()).unwrap();
    let xml = doc.to_xml_string();
    assert!(
        s008(&Document::parse_as(xml.as_bytes(), Format::Xml).unwrap()).is_empty(),
        "{xml}"
    );
}

#[test]
fn misplaced_values_are_still_shape_errors_with_their_paths() {
    let shape = |bytes: &[u8]| match Document::from_json_bytes(bytes) {
        Err(ParseError::Shape { path, message }) => (path, message),
        other => panic!("{other:?}"),
    };
    // A number where an element object belongs (serde_json passes numbers as a map here).
    assert_eq!(
        shape(br#"{"Invoice":[{"ID":[5]}]}"#),
        (
            "$.Invoice[0].ID[0]".to_owned(),
            "each element must be an object".to_owned()
        )
    );
    assert_eq!(shape(br#"{"Invoice":[{"ID":5}]}"#).0, "$.Invoice[0].ID");
    assert_eq!(
        shape(br#"{"Invoice":[{"ID":[{"_":{}}]}]}"#).0,
        "$.Invoice[0].ID[0]._"
    );
    assert_eq!(shape(br#"{"Invoice":[{}, {}]}"#).0, "$.Invoice");
    assert_eq!(shape(br#"{"Invoice":[]}"#).0, "$.Invoice");
    assert_eq!(shape(b"5").0, "$");
    assert_eq!(shape(br#"{"_D":"x"}"#).0, "$");
    assert_eq!(shape(br#"{"Invoice":[{}],"Other":[{}]}"#).0, "$.Other");
    // After a repeated key, indexes follow the tree (the repeat's elements come second).
    assert_eq!(
        shape(br#"{"Invoice":[{"A":[{}],"A":[{"B":1}]}]}"#).0,
        "$.Invoice[0].A[1].B"
    );
    // Numbers keep their digits.
    let doc = Document::from_json_bytes(br#"{"Invoice":[{"X":[{"_":1.10}]}]}"#).unwrap();
    assert_eq!(doc.root().text_at(&["X"]), Some("1.10"));
    // Syntax errors stay syntax errors.
    assert!(matches!(
        Document::from_json_bytes(br#"{"Invoice":[{"ID":[{"_":"A"}]}]} x"#),
        Err(ParseError::Json(_))
    ));
}

//! Points 1 and 2: sign -> verify round trips for every v1.1 sample (JSON and XML), re-signed
//! with an ERP-profile certificate from the test CA, and the shape of the signed output.

mod common;

use chrono::{TimeZone, Utc};
use invois_sign::{CheckKind, CheckStatus, Format, TrustStore, sign_json, sign_xml, verify};

fn signing_time() -> chrono::DateTime<Utc> {
    // Inside the test certificate's validity (issued from yesterday for two years).
    Utc::now() - chrono::Duration::hours(1)
}

fn assert_fully_valid(name: &str, signed: &[u8], format: Format) {
    let trust = TrustStore::test_ca().unwrap();
    let v = verify(signed, Some(format), Some(&trust));
    assert!(v.is_valid(), "{name}: {:#?}", v.findings);
    for c in &v.checks {
        assert_eq!(c.status, CheckStatus::Passed, "{name}: {c:?}");
    }
    assert_eq!(v.checks.len(), 12, "{name}: every check ran");
}

#[test]
fn every_v11_json_sample_round_trips() {
    let signer = common::issued().signer().unwrap();
    for (name, bytes) in common::samples("v1.1", "json") {
        let doc = common::with_identity(&bytes);
        let signed = sign_json(&doc, &signer, signing_time()).unwrap();
        assert_fully_valid(&name, &signed, Format::Json);

        // Minified, with UBLExtensions and Signature as the last two members.
        assert!(!signed.contains(&b'\n'), "{name}: not minified");
        let v: serde_json::Value = serde_json::from_slice(&signed).unwrap();
        assert_eq!(
            serde_json::to_vec(&v).unwrap(),
            signed,
            "{name}: not in minified form"
        );
        let keys: Vec<&String> = v["Invoice"][0].as_object().unwrap().keys().collect();
        assert_eq!(
            &keys[keys.len() - 2..],
            ["UBLExtensions", "Signature"],
            "{name}"
        );
        // The signed content is the original content: only the signature blocks changed.
        let orig: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        for (k, val) in orig["Invoice"][0].as_object().unwrap() {
            if k != "UBLExtensions" && k != "Signature" {
                assert_eq!(&v["Invoice"][0][k], val, "{name}: {k} changed");
            }
        }
    }
}

#[test]
fn every_v11_xml_sample_round_trips_with_all_four_values() {
    let signer = common::issued().signer().unwrap();
    for (name, bytes) in common::samples("v1.1", "xml") {
        let doc = common::with_identity(&bytes);
        let signed = sign_xml(&doc, &signer, signing_time()).unwrap();
        assert_fully_valid(&name, &signed, Format::Xml);
        let v = verify(&signed, None, None);
        let props = v
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::SignedPropertiesDigest)
            .unwrap();
        assert!(
            props.detail.contains("exclusive C14N of SignedProperties"),
            "{}",
            props.detail
        );

        let text = String::from_utf8(signed).unwrap();
        assert!(
            text.starts_with("<Invoice "),
            "{name}: no XML declaration, root first"
        );
        assert!(
            !text.contains(">\n") && !text.contains(">  <"),
            "{name}: not minified"
        );
        let after_root = &text[text.find('>').unwrap() + 1..];
        assert!(
            after_root.starts_with("<UBLExtensions "),
            "{name}: UBLExtensions first"
        );
        let sig_at = text.find("<cac:Signature>").unwrap();
        let supplier_at = text.find("<cac:AccountingSupplierParty>").unwrap();
        assert!(
            sig_at < supplier_at,
            "{name}: cac:Signature before the supplier"
        );
        assert!(
            text[sig_at..supplier_at].ends_with("</cac:Signature>"),
            "{name}: right before it"
        );
        assert_eq!(
            text.matches("<ds:Signature ").count(),
            1,
            "{name}: old signature replaced"
        );
    }
}

#[test]
fn signed_ul_sample_and_one_doc_signed_can_be_re_signed() {
    let signer = common::issued().signer().unwrap();
    let json = common::with_identity(&common::read(
        "signed/sample-ul-invoice-2.1-signed.min.json",
    ));
    assert_fully_valid(
        "ul",
        &sign_json(&json, &signer, signing_time()).unwrap(),
        Format::Json,
    );
    let xml = common::with_identity(&common::read("signed/one-doc-signed.xml"));
    assert_fully_valid(
        "one-doc",
        &sign_xml(&xml, &signer, signing_time()).unwrap(),
        Format::Xml,
    );
}

#[test]
fn v13_documents_sign_and_verify() {
    let signer = common::issued().signer().unwrap();
    for (name, bytes) in common::samples("v1.3-svdp", "json")
        .into_iter()
        .chain(common::samples("v1.3-svdp", "xml"))
    {
        let doc = common::with_identity(&bytes);
        let format = Format::detect(&doc).unwrap();
        let signed = invois_sign::sign(&doc, format, &signer, signing_time()).unwrap();
        assert_fully_valid(&name, &signed, format);
        assert_eq!(verify(&signed, None, None).version.as_deref(), Some("1.3"));
    }
}

#[test]
fn signing_time_comes_from_the_caller() {
    let signer = common::issued().signer().unwrap();
    let doc = common::with_identity(&common::read("v1.1/1.1-Invoice-Sample.json"));
    let t = Utc::now()
        .date_naive()
        .and_hms_opt(1, 2, 3)
        .unwrap()
        .and_utc();
    let signed = String::from_utf8(sign_json(&doc, &signer, t).unwrap()).unwrap();
    assert!(signed.contains(&format!(
        "\"SigningTime\":[{{\"_\":\"{}\"}}]",
        t.format("%Y-%m-%dT01:02:03Z")
    )));
    // Same input and time: same digests; the signature value is deterministic too (PKCS#1 v1.5).
    let again = String::from_utf8(sign_json(&doc, &signer, t).unwrap()).unwrap();
    assert_eq!(signed, again);
    // A signing time before the certificate's validity is caught on verification.
    let early = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let v = verify(&sign_json(&doc, &signer, early).unwrap(), None, None);
    assert_eq!(v.codes(), vec!["DS304"]);
}

#[test]
fn self_billed_documents_are_checked_against_the_buyer() {
    let signer = common::issued().signer().unwrap();
    let raw = String::from_utf8(common::read("v1.1/1.1-Self-Billed-Invoice-Sample.json")).unwrap();
    // Buyer (the issuer of a self-billed invoice) is the certificate holder; supplier is not.
    let doc = raw
        .replace("Buyer's TIN", common::TIN)
        .replace("Buyer's BRN", common::BRN)
        .replace("Supplier's TIN", "IG00000000010")
        .replace("Supplier's BRN", "199901000001");
    let signed = sign_json(doc.as_bytes(), &signer, signing_time()).unwrap();
    assert!(verify(&signed, None, None).is_valid());
    // The same certificate on a normal invoice whose supplier is someone else: DS311/DS312.
    let raw = String::from_utf8(common::read("v1.1/1.1-Invoice-Sample.json")).unwrap();
    let doc = raw
        .replace("Buyer's TIN", common::TIN)
        .replace("Buyer's BRN", common::BRN)
        .replace("Supplier's TIN", "IG00000000010")
        .replace("Supplier's BRN", "199901000001");
    let v = verify(
        &sign_json(doc.as_bytes(), &signer, signing_time()).unwrap(),
        None,
        None,
    );
    assert_eq!(v.codes(), vec!["DS311", "DS312"]);
    let f = &v.findings[0];
    assert_eq!(
        f.property_path.as_deref(),
        Some("Invoice.AccountingSupplierParty.Party.PartyIdentification.ID@schemeID=\"TIN\"")
    );
}

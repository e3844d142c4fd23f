//! Point 3: changing any signed value, the certificate, the signing time or the issuer name
//! fails verification with the matching DS code, and the message says what to fix. Each case
//! runs on a JSON and on an XML 1.1 invoice signed with a test certificate: the project's
//! fixture, and LHDN's sample too when `INVOIS_LHDN_SAMPLES` names it (which must give the same
//! codes at the same places).

use chrono::Utc;
use invois_sign::{
    CheckKind, CheckStatus, Format, TestCa, TestCertRequest, Verification, sign_json, sign_xml,
    verify,
};
use invois_testkit::{Kind, Version};
use serde_json::Value;

/// The 1.1 invoices to tamper with, signed now: (name, document) of every available corpus,
/// the fixture first.
fn signed_all(format: Format) -> Vec<(String, Vec<u8>)> {
    let signer = crate::common::issued().signer().unwrap();
    crate::common::to_sign_kind(Version::V1_1, Kind::Invoice, format)
        .into_iter()
        .map(|(name, doc)| {
            let signed = match format {
                Format::Json => sign_json(&doc, &signer, Utc::now()),
                Format::Xml => sign_xml(&doc, &signer, Utc::now()),
            };
            (name, signed.unwrap())
        })
        .collect()
}

fn signed_json() -> Vec<u8> {
    let doc = crate::common::unsigned(Version::V1_1, Kind::Invoice, Format::Json);
    sign_json(&doc, &crate::common::issued().signer().unwrap(), Utc::now()).unwrap()
}

fn signed_xml() -> String {
    let doc = crate::common::unsigned(Version::V1_1, Kind::Invoice, Format::Xml);
    String::from_utf8(
        sign_xml(&doc, &crate::common::issued().signer().unwrap(), Utc::now()).unwrap(),
    )
    .unwrap()
}

/// The `Signature` object inside UBLExtensions.
fn sig(v: &mut Value) -> &mut Value {
    &mut v["Invoice"][0]["UBLExtensions"][0]["UBLExtension"][0]["ExtensionContent"][0]["UBLDocumentSignatures"]
        [0]["SignatureInformation"][0]["Signature"][0]
}

fn cert_el(v: &mut Value) -> &mut Value {
    &mut sig(v)["Object"][0]["QualifyingProperties"][0]["SignedProperties"][0]["SignedSignatureProperties"]
        [0]["SigningCertificate"][0]["Cert"][0]
}

/// Every corpus's document gives the same findings (codes at the same places) as the first
/// (the fixture's), which is returned.
fn same_everywhere(mut all: Vec<(String, Verification)>) -> Verification {
    let summary = |v: &Verification| -> Vec<(&'static str, Option<String>)> {
        v.findings
            .iter()
            .map(|f| (f.code, f.property_path.clone()))
            .collect()
    };
    let (_, first) = &all[0];
    for (name, v) in &all[1..] {
        assert_eq!(summary(v), summary(first), "{name}: {:#?}", v.findings);
    }
    all.swap_remove(0).1
}

fn tamper_json(f: impl Fn(&mut Value)) -> Verification {
    let all = signed_all(Format::Json)
        .into_iter()
        .map(|(name, signed)| {
            let mut v: Value = serde_json::from_slice(&signed).unwrap();
            f(&mut v);
            let v = verify(&serde_json::to_vec(&v).unwrap(), Some(Format::Json), None);
            (name, v)
        })
        .collect();
    same_everywhere(all)
}

fn tamper_xml(f: impl Fn(&str) -> String) -> Verification {
    let all = signed_all(Format::Xml)
        .into_iter()
        .map(|(name, signed)| {
            let original = String::from_utf8(signed).unwrap();
            let edited = f(&original);
            assert!(
                edited != original,
                "{name}: the edit must change the document"
            );
            (name, verify(edited.as_bytes(), Some(Format::Xml), None))
        })
        .collect();
    same_everywhere(all)
}

/// A signing time two hours ago: still inside the test certificate's validity, so only the
/// digest of the signed properties can object.
fn earlier() -> String {
    (Utc::now() - chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn replace_between(s: &str, open: &str, close: &str, with: &str) -> String {
    let a = s.find(open).unwrap_or_else(|| panic!("{open} not found")) + open.len();
    let b = a + s[a..].find(close).unwrap();
    format!("{}{with}{}", &s[..a], &s[b..])
}

/// An XML signed-properties digest that no known form reproduces: "not verifiable", with a
/// note, not DS320 (MyInvois accepts XML forms not all of which are known).
fn assert_props_not_verifiable(what: &str, v: &Verification) {
    assert_eq!(
        v.status(CheckKind::SignedPropertiesDigest),
        Some(CheckStatus::NotChecked),
        "{what}: {:#?}",
        v.checks
    );
    let check = v
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::SignedPropertiesDigest)
        .unwrap();
    assert!(
        check.detail.starts_with("not verifiable"),
        "{what}: {}",
        check.detail
    );
    assert!(
        v.notes.iter().any(|n| n.contains("not verifiable")),
        "{what}: {:?}",
        v.notes
    );
}

fn assert_codes(what: &str, v: &Verification, want: &[&str]) {
    assert_eq!(v.codes(), want, "{what}: {:#?}", v.findings);
    for f in &v.findings {
        assert!(!f.fix.is_empty() && !f.message.is_empty(), "{what}: {f:?}");
        assert!(f.property_path.is_some(), "{what}: {} has no path", f.code);
        assert_eq!(Some(f.error), invois_sign::official_text(f.code));
    }
}

#[test]
fn untouched_documents_verify() {
    assert!(verify(&signed_json(), None, None).is_valid());
    assert!(verify(signed_xml().as_bytes(), None, None).is_valid());
}

#[test]
fn changing_a_signed_value_is_ds322_and_ds333() {
    let v = tamper_json(|v| v["Invoice"][0]["ID"][0]["_"] = Value::from("JSON-INV99999"));
    assert_codes("json id", &v, &["DS322", "DS333"]);
    assert!(v.findings[0].message.contains("changed after signing"));
    // A number, keeping everything else.
    let v = tamper_json(|v| {
        let total = &mut v["Invoice"][0]["LegalMonetaryTotal"][0]["PayableAmount"][0]["_"];
        *total = serde_json::from_str("1436.51").unwrap();
    });
    assert_codes("json amount", &v, &["DS322", "DS333"]);
    let v = tamper_xml(|s| crate::common::edit_xml_invoice_id(s, "XML-INV99999"));
    assert_codes("xml id", &v, &["DS322", "DS333"]);
    let v = tamper_xml(|s| s.replacen(r#"listVersionID="1.1""#, r#"listVersionID="1.3""#, 1));
    assert_codes("xml version", &v, &["DS322", "DS333"]);
}

#[test]
fn editing_the_document_digest_alone_is_ds322() {
    let v = tamper_json(|v| {
        sig(v)["SignedInfo"][0]["Reference"][1]["DigestValue"][0]["_"] =
            Value::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    });
    assert_codes("json", &v, &["DS322"]);
    assert_eq!(
        v.status(CheckKind::SignatureValue),
        Some(CheckStatus::Passed)
    );
}

#[test]
fn changing_the_signing_time_is_ds320_in_json_and_not_verifiable_in_xml() {
    let v = tamper_json(|v| {
        sig(v)["Object"][0]["QualifyingProperties"][0]["SignedProperties"][0]["SignedSignatureProperties"]
            [0]["SigningTime"][0]["_"] = Value::from(earlier())
    });
    assert_codes("json", &v, &["DS320"]);
    assert!(v.findings[0].fix.contains("PropsDigest"));
    let v = tamper_xml(|s| {
        replace_between(s, "<xades:SigningTime>", "</xades:SigningTime>", &earlier())
    });
    assert_codes("xml", &v, &[]);
    assert_props_not_verifiable("xml", &v);
}

#[test]
fn badly_formatted_signing_time_is_ds336() {
    let v = tamper_xml(|s| {
        replace_between(
            s,
            "<xades:SigningTime>",
            "</xades:SigningTime>",
            "01/01/2025 10:00",
        )
    });
    assert_codes("xml", &v, &["DS336"]);
    assert_props_not_verifiable("xml", &v);
}

#[test]
fn changing_the_issuer_name_is_ds326_with_the_exact_expected_string() {
    let expected = crate::common::issued().certificate.inspect().issuer.clone();
    // The classic DS326 cause: RDNs in the other order.
    let reversed = "C=MY, O=invois test, OU=Not for production use, CN=invois Test CA";
    let v = tamper_json(|v| {
        cert_el(v)["IssuerSerial"][0]["X509IssuerName"][0]["_"] = Value::from(reversed)
    });
    assert_codes("json", &v, &["DS320", "DS326"]);
    let f = v.findings.iter().find(|f| f.code == "DS326").unwrap();
    assert!(f.fix.contains(&format!("{expected:?}")), "{}", f.fix);
    assert!(f.message.contains(reversed));
    let v =
        tamper_xml(|s| replace_between(s, "<ds:X509IssuerName>", "</ds:X509IssuerName>", reversed));
    assert_codes("xml", &v, &["DS326"]);
    assert_props_not_verifiable("xml", &v);
    let v = tamper_xml(|s| replace_between(s, "<ds:X509IssuerName>", "</ds:X509IssuerName>", ""));
    assert_codes("xml empty", &v, &["DS324"]);
}

#[test]
fn changing_the_serial_number_is_ds328_or_ds327() {
    let v = tamper_json(|v| {
        cert_el(v)["IssuerSerial"][0]["X509SerialNumber"][0]["_"] = Value::from("12345")
    });
    assert_codes("json", &v, &["DS320", "DS328"]);
    let v = tamper_xml(|s| {
        replace_between(s, "<ds:X509SerialNumber>", "</ds:X509SerialNumber>", "0x1F")
    });
    assert_codes("xml", &v, &["DS327"]);
    assert_props_not_verifiable("xml", &v);
}

#[test]
fn swapping_the_certificate_is_ds318_and_ds333() {
    // Same CA, same TIN/BRN: only the key differs.
    let other = TestCa::well_known()
        .unwrap()
        .issue(&TestCertRequest::new(
            crate::common::TIN,
            crate::common::BRN,
        ))
        .unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(other.certificate.der());
    let v = tamper_json(|v| {
        sig(v)["KeyInfo"][0]["X509Data"][0]["X509Certificate"][0]["_"] = Value::from(b64.clone())
    });
    assert_codes("json", &v, &["DS333", "DS318", "DS328"]);
    let v =
        tamper_xml(|s| replace_between(s, "<ds:X509Certificate>", "</ds:X509Certificate>", &b64));
    assert_codes("xml", &v, &["DS333", "DS318", "DS328"]);
    let v = tamper_xml(|s| {
        replace_between(
            s,
            "<ds:X509Certificate>",
            "</ds:X509Certificate>",
            "bm90IGEgY2VydA==",
        )
    });
    assert_codes("xml garbage", &v, &["DS305"]);
}

#[test]
fn missing_parts_have_their_own_codes() {
    let v = tamper_json(|v| sig(v)["SignatureValue"][0]["_"] = Value::from(""));
    assert_codes("no sig value", &v, &["DS332"]);
    let v = tamper_json(|v| cert_el(v)["CertDigest"][0]["DigestValue"][0]["_"] = Value::from(""));
    assert_codes("no cert digest", &v, &["DS317", "DS320"]);
    let v = tamper_json(|v| {
        sig(v)["SignedInfo"][0]["Reference"][0]["DigestValue"][0]["_"] = Value::from("")
    });
    assert_codes("no props digest", &v, &["DS319"]);
    let v = tamper_json(|v| {
        sig(v)["SignedInfo"][0]["Reference"][1]["DigestValue"][0]["_"] = Value::from("")
    });
    assert_codes("no doc digest", &v, &["DS321"]);
    let v = tamper_json(|v| {
        sig(v)["Object"][0]["QualifyingProperties"][0]["SignedProperties"][0]["SignedSignatureProperties"][0]
            .as_object_mut()
            .unwrap()
            .shift_remove("SigningTime");
    });
    assert_codes("no signing time", &v, &["DS320", "DS303"]);
    let v = tamper_json(|v| {
        v["Invoice"][0]
            .as_object_mut()
            .unwrap()
            .shift_remove("UBLExtensions");
    });
    assert_codes("no UBLExtensions", &v, &["DS301"]);
}

#[test]
fn wrong_methods_have_their_own_codes() {
    let v = tamper_json(|v| {
        v["Invoice"][0]["Signature"][0]["SignatureMethod"][0]["_"] =
            Value::from("urn:something:else")
    });
    assert_codes("ubl method", &v, &["DS323"]);
    let v = tamper_json(|v| {
        sig(v)["SignedInfo"][0]["SignatureMethod"][0]["Algorithm"] =
            Value::from("http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    });
    assert_codes("rsa-sha1", &v, &["DS316"]);
    let v = tamper_xml(|s| {
        s.replacen(
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256">"#,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1">"#,
            1,
        )
    });
    assert_codes("sha1 doc digest", &v, &["DS314"]);
}

#[test]
fn two_signatures_are_ds302_and_garbage_is_ds300() {
    let v = tamper_json(|v| {
        let s = sig(v).clone();
        v["Invoice"][0]["UBLExtensions"][0]["UBLExtension"][0]["ExtensionContent"][0]["UBLDocumentSignatures"][0]
            ["SignatureInformation"][0]["Signature"]
            .as_array_mut()
            .unwrap()
            .push(s);
    });
    assert_codes("two", &v, &["DS302"]);
    let v = verify(b"{\"Invoice\": [", None, None);
    assert_eq!(v.codes(), vec!["DS300"]);
    let v = verify(b"<Invoice><cbc:ID>x</Invoice>", None, None);
    assert_eq!(v.codes(), vec!["DS300"]);
    let v = verify(
        b"<!DOCTYPE x [<!ENTITY a \"b\">]><Invoice>&a;</Invoice>",
        None,
        None,
    );
    assert_eq!(v.codes(), vec!["DS300"]);
}

#[test]
fn explain_says_what_and_how() {
    let v = tamper_json(|v| {
        sig(v)["Object"][0]["QualifyingProperties"][0]["SignedProperties"][0]["SignedSignatureProperties"]
            [0]["SigningTime"][0]["_"] = Value::from(earlier())
    });
    let text = v.explain();
    assert!(
        text.starts_with("INVALID: JSON document, version 1.1, type 01"),
        "{text}"
    );
    assert!(
        text.contains("DS320 Signed properties digest value doesn't match"),
        "{text}"
    );
    assert!(text.contains("fix:"), "{text}");
    assert!(text.contains("[ok  ] DocumentDigest"), "{text}");
    let step = v.validation_step_error().unwrap();
    assert_eq!(step["innerError"][0]["errorCode"], "DS320");
    assert_eq!(step["innerError"][0]["propertyName"], "DigestValue");
    let step = v.validation_step();
    assert_eq!(step["name"], "Step08-Document Signature Validator");
    assert_eq!(step["status"], "Invalid");
    assert_eq!(step["error"]["errorCode"], "Error21");
    // The path of a DS320 is the one MyInvois returns (§3.4 real example); an XML document's
    // DS finding at the same place (a missing PropsDigest, DS319) has the same path.
    let observed = "Invoice.UBLExtensions.UBLExtensions.ExtensionContent.UBLDocumentSignatures.SignatureInformation.Signature.SignedInfo.Reference@Type=\"http://uri.etsi.org/01903/v1.3.2#SignedProperties\".DigestValue";
    assert_eq!(v.findings[0].code, "DS320");
    assert_eq!(v.findings[0].property_path.as_deref(), Some(observed));
    assert_eq!(step["error"]["innerError"][0]["propertyPath"], observed);
    let x = tamper_xml(|s| {
        let open = s.find("URI=\"#id-xades-signed-props\"").unwrap();
        let a = open + s[open..].find("<ds:DigestValue>").unwrap() + "<ds:DigestValue>".len();
        let b = a + s[a..].find("</ds:DigestValue>").unwrap();
        format!("{}{}", &s[..a], &s[b..])
    });
    assert_eq!(x.codes(), vec!["DS319"], "{:#?}", x.findings);
    assert_eq!(x.findings[0].property_path.as_deref(), Some(observed));
    // The XML signing time changed: not verifiable, and `explain` says why.
    let x = tamper_xml(|s| {
        replace_between(s, "<xades:SigningTime>", "</xades:SigningTime>", &earlier())
    });
    let text = x.explain();
    assert!(text.starts_with("VALID: XML document"), "{text}");
    assert!(
        text.contains("[--  ] SignedPropertiesDigest: not verifiable"),
        "{text}"
    );
    assert!(text.contains("note: PropsDigest not verifiable"), "{text}");
    let ok = verify(&signed_json(), None, None).validation_step();
    assert_eq!(ok["status"], "Valid");
    assert!(ok.get("error").is_none());
}

#[test]
fn truncated_or_mangled_input_never_panics() {
    let json = signed_json();
    let xml = signed_xml().into_bytes();
    for doc in [&json, &xml] {
        let step = (doc.len() / 97).max(1);
        for cut in (0..doc.len()).step_by(step) {
            let v = verify(&doc[..cut], None, None);
            assert!(
                !v.is_valid(),
                "a truncated document cannot be valid (cut at {cut})"
            );
        }
        // Flip one byte at many positions: never a panic, and never valid unless the byte was
        // inside ignorable whitespace (there is none in the minified output).
        for pos in (0..doc.len()).step_by(step) {
            let mut d = doc.to_vec();
            d[pos] ^= 0x01;
            let _ = verify(&d, None, None);
        }
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = format!(
        "<Invoice>{}{}</Invoice>",
        "<a>".repeat(5000),
        "</a>".repeat(5000)
    );
    assert_eq!(verify(deep.as_bytes(), None, None).codes(), vec!["DS300"]);
    let deep = format!("{{\"Invoice\":[{}]}}", "[".repeat(5000) + &"]".repeat(5000));
    assert_eq!(verify(deep.as_bytes(), None, None).codes(), vec!["DS300"]);
}

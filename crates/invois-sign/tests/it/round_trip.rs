//! Points 1 and 2: sign -> verify round trips for every v1.1 and v1.3 document (JSON and XML),
//! signed with an ERP-profile certificate from the test CA for the fixtures' issuer, and the
//! shape of the signed output. The documents are the project's fixtures (their unsigned forms),
//! and LHDN's samples with their placeholder identities filled when `INVOIS_LHDN_SAMPLES`
//! names them.

use chrono::{TimeZone, Utc};
use invois_sign::{CheckKind, CheckStatus, Format, TrustStore, sign_json, sign_xml, verify};
use invois_testkit::{Corpus, Kind, Version};

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
fn every_v11_json_document_round_trips() {
    let signer = crate::common::issued().signer().unwrap();
    for (name, doc) in crate::common::to_sign(Version::V1_1, Format::Json) {
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
fn every_v11_xml_document_round_trips_with_all_four_values() {
    let signer = crate::common::issued().signer().unwrap();
    for (name, doc) in crate::common::to_sign(Version::V1_1, Format::Xml) {
        let signed = sign_xml(&doc, &signer, signing_time()).unwrap();
        assert_fully_valid(&name, &signed, Format::Xml);
        let v = verify(&signed, None, None);
        let props = v
            .checks
            .iter()
            .find(|c| c.kind == CheckKind::SignedPropertiesDigest)
            .unwrap();
        assert!(
            props.detail.contains("as LHDN's samples were signed"),
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
fn signed_fixtures_can_be_re_signed() {
    // A signed document signed again: the old signature is replaced, not nested or kept.
    let signer = crate::common::issued().signer().unwrap();
    let fixtures = Corpus::fixtures();
    for version in [Version::V1_1, Version::V1_3] {
        for format in [Format::Json, Format::Xml] {
            for (name, doc) in crate::common::list(
                &crate::common::version_dir(&fixtures, version),
                format,
                "fixtures",
            ) {
                let signed = invois_sign::sign(&doc, format, &signer, signing_time()).unwrap();
                assert_ne!(signed, doc, "{name}");
                assert_fully_valid(&name, &signed, format);
                let text = String::from_utf8(signed).unwrap();
                let signatures = match format {
                    Format::Json => text.matches("\"SignatureInformation\"").count(),
                    Format::Xml => text.matches("<ds:Signature ").count(),
                };
                assert_eq!(signatures, 1, "{name}: old signature replaced");
            }
        }
    }
}

#[test]
fn signed_ul_sample_and_one_doc_signed_can_be_re_signed() {
    let Some(lhdn) = invois_testkit::Corpus::lhdn() else {
        return;
    };
    let signer = crate::common::issued().signer().unwrap();
    let json = crate::common::with_identity(&crate::common::lhdn_read(
        &lhdn,
        "signed/sample-ul-invoice-2.1-signed.min.json",
    ));
    assert_fully_valid(
        "ul",
        &sign_json(&json, &signer, signing_time()).unwrap(),
        Format::Json,
    );
    let xml = crate::common::with_identity(&crate::common::lhdn_read(
        &lhdn,
        "signed/one-doc-signed.xml",
    ));
    assert_fully_valid(
        "one-doc",
        &sign_xml(&xml, &signer, signing_time()).unwrap(),
        Format::Xml,
    );
}

#[test]
fn v13_documents_sign_and_verify() {
    let signer = crate::common::issued().signer().unwrap();
    let docs = crate::common::to_sign(Version::V1_3, Format::Json)
        .into_iter()
        .chain(crate::common::to_sign(Version::V1_3, Format::Xml));
    let mut n = 0;
    for (name, doc) in docs {
        n += 1;
        let format = Format::detect(&doc).unwrap();
        let signed = invois_sign::sign(&doc, format, &signer, signing_time()).unwrap();
        assert_fully_valid(&name, &signed, format);
        assert_eq!(verify(&signed, None, None).version.as_deref(), Some("1.3"));
    }
    // Eight 1.3 fixtures of each format at least.
    assert!(n >= 16);
}

#[test]
fn signing_time_comes_from_the_caller() {
    let signer = crate::common::issued().signer().unwrap();
    for (name, doc) in crate::common::to_sign_kind(Version::V1_1, Kind::Invoice, Format::Json) {
        let t = Utc::now()
            .date_naive()
            .and_hms_opt(1, 2, 3)
            .unwrap()
            .and_utc();
        let signed = String::from_utf8(sign_json(&doc, &signer, t).unwrap()).unwrap();
        assert!(
            signed.contains(&format!(
                "\"SigningTime\":[{{\"_\":\"{}\"}}]",
                t.format("%Y-%m-%dT01:02:03Z")
            )),
            "{name}"
        );
        // Same input and time: same digests; the signature value is deterministic too
        // (PKCS#1 v1.5).
        let again = String::from_utf8(sign_json(&doc, &signer, t).unwrap()).unwrap();
        assert_eq!(signed, again, "{name}");
        // A signing time before the certificate's validity is caught on verification.
        let early = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let v = verify(&sign_json(&doc, &signer, early).unwrap(), None, None);
        assert_eq!(v.codes(), vec!["DS304"], "{name}");
    }
}

/// A party that is not the certificate holder.
const OTHER: (&str, &str) = ("IG00000000010", "199901000001");

#[test]
fn self_billed_documents_are_checked_against_the_buyer() {
    let signer = crate::common::issued().signer().unwrap();
    let holder = (crate::common::TIN, crate::common::BRN);
    // Buyer (the issuer of a self-billed invoice) is the certificate holder; supplier is not.
    // (The fixtures already are so; LHDN's samples get the identities from their placeholders.)
    for (name, raw) in
        crate::common::to_sign_kind(Version::V1_1, Kind::SelfBilledInvoice, Format::Json)
    {
        let doc = crate::common::with_parties(&raw, OTHER, holder);
        let signed = sign_json(&doc, &signer, signing_time()).unwrap();
        let v = verify(&signed, None, None);
        assert!(v.is_valid(), "{name}: {:#?}", v.findings);
    }
    // The same certificate on a normal invoice whose supplier is someone else: DS311/DS312.
    for (name, raw) in crate::common::to_sign_kind(Version::V1_1, Kind::Invoice, Format::Json) {
        let doc = crate::common::with_parties(&raw, OTHER, holder);
        let v = verify(
            &sign_json(&doc, &signer, signing_time()).unwrap(),
            None,
            None,
        );
        assert_eq!(v.codes(), vec!["DS311", "DS312"], "{name}");
        let f = &v.findings[0];
        assert_eq!(
            f.property_path.as_deref(),
            Some("Invoice.AccountingSupplierParty.Party.PartyIdentification.ID@schemeID=\"TIN\""),
            "{name}"
        );
    }
}

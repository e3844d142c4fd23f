//! Point 2 of the issue, JSON: every signed 1.1/1.3 document verifies (DocDigest, Sig,
//! CertDigest, PropsDigest), and a document edited after signing fails with DS322. Checked on
//! the project's fixtures always; LHDN's own publications (every official v1.1 JSON sample and
//! the signed UL sample, and the 1.3 samples LHDN edited after signing) when
//! `INVOIS_LHDN_SAMPLES` names them.

use invois_sign::{CheckKind, CheckStatus, Format, TrustStore, VerifyOptions, verify, verify_with};
use invois_testkit::{Corpus, Kind, Version};
use serde_json::Value;

const SIGNATURE_CHECKS: [CheckKind; 4] = [
    CheckKind::DocumentDigest,
    CheckKind::SignatureValue,
    CheckKind::CertificateDigest,
    CheckKind::SignedPropertiesDigest,
];

#[test]
fn every_signed_json_fixture_verifies_all_four_digests() {
    let trust = TrustStore::test_ca().unwrap();
    let fixtures = Corpus::fixtures();
    let mut n = 0;
    for version in [Version::V1_1, Version::V1_3] {
        for (name, bytes) in crate::common::list(
            &crate::common::version_dir(&fixtures, version),
            Format::Json,
            "fixtures",
        ) {
            n += 1;
            let v = verify(&bytes, None, None);
            assert_eq!(v.format, Format::Json);
            assert_eq!(v.version.as_deref(), Some(version.as_str()), "{name}");
            for kind in SIGNATURE_CHECKS {
                assert_eq!(
                    v.status(kind),
                    Some(CheckStatus::Passed),
                    "{name}: {kind:?}: {:#?}",
                    v.checks
                );
            }
            for kind in [
                CheckKind::IssuerName,
                CheckKind::SerialNumber,
                CheckKind::SigningTime,
                CheckKind::CertificateProfile,
            ] {
                assert_eq!(
                    v.status(kind),
                    Some(CheckStatus::Passed),
                    "{name}: {kind:?}"
                );
            }
            // The fixtures carry their signer's identity (TIN/BRN on the certificate), so
            // nothing fails; the trust chain is not checked without a trust store.
            assert!(v.is_valid(), "{name}: {:#?}", v.findings);
            assert_eq!(v.codes(), Vec::<&str>::new(), "{name}");
            assert_eq!(
                v.status(CheckKind::TrustChain),
                Some(CheckStatus::NotChecked),
                "{name}"
            );
            // With the well-known test CA every check runs and passes.
            let v = verify(&bytes, None, Some(&trust));
            assert!(v.is_valid(), "{name}: {:#?}", v.findings);
            assert_eq!(v.checks.len(), 12, "{name}: every check ran");
            for c in &v.checks {
                assert_eq!(c.status, CheckStatus::Passed, "{name}: {c:?}");
            }
        }
    }
    // 11 kinds in 1.1, 8 in 1.3.
    assert_eq!(n, 19);
}

#[test]
fn every_v11_json_sample_verifies_all_four_digests() {
    let Some(lhdn) = invois_testkit::Corpus::lhdn() else {
        return;
    };
    let mut files = crate::common::lhdn_samples(&lhdn, "v1.1", "json");
    files.push((
        "sample-ul-invoice-2.1-signed.min.json".to_owned(),
        crate::common::lhdn_read(&lhdn, "signed/sample-ul-invoice-2.1-signed.min.json"),
    ));
    assert_eq!(files.len(), 12);
    for (name, bytes) in files {
        let v = verify(&bytes, None, None);
        assert_eq!(v.format, Format::Json);
        assert_eq!(v.version.as_deref(), Some("1.1"), "{name}");
        for kind in SIGNATURE_CHECKS {
            assert_eq!(
                v.status(kind),
                Some(CheckStatus::Passed),
                "{name}: {kind:?}: {:#?}",
                v.checks
            );
        }
        // The issuer string and serial the samples carry are exactly what we render.
        assert_eq!(
            v.status(CheckKind::IssuerName),
            Some(CheckStatus::Passed),
            "{name}"
        );
        assert_eq!(
            v.status(CheckKind::SerialNumber),
            Some(CheckStatus::Passed),
            "{name}"
        );
        assert_eq!(
            v.status(CheckKind::SigningTime),
            Some(CheckStatus::Passed),
            "{name}"
        );
        assert_eq!(
            v.status(CheckKind::CertificateProfile),
            Some(CheckStatus::Passed),
            "{name}"
        );
        // The samples carry placeholder identities ("Supplier's TIN"), which the certificate
        // (OI C29702635060, serialNumber D12345678) cannot match: that, and nothing else, fails.
        assert_eq!(
            v.codes(),
            vec!["DS311", "DS312"],
            "{name}: {:#?}",
            v.findings
        );
    }
}

/// A client of an intermediary: the party whose document the intermediary signs.
const CLIENT_TIN: &str = "IG00000000010";
const CLIENT_BRN: &str = "199901000001";

#[test]
fn json_fixtures_signed_by_an_intermediary_are_valid_for_the_certificate_holder() {
    // The fixture counterpart of LHDN's samples below: a document whose issuer is not the
    // certificate holder fails DS311/DS312 alone, and with the holder as the submitter (an
    // intermediary signing for its clients, §9.4) it is fully valid apart from the chain.
    let signer = crate::common::issued().signer().unwrap();
    let opts = VerifyOptions::default().with_submitter(crate::common::TIN, crate::common::BRN);
    for kind in Kind::ALL {
        let mut doc: Value =
            serde_json::from_slice(&crate::common::unsigned(Version::V1_1, kind, Format::Json))
                .unwrap();
        let issuer = if kind.document_type().is_self_billed() {
            "AccountingCustomerParty"
        } else {
            "AccountingSupplierParty"
        };
        crate::common::set_party(&mut doc, issuer, CLIENT_TIN, CLIENT_BRN);
        let signed = invois_sign::sign_json(
            &serde_json::to_vec(&doc).unwrap(),
            &signer,
            chrono::Utc::now() - chrono::Duration::hours(1),
        )
        .unwrap();
        let name = kind.slug();
        let v = verify(&signed, None, None);
        assert_eq!(
            v.codes(),
            vec!["DS311", "DS312"],
            "{name}: {:#?}",
            v.findings
        );
        let v = verify_with(&signed, None, &opts);
        assert!(v.is_valid(), "{name}: {:#?}", v.findings);
        assert_eq!(
            v.status(CheckKind::TrustChain),
            Some(CheckStatus::NotChecked)
        );
    }
}

#[test]
fn official_json_samples_are_valid_for_the_certificate_holder() {
    let Some(lhdn) = invois_testkit::Corpus::lhdn() else {
        return;
    };
    // With the submitter identity of the sample certificate (an intermediary signing for its
    // clients, §9.4), the official samples are fully valid apart from the chain.
    let opts = invois_sign::VerifyOptions::default().with_submitter("C29702635060", "D12345678");
    for (name, bytes) in crate::common::lhdn_samples(&lhdn, "v1.1", "json") {
        let v = invois_sign::verify_with(&bytes, None, &opts);
        assert!(v.is_valid(), "{name}: {:#?}", v.findings);
        assert_eq!(
            v.status(CheckKind::TrustChain),
            Some(CheckStatus::NotChecked)
        );
    }
}

#[test]
fn v13_json_fixtures_edited_after_signing_fail_with_ds322() {
    let fixtures = Corpus::fixtures();
    let files = crate::common::list(
        &crate::common::version_dir(&fixtures, Version::V1_3),
        Format::Json,
        "fixtures",
    );
    assert_eq!(files.len(), 8);
    for (name, bytes) in files {
        // Edit a signed value, keeping everything else (the signature blocks included).
        let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
        let id = &mut doc["Invoice"][0]["ID"][0]["_"];
        assert!(id.is_string(), "{name}: no ID");
        *id = Value::from(format!("{}-EDITED", id.as_str().unwrap()));
        let v = verify(&serde_json::to_vec(&doc).unwrap(), None, None);
        assert_eq!(v.version.as_deref(), Some("1.3"), "{name}");
        assert_eq!(
            v.codes(),
            vec!["DS322", "DS333"],
            "{name}: {:#?}",
            v.findings
        );
        assert_eq!(
            v.status(CheckKind::DocumentDigest),
            Some(CheckStatus::Failed)
        );
        // Only the document changed: certificate and signed properties still match.
        assert_eq!(
            v.status(CheckKind::CertificateDigest),
            Some(CheckStatus::Passed)
        );
        assert_eq!(
            v.status(CheckKind::SignedPropertiesDigest),
            Some(CheckStatus::Passed)
        );
        let f = v.findings.iter().find(|f| f.code == "DS322").unwrap();
        assert!(f.message.contains("changed after signing"), "{}", f.message);
        assert_eq!(f.property_name.as_deref(), Some("DigestValue"));
    }
}

#[test]
fn v13_json_samples_fail_with_ds322_because_they_were_edited_after_signing() {
    let Some(lhdn) = invois_testkit::Corpus::lhdn() else {
        return;
    };
    let files = crate::common::lhdn_samples(&lhdn, "v1.3-svdp", "json");
    assert!(files.len() >= 8);
    for (name, bytes) in files {
        let v = verify(&bytes, None, None);
        assert_eq!(v.version.as_deref(), Some("1.3"), "{name}");
        assert!(v.has_code("DS322"), "{name}: {:?}", v.codes());
        assert!(v.has_code("DS333"), "{name}: {:?}", v.codes());
        assert_eq!(
            v.status(CheckKind::DocumentDigest),
            Some(CheckStatus::Failed)
        );
        // Only the document changed: certificate and signed properties still match.
        assert_eq!(
            v.status(CheckKind::CertificateDigest),
            Some(CheckStatus::Passed)
        );
        assert_eq!(
            v.status(CheckKind::SignedPropertiesDigest),
            Some(CheckStatus::Passed)
        );
        let f = v.findings.iter().find(|f| f.code == "DS322").unwrap();
        assert!(f.message.contains("changed after signing"), "{}", f.message);
        assert_eq!(f.property_name.as_deref(), Some("DigestValue"));
    }
}

#[test]
fn v10_and_v12_documents_carry_no_signature_and_are_not_rejected() {
    for version in [Version::V1_0, Version::V1_2] {
        for (name, bytes) in crate::common::documents(version, Format::Json) {
            let v = verify(&bytes, None, None);
            assert!(v.is_valid(), "{name}: {:?}", v.findings);
            assert_eq!(
                v.status(CheckKind::Structure),
                Some(CheckStatus::NotChecked),
                "{name}"
            );
        }
    }
}

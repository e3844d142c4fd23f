//! Point 2 of the issue, JSON: every official v1.1 JSON sample and the signed UL sample verify
//! (DocDigest, Sig, CertDigest, PropsDigest), and the 1.3 samples, edited after signing, fail
//! with DS322.

mod common;

use invois_sign::{CheckKind, CheckStatus, Format, verify};

const SIGNATURE_CHECKS: [CheckKind; 4] = [
    CheckKind::DocumentDigest,
    CheckKind::SignatureValue,
    CheckKind::CertificateDigest,
    CheckKind::SignedPropertiesDigest,
];

#[test]
fn every_v11_json_sample_verifies_all_four_digests() {
    let mut files = common::samples("v1.1", "json");
    files.push((
        "sample-ul-invoice-2.1-signed.min.json".to_owned(),
        common::read("signed/sample-ul-invoice-2.1-signed.min.json"),
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

#[test]
fn official_json_samples_are_valid_for_the_certificate_holder() {
    // With the submitter identity of the sample certificate (an intermediary signing for its
    // clients, §9.4), the official samples are fully valid apart from the chain.
    let opts = invois_sign::VerifyOptions::default().with_submitter("C29702635060", "D12345678");
    for (name, bytes) in common::samples("v1.1", "json") {
        let v = invois_sign::verify_with(&bytes, None, &opts);
        assert!(v.is_valid(), "{name}: {:#?}", v.findings);
        assert_eq!(
            v.status(CheckKind::TrustChain),
            Some(CheckStatus::NotChecked)
        );
    }
}

#[test]
fn v13_json_samples_fail_with_ds322_because_they_were_edited_after_signing() {
    let files = common::samples("v1.3-svdp", "json");
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
fn v10_documents_carry_no_signature_and_are_not_rejected() {
    for (name, bytes) in common::samples("v1.0", "json") {
        let v = verify(&bytes, None, None);
        assert!(v.is_valid(), "{name}: {:?}", v.findings);
        assert_eq!(
            v.status(CheckKind::Structure),
            Some(CheckStatus::NotChecked)
        );
    }
}

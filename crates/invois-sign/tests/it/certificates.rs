//! Point 4: PKCS#12 (modern and legacy ciphers) and PEM loading, the certificate profile with
//! its DS codes, the issuer-name rendering, the chain of trust, and secret redaction.

use base64::Engine as _;
use chrono::{Duration, Utc};
use invois_sign::{
    Certificate, Format, Password, Pkcs12Cipher, ProfileExpectation, SignError, Signer, TestCa,
    TestCertRequest, TrustStore, sign_json, verify,
};
use invois_testkit::{Corpus, Kind, Version};

/// DER encodings of the PKCS#12 PBE algorithm OIDs (1.2.840.113549.1.12.1.x).
const OID_RC2_40: &[u8] = &[
    0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x01, 0x06,
];
const OID_3DES: &[u8] = &[
    0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x01, 0x03,
];
/// PBES2 (1.2.840.113549.1.5.13).
const OID_PBES2: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D,
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The certificate a signed JSON document carries (`KeyInfo/X509Data/X509Certificate`).
fn embedded_certificate(signed_json: &[u8]) -> Certificate {
    let doc: serde_json::Value = serde_json::from_slice(signed_json).unwrap();
    let b64 = doc["Invoice"][0]["UBLExtensions"][0]["UBLExtension"][0]["ExtensionContent"][0]["UBLDocumentSignatures"][0]
        ["SignatureInformation"][0]["Signature"][0]["KeyInfo"][0]["X509Data"][0]["X509Certificate"][0]["_"]
        .as_str()
        .unwrap();
    Certificate::from_der(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// LHDN's certificate, from their signed UL sample.
fn official_certificate(lhdn: &Corpus) -> Certificate {
    embedded_certificate(&crate::common::lhdn_read(
        lhdn,
        "signed/sample-ul-invoice-2.1-signed.min.json",
    ))
}

/// The certificate the signed fixtures carry.
fn fixture_certificate() -> Certificate {
    embedded_certificate(&crate::common::fixture(
        Version::V1_1,
        Kind::Invoice,
        Format::Json,
    ))
}

#[test]
fn pkcs12_loads_with_modern_and_legacy_ciphers() {
    let issued = crate::common::issued();
    let password = Password::new("s3cret-p@ss");
    for (cipher, oid) in [
        (Pkcs12Cipher::Aes256, OID_PBES2),
        (Pkcs12Cipher::Rc2_40, OID_RC2_40),
        (Pkcs12Cipher::TripleDes, OID_3DES),
    ] {
        let p12 = issued.to_pkcs12(&password, cipher).unwrap();
        // The file really uses the cipher under test.
        assert!(
            contains(&p12, oid),
            "{cipher:?}: algorithm OID not in the file"
        );
        let signer = Signer::from_pkcs12(&p12, &password).unwrap();
        assert_eq!(signer.certificate(), &issued.certificate, "{cipher:?}");
        assert_eq!(
            signer.chain(),
            std::slice::from_ref(&issued.ca),
            "{cipher:?}"
        );
        // And it signs documents that verify.
        let doc = crate::common::unsigned(Version::V1_1, Kind::Invoice, Format::Json);
        let signed = sign_json(&doc, &signer, Utc::now()).unwrap();
        assert!(verify(&signed, None, Some(&TrustStore::test_ca().unwrap())).is_valid());

        let wrong = Signer::from_pkcs12(&p12, &Password::new("wrong-password")).unwrap_err();
        assert!(matches!(wrong, SignError::Pkcs12(_)), "{cipher:?}: {wrong}");
        assert!(!wrong.to_string().contains("wrong-password"));
        assert!(!format!("{wrong:?}").contains("wrong-password"));
    }
}

/// Interop with files written by the OpenSSL CLI (`-legacy` = RC2-40 certificates, 3DES key).
/// Ignored by default because it needs `openssl` on the PATH; when run it fails, never skips,
/// if openssl is missing: `cargo test -p invois-sign --test certificates -- --ignored`.
#[test]
#[ignore = "needs the openssl CLI"]
fn pkcs12_written_by_openssl_legacy_loads() {
    let issued = crate::common::issued();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, issued.certificate.to_pem()).unwrap();
    std::fs::write(&key, issued.key.to_pem()).unwrap();
    for (flags, oid) in [
        (&["-legacy"][..], OID_RC2_40),
        (
            &["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES"][..],
            OID_3DES,
        ),
    ] {
        let out = dir.path().join("out.p12");
        let status = std::process::Command::new("openssl")
            .args(["pkcs12", "-export", "-in"])
            .arg(&cert)
            .arg("-inkey")
            .arg(&key)
            .arg("-out")
            .arg(&out)
            .args(["-passout", "pass:pw"])
            .args(flags)
            .status()
            .expect("the openssl CLI must be installed to run this test");
        assert!(status.success(), "openssl failed for {flags:?}");
        let p12 = std::fs::read(&out).unwrap();
        assert!(contains(&p12, oid), "{flags:?}");
        let signer = Signer::from_pkcs12(&p12, &Password::new("pw")).unwrap();
        assert_eq!(signer.certificate(), &issued.certificate);
    }
}

#[test]
fn pem_certificate_with_pkcs8_or_pkcs1_key_loads() {
    let issued = crate::common::issued();
    let cert_pem = issued.certificate.to_pem();
    let signer = Signer::from_pem(cert_pem.as_bytes(), issued.key.to_pem().as_bytes()).unwrap();
    assert_eq!(signer.certificate(), &issued.certificate);

    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let k = rsa::RsaPrivateKey::from_pkcs8_der(issued.key.expose()).unwrap();
    let pkcs1 = k.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let signer = Signer::from_pem(cert_pem.as_bytes(), pkcs1.as_bytes()).unwrap();
    assert_eq!(signer.certificate(), &issued.certificate);

    // DER certificate is accepted too.
    assert!(Signer::from_pem(issued.certificate.der(), issued.key.to_pem().as_bytes()).is_ok());
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let other = TestCa::well_known()
        .unwrap()
        .issue(&TestCertRequest::new("C1", "B1"))
        .unwrap();
    let err = Signer::from_pem(
        crate::common::issued().certificate.to_pem().as_bytes(),
        other.key.to_pem().as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(err, SignError::PrivateKey(_)), "{err}");
    assert!(err.to_string().contains("does not belong"));
}

#[test]
fn inspect_reads_the_fixture_certificate_profile() {
    // The certificate every signed fixture carries is the committed test certificate of the
    // fixtures' issuer, from the well-known test CA.
    let c = fixture_certificate();
    let committed = invois_testkit::fixtures::root().join("../certs/issuer.cert.pem");
    let pem = std::fs::read(&committed).unwrap();
    assert_eq!(c, Certificate::from_pem(&pem).unwrap());
    for version in [Version::V1_1, Version::V1_3] {
        for kind in Kind::ALL.into_iter().filter(|k| k.in_version(version)) {
            let doc = crate::common::fixture(version, kind, Format::Json);
            assert_eq!(embedded_certificate(&doc), c, "{version:?} {kind:?}");
        }
    }
    let i = c.inspect();
    assert_eq!(i.tin.as_deref(), Some(crate::common::TIN));
    assert_eq!(i.brn.as_deref(), Some(crate::common::BRN));
    assert_eq!(
        i.issuer,
        "CN=invois Test CA, OU=Not for production use, O=invois test, C=MY"
    );
    assert_eq!(i.serial_number, "132448335302894705911998488220473039834");
    assert!(i.has_non_repudiation());
    assert!(i.has_document_signing());
    assert!(!i.is_ca);
    assert_eq!(i.public_key, "RSA 2048");
    assert_eq!(i.not_before.to_rfc3339(), "2025-01-01T00:00:00+00:00");
    assert_eq!(i.not_after.to_rfc3339(), "2045-12-31T00:00:00+00:00");
    assert_eq!(i.digest, "jmvP7b5X9ZpK5YZeBq9pebnaiN0hELFs70W24hc/4wI=");
    assert!(
        i.subject.contains("OID.2.5.4.97=C25845632020"),
        "{}",
        i.subject
    );
    assert!(
        i.subject.contains("SERIALNUMBER=202001234567"),
        "{}",
        i.subject
    );
    let exp = ProfileExpectation::new(
        Some(crate::common::TIN.to_owned()),
        Some(crate::common::BRN.to_owned()),
        Some(Utc::now()),
    );
    assert_eq!(c.check_profile(&exp), vec![]);
    assert!(
        TrustStore::test_ca()
            .unwrap()
            .verify_chain(&c, None)
            .is_ok()
    );
}

#[test]
fn inspect_reads_the_official_certificate_profile() {
    let Some(lhdn) = invois_testkit::Corpus::lhdn() else {
        return;
    };
    let c = official_certificate(&lhdn);
    let i = c.inspect();
    assert_eq!(i.tin.as_deref(), Some("C29702635060"));
    assert_eq!(i.brn.as_deref(), Some("D12345678"));
    assert_eq!(
        i.issuer,
        "CN=Trial LHDNM Sub CA V1, OU=Terms of use at http://www.posdigicert.com.my, O=LHDNM, C=MY"
    );
    assert_eq!(i.serial_number, "162880276254639189035871514749820882117");
    assert!(i.has_non_repudiation());
    assert!(i.has_document_signing());
    assert_eq!(i.public_key, "RSA 2048");
    assert_eq!(i.not_before.to_rfc3339(), "2024-06-06T02:52:36+00:00");
    assert_eq!(i.not_after.to_rfc3339(), "2024-09-06T02:52:36+00:00");
    assert_eq!(i.digest, "KKBSTyiPKGkGl1AFqcPziKCEIDYGtnYUTQN4ukO7G40=");
    assert!(
        i.subject.contains("OID.2.5.4.97=C29702635060"),
        "{}",
        i.subject
    );
    assert!(
        i.subject.contains("SERIALNUMBER=D12345678"),
        "{}",
        i.subject
    );
}

#[test]
fn issued_test_certificate_has_the_erp_profile() {
    let issued = crate::common::issued();
    let i = issued.certificate.inspect();
    assert_eq!(i.tin.as_deref(), Some(crate::common::TIN));
    assert_eq!(i.brn.as_deref(), Some(crate::common::BRN));
    assert!(i.has_non_repudiation());
    assert!(i.has_document_signing());
    assert!(!i.is_ca);
    assert_eq!(
        i.issuer,
        "CN=invois Test CA, OU=Not for production use, O=invois test, C=MY"
    );
    assert_eq!(issued.ca.inspect().subject, i.issuer);
    let exp = ProfileExpectation::new(
        Some(crate::common::TIN.to_owned()),
        Some(crate::common::BRN.to_owned()),
        Some(Utc::now()),
    );
    assert_eq!(issued.certificate.check_profile(&exp), vec![]);
    // The convenience function gives the same profile.
    let (ca, cert, _key) = invois_sign::issue_test_certificate("C123", "B456").unwrap();
    assert_eq!(cert.inspect().tin.as_deref(), Some("C123"));
    assert!(
        TrustStore::test_ca()
            .unwrap()
            .verify_chain(&cert, None)
            .is_ok()
    );
    assert_eq!(ca.inspect().subject, cert.inspect().issuer);
}

fn codes_of(c: &Certificate, exp: &ProfileExpectation) -> Vec<&'static str> {
    c.check_profile(exp).iter().map(|f| f.code).collect()
}

#[test]
fn each_profile_failure_maps_to_its_ds_code() {
    let ca = TestCa::well_known().unwrap();
    let base = TestCertRequest::new(crate::common::TIN, crate::common::BRN);
    let exp = ProfileExpectation::new(
        Some(crate::common::TIN.to_owned()),
        Some(crate::common::BRN.to_owned()),
        Some(Utc::now()),
    );
    let cases: Vec<(&str, TestCertRequest, ProfileExpectation, Vec<&str>)> = vec![
        (
            "no OI",
            TestCertRequest {
                tin: None,
                ..base.clone()
            },
            exp.clone(),
            vec!["DS307"],
        ),
        (
            "no serialNumber",
            TestCertRequest {
                brn: None,
                ..base.clone()
            },
            exp.clone(),
            vec!["DS306"],
        ),
        (
            "no non-repudiation",
            TestCertRequest {
                non_repudiation: false,
                ..base.clone()
            },
            exp.clone(),
            vec!["DS334"],
        ),
        (
            "no document signing",
            TestCertRequest {
                document_signing: false,
                ..base.clone()
            },
            exp.clone(),
            vec!["DS334"],
        ),
        (
            "expired",
            TestCertRequest {
                not_before: Utc::now() - Duration::days(400),
                not_after: Utc::now() - Duration::days(35),
                ..base.clone()
            },
            exp.clone(),
            vec!["DS304"],
        ),
        (
            "other TIN",
            base.clone(),
            ProfileExpectation::new(
                Some("C99999999990".to_owned()),
                Some(crate::common::BRN.to_owned()),
                None,
            ),
            vec!["DS311"],
        ),
        (
            "other BRN",
            base.clone(),
            ProfileExpectation::new(
                Some(crate::common::TIN.to_owned()),
                Some("199901000001".to_owned()),
                None,
            ),
            vec!["DS312"],
        ),
    ];
    for (what, req, exp, want) in cases {
        let c = ca.issue(&req).unwrap().certificate;
        let findings = c.check_profile(&exp);
        assert_eq!(codes_of(&c, &exp), want, "{what}: {findings:#?}");
        assert!(
            findings
                .iter()
                .all(|f| !f.fix.is_empty() && !f.message.is_empty())
        );
    }
}

#[test]
fn profile_failures_surface_when_verifying_a_signed_document() {
    let ca = TestCa::well_known().unwrap();
    let req = TestCertRequest {
        document_signing: false,
        non_repudiation: false,
        ..TestCertRequest::new(crate::common::TIN, crate::common::BRN)
    };
    let signer = ca.issue(&req).unwrap().signer().unwrap();
    let doc = crate::common::unsigned(Version::V1_1, Kind::Invoice, Format::Xml);
    let v = verify(
        &invois_sign::sign_xml(&doc, &signer, Utc::now()).unwrap(),
        None,
        None,
    );
    assert_eq!(v.codes(), vec!["DS334"]);
    assert_eq!(v.findings.len(), 2);
    assert!(
        v.findings
            .iter()
            .any(|f| f.message.contains("Non-Repudiation"))
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.message.contains("1.3.6.1.4.1.311.10.3.12"))
    );
}

#[test]
fn untrusted_chain_is_ds329_until_the_ca_is_added() {
    let rogue = TestCa::generate("Rogue CA").unwrap();
    let signer = rogue
        .issue(&TestCertRequest::new(
            crate::common::TIN,
            crate::common::BRN,
        ))
        .unwrap()
        .signer()
        .unwrap();
    let doc = crate::common::unsigned(Version::V1_1, Kind::Invoice, Format::Json);
    let signed = sign_json(&doc, &signer, Utc::now()).unwrap();
    let mut store = TrustStore::test_ca().unwrap();
    let v = verify(&signed, None, Some(&store));
    assert_eq!(v.codes(), vec!["DS329"]);
    assert!(
        v.findings[0].message.contains("Rogue CA"),
        "{}",
        v.findings[0].message
    );
    assert_eq!(
        store
            .add_pem(rogue.certificate().to_pem().as_bytes())
            .unwrap(),
        1
    );
    assert!(verify(&signed, None, Some(&store)).is_valid());
    // A CA with the same name but another key does not vouch for it.
    let impostor = TestCa::generate("Rogue CA").unwrap();
    let mut store = TrustStore::empty();
    store.add(impostor.certificate().clone());
    let v = verify(&signed, None, Some(&store));
    assert_eq!(v.codes(), vec!["DS329"]);
    assert!(v.findings[0].message.contains("did not sign"));
}

#[test]
fn keys_and_passwords_never_appear_in_debug_output() {
    let issued = crate::common::issued();
    let pem = issued.key.to_pem();
    let key_b64_line = pem.lines().nth(3).unwrap();
    let der_b64 = base64::engine::general_purpose::STANDARD.encode(issued.key.expose());
    let password = Password::new("hunter2-very-secret");
    let signer = issued.signer().unwrap();
    let p12 = issued.to_pkcs12(&password, Pkcs12Cipher::Rc2_40).unwrap();
    let from_p12 = Signer::from_pkcs12(&p12, &password).unwrap();
    for dbg in [
        format!("{signer:?}"),
        format!("{from_p12:?}"),
        format!("{issued:?}"),
        format!("{:?}", issued.key),
        format!("{password:?}"),
        format!("{:?}", TestCa::well_known().unwrap()),
    ] {
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains(key_b64_line), "{dbg}");
        assert!(!dbg.contains(&der_b64[..40]), "{dbg}");
        assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
    }
    assert!(format!("{signer:?}").contains("<redacted>"));
    assert_eq!(format!("{password:?}"), "Password(<redacted>)");
}

#[test]
fn names_with_special_characters_are_quoted_like_dotnet() {
    let ca = TestCa::generate("Acme, Inc. \"Root\"").unwrap();
    assert_eq!(
        ca.certificate().inspect().subject,
        "CN=\"Acme, Inc. \"\"Root\"\"\", OU=Not for production use, O=invois test, C=MY"
    );
}

//! Signing on the way out: a client with a certificate signs 1.1/1.3 documents before it
//! encodes them, leaves 1.0 and already-signed documents byte for byte, and refuses an
//! unsigned 1.1 when it has no certificate.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use invois_api::submission::DocumentFormat;
use invois_client::{Client, Clock, PrepareError, sha256_hex};
use invois_model::{DocumentType, model::example};
use invois_sign::{TestCa, TestCertRequest, TrustStore, VerifyOptions};

/// Now, to the second: test certificates are valid from a day ago, and the document's issue
/// date must be recent.
fn at() -> DateTime<Utc> {
    use chrono::Timelike as _;
    Utc::now().with_nanosecond(0).unwrap()
}

fn client(signer: Option<invois_sign::Signer>) -> Client {
    let mut b = Client::builder()
        // Nothing is sent in these tests; the address only has to be well formed.
        .api_base("http://127.0.0.1:9")
        .credentials("3f1c2b4a-client", "a-real-looking-secret")
        // Three hours behind the system clock (test certificates are valid from a day ago) and
        // all but standing still, so a signing time read from anywhere else would show.
        .clock(Clock::starting_at(at() - chrono::Duration::hours(3), 1e-9));
    if let Some(s) = signer {
        b = b.signer(Arc::new(s));
    }
    b.build().expect("client builds")
}

fn document(version: &str, xml: bool) -> Vec<u8> {
    let doc = example(DocumentType::Invoice, version, at()).expect("example builds");
    if xml {
        doc.to_xml_string().into_bytes()
    } else {
        doc.to_json_string().into_bytes()
    }
}

fn signer_for(bytes: &[u8]) -> invois_sign::Signer {
    let doc = invois_model::Document::parse(bytes).unwrap();
    let tin = doc.supplier_tin().unwrap().to_owned();
    let brn = doc.supplier_id("BRN").unwrap().to_owned();
    TestCa::well_known()
        .unwrap()
        .issue(&TestCertRequest::new(&tin, &brn))
        .unwrap()
        .signer()
        .unwrap()
}

fn decoded(sub: &invois_api::submission::DocumentSubmission) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(&sub.document)
        .unwrap()
}

#[test]
fn version_11_is_signed_at_the_client_clock_and_verifies() {
    for xml in [false, true] {
        let bytes = document("1.1", xml);
        let client = client(Some(signer_for(&bytes)));
        let sub = client.document_submission(&bytes, None).expect("prepares");
        let sent = decoded(&sub);
        assert_ne!(sent, bytes, "the document was signed");
        assert_eq!(
            sub.document_hash,
            sha256_hex(&sent),
            "hash of the exact bytes sent"
        );
        assert_eq!(
            sub.format,
            if xml {
                DocumentFormat::Xml
            } else {
                DocumentFormat::Json
            }
        );
        let v = invois_sign::verify_with(
            &sent,
            None,
            &VerifyOptions::default().with_trust(TrustStore::test_ca().unwrap()),
        );
        assert!(v.is_valid(), "xml={xml}: {}", v.explain());
        let text = String::from_utf8(sent).unwrap();
        let stamp = client
            .clock()
            .now()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        assert!(
            text.contains(&stamp),
            "signing time {stamp} comes from the client clock"
        );
        // The code number defaults to the document's own ID.
        let id = invois_model::Document::parse(&bytes)
            .unwrap()
            .id()
            .unwrap()
            .to_owned();
        assert_eq!(sub.code_number, id);
    }
}

#[test]
fn version_10_and_signed_documents_go_out_unchanged() {
    let v10 = document("1.0", false);
    let client = client(Some(signer_for(&v10)));
    let sub = client.document_submission(&v10, Some("X-1")).unwrap();
    assert_eq!(decoded(&sub), v10);
    assert_eq!(sub.code_number, "X-1");

    let v11 = document("1.1", false);
    let signed = client.document_submission(&v11, None).unwrap();
    let signed_bytes = decoded(&signed);
    let again = client.document_submission(&signed_bytes, None).unwrap();
    assert_eq!(
        decoded(&again),
        signed_bytes,
        "an existing signature is never replaced"
    );
}

#[test]
fn unsigned_11_without_a_certificate_is_a_local_error() {
    let bytes = document("1.1", false);
    match client(None).document_submission(&bytes, None) {
        Err(PrepareError::SignatureRequired { version }) => assert_eq!(version, "1.1"),
        other => panic!("expected SignatureRequired, got {other:?}"),
    }
    assert!(matches!(
        client(None).document_submission(b"not a document", None),
        Err(PrepareError::Parse(_))
    ));
}

#[test]
fn debug_never_shows_the_signing_key() {
    let bytes = document("1.1", false);
    let client = client(Some(signer_for(&bytes)));
    let debug = format!("{client:?}");
    assert!(debug.contains("signer"), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

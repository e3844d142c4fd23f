//! The committed fixtures are what the builders make today, are valid locally, carry good
//! signatures, and pass the sandbox exactly as committed.

use std::collections::BTreeSet;
use std::time::Duration;

use invois_model::{Document, Format, ValidationContext, validate};
use invois_testkit::fixtures::{self, Kind, Version};
use invois_testkit::{Clock, Corpus, TestSandbox, samples};
use serde_json::Value;

#[test]
fn committed_fixtures_are_what_the_builders_make() {
    let fresh = fixtures::all();
    let root = fixtures::root();
    for (rel, bytes) in &fresh {
        let committed = std::fs::read(root.join(rel)).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `cargo run -p invois-testkit --bin make-fixtures`",
                rel.display()
            )
        });
        assert!(
            committed == *bytes,
            "{} differs from a fresh build; run `cargo run -p invois-testkit --bin make-fixtures`",
            rel.display()
        );
    }
    // And nothing stale lies beside them.
    let want: BTreeSet<_> = fresh.iter().map(|(rel, _)| root.join(rel)).collect();
    let have: BTreeSet<_> = [Format::Json, Format::Xml]
        .into_iter()
        .flat_map(|f| Corpus::fixtures().files(f))
        .collect();
    assert_eq!(have, want);
    // 11 kinds in 1.0 and 1.1 (signed and unsigned), 8 in 1.2 and 1.3 (signed and unsigned),
    // each in JSON and XML.
    assert_eq!(fresh.len(), (11 * 3 + 8 * 3) * 2);
}

#[test]
fn every_type_and_version_is_there_in_both_formats() {
    let corpus = Corpus::fixtures();
    let entries = corpus.entries();
    for version in Version::ALL {
        let types: BTreeSet<_> = entries
            .iter()
            .filter(|(v, _)| *v == version)
            .map(|(_, k)| k.document_type().code())
            .collect();
        assert_eq!(types.len(), 8, "{version:?}");
    }
    for (version, kind) in entries {
        for format in [Format::Json, Format::Xml] {
            let doc = Document::parse(&corpus.read(version, kind, format)).unwrap();
            assert_eq!(doc.document_type(), Some(kind.document_type()));
            assert_eq!(doc.version(), Some(version.as_str()), "{kind:?}");
        }
    }
}

#[test]
fn unsigned_fixtures_validate_clean_and_signed_ones_verify() {
    let ctx = ValidationContext::at(fixtures::issued_at() + chrono::Duration::hours(1));
    let trust = invois_sign::TrustStore::test_ca().unwrap();
    let corpus = Corpus::fixtures();
    for (version, kind) in corpus.entries() {
        for format in [Format::Json, Format::Xml] {
            let bytes = corpus.read(version, kind, format);
            let doc = Document::parse(&bytes).unwrap();
            let report = validate(&doc, &ctx);
            assert!(
                report.is_valid(),
                "{kind:?} {version:?} {format:?}: {:?}",
                report.findings
            );
            if version.is_signed() {
                let v = invois_sign::verify(&bytes, None, Some(&trust));
                assert!(v.is_valid(), "{kind:?} {version:?}: {}", v.explain());
                // The unsigned form is the same document without the signature.
                let unsigned = invois_testkit::unsigned_fixture(version, kind, format);
                assert!(!invois_sign::verify(&unsigned, None, Some(&trust)).is_valid());
                assert_eq!(Document::parse(&unsigned).unwrap().id(), doc.id());
            }
        }
    }
}

#[test]
fn a_changed_signed_fixture_fails_its_digest() {
    let trust = invois_sign::TrustStore::test_ca().unwrap();
    let bytes = Corpus::fixtures().read(Version::V1_1, Kind::Invoice, Format::Json);
    let text = String::from_utf8(bytes).unwrap();
    let tampered = text.replacen("Laptop 14-inch", "Laptop 15-inch", 1);
    assert_ne!(text, tampered);
    assert!(!invois_sign::verify(tampered.as_bytes(), None, Some(&trust)).is_valid());
}

/// A sandbox whose clock stands an hour after the fixtures' issue time.
async fn fixture_day_sandbox() -> TestSandbox {
    let clock = Clock::starting_at(fixtures::issued_at() + chrono::Duration::hours(1), 1.0);
    TestSandbox::builder()
        .clock(clock)
        .validation_delay(Duration::from_secs(1))
        .start()
        .await
        .unwrap()
}

async fn access_token(sandbox: &TestSandbox) -> String {
    let login = sandbox.supplier();
    let body: Value = reqwest::Client::new()
        .post(format!("{}/connect/token", sandbox.base_url()))
        .form(&[
            ("client_id", login.client_id.as_str()),
            ("client_secret", login.client_secret.as_str()),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Submits documents and waits for every one's final status: (internal id -> (status, uuid)).
async fn submit(
    sandbox: &TestSandbox,
    token: &str,
    entries: Vec<Value>,
) -> Vec<(String, String, String)> {
    let http = reqwest::Client::new();
    let resp = http
        .post(format!(
            "{}/api/v1.0/documentsubmissions",
            sandbox.base_url()
        ))
        .bearer_auth(token)
        .json(&samples::submission(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["rejectedDocuments"], serde_json::json!([]), "{body}");
    let uid = body["submissionUid"].as_str().unwrap().to_owned();
    sandbox.clock().advance(Duration::from_secs(5));
    for _ in 0..200 {
        let v: Value = http
            .get(format!(
                "{}/api/v1.0/documentsubmissions/{uid}",
                sandbox.base_url()
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["overallStatus"] != "in progress" {
            let docs = v["documentSummary"].as_array().unwrap();
            return docs
                .iter()
                .map(|d| {
                    (
                        d["internalId"].as_str().unwrap().to_owned(),
                        d["status"].as_str().unwrap().to_owned(),
                        d["uuid"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("submission {uid} did not finish");
}

fn entry(format: Format, bytes: &[u8]) -> Value {
    let doc = Document::parse(bytes).unwrap();
    let name = match format {
        Format::Json => "JSON",
        Format::Xml => "XML",
    };
    samples::document_entry(name, bytes, doc.id().unwrap())
}

#[tokio::test]
async fn the_sandbox_accepts_every_invoice_fixture_as_committed() {
    // At the fixtures' date the signed fixtures go in byte for byte, signatures and all.
    let corpus = Corpus::fixtures();
    for format in [Format::Json, Format::Xml] {
        // A sandbox per format: the JSON and XML fixtures share internal ids, and a second
        // copy would rightly be refused as a duplicate.
        let sandbox = fixture_day_sandbox().await;
        let token = access_token(&sandbox).await;
        let entries: Vec<Value> = corpus
            .entries()
            .into_iter()
            .filter(|(_, k)| !k.document_type().is_note())
            .filter(|(v, _)| format == Format::Json || *v == Version::V1_0 || v.is_signed())
            .map(|(v, k)| entry(format, &corpus.read(v, k, format)))
            .collect();
        // JSON: 5 invoice kinds in 1.0/1.1, 2 in 1.2/1.3; XML: 1.0, 1.1 and 1.3.
        let results = submit(&sandbox, &token, entries.clone()).await;
        assert_eq!(results.len(), entries.len());
        for (id, status, _) in &results {
            assert_eq!(status, "Valid", "{format:?} {id}");
        }
        sandbox.shutdown().await;
    }
}

#[tokio::test]
async fn the_sandbox_accepts_every_note_fixture_against_its_original() {
    let sandbox = fixture_day_sandbox().await;
    let token = access_token(&sandbox).await;
    let corpus = Corpus::fixtures();
    let originals: Vec<Value> = [Kind::Invoice, Kind::SelfBilledInvoice]
        .into_iter()
        .map(|k| entry(Format::Json, &corpus.read(Version::V1_0, k, Format::Json)))
        .collect();
    let results = submit(&sandbox, &token, originals).await;
    let uuid_of = |self_billed: bool| {
        results
            .iter()
            .find(|(id, _, _)| id.contains("self-billed") == self_billed)
            .map(|(_, status, uuid)| {
                assert_eq!(status, "Valid");
                uuid.clone()
            })
            .unwrap()
    };
    let notes: Vec<Value> = Kind::ALL
        .into_iter()
        .filter(|k| k.document_type().is_note())
        .map(|k| {
            let mut doc = corpus.json(Version::V1_0, k);
            samples::set_json_reference(&mut doc, &uuid_of(k.document_type().is_self_billed()));
            entry(Format::Json, &samples::minified(&doc))
        })
        .collect();
    let results = submit(&sandbox, &token, notes).await;
    assert_eq!(results.len(), 6);
    for (id, status, _) in &results {
        assert_eq!(status, "Valid", "{id}");
    }
    sandbox.shutdown().await;
}

//! End to end: the real client against the real sandbox (`invois-sandbox` via
//! `invois-testkit`) over HTTP on 127.0.0.1:0, both on one scaled clock.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use invois_client::api::submission::{DocumentFormat, DocumentSubmission};
use invois_client::api::{DocumentStatus, Endpoint, RateClass, RateProfile};
use invois_client::{Client, DocumentSubmissionExt, RateLimits};
use invois_testkit::{CallObserver, CallRecord, TestSandbox, samples};
use parking_lot::Mutex;

#[derive(Default)]
struct Calls(Mutex<Vec<CallRecord>>);

impl CallObserver for Calls {
    fn on_call(&self, record: &CallRecord) {
        self.0.lock().push(record.clone());
    }
}

impl Calls {
    fn to(&self, e: Endpoint) -> Vec<CallRecord> {
        self.0
            .lock()
            .iter()
            .filter(|r| r.endpoint == Some(e))
            .cloned()
            .collect()
    }
}

fn client_for(sandbox: &TestSandbox, limits: RateLimits) -> Client {
    let who = sandbox.supplier();
    Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .rate_limits(limits)
        .build()
        .unwrap()
}

fn invoices(sandbox: &TestSandbox, n: usize, tag: &str) -> Vec<DocumentSubmission> {
    let supplier = sandbox.supplier().tin;
    let buyer = sandbox.buyer().tin;
    let now = sandbox.clock().now() - chrono::Duration::minutes(5);
    (0..n)
        .map(|i| {
            let mut doc = invois_testkit::fixture_json(
                invois_testkit::Version::V1_0,
                invois_testkit::Kind::Invoice,
            );
            let id = format!("E2E-{tag}-{i}");
            samples::adapt_json(&mut doc, &id, now, &supplier, &buyer);
            DocumentSubmission::from_bytes(DocumentFormat::Json, &samples::minified(&doc), id)
        })
        .collect()
}

#[tokio::test]
async fn submit_then_poll_against_the_sandbox_follows_the_practices() {
    let calls = Arc::new(Calls::default());
    let sandbox = TestSandbox::builder()
        .time_scale(60.0)
        .validation_delay(Duration::from_secs(3))
        .observer(calls.clone())
        .start()
        .await
        .unwrap();
    let client = client_for(&sandbox, RateLimits::profile(RateProfile::Production));
    let mut docs = invoices(&sandbox, 5, "A");
    // A sixth document issued four days ago: past the 72-hour window, so invalid.
    let mut foreign =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let issued = sandbox.clock().now() - chrono::Duration::days(4);
    samples::adapt_json(
        &mut foreign,
        "E2E-A-X",
        issued,
        &sandbox.supplier().tin,
        &sandbox.buyer().tin,
    );
    docs.push(DocumentSubmission::from_bytes(
        DocumentFormat::Json,
        &samples::minified(&foreign),
        "E2E-A-X",
    ));
    let submitted = client.submissions().submit(docs).send().await.unwrap();
    assert_eq!(submitted.accepted_documents.len(), 6, "{submitted:?}");
    let uid = submitted.submission_uid.clone().unwrap();
    let outcome = client
        .submissions()
        .poll(uid.clone())
        .expected_documents(submitted.accepted_documents.len())
        .send()
        .await
        .unwrap();
    assert_eq!(outcome.documents.len(), submitted.accepted_documents.len());
    for d in &outcome.documents {
        assert_ne!(d.status, DocumentStatus::Submitted);
        match d.status {
            DocumentStatus::Valid => {
                let link = d.validation_link.as_deref().unwrap();
                assert!(
                    link.starts_with(&format!(
                        "https://preprod.myinvois.hasil.gov.my/{}/share/",
                        d.uuid
                    )),
                    "{link}"
                );
            }
            DocumentStatus::Invalid => assert!(!d.errors.is_empty() || d.details_error.is_some()),
            _ => {}
        }
    }
    let invalid = outcome
        .documents
        .iter()
        .filter(|d| d.status == DocumentStatus::Invalid)
        .count();
    let valid_with_link = outcome
        .documents
        .iter()
        .filter(|d| d.status == DocumentStatus::Valid && d.validation_link.is_some())
        .count();
    // Every document ends Valid (with its link) or Invalid (with its errors). The sandbox's
    // validators evolve, so only the late document's verdict is fixed here.
    assert_eq!(valid_with_link + invalid, 6);
    let late = outcome
        .documents
        .iter()
        .find(|d| d.internal_id == "E2E-A-X")
        .unwrap();
    assert_eq!(late.status, DocumentStatus::Invalid);
    assert!(!late.errors.is_empty());
    // What the sandbox saw: one login, one submit, Get Submission only, details only for
    // invalid documents, nothing per-document otherwise, no 429.
    assert_eq!(calls.to(Endpoint::LoginTaxpayer).len(), 1);
    assert_eq!(calls.to(Endpoint::SubmitDocuments).len(), 1);
    assert_eq!(
        calls.to(Endpoint::SubmitDocuments)[0]
            .payload_sha256
            .as_deref(),
        Some(submitted.payload_hash.as_str())
    );
    assert!(!calls.to(Endpoint::GetSubmission).is_empty());
    assert_eq!(calls.to(Endpoint::GetDocumentDetails).len(), invalid);
    assert!(calls.to(Endpoint::GetDocument).is_empty());
    assert!(calls.0.lock().iter().all(|r| r.status != 429));

    // The documents are then found by Search Documents over a long range.
    let now = sandbox.clock().now();
    let found: Vec<_> = client
        .documents()
        .search()
        .submission_dates(
            now - chrono::Duration::days(70),
            now + chrono::Duration::minutes(1),
        )
        .into_stream()
        .collect()
        .await;
    let found: Vec<_> = found.into_iter().collect::<Result<_, _>>().unwrap();
    // Reconciliation by internal id finds exactly the one document.
    let late = client
        .documents()
        .find_by_internal_id(
            "E2E-A-2",
            now - chrono::Duration::days(1),
            now + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].internal_id, "E2E-A-2");
    let none = client
        .documents()
        .find_by_internal_id(
            "NEVER-SENT",
            now - chrono::Duration::days(1),
            now + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    for d in &outcome.documents {
        if d.status == DocumentStatus::Valid {
            assert!(
                found.iter().any(|f| f.uuid == d.uuid),
                "{} not found",
                d.uuid
            );
        }
    }
}

#[tokio::test]
async fn a_resent_payload_is_a_typed_duplicate() {
    let sandbox = TestSandbox::builder()
        .time_scale(60.0)
        .start()
        .await
        .unwrap();
    let client = client_for(&sandbox, RateLimits::default());
    let docs = invois_client::api::submission::SubmitDocumentsRequest {
        documents: invoices(&sandbox, 1, "D"),
    };
    let first = client
        .submissions()
        .submit(docs.documents.clone())
        .send()
        .await
        .unwrap();
    let err = client
        .submissions()
        .submit(docs.documents)
        .send()
        .await
        .unwrap_err();
    match err {
        invois_client::SubmitError::Duplicate { payload_hash, .. } => {
            assert_eq!(payload_hash, first.payload_hash);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_client_honours_the_sandbox_429_and_retry_after() {
    // The sandbox allows 2 searches a minute; the client is told 100, so it will be refused
    // and must wait out Retry-After rather than fail or hammer.
    let sandbox = TestSandbox::builder()
        .time_scale(120.0)
        .rate_limit(RateClass::SearchDocuments, 2)
        .start()
        .await
        .unwrap();
    let client = client_for(
        &sandbox,
        RateLimits::default().with_rpm(RateClass::SearchDocuments, Some(100)),
    );
    let now = sandbox.clock().now();
    for _ in 0..5 {
        client
            .documents()
            .search()
            .submission_dates(now - chrono::Duration::days(1), now)
            .send()
            .await
            .unwrap();
    }
    let counters = sandbox.sandbox().client_counters(client.client_id());
    let refused = counters
        .rate_limited
        .get(RateClass::SearchDocuments.key())
        .copied()
        .unwrap_or(0);
    assert!(
        refused >= 1,
        "the sandbox should have refused some: {counters:?}"
    );
    assert!(refused <= 3, "after a 429 the class waits: {counters:?}");
}

#[tokio::test]
async fn intermediary_and_platform_calls_work_against_the_sandbox() {
    let sandbox = TestSandbox::builder().start().await.unwrap();
    let who = sandbox.intermediary();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id.clone(), who.client_secret.as_str())
        .on_behalf_of(who.on_behalf_of.clone().unwrap())
        .clock(sandbox.clock().clone())
        .build()
        .unwrap();
    let types = client.platform().document_types().await.unwrap();
    assert!(!types.is_empty());
    let wrong = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id, "not-the-secret")
        .build()
        .unwrap();
    let err = wrong.platform().document_types().await.unwrap_err();
    assert!(matches!(err, invois_client::Error::Login(_)), "{err:?}");
    assert!(err.status().is_some());
}

//! The submission poller's cadence and calls, and the windowed search stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{Double, Reply, doc_summary, listed_doc};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use invois_client::api::DocumentStatus;
use invois_client::{Clock, PollConfig};
use serde_json::json;

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

const SUB: &str = "SUB00000000000000000000001";

fn uuid(i: usize) -> String {
    format!("DOC{i:023}")
}

#[tokio::test]
async fn poller_waits_for_the_batch_then_polls_every_3_to_5_seconds_over_all_pages() {
    // 150 documents: two pages. Rounds 1-3 in progress (spelt two ways), then final:
    // every 10th invalid, the rest valid.
    let docs = 150usize;
    let rounds = Arc::new(AtomicUsize::new(0));
    let clock = Clock::scaled(100.0);
    let r2 = rounds.clone();
    let d = Double::start(clock.clone(), move |r, _| {
        if r.path.ends_with("/details") {
            return Reply::ok(json!({
                "uuid": r.path.split('/').nth(4).unwrap(), "submissionUid": SUB, "internalId": "x",
                "typeName": "Invoice", "typeVersionName": "1.1", "issuerTin": "C1",
                "dateTimeIssued": "2025-01-01T00:00:00Z", "dateTimeReceived": "2025-01-01T00:00:00Z",
                "status": "Invalid",
                "validationResults": {"status": "Invalid", "validationSteps": [
                    {"name": "Step02-Core Fields Validator", "status": "Valid"},
                    {"name": "Step08-Document Signature Validator", "status": "Invalid",
                     "error": {"propertyName": null, "propertyPath": null, "errorCode": "Error21",
                               "error": "Document Signature Validator", "errorMs": "x",
                               "innerError": [{"propertyName": "DigestValue", "propertyPath": null,
                                               "errorCode": "DS320", "error": "digest", "errorMs": "x", "innerError": null}]}}
                ]}
            }));
        }
        assert!(r.path.starts_with(&format!("/api/v1.0/documentsubmissions/{SUB}")), "{}", r.path);
        let page: usize = r.query_param("pageNo").unwrap().parse().unwrap();
        assert_eq!(r.query_param("pageSize").as_deref(), Some("100"));
        if page == 1 {
            r2.fetch_add(1, Ordering::SeqCst);
        }
        let round = r2.load(Ordering::SeqCst);
        let done = round > 3;
        let overall = match (done, round % 2) {
            (false, 0) => "in progress",
            (false, _) => "InProgress",
            (true, _) => "partially valid",
        };
        let summary: Vec<_> = ((page - 1) * 100..(page * 100).min(docs))
            .map(|i| {
                let (status, long) = match (done, i % 10) {
                    (false, _) => ("Submitted", None),
                    (true, 0) => ("Invalid", None),
                    (true, _) => ("Valid", Some(format!("LONG{i}"))),
                };
                doc_summary(&uuid(i), &format!("INV-{i}"), status, long.as_deref())
            })
            .collect();
        Reply::ok(json!({
            "submissionUid": SUB, "documentCount": docs, "dateTimeReceived": "2025-01-01T00:00:00Z",
            "overallStatus": overall, "documentSummary": summary
        }))
    })
    .await;
    let c = d
        .builder()
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .build()
        .unwrap();
    let start = clock.now();
    let outcome = c
        .submissions()
        .poll(SUB)
        .expected_documents(docs)
        .send()
        .await
        .unwrap();

    let reqs = d.api_requests();
    // Only Get Submission and Get Document Details were called.
    assert!(
        reqs.iter()
            .all(|r| r.path.contains("/documentsubmissions/") || r.path.ends_with("/details"))
    );
    let polls: Vec<_> = reqs
        .iter()
        .filter(|r| r.path.contains("/documentsubmissions/"))
        .collect();
    let firsts: Vec<_> = polls
        .iter()
        .filter(|r| r.query_param("pageNo").as_deref() == Some("1"))
        .map(|r| r.at)
        .collect();
    // Four rounds, each reading both pages.
    assert_eq!(firsts.len(), 4);
    assert_eq!(polls.len(), 8);
    let first_wait = PollConfig::default().first_wait(docs);
    assert!(
        secs(start, firsts[0]) >= first_wait.as_secs_f64(),
        "first wait {}",
        secs(start, firsts[0])
    );
    // The wait between rounds (from a round's last page to the next round's first) is
    // 3-5 s on the clock; the upper bound allows 15 ms of real scheduling slack at 100x.
    let lasts: Vec<_> = polls
        .iter()
        .filter(|r| r.query_param("pageNo").as_deref() == Some("2"))
        .map(|r| r.at)
        .collect();
    for k in 0..3 {
        let gap = secs(lasts[k], firsts[k + 1]);
        assert!((3.0..6.5).contains(&gap), "gap {gap}");
    }
    // Details only for the 15 invalid documents.
    let details: Vec<_> = reqs
        .iter()
        .filter(|r| r.path.ends_with("/details"))
        .collect();
    assert_eq!(details.len(), 15);
    for r in &details {
        let id: usize = r.path.split('/').nth(4).unwrap()[3..].parse().unwrap();
        assert_eq!(id % 10, 0);
    }
    // One result per document.
    assert_eq!(outcome.documents.len(), docs);
    assert_eq!(
        outcome.overall_status,
        invois_client::api::OverallStatus::PartiallyValid
    );
    for (i, r) in outcome.documents.iter().enumerate() {
        assert_eq!(r.uuid, uuid(i));
        assert_eq!(r.internal_id, format!("INV-{i}"));
        if i % 10 == 0 {
            assert_eq!(r.status, DocumentStatus::Invalid);
            assert!(r.validation_link.is_none());
            assert_eq!(r.errors.len(), 1);
            assert_eq!(r.errors[0].name, "Step08-Document Signature Validator");
            assert_eq!(
                r.errors[0].error.as_ref().unwrap().error_code.as_deref(),
                Some("Error21")
            );
        } else {
            assert_eq!(r.status, DocumentStatus::Valid);
            assert_eq!(
                r.validation_link.as_deref(),
                Some(
                    format!(
                        "https://preprod.myinvois.hasil.gov.my/{}/share/LONG{i}",
                        uuid(i)
                    )
                    .as_str()
                )
            );
            assert!(r.errors.is_empty());
        }
    }
}

#[tokio::test]
async fn poller_gives_up_at_its_deadline() {
    let clock = Clock::scaled(200.0);
    let d = Double::start(clock, |_, _| {
        Reply::ok(json!({
            "submissionUid": SUB, "documentCount": 1, "dateTimeReceived": "2025-01-01T00:00:00Z",
            "overallStatus": "in progress",
            "documentSummary": [doc_summary(&uuid(0), "INV-0", "Submitted", None)]
        }))
    })
    .await;
    let c = d
        .builder()
        .poll_config(PollConfig {
            timeout: std::time::Duration::from_secs(30),
            ..PollConfig::default()
        })
        .build()
        .unwrap();
    let err = c.submissions().poll(SUB).send().await.unwrap_err();
    assert!(
        matches!(err, invois_client::Error::PollTimeout { .. }),
        "{err:?}"
    );
    let n = d.api_requests().len();
    // 2.1 s first wait then 3-5 s apart within 30 s: between 6 and 10 polls.
    assert!((6..=10).contains(&n), "{n} polls");
}

#[tokio::test]
async fn search_stream_walks_31_day_windows_and_every_page() {
    let d = Double::start(Clock::real(), |r, _| {
        let from: DateTime<Utc> = r
            .query_param("submissionDateFrom")
            .unwrap()
            .parse()
            .unwrap();
        let to: DateTime<Utc> = r.query_param("submissionDateTo").unwrap().parse().unwrap();
        assert!(
            to - from <= chrono::Duration::days(31),
            "window {from}..{to}"
        );
        assert_eq!(r.query_param("invoiceDirection").as_deref(), Some("Sent"));
        assert_eq!(r.query_param("pageSize").as_deref(), Some("2"));
        let page: u32 = r.query_param("pageNo").unwrap().parse().unwrap();
        // Three documents per window: one at each end and one inside; two pages of two.
        let mid = from + (to - from) / 2;
        let all = [to, mid, from];
        let items: Vec<_> = all
            .iter()
            .skip(((page - 1) * 2) as usize)
            .take(2)
            .map(|t| {
                listed_doc(
                    &format!("U{}", t.timestamp()),
                    &invois_client::api::datetime::format(t),
                )
            })
            .collect();
        Reply::ok(json!({"result": items, "metadata": {"totalPages": 2, "totalCount": 3}}))
    })
    .await;
    let c = d.client();
    let from: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let to: DateTime<Utc> = "2025-03-12T00:00:00Z".parse().unwrap(); // 70 days: 3 windows
    let docs: Vec<_> = c
        .documents()
        .search()
        .submission_dates(from, to)
        .direction(invois_client::api::documents::InvoiceDirection::Sent)
        .page_size(2)
        .into_stream()
        .collect()
        .await;
    let docs: Vec<_> = docs.into_iter().map(Result::unwrap).collect();
    let reqs = d.api_requests();
    assert_eq!(reqs.len(), 6, "3 windows x 2 pages");
    // Newest window first.
    let first_to: DateTime<Utc> = reqs[0]
        .query_param("submissionDateTo")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first_to, to);
    // 3 windows x 3 documents, minus the 2 shared boundary documents yielded once.
    assert_eq!(docs.len(), 7);
    let uniq: std::collections::HashSet<_> = docs.iter().map(|d| d.uuid.clone()).collect();
    assert_eq!(uniq.len(), 7);
}

#[tokio::test]
async fn single_search_page_refuses_ranges_over_31_days_locally() {
    let d = Double::start(Clock::real(), |_, _| Reply::ok(json!({}))).await;
    let from: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let err = d
        .client()
        .documents()
        .search()
        .submission_dates(from, from + chrono::Duration::days(32))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, invois_client::Error::InvalidRequest(_)),
        "{err:?}"
    );
    assert!(d.requests().is_empty());
}

#[tokio::test]
async fn poller_tolerates_a_few_404s_while_the_submission_becomes_visible() {
    let d = Double::start(Clock::scaled(200.0), |_, n| {
        if n <= 2 {
            Reply::Json(404, json!({"error": {"code": "NotFound", "message": "no such submission"}}))
        } else {
            Reply::ok(json!({
                "submissionUid": SUB, "documentCount": 1, "dateTimeReceived": "2025-01-01T00:00:00Z",
                "overallStatus": "Valid",
                "documentSummary": [doc_summary(&uuid(0), "INV-0", "valid", Some("L0"))]
            }))
        }
    })
    .await;
    let outcome = d.client().submissions().poll(SUB).send().await.unwrap();
    assert_eq!(outcome.documents.len(), 1);
    assert_eq!(outcome.documents[0].status, DocumentStatus::Valid);
    assert_eq!(d.api_requests().len(), 3);

    // A submission that never appears is an error after the tolerated 404s.
    let d = Double::start(Clock::scaled(200.0), |_, _| {
        Reply::Json(
            404,
            json!({"error": {"code": "NotFound", "message": "no such submission"}}),
        )
    })
    .await;
    let err = d.client().submissions().poll(SUB).send().await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(d.api_requests().len(), 4);
}

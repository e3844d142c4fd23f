//! Rate budgets, 429 pauses, retries, and the never-resend rule for submissions.

use std::time::Duration;

use crate::common::{Double, Recorded, Reply};
use chrono::{DateTime, Utc};
use invois_client::api::RateClass;
use invois_client::api::submission::DocumentFormat;
use invois_client::{
    Clock, Error, RateLimits, RetryPolicy, SubmitError, UnknownReason, document_submission,
    sha256_hex,
};
use serde_json::json;

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

fn submission_json() -> serde_json::Value {
    json!({
        "submissionUid": "XYE60M8ENDWA7V9TKBXBTGQG10", "dateTimeReceived": "2025-01-01T00:00:00Z",
        "documentCount": 0, "overallStatus": "valid", "documentSummary": []
    })
}

fn doc() -> invois_client::api::submission::DocumentSubmission {
    document_submission(DocumentFormat::Json, br#"{"Invoice":[]}"#, "INV-1")
}

#[tokio::test]
async fn calls_wait_for_budget_instead_of_earning_a_429() {
    // 100x: a minute of budget window takes 0.6 s.
    let clock = Clock::scaled(100.0);
    let d = Double::start(clock.clone(), |_, _| {
        Reply::ok(json!({"result": [], "metadata": {"totalPages": 0, "totalCount": 0}}))
    })
    .await;
    let c = d
        .builder()
        .rate_limits(RateLimits::default().with_rpm(RateClass::SearchDocuments, Some(3)))
        .build()
        .unwrap();
    let from = "2025-01-01T00:00:00Z".parse().unwrap();
    let to = "2025-01-02T00:00:00Z".parse().unwrap();
    let tasks: Vec<_> = (0..7)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.documents()
                    .search()
                    .submission_dates(from, to)
                    .send()
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let times: Vec<_> = d.api_requests().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 7);
    // Never more than 3 requests inside any minute (clock time). Arrival times at the server
    // carry scheduling jitter (1 ms real is 0.1 s here), so the window checked is 58 s.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().filter(|u| secs(*t, **u) < 58.0).count();
        assert!(in_window <= 3, "request {i}: {in_window} in a minute");
    }
    assert!(secs(times[0], times[6]) >= 118.0, "{times:?}");
}

#[tokio::test]
async fn a_429_pauses_the_whole_class_for_retry_after() {
    let clock = Clock::scaled(100.0);
    let d = Double::start(clock.clone(), |r: &Recorded, n| {
        if r.path.contains("documentsubmissions") && n == 1 {
            Reply::with_headers(
                429,
                vec![
                    ("Retry-After", "30".into()),
                    ("correlationId", "C:429".into()),
                ],
                r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#,
            )
        } else if r.path.contains("documentsubmissions") {
            Reply::ok(submission_json())
        } else {
            Reply::ok(json!({"result": []}))
        }
    })
    .await;
    let c = d.client();
    let first = {
        let c = c.clone();
        tokio::spawn(async move {
            c.submissions()
                .get("XYE60M8ENDWA7V9TKBXBTGQG10")
                .send()
                .await
        })
    };
    // Let the 429 land, then start another call of the same class and one of another class.
    while d.api_requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let same_class = {
        let c = c.clone();
        tokio::spawn(async move {
            c.submissions()
                .get("XYE60M8ENDWA7V9TKBXBTGQG10")
                .send()
                .await
        })
    };
    let other_class = c.platform().document_types().await;
    assert!(other_class.is_ok());
    first.await.unwrap().unwrap();
    same_class.await.unwrap().unwrap();
    let reqs = d.api_requests();
    let t429 = reqs[0].at;
    let subs: Vec<_> = reqs
        .iter()
        .filter(|r| r.path.contains("documentsubmissions"))
        .collect();
    assert_eq!(subs.len(), 3);
    for r in &subs[1..] {
        assert!(
            secs(t429, r.at) >= 30.0,
            "sent {}s after the 429",
            secs(t429, r.at)
        );
    }
    let types = reqs
        .iter()
        .find(|r| r.path.ends_with("documenttypes"))
        .unwrap();
    assert!(secs(t429, types.at) < 30.0, "another class is not paused");
}

#[tokio::test]
async fn reads_retry_5xx_within_bounds_and_keep_the_failure() {
    let d = Double::start(Clock::scaled(100.0), |_, _| {
        Reply::with_headers(
            503,
            vec![("correlationId", "0HNDA9M25MBJ0:00000025".into())],
            "<html>Service Unavailable</html>",
        )
    })
    .await;
    let c = d.client();
    let err = c
        .documents()
        .details("42S512YACQBRSRHYKBXBTGQG22")
        .await
        .unwrap_err();
    // One try plus max_retries (3).
    assert_eq!(d.api_requests().len(), 4);
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.correlation_id(), Some("0HNDA9M25MBJ0:00000025"));
    let f = err.http_failure().unwrap();
    assert_eq!(f.body_text(), "<html>Service Unavailable</html>");
    assert!(f.envelope.is_none());
}

#[tokio::test]
async fn writes_other_than_submit_are_not_retried_on_5xx() {
    let d = Double::start(Clock::scaled(100.0), |_, _| Reply::Json(500, json!({}))).await;
    let err = d
        .client()
        .documents()
        .cancel("42S512YACQBRSRHYKBXBTGQG22", "wrong buyer")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(d.api_requests().len(), 1);
    let r = &d.api_requests()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.path,
        "/api/v1.0/documents/state/42S512YACQBRSRHYKBXBTGQG22/state"
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        json!({"status": "cancelled", "reason": "wrong buyer"})
    );
}

#[tokio::test]
async fn both_error_envelopes_keep_status_correlation_id_and_body() {
    let odata = r#"{"error":{"code":"BadArgument","message":"bad idType","target":"idType","details":null}}"#;
    let step = r#"{"error":{"propertyName":"document","propertyPath":null,"errorCode":"Error03","error":"Duplicated Submission Validator","errorMS":"x","innerError":null}}"#;
    for (body, code) in [(odata, "BadArgument"), (step, "Error03")] {
        let d = Double::start(Clock::real(), move |_, _| {
            Reply::with_headers(400, vec![("correlationId", "CID-1".into())], body)
        })
        .await;
        let err = d
            .client()
            .taxpayers()
            .search_tin()
            .name("ACME")
            .send()
            .await
            .unwrap_err();
        let Error::Http(f) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(f.status, 400);
        assert_eq!(f.correlation_id.as_deref(), Some("CID-1"));
        assert_eq!(f.code(), Some(code));
        assert_eq!(f.body_text(), body);
        assert!(err.to_string().contains("CID-1"), "{err}");
    }
}

#[tokio::test]
async fn decode_errors_name_the_field() {
    let d = Double::start(Clock::real(), |_, _| {
        Reply::ok(json!({"result": [{"id": "not-a-number"}]}))
    })
    .await;
    let err = d.client().platform().document_types().await.unwrap_err();
    match err {
        Error::Decode { path, status, .. } => {
            assert_eq!(path, "result[0].id");
            assert_eq!(status, 200);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn submit_5xx_is_outcome_unknown_with_the_hash_and_never_resent() {
    let d = Double::start(Clock::scaled(100.0), |_, _| {
        Reply::Json(
            500,
            json!({"error": {"code": "InternalServerError", "message": "boom"}}),
        )
    })
    .await;
    let err = d
        .client()
        .submissions()
        .submit(vec![doc()])
        .send()
        .await
        .unwrap_err();
    let subs = d.api_requests();
    assert_eq!(subs.len(), 1, "a submission is never resent");
    assert_eq!(subs[0].path, "/api/v1.0/documentsubmissions");
    assert_eq!(subs[0].header("content-type"), Some("application/json"));
    match &err {
        SubmitError::OutcomeUnknown {
            payload_hash,
            reason: UnknownReason::ServerError(f),
        } => {
            assert_eq!(*payload_hash, sha256_hex(&subs[0].body));
            assert_eq!(f.status, 500);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.may_have_arrived());
}

#[tokio::test]
async fn submit_timeout_is_outcome_unknown_and_never_resent() {
    let d = Double::start(Clock::real(), |_, _| {
        Reply::Slow(
            Duration::from_secs(3),
            Box::new(Reply::Json(202, json!({}))),
        )
    })
    .await;
    let c = d
        .builder()
        .request_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let err = c
        .submissions()
        .submit(vec![doc()])
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SubmitError::OutcomeUnknown {
                reason: UnknownReason::Timeout(_),
                ..
            }
        ),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(d.api_requests().len(), 1);
    assert_eq!(
        err.payload_hash(),
        Some(sha256_hex(&d.api_requests()[0].body).as_str())
    );
}

#[tokio::test]
async fn submit_connection_reset_after_the_body_is_outcome_unknown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Identity on the double; the API is a raw socket that reads the whole request, then
    // drops the connection without answering.
    let identity = Double::start(Clock::real(), |_, _| Reply::Json(404, json!({}))).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<Vec<u8>>::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let len = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= head_end + 4 + len {
                            break;
                        }
                    }
                }
                seen.lock().push(buf);
                let _ = sock.shutdown().await;
                drop(sock);
            });
        }
    });
    let c = invois_client::Client::builder()
        .api_base(api)
        .identity_base(identity.base.clone())
        .credentials("9e21b10c-client", "s3cret-value-xyz")
        .build()
        .unwrap();
    let err = c
        .submissions()
        .submit(vec![doc()])
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SubmitError::OutcomeUnknown {
                reason: UnknownReason::ConnectionLost(_),
                ..
            }
        ),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock();
    assert_eq!(seen.len(), 1, "never resent");
    let raw = String::from_utf8_lossy(&seen[0]);
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        err.payload_hash(),
        Some(sha256_hex(body.as_bytes()).as_str())
    );
}

#[tokio::test]
async fn submit_2xx_is_final_and_duplicates_are_typed() {
    let d = Double::start(Clock::real(), |_, n| {
        if n == 1 {
            Reply::Json(
                202,
                json!({"submissionUid": "XYE60M8ENDWA7V9TKBXBTGQG10",
                       "acceptedDocuments": [{"uuid": "42S512YACQBRSRHYKBXBTGQG22", "invoiceCodeNumber": "INV-1"}],
                       "rejectedDocuments": []}),
            )
        } else {
            Reply::with_headers(
                422,
                vec![("Retry-After", "600".into())],
                r#"{"error":{"code":"DuplicateSubmission","message":"Duplicate submission","target":null,"details":null}}"#,
            )
        }
    })
    .await;
    let c = d.client();
    let ok = c.submissions().submit(vec![doc()]).send().await.unwrap();
    assert_eq!(
        ok.submission_uid.as_deref(),
        Some("XYE60M8ENDWA7V9TKBXBTGQG10")
    );
    assert_eq!(ok.accepted_documents[0].uuid, "42S512YACQBRSRHYKBXBTGQG22");
    assert_eq!(ok.payload_hash, sha256_hex(&d.api_requests()[0].body));
    let err = c
        .submissions()
        .submit(vec![doc()])
        .send()
        .await
        .unwrap_err();
    match &err {
        SubmitError::Duplicate {
            payload_hash,
            retry_after,
            ..
        } => {
            assert_eq!(*payload_hash, ok.payload_hash, "same payload, same hash");
            assert_eq!(*retry_after, Some(Duration::from_secs(600)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.api_requests().len(), 2);
}

#[tokio::test]
async fn submit_429_waits_and_sends_the_identical_bytes_again() {
    let clock = Clock::scaled(100.0);
    let d = Double::start(clock, |_, n| {
        if n == 1 {
            Reply::with_headers(429, vec![("Retry-After", "10".into())], "")
        } else {
            Reply::Json(
                202,
                json!({"submissionUid": "XYE60M8ENDWA7V9TKBXBTGQG10", "acceptedDocuments": [], "rejectedDocuments": []}),
            )
        }
    })
    .await;
    let ok = d
        .client()
        .submissions()
        .submit(vec![doc()])
        .send()
        .await
        .unwrap();
    let reqs = d.api_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body);
    assert!(secs(reqs[0].at, reqs[1].at) >= 10.0);
    assert_eq!(ok.payload_hash, sha256_hex(&reqs[1].body));
}

#[tokio::test]
async fn submit_400_is_rejected_not_unknown() {
    let d = Double::start(Clock::real(), |_, _| {
        Reply::Json(400, json!({"error": {"code": "BadStructure", "message": "bad", "target": null, "details": null}}))
    })
    .await;
    let err = d
        .client()
        .submissions()
        .submit(vec![doc()])
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SubmitError::Rejected { failure, .. } if failure.code() == Some("BadStructure")),
        "{err:?}"
    );
    assert!(!err.may_have_arrived());
    assert_eq!(d.api_requests().len(), 1);
}

#[tokio::test]
async fn local_limits_send_nothing() {
    let d = Double::start(Clock::real(), |_, _| Reply::Json(202, json!({}))).await;
    let docs: Vec<_> = (0..101).map(|_| doc()).collect();
    let err = d
        .client()
        .submissions()
        .submit(docs)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SubmitError::Limit(_)), "{err:?}");
    assert!(d.requests().is_empty());
}

#[tokio::test]
async fn no_retries_policy_makes_one_attempt() {
    let d = Double::start(Clock::real(), |_, _| Reply::Json(502, json!({}))).await;
    let c = d
        .builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(c.platform().document_types().await.is_err());
    assert_eq!(d.api_requests().len(), 1);
}

#[tokio::test]
async fn reads_retry_dropped_connections_within_bounds() {
    // Identity on the double; the API accepts each connection and drops it unanswered.
    let identity = Double::start(Clock::real(), |_, _| Reply::Json(404, json!({}))).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock);
        }
    });
    let c = invois_client::Client::builder()
        .api_base(api)
        .identity_base(identity.base.clone())
        .credentials("9e21b10c-client", "s3cret-value-xyz")
        .clock(Clock::scaled(100.0))
        .build()
        .unwrap();
    let err = c
        .submissions()
        .get("XYE60M8ENDWA7V9TKBXBTGQG10")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    // One try plus three retries (reqwest does not retry on its own).
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test]
async fn clients_sharing_a_budget_store_share_the_budget() {
    let clock = Clock::scaled(100.0);
    let d = Double::start(clock.clone(), |_, _| {
        Reply::ok(json!({"tin": "C1234567890"}))
    })
    .await;
    let store = invois_client::InProcessBudget::shared();
    let limits = RateLimits::default().with_rpm(RateClass::SearchTaxpayerTin, Some(2));
    let a = d
        .builder()
        .rate_limits(limits.clone())
        .rate_budget(store.clone())
        .build()
        .unwrap();
    let b = d
        .builder()
        .rate_limits(limits)
        .rate_budget(store)
        .build()
        .unwrap();
    for c in [&a, &b, &a, &b] {
        c.taxpayers()
            .search_tin()
            .name("ACME")
            .send()
            .await
            .unwrap();
    }
    let t: Vec<_> = d.api_requests().iter().map(|r| r.at).collect();
    assert_eq!(t.len(), 4);
    // Two per minute between both clients: the third waits for the first to leave the window.
    // (58 s: arrival times carry scheduling jitter at 100x.)
    assert!(secs(t[0], t[2]) >= 58.0, "{t:?}");
    assert!(secs(t[1], t[3]) >= 58.0, "{t:?}");
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_that_wait() {
    let d = Double::start(Clock::scaled(100.0), |_, n| {
        if n == 1 {
            Reply::with_headers(503, vec![("Retry-After", "20".into())], "busy")
        } else {
            Reply::ok(json!({"result": []}))
        }
    })
    .await;
    d.client().platform().document_types().await.unwrap();
    let r = d.api_requests();
    assert_eq!(r.len(), 2);
    assert!(secs(r[0].at, r[1].at) >= 20.0, "{}", secs(r[0].at, r[1].at));
}

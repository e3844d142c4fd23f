//! The admin API: clock, faults (5xx share, latency, dropped responses, maintenance page),
//! reset, stats; and the call observer hook.

use std::sync::{Arc, Mutex};

use crate::common::*;
use invois_sandbox::{CallObserver, CallRecord};
use serde_json::json;

#[tokio::test]
async fn clock_advances_through_the_admin_api() {
    let h = start().await;
    let before = h.clock().now();
    let resp = h
        .http
        .post(h.admin("/admin/clock/advance"))
        .json(&json!({"seconds": 7200}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["now"].is_string());
    assert!(h.clock().now() - before >= chrono::Duration::hours(2));
    let resp = h
        .http
        .post(h.admin("/admin/clock/advance"))
        .json(&json!({"seconds": "soon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn faults_are_injected_and_cleared() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let put = |f: serde_json::Value| h.http.put(h.admin("/admin/faults")).json(&f).send();

    assert_eq!(put(json!({"error_rate": 1.0})).await.unwrap().status(), 200);
    let (status, headers, body) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("correlationId"));
    assert_envelope(&body, "ServiceUnavailable");

    assert_eq!(
        put(json!({"error_rate": 1.0, "error_status": 500}))
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 500);

    assert_eq!(
        put(json!({"maintenance": true})).await.unwrap().status(),
        200
    );
    let resp = h
        .http
        .get(h.url("/api/v1.0/documenttypes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(resp.text().await.unwrap().contains("maintenance"));

    // A dropped response: the request is processed, the client sees a broken connection.
    assert_eq!(put(json!({"drop_rate": 1.0})).await.unwrap().status(), 200);
    let doc = invoice("INV-DROP", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let result = async {
        let resp = h
            .http
            .post(h.url("/api/v1.0/documentsubmissions"))
            .bearer_auth(&token)
            .json(&submission(vec![entry_json(&doc, "INV-DROP")]))
            .send()
            .await?;
        resp.bytes().await
    }
    .await;
    assert!(result.is_err(), "the response should be cut off");
    assert_eq!(
        h.running.sandbox.stats().submissions,
        1,
        "but the submission happened"
    );

    assert_eq!(put(json!({"latency_ms": 150})).await.unwrap().status(), 200);
    let t = std::time::Instant::now();
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));

    assert_eq!(put(json!({"error_rate": 2.0})).await.unwrap().status(), 400);
    assert_eq!(put(json!({"bogus": true})).await.unwrap().status(), 400);
    let resp = h
        .http
        .delete(h.admin("/admin/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let t = std::time::Instant::now();
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);
    assert!(t.elapsed() < std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn tighter_submission_limits_are_injected() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let put = |f: serde_json::Value| h.http.put(h.admin("/admin/faults")).json(&f).send();
    let entries = |n: usize, tag: &str| {
        let entries = (0..n)
            .map(|i| {
                let id = format!("INV-{tag}-{i}");
                entry_json(&invoice(&id, h.clock().now(), SUPPLIER_TIN, BUYER_TIN), &id)
            })
            .collect();
        submission(entries)
    };

    assert_eq!(
        put(json!({"max_submission_documents": 2}))
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _, body) = h.submit(&token, &entries(3, "COUNT")).await;
    assert_eq!(status, 400, "{body}");
    assert_envelope(&body, "MaximumSizeExceeded");
    assert_eq!(body["error"]["target"], "documents", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 2"),
        "{body}"
    );
    let (status, _, body) = h.submit(&token, &entries(2, "COUNT")).await;
    assert_eq!(status, 202, "{body}");

    // A body limit: one document's submission passes, two do not.
    let one = serde_json::to_vec(&entries(1, "BYTES")).unwrap().len();
    assert_eq!(
        put(json!({"max_submission_bytes": one + 100}))
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _, body) = h.submit(&token, &entries(2, "BYTES")).await;
    assert_eq!(status, 400, "{body}");
    assert_envelope(&body, "MaximumSizeExceeded");
    assert_eq!(body["error"]["target"], "submission", "{body}");
    let (status, _, body) = h.submit(&token, &entries(1, "BYTES")).await;
    assert_eq!(status, 202, "{body}");

    // Neither fault can lift the published limits, and zero documents is refused.
    assert_eq!(
        put(json!({"max_submission_documents": 0}))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        put(json!({"max_submission_documents": 1000}))
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _, body) = h.submit(&token, &entries(101, "MANY")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 100"),
        "{body}"
    );
}

#[tokio::test]
async fn reset_forgets_everything_including_tokens() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (_, uid) = h.submit_one(&token, "INV-RESET", BUYER_TIN).await;
    let resp = h.http.get(h.admin("/admin/stats")).send().await.unwrap();
    let stats: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(stats["submissions"], 1);
    let resp = h.http.post(h.admin("/admin/reset")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let (status, _, _) = h
        .get(&token, &format!("/api/v1.0/documentsubmissions/{uid}"))
        .await;
    assert_eq!(status, 401);
    let token = h.token(&h.supplier()).await;
    let (status, _, _) = h
        .get(&token, &format!("/api/v1.0/documentsubmissions/{uid}"))
        .await;
    assert_eq!(status, 404);
    // The validation task of the forgotten submission does nothing.
    h.advance(60);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(h.running.sandbox.stats().documents, 0);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<CallRecord>>);

impl CallObserver for Recorder {
    fn on_call(&self, record: &CallRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

#[tokio::test]
async fn every_api_call_reaches_the_observer() {
    let recorder = Arc::new(Recorder::default());
    let config = invois_sandbox::SandboxConfig {
        observer: recorder.clone(),
        ..crate::common::config()
    };
    let h = start_with(config).await;
    let token = h.token(&h.intermediary()).await;
    let (_, uid) = h.submit_one(&token, "INV-OBS", BUYER_TIN).await;
    let (_, headers, _) = h
        .get(&token, &format!("/api/v1.0/documentsubmissions/{uid}"))
        .await;
    let (status, _, _) = h.get("bad-token", "/api/v1.0/documenttypes").await;
    assert_eq!(status, 401);
    let records = recorder.0.lock().unwrap().clone();
    assert_eq!(records.len(), 4, "{records:?}");
    let login = &records[0];
    assert_eq!(
        login.endpoint,
        Some(invois_api::Endpoint::LoginIntermediary)
    );
    assert_eq!(
        login.client_id.as_deref(),
        Some(h.intermediary().client_id.as_str())
    );
    assert_eq!(login.on_behalf_of.as_deref(), Some(SUPPLIER_TIN));
    assert_eq!(login.status, 200);
    let submit = &records[1];
    assert_eq!(submit.endpoint, Some(invois_api::Endpoint::SubmitDocuments));
    assert_eq!(submit.status, 202);
    assert_eq!(submit.payload_sha256.as_ref().map(String::len), Some(64));
    let poll = &records[2];
    assert_eq!(poll.endpoint, Some(invois_api::Endpoint::GetSubmission));
    assert_eq!(
        poll.correlation_id,
        headers["correlationId"].to_str().unwrap()
    );
    assert_eq!(records[3].status, 401);
    assert_eq!(records[3].client_id, None);
}

//! The sandbox as a supplier (`Sandbox::issue_to`, `POST /admin/issue`): a valid document
//! from one fixture taxpayer to another, which the buyer finds with Search Documents
//! (direction Received), is notified of, and may reject for 72 hours of the sandbox's clock.

use crate::common::*;
use invois_sandbox::{Issue, IssueError};
use serde_json::json;

fn search_received(now: chrono::DateTime<chrono::Utc>) -> String {
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    format!(
        "/api/v1.0/documents/search?invoiceDirection=Received&submissionDateFrom={}&submissionDateTo={}",
        fmt(now - chrono::Duration::hours(1)),
        fmt(now + chrono::Duration::minutes(1)),
    )
}

#[tokio::test]
async fn an_issued_document_is_received_notified_and_rejectable_within_72_hours() {
    let h = start().await;
    let sandbox = &h.running.sandbox;
    let first = sandbox
        .issue_to(
            BUYER_TIN,
            &Issue {
                internal_id: Some("SUP-0001".to_owned()),
                ..Issue::default()
            },
        )
        .unwrap();
    assert_eq!(first.supplier_tin, SUPPLIER_TIN);
    assert_eq!(first.buyer_tin, BUYER_TIN);
    assert_eq!(first.internal_id, "SUP-0001");
    let second = sandbox.issue_to(BUYER_TIN, &Issue::default()).unwrap();

    // The buyer lists both as received, newest first; the supplier sees them as sent.
    let buyer = h.token(&h.buyer()).await;
    let (status, _, body) = h.get(&buyer, &search_received(h.clock().now())).await;
    assert_eq!(status, 200, "{body}");
    let uuids: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids, [second.uuid.as_str(), first.uuid.as_str()]);
    assert_eq!(body["result"][1]["status"], "Valid");
    assert_eq!(body["result"][1]["internalId"], "SUP-0001");
    let supplier = h.token(&h.supplier()).await;
    let (_, _, body) = h
        .get(
            &supplier,
            &search_received(h.clock().now()).replace("Received", "Sent"),
        )
        .await;
    assert_eq!(body["metadata"]["totalCount"], 2, "{body}");

    // The buyer was told.
    let (_, _, body) = h
        .get(&buyer, "/api/v1.0/notifications/taxpayer?type=6")
        .await;
    assert_eq!(body["result"].as_array().unwrap().len(), 2, "{body}");

    // Rejected within the window; the second only after it, which is refused.
    let reject = json!({"status": "rejected", "reason": "wrong quantity"});
    let path = |uuid: &str| format!("/api/v1.0/documents/state/{uuid}/state");
    let (status, _, body) = h.put_json(&buyer, &path(&first.uuid), &reject).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Requested for Rejection");
    h.advance(72 * 3600 + 1);
    // The token expired meanwhile.
    let buyer = h.token(&h.buyer()).await;
    let (status, _, body) = h.put_json(&buyer, &path(&second.uuid), &reject).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "OperationPeriodOver", "{body}");
    sandbox.with_store(|s| {
        let doc = s.document(&first.uuid).unwrap();
        assert!(doc.reject_requested.is_some());
        assert_eq!(doc.status_reason.as_deref(), Some("wrong quantity"));
    });
}

#[tokio::test]
async fn issuing_refuses_unknown_parties_and_works_through_the_admin_api() {
    let h = start().await;
    let sandbox = &h.running.sandbox;
    assert!(matches!(
        sandbox.issue_to("C00000000000", &Issue::default()),
        Err(IssueError::UnknownBuyer(_))
    ));
    assert!(matches!(
        sandbox.issue_to(
            BUYER_TIN,
            &Issue {
                supplier_tin: Some(BUYER_TIN.to_owned()),
                ..Issue::default()
            }
        ),
        Err(IssueError::SameParty(_))
    ));

    let resp = h
        .http
        .post(h.admin("/admin/issue"))
        .json(&json!({"buyer_tin": BUYER_TIN, "internal_id": "ADM-1", "unit_price": "250.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["internal_id"], "ADM-1");
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    sandbox.with_store(|s| {
        let doc = s.document(&uuid).unwrap();
        assert_eq!(doc.status, invois_client::api::DocumentStatus::Valid);
    });
    let resp = h
        .http
        .post(h.admin("/admin/issue"))
        .json(&json!({"buyer_tin": "C00000000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

//! Cancel and reject (README §4.2): 72-hour windows on the clock, rights, states, referencing
//! documents, reject only once, notifications.

use crate::common::*;
use serde_json::json;

async fn valid_invoice(h: &Harness, token: &str, id: &str) -> String {
    let (uuid, uid) = h.submit_one(token, id, BUYER_TIN).await;
    let done = h.settle(token, &uid).await;
    assert_eq!(done["overallStatus"], "valid", "{done}");
    uuid
}

fn state_path(uuid: &str) -> String {
    format!("/api/v1.0/documents/state/{uuid}/state")
}

#[tokio::test]
async fn cancel_within_72_hours_then_not_after() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let a = valid_invoice(&h, &token, "INV-A").await;
    let b = valid_invoice(&h, &token, "INV-B").await;
    // B was validated a few (clock) seconds after A; move to just inside A's window.
    h.advance(72 * 3600 - 60);
    // Tokens last an hour; log in again.
    let token = h.token(&h.supplier()).await;
    let (status, _, body) = h
        .put_json(
            &token,
            &state_path(&a),
            &json!({"status": "cancelled", "reason": "Wrong buyer"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["uuid"], a.as_str());
    assert_eq!(body["status"], "Cancelled");
    h.advance(120);
    let (status, _, body) = h
        .put_json(
            &token,
            &state_path(&b),
            &json!({"status": "cancelled", "reason": "Too late"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&body, "OperationPeriodOver");

    // Cancelled twice: wrong state.
    let (status, _, body) = h
        .put_json(
            &token,
            &state_path(&a),
            &json!({"status": "cancelled", "reason": "Again"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&body, "IncorrectState");

    let (_, _, raw) = h.get(&token, &format!("/api/v1.0/documents/{a}/raw")).await;
    assert_eq!(raw["status"], "Cancelled");
    assert_eq!(raw["documentStatusReason"], "Wrong buyer");
    assert!(raw["cancelDateTime"].is_string());

    // Both parties were notified.
    for t in [token.clone(), h.token(&h.buyer()).await] {
        let (_, _, n) = h.get(&t, "/api/v1.0/notifications/taxpayer?type=8").await;
        assert_eq!(n["result"].as_array().unwrap().len(), 1, "{n}");
        assert_eq!(n["result"][0]["typeName"], "Document cancelled");
    }
}

#[tokio::test]
async fn only_the_issuer_cancels_and_only_the_receiver_rejects_once() {
    let h = start().await;
    let supplier = h.token(&h.supplier()).await;
    let buyer = h.token(&h.buyer()).await;
    let uuid = valid_invoice(&h, &supplier, "INV-R").await;

    let (status, _, body) = h
        .put_json(
            &buyer,
            &state_path(&uuid),
            &json!({"status": "cancelled", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_envelope(&body, "Forbidden");
    let (status, _, body) = h
        .put_json(
            &supplier,
            &state_path(&uuid),
            &json!({"status": "rejected", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_envelope(&body, "Forbidden");

    let (status, _, body) = h
        .put_json(
            &buyer,
            &state_path(&uuid),
            &json!({"status": "Rejected", "reason": "Wrong amount"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Requested for Rejection");
    let (status, _, body) = h
        .put_json(
            &buyer,
            &state_path(&uuid),
            &json!({"status": "rejected", "reason": "Again"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&body, "IncorrectState");

    // The document stays Valid, with the request recorded.
    let (_, _, raw) = h
        .get(&supplier, &format!("/api/v1.0/documents/{uuid}/raw"))
        .await;
    assert_eq!(raw["status"], "Valid");
    assert!(raw["rejectRequestDateTime"].is_string());
    assert_eq!(raw["documentStatusReason"], "Wrong amount");
    let (_, _, n) = h
        .get(&supplier, "/api/v1.0/notifications/taxpayer?type=15")
        .await;
    assert_eq!(n["result"][0]["typeId"], 15);
    // The supplier can still cancel after a rejection request.
    let (status, _, _) = h
        .put_json(
            &supplier,
            &state_path(&uuid),
            &json!({"status": "cancelled", "reason": "Agreed"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn reject_window_is_72_hours_too() {
    let h = start().await;
    let supplier = h.token(&h.supplier()).await;
    let uuid = valid_invoice(&h, &supplier, "INV-RW").await;
    h.advance(72 * 3600 + 60);
    let buyer = h.token(&h.buyer()).await;
    let (status, _, body) = h
        .put_json(
            &buyer,
            &state_path(&uuid),
            &json!({"status": "rejected", "reason": "late"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&body, "OperationPeriodOver");
}

#[tokio::test]
async fn a_valid_note_blocks_cancellation_of_its_original() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let original = valid_invoice(&h, &token, "INV-O").await;
    let mut note = adapt(
        fixture_json(invois_testkit::Kind::CreditNote),
        "CN-1",
        h.clock().now(),
        SUPPLIER_TIN,
        BUYER_TIN,
    );
    note["Invoice"][0]["BillingReference"][0]["InvoiceDocumentReference"][0]["UUID"] =
        json!([{"_": original}]);
    let (_, _, body) = h
        .submit(&token, &submission(vec![entry_json(&note, "CN-1")]))
        .await;
    let note_uuid = body["acceptedDocuments"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    h.settle(&token, body["submissionUid"].as_str().unwrap())
        .await;
    let (status, _, body) = h
        .put_json(
            &token,
            &state_path(&original),
            &json!({"status": "cancelled", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&body, "ActiveReferencingDocuments");
    // Cancel the note first, then the original.
    let (status, _, _) = h
        .put_json(
            &token,
            &state_path(&note_uuid),
            &json!({"status": "cancelled", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = h
        .put_json(
            &token,
            &state_path(&original),
            &json!({"status": "cancelled", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn state_change_input_is_checked() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let uuid = valid_invoice(&h, &token, "INV-S").await;
    let long = "x".repeat(301);
    for (body, target) in [
        (json!({"status": "cancelled", "reason": long}), "reason"),
        (json!({"status": "cancelled", "reason": ""}), "reason"),
        (json!({"status": "void", "reason": "x"}), "status"),
        (json!({"status": "cancelled"}), "body"),
        (
            json!({"status": "cancelled", "reason": "x", "extra": 1}),
            "body",
        ),
    ] {
        let (status, _, resp) = h.put_json(&token, &state_path(&uuid), &body).await;
        assert_eq!(status, 400, "{body}");
        let err = assert_envelope(&resp, "BadArgument");
        assert!(err["target"].as_str().is_some(), "{target}: {resp}");
    }
    let exactly = "x".repeat(300);
    let (status, _, _) = h
        .put_json(
            &token,
            &state_path(&uuid),
            &json!({"status": "cancelled", "reason": exactly}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = h
        .put_json(
            &token,
            &state_path("ZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
            &json!({"status": "cancelled", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_envelope(&body, "NotFound");
}

#[tokio::test]
async fn invalid_documents_cannot_be_cancelled() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (uuid, uid) = h.submit_one(&token, "INV-I", "C99999999990").await;
    assert_eq!(h.settle(&token, &uid).await["overallStatus"], "invalid");
    let (status, _, body) = h
        .put_json(
            &token,
            &state_path(&uuid),
            &json!({"status": "cancelled", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&body, "IncorrectState");
}

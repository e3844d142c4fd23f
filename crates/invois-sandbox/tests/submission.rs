//! Submit Documents and Get Submission (README §4.2, §5) with the official samples.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn official_sample_is_accepted_validated_and_gets_a_long_id() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let doc = invoice("INV-0001", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let (status, headers, body) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-0001")]))
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(headers.contains_key("correlationId"));
    assert_eq!(headers["X-Rate-Limit-Limit"], "100");
    assert_eq!(headers["X-Rate-Limit-Remaining"], "99");
    let uid = body["submissionUid"].as_str().unwrap().to_owned();
    assert_eq!(uid.len(), 26);
    assert_eq!(
        body["acceptedDocuments"][0]["invoiceCodeNumber"],
        "INV-0001"
    );
    assert_eq!(body["rejectedDocuments"], json!([]));

    // Before the validation delay has passed on the clock, it is in progress.
    let (_, _, pending) = h
        .get(&token, &format!("/api/v1.0/documentsubmissions/{uid}"))
        .await;
    assert_eq!(pending["overallStatus"], "in progress");
    assert_eq!(pending["documentSummary"][0]["status"], "Submitted");
    assert_eq!(
        pending["documentSummary"][0]["longId"],
        serde_json::Value::Null
    );

    let done = h.settle(&token, &uid).await;
    assert_eq!(done["overallStatus"], "valid", "{done}");
    assert_eq!(done["documentCount"], 1);
    let summary = &done["documentSummary"][0];
    assert_eq!(summary["status"], "Valid");
    assert_eq!(summary["submissionUid"], uid);
    assert_eq!(summary["internalId"], "INV-0001");
    assert_eq!(summary["typeName"], "Invoice");
    assert_eq!(summary["typeVersionName"], "1.0");
    assert_eq!(summary["issuerTin"], SUPPLIER_TIN);
    assert_eq!(summary["receiverId"], BUYER_TIN);
    assert_eq!(summary["totalPayableAmount"], json!(1436.5));
    assert!(summary["longId"].as_str().unwrap().len() >= 26);
    assert!(
        summary["createdByUserId"]
            .as_str()
            .unwrap()
            .starts_with(SUPPLIER_TIN)
    );
}

//! Submit Documents and Get Submission (README §4.2, §5) with the official samples.

use crate::common::*;
use serde_json::{Value, json};

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
    assert_eq!(summary["totalPayableAmount"], invoice_payable());
    assert!(summary["longId"].as_str().unwrap().len() >= 26);
    assert!(
        summary["createdByUserId"]
            .as_str()
            .unwrap()
            .starts_with(SUPPLIER_TIN)
    );
}

fn many(h: &Harness, n: usize) -> serde_json::Value {
    let now = h.clock().now();
    submission(
        (0..n)
            .map(|i| {
                let id = format!("INV-{i:04}");
                entry_json(&invoice(&id, now, SUPPLIER_TIN, BUYER_TIN), &id)
            })
            .collect(),
    )
}

#[tokio::test]
async fn one_hundred_documents_pass_and_one_hundred_and_one_do_not() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (status, _, body) = h.submit(&token, &many(&h, 100)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["acceptedDocuments"].as_array().unwrap().len(), 100);
    let (status, _, body) = h.submit(&token, &many(&h, 101)).await;
    assert_eq!(status, 400);
    let err = assert_envelope(&body, "MaximumSizeExceeded");
    assert_eq!(err["target"], "documents");
}

/// A valid one-document submission padded with JSON whitespace to exactly `len` bytes.
fn padded_submission(h: &Harness, len: usize) -> Vec<u8> {
    let doc = invoice("INV-BIG", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let mut body = serde_json::to_vec(&submission(vec![entry_json(&doc, "INV-BIG")])).unwrap();
    assert!(body.len() < len);
    body.resize(len, b' ');
    body
}

async fn submit_bytes(h: &Harness, token: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let resp = h
        .http
        .post(h.url("/api/v1.0/documentsubmissions"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(resp).await;
    (status, body)
}

#[tokio::test]
async fn five_megabytes_pass_and_one_byte_more_does_not() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let limit = invois_api::submission::MAX_SUBMISSION_BYTES;
    let (status, body) = submit_bytes(&h, &token, padded_submission(&h, limit)).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = submit_bytes(&h, &token, padded_submission(&h, limit + 1)).await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_envelope(&body, "MaximumSizeExceeded")["target"],
        "submission"
    );
    // Far over the limit: still the envelope, not a reset connection or a 413.
    let (status, body) = submit_bytes(&h, &token, padded_submission(&h, 3 * limit)).await;
    assert_eq!(status, 400);
    assert_envelope(&body, "MaximumSizeExceeded");
}

/// A submission far over 5 MB is refused without being read: at once when its
/// Content-Length says so, and at the limit (plus one frame) when it is chunked. Neither
/// request here is ever sent whole, so an answer proves the sandbox did not wait for it.
#[tokio::test]
async fn an_oversized_submission_is_refused_after_reading_at_most_the_limit() {
    use invois_serve::test_util::RawConnection;

    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let limit = invois_api::submission::MAX_SUBMISSION_BYTES;
    // A bound that fails the test, not a wait: the answer comes at once or never.
    async fn answer(c: &mut RawConnection) -> invois_serve::test_util::RawResponse {
        tokio::time::timeout(std::time::Duration::from_secs(30), c.response())
            .await
            .expect("no answer: the sandbox waits for the rest of the body")
            .unwrap()
    }
    let head = |framing: &str| {
        format!(
            "POST /api/v1.0/documentsubmissions HTTP/1.1\r\nHost: sandbox\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
        )
        .into_bytes()
    };

    // 37 MB announced, nothing of it sent.
    let mut connection = RawConnection::open(
        h.running.addr,
        head(&format!("Content-Length: {}", 37 * 1024 * 1024)),
    )
    .await
    .unwrap();
    let response = answer(&mut connection).await;
    assert_eq!(response.status, 400, "{response:?}");
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        assert_envelope(&body, "MaximumSizeExceeded")["target"],
        "submission"
    );

    // Chunked: the limit and 256 KB more sent, then nothing (no last chunk).
    let mut request = head("Transfer-Encoding: chunked");
    let piece = vec![b' '; 64 * 1024];
    for _ in 0..(limit + 256 * 1024) / piece.len() {
        request.extend(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend(&piece);
        request.extend(b"\r\n");
    }
    let mut connection = RawConnection::open(h.running.addr, request).await.unwrap();
    let response = answer(&mut connection).await;
    assert_eq!(response.status, 400, "{response:?}");
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_envelope(&body, "MaximumSizeExceeded");
}

#[tokio::test]
async fn three_hundred_kilobytes_per_document_pass_and_one_byte_more_does_not() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let limit = invois_api::submission::MAX_DOCUMENT_BYTES;
    let doc = serde_json::to_vec(&invoice(
        "INV-300",
        h.clock().now(),
        SUPPLIER_TIN,
        BUYER_TIN,
    ))
    .unwrap();
    let mut exact = doc.clone();
    exact.resize(limit, b' ');
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![entry_bytes("JSON", &exact, "INV-300")]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mut over = doc;
    over.resize(limit + 1, b' ');
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![entry_bytes("JSON", &over, "INV-301")]),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_envelope(&body, "MaximumSizeExceeded")["target"],
        "INV-301"
    );
}

#[tokio::test]
async fn malformed_envelopes_get_bad_structure() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let doc = entry_json(
        &invoice("INV-1", h.clock().now(), SUPPLIER_TIN, BUYER_TIN),
        "INV-1",
    );
    for bad in [
        json!({}),
        json!({"documents": []}),
        json!({"documents": {"format": "JSON"}}),
        json!({"documents": [doc.clone()], "extra": 1}),
        json!({"document": [doc.clone()]}),
        json!([doc.clone()]),
        json!({"documents": [{"format": "PDF", "document": "AA==", "documentHash": "00", "codeNumber": "X"}]}),
        json!({"documents": [{"format": "JSON", "document": "AA==", "codeNumber": "X"}]}),
    ] {
        let (status, _, body) = h.submit(&token, &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(
            assert_envelope(&body, "BadStructure")["target"],
            "submission"
        );
    }
    for raw in [&b"not json"[..], b"", b"{\"documents\":[", b"\xff\xfe"] {
        let (status, body) = submit_bytes(&h, &token, raw.to_vec()).await;
        assert_eq!(status, 400, "{raw:?}");
        assert_envelope(&body, "BadStructure");
    }
}

#[tokio::test]
async fn structure_failures_and_hash_mismatches_come_back_in_rejected_documents() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let good = entry_json(&invoice("INV-OK", now, SUPPLIER_TIN, BUYER_TIN), "INV-OK");
    let mut wrong_hash = entry_json(
        &invoice("INV-HASH", now, SUPPLIER_TIN, BUYER_TIN),
        "INV-HASH",
    );
    wrong_hash["documentHash"] = json!("0".repeat(64));
    let not_json = entry_bytes("JSON", b"{ this is not json", "INV-BROKEN");
    let no_root = entry_bytes("JSON", br#"{"CreditNote":[{}]}"#, "INV-NOROOT");
    let mut no_id = invoice("INV-NOID", now, SUPPLIER_TIN, BUYER_TIN);
    no_id["Invoice"][0].as_object_mut().unwrap().remove("ID");
    let no_id = entry_json(&no_id, "INV-NOID");
    let xml_garbage = entry_bytes("XML", b"<Invoice><cbc:ID>1</Invoice>", "INV-XML");
    let not_base64 =
        json!({"format": "JSON", "document": "!!!", "documentHash": "00", "codeNumber": "INV-B64"});
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![
                good,
                wrong_hash,
                not_json,
                no_root,
                no_id,
                xml_garbage,
                not_base64,
            ]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["acceptedDocuments"].as_array().unwrap().len(), 1);
    let rejected = body["rejectedDocuments"].as_array().unwrap();
    let codes: Vec<&str> = rejected
        .iter()
        .map(|r| r["invoiceCodeNumber"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "INV-HASH",
            "INV-BROKEN",
            "INV-NOROOT",
            "INV-NOID",
            "INV-XML",
            "INV-B64"
        ]
    );
    for r in rejected {
        let e = &r["error"];
        assert_eq!(e["code"], "3");
        assert_eq!(e["target"], r["invoiceCodeNumber"]);
        assert!(
            e["details"][0]["message"].as_str().unwrap().len() > 5,
            "{r}"
        );
    }
    assert!(
        rejected[0]["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("documentHash")
    );

    // All rejected: no submission uid.
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![entry_bytes("JSON", b"[]", "ONLY-BAD")]),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["submissionUid"], serde_json::Value::Null);
    assert_eq!(body["acceptedDocuments"], json!([]));
}

#[tokio::test]
async fn xml_samples_are_read_too() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let xml = fixture_xml(invois_testkit::Kind::Invoice);
    let now = h.clock().now();
    let xml =
        invois_testkit::samples::adapt_xml(&xml, "XML-INV12345", now, SUPPLIER_TIN, BUYER_TIN);
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![entry_bytes("XML", xml.as_bytes(), "XML-INV12345")]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let uid = body["submissionUid"].as_str().unwrap().to_owned();
    let done = h.settle(&token, &uid).await;
    assert_eq!(done["overallStatus"], "valid", "{done}");
    assert_eq!(done["documentSummary"][0]["internalId"], "XML-INV12345");
    assert_eq!(done["documentSummary"][0]["receiverId"], BUYER_TIN);
}

#[tokio::test]
async fn another_taxpayers_document_is_an_incorrect_submitter() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let doc = invoice("INV-X", h.clock().now(), BUYER_TIN, SUPPLIER_TIN);
    let (status, _, body) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-X")]))
        .await;
    assert_eq!(status, 403);
    let err = assert_envelope(&body, "IncorrectSubmitter");
    assert!(err["message"].as_str().unwrap().contains("not matching"));
}

#[tokio::test]
async fn identical_payload_within_ten_minutes_is_a_duplicate_submission() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let body = many(&h, 1);
    let (status, _, _) = h.submit(&token, &body).await;
    assert_eq!(status, 202);
    h.advance(599);
    let (status, headers, resp) = h.submit(&token, &body).await;
    assert_eq!(status, 422, "{resp}");
    assert_envelope(&resp, "DuplicateSubmission");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another taxpayer may send the same bytes (it will fail on the issuer, not as duplicate).
    let other = h.token(&h.buyer()).await;
    let (status, _, _) = h.submit(&other, &body).await;
    assert_eq!(status, 403);
    h.advance(1);
    let (status, _, resp) = h.submit(&token, &body).await;
    assert_eq!(status, 202, "{resp}");
}

#[tokio::test]
async fn invalid_documents_carry_steps_in_the_documented_shape() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    // Issued four days ago: outside the 72-hour window.
    let old = invoice(
        "INV-OLD",
        now - chrono::Duration::hours(73),
        SUPPLIER_TIN,
        BUYER_TIN,
    );
    // Unknown buyer TIN.
    let stranger = invoice("INV-STRANGER", now, SUPPLIER_TIN, "C99999999990");
    // Foreign currency without an exchange rate.
    let mut usd = invoice("INV-USD", now, SUPPLIER_TIN, BUYER_TIN);
    usd["Invoice"][0]["DocumentCurrencyCode"] = json!([{"_": "USD"}]);
    let good = invoice("INV-GOOD", now, SUPPLIER_TIN, "EI00000000010");
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![
                entry_json(&old, "INV-OLD"),
                entry_json(&stranger, "INV-STRANGER"),
                entry_json(&usd, "INV-USD"),
                entry_json(&good, "INV-GOOD"),
            ]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let uid = body["submissionUid"].as_str().unwrap().to_owned();
    let done = h.settle(&token, &uid).await;
    assert_eq!(done["overallStatus"], "partially valid", "{done}");
    let statuses: Vec<&str> = done["documentSummary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Invalid", "Invalid", "Invalid", "Valid"]);
    let uuid_of = |i: usize| {
        done["documentSummary"][i]["uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let (status, _, details) = h
        .get(
            &token,
            &format!("/api/v1.0/documents/{}/details", uuid_of(0)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(details["validationResults"]["status"], "Invalid");
    let steps = details["validationResults"]["validationSteps"]
        .as_array()
        .unwrap();
    assert_eq!(steps[0]["name"], "Step01-Structure Validator");
    let failed = steps.iter().find(|s| s["status"] == "Invalid").unwrap();
    assert_eq!(failed["name"], "Step04-Taxpayer Validator");
    let e = &failed["error"];
    for key in [
        "propertyName",
        "propertyPath",
        "errorCode",
        "error",
        "errorMs",
        "innerError",
    ] {
        assert!(e.get(key).is_some(), "{key} missing in {e}");
    }
    assert_eq!(e["errorCode"], "Error04");
    assert!(
        e["innerError"][0]["error"]
            .as_str()
            .unwrap()
            .contains("72 hours")
    );

    let (_, _, details) = h
        .get(
            &token,
            &format!("/api/v1.0/documents/{}/details", uuid_of(1)),
        )
        .await;
    let failed = details["validationResults"]["validationSteps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "Invalid")
        .unwrap()
        .clone();
    assert!(
        failed["error"]["innerError"][0]["error"]
            .as_str()
            .unwrap()
            .contains("C99999999990")
    );

    let (_, _, details) = h
        .get(
            &token,
            &format!("/api/v1.0/documents/{}/details", uuid_of(2)),
        )
        .await;
    let failed = details["validationResults"]["validationSteps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "Invalid")
        .unwrap()
        .clone();
    assert_eq!(failed["name"], "Step07-Currency Validator");
}

#[tokio::test]
async fn future_issue_dates_are_invalid() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let doc = invoice(
        "INV-FUTURE",
        h.clock().now() + chrono::Duration::minutes(10),
        SUPPLIER_TIN,
        BUYER_TIN,
    );
    let (_, _, body) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-FUTURE")]))
        .await;
    let done = h
        .settle(&token, body["submissionUid"].as_str().unwrap())
        .await;
    assert_eq!(done["overallStatus"], "invalid");
}

#[tokio::test]
async fn the_same_document_within_two_hours_is_a_duplicate_document() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let issued = h.clock().now();
    let doc = invoice("INV-DUP", issued, SUPPLIER_TIN, BUYER_TIN);
    let (_, _, first) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-DUP")]))
        .await;
    let first_uuid = first["acceptedDocuments"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = h
        .settle(&token, first["submissionUid"].as_str().unwrap())
        .await;
    assert_eq!(done["overallStatus"], "valid");
    // Past the 10-minute duplicate-submission window, the same document again.
    h.advance(11 * 60);
    let (status, _, second) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-DUP")]))
        .await;
    assert_eq!(status, 202, "{second}");
    let done = h
        .settle(&token, second["submissionUid"].as_str().unwrap())
        .await;
    assert_eq!(done["overallStatus"], "invalid", "{done}");
    let uuid = done["documentSummary"][0]["uuid"].as_str().unwrap();
    let (_, _, details) = h
        .get(&token, &format!("/api/v1.0/documents/{uuid}/details"))
        .await;
    let failed = details["validationResults"]["validationSteps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "Invalid")
        .unwrap()
        .clone();
    assert_eq!(failed["name"], "Step03-Duplicated Submission Validator");
    assert_eq!(failed["error"]["errorCode"], "Error03");
    assert_eq!(failed["error"]["innerError"][0]["errorCode"], "DV302");
    // About the document as a whole, as in LHDN's own example: a name and no path.
    assert_eq!(failed["error"]["innerError"][0]["propertyName"], "document");
    assert_eq!(
        failed["error"]["innerError"][0]["propertyPath"],
        Value::Null
    );
    assert!(
        failed["error"]["innerError"][0]["error"]
            .as_str()
            .unwrap()
            .contains(&first_uuid)
    );
}

#[tokio::test]
async fn notes_must_reference_valid_invoices() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (invoice_uuid, uid) = h.submit_one(&token, "INV-ORIG", BUYER_TIN).await;
    h.settle(&token, &uid).await;
    let now = h.clock().now();
    let credit = |id: &str, reference: &str| {
        let mut note = adapt(
            fixture_json(invois_testkit::Kind::CreditNote),
            id,
            now,
            SUPPLIER_TIN,
            BUYER_TIN,
        );
        note["Invoice"][0]["BillingReference"][0]["InvoiceDocumentReference"][0]["UUID"] =
            json!([{"_": reference}]);
        entry_json(&note, id)
    };
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![
                credit("CN-OK", &invoice_uuid),
                credit("CN-BAD", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
            ]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = h
        .settle(&token, body["submissionUid"].as_str().unwrap())
        .await;
    let statuses: Vec<&str> = done["documentSummary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Valid", "Invalid"], "{done}");
    assert_eq!(done["documentSummary"][0]["typeName"], "Credit Note");
    let bad = done["documentSummary"][1]["uuid"].as_str().unwrap();
    let (_, _, details) = h
        .get(&token, &format!("/api/v1.0/documents/{bad}/details"))
        .await;
    let step = details["validationResults"]["validationSteps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Step05-Referenced Documents Validator")
        .unwrap()
        .clone();
    let inner = &step["error"]["innerError"][0];
    assert_eq!(inner["propertyName"], "UUID", "{step}");
    assert_eq!(
        inner["propertyPath"], "Invoice.BillingReference.InvoiceDocumentReference.UUID",
        "{step}"
    );
}

#[tokio::test]
async fn get_submission_pages_and_is_only_for_the_submitter() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (status, _, body) = h.submit(&token, &many(&h, 5)).await;
    assert_eq!(status, 202);
    let uid = body["submissionUid"].as_str().unwrap();
    let (_, _, page) = h
        .get(
            &token,
            &format!("/api/v1.0/documentsubmissions/{uid}?pageNo=2&pageSize=2"),
        )
        .await;
    assert_eq!(page["documentCount"], 5);
    assert_eq!(page["documentSummary"].as_array().unwrap().len(), 2);
    assert_eq!(page["documentSummary"][0]["internalId"], "INV-0002");
    for bad in ["pageSize=101", "pageSize=0", "pageNo=0", "pageNo=abc"] {
        let (status, _, body) = h
            .get(
                &token,
                &format!("/api/v1.0/documentsubmissions/{uid}?{bad}"),
            )
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_envelope(&body, "BadArgument");
    }
    let (status, _, _) = h
        .get(
            &token,
            &format!("/api/v1.0/documentsubmissions/{uid}?pageSize=100"),
        )
        .await;
    assert_eq!(status, 200);
    // The buyer (receiver) and the intermediary did not submit it.
    for other in [h.buyer(), h.intermediary()] {
        let t = h.token(&other).await;
        let (status, _, body) = h
            .get(&t, &format!("/api/v1.0/documentsubmissions/{uid}"))
            .await;
        assert_eq!(status, 404);
        assert_envelope(&body, "NotFound");
    }
}

#[tokio::test]
async fn intermediaries_submit_for_the_taxpayer_they_represent() {
    let h = start().await;
    let token = h.token(&h.intermediary()).await;
    let (uuid, uid) = h.submit_one(&token, "INV-VIA-AGENT", BUYER_TIN).await;
    let done = h.settle(&token, &uid).await;
    assert_eq!(done["overallStatus"], "valid");
    // The taxpayer sees it too; the intermediary sees only what it submitted.
    let own = h.token(&h.supplier()).await;
    let (status, _, _) = h
        .get(&own, &format!("/api/v1.0/documents/{uuid}/raw"))
        .await;
    assert_eq!(status, 200);
    let (own_uuid, own_uid) = h.submit_one(&own, "INV-OWN", BUYER_TIN).await;
    h.settle(&own, &own_uid).await;
    let (status, _, _) = h
        .get(&token, &format!("/api/v1.0/documents/{own_uuid}/raw"))
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = h
        .get(&token, &format!("/api/v1.0/documentsubmissions/{own_uid}"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn self_billed_documents_are_issued_by_the_buyer() {
    let h = start().await;
    let buyer = h.token(&h.buyer()).await;
    let supplier = h.token(&h.supplier()).await;
    let doc = adapt(
        fixture_json(invois_testkit::Kind::SelfBilledInvoice),
        "SB-1",
        h.clock().now(),
        SUPPLIER_TIN,
        BUYER_TIN,
    );
    // The supplier is not the issuer of a self-billed invoice.
    let (status, _, _) = h
        .submit(&supplier, &submission(vec![entry_json(&doc, "SB-1")]))
        .await;
    assert_eq!(status, 403);
    let (status, _, body) = h
        .submit(&buyer, &submission(vec![entry_json(&doc, "SB-1")]))
        .await;
    assert_eq!(status, 202, "{body}");
    let done = h
        .settle(&buyer, body["submissionUid"].as_str().unwrap())
        .await;
    assert_eq!(done["overallStatus"], "valid", "{done}");
    let summary = &done["documentSummary"][0];
    assert_eq!(summary["typeName"], "Self-billed Invoice");
    assert_eq!(summary["issuerTin"], BUYER_TIN);
    assert_eq!(summary["receiverId"], SUPPLIER_TIN);
    // The supplier receives it and may reject it; the buyer (issuer) may not.
    let uuid = summary["uuid"].as_str().unwrap();
    let path = format!("/api/v1.0/documents/state/{uuid}/state");
    let (status, _, _) = h
        .put_json(&buyer, &path, &json!({"status": "rejected", "reason": "x"}))
        .await;
    assert_eq!(status, 403);
    let (status, _, body) = h
        .put_json(
            &supplier,
            &path,
            &json!({"status": "rejected", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A receiver the fixture does not know is TP002, at the receiver's TIN in MyInvois's dotted
/// form (the buyer of an invoice).
#[tokio::test]
async fn an_unknown_receiver_is_tp002_at_its_tin() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (uuid, uid) = h.submit_one(&token, "INV-NOBODY", "C99999999990").await;
    let done = h.settle(&token, &uid).await;
    assert_eq!(done["overallStatus"], "invalid", "{done}");
    let (_, _, details) = h
        .get(&token, &format!("/api/v1.0/documents/{uuid}/details"))
        .await;
    let step = details["validationResults"]["validationSteps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Step04-Taxpayer Validator")
        .unwrap()
        .clone();
    let inner = &step["error"]["innerError"][0];
    assert_eq!(inner["errorCode"], "TP002", "{step}");
    assert_eq!(inner["propertyName"], "ID", "{step}");
    assert_eq!(
        inner["propertyPath"],
        "Invoice.AccountingCustomerParty.Party.PartyIdentification.ID@schemeID=\"TIN\"",
        "{step}"
    );
}

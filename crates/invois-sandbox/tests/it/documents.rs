//! Get Document, Get Document Details, Get Recent Documents and Search Documents, with the
//! visibility rules of README §4.3 and the field spellings of each endpoint.

use crate::common::*;

#[tokio::test]
async fn receivers_see_only_valid_documents_and_issuers_see_all() {
    let h = start().await;
    let supplier = h.token(&h.supplier()).await;
    let buyer = h.token(&h.buyer()).await;
    let (uuid, uid) = h.submit_one(&supplier, "INV-V", BUYER_TIN).await;
    // Submitted: the issuer sees it, the receiver does not.
    let (status, _, raw) = h
        .get(&supplier, &format!("/api/v1.0/documents/{uuid}/raw"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(raw["status"], "Submitted");
    for p in ["raw", "details"] {
        let (status, _, body) = h
            .get(&buyer, &format!("/api/v1.0/documents/{uuid}/{p}"))
            .await;
        assert_eq!(status, 404, "{p}");
        assert_envelope(&body, "NotFound");
    }
    h.settle(&supplier, &uid).await;
    let (status, _, raw) = h
        .get(&buyer, &format!("/api/v1.0/documents/{uuid}/raw"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(raw["status"], "Valid");
    assert!(raw["document"].as_str().unwrap().contains("INV-V"));
    assert_eq!(raw["submissionUid"], uid.as_str());
    // Unrelated intermediary sees nothing.
    let agent = h.token(&h.intermediary()).await;
    let (status, _, _) = h
        .get(&agent, &format!("/api/v1.0/documents/{uuid}/raw"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn recent_documents_spell_fields_as_recent_does_and_follow_direction_rules() {
    let h = start().await;
    let supplier = h.token(&h.supplier()).await;
    let buyer = h.token(&h.buyer()).await;
    let (uuid, uid) = h.submit_one(&supplier, "INV-R1", BUYER_TIN).await;
    h.settle(&supplier, &uid).await;
    let (status, _, page) = h
        .get(
            &supplier,
            "/api/v1.0/documents/recent?pageNo=1&pageSize=10&InvoiceDirection=Sent",
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["metadata"]["totalCount"], 1);
    assert_eq!(page["metadata"]["totalPages"], 1);
    let item = &page["result"][0];
    assert_eq!(item["uuid"], uuid.as_str());
    assert_eq!(item["submissionUID"], uid.as_str());
    assert_eq!(item["supplierTin"], SUPPLIER_TIN);
    assert_eq!(item["buyerTin"], BUYER_TIN);
    assert_eq!(item["submissionChannel"], "ERP");
    assert_eq!(item["total"], invoice_payable());
    // The buyer receives it; the old `direction` name still works.
    let (_, _, page) = h
        .get(&buyer, "/api/v1.0/documents/recent?direction=Received")
        .await;
    assert_eq!(page["metadata"]["totalCount"], 1);
    let (_, _, page) = h
        .get(&buyer, "/api/v1.0/documents/recent?InvoiceDirection=Sent")
        .await;
    assert_eq!(page["metadata"]["totalCount"], 0);
    // Direction-dependent filters.
    for (q, target) in [
        ("receiverTin=C10987654320", "receiverTin"),
        (
            "InvoiceDirection=Received&receiverTin=C10987654320",
            "receiverTin",
        ),
        ("InvoiceDirection=Sent&issuerTin=C25845632020", "issuerTin"),
        (
            "InvoiceDirection=Sent&receiverId=201901234567",
            "receiverIdType",
        ),
        (
            "submissionDateFrom=2025-01-01T00:00:00Z",
            "submissionDateTo",
        ),
        ("issueDateTo=2025-01-01T00:00:00Z", "issueDateFrom"),
        ("InvoiceDirection=Sideways", "InvoiceDirection"),
        ("status=Lost", "status"),
        ("documentType=99", "documentType"),
    ] {
        let (status, _, body) = h
            .get(&supplier, &format!("/api/v1.0/documents/recent?{q}"))
            .await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(
            assert_envelope(&body, "BadArgument")["target"],
            target,
            "{q}"
        );
    }
    let (status, _, page) = h
        .get(&supplier, "/api/v1.0/documents/recent?InvoiceDirection=Sent&receiverIdType=BRN&receiverId=201901234567&receiverTin=C10987654320&status=Valid&documentType=01")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["metadata"]["totalCount"], 1,
        "every filter matches the fixture's buyer"
    );
    // Past the endpoint's rate window (this test has spent its budget).
    h.advance(61);
    let (status, _, page) = h
        .get(&supplier, "/api/v1.0/documents/recent?InvoiceDirection=Sent&receiverIdType=BRN&receiverId=209901234567&receiverTin=C10987654320")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["metadata"]["totalCount"], 0,
        "another registration number does not match"
    );
    // Only the last 31 days.
    h.advance(32 * 24 * 3600);
    let supplier = h.token(&h.supplier()).await;
    let (_, _, page) = h.get(&supplier, "/api/v1.0/documents/recent").await;
    assert_eq!(page["metadata"]["totalCount"], 0);
}

#[tokio::test]
async fn search_requires_a_date_pair_within_31_days_and_pages() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let mut uids = vec![];
    for i in 0..3 {
        let (_, uid) = h.submit_one(&token, &format!("INV-S{i}"), BUYER_TIN).await;
        uids.push(uid);
    }
    for uid in &uids {
        h.settle(&token, uid).await;
    }
    let now = h.clock().now();
    let fmt = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let from = fmt(now - chrono::Duration::days(1));
    let to = fmt(now + chrono::Duration::hours(1));
    let (status, _, page) = h
        .get(&token, &format!("/api/v1.0/documents/search?submissionDateFrom={from}&submissionDateTo={to}&pageSize=2&pageNo=1"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["metadata"]["totalCount"], 3);
    assert_eq!(page["metadata"]["totalPages"], 2);
    let item = &page["result"][0];
    // Newest first; Search spellings.
    assert_eq!(item["internalId"], "INV-S2");
    assert!(item.get("submissionUid").is_some() && item.get("submissionUID").is_none());
    assert_eq!(item["supplierTIN"], SUPPLIER_TIN);
    assert_eq!(item["buyerTIN"], BUYER_TIN);
    assert!(item["issuerName"].is_string());
    let (_, _, page) = h
        .get(&token, &format!("/api/v1.0/documents/search?issueDateFrom={from}&issueDateTo={to}&searchQuery=INV-S1&status=Valid&documentType=01&invoiceDirection=Sent"))
        .await;
    assert_eq!(page["metadata"]["totalCount"], 1, "{page}");

    let thirty_one = fmt(now - chrono::Duration::days(31));
    let (status, _, _) = h
        .get(
            &token,
            &format!(
                "/api/v1.0/documents/search?submissionDateFrom={thirty_one}&submissionDateTo={}",
                fmt(now)
            ),
        )
        .await;
    assert_eq!(status, 200, "exactly 31 days is allowed");
    let too_long = fmt(now - chrono::Duration::days(31) - chrono::Duration::seconds(1));
    for (q, target) in [
        (String::new(), "submissionDateFrom"),
        (
            format!(
                "submissionDateFrom={too_long}&submissionDateTo={}",
                fmt(now)
            ),
            "submissionDateTo",
        ),
        (
            format!("submissionDateFrom={to}&submissionDateTo={from}"),
            "submissionDateFrom",
        ),
        (
            format!("submissionDateFrom={from}&submissionDateTo={to}&pageSize=0"),
            "pageSize",
        ),
        (
            format!("submissionDateFrom={from}&submissionDateTo={to}&pageSize=101"),
            "pageSize",
        ),
        (
            format!("submissionDateFrom={from}&submissionDateTo={to}&searchQuery=a%3Cb"),
            "searchQuery",
        ),
        (
            format!("submissionDateFrom=yesterday&submissionDateTo={to}"),
            "submissionDateFrom",
        ),
    ] {
        let (status, _, body) = h
            .get(&token, &format!("/api/v1.0/documents/search?{q}"))
            .await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(
            assert_envelope(&body, "BadArgument")["target"],
            target,
            "{q}"
        );
    }
}

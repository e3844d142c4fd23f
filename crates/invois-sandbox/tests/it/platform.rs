//! Document types, versions, workflow parameters, notifications, taxpayer TIN APIs and QR
//! code info (README §4.1, §4.2).

use crate::common::*;

#[tokio::test]
async fn document_types_versions_and_workflow_parameters() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (status, _, body) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);
    let types = body["result"].as_array().unwrap();
    assert_eq!(types.len(), 8);
    assert_eq!(types[0]["name"], "Invoice");
    assert_eq!(types[0]["invoiceTypeCode"], 1);
    assert_eq!(types[4]["name"], "Self-billed Invoice");
    let id = types[1]["id"].as_u64().unwrap();
    let vid = types[1]["documentTypeVersions"][1]["id"].as_u64().unwrap();
    let (status, _, one) = h
        .get(&token, &format!("/api/v1.0/documenttypes/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "Credit Note");
    let params: Vec<&str> = one["workflowParameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "submissionDuration",
            "cancellationDuration",
            "rejectionDuration"
        ]
    );
    assert_eq!(one["workflowParameters"][1]["value"], 72);
    let (status, _, v) = h
        .get(
            &token,
            &format!("/api/v1.0/documenttypes/{id}/versions/{vid}"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["name"], "1.1");
    assert_eq!(v["invoiceTypeCode"], 2);
    assert_eq!(v["status"], "published");
    for (path, status, code) in [
        ("/api/v1.0/documenttypes/9999", 404, "NotFound"),
        ("/api/v1.0/documenttypes/abc", 400, "BadArgument"),
        (
            &*format!("/api/v1.0/documenttypes/{id}/versions/1"),
            404,
            "NotFound",
        ),
        (
            &*format!("/api/v1.0/documenttypes/{id}/versions/x"),
            400,
            "BadArgument",
        ),
    ] {
        let (s, _, body) = h.get(&token, path).await;
        assert_eq!(s, status, "{path}");
        assert_envelope(&body, code);
    }
}

/// The request the `myinvois` Python package sends for `document_types.list()`: it pages every
/// list call (`pageNo=1&pageSize=20` by default, through httpx), and MyInvois answers with the
/// whole list, ignoring both. The other platform APIs ignore them too, and any other unknown
/// parameter (`hostile::unknown_parameters_are_ignored`).
#[tokio::test]
async fn platform_apis_ignore_paging_parameters_as_myinvois_does() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let resp = h
        .http
        .get(h.url("/api/v1.0/documenttypes?pageNo=1&pageSize=20"))
        .header("Accept", "*/*")
        .header("Accept-Encoding", "gzip, deflate")
        .header("Connection", "keep-alive")
        .header("User-Agent", "python-httpx/0.28.1")
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    let (status, _, body) = split(resp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 8);
    for path in [
        "/api/v1.0/documenttypes?pageSize=1",
        "/api/v1.0/documenttypes?PageNo=2&pagesize=100",
        "/api/v1.0/documenttypes/45?pageNo=1&pageSize=20",
        "/api/v1.0/documenttypes/45/versions/452?pageNo=1&pageSize=20",
    ] {
        let (status, _, body) = h.get(&token, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _, body) = h
        .get(&token, "/api/v1.0/documenttypes?pageNo=1&sort=name")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn notifications_follow_events_and_page() {
    let h = start().await;
    let supplier = h.token(&h.supplier()).await;
    let buyer = h.token(&h.buyer()).await;
    let (_, uid) = h.submit_one(&supplier, "INV-N", BUYER_TIN).await;
    h.settle(&supplier, &uid).await;
    let (status, _, n) = h.get(&supplier, "/api/v1.0/notifications/taxpayer").await;
    assert_eq!(status, 200);
    assert_eq!(n["result"][0]["typeId"], 7);
    assert_eq!(n["result"][0]["typeName"], "Document validated");
    assert_eq!(n["metadata"]["hasNext"], false);
    let (_, _, n) = h
        .get(
            &buyer,
            "/api/v1.0/notifications/taxpayer?type=6&language=en&pageNo=1&pageSize=1",
        )
        .await;
    assert_eq!(n["result"].as_array().unwrap().len(), 1);
    assert_eq!(n["result"][0]["typeName"], "Document received");
    // The channel parameter was removed but Postman still sends it.
    let (status, _, _) = h
        .get(&buyer, "/api/v1.0/notifications/taxpayer?channel=1")
        .await;
    assert_eq!(status, 200);
    for q in [
        "pageSize=101",
        "language=fr",
        "type=999",
        "status=9",
        "dateFrom=x",
    ] {
        let (status, _, body) = h
            .get(&buyer, &format!("/api/v1.0/notifications/taxpayer?{q}"))
            .await;
        assert_eq!(status, 400, "{q}");
        assert_envelope(&body, "BadArgument");
    }
}

#[tokio::test]
async fn tin_validation_and_search_use_the_fixture() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (status, _, _) = h
        .get(
            &token,
            "/api/v1.0/taxpayer/validate/C10987654320?idType=BRN&idValue=201901234567",
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = h
        .get(
            &token,
            "/api/v1.0/taxpayer/validate/C10987654320?idType=BRN&idValue=000000000000",
        )
        .await;
    assert_eq!(status, 404);
    assert_envelope(&body, "NotFound");
    for q in [
        "/api/v1.0/taxpayer/validate/C10987654320?idType=BRN",
        "/api/v1.0/taxpayer/validate/C10987654320?idValue=201901234567",
        "/api/v1.0/taxpayer/validate/C10987654320?idType=SSN&idValue=1",
        "/api/v1.0/taxpayer/validate/not-a-tin?idType=BRN&idValue=201901234567",
    ] {
        let (status, _, body) = h.get(&token, q).await;
        assert_eq!(status, 400, "{q}");
        assert_envelope(&body, "BadArgument");
    }
    let (status, _, body) = h
        .get(
            &token,
            "/api/v1.0/taxpayer/search/tin?idType=BRN&idValue=202001234567",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["tin"], SUPPLIER_TIN);
    let (_, _, body) = h
        .get(
            &token,
            "/api/v1.0/taxpayer/search/tin?taxpayerName=Demo%20Buyer&fileType=2",
        )
        .await;
    assert_eq!(body["tin"], BUYER_TIN);
    // Ambiguous, none, or an incomplete pair.
    let (status, _, body) = h
        .get(&token, "/api/v1.0/taxpayer/search/tin?taxpayerName=Demo")
        .await;
    assert_eq!(status, 400);
    assert!(
        assert_envelope(&body, "BadArgument")["message"]
            .as_str()
            .unwrap()
            .contains("not conclusive")
    );
    let (status, _, _) = h
        .get(&token, "/api/v1.0/taxpayer/search/tin?taxpayerName=Nobody")
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = h
        .get(&token, "/api/v1.0/taxpayer/search/tin?idType=BRN")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn qr_code_info_comes_from_the_fixture() {
    let h = start().await;
    let token = h.token(&h.buyer()).await;
    let (status, _, info) = h
        .get(
            &token,
            "/api/v1.0/taxpayers/qrcodeinfo/4e1bc907-25b7-45b1-9620-2d671a6f9cae",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(info["tin"], SUPPLIER_TIN);
    assert_eq!(info["idType"], "BRN");
    assert_eq!(info["city"], "Kuala Lumpur");
    assert!(info.get("businessActivityDescriptionEN").is_some());
    let (status, _, body) = h
        .get(
            &token,
            "/api/v1.0/taxpayers/qrcodeinfo/00000000-0000-0000-0000-000000000000",
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        assert_envelope(&body, "NotFound")["message"],
        "QR Code Not Found"
    );
}

//! Every endpoint of §2 and §4, called through the typed client: method, path and query on
//! the wire, and the typed response.

use crate::common::{Double, Reply, doc_summary, listed_doc};
use chrono::{DateTime, Utc};
use invois_client::Clock;
use invois_client::api::documents::InvoiceDirection;
use invois_client::api::taxpayer::IdType;
use invois_client::api::{DocumentStatus, Endpoint};
use serde_json::json;

const UUID: &str = "42S512YACQBRSRHYKBXBTGQG22";
const SUB: &str = "SUB00000000000000000000001";

fn reply_for(path: &str) -> Reply {
    let doc_type = json!({"id": 45, "invoiceTypeCode": 1, "description": "Invoice",
        "activeFrom": "2015-02-13T13:15:00Z", "documentTypeVersions": [],
        "workflowParameters": [{"id": 1, "parameter": "cancellationDuration", "value": 72,
                                "activeFrom": "2015-02-13T13:15:00Z"}]});
    let mut summary = doc_summary(UUID, "INV-1", "Valid", Some("LONG"));
    match path {
        "/api/v1.0/documenttypes" => Reply::ok(json!({"result": [doc_type]})),
        "/api/v1.0/documenttypes/45" => Reply::ok(doc_type),
        "/api/v1.0/documenttypes/45/versions/454" => Reply::ok(json!({
            "id": 454, "invoiceTypeCode": 1, "name": "1.1", "description": "Invoice v1.1",
            "activeFrom": "2015-02-13T13:15:00Z", "versionNumber": 1.1, "status": "published"})),
        "/api/v1.0/notifications/taxpayer" => {
            Reply::ok(json!({"result": [], "metadata": {"hasNext": false}}))
        }
        p if p.starts_with("/api/v1.0/taxpayer/validate/") => Reply::Json(200, json!({})),
        "/api/v1.0/taxpayer/search/tin" => Reply::ok(json!({"tin": "C1234567890"})),
        p if p.starts_with("/api/v1.0/taxpayers/qrcodeinfo/") => Reply::ok(json!({
            "tin": "C1234567890", "name": "ACME", "idType": "BRN", "idNumber": "201901234567"})),
        "/api/v1.0/documentsubmissions" => Reply::Json(
            202,
            json!({
            "submissionUid": SUB, "acceptedDocuments": [{"uuid": UUID, "invoiceCodeNumber": "INV-1"}],
            "rejectedDocuments": []}),
        ),
        p if p.starts_with("/api/v1.0/documentsubmissions/") => Reply::ok(json!({
            "submissionUid": SUB, "documentCount": 1, "dateTimeReceived": "2025-01-01T00:00:00Z",
            "overallStatus": "valid", "documentSummary": [summary]})),
        p if p.ends_with("/state") => Reply::ok(json!({"uuid": UUID, "status": "Cancelled"})),
        "/api/v1.0/documents/recent" | "/api/v1.0/documents/search" => Reply::ok(json!({
            "result": [listed_doc(UUID, "2025-01-01T00:00:00Z")],
            "metadata": {"totalPages": 1, "totalCount": 1}})),
        p if p.ends_with("/raw") => {
            summary["document"] = json!("{\"Invoice\":[]}");
            Reply::ok(summary)
        }
        p if p.ends_with("/details") => {
            summary["validationResults"] = json!({"status": "Valid", "validationSteps": []});
            Reply::ok(summary)
        }
        _ => Reply::Json(
            404,
            json!({"error": {"code": "NotFound", "message": "no route"}}),
        ),
    }
}

#[tokio::test]
async fn every_endpoint_is_covered_with_its_method_path_and_query() {
    let d = Double::start(Clock::real(), |r, _| reply_for(&r.path)).await;
    let c = d.client();
    let inter = c.on_behalf_of("C25845632020").unwrap();
    let from: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let to: DateTime<Utc> = "2025-01-10T00:00:00Z".parse().unwrap();

    assert_eq!(c.platform().document_types().await.unwrap()[0].id, 45);
    let t = c.platform().document_type(45).await.unwrap();
    assert_eq!(t.workflow_parameters.unwrap()[0].value, 72);
    let v = inter
        .platform()
        .document_type_version(45, 454)
        .await
        .unwrap();
    assert_eq!(v.status, "published");
    let n = c
        .platform()
        .notifications()
        .dates(from, to)
        .type_id(7)
        .page_size(50)
        .send()
        .await
        .unwrap();
    assert!(!n.has_next);
    assert!(
        c.taxpayers()
            .validate_tin("C1234567890", IdType::Brn, "201901234567")
            .await
            .unwrap()
    );
    assert_eq!(
        c.taxpayers()
            .search_tin()
            .name("ACME")
            .file_type(2)
            .send()
            .await
            .unwrap()
            .tin,
        "C1234567890"
    );
    assert_eq!(
        c.taxpayers()
            .qr_code_info("4e1bc907-25b7-45b1-9620-2d671a6f9cae")
            .await
            .unwrap()
            .name,
        "ACME"
    );
    let doc = invois_client::document_submission(
        invois_client::api::submission::DocumentFormat::Xml,
        b"<Invoice/>",
        "INV-1",
    );
    let s = c.submissions().submit(vec![doc]).send().await.unwrap();
    assert_eq!(s.submission_uid.as_deref(), Some(SUB));
    let g = c
        .submissions()
        .get(SUB)
        .page_no(1)
        .page_size(100)
        .send()
        .await
        .unwrap();
    assert_eq!(g.document_summary[0].uuid, UUID);
    assert_eq!(
        c.documents()
            .cancel(UUID, "wrong amount")
            .await
            .unwrap()
            .status,
        "Cancelled"
    );
    c.documents().reject(UUID, "not ours").await.unwrap();
    let recent = c
        .documents()
        .recent()
        .direction(InvoiceDirection::Received)
        .status(DocumentStatus::Valid)
        .send()
        .await
        .unwrap();
    assert_eq!(recent.items.len(), 1);
    let found = c
        .documents()
        .search()
        .submission_dates(from, to)
        .document_type("01")
        .search_query("INV")
        .send()
        .await
        .unwrap();
    assert_eq!(found.items[0].uuid, UUID);
    assert_eq!(
        c.documents().raw(UUID).await.unwrap().document,
        "{\"Invoice\":[]}"
    );
    assert_eq!(
        c.documents()
            .details(UUID)
            .await
            .unwrap()
            .validation_results
            .status,
        DocumentStatus::Valid
    );

    let reqs = d.requests();
    let line = |r: &crate::common::Recorded| match &r.query {
        Some(q) => format!("{} {}?{}", r.method, r.path, q),
        None => format!("{} {}", r.method, r.path),
    };
    let lines: Vec<String> = reqs.iter().map(line).collect();
    let expect = [
        "POST /connect/token",
        "GET /api/v1.0/documenttypes",
        "GET /api/v1.0/documenttypes/45",
        "POST /connect/token",
        "GET /api/v1.0/documenttypes/45/versions/454",
        "GET /api/v1.0/notifications/taxpayer?dateFrom=2025-01-01T00%3A00%3A00Z&dateTo=2025-01-10T00%3A00%3A00Z&type=7&pageSize=50",
        "GET /api/v1.0/taxpayer/validate/C1234567890?idType=BRN&idValue=201901234567",
        "GET /api/v1.0/taxpayer/search/tin?taxpayerName=ACME&fileType=2",
        "GET /api/v1.0/taxpayers/qrcodeinfo/4e1bc907-25b7-45b1-9620-2d671a6f9cae",
        "POST /api/v1.0/documentsubmissions",
        "GET /api/v1.0/documentsubmissions/SUB00000000000000000000001?pageNo=1&pageSize=100",
        "PUT /api/v1.0/documents/state/42S512YACQBRSRHYKBXBTGQG22/state",
        "PUT /api/v1.0/documents/state/42S512YACQBRSRHYKBXBTGQG22/state",
        "GET /api/v1.0/documents/recent?InvoiceDirection=Received&status=Valid",
        "GET /api/v1.0/documents/search?submissionDateFrom=2025-01-01T00%3A00%3A00Z&submissionDateTo=2025-01-10T00%3A00%3A00Z&documentType=01&searchQuery=INV",
        "GET /api/v1.0/documents/42S512YACQBRSRHYKBXBTGQG22/raw",
        "GET /api/v1.0/documents/42S512YACQBRSRHYKBXBTGQG22/details",
    ];
    assert_eq!(lines, expect);
    // The intermediary's login carried onbehalfof; the taxpayer's did not.
    assert_eq!(reqs[0].header("onbehalfof"), None);
    assert_eq!(reqs[3].header("onbehalfof"), Some("C25845632020"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reqs[12].body).unwrap(),
        json!({"status": "rejected", "reason": "not ours"})
    );
    // Every endpoint of the table was called.
    let called = [
        Endpoint::LoginTaxpayer,
        Endpoint::LoginIntermediary,
        Endpoint::GetDocumentTypes,
        Endpoint::GetDocumentType,
        Endpoint::GetDocumentTypeVersion,
        Endpoint::GetNotifications,
        Endpoint::ValidateTaxpayerTin,
        Endpoint::SubmitDocuments,
        Endpoint::CancelDocument,
        Endpoint::RejectDocument,
        Endpoint::GetRecentDocuments,
        Endpoint::GetSubmission,
        Endpoint::GetDocument,
        Endpoint::GetDocumentDetails,
        Endpoint::SearchDocuments,
        Endpoint::SearchTaxpayerTin,
        Endpoint::TaxpayerQrCode,
    ];
    assert_eq!(called.len(), Endpoint::ALL.len());
}

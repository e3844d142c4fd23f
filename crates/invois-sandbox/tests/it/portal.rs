//! The validation portal page (README §10): the link `{portal}/{uuid}/share/{longId}` that a
//! client builds with the sandbox's base URL as its portal opens the document's public summary,
//! without a token; anything else finds nothing.

use crate::common::*;
use serde_json::json;

/// GETs `url` without a token, as a browser or a QR reader does: status, content type, body.
async fn open(h: &Harness, url: &str) -> (u16, String, String) {
    let resp = h.http.get(url).send().await.expect("send");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, resp.text().await.expect("body"))
}

#[tokio::test]
async fn a_validation_link_opens_the_public_summary() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (uuid, uid) = h.submit_one(&token, "INV-PORTAL", BUYER_TIN).await;
    let submission = h.settle(&token, &uid).await;
    let long_id = submission["documentSummary"][0]["longId"]
        .as_str()
        .expect("a valid document has a longId")
        .to_owned();
    let link = invois_api::ids::validation_link(&h.running.base_url, &uuid, &long_id);

    let (status, content_type, page) = open(&h, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for shown in [
        uuid.as_str(),
        "Valid",
        "INV-PORTAL",
        "01 - Invoice",
        SUPPLIER_TIN,
        BUYER_TIN,
        "Date and time of validation",
        "invois sandbox",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }

    // Cancelled, the same link says so.
    let (status, _, body) = h
        .put_json(
            &token,
            &format!("/api/v1.0/documents/state/{uuid}/state"),
            &json!({"status": "cancelled", "reason": "Wrong buyer"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, page) = open(&h, &link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Cancelled"), "{page}");
    assert!(page.contains("Date and time of cancellation"), "{page}");
}

#[tokio::test]
async fn a_link_to_nothing_valid_finds_nothing() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (uuid, uid) = h.submit_one(&token, "INV-PORTAL-2", BUYER_TIN).await;
    // Not validated yet: no longId, no page.
    let (status, _, page) = open(&h, &h.url(&format!("/{uuid}/share/ANYTHING"))).await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("e-Invoice not found"), "{page}");
    h.settle(&token, &uid).await;
    for path in [
        format!("/{uuid}/share/NOT-ITS-LONG-ID"),
        "/00000000000000000000000000/share/X".to_owned(),
    ] {
        let (status, content_type, page) = open(&h, &h.url(&path)).await;
        assert_eq!(status, 404, "{path}: {page}");
        assert!(content_type.starts_with("text/html"), "{content_type}");
    }
}

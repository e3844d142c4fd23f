//! Malformed input of every kind gets the MyInvois envelope with a correlationId: never a
//! panic, never a framework's plain-text rejection.

use crate::common::*;

fn assert_api_envelope(status: u16, headers: &reqwest::header::HeaderMap, text: &str, what: &str) {
    assert!(
        headers.contains_key("correlationId"),
        "{what}: no correlationId"
    );
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or(""))
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{what}: {status} content-type {ct}: {text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    assert!(v["error"]["code"].is_string(), "{what}: {text}");
}

/// Method, path, optional (content type, body).
type Case = (reqwest::Method, String, Option<(&'static str, Vec<u8>)>);

#[tokio::test]
async fn malformed_requests_get_the_envelope() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let long = "A".repeat(10_000);
    let cases: Vec<Case> = vec![
        (reqwest::Method::GET, "/nope".into(), None),
        (reqwest::Method::GET, "/api/v1.0/unknown/thing".into(), None),
        (reqwest::Method::DELETE, "/api/v1.0/documenttypes".into(), None),
        (reqwest::Method::GET, "/api/v1.0/documentsubmissions".into(), None),
        (reqwest::Method::POST, "/api/v1.0/documents/search".into(), None),
        (reqwest::Method::GET, "/api/v1.0/documents/search?pageSize=-1".into(), None),
        (reqwest::Method::GET, "/api/v1.0/documents/search?pageSize=99999999999999999999".into(), None),
        (reqwest::Method::GET, "/api/v1.0/documents/search?%ZZ=1".into(), None),
        (reqwest::Method::GET, "/api/v1.0/documents/recent?pageNo=1&pageNo=2".into(), None),
        (reqwest::Method::GET, "/api/v1.0/documents/%FF%FE/raw".into(), None),
        (reqwest::Method::GET, format!("/api/v1.0/documents/{long}/details"), None),
        (reqwest::Method::GET, "/api/v1.0/documentsubmissions/%00".into(), None),
        (reqwest::Method::GET, "/api/v1.0/taxpayers/qrcodeinfo/%F0%9F%92%A9".into(), None),
        (reqwest::Method::PUT, "/api/v1.0/documents/state/X/state".into(), Some(("application/json", b"{".to_vec()))),
        (reqwest::Method::PUT, "/api/v1.0/documents/state/X/state".into(), Some(("text/plain", b"hello".to_vec()))),
        (reqwest::Method::PUT, "/api/v1.0/documents/state/X/state".into(), Some(("application/json", vec![b'['; 100_000]))),
        (reqwest::Method::POST, "/api/v1.0/documentsubmissions".into(), Some(("application/json", vec![b'['; 10_000]))),
        (reqwest::Method::POST, "/api/v1.0/documentsubmissions".into(), Some(("application/xml", b"<submission/>".to_vec()))),
        (reqwest::Method::POST, "/api/v1.0/documentsubmissions".into(), Some(("application/json", br#"{"documents":[{"format":"XML","document":"PEludm9pY2U+PC9JbnZvaWNlPg==","documentHash":"x","codeNumber":"1"}]}"#.to_vec()))),
    ];
    for (method, path, body) in cases {
        let mut req = h
            .http
            .request(method.clone(), h.url(&path))
            .bearer_auth(&token);
        if let Some((ct, bytes)) = body {
            req = req.header("content-type", ct).body(bytes);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let what = format!("{method} {}", &path[..path.len().min(80)]);
        assert!(status < 500 || status == 501, "{what}: {status} {text}");
        if status != 202 {
            assert_api_envelope(status, &headers, &text, &what);
        }
    }
    // Deeply nested and hostile documents inside a valid envelope are rejected per document.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let xml_bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Invoice><cbc:ID>&b;</cbc:ID></Invoice>"#;
    let deep_xml = format!(
        "<Invoice>{}{}</Invoice>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![
                entry_bytes("JSON", deep.as_bytes(), "DEEP"),
                entry_bytes("XML", xml_bomb.as_bytes(), "BOMB"),
                entry_bytes("XML", deep_xml.as_bytes(), "DEEPXML"),
                entry_bytes("XML", b"\xff\xfe<Invoice/>", "BINARY"),
            ]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["rejectedDocuments"].as_array().unwrap().len(),
        4,
        "{body}"
    );
}

/// MyInvois (ASP.NET) binds the parameters it knows and ignores the rest, as it ignores
/// `pageNo`/`pageSize` on Get All Document Types; LHDN documents no refusal of an unknown
/// parameter, so the sandbox answers as if it were not there.
#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    for (path, want) in [
        ("/api/v1.0/documenttypes?foo=1", 200),
        ("/api/v1.0/documenttypes/45?x=y", 200),
        (
            "/api/v1.0/documents/ZZZZZZZZZZZZZZZZZZZZZZZZZZ/raw?format=xml",
            404,
        ),
        ("/api/v1.0/taxpayers/qrcodeinfo/abc?lang=en", 404),
        (
            "/api/v1.0/documents/recent?InvoiceDirection=Sent&unknownParam=1&another=2",
            200,
        ),
    ] {
        let (status, _, body) = h.get(&token, path).await;
        assert_eq!(status, want, "{path}: {body}");
    }
    // Recent Documents caps pageSize at an unpublished system maximum rather than refusing a
    // larger one (Search Documents, which documents 1..100, refuses).
    let (status, _, body) = h
        .get(&token, "/api/v1.0/documents/recent?pageSize=500")
        .await;
    assert_eq!(status, 200, "{body}");
    // A malformed value of a known parameter is still refused, whatever else comes with it.
    let (status, _, body) = h
        .get(&token, "/api/v1.0/documents/recent?foo=1&status=Lost")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_envelope(&body, "BadArgument")["target"], "status");
    // An empty query is no parameter at all.
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes?").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_methods_and_routes_are_404_or_405_envelopes() {
    let h = start().await;
    let resp = h
        .http
        .patch(h.url("/api/v1.0/documenttypes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let (_, headers, body) = split(resp).await;
    assert!(headers.contains_key("correlationId"));
    assert!(body["error"]["code"].is_string());
    let resp = h.http.get(h.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let (_, _, body) = split(resp).await;
    assert_envelope(&body, "NotFound");
}

#[tokio::test]
async fn correlation_ids_look_like_myinvois_ones_and_differ() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (_, a, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    let (_, b, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    let a = a["correlationId"].to_str().unwrap().to_owned();
    let b = b["correlationId"].to_str().unwrap().to_owned();
    assert_ne!(a, b);
    let (prefix, seq) = a.split_once(':').unwrap();
    assert_eq!(prefix.len(), 13);
    assert_eq!(seq.len(), 8);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ':'),
        "{a}"
    );
}

/// What hyper alone refuses before any handler runs: a 1 MB header, 500 headers, a control
/// character in `Authorization`, a 100 KB path. Each gets the MyInvois envelope with a
/// correlationId, and never the token it carried; the sandbox then serves the next
/// connection as usual.
#[tokio::test]
async fn requests_refused_before_routing_get_the_envelope_too() {
    use invois_serve::test_util::RawConnection;

    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let get = |extra: &[u8]| {
        let mut r = b"GET /api/v1.0/documenttypes HTTP/1.1\r\nHost: sandbox\r\n".to_vec();
        r.extend(extra);
        r.extend(b"\r\n");
        r
    };
    let mut big = b"X-Big: ".to_vec();
    big.extend(vec![b'a'; 1024 * 1024]);
    big.extend(b"\r\n");
    let many: Vec<u8> = (0..500)
        .flat_map(|i| format!("X-Header-{i}: {i}\r\n").into_bytes())
        .collect();
    let mut control = format!("Authorization: Bearer {}", &token[..20]).into_bytes();
    control.push(0x01);
    control.extend(format!("{}\r\n", &token[20..]).as_bytes());
    let long_path = format!(
        "GET /api/v1.0/documents/{}/details HTTP/1.1\r\nHost: sandbox\r\n\r\n",
        "A".repeat(100_000)
    );
    let cases = [
        (
            "a 1 MB header",
            get(&big),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "500 headers",
            get(&many),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "a control character in Authorization",
            get(&control),
            400,
            "BadRequest",
        ),
        (
            "a 100 KB path",
            long_path.into_bytes(),
            414,
            "RequestUriTooLong",
        ),
    ];
    for (what, request, status, code) in cases {
        let mut connection = RawConnection::open(h.running.addr, request).await.unwrap();
        let response = connection.response().await.unwrap();
        assert_eq!(response.status, status, "{what}: {response:?}");
        let text = String::from_utf8_lossy(&response.body).into_owned();
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &response.headers {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert_api_envelope(status, &headers, &text, what);
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_envelope(&body, code);
        assert!(
            !response
                .header("correlationId")
                .unwrap_or_default()
                .is_empty(),
            "{what}"
        );
        assert!(
            !text.contains(&token[20..40]),
            "{what}: the token is echoed"
        );
        assert!(
            connection.closes().await,
            "{what}: the connection stays open"
        );

        let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
        assert_eq!(status, 200, "after {what}");
    }

    // On a kept-alive connection, the second request is checked as the first was.
    let auth = format!("Authorization: Bearer {token}\r\n");
    let mut connection = RawConnection::open(h.running.addr, get(auth.as_bytes()))
        .await
        .unwrap();
    assert_eq!(connection.response().await.unwrap().status, 200);
    connection.send(get(&control));
    let response = connection.response().await.unwrap();
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.header("correlationId").is_some());
}

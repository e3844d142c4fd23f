//! Identity (README §2): form login, intermediary login, RFC 6749 errors, blocked
//! placeholder credentials, token expiry on the sandbox clock.

use crate::common::*;

#[tokio::test]
async fn taxpayer_login_returns_a_bearer_token_for_3600_seconds() {
    let h = start().await;
    let c = h.supplier();
    let resp = h
        .login_raw(
            &[
                ("client_id", &c.client_id),
                ("client_secret", &c.secret),
                ("grant_type", "client_credentials"),
                ("scope", "InvoicingAPI"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("correlationId"));
    assert_eq!(resp.headers()["X-Rate-Limit-Limit"], "12");
    assert_eq!(resp.headers()["X-Rate-Limit-Remaining"], "11");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "InvoicingAPI");
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn wrong_secret_unknown_client_and_bad_grant_get_rfc6749_errors() {
    let h = start().await;
    let c = h.supplier();
    for (form, code) in [
        (
            vec![
                ("client_id", c.client_id.as_str()),
                ("client_secret", "wrong-secret-1"),
                ("grant_type", "client_credentials"),
            ],
            "invalid_client",
        ),
        (
            vec![
                ("client_id", "3f1c0f0e-unknown-client"),
                ("client_secret", "some-secret-1"),
                ("grant_type", "client_credentials"),
            ],
            "invalid_client",
        ),
        (
            vec![
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("grant_type", "password"),
            ],
            "unsupported_grant_type",
        ),
        (
            vec![
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.secret.as_str()),
                ("grant_type", "client_credentials"),
                ("scope", "Everything"),
            ],
            "invalid_scope",
        ),
    ] {
        let resp = h.login_raw(&form, None).await;
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
        assert!(body["error_description"].is_string());
    }
    assert_eq!(
        h.running
            .sandbox
            .client_counters(&c.client_id)
            .failed_logins,
        1
    );
}

#[tokio::test]
async fn placeholder_credentials_are_blocked_and_counted() {
    let h = start().await;
    let c = h.supplier();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("client_secret", "s3cret-value"),
            ("grant_type", "client_credentials"),
        ],
        vec![
            ("client_id", ""),
            ("client_secret", "s3cret-value"),
            ("grant_type", "client_credentials"),
        ],
        vec![
            ("client_id", "0"),
            ("client_secret", "s3cret-value"),
            ("grant_type", "client_credentials"),
        ],
        vec![
            ("client_id", "YOUR_CLIENT_ID"),
            ("client_secret", "s3cret-value"),
            ("grant_type", "client_credentials"),
        ],
        vec![
            ("client_id", &c.client_id),
            ("client_secret", "YOUR_CLIENT_SECRET"),
            ("grant_type", "client_credentials"),
        ],
        vec![
            ("client_id", &c.client_id),
            ("client_secret", "0"),
            ("grant_type", "client_credentials"),
        ],
        vec![("client_id", &c.client_id), ("client_secret", &c.secret)],
        vec![
            ("client_id", &c.client_id),
            ("client_secret", &c.secret),
            ("grant_type", ""),
        ],
    ];
    for form in &cases {
        let resp = h.login_raw(form, None).await;
        assert_eq!(resp.status(), 400, "{form:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{form:?}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("blocked")
        );
    }
    let real = h.running.sandbox.client_counters(&c.client_id);
    assert_eq!(real.blocked_logins.get("client_secret"), Some(&2));
    assert_eq!(real.blocked_logins.get("grant_type"), Some(&2));
    let stats = h.running.sandbox.stats();
    let total: u64 = stats
        .clients
        .values()
        .flat_map(|c| c.blocked_logins.values())
        .sum();
    assert_eq!(total, cases.len() as u64);
}

#[tokio::test]
async fn login_must_be_form_encoded() {
    let h = start().await;
    let c = h.supplier();
    let resp = h
        .http
        .post(h.url("/connect/token"))
        .json(&serde_json::json!({"client_id": c.client_id, "client_secret": c.secret, "grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn intermediary_login_is_checked_against_representation() {
    let h = start().await;
    let i = h.intermediary();
    let form = [
        ("client_id", i.client_id.as_str()),
        ("client_secret", i.secret.as_str()),
        ("grant_type", "client_credentials"),
    ];
    // Represented, as TIN and as TIN:ROB.
    assert_eq!(h.login_raw(&form, Some(SUPPLIER_TIN)).await.status(), 200);
    assert_eq!(
        h.login_raw(&form, Some(&format!("{SUPPLIER_TIN}:202001234567")))
            .await
            .status(),
        200
    );
    // Not represented, wrong ROB, or no header at all.
    for obo in [Some(BUYER_TIN), Some("C25845632020:999999999999"), None] {
        let resp = h.login_raw(&form, obo).await;
        assert_eq!(resp.status(), 400, "{obo:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["error"] == "unauthorised_client" || body["error"] == "invalid_request",
            "{body}"
        );
    }
    // A taxpayer client cannot act on behalf of anyone.
    let s = h.supplier();
    let resp = h
        .login_raw(
            &[
                ("client_id", &s.client_id),
                ("client_secret", &s.secret),
                ("grant_type", "client_credentials"),
            ],
            Some(BUYER_TIN),
        )
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn expired_unknown_or_missing_tokens_get_401_on_every_api() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);

    // One second before expiry the token still works; at expiry it does not.
    h.advance(3599);
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);
    h.advance(1);
    let paths = [
        "/api/v1.0/documenttypes",
        "/api/v1.0/documenttypes/45",
        "/api/v1.0/documenttypes/45/versions/451",
        "/api/v1.0/notifications/taxpayer",
        "/api/v1.0/taxpayer/validate/C25845632020?idType=BRN&idValue=202001234567",
        "/api/v1.0/documents/recent",
        "/api/v1.0/documentsubmissions/ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "/api/v1.0/documents/ABCDEFGHIJKLMNOPQRSTUVWXYZ/raw",
        "/api/v1.0/documents/ABCDEFGHIJKLMNOPQRSTUVWXYZ/details",
        "/api/v1.0/documents/search",
        "/api/v1.0/taxpayer/search/tin?taxpayerName=Demo",
        "/api/v1.0/taxpayers/qrcodeinfo/4e1bc907-25b7-45b1-9620-2d671a6f9cae",
    ];
    for path in paths {
        for t in [token.as_str(), "not-a-token", "a.b.c"] {
            let (status, headers, body) = h.get(t, path).await;
            assert_eq!(status, 401, "{path}");
            assert_envelope(&body, "Unauthorized");
            assert!(headers.contains_key("correlationId"));
        }
    }
    let (status, _, body) = h.submit(&token, &submission(vec![])).await;
    assert_eq!(status, 401);
    assert_envelope(&body, "Unauthorized");
    let (status, _, _) = h
        .put_json(
            &token,
            "/api/v1.0/documents/state/ABCDEFGHIJKLMNOPQRSTUVWXYZ/state",
            &serde_json::json!({"status":"cancelled","reason":"x"}),
        )
        .await;
    assert_eq!(status, 401);
    // No Authorization header at all.
    let resp = h
        .http
        .get(h.url("/api/v1.0/documenttypes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

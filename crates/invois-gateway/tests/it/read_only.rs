//! Read-only API keys over HTTP, on the gateway's whole surface (the ERP API, the webhook
//! log, the dashboard): every read answers, every write is 403 `read_only_key` in the error
//! envelope and changes nothing, and the dashboard offers a read-only session no action.
//! The writes are taken from the served route table, so a write route added later is
//! checked without being listed here. On SQLite and, when `TEST_DATABASE_URL` is set,
//! PostgreSQL (the `scope` column's migration on both).

use std::sync::Arc;

use crate::hooks_common::*;
use invois_client::Client;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::PipelineConfig;
use invois_gateway::service::Gateway;
use invois_gateway::store::*;
use serde_json::Value;

store_cases!(a_read_only_key_reads_everything_and_writes_nothing);

/// The gateway's HTTP surface on port 0, with a MyInvois that is never reached.
async fn serve(store: &Arc<Store>, clock: &invois_clock::Clock) -> String {
    let client = Client::builder()
        .api_base("http://127.0.0.1:9")
        .credentials("read-only-test", "unused")
        .clock(clock.clone())
        .build()
        .unwrap();
    let pool = ClientPool::new(client, LoginMode::Taxpayer);
    let gateway = Gateway::new(store.clone(), pool, None, PipelineConfig::default());
    let app = gateway.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A route's path template with each parameter filled in.
fn fill(template: &str, id: DocumentId) -> String {
    template
        .replace("{id}", &id.0.to_string())
        .replace("{issuer_tin}", "C1")
        .replace("{type}", "01")
        .replace("{internal_id}", "RO-1")
        .replace("{uuid}", "F9D425P6DS7D8IU8ENCQEA5AQ1")
        .replace("{client_id}", "read-only-test")
        .replace("{number}", "R-1")
}

/// Asserts `response` is the read-only refusal, in the one error envelope.
async fn refused(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 403, "{what}");
    assert!(response.headers().contains_key("correlationid"), "{what}");
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["code"], "read_only_key", "{what}: {body}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`audit` is read-only") && message.contains("full access"),
        "{what}: {message}"
    );
    assert!(error["correlation_id"].is_string(), "{what}: {body}");
}

mod cases {
    use super::*;

    pub(super) async fn a_read_only_key_reads_everything_and_writes_nothing(h: Harness) {
        let store = h.store.clone();
        let (full, full_key) = store.api_keys().create("erp").await.unwrap();
        let (ro, ro_key) = store
            .api_keys()
            .create_scoped("audit", ApiKeyScope::ReadOnly)
            .await
            .unwrap();
        assert_eq!(
            (full.scope, ro.scope),
            (ApiKeyScope::Full, ApiKeyScope::ReadOnly)
        );
        // The scope is stored: it reads back by the key and in the listing.
        let found = store.api_keys().verify(ro_key.expose()).await.unwrap();
        assert_eq!(found.map(|k| k.scope), Some(ApiKeyScope::ReadOnly));
        let listed: Vec<ApiKeyScope> = store
            .api_keys()
            .list()
            .await
            .unwrap()
            .iter()
            .map(|k| k.scope)
            .collect();
        assert_eq!(listed, [ApiKeyScope::Full, ApiKeyScope::ReadOnly]);
        let driven = drive(&store, "C1").await;
        let id = driven.rejected;
        let before = store.documents().get(id).await.unwrap();
        let base = serve(&store, &h.clock).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        // Reads: every GET route of the API and the webhook log answers the read-only key.
        for path in [
            "/v1/documents".to_owned(),
            format!("/v1/documents/{}", id.0),
            format!("/v1/documents/{}", driven.cancelled.0),
            "/v1/submissions".to_owned(),
            "/v1/received".to_owned(),
            "/v1/receipts".to_owned(),
            "/v1/consolidations".to_owned(),
            "/v1/webhooks/deliveries".to_owned(),
            "/dashboard".to_owned(),
            "/dashboard/documents".to_owned(),
            format!("/dashboard/documents/{}", id.0),
            "/dashboard/received".to_owned(),
            "/dashboard/consolidations".to_owned(),
        ] {
            let response = http
                .get(format!("{base}{path}"))
                .bearer_auth(ro_key.expose())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "GET {path}");
            if path.starts_with("/dashboard") {
                // Pages offer a read-only session no action: the only form posting anything
                // is signing out.
                let html = response.text().await.unwrap();
                let posts = html.matches("method=\"post\"").count();
                let logout = html.matches("action=\"/dashboard/logout\"").count();
                assert_eq!(posts, logout, "GET {path} offers an action: {html}");
            }
        }
        // Every other GET route is a read as well: none refuses the key (whatever else it
        // answers about these made-up ids).
        for (method, template) in invois_gateway::http::served_routes() {
            if method != "GET" {
                continue;
            }
            let path = fill(template, driven.cancelled);
            let response = http
                .get(format!("{base}{path}"))
                .bearer_auth(ro_key.expose())
                .send()
                .await
                .unwrap();
            assert_ne!(response.status(), 403, "GET {path}");
        }

        // Writes: every route that is not a GET, API and webhook log, is refused.
        let mut writes = 0;
        for (method, template) in invois_gateway::http::served_routes() {
            if method == "GET" {
                continue;
            }
            let path = fill(template, id);
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = http
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(ro_key.expose())
                .header("content-type", "application/json")
                .body(r#"{"reason":"x","kind":"credit_note","internal_id":"N-1"}"#)
                .send()
                .await
                .unwrap();
            refused(response, &format!("{method} {path}")).await;
            writes += 1;
        }
        assert!(writes >= 12, "only {writes} write routes");
        // The OpenAPI document says so for each of them.
        let doc: Value = serde_json::from_str(invois_gateway::http::openapi_json()).unwrap();
        for (method, template) in invois_gateway::http::served_routes() {
            if method == "GET" {
                continue;
            }
            let op = &doc["paths"][template][method.to_ascii_lowercase()];
            let described = &op["responses"]["403"]["description"];
            assert!(
                described
                    .as_str()
                    .is_some_and(|d| d.contains("read_only_key")),
                "{method} {template}: {op}"
            );
        }
        // The full key is not refused (the 403 is the scope's): a receipt it posts is stored.
        let response = http
            .post(format!("{base}/v1/receipts"))
            .bearer_auth(full_key.expose())
            .json(&serde_json::json!({
                "issuer_tin": "C1", "number": "R-FULL", "issued_at": "2026-02-27T10:00:00+08:00",
                "amount": "10.00", "tax_type": "06", "tax_rate": "0", "tax_amount": "0.00"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());

        // The dashboard's forms, by bearer key and by a session of the read-only key.
        let login = http
            .post(format!("{base}/dashboard/login"))
            .form(&[("key", ro_key.expose())])
            .send()
            .await
            .unwrap();
        assert!(login.status().is_redirection(), "a read-only key signs in");
        let cookie = login.headers()["set-cookie"].to_str().unwrap();
        let session = cookie.split(';').next().unwrap().to_owned();
        let forms = [
            (format!("/dashboard/documents/{}/retry", id.0), vec![]),
            (
                format!("/dashboard/documents/{}/cancel", id.0),
                vec![("reason", "x")],
            ),
            (
                format!("/dashboard/documents/{}/notes", id.0),
                vec![("kind", "credit_note"), ("internal_id", "N-1")],
            ),
            (
                "/dashboard/received/F9D425P6DS7D8IU8ENCQEA5AQ1/accept".to_owned(),
                vec![],
            ),
            (
                "/dashboard/received/F9D425P6DS7D8IU8ENCQEA5AQ1/reject".to_owned(),
                vec![("reason", "x")],
            ),
            (
                "/dashboard/consolidations".to_owned(),
                vec![("issuer_tin", "C1"), ("month", "2026-02")],
            ),
        ];
        for (path, form) in &forms {
            let by_key = http
                .post(format!("{base}{path}"))
                .bearer_auth(ro_key.expose())
                .form(form)
                .send()
                .await
                .unwrap();
            refused(by_key, &format!("POST {path} (bearer)")).await;
            let by_session = http
                .post(format!("{base}{path}"))
                .header("cookie", &session)
                .form(form)
                .send()
                .await
                .unwrap();
            refused(by_session, &format!("POST {path} (session)")).await;
        }
        // Signing out is not a write.
        let out = http
            .post(format!("{base}/dashboard/logout"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert!(out.status().is_redirection(), "{}", out.status());

        // Nothing changed: the document, its events, the receipts (only the full key's).
        let after = store.documents().get(id).await.unwrap();
        assert_eq!(after, before);
        let receipts = store
            .receipts()
            .list(&ReceiptFilter::default())
            .await
            .unwrap();
        let numbers: Vec<&str> = receipts.iter().map(|r| r.receipt.number.as_str()).collect();
        assert_eq!(numbers, ["R-FULL"]);
        assert!(
            store
                .consolidations()
                .list(None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

//! Shared helpers: start a sandbox on port 0, log in, build submissions from the official
//! samples (read from the reference folder, adapted to the fixture and the clock).
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use invois_sandbox::{Clock, RunningSandbox, SandboxConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const SUPPLIER_TIN: &str = "C25845632020";
pub const BUYER_TIN: &str = "C10987654320";

pub struct Harness {
    pub running: RunningSandbox,
    pub http: reqwest::Client,
}

pub fn config() -> SandboxConfig {
    SandboxConfig {
        validation_delay: Duration::from_secs(5),
        // Fixed start, real speed: tests move it with `advance`.
        clock: Clock::starting_at(Utc::now(), 1.0),
        ..SandboxConfig::default()
    }
}

pub async fn start() -> Harness {
    start_with(config()).await
}

pub async fn start_with(config: SandboxConfig) -> Harness {
    let running = invois_sandbox::spawn(config, true).await.expect("spawn");
    Harness {
        running,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    }
}

pub struct Creds {
    pub client_id: String,
    pub secret: String,
    pub on_behalf_of: Option<String>,
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url)
    }

    pub fn admin(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.running.admin_url.as_deref().expect("admin")
        )
    }

    pub fn clock(&self) -> &Clock {
        self.running.clock()
    }

    pub fn advance(&self, secs: u64) {
        self.clock().advance(Duration::from_secs(secs));
    }

    fn creds(&self, role: &str, n: usize) -> Creds {
        let c = self
            .running
            .credentials
            .iter()
            .filter(|c| c.role == role)
            .nth(n)
            .expect("credential");
        Creds {
            client_id: c.client_id.clone(),
            secret: c.client_secret.clone().expect("demo secret"),
            on_behalf_of: c.represents.first().cloned(),
        }
    }

    pub fn supplier(&self) -> Creds {
        self.creds("taxpayer", 0)
    }

    pub fn buyer(&self) -> Creds {
        self.creds("taxpayer", 1)
    }

    pub fn intermediary(&self) -> Creds {
        self.creds("intermediary", 0)
    }

    pub async fn login_raw(
        &self,
        form: &[(&str, &str)],
        on_behalf_of: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url("/connect/token")).form(form);
        if let Some(obo) = on_behalf_of {
            req = req.header("onbehalfof", obo);
        }
        req.send().await.expect("send")
    }

    pub async fn token(&self, c: &Creds) -> String {
        let resp = self
            .login_raw(
                &[
                    ("client_id", &c.client_id),
                    ("client_secret", &c.secret),
                    ("grant_type", "client_credentials"),
                    ("scope", "InvoicingAPI"),
                ],
                c.on_behalf_of.as_deref(),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        split(resp).await
    }

    pub async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("send");
        split(resp).await
    }

    pub async fn put_json(
        &self,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("send");
        split(resp).await
    }

    pub async fn submit(
        &self,
        token: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.post_json(token, "/api/v1.0/documentsubmissions", body)
            .await
    }

    /// Submits one invoice and returns its uuid (after the submission is accepted).
    pub async fn submit_one(
        &self,
        token: &str,
        internal_id: &str,
        buyer: &str,
    ) -> (String, String) {
        let doc = invoice(internal_id, self.clock().now(), SUPPLIER_TIN, buyer);
        let (status, _, body) = self
            .submit(token, &submission(vec![entry_json(&doc, internal_id)]))
            .await;
        assert_eq!(status, 202, "{body}");
        (
            body["acceptedDocuments"][0]["uuid"]
                .as_str()
                .expect("uuid")
                .to_owned(),
            body["submissionUid"].as_str().expect("uid").to_owned(),
        )
    }

    /// Moves the clock past the validation delay and waits until the submission is final.
    pub async fn settle(&self, token: &str, submission_uid: &str) -> Value {
        self.advance(10);
        for _ in 0..200 {
            let (status, _, body) = self
                .get(
                    token,
                    &format!("/api/v1.0/documentsubmissions/{submission_uid}"),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            if body["overallStatus"] != "in progress" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("submission {submission_uid} never finished validating");
    }
}

pub async fn split(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, headers, body)
}

/// A 1.0 fixture of the project's (`invois_testkit::fixtures`) as JSON.
pub fn fixture_json(kind: invois_testkit::Kind) -> Value {
    invois_testkit::fixture_json(invois_testkit::Version::V1_0, kind)
}

/// A 1.0 fixture as XML text.
pub fn fixture_xml(kind: invois_testkit::Kind) -> String {
    invois_testkit::fixture_xml(invois_testkit::Version::V1_0, kind)
}

/// Sets ID, issue date/time, supplier and buyer TINs of a JSON document (the testkit's
/// adapter, returning the document for the tests' builder style).
pub fn adapt(
    mut doc: Value,
    internal_id: &str,
    issued: DateTime<Utc>,
    supplier: &str,
    buyer: &str,
) -> Value {
    invois_testkit::samples::adapt_json(&mut doc, internal_id, issued, supplier, buyer);
    doc
}

/// The payable amount of the invoice fixture, as the JSON number it carries.
pub fn invoice_payable() -> Value {
    fixture_json(invois_testkit::Kind::Invoice)["Invoice"][0]["LegalMonetaryTotal"][0]
        ["PayableAmount"][0]["_"]
        .clone()
}

pub fn invoice(internal_id: &str, issued: DateTime<Utc>, supplier: &str, buyer: &str) -> Value {
    adapt(
        fixture_json(invois_testkit::Kind::Invoice),
        internal_id,
        issued,
        supplier,
        buyer,
    )
}

pub fn entry_bytes(format: &str, bytes: &[u8], code: &str) -> Value {
    json!({
        "format": format,
        "document": STANDARD.encode(bytes),
        "documentHash": hex::encode(Sha256::digest(bytes)),
        "codeNumber": code,
    })
}

pub fn entry_json(doc: &Value, code: &str) -> Value {
    entry_bytes("JSON", &serde_json::to_vec(doc).expect("json"), code)
}

pub fn submission(entries: Vec<Value>) -> Value {
    json!({ "documents": entries })
}

/// Asserts the OData envelope with `code`; returns the error object.
pub fn assert_envelope(body: &Value, code: &str) -> Value {
    let err = body
        .get("error")
        .unwrap_or_else(|| panic!("no error member: {body}"));
    assert_eq!(err["code"], code, "{body}");
    assert!(err.get("message").is_some(), "{body}");
    assert!(err.get("target").is_some(), "{body}");
    assert!(err.get("details").is_some(), "{body}");
    err.clone()
}

//! The ERP API over real HTTP: the router served on 127.0.0.1:0 and driven with reqwest, on a
//! SQLite store (always) and a PostgreSQL store (when `TEST_DATABASE_URL` is set, one schema
//! per case), with a real `ClientPool` logged in to a real sandbox on port 0.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use invois_api::submission::WireDocument;
use invois_client::api::DocumentStatus;
use invois_client::api::submission::{DocumentFormat as WireFormat, DocumentSubmission};
use invois_client::{Client, DocumentSubmissionExt};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::document_errors::{DocumentError, ErrorStage};
use invois_gateway::http::{self, ApiState};
use invois_gateway::store::*;
use invois_testkit::{TestSandbox, samples};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What a case gets: the store, its clock, and a way to break the store (for `/ready`).
struct Harness {
    store: Arc<Store>,
    clock: Clock,
    raw: Raw,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    /// Makes the store fail every query on documents and on their kept per-state counts
    /// (both dialects rename the same way).
    async fn break_documents(&self) {
        for sql in [
            "ALTER TABLE documents RENAME TO documents_gone",
            "ALTER TABLE document_state_counts RENAME TO document_state_counts_gone",
        ] {
            match self {
                Raw::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()).unwrap(),
                Raw::Pg(p) => sqlx::query(sql).execute(p).await.map(|_| ()).unwrap(),
            }
        }
    }
}

fn start_clock() -> Clock {
    Clock::starting_at(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap(), 1.0)
}

async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = crate::common::SqliteFile::new();
    let url = dir.url();
    let clock = start_clock();
    let store = Store::open(&url, clock.clone()).await.unwrap();
    let raw = Raw::Sqlite(store.db().sqlite_pool().unwrap().clone());
    let harness = Harness {
        store: Arc::new(store),
        clock,
        raw,
    };
    tokio::spawn(case(harness)).await.unwrap();
    drop(dir);
}

async fn run_pg<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Harness) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    crate::common::with_pg_schema(name, |options| async move {
        let clock = start_clock();
        let store = crate::common::pg_store(options, clock.clone()).await;
        let harness = Harness {
            store: Arc::new(store.clone()),
            clock,
            raw: Raw::Pg(store.db().pg_pool().unwrap().clone()),
        };
        crate::common::run_then_close(store, harness, case).await;
    })
    .await;
}

macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_sqlite(super::cases::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_pg(stringify!($name), super::cases::$name).await;
                }
            )*
        }
    };
}

api_tests!(
    auth_is_required_and_checked,
    submit_json_xml_and_many_idempotently,
    new_versions_only_after_invalid_or_rejected,
    get_list_filter_and_page,
    cancel_checks_then_cancels_at_myinvois,
    hostile_input_gets_clear_4xx,
    health_ready_and_openapi_cover_every_route,
    submissions_are_listed_without_payloads,
    intermediary_documents_go_on_behalf_of_their_issuer,
    conflicts_say_what_each_state_allows,
    versions_are_listed_by_key,
    undated_documents_get_the_intake_time,
    a_note_finds_its_original_by_id,
    a_repeated_json_key_is_rejected_locally,
    every_state_has_a_way_forward,
);

/// The gateway API served on port 0 against a sandbox, with one API key.
struct App {
    base: String,
    key: String,
    http: reqwest::Client,
    sandbox: TestSandbox,
    pool: ClientPool,
}

impl App {
    async fn start(h: &Harness) -> App {
        App::start_with(h, http::DEFAULT_MAX_BODY_BYTES).await
    }

    async fn start_with(h: &Harness, max_body_bytes: usize) -> App {
        App::start_as(h, max_body_bytes, LoginMode::Taxpayer).await
    }

    async fn start_as(h: &Harness, max_body_bytes: usize, mode: LoginMode) -> App {
        // A scaled clock: the client's poller waits on it, so validation is seconds away.
        let sandbox = TestSandbox::builder()
            .time_scale(60.0)
            .validation_delay(Duration::from_secs(3))
            .start()
            .await
            .unwrap();
        let login = match mode {
            LoginMode::Taxpayer => sandbox.supplier(),
            LoginMode::Intermediary => sandbox.intermediary(),
        };
        let client = Client::builder()
            .api_base(sandbox.base_url())
            .portal_base("https://preprod.myinvois.hasil.gov.my")
            .credentials(login.client_id, login.client_secret.as_str())
            .clock(sandbox.clock().clone())
            .build()
            .unwrap();
        let pool = ClientPool::new(client, mode);
        let state = ApiState::new(h.store.clone(), pool.clone(), h.clock.clone())
            .with_max_body_bytes(max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, http::router(state)).await.unwrap();
        });
        let (_, secret) = h.store.api_keys().create("erp").await.unwrap();
        App {
            base: format!("http://{addr}"),
            key: secret.expose().to_owned(),
            http: reqwest::Client::new(),
            sandbox,
            pool,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)).bearer_auth(&self.key))
            .await
    }

    async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(&self.key)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post(path, "application/json", serde_json::to_vec(body).unwrap())
            .await
    }

    fn supplier_tin(&self) -> String {
        self.sandbox.supplier().tin
    }

    /// A valid UBL JSON invoice with this internal id, issued by the sandbox's supplier.
    fn invoice(&self, internal_id: &str) -> Value {
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        let issued = self.sandbox.clock().now() - chrono::Duration::minutes(5);
        samples::adapt_json(
            &mut doc,
            internal_id,
            issued,
            &self.supplier_tin(),
            &self.sandbox.buyer().tin,
        );
        doc
    }

    /// The same as UBL XML.
    fn invoice_xml(&self, internal_id: &str) -> String {
        let xml = invois_testkit::fixture_xml(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        let issued = self.sandbox.clock().now() - chrono::Duration::minutes(5);
        samples::adapt_xml(
            &xml,
            internal_id,
            issued,
            &self.supplier_tin(),
            &self.sandbox.buyer().tin,
        )
    }

    async fn submit(&self, doc: &Value) -> Value {
        let (status, body) = self.post_json("/v1/documents", doc).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body
    }
}

/// invois's own document JSON (the model's example) with this internal id.
fn own_document(internal_id: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../invois-model/examples/simple-invoice.json"
    );
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["id"] = json!(internal_id);
    doc
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

const LEASE: Duration = Duration::from_secs(60);

/// Moves a received document to `rejected_locally` through the store's own transitions.
async fn reject_locally(store: &Store, id: i64) {
    let claimed = store
        .documents()
        .claim_received("test", 100, LEASE)
        .await
        .unwrap();
    assert!(claimed.iter().any(|d| d.id.0 == id));
    for d in claimed {
        if d.id.0 == id {
            store
                .documents()
                .mark_rejected_locally(
                    d.id,
                    "test",
                    &crate::common::errors(ErrorStage::LocalValidation, "CF001"),
                )
                .await
                .unwrap();
        } else {
            // Put the others back by preparing them (they are not used further).
            store
                .documents()
                .mark_prepared(
                    d.id,
                    "test",
                    &WireDocument::new(d.format, d.received.clone()),
                )
                .await
                .unwrap();
        }
    }
}

/// Submits `bytes` (UBL JSON) to the sandbox with the pool's client and waits until MyInvois
/// validated it; returns its uuid, longId and link.
async fn valid_at_myinvois(app: &App, internal_id: &str, bytes: &[u8]) -> (String, String, String) {
    let client = app.pool.client(None).unwrap();
    let submitted = client
        .submissions()
        .submit(vec![DocumentSubmission::from_bytes(
            WireFormat::Json,
            bytes,
            internal_id,
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.accepted_documents.len(), 1, "{submitted:?}");
    let outcome = client
        .submissions()
        .poll(submitted.submission_uid.clone().unwrap())
        .expected_documents(1)
        .send()
        .await
        .unwrap();
    let d = &outcome.documents[0];
    assert_eq!(d.status, DocumentStatus::Valid, "{d:?}");
    (
        d.uuid.clone(),
        d.long_id.clone().unwrap_or_default(),
        d.validation_link.clone().unwrap_or_default(),
    )
}

/// Walks a stored document through the store's transitions to `valid` with this uuid.
async fn make_valid(store: &Store, id: i64, uuid: &str, long_id: &str, link: &str) {
    let claimed = store
        .documents()
        .claim_received("w", 100, LEASE)
        .await
        .unwrap();
    let doc = claimed.into_iter().find(|d| d.id.0 == id).unwrap();
    store
        .documents()
        .mark_prepared(
            doc.id,
            "w",
            &WireDocument::new(doc.format, doc.received.clone()),
        )
        .await
        .unwrap();
    let batch = store
        .documents()
        .claim_for_batch("w", 1, 5_000_000, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.documents.len(), 1);
    assert_eq!(batch.documents[0].id.0, id);
    let sub = store
        .submissions()
        .record_intent(SubmissionIntent {
            worker: "w".to_owned(),
            client_id: batch.client_id.clone(),
            on_behalf_of: batch.on_behalf_of.clone(),
            document_ids: vec![doc.id],
            payload: b"{\"documents\":[]}".to_vec(),
            lease: LEASE,
        })
        .await
        .unwrap();
    store
        .submissions()
        .record_accepted(
            sub.id,
            &SubmissionAccepted {
                submission_uid: format!("SUB-{uuid}"),
                accepted: vec![(doc.id, uuid.to_owned())],
                rejected: vec![],
            },
        )
        .await
        .unwrap();
    let changed = store
        .submissions()
        .record_validation_results(&[ValidationUpdate {
            uuid: uuid.to_owned(),
            outcome: ValidationOutcome::Valid {
                long_id: Some(long_id.to_owned()),
                validation_link: Some(link.to_owned()),
            },
        }])
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

mod cases {
    pub(super) use super::issue12_cases::*;
    use super::*;

    pub(super) async fn auth_is_required_and_checked(h: Harness) {
        let app = App::start(&h).await;
        let url = app.url("/v1/documents");
        // No header.
        let resp = app.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), "unauthorized");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Bearer"),
            "{body}"
        );
        // Wrong scheme, empty token, unknown key.
        for value in ["Basic Zm9vOmJhcg==", "Bearer ", "Bearer ivk_0000"] {
            let resp = app
                .http
                .get(&url)
                .header("authorization", value)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{value}");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        }
        // Every /v1 route is behind the key, also for writes.
        let resp = app
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&app.invoice("NOAUTH-1")).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(
            h.store
                .documents()
                .find(&DocumentKey {
                    issuer_tin: app.supplier_tin(),
                    type_code: "01".to_owned(),
                    internal_id: "NOAUTH-1".to_owned(),
                })
                .await
                .unwrap()
                .is_none(),
            "nothing stored without a key"
        );
        for path in ["/v1/submissions", "/v1/documents/1", "/v1/documents/A/01/B"] {
            let resp = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        // The right key passes; the scheme is case-insensitive.
        let (status, _) = app.get("/v1/documents").await;
        assert_eq!(status, StatusCode::OK);
        let resp = app
            .http
            .get(&url)
            .header("authorization", format!("bearer {}", app.key))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // A revoked key no longer passes; another key still does.
        let (record, other) = h.store.api_keys().create("second").await.unwrap();
        h.store.api_keys().revoke(record.id).await.unwrap();
        let resp = app
            .http
            .get(&url)
            .bearer_auth(other.expose())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let (status, _) = app.get("/v1/documents").await;
        assert_eq!(status, StatusCode::OK);
    }

    pub(super) async fn submit_json_xml_and_many_idempotently(h: Harness) {
        let app = App::start(&h).await;
        let tin = app.supplier_tin();
        // One UBL JSON document.
        let doc = app.invoice("J-1");
        let first = app.submit(&doc).await;
        assert_eq!(first["created"], true, "{first}");
        assert_eq!(first["issuer_tin"], tin.as_str());
        assert_eq!(first["type_code"], "01");
        assert_eq!(first["internal_id"], "J-1");
        assert_eq!(first["version"], 1);
        assert_eq!(first["state"], "received");
        let id = first["id"].as_i64().unwrap();
        let stored = h.store.documents().get(DocumentId(id)).await.unwrap();
        assert_eq!(stored.format, DocumentFormat::Json);
        assert_eq!(
            stored.received,
            serde_json::to_vec(&doc).unwrap(),
            "stored as received"
        );
        assert_eq!(stored.client_id, app.pool.client_id());
        assert_eq!(stored.on_behalf_of, None, "taxpayer login: no onbehalfof");

        // The same bytes again: the same document, not created.
        let again = app.submit(&doc).await;
        assert_eq!(again["id"], id);
        assert_eq!(again["created"], false);

        // The same document written otherwise (as ERPs do when they retry) is the same
        // document: pretty-printed, members in another order, or as XML.
        let pretty = serde_json::to_vec_pretty(&doc).unwrap();
        let (status, body) = app.post("/v1/documents", "application/json", pretty).await;
        assert_eq!(
            (status, &body["id"], &body["created"]),
            (StatusCode::ACCEPTED, &json!(id), &json!(false)),
            "{body}"
        );
        let member = |k: &str| serde_json::to_string(&doc[k]).unwrap();
        let reordered = format!(
            "{{\"Invoice\":{},\"_B\":{},\"_A\":{},\"_D\":{}}}",
            member("Invoice"),
            member("_B"),
            member("_A"),
            member("_D")
        );
        let (status, body) = app
            .post("/v1/documents", "application/json", reordered.into_bytes())
            .await;
        assert_eq!(
            (status, &body["created"]),
            (StatusCode::ACCEPTED, &json!(false)),
            "{body}"
        );
        assert_eq!(body["id"], id);
        let as_xml = invois_model::Document::parse(&serde_json::to_vec(&doc).unwrap())
            .unwrap()
            .to_xml_string();
        let (status, body) = app
            .post("/v1/documents", "application/xml", as_xml.into_bytes())
            .await;
        assert_eq!(
            (status, &body["created"]),
            (StatusCode::ACCEPTED, &json!(false)),
            "{body}"
        );
        assert_eq!(body["id"], id);

        // The same key with other content: 409, pointing at new versions.
        let mut changed = doc.clone();
        changed["Invoice"][0]["DocumentCurrencyCode"] = json!([{ "_": "USD" }]);
        let (status, body) = app.post_json("/v1/documents", &changed).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "conflict");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("new version"),
            "{body}"
        );
        // A real difference is named by its field.
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("the first difference is at $.Invoice[0].DocumentCurrencyCode[0]._"),
            "{body}"
        );
        assert_eq!(
            h.store
                .documents()
                .get(DocumentId(id))
                .await
                .unwrap()
                .received,
            stored.received,
            "the stored document is untouched"
        );

        // One UBL XML document.
        let xml = app.invoice_xml("X-1");
        let (status, body) = app
            .post("/v1/documents", "application/xml", xml.clone().into_bytes())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["internal_id"], "X-1");
        assert_eq!(body["issuer_tin"], tin.as_str());
        let x = h
            .store
            .documents()
            .get(DocumentId(body["id"].as_i64().unwrap()))
            .await
            .unwrap();
        assert_eq!(x.format, DocumentFormat::Xml);
        assert_eq!(x.received, xml.as_bytes());
        // text/xml with a charset is XML too; a repeat is idempotent.
        let (status, body) = app
            .post(
                "/v1/documents",
                "text/xml; charset=utf-8",
                xml.clone().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["created"], false);

        // invois's own JSON: stored as the UBL JSON it builds, keyed from it, idempotent.
        let own = own_document("OWN-1");
        let body = app.submit(&own).await;
        assert_eq!(body["created"], true, "{body}");
        assert_eq!(body["internal_id"], "OWN-1");
        assert_eq!(body["issuer_tin"], own["supplier"]["tin"]);
        assert_eq!(body["type_code"], "01");
        let stored_own = h
            .store
            .documents()
            .get(DocumentId(body["id"].as_i64().unwrap()))
            .await
            .unwrap();
        assert_eq!(stored_own.format, DocumentFormat::Json);
        let ubl = invois_model::Document::parse(&stored_own.received).unwrap();
        assert_eq!(ubl.id(), Some("OWN-1"));
        assert!(
            stored_own.received.windows(4).any(|w| w == b"\"_D\""),
            "stored as UBL JSON"
        );
        let again = app.submit(&own).await;
        assert_eq!(again["created"], false);
        assert_eq!(again["id"], body["id"]);

        // Many: a JSON string, a JSON object, an XML string, a repeat of J-1.
        let many = json!({ "documents": [
            { "format": "json", "document": serde_json::to_string(&app.invoice("M-1")).unwrap() },
            { "format": "json", "document": app.invoice("M-2") },
            { "format": "xml", "document": app.invoice_xml("M-3") },
            { "document": doc },
        ]});
        let (status, body) = app.post_json("/v1/documents", &many).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["accepted"], 4);
        assert_eq!(body["failed"], 0);
        let results = body["documents"].as_array().unwrap();
        let ids: Vec<&str> = results
            .iter()
            .map(|r| r["internal_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["M-1", "M-2", "M-3", "J-1"]);
        assert_eq!(results[0]["created"], true);
        assert_eq!(results[3]["created"], false);
        assert_eq!(results[3]["id"], id);
        assert_eq!(results[2]["index"], 2);
        let m3 = h
            .store
            .documents()
            .get(DocumentId(results[2]["id"].as_i64().unwrap()))
            .await
            .unwrap();
        assert_eq!(m3.format, DocumentFormat::Xml);

        // Many with bad entries: each reported at its index, the good ones stored.
        let mixed = json!({ "documents": [
            { "format": "json", "document": app.invoice("M-4") },
            { "format": "json", "document": "{ not json" },
            { "format": "xml", "document": app.invoice("M-5") },
            { "format": "pdf", "document": "x" },
            { "format": "json", "document": changed },
        ]});
        let (status, body) = app.post_json("/v1/documents", &mixed).await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
        assert_eq!(body["accepted"], 1);
        assert_eq!(body["failed"], 4);
        let r = body["documents"].as_array().unwrap();
        assert_eq!(r[0]["status"], 202);
        assert_eq!(r[0]["internal_id"], "M-4");
        assert_eq!(r[1]["status"], 400);
        assert_eq!(error_code(&r[1]), "malformed_document");
        assert!(
            r[1]["error"]["field"]
                .as_str()
                .unwrap()
                .starts_with("documents[1].document: line 1"),
            "{}",
            r[1]
        );
        assert_eq!(r[2]["status"], 400);
        assert_eq!(r[2]["error"]["field"], "documents[2].document");
        assert_eq!(r[3]["status"], 400);
        assert_eq!(r[3]["error"]["field"], "documents[3].format");
        assert_eq!(r[4]["status"], 409);
        assert_eq!(error_code(&r[4]), "conflict");
        let page = h
            .store
            .documents()
            .list(&DocumentFilter::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 7, "J-1, X-1, OWN-1, M-1..M-4");
    }

    pub(super) async fn new_versions_only_after_invalid_or_rejected(h: Harness) {
        let app = App::start(&h).await;
        let tin = app.supplier_tin();
        let doc = app.invoice("V-1");
        let first = app.submit(&doc).await;
        let id = first["id"].as_i64().unwrap();
        let versions = format!("/v1/documents/{tin}/01/V-1/versions");
        let mut fixed = doc.clone();
        fixed["Invoice"][0]["Note"] = json!([{ "_": "corrected" }]);

        // Still received: no new version.
        let (status, body) = app.post_json(&versions, &fixed).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "not_correctable");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is received"),
            "{body}"
        );

        // Rejected locally: a corrected version is version 2.
        reject_locally(h.store.as_ref(), id).await;
        let (status, body) = app.post_json(&versions, &fixed).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["version"], 2);
        assert_eq!(body["created"], true);
        assert_eq!(body["state"], "received");
        let v2 = body["id"].as_i64().unwrap();
        assert_ne!(v2, id);
        // Repeating the correction finds it.
        let (status, body) = app.post_json(&versions, &fixed).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["id"], v2);
        assert_eq!(body["created"], false);
        // A third version while version 2 is received: refused.
        let mut third = fixed.clone();
        third["Invoice"][0]["Note"] = json!([{ "_": "again" }]);
        let (status, body) = app.post_json(&versions, &third).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "not_correctable");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("document {v2} (version 2) is received")),
            "{body}"
        );

        // The key is read by path: the latest version, with version 1 still readable by id.
        let (status, body) = app.get(&format!("/v1/documents/{tin}/01/V-1")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], v2);
        assert_eq!(body["version"], 2);
        let (_, body) = app.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(body["state"], "rejected_locally");
        assert_eq!(body["errors"][0]["code"], "CF001");
        assert_eq!(body["errors"][0]["stage"], "local_validation");

        // A correction must carry the key it is filed under.
        let other = app.invoice("V-OTHER");
        let (status, body) = app.post_json(&versions, &other).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "key_mismatch");
        assert_eq!(body["error"]["field"], "$.Invoice[0].ID[0]._");
        // No such document.
        let (status, body) = app
            .post_json(
                &format!("/v1/documents/{tin}/01/NOPE/versions"),
                &app.invoice("NOPE"),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(error_code(&body), "not_found");
        // An XML correction of an XML document; the path segment is percent-decoded.
        let xml = app.invoice_xml("X/2");
        let (status, body) = app
            .post("/v1/documents", "application/xml", xml.clone().into_bytes())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(
            body["links"]["latest"],
            format!("/v1/documents/{tin}/01/X%2F2")
        );
        reject_locally(h.store.as_ref(), body["id"].as_i64().unwrap()).await;
        let fixed_xml = xml.replace(
            "</cbc:IssueTime>",
            "</cbc:IssueTime><cbc:Note>fixed</cbc:Note>",
        );
        let (status, body) = app
            .post(
                &format!("/v1/documents/{tin}/01/X%2F2/versions"),
                "application/xml",
                fixed_xml.into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["version"], 2);
        assert_eq!(body["internal_id"], "X/2");
    }

    pub(super) async fn get_list_filter_and_page(h: Harness) {
        let app = App::start(&h).await;
        let tin = app.supplier_tin();
        let t0 = h.clock.now();
        let mut ids = Vec::new();
        for i in 0..5 {
            let body = app.submit(&app.invoice(&format!("L-{i}"))).await;
            ids.push(body["id"].as_i64().unwrap());
            h.clock.advance(Duration::from_secs(60));
        }
        // A second issuer, straight into the store.
        h.store
            .documents()
            .insert(NewDocument {
                issuer_tin: "C99999999999".to_owned(),
                type_code: "02".to_owned(),
                internal_id: "OTHER-1".to_owned(),
                version: 1,
                format: DocumentFormat::Json,
                client_id: app.pool.client_id().to_owned(),
                on_behalf_of: None,
                received: b"{}".to_vec(),
            })
            .await
            .unwrap();
        reject_locally(h.store.as_ref(), ids[1]).await;

        // One document, by id and by key, with its status events.
        let (status, one) = app.get(&format!("/v1/documents/{}", ids[1])).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one["internal_id"], "L-1");
        assert_eq!(one["state"], "rejected_locally");
        assert_eq!(one["final"], true);
        assert_eq!(one["uuid"], Value::Null);
        assert_eq!(one["format"], "json");
        let events = one["events"].as_array().unwrap();
        assert_eq!(events.last().unwrap()["state"], "rejected_locally", "{one}");
        let (status, by_key) = app.get(&format!("/v1/documents/{tin}/01/L-1")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(by_key["id"], one["id"]);
        assert_eq!(by_key["events"], one["events"]);

        // Paging: 2 per page over 6 documents.
        let mut seen = Vec::new();
        let mut after: Option<i64> = None;
        let mut pages = 0;
        loop {
            let path = match after {
                Some(a) => format!("/v1/documents?limit=2&after={a}"),
                None => "/v1/documents?limit=2".to_owned(),
            };
            let (status, page) = app.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            pages += 1;
            for d in page["documents"].as_array().unwrap() {
                seen.push(d["id"].as_i64().unwrap());
            }
            match page["next"].as_i64() {
                Some(n) => after = Some(n),
                None => break,
            }
            assert!(pages < 10, "paging does not end");
        }
        assert_eq!(seen.len(), 6);
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(seen, sorted, "id order");

        // Filters.
        let (_, page) = app.get(&format!("/v1/documents?issuer_tin={tin}")).await;
        assert_eq!(page["documents"].as_array().unwrap().len(), 5);
        let (_, page) = app.get("/v1/documents?issuer_tin=C99999999999").await;
        assert_eq!(page["documents"][0]["internal_id"], "OTHER-1");
        let (_, page) = app.get("/v1/documents?state=rejected_locally").await;
        let docs = page["documents"].as_array().unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["id"], ids[1]);
        let from = (t0 + chrono::Duration::seconds(120)).to_rfc3339();
        let before = (t0 + chrono::Duration::seconds(240)).to_rfc3339();
        let (status, page) = app
            .send(
                app.http
                    .get(app.url("/v1/documents"))
                    .query(&[("received_from", &from), ("received_before", &before)])
                    .bearer_auth(&app.key),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let names: Vec<&str> = page["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["internal_id"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["L-2", "L-3"]);

        // Bad queries and ids are named.
        for (path, field) in [
            ("/v1/documents?state=Valid", "state"),
            ("/v1/documents?limit=0", "limit"),
            ("/v1/documents?limit=5000", "limit"),
            ("/v1/documents?after=-3", "after"),
            ("/v1/documents?received_from=yesterday", "received_from"),
            ("/v1/documents/abc", "id"),
            ("/v1/documents/0", "id"),
        ] {
            let (status, body) = app.get(path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_eq!(body["error"]["field"], field, "{path}: {body}");
        }
        let (status, body) = app.get("/v1/documents?colour=blue").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&body), "bad_query");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("colour"),
            "{body}"
        );
        let (status, body) = app.get("/v1/documents/999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&body), "not_found");
        let (status, _) = app.get(&format!("/v1/documents/{tin}/01/NOPE")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    pub(super) async fn cancel_checks_then_cancels_at_myinvois(h: Harness) {
        let app = App::start(&h).await;
        let doc = app.invoice("C-1");
        let bytes = serde_json::to_vec(&doc).unwrap();
        let body = app.submit(&doc).await;
        let id = body["id"].as_i64().unwrap();
        let cancel = format!("/v1/documents/{id}/cancel");

        // Input checks come first.
        for (body, field) in [
            (json!({}), "reason"),
            (json!({ "reason": "  " }), "reason"),
            (json!({ "reason": 7 }), "reason"),
            (json!({ "reason": "x".repeat(301) }), "reason"),
            (json!({ "reason": "ok", "extra": 1 }), "extra"),
        ] {
            let (status, resp) = app.post_json(&cancel, &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
            assert_eq!(resp["error"]["field"], field, "{resp}");
        }
        let (status, resp) = app
            .post(&cancel, "text/plain", b"reason=wrong".to_vec())
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{resp}");
        let (status, resp) = app
            .post(&cancel, "application/json", b"{\"reason\": ".to_vec())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
        assert_eq!(error_code(&resp), "malformed_json");
        let (status, _) = app
            .post_json("/v1/documents/999999/cancel", &json!({ "reason": "x" }))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Not valid yet: 409, and nothing is sent.
        let (status, resp) = app
            .post_json(&cancel, &json!({ "reason": "wrong buyer" }))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{resp}");
        assert_eq!(error_code(&resp), "not_cancellable");
        assert!(
            resp["error"]["message"]
                .as_str()
                .unwrap()
                .contains("received")
        );

        // Valid, with the uuid MyInvois (the sandbox) gave it: a real cancellation.
        let (uuid, long_id, link) = valid_at_myinvois(&app, "C-1", &bytes).await;
        make_valid(h.store.as_ref(), id, &uuid, &long_id, &link).await;
        let (status, got) = app.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got["state"], "valid");
        assert_eq!(got["uuid"], uuid.as_str());
        assert_eq!(got["long_id"], long_id.as_str());
        assert_eq!(got["validation_link"], link.as_str());
        let (status, resp) = app
            .post_json(&cancel, &json!({ "reason": "wrong buyer" }))
            .await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["state"], "cancelled");
        let states: Vec<&str> = resp["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["state"].as_str().unwrap())
            .collect();
        assert_eq!(states.last(), Some(&"cancelled"), "{resp}");
        let raw = app
            .pool
            .client(None)
            .unwrap()
            .documents()
            .raw(&uuid)
            .await
            .unwrap();
        assert_eq!(
            raw.summary.status,
            DocumentStatus::Cancelled,
            "MyInvois has it cancelled"
        );
        // Repeating the request is answered with the cancelled document.
        let (status, resp) = app
            .post_json(&cancel, &json!({ "reason": "wrong buyer" }))
            .await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["state"], "cancelled");

        // Valid in the store, but already cancelled at MyInvois (in the portal, say): MyInvois'
        // IncorrectState is answered as a 409 naming it.
        let doc2 = app.invoice("C-2");
        let bytes2 = serde_json::to_vec(&doc2).unwrap();
        let id2 = app.submit(&doc2).await["id"].as_i64().unwrap();
        let (uuid2, long2, link2) = valid_at_myinvois(&app, "C-2", &bytes2).await;
        make_valid(h.store.as_ref(), id2, &uuid2, &long2, &link2).await;
        app.pool
            .client(None)
            .unwrap()
            .documents()
            .cancel(&uuid2, "in the portal")
            .await
            .unwrap();
        let (status, resp) = app
            .post_json(
                &format!("/v1/documents/{id2}/cancel"),
                &json!({ "reason": "late" }),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{resp}");
        assert_eq!(error_code(&resp), "incorrect_state");
        assert_eq!(
            h.store
                .documents()
                .get(DocumentId(id2))
                .await
                .unwrap()
                .state,
            DocumentState::Valid,
            "a refused cancellation changes nothing"
        );

        // Past the 72 hours after validation: MyInvois' OperationPeriodOver, as a 409.
        let doc3 = app.invoice("C-3");
        let bytes3 = serde_json::to_vec(&doc3).unwrap();
        let id3 = app.submit(&doc3).await["id"].as_i64().unwrap();
        let (uuid3, long3, link3) = valid_at_myinvois(&app, "C-3", &bytes3).await;
        make_valid(h.store.as_ref(), id3, &uuid3, &long3, &link3).await;
        app.sandbox.clock().advance(Duration::from_secs(73 * 3600));
        let (status, resp) = app
            .post_json(
                &format!("/v1/documents/{id3}/cancel"),
                &json!({ "reason": "late" }),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{resp}");
        assert_eq!(error_code(&resp), "cancel_period_over");
        assert!(
            resp["error"]["message"]
                .as_str()
                .unwrap()
                .contains("credit note"),
            "{resp}"
        );
    }

    pub(super) async fn hostile_input_gets_clear_4xx(h: Harness) {
        let app = App::start(&h).await;
        let tin = app.supplier_tin();
        // Malformed JSON: the position.
        let (status, body) = app
            .post(
                "/v1/documents",
                "application/json",
                b"{\"_D\": \"x\",\n \"Invoice\": [}".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "malformed_document");
        assert_eq!(
            body["error"]["field"].as_str().unwrap().split(',').next(),
            Some("line 2")
        );
        // Malformed XML: the byte offset.
        let (status, body) = app
            .post(
                "/v1/documents",
                "application/xml",
                b"<Invoice><cbc:ID>1</Invoice>".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "malformed_document");
        assert!(
            body["error"]["field"]
                .as_str()
                .unwrap()
                .starts_with("byte "),
            "{body}"
        );
        // Content type and content disagree.
        let doc = app.invoice("H-1");
        let (status, body) = app
            .post(
                "/v1/documents",
                "application/xml",
                serde_json::to_vec(&doc).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("declared as XML")
        );
        // Wrong and missing content types.
        let (status, body) = app
            .post(
                "/v1/documents",
                "text/plain",
                serde_json::to_vec(&doc).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        assert_eq!(error_code(&body), "unsupported_media_type");
        let (status, body) = app
            .send(
                app.http
                    .post(app.url("/v1/documents"))
                    .bearer_auth(&app.key)
                    .body(serde_json::to_vec(&doc).unwrap()),
            )
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        // Not a document at all.
        for (bytes, says) in [
            (&b""[..], "empty"),
            (&b"[1, 2]"[..], "neither JSON"),
            (&b"\"text\""[..], "neither JSON"),
            (
                &b"{\"_D\": \"x\", \"Order\": [{}]}"[..],
                "root element is `Order`",
            ),
            (&b"\xff\xfe{"[..], "neither JSON"),
        ] {
            let (status, body) = app
                .post("/v1/documents", "application/json", bytes.to_vec())
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bytes:?}: {body}");
            assert_eq!(error_code(&body), "invalid_document", "{body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(says),
                "{body}"
            );
        }
        // Hostile nesting is refused, not followed down the stack.
        let deep_json = format!(
            "{{\"_D\":\"x\",\"Invoice\":[{}1{}]}}",
            "{\"a\":[".repeat(5000),
            "]}".repeat(5000)
        );
        let (status, body) = app
            .post("/v1/documents", "application/json", deep_json.into_bytes())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let deep_xml = format!(
            "<Invoice>{}{}</Invoice>",
            "<a>".repeat(50_000),
            "</a>".repeat(50_000)
        );
        let (status, body) = app
            .post("/v1/documents", "application/xml", deep_xml.into_bytes())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nested deeper"),
            "{body}"
        );
        // Missing key fields: JSON path for JSON, XPath for XML.
        let mut no_tin = doc.clone();
        no_tin["Invoice"][0]["AccountingSupplierParty"][0]["Party"][0]["PartyIdentification"] =
            json!([]);
        let (status, body) = app.post_json("/v1/documents", &no_tin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["field"]
                .as_str()
                .unwrap()
                .starts_with("$.Invoice[0].AccountingSupplierParty")
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("supplier TIN")
        );
        let mut no_id = doc.clone();
        no_id["Invoice"][0].as_object_mut().unwrap().remove("ID");
        let (_, body) = app.post_json("/v1/documents", &no_id).await;
        assert_eq!(body["error"]["field"], "$.Invoice[0].ID[0]._");
        let xml = app
            .invoice_xml("H-X")
            .replace("<cbc:InvoiceTypeCode", "<cbc:Other")
            .replace("</cbc:InvoiceTypeCode>", "</cbc:Other>");
        let (status, body) = app
            .post("/v1/documents", "application/xml", xml.into_bytes())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "/Invoice/cbc:InvoiceTypeCode");
        // invois's own JSON (no `_D`, no `Invoice`) with a bad field: named by its path.
        let mut own = own_document("OWN-BAD");
        own["lines"][0]["unitPrice"] = json!("12,30");
        let (status, body) = app.post_json("/v1/documents", &own).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "invalid_document");
        assert_eq!(body["error"]["field"], "lines[0].unitPrice", "{body}");
        let (status, body) = app
            .post_json(
                "/v1/documents",
                &json!({ "id": "OWN-1", "supplier": { "tin": tin } }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("invois document JSON"),
            "{body}"
        );
        // Many-document bodies with a bad shape.
        for (body, field) in [
            (json!({ "documents": {} }), "documents"),
            (json!({ "documents": [] }), "documents"),
            (json!({ "documents": [1], "x": 1 }), "x"),
        ] {
            let (status, resp) = app.post_json("/v1/documents", &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
            assert_eq!(resp["error"]["field"], field, "{resp}");
        }
        let too_many = json!({ "documents": vec![json!({"document": "{}"}); 1001] });
        let (status, resp) = app.post_json("/v1/documents", &too_many).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
        assert!(
            resp["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1001 documents")
        );
        // A body over the cap (6 MB by default): 413, nothing stored.
        let mut big = app.invoice("H-BIG");
        big["Invoice"][0]["Note"] = json!([{ "_": "x".repeat(7 * 1024 * 1024) }]);
        let (status, body) = app.post_json("/v1/documents", &big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(error_code(&body), "payload_too_large");
        // The cap is configurable.
        let small = App::start_with(&h, 16 * 1024).await;
        let mut mid = small.invoice("H-MID");
        mid["Invoice"][0]["Note"] = json!([{ "_": "x".repeat(20 * 1024) }]);
        let (status, body) = small.post_json("/v1/documents", &mid).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("16384 bytes"),
            "{body}"
        );
        // Under the cap a document over 300 KB is taken: the pipeline rejects it locally, with
        // an error on the document the ERP can read.
        let mut fat = app.invoice("H-FAT");
        fat["Invoice"][0]["Note"] = json!([{ "_": "x".repeat(400 * 1024) }]);
        let (status, body) = app.post_json("/v1/documents", &fat).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        // Bad paths and methods.
        let long = "x".repeat(200);
        let (status, body) = app.get(&format!("/v1/documents/{tin}/01/{long}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "internal_id");
        let (status, body) = app.get("/v1/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&body), "route_not_found");
        let (status, body) = app
            .send(
                app.http
                    .delete(app.url("/v1/documents"))
                    .bearer_auth(&app.key),
            )
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        assert_eq!(error_code(&body), "method_not_allowed");
        // Only H-FAT was stored.
        let page = h
            .store
            .documents()
            .list(&DocumentFilter::default())
            .await
            .unwrap();
        let stored: Vec<&str> = page.items.iter().map(|d| d.internal_id.as_str()).collect();
        assert_eq!(stored, ["H-FAT"]);
        // The gateway still answers.
        let (status, _) = app.get("/v1/documents").await;
        assert_eq!(status, StatusCode::OK);
    }

    /// Every `$ref` in an OpenAPI document.
    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_owned()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    pub(super) async fn health_ready_and_openapi_cover_every_route(h: Harness) {
        let app = App::start(&h).await;
        let (status, body) = app.send(app.http.get(app.url("/health"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        app.submit(&app.invoice("R-1")).await;
        let (status, body) = app.send(app.http.get(app.url("/ready"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["documents"]["received"], 1);

        // The OpenAPI document lists exactly the routes the router serves.
        let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let spec: Value = resp.json().await.unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        let paths = spec["paths"].as_object().unwrap();
        let mut described = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                described.push((method.to_uppercase(), path.clone()));
            }
        }
        // The ERP API's routes and the webhook log's, which the gateway serves beside them.
        let mut routes: Vec<(String, String)> = http::served_routes()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        described.sort();
        routes.sort();
        assert_eq!(described, routes, "OpenAPI paths vs the router's routes");
        // Every schema a route refers to is in the document (the typed error list included).
        let mut refs = Vec::new();
        collect_refs(&spec, &mut refs);
        assert!(
            refs.iter().any(|r| r.ends_with("/DocumentError")),
            "{refs:?}"
        );
        for r in &refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                spec["components"]["schemas"][name].is_object(),
                "{r} is referred to but not defined"
            );
        }
        // Every listed route is really served (not the fallback), and every /v1 route is
        // described as needing the key.
        for (method, path) in http::routes() {
            let concrete = path
                .replace("{id}", "1")
                .replace("{issuer_tin}", "C1")
                .replace("{type}", "01")
                .replace("{internal_id}", "X");
            let req = app
                .http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&concrete),
                )
                .bearer_auth(&app.key)
                .header("content-type", "application/json")
                .body("{}");
            let (status, body) = app.send(req).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(error_code(&body), "route_not_found", "{method} {path}");
            let op = &spec["paths"][path][method.to_lowercase()];
            if path.starts_with("/v1/") {
                assert_eq!(op["security"], json!([{ "apiKey": [] }]), "{method} {path}");
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
            } else {
                assert_eq!(op["security"], json!([]), "{method} {path}");
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "path" {
                    let name = param["name"].as_str().unwrap();
                    assert!(path.contains(&format!("{{{name}}}")), "{path} {name}");
                }
            }
        }

        // Not ready once the store is gone; still alive.
        h.raw.break_documents().await;
        let (status, body) = app.send(app.http.get(app.url("/ready"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(error_code(&body), "not_ready");
        let (status, _) = app.send(app.http.get(app.url("/health"))).await;
        assert_eq!(status, StatusCode::OK);
    }

    pub(super) async fn submissions_are_listed_without_payloads(h: Harness) {
        let app = App::start(&h).await;
        let mut subs = Vec::new();
        for i in 0..3 {
            let body = app.submit(&app.invoice(&format!("S-{i}"))).await;
            let id = body["id"].as_i64().unwrap();
            let uuid = format!("UUID-{i}");
            make_valid(h.store.as_ref(), id, &uuid, "L", "https://x").await;
            let doc = h.store.documents().get(DocumentId(id)).await.unwrap();
            subs.push(doc.submission_id.unwrap().0);
        }
        let (status, body) = app.get("/v1/submissions?limit=2").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["submissions"].as_array().unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[0]["id"], subs[2], "newest first");
        assert_eq!(page[0]["state"], "accepted");
        assert_eq!(page[0]["document_count"], 1);
        assert_eq!(page[0]["submission_uid"], "SUB-UUID-2");
        let stored = h
            .store
            .submissions()
            .get(SubmissionId(subs[2]))
            .await
            .unwrap();
        assert_eq!(page[0]["payload_sha256"], stored.payload_sha256.as_str());
        assert!(page[0].get("payload").is_none(), "{body}");
        let next = body["next"].as_i64().unwrap();
        let (_, body) = app
            .get(&format!("/v1/submissions?limit=2&before={next}"))
            .await;
        let page = body["submissions"].as_array().unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0]["id"], subs[0]);
        assert_eq!(body["next"], Value::Null);
        let (_, body) = app.get("/v1/submissions?state=refused").await;
        assert_eq!(body["submissions"].as_array().unwrap().len(), 0);
        let (status, body) = app.get("/v1/submissions?state=done").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "state");
        let (status, body) = app.get("/v1/submissions?before=x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "before");
    }

    pub(super) async fn intermediary_documents_go_on_behalf_of_their_issuer(h: Harness) {
        let app = App::start_as(&h, http::DEFAULT_MAX_BODY_BYTES, LoginMode::Intermediary).await;
        let body = app.submit(&app.invoice("I-1")).await;
        let doc = h
            .store
            .documents()
            .get(DocumentId(body["id"].as_i64().unwrap()))
            .await
            .unwrap();
        assert_eq!(doc.client_id, app.sandbox.intermediary().client_id);
        assert_eq!(
            doc.on_behalf_of.as_deref(),
            Some(app.supplier_tin().as_str())
        );
        let (_, got) = app.get(&format!("/v1/documents/{}", doc.id)).await;
        assert_eq!(got["on_behalf_of"], app.supplier_tin().as_str());
    }
}

/// Issue 12: the 409 answers per state, `GET .../versions`, undated documents and notes that
/// name their original by ID only.
mod issue12_cases {
    use super::*;
    use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown};
    use invois_model::model::{ExampleIds, example_with};
    use invois_model::{Document, DocumentType, Format};

    /// A 26-character uuid for a document walked through the store by hand.
    fn fake_uuid(id: i64) -> String {
        format!("TESTUUID{id:018}")
    }

    /// Walks a just-received document (the only one in flight) through the store's own
    /// transitions to `to`.
    async fn walk_to(store: &Store, id: i64, to: DocumentState) {
        use DocumentState as S;
        if to == S::Received {
            return;
        }
        let claimed = store
            .documents()
            .claim_received("w", 100, LEASE)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "one document in flight at a time");
        let doc = claimed.into_iter().next().unwrap();
        assert_eq!(doc.id.0, id);
        if to == S::RejectedLocally {
            store
                .documents()
                .mark_rejected_locally(
                    doc.id,
                    "w",
                    &crate::common::errors(ErrorStage::LocalValidation, "CF001"),
                )
                .await
                .unwrap();
            return;
        }
        store
            .documents()
            .mark_prepared(
                doc.id,
                "w",
                &WireDocument::new(doc.format, doc.received.clone()),
            )
            .await
            .unwrap();
        if to == S::Prepared {
            return;
        }
        let batch = store
            .documents()
            .claim_for_batch("w", 1, 5_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(batch.documents[0].id.0, id);
        if to == S::Batched {
            return;
        }
        let sub = store
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "w".to_owned(),
                client_id: batch.client_id.clone(),
                on_behalf_of: batch.on_behalf_of.clone(),
                document_ids: vec![doc.id],
                payload: b"{\"documents\":[]}".to_vec(),
                lease: LEASE,
            })
            .await
            .unwrap();
        if to == S::Failed {
            store
                .submissions()
                .record_refused(
                    sub.id,
                    &DocumentError::refused(Some("IncorrectSubmitter"), "wrong submitter"),
                )
                .await
                .unwrap();
            return;
        }
        let uuid = fake_uuid(id);
        store
            .submissions()
            .record_accepted(
                sub.id,
                &SubmissionAccepted {
                    submission_uid: format!("SUB-{uuid}"),
                    accepted: vec![(doc.id, uuid.clone())],
                    rejected: vec![],
                },
            )
            .await
            .unwrap();
        if to == S::Submitted {
            return;
        }
        let outcome = if to == S::Invalid {
            ValidationOutcome::Invalid {
                errors: crate::common::errors(ErrorStage::Validation, "CF321"),
            }
        } else {
            ValidationOutcome::Valid {
                long_id: Some("LONG".to_owned()),
                validation_link: Some("https://example.invalid".to_owned()),
            }
        };
        let update = |outcome| ValidationUpdate {
            uuid: uuid.clone(),
            outcome,
        };
        store
            .submissions()
            .record_validation_results(&[update(outcome)])
            .await
            .unwrap();
        if to == S::Cancelled {
            store
                .submissions()
                .record_validation_results(&[update(ValidationOutcome::Cancelled)])
                .await
                .unwrap();
        }
        assert_eq!(
            store.documents().get(DocumentId(id)).await.unwrap().state,
            to
        );
    }

    /// Asserts that the error message contains every piece.
    fn says(body: &Value, pieces: &[&str]) {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        for piece in pieces {
            assert!(message.contains(piece), "`{piece}` missing from {body}");
        }
    }

    pub(super) async fn conflicts_say_what_each_state_allows(h: Harness) {
        use DocumentState as S;
        let app = App::start(&h).await;
        let tin = app.supplier_tin();
        // In an order where no document left behind is claimed by the next walk.
        let cases: [(S, &[&str], bool); 9] = [
            (
                S::Failed,
                &["is failed", "MyInvois never took it", "/retry"],
                true,
            ),
            (
                S::Cancelled,
                &["is cancelled", "cancelled at MyInvois", "new internal id"],
                false,
            ),
            (
                S::Valid,
                &[
                    "is valid",
                    "cannot be replaced by a new version",
                    "within 72 hours of validation",
                    "/cancel",
                    "credit, debit or refund note",
                ],
                false,
            ),
            (
                S::Invalid,
                &["is invalid", "send the corrected document as a new version"],
                true,
            ),
            (
                S::Submitted,
                &[
                    "is submitted",
                    "MyInvois is validating it",
                    "wait for its final status",
                ],
                false,
            ),
            (
                S::RejectedLocally,
                &[
                    "is rejected_locally",
                    "send the corrected document as a new version",
                ],
                true,
            ),
            (
                S::Batched,
                &["is batched", "wait for its final status"],
                false,
            ),
            (
                S::Prepared,
                &["is prepared", "wait for its final status"],
                false,
            ),
            (
                S::Received,
                &["is received", "wait for its final status"],
                false,
            ),
        ];
        for (state, pieces, correctable) in cases {
            let internal_id = format!("ST-{state}");
            let doc = app.invoice(&internal_id);
            let id = app.submit(&doc).await["id"].as_i64().unwrap();
            walk_to(h.store.as_ref(), id, state).await;
            let versions = format!("/v1/documents/{tin}/01/{internal_id}/versions");
            let mut changed = doc.clone();
            changed["Invoice"][0]["Note"] = json!([{ "_": "changed" }]);

            // The same key with other content.
            let (status, body) = app.post_json("/v1/documents", &changed).await;
            assert_eq!(status, StatusCode::CONFLICT, "{state}: {body}");
            assert_eq!(error_code(&body), "conflict");
            says(&body, pieces);
            says(&body, &[&format!("(document {id})")]);
            if correctable {
                says(&body, &[&versions]);
            } else {
                // Never the advice that cannot work in this state.
                let message = body["error"]["message"].as_str().unwrap();
                assert!(
                    !message.contains("send the corrected document as a new version"),
                    "{state}: {body}"
                );
            }

            // A new version: allowed only where it is advised.
            let (status, body) = app.post_json(&versions, &changed).await;
            if correctable {
                assert_eq!(status, StatusCode::ACCEPTED, "{state}: {body}");
                assert_eq!(body["version"], 2);
            } else {
                assert_eq!(status, StatusCode::CONFLICT, "{state}: {body}");
                assert_eq!(error_code(&body), "not_correctable");
                says(&body, pieces);
                if state == S::Valid {
                    says(&body, &[&format!("POST /v1/documents/{id}/cancel")]);
                }
            }
            if correctable {
                // Version 2 is received: the next correction must wait for it.
                let (status, body) = app.post_json(&versions, &doc).await;
                assert_eq!(status, StatusCode::CONFLICT, "{body}");
                says(
                    &body,
                    &["version 2", "is received", "wait for its final status"],
                );
                // Out of the way of the next walks.
                let v2 = h
                    .store
                    .documents()
                    .find(&DocumentKey {
                        issuer_tin: tin.clone(),
                        type_code: "01".to_owned(),
                        internal_id: internal_id.clone(),
                    })
                    .await
                    .unwrap()
                    .unwrap();
                walk_to(h.store.as_ref(), v2.id.0, S::RejectedLocally).await;
            }
        }
    }

    pub(super) async fn versions_are_listed_by_key(h: Harness) {
        let app = App::start(&h).await;
        let tin = app.supplier_tin();
        let doc = app.invoice("VL/1");
        let first = app.submit(&doc).await;
        let v1 = first["id"].as_i64().unwrap();
        // Every answer's links.versions is the listing, percent-encoded.
        let versions = first["links"]["versions"].as_str().unwrap().to_owned();
        assert_eq!(versions, format!("/v1/documents/{tin}/01/VL%2F1/versions"));
        let (status, body) = app.get(&versions).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["issuer_tin"], tin.as_str());
        assert_eq!(body["type_code"], "01");
        assert_eq!(body["internal_id"], "VL/1");
        assert_eq!(body["versions"].as_array().unwrap().len(), 1);

        reject_locally(h.store.as_ref(), v1).await;
        let mut fixed = doc.clone();
        fixed["Invoice"][0]["Note"] = json!([{ "_": "corrected" }]);
        let (status, second) = app.post_json(&versions, &fixed).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{second}");
        let v2 = second["id"].as_i64().unwrap();

        let (status, body) = app.get(&versions).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list = body["versions"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{body}");
        assert_eq!(list[0]["id"], v1);
        assert_eq!(list[0]["version"], 1);
        assert_eq!(list[0]["state"], "rejected_locally");
        assert_eq!(list[0]["final"], true);
        assert_eq!(list[1]["id"], v2);
        assert_eq!(list[1]["version"], 2);
        assert_eq!(list[1]["state"], "received");
        assert_eq!(list[1]["final"], false);
        for (v, id) in list.iter().zip([v1, v2]) {
            assert!(v["received_at"].as_str().is_some(), "{v}");
            assert!(v["updated_at"].as_str().is_some(), "{v}");
            assert_eq!(v["links"]["self"], format!("/v1/documents/{id}"));
            assert_eq!(v["links"]["versions"], versions.as_str());
            // The link leads to the version.
            let (status, one) = app.get(v["links"]["self"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(one["version"], v["version"]);
        }

        // An unknown key is 404 in the envelope; other methods stay 405.
        let (status, body) = app
            .get(&format!("/v1/documents/{tin}/01/NOPE/versions"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(error_code(&body), "not_found");
        says(&body, &["NOPE"]);
        let (status, body) = app
            .send(app.http.delete(app.url(&versions)).bearer_auth(&app.key))
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    }

    /// The actions a document's `next_steps` name, in order.
    fn actions(body: &Value) -> Vec<String> {
        body["next_steps"]
            .as_array()
            .unwrap_or_else(|| panic!("no next_steps in {body}"))
            .iter()
            .map(|s| s["action"].as_str().unwrap().to_owned())
            .collect()
    }

    pub(super) async fn every_state_has_a_way_forward(h: Harness) {
        use DocumentState as S;
        let app = App::start(&h).await;
        // Failed (MyInvois refused the submission): retry, or a new version.
        let id = app.submit(&app.invoice("W-FAILED")).await["id"]
            .as_i64()
            .unwrap();
        walk_to(h.store.as_ref(), id, S::Failed).await;
        let (_, body) = app.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(actions(&body), ["retry", "new_version"], "{body}");
        assert_eq!(
            body["errors"][0]["lhdn_code"], "IncorrectSubmitter",
            "{body}"
        );
        let (status, body) = app
            .post_json(&format!("/v1/documents/{id}/retry"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["state"], "received");
        assert_eq!(body["errors"], json!([]));
        assert_eq!(actions(&body), ["wait"]);
        // Now on its way: a second retry is refused, naming what is allowed.
        let (status, body) = app
            .post_json(&format!("/v1/documents/{id}/retry"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "not_retryable");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("allows: wait"),
            "{body}"
        );
        walk_to_again(h.store.as_ref(), id).await;

        // Invalid: only a new version.
        let id = app.submit(&app.invoice("W-INVALID")).await["id"]
            .as_i64()
            .unwrap();
        walk_to(h.store.as_ref(), id, S::Invalid).await;
        let (_, body) = app.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(actions(&body), ["new_version"], "{body}");

        // Valid at MyInvois: cancel (until 72 hours after validation) and the three notes.
        let original = app.invoice("W-VALID");
        let id = app.submit(&original).await["id"].as_i64().unwrap();
        settle(&h, &app).await;
        let (_, body) = app.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(body["state"], "valid", "{body}");
        assert_eq!(
            actions(&body),
            ["cancel", "credit_note", "debit_note", "refund_note"],
            "{body}"
        );
        assert!(body["next_steps"][0]["until"].is_string(), "{body}");
        let uuid = body["uuid"].as_str().unwrap().to_owned();

        // A credit note for one line, built by the gateway, referencing the original.
        let request = json!({"kind": "credit_note", "internal_id": "CN-W-VALID",
            "lines": [{"index": 0, "quantity": "1"}]});
        let (status, note) = app
            .post_json(&format!("/v1/documents/{id}/notes"), &request)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{note}");
        assert_eq!(
            (note["type_code"].as_str(), note["created"].as_bool()),
            (Some("02"), Some(true))
        );
        let built = stored(&h, &note["id"]).await;
        let doc = Document::parse_as(&built.received, built.format).unwrap();
        let reference = &doc.billing_references()[0];
        assert_eq!(reference.uuid.as_deref(), Some(uuid.as_str()));
        assert_eq!(reference.id.as_deref(), Some("W-VALID"));
        // The same request again (its answer lost): the same note.
        let (status, again) = app
            .post_json(&format!("/v1/documents/{id}/notes"), &request)
            .await;
        assert_eq!(
            (status, &again["id"], &again["created"]),
            (StatusCode::ACCEPTED, &note["id"], &json!(false))
        );
        // MyInvois validates the note.
        settle(&h, &app).await;
        let settled = stored(&h, &note["id"]).await;
        assert_eq!(settled.state, S::Valid, "{:?}", settled.errors);

        // 72 hours after validation: no cancellation any more, only notes.
        h.clock.advance(Duration::from_secs(73 * 3600));
        let (_, body) = app.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(
            actions(&body),
            ["credit_note", "debit_note", "refund_note"],
            "{body}"
        );
        let (status, body) = app
            .post_json(
                &format!("/v1/documents/{id}/cancel"),
                &json!({"reason": "late"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "cancel_period_over");
        // A note of a note is refused: only invoices take notes.
        let (status, body) = app
            .post_json(
                &format!("/v1/documents/{}/notes", note["id"]),
                &json!({"kind": "debit_note", "internal_id": "DN-OF-CN"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(&body), "not_adjustable");
    }

    /// Walks a retried (received) document back out of the way of later walks.
    async fn walk_to_again(store: &Store, id: i64) {
        walk_to(store, id, DocumentState::RejectedLocally).await;
    }

    /// The pipeline over the harness's store and the app's sandbox login, until every
    /// document is final.
    async fn settle(h: &Harness, app: &App) {
        let pipeline = Pipeline::new(
            h.store.clone(),
            app.pool.clone(),
            None,
            PipelineConfig {
                idle: Duration::from_millis(100),
                batch_linger: Duration::from_millis(100),
                ..PipelineConfig::default()
            },
        );
        let (_trigger, shutdown) = Shutdown::new();
        tokio::time::timeout(
            Duration::from_secs(120),
            pipeline.run_until_settled(shutdown),
        )
        .await
        .expect("the pipeline settles within two minutes")
        .expect("no pipeline error");
    }

    /// The model's example of a type, issued now on the sandbox's clock, with these ids.
    fn example(app: &App, t: DocumentType, ids: ExampleIds) -> Document {
        let doc = example_with(t, "1.0", app.sandbox.clock().now(), &ids).unwrap();
        assert_eq!(doc.supplier_tin(), Some(app.supplier_tin().as_str()));
        doc
    }

    fn ids(id: &str, original_id: Option<&str>) -> ExampleIds {
        ExampleIds {
            id: Some(id.to_owned()),
            original_id: original_id.map(str::to_owned),
            original_uuid: None,
        }
    }

    fn without_issue_instant(mut doc: Document) -> Document {
        doc.root_mut()
            .children
            .retain(|c| c.name != "IssueDate" && c.name != "IssueTime");
        doc
    }

    async fn stored(h: &Harness, id: &Value) -> DocumentRecord {
        h.store
            .documents()
            .get(DocumentId(id.as_i64().unwrap()))
            .await
            .unwrap()
    }

    pub(super) async fn undated_documents_get_the_intake_time(h: Harness) {
        let app = App::start(&h).await;
        let today = app.sandbox.clock().now().date_naive();
        // UBL JSON without the two elements, UBL XML with them empty.
        let json_doc =
            without_issue_instant(example(&app, DocumentType::Invoice, ids("UD-J", None)));
        let mut xml_doc = example(&app, DocumentType::Invoice, ids("UD-X", None));
        for name in ["IssueDate", "IssueTime"] {
            xml_doc.root_mut().child_mut(name).unwrap().value =
                Some(invois_model::tree::Value::string(""));
        }
        let json_bytes = json_doc.to_string_as(Format::Json).into_bytes();
        let xml_bytes = xml_doc.to_string_as(Format::Xml).into_bytes();
        let (status, j) = app
            .post("/v1/documents", "application/json", json_bytes.clone())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{j}");
        let (status, x) = app
            .post("/v1/documents", "application/xml", xml_bytes.clone())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{x}");
        // invois's own JSON without issuedAt.
        let mut own = own_document("UD-O");
        own.as_object_mut().unwrap().remove("issuedAt");
        // Issued by the sandbox's taxpayer, so that it goes through with the others.
        own["supplier"]["tin"] = json!(app.supplier_tin());
        own["buyer"]["tin"] = json!(app.sandbox.buyer().tin);
        let o = app.submit(&own).await;

        for (body, format) in [(&j, Format::Json), (&x, Format::Xml), (&o, Format::Json)] {
            let doc = stored(&h, &body["id"]).await;
            let read = Document::parse_as(&doc.received, format).unwrap();
            let date = read.issue_date().unwrap_or_default().to_owned();
            let time = read.issue_time().unwrap_or_default().to_owned();
            let later = app.sandbox.clock().now().date_naive();
            assert!(
                [today, later]
                    .iter()
                    .any(|d| d.format("%Y-%m-%d").to_string() == date),
                "{date} is not today ({today})"
            );
            assert!(
                time.len() == 9 && time.ends_with('Z') && time.as_bytes()[2] == b':',
                "{time}"
            );
        }

        // A repeat is still a repeat, although its dates came from the gateway.
        let (status, again) = app
            .post("/v1/documents", "application/json", json_bytes)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{again}");
        assert_eq!(again["id"], j["id"]);
        assert_eq!(again["created"], false);
        let (status, again) = app
            .post("/v1/documents", "application/xml", xml_bytes)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{again}");
        assert_eq!(again["created"], false);
        assert_eq!(app.submit(&own).await["created"], false);

        // A dated document is stored byte for byte.
        let dated = example(&app, DocumentType::Invoice, ids("UD-D", None))
            .to_string_as(Format::Json)
            .into_bytes();
        let (_, d) = app
            .post("/v1/documents", "application/json", dated.clone())
            .await;
        assert_eq!(stored(&h, &d["id"]).await.received, dated);

        // And the filled ones go through MyInvois (the sandbox) as valid.
        settle(&h, &app).await;
        for body in [&j, &x, &o, &d] {
            let doc = stored(&h, &body["id"]).await;
            assert_eq!(doc.state, DocumentState::Valid, "{doc:?} {:?}", doc.errors);
        }
    }

    pub(super) async fn a_note_finds_its_original_by_id(h: Harness) {
        let app = App::start(&h).await;
        // A note whose original is not there yet: rejected locally, naming the field.
        let early = example(
            &app,
            DocumentType::CreditNote,
            ids("CN-EARLY", Some("INV-LATE")),
        )
        .to_string_as(Format::Json)
        .into_bytes();
        let (status, e) = app
            .post("/v1/documents", "application/json", early.clone())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{e}");
        settle(&h, &app).await;
        let doc = stored(&h, &e["id"]).await;
        assert_eq!(doc.state, DocumentState::RejectedLocally);
        let errors = &doc.errors;
        let error = &errors[0].message;
        assert!(
            error.contains("BillingReference/InvoiceDocumentReference/UUID")
                && error.contains("INV-LATE")
                && error.contains("not valid at the gateway yet"),
            "{errors:?}"
        );
        assert_eq!(errors[0].code, "R002");
        assert_eq!(
            errors[0].field.as_deref(),
            Some("$.Invoice[0].BillingReference[0].InvoiceDocumentReference[0].UUID[0]._")
        );

        // The invoice, then a credit note naming it by ID only: both valid, the uuid filled.
        let invoice = example(&app, DocumentType::Invoice, ids("INV-LATE", None))
            .to_string_as(Format::Json)
            .into_bytes();
        let (_, i) = app.post("/v1/documents", "application/json", invoice).await;
        settle(&h, &app).await;
        let invoice = stored(&h, &i["id"]).await;
        assert_eq!(invoice.state, DocumentState::Valid, "{:?}", invoice.errors);
        let uuid = invoice.uuid.clone().unwrap();

        let note = example(
            &app,
            DocumentType::CreditNote,
            ids("CN-1", Some("INV-LATE")),
        );
        assert_eq!(note.billing_references()[0].uuid.as_deref(), Some(""));
        let (_, n) = app
            .post(
                "/v1/documents",
                "application/xml",
                note.to_string_as(Format::Xml).into_bytes(),
            )
            .await;
        // The rejected one again, as a new version, now that its original is valid.
        let (status, e2) = app
            .post(
                e["links"]["versions"].as_str().unwrap(),
                "application/json",
                early,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{e2}");
        assert_eq!(e2["version"], 2);
        settle(&h, &app).await;
        for (body, format) in [(&n, Format::Xml), (&e2, Format::Json)] {
            let doc = stored(&h, &body["id"]).await;
            assert_eq!(doc.state, DocumentState::Valid, "{:?}", doc.errors);
            // Filled in what was sent, not in what the ERP sent.
            let sent = Document::parse_as(doc.prepared.as_deref().unwrap(), format).unwrap();
            let refs = sent.billing_references();
            assert_eq!(refs[0].uuid.as_deref(), Some(uuid.as_str()));
            assert_eq!(refs[0].id.as_deref(), Some("INV-LATE"));
            let received = Document::parse_as(&doc.received, format).unwrap();
            assert_ne!(
                received.billing_references()[0].uuid.as_deref(),
                Some(uuid.as_str())
            );
        }
    }

    /// Issue 16: a UBL JSON document with a key written twice ends `rejected_locally` with
    /// the model's `S008` finding, dated or undated: the gateway never writes one reading of
    /// it (filling in an undated document's issue instant would).
    pub(super) async fn a_repeated_json_key_is_rejected_locally(h: Harness) {
        let app = App::start(&h).await;
        let repeat_id = |text: String, id: &str| -> Vec<u8> {
            let anchor = format!(r#""ID":[{{"_":"{id}"}}]"#);
            assert!(text.contains(&anchor), "{text}");
            text.replacen(&anchor, &format!(r#"{anchor},"ID":[{{"_":"OTHER"}}]"#), 1)
                .into_bytes()
        };
        let dated = repeat_id(serde_json::to_string(&app.invoice("DK-1")).unwrap(), "DK-1");
        let undated = repeat_id(
            without_issue_instant(example(&app, DocumentType::Invoice, ids("DK-2", None)))
                .to_json_string(),
            "DK-2",
        );
        let mut posted = Vec::new();
        for (bytes, id) in [(dated, "DK-1"), (undated, "DK-2")] {
            let (status, body) = app
                .post("/v1/documents", "application/json", bytes.clone())
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            // Keyed by the first occurrence, as every reader of the model sees it.
            assert_eq!(body["internal_id"], id, "{body}");
            posted.push((body["id"].clone(), bytes));
        }
        settle(&h, &app).await;
        for (id, bytes) in posted {
            let doc = stored(&h, &id).await;
            assert_eq!(
                doc.state,
                DocumentState::RejectedLocally,
                "{:?}",
                doc.errors
            );
            // Stored as received: not rewritten with a date, nor with one of the two IDs.
            assert_eq!(doc.received, bytes);
            assert_eq!(doc.uuid, None);
            let (status, body) = app.get(&format!("/v1/documents/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["state"], "rejected_locally", "{body}");
            let findings = body["errors"].as_array().unwrap();
            let s008 = findings
                .iter()
                .find(|f| f["code"] == "S008")
                .unwrap_or_else(|| panic!("no S008 in {body}"));
            assert_eq!(s008["field"], "$.Invoice[0].ID", "{s008}");
            assert_eq!(s008["stage"], "local_validation", "{s008}");
            let rule = s008["message"].as_str().unwrap();
            assert!(
                rule.contains(r#"member "ID" appears twice in $.Invoice[0]"#)
                    && rule.contains("/Invoice/cbc:ID[1]"),
                "{rule}"
            );
        }
    }
}

//! The buyer's copy end to end: a document posted to the ERP API, sent by the pipeline to a
//! sandbox on port 0 with the real client, validated, and fetched as PDF and HTML. The PDF is
//! read back: its text (pdf-extract) and its QR code (the image, decoded with rqrr). On SQLite
//! always, and on PostgreSQL when `TEST_DATABASE_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use chrono::{FixedOffset, Utc};
use invois_client::Client;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::http::{self, ApiState};
use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown};
use invois_gateway::store::{DocumentId, DocumentState, Store};
use invois_testkit::{TestSandbox, samples};
use lopdf::Object;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validated_document_is_fetched_as_pdf_and_html_sqlite() {
    let sandbox = start_sandbox().await;
    let (store, _file) = crate::common::sqlite_store(sandbox.clock().clone()).await;
    the_copy_of_a_validated_document(store, sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validated_document_is_fetched_as_pdf_and_html_postgres() {
    crate::common::with_pg_schema("buyers_copy", |options| async move {
        let sandbox = start_sandbox().await;
        let store = crate::common::pg_store(options, sandbox.clock().clone()).await;
        let shared = Arc::new(store.clone());
        crate::common::run_then_close(store, (shared, sandbox), |(store, sandbox)| {
            the_copy_of_a_validated_document(store, sandbox)
        })
        .await;
    })
    .await;
}

async fn start_sandbox() -> TestSandbox {
    // A scaled clock: the pipeline's waits and the validation delay take milliseconds.
    TestSandbox::builder()
        .time_scale(60.0)
        .validation_delay(Duration::from_secs(3))
        .start()
        .await
        .unwrap()
}

/// The ERP API and the pipeline over `store`, logged in to `sandbox`.
struct Gateway {
    base: String,
    key: String,
    http: reqwest::Client,
    pipeline: Pipeline,
    sandbox: TestSandbox,
}

impl Gateway {
    async fn start(store: Arc<Store>, sandbox: TestSandbox) -> Gateway {
        let login = sandbox.supplier();
        let client = Client::builder()
            .api_base(sandbox.base_url())
            .portal_base("https://preprod.myinvois.hasil.gov.my")
            .credentials(login.client_id, login.client_secret.as_str())
            .clock(sandbox.clock().clone())
            .build()
            .unwrap();
        let pool = ClientPool::new(client, LoginMode::Taxpayer);
        let config = PipelineConfig {
            idle: Duration::from_millis(500),
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::new(Arc::clone(&store), pool.clone(), None, config);
        let state = ApiState::new(Arc::clone(&store), pool, sandbox.clock().clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, http::router(state)).await.unwrap();
        });
        let (_, secret) = store.api_keys().create("erp").await.unwrap();
        Gateway {
            base: format!("http://{addr}"),
            key: secret.expose().to_owned(),
            http: reqwest::Client::new(),
            pipeline,
            sandbox,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    /// Posts the sandbox supplier's invoice with this internal id; returns its id.
    async fn submit(&self, internal_id: &str) -> i64 {
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        let issued = self.sandbox.clock().now() - chrono::Duration::minutes(5);
        let supplier = self.sandbox.supplier().tin;
        let buyer = self.sandbox.buyer().tin;
        samples::adapt_json(&mut doc, internal_id, issued, &supplier, &buyer);
        let (status, body) = self
            .post_json("/v1/documents", samples::minified(&doc))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn settle(&self) {
        let (_trigger, shutdown) = Shutdown::new();
        tokio::time::timeout(
            Duration::from_secs(120),
            self.pipeline.run_until_settled(shutdown),
        )
        .await
        .expect("the pipeline settles within two minutes")
        .expect("no pipeline error");
    }
}

/// The error envelope's code.
async fn error_code(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or("<none>")
            .to_owned(),
        body["error"]["message"].as_str().unwrap_or("").to_owned(),
    )
}

async fn the_copy_of_a_validated_document(store: Arc<Store>, sandbox: TestSandbox) {
    let gw = Gateway::start(Arc::clone(&store), sandbox).await;

    // Before MyInvois validated it there is no copy, and the 409 says why.
    let id = gw.submit("COPY-0001").await;
    let (status, code, message) =
        error_code(gw.get(&format!("/v1/documents/{id}/pdf")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "not_validated"),
        "{message}"
    );
    assert!(message.contains("received"), "{message}");

    gw.settle().await;
    let doc = store.documents().get(DocumentId(id)).await.unwrap();
    assert_eq!(doc.state, DocumentState::Valid, "{:?}", doc.errors);
    let uuid = doc.uuid.clone().unwrap();
    let link = doc.validation_link.clone().unwrap();
    // The poller kept MyInvois' validation time.
    let validated_at = doc.validated_at.expect("the validation time is recorded");
    assert!(validated_at <= gw.sandbox.clock().now());

    let resp = gw.get(&format!("/v1/documents/{id}/pdf")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(
        resp.headers()["content-disposition"],
        "inline; filename=\"COPY-0001.pdf\""
    );
    let pdf = resp.bytes().await.unwrap();
    let text = pdf_extract::extract_text_from_mem(&pdf).unwrap();
    let malaysia = FixedOffset::east_opt(8 * 3600).unwrap();
    let validated_text = validated_at
        .with_timezone(&malaysia)
        .format("%Y-%m-%d %H:%M:%S (UTC+08:00)")
        .to_string();
    for expected in [
        "COPY-0001",
        uuid.as_str(),
        validated_text.as_str(),
        "Syarikat Pembekal Sdn. Bhd.",
        "Pelanggan Bhd.",
        "Laptop 14-inch",
        "Total payable",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` is not in the PDF:\n{text}"
        );
    }
    assert_eq!(qr_codes_in(&pdf), vec![link.clone()]);

    let resp = gw.get(&format!("/v1/documents/{id}/html")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(&uuid) && page.contains(&validated_text),
        "{page}"
    );

    a_validation_time_not_kept_is_asked_of_myinvois(&gw, &store, id, validated_at).await;
    a_cancelled_document_has_a_marked_copy(&gw, id).await;

    let (status, code, _) = error_code(gw.get("/v1/documents/999999/pdf").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let resp = gw
        .http
        .get(format!("{}/v1/documents/{id}/pdf", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// A document made valid before the gateway kept validation times: the first copy asks
/// MyInvois (Get Document Details) and keeps the answer.
async fn a_validation_time_not_kept_is_asked_of_myinvois(
    gw: &Gateway,
    store: &Store,
    id: i64,
    validated_at: chrono::DateTime<Utc>,
) {
    forget_validation_time(store, id).await;
    assert_eq!(
        store
            .documents()
            .get(DocumentId(id))
            .await
            .unwrap()
            .validated_at,
        None
    );
    let resp = gw.get(&format!("/v1/documents/{id}/pdf")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let kept = store
        .documents()
        .get(DocumentId(id))
        .await
        .unwrap()
        .validated_at;
    assert_eq!(kept, Some(validated_at));
}

async fn forget_validation_time(store: &Store, id: i64) {
    let sql = "UPDATE documents SET validated_at = NULL WHERE id = $1";
    if let Some(pool) = store.db().sqlite_pool() {
        sqlx::query(sql).bind(id).execute(pool).await.unwrap();
    } else if let Some(pool) = store.db().pg_pool() {
        sqlx::query(sql).bind(id).execute(pool).await.unwrap();
    }
}

async fn a_cancelled_document_has_a_marked_copy(gw: &Gateway, id: i64) {
    let (status, body) = gw
        .post_json(
            &format!("/v1/documents/{id}/cancel"),
            br#"{"reason":"wrong buyer"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = gw.get(&format!("/v1/documents/{id}/pdf")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let pdf = resp.bytes().await.unwrap();
    let text = pdf_extract::extract_text_from_mem(&pdf).unwrap();
    assert!(text.contains("CANCELLED"), "{text}");
}

/// The texts of the QR codes in the PDF's images.
fn qr_codes_in(pdf: &[u8]) -> Vec<String> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let mut out = Vec::new();
    for object in doc.objects.values() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let is_image = stream
            .dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|n| n == b"Image");
        if !is_image {
            continue;
        }
        let dim = |key: &[u8]| {
            usize::try_from(stream.dict.get(key).and_then(Object::as_i64).unwrap()).unwrap()
        };
        let (w, h) = (dim(b"Width"), dim(b"Height"));
        let pixels = stream.decompressed_content().unwrap();
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        for grid in image.detect_grids() {
            out.push(grid.decode().unwrap().1);
        }
    }
    out
}

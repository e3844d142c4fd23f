//! A running gateway (`Gateway::run` on 127.0.0.1:0) answers every error in its envelope with
//! a correlation id: the request heads hyper would refuse before any route (a 1 MB header,
//! 500 headers, a control character in `Authorization`, a 100 KB path), a body over the
//! limit, an unknown route and a missing key.

use std::net::SocketAddr;
use std::time::Duration;

use invois_client::Client;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::http::DEFAULT_MAX_BODY_BYTES;
use invois_gateway::pipeline::{PipelineConfig, Shutdown, ShutdownTrigger};
use invois_gateway::service::Gateway;
use invois_serve::test_util::{RawConnection, RawResponse};
use invois_testkit::TestSandbox;
use serde_json::Value;

use crate::common::{SqliteFile, sqlite_store};

/// A bound that fails the test, not a wait: each answer here comes at once or never.
const PATIENCE: Duration = Duration::from_secs(30);

struct Running {
    addr: SocketAddr,
    key: String,
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _file: SqliteFile,
    _sandbox: TestSandbox,
}

async fn start() -> Running {
    let sandbox = TestSandbox::start().await.unwrap();
    let login = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(login.client_id, login.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .build()
        .unwrap();
    let (store, file) = sqlite_store(sandbox.clock().clone()).await;
    let (_, key) = store.api_keys().create("erp").await.unwrap();
    let gateway = Gateway::new(
        store,
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        PipelineConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let task = tokio::spawn(gateway.run(listener, shutdown));
    Running {
        addr,
        key: key.expose().to_owned(),
        trigger,
        task,
        _file: file,
        _sandbox: sandbox,
    }
}

async fn answer(connection: &mut RawConnection, what: &str) -> RawResponse {
    tokio::time::timeout(PATIENCE, connection.response())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {PATIENCE:?}"))
        .unwrap()
}

/// Checks the envelope and its correlation id (the same in the body and the header); returns
/// the error object.
fn assert_envelope(response: &RawResponse, status: u16, code: &str, what: &str) -> Value {
    assert_eq!(response.status, status, "{what}: {response:?}");
    let body: Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {response:?}"));
    let error = &body["error"];
    assert_eq!(error["code"], code, "{what}: {body}");
    assert!(error["message"].is_string(), "{what}: {body}");
    let id = error["correlation_id"].as_str().unwrap_or_default();
    assert!(!id.is_empty(), "{what}: no correlation_id: {body}");
    assert_eq!(response.header("correlationId"), Some(id), "{what}");
    error.clone()
}

fn get(path: &str, extra: &[u8]) -> Vec<u8> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: gateway\r\n").into_bytes();
    request.extend(extra);
    request.extend(b"\r\n");
    request
}

#[tokio::test]
async fn requests_refused_before_routing_get_the_envelope_with_a_correlation_id() {
    let gateway = start().await;
    let key = &gateway.key;
    let mut big = b"X-Big: ".to_vec();
    big.extend(vec![b'a'; 1024 * 1024]);
    big.extend(b"\r\n");
    let many: Vec<u8> = (0..500)
        .flat_map(|i| format!("X-Header-{i}: {i}\r\n").into_bytes())
        .collect();
    let mut control = format!("Authorization: Bearer {}", &key[..10]).into_bytes();
    control.push(0x01);
    control.extend(format!("{}\r\n", &key[10..]).as_bytes());
    let long_path = format!("/v1/documents/{}", "1".repeat(100_000));
    let cases = [
        (
            "a 1 MB header",
            get("/v1/documents", &big),
            431,
            "headers_too_large",
        ),
        (
            "500 headers",
            get("/v1/documents", &many),
            431,
            "headers_too_large",
        ),
        (
            "a control character in Authorization",
            get("/v1/documents", &control),
            400,
            "malformed_request",
        ),
        ("a 100 KB path", get(&long_path, b""), 414, "uri_too_long"),
    ];
    let http = reqwest::Client::new();
    for (what, request, status, code) in cases {
        let mut connection = RawConnection::open(gateway.addr, request).await.unwrap();
        let response = answer(&mut connection, what).await;
        assert_envelope(&response, status, code, what);
        let text = String::from_utf8_lossy(&response.body).into_owned();
        assert!(!text.contains(&key[10..]), "{what}: the key is echoed");
        assert!(
            connection.closes().await,
            "{what}: the connection stays open"
        );

        let health = http
            .get(format!("http://{}/health", gateway.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "after {what}");
    }

    // Errors the routes answer carry the id too, and it differs per request.
    let mut connection = RawConnection::open(gateway.addr, get("/v1/documents", b""))
        .await
        .unwrap();
    let no_key = answer(&mut connection, "no key").await;
    let first = assert_envelope(&no_key, 401, "unauthorized", "no key");
    let auth = format!("Authorization: Bearer {key}\r\n");
    connection.send(get("/v1/nowhere", auth.as_bytes()));
    let unknown = answer(&mut connection, "unknown route").await;
    let second = assert_envelope(&unknown, 404, "route_not_found", "unknown route");
    assert_ne!(first["correlation_id"], second["correlation_id"]);
    // ... and successes carry it as a header.
    connection.send(get("/health", b""));
    let health = answer(&mut connection, "health").await;
    assert_eq!(health.status, 200);
    assert!(health.header("correlationId").is_some());

    gateway.trigger.trigger();
    tokio::time::timeout(PATIENCE, gateway.task)
        .await
        .expect("the gateway stops")
        .unwrap()
        .unwrap();
}

/// Neither request is ever sent whole: an answer proves the gateway stopped reading at its
/// limit (plus a frame) rather than taking the rest.
#[tokio::test]
async fn a_body_over_the_limit_is_refused_after_reading_at_most_the_limit() {
    let gateway = start().await;
    let head = |framing: &str| {
        format!(
            "POST /v1/documents HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\n{framing}\r\n\r\n",
            gateway.key
        )
        .into_bytes()
    };
    let over = DEFAULT_MAX_BODY_BYTES + 256 * 1024;

    // 37 MB announced, the limit and a little more sent.
    let mut request = head(&format!("Content-Length: {}", 37 * 1024 * 1024));
    request.extend(vec![b' '; over]);
    let mut connection = RawConnection::open(gateway.addr, request).await.unwrap();
    let response = answer(&mut connection, "37 MB").await;
    assert_envelope(&response, 413, "payload_too_large", "37 MB");

    // Chunked, with no last chunk.
    let mut request = head("Transfer-Encoding: chunked");
    let piece = vec![b' '; 64 * 1024];
    for _ in 0..over / piece.len() {
        request.extend(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend(&piece);
        request.extend(b"\r\n");
    }
    let mut connection = RawConnection::open(gateway.addr, request).await.unwrap();
    let response = answer(&mut connection, "chunked").await;
    assert_envelope(&response, 413, "payload_too_large", "chunked");
}

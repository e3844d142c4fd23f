//! Hostile heads, kept-alive connections, oversized bodies, HTTP/2 and shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use invois_serve::test_util::{RawConnection, RawResponse, exchange};
use invois_serve::{Rejection, Server, correlation_id};
use serde_json::{Value, json};

/// The echo route's body limit.
const BODY_LIMIT: usize = 64 * 1024;

/// A bound on waits that should end at once; reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(30);

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/echo",
            post(|body: Bytes| async move { body }).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
}

/// The test server's envelope: `{"error":{"message"}}` and a `correlationId` header.
fn reject(rejection: Rejection) -> Response {
    (
        rejection.status(),
        [("correlationId", correlation_id())],
        Json(json!({"error": {"message": rejection.to_string()}})),
    )
        .into_response()
}

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Server::new(app(), reject).serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {PATIENCE:?}"))
}

fn get_with_header(name: &str, value: &[u8]) -> Vec<u8> {
    let mut request = b"GET / HTTP/1.1\r\nHost: test\r\n".to_vec();
    request.extend(name.as_bytes());
    request.extend(b": ");
    request.extend(value);
    request.extend(b"\r\n\r\n");
    request
}

fn assert_envelope(response: &RawResponse, status: u16, what: &str) {
    assert_eq!(response.status, status, "{what}: {response:?}");
    let body: Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {response:?}"));
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
    let id = response.header("correlationId").unwrap_or_default();
    assert!(!id.is_empty(), "{what}: no correlationId");
    assert_eq!(response.header("connection"), Some("close"), "{what}");
}

async fn hello_on_a_new_connection(addr: SocketAddr) {
    let text = reqwest::get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "hello");
}

#[tokio::test]
async fn hostile_heads_get_the_servers_envelope_and_the_server_carries_on() {
    let server = start().await;
    let mut many = b"GET / HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..500 {
        many.extend(format!("X-Header-{i}: {i}\r\n").as_bytes());
    }
    many.extend(b"\r\n");
    let long_path = format!(
        "GET /{} HTTP/1.1\r\nHost: test\r\n\r\n",
        "a".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a 1 MB header",
            get_with_header("X-Big", &vec![b'a'; 1024 * 1024]),
            431,
        ),
        ("500 headers", many, 431),
        (
            "a control character in Authorization",
            get_with_header("Authorization", b"Bearer abc\x01def"),
            400,
        ),
        ("a 100 KB path", long_path.into_bytes(), 414),
    ];
    for (what, request, status) in cases {
        let mut connection = RawConnection::open(server.addr, request).await.unwrap();
        let response = within(what, connection.response()).await.unwrap();
        assert_envelope(&response, status, what);
        assert!(
            !String::from_utf8_lossy(&response.body).contains("abc"),
            "{what}: the header value is echoed"
        );
        assert!(within(what, connection.closes()).await, "{what}: kept open");
        hello_on_a_new_connection(server.addr).await;
    }
}

#[tokio::test]
async fn every_head_on_a_kept_alive_connection_is_checked() {
    let server = start().await;
    let mut connection = RawConnection::open(
        server.addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
    )
    .await
    .unwrap();
    let first = within("first", connection.response()).await.unwrap();
    assert_eq!((first.status, &first.body[..]), (200, &b"hello"[..]));

    connection.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n"
            .to_vec(),
    );
    let second = within("chunked", connection.response()).await.unwrap();
    assert_eq!((second.status, &second.body[..]), (200, &b"abcdefg"[..]));

    connection.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec());
    let third = within("third", connection.response()).await.unwrap();
    assert_eq!((third.status, &third.body[..]), (200, &b"hello"[..]));

    connection.send(get_with_header("Authorization", b"Bearer \x7fx"));
    let refused = within("refused", connection.response()).await.unwrap();
    assert_envelope(&refused, 400, "a bad header on the fourth request");
    assert!(within("close", connection.closes()).await);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_up_to_the_refused_one() {
    let server = start().await;
    let mut requests = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    requests.extend(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    requests.extend(get_with_header("X-Bad", b"\x00"));
    requests.extend(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut connection = RawConnection::open(server.addr, requests).await.unwrap();
    let a = within("a", connection.response()).await.unwrap();
    let b = within("b", connection.response()).await.unwrap();
    let c = within("c", connection.response()).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"hello"[..]));
    assert_eq!((b.status, &b.body[..]), (200, &b"ok"[..]));
    assert_envelope(&c, 400, "the third of four pipelined requests");
    // The fourth came after the refused head and is never read.
    assert!(within("close", connection.closes()).await);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_the_rest_of_it_is_sent() {
    let server = start().await;
    // 10 MB announced; a little over the limit sent, and then nothing: the answer must come
    // without the rest.
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    )
    .into_bytes();
    request.extend(vec![b'x'; BODY_LIMIT + 128 * 1024]);
    let mut connection = RawConnection::open(server.addr, request).await.unwrap();
    let response = within("413", connection.response()).await.unwrap();
    assert_eq!(response.status, 413, "{response:?}");
    hello_on_a_new_connection(server.addr).await;
}

#[tokio::test]
async fn after_refusing_a_body_the_server_reads_on_until_the_client_stops() {
    let server = start().await;
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    )
    .into_bytes();
    request.extend(vec![b'x'; BODY_LIMIT + 128 * 1024]);
    let mut connection = RawConnection::open(server.addr, request).await.unwrap();
    let response = within("413", connection.response()).await.unwrap();
    assert_eq!(response.status, 413, "{response:?}");
    // The answer is complete (the server shut down its side) ...
    assert!(within("end of answer", connection.closes()).await);
    // ... but it still takes what the client sends, rather than resetting the connection
    // (which on some systems destroys an answer the client has not read yet).
    for _ in 0..8 {
        within("linger", connection.write(vec![b'x'; 64 * 1024]))
            .await
            .expect("the server reset the connection");
    }
}

#[tokio::test]
async fn a_client_still_sending_a_refused_body_reads_the_answer() {
    let server = start().await;
    // reqwest writes the whole 8 MB body while the server has already answered: the
    // lingering close keeps the answer from being destroyed by a reset.
    let response = reqwest::Client::new()
        .post(format!("http://{}/echo", server.addr))
        .body(vec![b'x'; 8 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // The same with a chunked body of unknown length, from the raw client.
    let mut request =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..128 {
        request.extend(b"10000\r\n");
        request.extend(vec![b'y'; 0x10000]);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    let mut connection = RawConnection::open(server.addr, request).await.unwrap();
    let response = within("chunked 413", connection.response()).await.unwrap();
    assert_eq!(response.status, 413, "{response:?}");
    hello_on_a_new_connection(server.addr).await;
}

#[tokio::test]
async fn a_client_that_sends_its_whole_body_before_reading_reads_the_answer() {
    let server = start().await;
    // 32 MB declared and written in full before a byte is read: more than the sockets'
    // buffers hold, so the server must read on past its answer until the body's end, or the
    // client's writes meet a reset and it never reads the 413.
    let length = 32 * 1024 * 1024;
    let head =
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n").into_bytes();
    let mut connection = RawConnection::open(server.addr, head).await.unwrap();
    within("the whole body", connection.write(vec![b'x'; length]))
        .await
        .expect("the server reset the connection before the declared body was sent");
    let response = within("413", connection.response()).await.unwrap();
    assert_eq!(response.status, 413, "{response:?}");
    hello_on_a_new_connection(server.addr).await;
}

#[tokio::test]
async fn handlers_get_connect_info_and_http2_with_prior_knowledge_works() {
    let server = start().await;
    let peer = exchange(
        server.addr,
        b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(peer.status, 200);
    assert!(String::from_utf8_lossy(&peer.body).starts_with("127.0.0.1:"));

    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2
        .get(format!("http://{}/", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "hello");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_returns() {
    let mut server = start().await;
    let mut idle = RawConnection::open(server.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec())
        .await
        .unwrap();
    assert_eq!(within("first", idle.response()).await.unwrap().status, 200);
    let _ = server.stop.take().unwrap().send(());
    within("shutdown", &mut server.task).await.unwrap().unwrap();
    assert!(within("closed", idle.closes()).await);
}

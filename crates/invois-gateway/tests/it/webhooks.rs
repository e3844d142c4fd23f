//! Webhooks end to end: status events relayed exactly once, delivered to a real HTTP receiver
//! with a verifiable signature, retried with backoff on the clock, dead after the last
//! attempt, listed and replayed through the API. Each case runs on SQLite and, when
//! `TEST_DATABASE_URL` is set, on PostgreSQL.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hooks_common::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use invois_api::submission::WireDocument;
use invois_gateway::document_errors::ErrorStage;
use invois_gateway::store::*;
use invois_gateway::webhooks::{self, WebhookConfig, WebhookSecret, Webhooks};
use serde_json::Value;
use tokio::sync::mpsc;

const SECRET: &str = "whsec_test_8f2c";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: i64,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// The status to answer; 0 means never answer (and report the request on `arrived`).
    status: Arc<AtomicU16>,
    arrived: mpsc::UnboundedSender<()>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Received {
        event: h("x-invois-event"),
        delivery: h("x-invois-delivery").parse().unwrap_or(-1),
        timestamp: h("x-invois-timestamp"),
        signature: h("x-invois-signature"),
        content_type: h("content-type"),
        body,
    });
    let status = r.status.load(Ordering::SeqCst);
    let _ = r.arrived.send(());
    if status == 0 {
        std::future::pending::<()>().await;
    }
    StatusCode::from_u16(status).unwrap()
}

struct ErpServer {
    url: url::Url,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    arrived: mpsc::UnboundedReceiver<()>,
}

impl ErpServer {
    async fn start() -> ErpServer {
        let (tx, rx) = mpsc::unbounded_channel();
        let receiver = Receiver {
            got: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            arrived: tx,
        };
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        ErpServer {
            url: url::Url::parse(&format!("http://{addr}/hooks?token=t0k3n")).unwrap(),
            got: receiver.got,
            status: receiver.status,
            arrived: rx,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

fn config(url: &url::Url, max_attempts: i64) -> WebhookConfig {
    let mut c = WebhookConfig::new(url.clone(), WebhookSecret::new(SECRET));
    c.max_attempts = max_attempts;
    c.timeout = Duration::from_secs(10);
    c
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn all_deliveries(store: &Store) -> Vec<WebhookLogEntry> {
    store
        .outbox()
        .list(&WebhookFilter {
            limit: 1_000,
            ..WebhookFilter::default()
        })
        .await
        .unwrap()
}

store_cases!(
    delivers_every_status_change_signed_and_in_order,
    failures_back_off_on_the_clock_then_die_and_replay_works,
    a_receiver_that_never_answers_times_out_on_the_clock,
    racing_relays_create_exactly_one_delivery_per_event,
    two_deliverers_never_send_one_delivery_twice,
    run_delivers_in_the_background_until_shut_down,
);

mod cases {
    use super::*;

    pub(super) async fn delivers_every_status_change_signed_and_in_order(h: Harness) {
        let erp = ErpServer::start().await;
        let driven = drive(&h.store, "C1").await;
        let hooks = Webhooks::new(h.store.clone(), h.clock.clone(), config(&erp.url, 5)).unwrap();

        assert_eq!(hooks.run_once().await.unwrap(), 7);
        let got = erp.got();
        assert_eq!(got.len(), 7);

        // Every body carries a signature the ERP can check with the shared secret, and only
        // with it.
        for r in &got {
            assert!(
                webhooks::verify_signature(SECRET, &r.timestamp, &r.body, &r.signature),
                "{r:?}"
            );
            assert!(!webhooks::verify_signature(
                "another secret",
                &r.timestamp,
                &r.body,
                &r.signature
            ));
            assert_eq!(r.content_type, "application/json");
            let ts: i64 = r.timestamp.parse().unwrap();
            assert!((h.clock.now().timestamp() - ts).abs() <= 60, "{ts}");
            assert_eq!(r.json()["event"], r.event.as_str());
        }

        // In event order, one request per event, each naming its delivery.
        let events = h.store.documents().events_after(0, 100).await.unwrap();
        let sent: Vec<i64> = got
            .iter()
            .map(|r| r.json()["event_id"].as_i64().unwrap())
            .collect();
        assert_eq!(sent, events.iter().map(|e| e.id).collect::<Vec<_>>());
        let deliveries = all_deliveries(&h.store).await;
        for r in &got {
            let d = deliveries
                .iter()
                .find(|d| d.delivery.id.0 == r.delivery)
                .unwrap();
            assert_eq!(d.event_id, r.json()["event_id"].as_i64());
            assert_eq!(d.delivery.state, WebhookState::Delivered);
            assert_eq!(d.delivery.attempts, 1);
        }

        // Per document, the states in the order they happened.
        let states_of = |id: DocumentId| -> Vec<String> {
            got.iter()
                .filter(|r| r.json()["document_id"] == id.0)
                .map(|r| r.event.clone())
                .collect()
        };
        assert_eq!(
            states_of(driven.cancelled),
            ["document.submitted", "document.valid", "document.cancelled"]
        );
        assert_eq!(
            states_of(driven.invalid_later),
            ["document.submitted", "document.invalid"]
        );
        assert_eq!(states_of(driven.invalid_at_once), ["document.invalid"]);
        assert_eq!(states_of(driven.rejected), ["document.rejected_locally"]);

        // The payload snapshot.
        let body = |id: DocumentId, event: &str| -> Value {
            got.iter()
                .map(|r| r.json())
                .find(|j| j["document_id"] == id.0 && j["event"] == event)
                .unwrap()
        };
        let valid = body(driven.cancelled, "document.valid");
        assert_eq!(valid["state"], "valid");
        assert_eq!(valid["issuer_tin"], "C1");
        assert_eq!(valid["type_code"], "01");
        assert_eq!(valid["internal_id"], "C1-INV-0");
        assert_eq!(valid["version"], 1);
        assert_eq!(valid["uuid"], "U-C1-0");
        assert_eq!(valid["long_id"], "LONG-C1-0");
        assert_eq!(
            valid["validation_link"],
            "https://myinvois.example/U-C1-0/share"
        );
        assert!(valid["errors"].is_null());
        assert!(
            valid["occurred_at"]
                .as_str()
                .unwrap()
                .starts_with("2026-03-01T08:0")
        );
        // For one release every snake_case field is also under its old camelCase name, with
        // the same value, for receivers written against the camelCase body.
        for (snake, camel) in [
            ("event_id", "eventId"),
            ("document_id", "documentId"),
            ("issuer_tin", "issuerTin"),
            ("type_code", "typeCode"),
            ("internal_id", "internalId"),
            ("long_id", "longId"),
            ("validation_link", "validationLink"),
            ("occurred_at", "occurredAt"),
        ] {
            assert!(!valid[snake].is_null(), "{snake} in {valid}");
            assert_eq!(valid[snake], valid[camel], "{snake} vs {camel}");
        }
        // The submitted event does not announce the later validation result.
        let submitted = body(driven.cancelled, "document.submitted");
        assert_eq!(submitted["uuid"], "U-C1-0");
        assert!(submitted["long_id"].is_null());
        assert!(submitted["validation_link"].is_null());
        assert!(submitted["longId"].is_null());
        let invalid = body(driven.invalid_later, "document.invalid");
        assert_eq!(invalid["errors"][0]["code"], "CF321");
        assert_eq!(invalid["errors"][0]["stage"], "validation");
        let at_once = body(driven.invalid_at_once, "document.invalid");
        assert_eq!(at_once["errors"][0]["code"], "BadArgument");
        assert_eq!(at_once["errors"][0]["stage"], "submission");
        let rejected = body(driven.rejected, "document.rejected_locally");
        assert_eq!(rejected["errors"][0]["code"], "CF005");
        assert!(rejected["uuid"].is_null());
        // Never the document's bytes.
        for r in &got {
            assert!(!String::from_utf8_lossy(&r.body).contains("body "), "{r:?}");
        }

        // Nothing twice: a second pass sends nothing; a new change sends exactly one.
        assert_eq!(hooks.run_once().await.unwrap(), 0);
        assert_eq!(erp.got().len(), 7);
        let later = drive(&h.store, "C2").await;
        assert_eq!(hooks.run_once().await.unwrap(), 7);
        let got = erp.got();
        assert_eq!(got.len(), 14);
        assert!(
            got[7..]
                .iter()
                .all(|r| r.json()["issuer_tin"] == "C2" && r.json()["document_id"] != 0)
        );
        assert!(
            got[7..]
                .iter()
                .any(|r| r.json()["document_id"] == later.rejected.0)
        );
        let counts = h.store.outbox().count_by_state().await.unwrap();
        assert_eq!(counts.get(&WebhookState::Delivered), Some(&14));
        assert_eq!(counts.len(), 1);
    }

    pub(super) async fn failures_back_off_on_the_clock_then_die_and_replay_works(h: Harness) {
        let erp = ErpServer::start().await;
        erp.answer(500);
        let s = &*h.store;
        let d = s.documents().insert(doc("C1", "INV-1", "x")).await.unwrap();
        s.documents().claim_received("p", 1, LEASE).await.unwrap();
        s.documents()
            .mark_rejected_locally(
                d.document.id,
                "p",
                &crate::common::errors(ErrorStage::LocalValidation, "CF001"),
            )
            .await
            .unwrap();
        let metrics = invois_gateway::metrics::Metrics::new();
        let hooks = Webhooks::new(h.store.clone(), h.clock.clone(), config(&erp.url, 3))
            .unwrap()
            .with_metrics(metrics.clone());

        assert_eq!(hooks.run_once().await.unwrap(), 1);
        let first = all_deliveries(s).await.remove(0).delivery;
        assert_eq!(first.state, WebhookState::Pending);
        assert_eq!(first.attempts, 1);
        assert_eq!(first.last_error.as_deref(), Some("HTTP 500"));
        let wait = first.next_attempt_at - h.clock.now();
        assert!(
            wait > chrono::Duration::seconds(2) && wait <= chrono::Duration::seconds(5),
            "{wait}"
        );

        // Not due yet: nothing is sent until the clock moves.
        assert_eq!(hooks.run_once().await.unwrap(), 0);
        h.clock.advance(Duration::from_secs(5));
        assert_eq!(hooks.run_once().await.unwrap(), 1);
        let second = s.outbox().get(first.id).await.unwrap().delivery;
        assert_eq!(second.attempts, 2);
        assert_eq!(second.state, WebhookState::Pending);
        // The delay doubled.
        let wait = second.next_attempt_at - h.clock.now();
        assert!(
            wait > chrono::Duration::seconds(7) && wait <= chrono::Duration::seconds(10),
            "{wait}"
        );
        // (The clock also runs at real speed: the margins allow for a slow machine.)
        h.clock.advance(Duration::from_secs(6));
        assert_eq!(hooks.run_once().await.unwrap(), 0);
        h.clock.advance(Duration::from_secs(4));
        assert_eq!(hooks.run_once().await.unwrap(), 1);
        let dead = s.outbox().get(first.id).await.unwrap().delivery;
        assert_eq!(dead.state, WebhookState::Dead);
        assert_eq!(dead.attempts, 3);
        h.clock.advance(Duration::from_secs(3600));
        assert_eq!(hooks.run_once().await.unwrap(), 0);

        let got = erp.got();
        assert_eq!(got.len(), 3);
        assert!(
            got.iter()
                .all(|r| r.delivery == first.id.0 && r.body == got[0].body)
        );
        assert!(got.iter().all(|r| webhooks::verify_signature(
            SECRET,
            &r.timestamp,
            &r.body,
            &r.signature
        )));

        // The log and replay, over HTTP.
        let base = serve(webhooks::routes(h.store.clone())).await;
        let http = reqwest::Client::new();
        let list: Value = http
            .get(format!("{base}/v1/webhooks/deliveries?state=dead"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["id"], first.id.0);
        assert_eq!(list["items"][0]["attempts"], 3);
        assert_eq!(list["items"][0]["last_error"], "HTTP 500");
        // The old camelCase names, deprecated, for one release.
        assert_eq!(list["items"][0]["lastError"], "HTTP 500");
        assert_eq!(
            list["items"][0]["max_attempts"],
            list["items"][0]["maxAttempts"]
        );
        assert_eq!(list["items"][0]["payload"]["state"], "rejected_locally");

        erp.answer(204);
        let replay = http
            .post(format!("{base}/v1/webhooks/deliveries/{}/replay", first.id))
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 201);
        let replay: Value = replay.json().await.unwrap();
        assert_eq!(replay["replay_of"], first.id.0);
        assert_eq!(replay["replayOf"], first.id.0);
        assert_eq!(replay["state"], "pending");
        let replay_id = replay["id"].as_i64().unwrap();
        assert_ne!(replay_id, first.id.0);

        assert_eq!(hooks.run_once().await.unwrap(), 1);
        let got = erp.got();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].delivery, replay_id);
        // The same payload (same eventId) so the ERP can tell it is the same change.
        assert_eq!(got[3].body, got[0].body);
        let replayed = s.outbox().get(WebhookId(replay_id)).await.unwrap();
        assert_eq!(replayed.delivery.state, WebhookState::Delivered);
        assert_eq!(replayed.replay_of, Some(first.id));
        let text = metrics.render(s).await;
        assert!(
            text.contains("invois_webhook_attempts_total{result=\"failed\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("invois_webhook_attempts_total{result=\"delivered\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("invois_webhook_deliveries{state=\"dead\"} 1\n"));
        // The original keeps its own history.
        let original = s.outbox().get(first.id).await.unwrap().delivery;
        assert_eq!(original.state, WebhookState::Dead);
        assert_eq!(original.attempts, 3);

        // A delivered one replays too; a pending one does not (it will be sent anyway).
        let again = http
            .post(format!("{base}/v1/webhooks/deliveries/{replay_id}/replay"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 201);
        let pending_id = again.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let refused = http
            .post(format!("{base}/v1/webhooks/deliveries/{pending_id}/replay"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 409);
        // The same envelope as every other route.
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["error"]["code"], "conflict");
        let text = refused["error"]["message"].as_str().unwrap();
        assert!(text.contains("pending"), "{text}");
        let missing = http
            .post(format!("{base}/v1/webhooks/deliveries/999999/replay"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let bad = http
            .post(format!("{base}/v1/webhooks/deliveries/abc/replay"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);

        // Newest first, by document, paged.
        let by_doc: Value = http
            .get(format!(
                "{base}/v1/webhooks/deliveries?document={}",
                d.document.id
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<i64> = by_doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [pending_id, replay_id, first.id.0]);
        assert!(by_doc["next"].is_null());
        let page: Value = http
            .get(format!("{base}/v1/webhooks/deliveries?limit=2"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["next"], replay_id);
        let rest: Value = http
            .get(format!(
                "{base}/v1/webhooks/deliveries?limit=2&before={replay_id}"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rest["items"][0]["id"], first.id.0);
        let bad = http
            .get(format!("{base}/v1/webhooks/deliveries?state=lost"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let bad: Value = bad.json().await.unwrap();
        assert_eq!(bad["error"]["code"], "bad_request");
        assert_eq!(bad["error"]["field"], "state");
        assert!(
            bad["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`state`")
        );
    }

    pub(super) async fn a_receiver_that_never_answers_times_out_on_the_clock(h: Harness) {
        let mut erp = ErpServer::start().await;
        erp.answer(0);
        let s = &*h.store;
        let d = s.documents().insert(doc("C1", "INV-1", "x")).await.unwrap();
        s.documents().claim_received("p", 1, LEASE).await.unwrap();
        s.documents()
            .mark_rejected_locally(
                d.document.id,
                "p",
                &crate::common::errors(ErrorStage::LocalValidation, "CF001"),
            )
            .await
            .unwrap();
        let hooks = Webhooks::new(h.store.clone(), h.clock.clone(), config(&erp.url, 3)).unwrap();
        let pass = tokio::spawn({
            let hooks = hooks.clone();
            async move { hooks.run_once().await }
        });
        // The request is in flight; the timeout passes on the clock, not in real time.
        erp.arrived.recv().await.unwrap();
        h.clock.advance(Duration::from_secs(11));
        assert_eq!(pass.await.unwrap().unwrap(), 1);
        let hook = all_deliveries(s).await.remove(0).delivery;
        assert_eq!(hook.state, WebhookState::Pending);
        let error = hook.last_error.unwrap();
        assert!(error.contains("no response within 10 s"), "{error}");
        assert!(!error.contains("t0k3n"), "{error}");
    }

    pub(super) async fn racing_relays_create_exactly_one_delivery_per_event(h: Harness) {
        // Documents submitted and awaiting validation; their results are recorded one by one
        // while two instances relay at the same time.
        let s = &*h.store;
        let n = 30;
        let mut uuids = Vec::new();
        for i in 0..n {
            s.documents()
                .insert(doc("C1", &format!("INV-{i}"), &format!("b{i}")))
                .await
                .unwrap();
        }
        for d in s.documents().claim_received("p", 100, LEASE).await.unwrap() {
            s.documents()
                .mark_prepared(
                    d.id,
                    "p",
                    &WireDocument::new(DocumentFormat::Json, b"x".to_vec()),
                )
                .await
                .unwrap();
        }
        let batch = s
            .documents()
            .claim_for_batch("b", 100, 5_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        let sub = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "b".to_owned(),
                client_id: batch.client_id.clone(),
                on_behalf_of: None,
                document_ids: batch.documents.iter().map(|d| d.id).collect(),
                payload: b"p".to_vec(),
                lease: LEASE,
            })
            .await
            .unwrap();
        let accepted: Vec<(DocumentId, String)> = batch
            .documents
            .iter()
            .map(|d| (d.id, format!("U{}", d.id)))
            .collect();
        uuids.extend(accepted.iter().map(|(_, u)| u.clone()));
        s.submissions()
            .record_accepted(
                sub.id,
                &SubmissionAccepted {
                    submission_uid: "SUB".to_owned(),
                    accepted,
                    rejected: vec![],
                },
            )
            .await
            .unwrap();

        let a = h.another_instance().await;
        let b = h.another_instance().await;
        let producer = {
            let store = h.store.clone();
            tokio::spawn(async move {
                for uuid in uuids {
                    store
                        .submissions()
                        .record_validation_results(&[ValidationUpdate {
                            uuid,
                            outcome: ValidationOutcome::Valid {
                                long_id: Some("L".to_owned()),
                                validation_link: Some("https://v.example".to_owned()),
                            },
                        }])
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let relay = |store: Arc<Store>, done: Arc<std::sync::atomic::AtomicBool>| {
            tokio::spawn(async move {
                let mut total = 0;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let n = webhooks::relay_events(&store, 3, 5).await.unwrap();
                    total += n;
                    if n == 0 {
                        if finished {
                            return total;
                        }
                        tokio::task::yield_now().await;
                    }
                }
            })
        };
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ra = relay(a, done.clone());
        let rb = relay(b, done.clone());
        producer.await.unwrap();
        done.store(true, Ordering::SeqCst);
        let total = ra.await.unwrap() + rb.await.unwrap();

        let events = s.documents().events_after(0, 1_000).await.unwrap();
        assert_eq!(events.len(), 2 * n);
        assert_eq!(total, events.len() as u64);
        let deliveries = all_deliveries(s).await;
        assert_eq!(deliveries.len(), events.len());
        let by_event: HashSet<i64> = deliveries.iter().filter_map(|d| d.event_id).collect();
        assert_eq!(by_event.len(), events.len(), "one delivery per event");
        let all: HashSet<i64> = events.iter().map(|e| e.id).collect();
        assert_eq!(by_event, all);
        for d in &deliveries {
            let e = events.iter().find(|e| Some(e.id) == d.event_id).unwrap();
            assert_eq!(d.delivery.event, format!("document.{}", e.state));
            assert_eq!(d.delivery.payload["event_id"], e.id);
            assert_eq!(d.delivery.max_attempts, 5);
        }
        assert_eq!(webhooks::relay_events(s, 100, 5).await.unwrap(), 0);
    }

    pub(super) async fn two_deliverers_never_send_one_delivery_twice(h: Harness) {
        let erp = ErpServer::start().await;
        for issuer in ["C1", "C2", "C3"] {
            drive(&h.store, issuer).await;
        }
        let other = h.another_instance().await;
        let mut one = config(&erp.url, 5);
        one.batch = 2;
        let a = Webhooks::new(h.store.clone(), h.clock.clone(), one.clone())
            .unwrap()
            .with_worker("a");
        let b = Webhooks::new(other, h.clock.clone(), one)
            .unwrap()
            .with_worker("b");
        let run = |w: Webhooks| {
            tokio::spawn(async move {
                let mut idle = 0;
                while idle < 3 {
                    if w.run_once().await.unwrap() == 0 {
                        idle += 1;
                        tokio::task::yield_now().await;
                    } else {
                        idle = 0;
                    }
                }
            })
        };
        let (ra, rb) = (run(a), run(b));
        ra.await.unwrap();
        rb.await.unwrap();
        let got = erp.got();
        assert_eq!(got.len(), 21);
        let distinct: BTreeSet<i64> = got.iter().map(|r| r.delivery).collect();
        assert_eq!(distinct.len(), 21, "each delivery sent once");
        let counts = h.store.outbox().count_by_state().await.unwrap();
        assert_eq!(counts.get(&WebhookState::Delivered), Some(&21));
    }

    pub(super) async fn run_delivers_in_the_background_until_shut_down(h: Harness) {
        let mut erp = ErpServer::start().await;
        let hooks = Webhooks::new(h.store.clone(), h.clock.clone(), config(&erp.url, 5)).unwrap();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(hooks.run(shutdown));
        // Changes made while it runs are picked up without anyone calling it.
        drive(&h.store, "C1").await;
        for _ in 0..7 {
            erp.arrived.recv().await.unwrap();
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(erp.got().len(), 7);
        // Stopped: a later change is relayed by nobody.
        drive(&h.store, "C2").await;
        let counts = h.store.outbox().count_by_state().await.unwrap();
        assert_eq!(counts.values().sum::<u64>(), 7);
    }
}

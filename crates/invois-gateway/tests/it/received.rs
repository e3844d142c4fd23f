//! Received documents (issue 14 item 5): what other taxpayers issue TO the gateway's
//! taxpayer. The store keeps them by uuid with their rejection deadline and the ERP's
//! decision; the pipeline finds them with Search Documents (direction Received), brought
//! forward by notifications; the ERP lists, rejects (at MyInvois, within 72 hours) and
//! accepts them through the API; webhooks announce them. End to end with the real client
//! against the real sandbox, which issues the documents as a supplier, on one clock that the
//! test moves forward. Every case runs on SQLite and, when `TEST_DATABASE_URL` is set, on
//! PostgreSQL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hooks_common::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, SubsecRound as _, Utc};
use invois_api::DocumentStatus;
use invois_client::Client;
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::http::{self, ApiState};
use invois_gateway::pipeline::{Pipeline, PipelineConfig};
use invois_gateway::received_webhooks::relay_received_events;
use invois_gateway::store::*;
use invois_gateway::webhooks::{self, WebhookConfig, WebhookSecret, Webhooks};
use invois_sandbox::{Issue, IssuedDocument};
use invois_testkit::TestSandbox;
use serde_json::{Value, json};

const SECRET: &str = "whsec_received_3c1d";

store_cases!(
    rows_are_keyed_by_uuid_and_changes_become_events,
    decisions_filters_paging_and_sync_state,
    racing_relays_announce_each_received_event_once,
    sandbox_issues_the_gateway_finds_and_the_erp_decides,
    a_search_waits_for_reconciliation_and_intermediaries_never_search,
);

/// A listing as Search Documents would give it, validated at `validated`.
fn listing(uuid: &str, validated: DateTime<Utc>) -> ReceivedListing {
    let mut l = ReceivedListing {
        uuid: uuid.to_owned(),
        submission_uid: format!("SUB-{uuid}"),
        long_id: Some(format!("LONG-{uuid}")),
        internal_id: format!("SUP-{uuid}"),
        type_name: "Invoice".to_owned(),
        type_version: "1.0".to_owned(),
        issuer_tin: "C25845632020".to_owned(),
        issuer_name: Some("Demo Supplier Sdn. Bhd.".to_owned()),
        receiver_tin: Some("C10987654320".to_owned()),
        receiver_name: Some("Demo Buyer Berhad".to_owned()),
        status: DocumentStatus::Valid,
        issued_at: validated - chrono::Duration::minutes(2),
        submitted_at: validated - chrono::Duration::minutes(1),
        validated_at: Some(validated),
        cancelled_at: None,
        reject_requested_at: None,
        status_reason: None,
        total_sales: Some("100.00".to_owned()),
        total_discount: Some("0".to_owned()),
        net_amount: Some("100.00".to_owned()),
        total: Some("106.00".to_owned()),
        listing: String::new(),
    };
    relisted(&mut l);
    l
}

/// What MyInvois lists changes with what it says.
fn relisted(l: &mut ReceivedListing) {
    l.listing = json!({
        "uuid": l.uuid,
        "status": l.status.as_str(),
        "rejectRequestDateTime": l.reject_requested_at,
        "cancelDateTime": l.cancelled_at,
        "documentStatusReason": l.status_reason,
    })
    .to_string();
}

fn kinds(events: &[ReceivedEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

async fn received_deliveries(store: &Store) -> Vec<WebhookLogEntry> {
    store
        .outbox()
        .list(&WebhookFilter {
            limit: 1_000,
            ..WebhookFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.delivery.event.starts_with("received."))
        .collect()
}

/// Records one ERP webhook receiver's requests.
#[derive(Clone, Default)]
struct Erp {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(erp): State<Erp>, headers: HeaderMap, body: Bytes) -> StatusCode {
    erp.got.lock().unwrap().push((headers, body));
    StatusCode::OK
}

impl Erp {
    async fn start() -> (Erp, url::Url) {
        let erp = Erp::default();
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(erp.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (
            erp,
            url::Url::parse(&format!("http://{addr}/hooks")).unwrap(),
        )
    }

    /// Every (event, body) received so far, each signature checked.
    fn take(&self) -> Vec<(String, Value)> {
        let got = std::mem::take(&mut *self.got.lock().unwrap());
        got.into_iter()
            .map(|(headers, body)| {
                let h = |n: &str| headers[n].to_str().unwrap().to_owned();
                assert!(webhooks::verify_signature(
                    SECRET,
                    &h("x-invois-timestamp"),
                    &body,
                    &h("x-invois-signature")
                ));
                (h("x-invois-event"), serde_json::from_slice(&body).unwrap())
            })
            .collect()
    }
}

/// The gateway's ERP API on port 0, with one API key.
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(store: &Arc<Store>, pool: ClientPool, clock: Clock) -> Api {
        let state = ApiState::new(store.clone(), pool, clock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, http::router(state)).await });
        let (_, secret) = store.api_keys().create("erp").await.unwrap();
        Api {
            base: format!("http://{addr}"),
            key: secret.expose().to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.bearer_auth(&self.key).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn uuids(body: &Value) -> Vec<String> {
    body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uuid"].as_str().unwrap().to_owned())
        .collect()
}

mod cases {
    use super::*;

    pub(super) async fn rows_are_keyed_by_uuid_and_changes_become_events(h: Harness) {
        let received = h.store.received();
        let t0 = micros(h.clock.now());
        let mut a = listing("AAA", t0);
        assert_eq!(received.upsert(&a).await.unwrap(), ReceivedUpsert::Inserted);
        // An overlapping search lists it again: nothing changes, nothing is announced.
        assert_eq!(
            received.upsert(&a).await.unwrap(),
            ReceivedUpsert::Unchanged
        );
        let stored = received.get("AAA").await.unwrap();
        assert_eq!(stored.document, a);
        assert_eq!(
            stored.reject_deadline,
            Some(t0 + invois_api::windows::REJECTION_WINDOW)
        );
        assert_eq!(stored.decision, None);
        assert_eq!(
            kinds(&received.events(stored.id).await.unwrap()),
            ["received"]
        );

        // Rejected in the portal: MyInvois' listing says so, and that is the decision.
        a.reject_requested_at = Some(t0 + chrono::Duration::hours(1));
        a.status_reason = Some("wrong SST number".to_owned());
        relisted(&mut a);
        assert_eq!(received.upsert(&a).await.unwrap(), ReceivedUpsert::Updated);
        let stored = received.get("AAA").await.unwrap();
        assert_eq!(stored.decision, Some(Decision::Rejected));
        assert_eq!(stored.decision_reason.as_deref(), Some("wrong SST number"));
        // Its supplier agrees and cancels it.
        a.status = DocumentStatus::Cancelled;
        a.cancelled_at = Some(t0 + chrono::Duration::hours(2));
        relisted(&mut a);
        assert_eq!(received.upsert(&a).await.unwrap(), ReceivedUpsert::Updated);
        assert_eq!(
            received.upsert(&a).await.unwrap(),
            ReceivedUpsert::Unchanged
        );
        assert_eq!(
            kinds(&received.events(stored.id).await.unwrap()),
            ["received", "rejected", "cancelled"]
        );

        // A rejection through the gateway is recorded once, however often it is repeated.
        let b = listing("BBB", t0);
        received.upsert(&b).await.unwrap();
        let r = received
            .record_rejection("BBB", "quantity is 2, not 20")
            .await
            .unwrap();
        assert_eq!(r.decision, Some(Decision::Rejected));
        assert!(r.decided_at.is_some());
        received.record_rejection("BBB", "again").await.unwrap();
        let r = received.get("BBB").await.unwrap();
        assert_eq!(r.decision_reason.as_deref(), Some("quantity is 2, not 20"));
        assert_eq!(
            kinds(&received.events(r.id).await.unwrap()),
            ["received", "rejected"]
        );
        // The next search lists the rejection MyInvois recorded: no second announcement.
        let mut b = b;
        b.reject_requested_at = r.document.reject_requested_at;
        b.status_reason = Some("quantity is 2, not 20".to_owned());
        relisted(&mut b);
        assert_eq!(received.upsert(&b).await.unwrap(), ReceivedUpsert::Updated);
        assert_eq!(received.events(r.id).await.unwrap().len(), 2);
        // What was rejected cannot be accepted.
        assert!(matches!(
            received.record_acceptance("BBB").await,
            Err(StoreError::StaleTransition { .. })
        ));
        assert!(matches!(
            received.get("NOPE").await,
            Err(StoreError::NotFound(_))
        ));

        // Each event becomes one delivery, with a typed body.
        assert_eq!(relay_received_events(&h.store, 100, 5).await.unwrap(), 5);
        assert_eq!(relay_received_events(&h.store, 100, 5).await.unwrap(), 0);
        let deliveries = received_deliveries(&h.store).await;
        let mut events: Vec<&str> = deliveries
            .iter()
            .map(|d| d.delivery.event.as_str())
            .collect();
        events.sort_unstable();
        assert_eq!(
            events,
            [
                "received.cancelled",
                "received.new",
                "received.new",
                "received.rejected",
                "received.rejected"
            ]
        );
        for d in &deliveries {
            assert_eq!(d.delivery.document_id, None);
            assert_eq!(d.delivery.state, WebhookState::Pending);
            let p = &d.delivery.payload;
            assert_eq!(p["event"], d.delivery.event.as_str());
            assert!(p["received_event_id"].as_i64().unwrap() > 0);
            assert!(p.get("event_id").is_none(), "{p}");
        }
        let cancelled = deliveries
            .iter()
            .find(|d| d.delivery.event == "received.cancelled")
            .unwrap();
        assert_eq!(cancelled.delivery.payload["status"], "cancelled");
        assert_eq!(cancelled.delivery.payload["uuid"], "AAA");
        assert_eq!(cancelled.delivery.payload["decision"], "rejected");
    }

    pub(super) async fn decisions_filters_paging_and_sync_state(h: Harness) {
        let received = h.store.received();
        let t0 = micros(h.clock.now());
        for (uuid, issuer) in [("R1", "C1"), ("R2", "C1"), ("R3", "C2"), ("R4", "C2")] {
            let mut l = listing(uuid, t0);
            l.issuer_tin = issuer.to_owned();
            received.upsert(&l).await.unwrap();
        }
        let mut r4 = listing("R4", t0);
        r4.issuer_tin = "C2".to_owned();
        r4.status = DocumentStatus::Cancelled;
        r4.cancelled_at = Some(t0);
        relisted(&mut r4);
        received.upsert(&r4).await.unwrap();
        let accepted = received.record_acceptance("R1").await.unwrap();
        assert_eq!(accepted.decision, Some(Decision::Accepted));
        // Repeating an acceptance changes nothing.
        assert_eq!(received.record_acceptance("R1").await.unwrap(), accepted);
        received
            .record_rejection("R2", "wrong price")
            .await
            .unwrap();

        let list = |filter: ReceivedFilter| {
            let store = h.store.clone();
            async move {
                let page = store.received().list(&filter).await.unwrap();
                (
                    page.items
                        .iter()
                        .map(|r| r.document.uuid.clone())
                        .collect::<Vec<_>>(),
                    page.next,
                )
            }
        };
        let all = list(ReceivedFilter::default()).await;
        assert_eq!(
            all,
            (
                vec!["R1".into(), "R2".into(), "R3".into(), "R4".into()],
                None
            )
        );
        let pending = ReceivedFilter {
            decision: Some(DecisionFilter::Pending),
            ..ReceivedFilter::default()
        };
        assert_eq!(list(pending).await.0, ["R3", "R4"]);
        let rejected = ReceivedFilter {
            decision: Some(DecisionFilter::Is(Decision::Rejected)),
            ..ReceivedFilter::default()
        };
        assert_eq!(list(rejected).await.0, ["R2"]);
        let by_issuer = ReceivedFilter {
            issuer_tin: Some("C2".to_owned()),
            status: Some(DocumentStatus::Valid),
            ..ReceivedFilter::default()
        };
        assert_eq!(list(by_issuer).await.0, ["R3"]);
        let open = ReceivedFilter {
            open: true,
            ..ReceivedFilter::default()
        };
        // Valid, undecided, before its deadline.
        assert_eq!(list(open.clone()).await.0, ["R3"]);
        // Keyset paging.
        let (first, next) = list(ReceivedFilter {
            limit: 3,
            ..ReceivedFilter::default()
        })
        .await;
        assert_eq!(first, ["R1", "R2", "R3"]);
        let (rest, next) = list(ReceivedFilter {
            limit: 3,
            after: next,
            ..ReceivedFilter::default()
        })
        .await;
        assert_eq!((rest, next), (vec!["R4".to_owned()], None));
        // Past the deadline nothing is open any more.
        h.clock.advance(Duration::from_secs(72 * 3600 + 1));
        assert!(list(open).await.0.is_empty());

        // The sweep's progress survives a restart (another instance reads it).
        assert_eq!(
            received.sync_state("client-a").await.unwrap(),
            ReceivedSync::default()
        );
        let sync = ReceivedSync {
            searched_to: Some(t0),
            notified_to: Some(t0 - chrono::Duration::seconds(5)),
            notified_ids: vec!["N1".to_owned(), "N2".to_owned()],
            next_sweep_at: Some(t0 + chrono::Duration::minutes(15)),
        };
        received.save_sync("client-a", &sync).await.unwrap();
        let other = h.another_instance().await;
        assert_eq!(other.received().sync_state("client-a").await.unwrap(), sync);
        let later = ReceivedSync {
            searched_to: Some(t0 + chrono::Duration::minutes(15)),
            ..sync
        };
        other
            .received()
            .save_sync("client-a", &later)
            .await
            .unwrap();
        assert_eq!(received.sync_state("client-a").await.unwrap(), later);
        assert_eq!(
            received.sync_state("client-b").await.unwrap(),
            ReceivedSync::default()
        );
    }

    pub(super) async fn racing_relays_announce_each_received_event_once(h: Harness) {
        let t0 = micros(h.clock.now());
        for i in 0..40 {
            h.store
                .received()
                .upsert(&listing(&format!("RACE{i:02}"), t0))
                .await
                .unwrap();
        }
        let other = h.another_instance().await;
        let mut tasks = Vec::new();
        for store in [h.store.clone(), other.clone(), h.store.clone(), other] {
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                loop {
                    let relayed = relay_received_events(&store, 7, 5).await.unwrap();
                    n += relayed;
                    if relayed == 0 {
                        return n;
                    }
                }
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, 40);
        let deliveries = received_deliveries(&h.store).await;
        assert_eq!(deliveries.len(), 40);
        let mut ids: Vec<i64> = deliveries
            .iter()
            .map(|d| d.delivery.payload["received_event_id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 40);
    }

    /// The whole story on one clock: the sandbox (as a supplier) issues three documents to
    /// the demo buyer; the gateway, logged in as the buyer, finds them; the API lists them
    /// with their deadlines; the ERP rejects one (the sandbox shows it rejected) and accepts
    /// another; the supplier cancels the rejected one; 72 hours later a rejection is a 409
    /// naming the deadline; webhooks announce each step.
    pub(super) async fn sandbox_issues_the_gateway_finds_and_the_erp_decides(h: Harness) {
        let clock = h.clock.clone();
        let sandbox = TestSandbox::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let buyer = sandbox.buyer();
        let issued: Vec<IssuedDocument> = (1..=3)
            .map(|i| {
                let issue = Issue {
                    internal_id: Some(format!("SUP-{i}")),
                    ..Issue::default()
                };
                sandbox.sandbox().issue_to(&buyer.tin, &issue).unwrap()
            })
            .collect();
        let client = Client::builder()
            .api_base(sandbox.base_url())
            .credentials(buyer.client_id.clone(), buyer.client_secret.as_str())
            .clock(clock.clone())
            .build()
            .unwrap();
        let pool = ClientPool::new(client, LoginMode::Taxpayer);
        let pipeline = Pipeline::new(
            h.store.clone(),
            pool.clone(),
            None,
            PipelineConfig::default(),
        );

        // The first pass searches (nothing was searched before) and finds the three.
        let pass = pipeline.received_once().await.unwrap();
        assert!(pass.searched && pass.notified, "{pass:?}");
        assert_eq!((pass.listed, pass.inserted), (3, 3), "{pass:?}");
        // Nothing new: no notification, and the next scheduled search is minutes away.
        let pass = pipeline.received_once().await.unwrap();
        assert!(!pass.searched && !pass.notified, "{pass:?}");
        // A restarted gateway continues from the stored progress rather than searching again.
        let restarted = Pipeline::new(
            h.store.clone(),
            pool.clone(),
            None,
            PipelineConfig::default(),
        );
        assert!(!restarted.received_once().await.unwrap().searched);

        // Webhooks: one received.new per document, signed.
        let (erp, url) = Erp::start().await;
        let hooks = Webhooks::new(
            h.store.clone(),
            clock.clone(),
            WebhookConfig::new(url, WebhookSecret::new(SECRET)),
        )
        .unwrap();
        assert_eq!(hooks.run_once().await.unwrap(), 3);
        let got = erp.take();
        assert!(got.iter().all(|(event, _)| event == "received.new"));
        let mut announced: Vec<&str> = got
            .iter()
            .map(|(_, b)| b["uuid"].as_str().unwrap())
            .collect();
        announced.sort_unstable();
        let mut expected: Vec<&str> = issued.iter().map(|d| d.uuid.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(announced, expected);
        for (_, body) in &got {
            let doc = issued.iter().find(|d| d.uuid == body["uuid"]).unwrap();
            assert_eq!(body["issuer_tin"], doc.supplier_tin.as_str());
            assert_eq!(body["internal_id"], doc.internal_id.as_str());
            assert_eq!(body["status"], "valid");
            assert_eq!(
                time(&body["reject_deadline"]),
                doc.validated_at.trunc_subsecs(0) + invois_api::windows::REJECTION_WINDOW
            );
        }

        let api = Api::start(&h.store, pool.clone(), clock.clone()).await;
        check_listing(&api, &issued).await;
        decide(&api, &sandbox, &issued).await;
        let got = erp.take();
        assert!(got.is_empty(), "nothing relayed yet: {got:?}");
        assert_eq!(hooks.run_once().await.unwrap(), 1);
        let got = erp.take();
        assert_eq!(got[0].0, "received.rejected");
        assert_eq!(got[0].1["uuid"], issued[0].uuid.as_str());
        assert_eq!(got[0].1["reason"], "wrong quantity: 2, not 20");

        // The supplier agrees and cancels it; the buyer's notification brings a search
        // forward, which records the cancellation and announces it.
        clock.advance(Duration::from_secs(60));
        let supplier = sandbox.supplier();
        let supplier = Client::builder()
            .api_base(sandbox.base_url())
            .credentials(supplier.client_id, supplier.client_secret.as_str())
            .clock(clock.clone())
            .build()
            .unwrap();
        supplier
            .documents()
            .cancel(&issued[0].uuid, "rejected by the buyer")
            .await
            .unwrap();
        let pass = pipeline.received_once().await.unwrap();
        assert!(pass.notified && pass.searched, "{pass:?}");
        assert_eq!((pass.inserted, pass.updated), (0, 1), "{pass:?}");
        let (_, body) = api.get(&format!("/v1/received/{}", issued[0].uuid)).await;
        assert_eq!(body["status"], "cancelled", "{body}");
        let events: Vec<&str> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["received", "rejected", "cancelled"]);
        assert_eq!(hooks.run_once().await.unwrap(), 1);
        assert_eq!(erp.take()[0].0, "received.cancelled");

        // 72 hours after validation: too late, and the answer names the deadline.
        clock.advance(Duration::from_secs(72 * 3600));
        let deadline =
            issued[2].validated_at.trunc_subsecs(0) + invois_api::windows::REJECTION_WINDOW;
        let (status, body) = api
            .post(
                &format!("/v1/received/{}/reject", issued[2].uuid),
                Some(json!({"reason": "late"})),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "rejection_period_over");
        let message = body["error"]["message"].as_str().unwrap();
        let named = deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert!(message.contains(&named), "{message} should name {named}");
        let (_, body) = api.get("/v1/received?open=true").await;
        assert!(uuids(&body).is_empty(), "{body}");
        let (_, body) = api.get(&format!("/v1/received/{}", issued[2].uuid)).await;
        assert_eq!(body["rejectable"], false);
        // MyInvois was never asked.
        sandbox.sandbox().with_store(|s| {
            assert!(
                s.document(&issued[2].uuid)
                    .unwrap()
                    .reject_requested
                    .is_none()
            );
        });
    }

    /// Search Documents' small budget goes to reconciliation first: while a submission's
    /// outcome is unknown, a notified search waits, and runs once it is settled. With
    /// intermediary credentials (which MyInvois never shows received documents) nothing is
    /// asked at all.
    pub(super) async fn a_search_waits_for_reconciliation_and_intermediaries_never_search(
        h: Harness,
    ) {
        let clock = h.clock.clone();
        let sandbox = TestSandbox::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let buyer = sandbox.buyer();
        let login = |who: invois_testkit::Login| {
            let mut b = Client::builder()
                .api_base(sandbox.base_url())
                .credentials(who.client_id, who.client_secret.as_str())
                .clock(clock.clone());
            if let Some(obo) = who.on_behalf_of {
                b = b.on_behalf_of(obo);
            }
            b.build().unwrap()
        };
        let agent = Pipeline::new(
            h.store.clone(),
            ClientPool::new(login(sandbox.intermediary()), LoginMode::Intermediary),
            None,
            PipelineConfig::default(),
        );
        assert_eq!(agent.received_once().await.unwrap(), Default::default());
        assert_eq!(
            h.store
                .received()
                .sync_state(agent.clients().client_id())
                .await
                .unwrap(),
            ReceivedSync::default()
        );

        let unsettled = unknown_submission(&h.store).await;
        let doc = sandbox
            .sandbox()
            .issue_to(&buyer.tin, &Issue::default())
            .unwrap();
        let pool = ClientPool::new(login(buyer), LoginMode::Taxpayer);
        let pipeline = Pipeline::new(h.store.clone(), pool, None, PipelineConfig::default());
        let pass = pipeline.received_once().await.unwrap();
        assert!(pass.notified && !pass.searched, "{pass:?}");
        // The notification is used up, but its search stays due.
        let pass = pipeline.received_once().await.unwrap();
        assert!(!pass.notified && !pass.searched, "{pass:?}");
        h.store
            .submissions()
            .record_not_received(unsettled)
            .await
            .unwrap();
        let pass = pipeline.received_once().await.unwrap();
        assert!(pass.searched && pass.inserted == 1, "{pass:?}");
        let found = h.store.received().get(&doc.uuid).await.unwrap();
        assert_eq!(found.document.internal_id, doc.internal_id);
    }

    /// A submission whose outcome is unknown, as after a timeout.
    async fn unknown_submission(store: &Store) -> SubmissionId {
        let d = store
            .documents()
            .insert(doc("C1", "OWN-1", "body"))
            .await
            .unwrap();
        store
            .documents()
            .claim_received("w", 10, LEASE)
            .await
            .unwrap();
        store
            .documents()
            .mark_prepared(
                d.document.id,
                "w",
                &invois_api::submission::WireDocument::new(
                    DocumentFormat::Json,
                    b"prepared".to_vec(),
                ),
            )
            .await
            .unwrap();
        let batch = store
            .documents()
            .claim_for_batch("w", 100, 5_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        let sub = store
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "w".to_owned(),
                client_id: batch.client_id,
                on_behalf_of: None,
                document_ids: vec![d.document.id],
                payload: b"payload".to_vec(),
                lease: LEASE,
            })
            .await
            .unwrap();
        store
            .submissions()
            .record_unknown(sub.id, "timed out")
            .await
            .unwrap();
        sub.id
    }

    /// `GET /v1/received`: the three, oldest first, each with its deadline; paging; one by
    /// uuid; bad input named.
    async fn check_listing(api: &Api, issued: &[IssuedDocument]) {
        let (status, body) = api.get("/v1/received").await;
        assert_eq!(status, 200, "{body}");
        let listed = uuids(&body);
        assert_eq!(listed.len(), 3, "{body}");
        for d in body["documents"].as_array().unwrap() {
            let doc = issued.iter().find(|i| i.uuid == d["uuid"]).unwrap();
            assert_eq!(
                time(&d["reject_deadline"]),
                doc.validated_at.trunc_subsecs(0) + invois_api::windows::REJECTION_WINDOW,
                "{d}"
            );
            assert_eq!(d["rejectable"], true);
            assert_eq!(d["decision"], Value::Null);
            assert_eq!(d["status"], "valid");
            assert_eq!(d["receiver_tin"], doc.buyer_tin.as_str());
            assert!(
                d["validation_link"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{}/share/{}", doc.uuid, doc.long_id)),
                "{d}"
            );
        }
        let (_, page) = api.get("/v1/received?limit=2").await;
        assert_eq!(uuids(&page), listed[..2]);
        let next = page["next"].as_i64().unwrap();
        let (_, page) = api.get(&format!("/v1/received?limit=2&after={next}")).await;
        assert_eq!(uuids(&page), listed[2..]);
        assert_eq!(page["next"], Value::Null);

        let (status, body) = api.get(&format!("/v1/received/{}", issued[1].uuid)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["internal_id"], "SUP-2");
        assert_eq!(body["events"][0]["kind"], "received");
        assert_eq!(
            body["links"]["reject"],
            format!("/v1/received/{}/reject", issued[1].uuid)
        );
        for (path, code, field) in [
            ("/v1/received/NOSUCHUUID", 404, None),
            ("/v1/received/bad%20uuid", 400, Some("uuid")),
            ("/v1/received?decision=maybe", 400, Some("decision")),
            ("/v1/received?open=yes", 400, Some("open")),
            ("/v1/received?colour=red", 400, None),
        ] {
            let (status, body) = api.get(path).await;
            assert_eq!(status, code, "{path}: {body}");
            if let Some(field) = field {
                assert_eq!(body["error"]["field"], field, "{path}: {body}");
            }
        }
    }

    /// Reject the first (MyInvois records it), accept the second, and the refusals between.
    async fn decide(api: &Api, sandbox: &TestSandbox, issued: &[IssuedDocument]) {
        let reject = |i: usize| format!("/v1/received/{}/reject", issued[i].uuid);
        let accept = |i: usize| format!("/v1/received/{}/accept", issued[i].uuid);
        let (status, body) = api.post(&reject(0), Some(json!({}))).await;
        assert_eq!((status, &body["error"]["field"]), (400, &json!("reason")));
        let (status, body) = api.post(&reject(0), Some(json!({"reason": "  "}))).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = api
            .post(&reject(0), Some(json!({"reason": "x".repeat(301)})))
            .await;
        assert_eq!(status, 400, "{body}");

        let why = json!({"reason": "wrong quantity: 2, not 20"});
        let (status, body) = api.post(&reject(0), Some(why.clone())).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["decision"], "rejected");
        assert_eq!(body["decision_reason"], "wrong quantity: 2, not 20");
        assert_eq!(body["rejectable"], false);
        // MyInvois recorded the request; the document stays valid until its supplier
        // cancels it.
        sandbox.sandbox().with_store(|s| {
            let doc = s.document(&issued[0].uuid).unwrap();
            assert!(doc.reject_requested.is_some());
            assert_eq!(
                doc.status_reason.as_deref(),
                Some("wrong quantity: 2, not 20")
            );
            assert_eq!(doc.status, DocumentStatus::Valid);
        });
        // A repeat (the first answer lost) is the same answer, not a second request.
        let (status, again) = api.post(&reject(0), Some(why)).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["decided_at"], body["decided_at"]);

        let (status, body) = api.post(&accept(1), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["decision"], "accepted");
        let (status, _) = api.post(&accept(1), None).await;
        assert_eq!(status, 200);
        let (status, body) = api
            .post(&reject(1), Some(json!({"reason": "changed our mind"})))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("already_accepted"))
        );
        let (status, body) = api.post(&accept(0), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("already_rejected"))
        );

        let (_, body) = api.get("/v1/received?decision=pending").await;
        assert_eq!(uuids(&body), [issued[2].uuid.clone()]);
        let (_, body) = api.get("/v1/received?open=true").await;
        assert_eq!(uuids(&body), [issued[2].uuid.clone()]);
        let (_, body) = api.get("/v1/received?decision=rejected").await;
        assert_eq!(uuids(&body), [issued[0].uuid.clone()]);
    }
}

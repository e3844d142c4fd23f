//! The pipeline end to end: the real client against the real sandbox over HTTP on port 0,
//! on one scaled clock, with the store on SQLite (and PostgreSQL when `TEST_DATABASE_URL` is
//! set).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use invois_api::{DocumentStatus, Endpoint, RateProfile};
use invois_client::{CallEvent, CallOutcome, Client, ClientObserver, RateLimits};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::document_errors::ErrorStage;
use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown, SubmitOutcome};
use invois_gateway::store::{
    DocumentFilter, DocumentFormat, DocumentState, NewDocument, Store, SubmissionFilter,
    SubmissionState,
};
use invois_sandbox::Faults;
use invois_testkit::{TestSandbox, samples};

/// A validation step that finds one internal id invalid, as MyInvois would for a reason the
/// gateway cannot check locally.
struct RefuseInternalId(&'static str);

impl invois_sandbox::Validator for RefuseInternalId {
    fn name(&self) -> &str {
        "Step99-Test Refusal"
    }

    fn validate(
        &self,
        input: &invois_sandbox::ValidationInput<'_>,
    ) -> Result<(), invois_api::StepError> {
        if input.model.id() == Some(self.0) {
            return Err(invois_api::StepError {
                property_name: Some("ID".to_owned()),
                property_path: Some("Invoice.ID".to_owned()),
                error_code: Some("Error99".to_owned()),
                error: Some("refused by the test".to_owned()),
                error_ms: None,
                target: None,
                inner_error: None,
            });
        }
        Ok(())
    }
}

fn client_for(sandbox: &TestSandbox) -> Client {
    let who = sandbox.supplier();
    Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .rate_limits(RateLimits::profile(RateProfile::Production))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn invoice(sandbox: &TestSandbox, id: &str, issued_days_ago: i64) -> Vec<u8> {
    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let issued = sandbox.clock().now()
        - chrono::Duration::days(issued_days_ago)
        - chrono::Duration::minutes(5);
    samples::adapt_json(
        &mut doc,
        id,
        issued,
        &sandbox.supplier().tin,
        &sandbox.buyer().tin,
    );
    samples::minified(&doc)
}

fn new_document(client_id: &str, tin: &str, id: &str, bytes: Vec<u8>) -> NewDocument {
    NewDocument {
        issuer_tin: tin.to_owned(),
        type_code: "01".to_owned(),
        internal_id: id.to_owned(),
        version: 1,
        format: DocumentFormat::Json,
        client_id: client_id.to_owned(),
        on_behalf_of: None,
        received: bytes,
    }
}

/// Stores `n` of today's invoices from the sandbox's supplier, internal ids `{prefix}-0000` on.
async fn insert_invoices(
    store: &Store,
    sandbox: &TestSandbox,
    client_id: &str,
    prefix: &str,
    n: usize,
) {
    let tin = sandbox.supplier().tin;
    for i in 0..n {
        let id = format!("{prefix}-{i:04}");
        let new = new_document(client_id, &tin, &id, invoice(sandbox, &id, 0));
        store.documents().insert(new).await.unwrap();
    }
}

fn config() -> PipelineConfig {
    PipelineConfig {
        idle: Duration::from_millis(500),
        reconcile_grace: Duration::from_secs(20),
        ..PipelineConfig::default()
    }
}

async fn settle(pipeline: &Pipeline) {
    let (_trigger, shutdown) = Shutdown::new();
    let settled = tokio::time::timeout(
        Duration::from_secs(120),
        pipeline.run_until_settled(shutdown),
    )
    .await;
    let Ok(settled) = settled else {
        let counts = pipeline.store().documents().count_by_state().await;
        panic!("the pipeline did not settle within two minutes: {counts:?}");
    };
    settled.expect("no pipeline error");
}

/// How many copies of each internal id MyInvois (the sandbox) accepted.
fn sandbox_copies(sandbox: &TestSandbox) -> HashMap<String, usize> {
    sandbox.sandbox().with_store(|s| {
        let mut copies = HashMap::new();
        for d in s.documents() {
            *copies.entry(d.summary().internal_id.clone()).or_insert(0) += 1;
        }
        copies
    })
}

async fn all_documents(store: &Store) -> Vec<invois_gateway::store::DocumentRecord> {
    let mut out = Vec::new();
    let mut filter = DocumentFilter {
        limit: 1000,
        ..DocumentFilter::default()
    };
    loop {
        let page = store.documents().list(&filter).await.unwrap();
        out.extend(page.items);
        match page.next {
            Some(next) => filter.after = Some(next),
            None => return out,
        }
    }
}

async fn batches_valid_invalid_and_local_rejections(store: Arc<Store>, clock: Clock) {
    let sandbox = TestSandbox::builder()
        .clock(clock)
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(3))
        .validator(Arc::new(RefuseInternalId("P-DUP")))
        .start()
        .await
        .unwrap();
    let client = client_for(&sandbox);
    let tin = sandbox.supplier().tin;
    let client_id = client.client_id().to_owned();
    insert_invoices(&store, &sandbox, &client_id, "P", 205).await;
    // Issued four days ago: the local 72-hour check rejects it before it is sent.
    store
        .documents()
        .insert(new_document(
            &client_id,
            &tin,
            "P-OLD",
            invoice(&sandbox, "P-OLD", 4),
        ))
        .await
        .unwrap();
    // Locally fine, but the sandbox's extra step (below) finds it invalid.
    store
        .documents()
        .insert(new_document(
            &client_id,
            &tin,
            "P-DUP",
            invoice(&sandbox, "P-DUP", 0),
        ))
        .await
        .unwrap();
    // Not a document at all: rejected locally, never sent.
    store
        .documents()
        .insert(new_document(
            &client_id,
            &tin,
            "P-BAD",
            b"{\"Invoice\": 1}".to_vec(),
        ))
        .await
        .unwrap();

    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        config(),
    );
    settle(&pipeline).await;

    let docs = all_documents(store.as_ref()).await;
    let mut by_state: HashMap<DocumentState, usize> = HashMap::new();
    for d in &docs {
        *by_state.entry(d.state).or_default() += 1;
    }
    assert_eq!(
        by_state.get(&DocumentState::Valid),
        Some(&205),
        "{by_state:?} {:?}",
        docs[0].errors
    );
    assert_eq!(
        by_state.get(&DocumentState::Invalid),
        Some(&1),
        "{by_state:?}"
    );
    assert_eq!(
        by_state.get(&DocumentState::RejectedLocally),
        Some(&2),
        "{by_state:?}"
    );
    for d in docs.iter().filter(|d| d.state == DocumentState::Valid) {
        let uuid = d.uuid.as_deref().unwrap();
        let link = d.validation_link.as_deref().unwrap();
        // The link is built from the real longId, never from an empty one.
        let long_id = d.long_id.as_deref().unwrap();
        assert!(!long_id.is_empty() && link.ends_with(&format!("/share/{long_id}")));
        assert!(
            link.starts_with(&format!(
                "https://preprod.myinvois.hasil.gov.my/{uuid}/share/"
            )),
            "{link}"
        );
    }
    let dup = docs.iter().find(|d| d.internal_id == "P-DUP").unwrap();
    assert_eq!(dup.state, DocumentState::Invalid);
    // MyInvois' duplicate finding, from its validation steps, as one typed error.
    assert!(
        dup.errors
            .iter()
            .any(|e| e.stage == ErrorStage::Validation && e.lhdn_code.is_some()),
        "{:?}",
        dup.errors
    );
    let old = docs.iter().find(|d| d.internal_id == "P-OLD").unwrap();
    assert_eq!(old.state, DocumentState::RejectedLocally);
    assert!(
        old.errors
            .iter()
            .any(|e| e.stage == ErrorStage::LocalValidation
                && e.field.as_deref().is_some_and(|f| f.contains("IssueDate"))),
        "{:?}",
        old.errors
    );
    let bad = docs.iter().find(|d| d.internal_id == "P-BAD").unwrap();
    assert_eq!(bad.errors.len(), 1, "{:?}", bad.errors);
    assert_eq!(bad.errors[0].stage, ErrorStage::Intake);
    assert!(bad.errors[0].message.contains("could not be read"));

    // 206 sendable documents: three submissions of at most 100, each accepted once.
    let subs = store
        .submissions()
        .list(&SubmissionFilter::default())
        .await
        .unwrap();
    assert_eq!(subs.len(), 3, "{subs:?}");
    assert!(subs.iter().all(|s| s.state == SubmissionState::Accepted));
    assert!(subs.iter().all(|s| s.document_count <= 100));
    let copies = sandbox_copies(&sandbox);
    assert_eq!(copies.len(), 206);
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
    assert!(!copies.contains_key("P-BAD"));

    // Status events were written with each change: submitted then valid.
    let first = docs.iter().find(|d| d.internal_id == "P-0000").unwrap();
    let events: Vec<DocumentState> = store
        .documents()
        .events(first.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.state)
        .collect();
    assert_eq!(events, vec![DocumentState::Submitted, DocumentState::Valid]);
}

async fn faults_never_duplicate_a_document(store: Arc<Store>, clock: Clock) {
    let sandbox = TestSandbox::builder()
        .clock(clock)
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let client = client_for(&sandbox);
    let client_id = client.client_id().to_owned();
    // Responses lost after processing, 5xx before processing: every kind of unknown outcome.
    sandbox.sandbox().set_faults(Faults {
        error_rate: 0.15,
        drop_rate: 0.2,
        ..Faults::default()
    });
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        PipelineConfig {
            // Small batches make many submissions, so many of them meet a fault: at 5 a
            // batch (20 submissions, each faulted with probability 0.35) about one run in a
            // hundred met fewer than the three faults waited for below, once the submit
            // workers stopped splitting batches between them; at 2 (50 submissions) it is
            // under one in a million.
            max_documents: 2,
            ..config()
        },
    );
    insert_invoices(&store, &sandbox, &client_id, "F", 100).await;
    let (trigger, shutdown) = Shutdown::new();
    let runner = {
        let p = pipeline.clone();
        tokio::spawn(async move { p.run(shutdown).await })
    };
    // Let the faults bite (three attempts with an unknown or refused outcome), then lift
    // them so everything can finish.
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let subs = store
                .submissions()
                .list(&SubmissionFilter {
                    limit: 1000,
                    ..SubmissionFilter::default()
                })
                .await
                .unwrap();
            if subs.iter().filter(|s| s.last_error.is_some()).count() >= 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the faults bite");
    sandbox.sandbox().set_faults(Faults::default());
    let settled = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let counts = store.documents().count_by_state().await.unwrap();
            if counts.keys().all(|s| s.is_final()) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("everything settles once the faults stop");
    trigger.trigger();
    runner.await.unwrap();
    assert_eq!(
        settled.get(&DocumentState::Valid),
        Some(&100),
        "{settled:?}"
    );
    let copies = sandbox_copies(&sandbox);
    assert_eq!(copies.len(), 100, "{copies:?}");
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
    let subs = store
        .submissions()
        .list(&SubmissionFilter {
            limit: 1000,
            ..SubmissionFilter::default()
        })
        .await
        .unwrap();
    // The faults did bite: some attempts' outcomes were unknown and had to be reconciled.
    assert!(
        subs.iter()
            .any(|s| s.last_error.is_some() || s.state == SubmissionState::NotReceived),
        "{subs:?}"
    );
    // Every settled submission is accounted for; none is left hanging.
    assert!(
        subs.iter().all(|s| matches!(
            s.state,
            SubmissionState::Accepted | SubmissionState::NotReceived
        )),
        "{subs:?}"
    );
}

/// MyInvois refuses a submission with `MaximumSizeExceeded` when it holds more documents or
/// bytes than it accepts. The gateway keeps to the published limits, so the sandbox is told
/// to enforce tighter ones (as if MyInvois had lowered them), and the gateway must split its
/// batches until they fit: every document valid once, and no accepted submission over the
/// limit.
async fn split_until_it_fits(
    store: Arc<Store>,
    clock: Clock,
    faults: Faults,
    documents: usize,
    fits: impl Fn(usize, usize) -> bool,
) {
    let sandbox = TestSandbox::builder()
        .clock(clock)
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    sandbox.sandbox().set_faults(faults);
    let client = client_for(&sandbox);
    let tin = sandbox.supplier().tin;
    let client_id = client.client_id().to_owned();
    let mut sizes = HashMap::new();
    for i in 0..documents {
        let id = format!("S-{i:04}");
        let bytes = invoice(&sandbox, &id, 0);
        sizes.insert(id.clone(), bytes.len());
        store
            .documents()
            .insert(new_document(&client_id, &tin, &id, bytes))
            .await
            .unwrap();
    }
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        config(),
    );
    settle(&pipeline).await;

    let docs = all_documents(&store).await;
    assert_eq!(docs.len(), documents);
    assert!(
        docs.iter().all(|d| d.state == DocumentState::Valid),
        "{:?}",
        docs.iter()
            .map(|d| (&d.internal_id, d.state))
            .collect::<Vec<_>>()
    );
    let copies = sandbox_copies(&sandbox);
    assert_eq!(copies.len(), documents, "{copies:?}");
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");

    let subs = store
        .submissions()
        .list(&SubmissionFilter {
            limit: 1000,
            ..SubmissionFilter::default()
        })
        .await
        .unwrap();
    let split: Vec<_> = subs
        .iter()
        .filter(|s| s.state == SubmissionState::Split)
        .collect();
    assert!(!split.is_empty(), "nothing was split: {subs:?}");
    // The first batch went whole (all documents were waiting) and was refused.
    let first = subs.iter().min_by_key(|s| s.id.0).unwrap();
    assert_eq!(first.state, SubmissionState::Split, "{subs:?}");
    assert_eq!(first.document_count as usize, documents.min(100));
    // Nothing else went wrong, and every accepted submission kept within the limit, both
    // by the gateway's record and by what the sandbox holds.
    assert!(
        subs.iter()
            .all(|s| matches!(s.state, SubmissionState::Accepted | SubmissionState::Split)),
        "{subs:?}"
    );
    let by_uid: HashMap<String, Vec<String>> = sandbox.sandbox().with_store(|s| {
        let mut by_uid: HashMap<String, Vec<String>> = HashMap::new();
        for d in s.documents() {
            let d = d.summary();
            by_uid
                .entry(d.submission_uid.clone())
                .or_default()
                .push(d.internal_id.clone());
        }
        by_uid
    });
    for (uid, ids) in &by_uid {
        let bytes: usize = ids.iter().map(|id| sizes[id]).sum();
        assert!(
            fits(ids.len(), bytes),
            "{uid}: {} documents, {bytes} bytes",
            ids.len()
        );
    }
    let accepted = subs
        .iter()
        .filter(|s| s.state == SubmissionState::Accepted)
        .count();
    assert_eq!(accepted, by_uid.len());
}

async fn maximum_size_exceeded_by_count_splits_the_batch(store: Arc<Store>, clock: Clock) {
    let faults = Faults {
        max_submission_documents: Some(30),
        ..Faults::default()
    };
    split_until_it_fits(store, clock, faults, 100, |docs, _| docs <= 30).await;
}

async fn maximum_size_exceeded_by_bytes_splits_the_batch(store: Arc<Store>, clock: Clock) {
    // About ten documents' worth of request body (base64 grows each by a third).
    const LIMIT: usize = 100_000;
    let faults = Faults {
        max_submission_bytes: Some(LIMIT),
        ..Faults::default()
    };
    split_until_it_fits(store, clock, faults, 40, |_, raw| raw / 3 * 4 <= LIMIT).await;
}

/// An invoice issued at `issued`; `description` replaces its first line's, so two documents
/// can share every fact MyInvois' duplicate rule compares and still say different things.
fn invoice_issued_at(
    sandbox: &TestSandbox,
    id: &str,
    issued: chrono::DateTime<chrono::Utc>,
    description: Option<&str>,
) -> Vec<u8> {
    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    samples::adapt_json(
        &mut doc,
        id,
        issued,
        &sandbox.supplier().tin,
        &sandbox.buyer().tin,
    );
    if let Some(text) = description {
        doc["Invoice"][0]["InvoiceLine"][0]["Item"][0]["Description"] =
            serde_json::json!([{ "_": text }]);
    }
    samples::minified(&doc)
}

/// Waits (a bounded poll of the sandbox's own state, not a fixed sleep) until `done` holds for
/// what the sandbox stores.
async fn until_sandbox(
    sandbox: &TestSandbox,
    what: &str,
    done: impl Fn(&invois_sandbox::store::Store) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !sandbox.sandbox().with_store(&done) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the sandbox never got to: {what}"));
}

/// Each internal id's copies at the sandbox: (uuid, status, longId), in arrival order.
fn sandbox_records(
    sandbox: &TestSandbox,
) -> HashMap<String, Vec<(String, DocumentStatus, Option<String>)>> {
    sandbox.sandbox().with_store(|s| {
        let mut out: HashMap<String, Vec<_>> = HashMap::new();
        for d in s.documents() {
            out.entry(d.facts.internal_id.clone()).or_default().push((
                d.uuid.clone(),
                d.status,
                d.long_id.clone(),
            ));
        }
        out
    })
}

/// Loses the intent's commit, as a power cut under `synchronous=NORMAL` could: when the first
/// Submit Documents answer arrives, *before* the gateway records it, the submission row is
/// deleted and its documents are put back as they were before the intent (batched, held by
/// the worker, in no submission), and the pipeline is stopped, as a process losing power
/// would be. MyInvois has the documents; the gateway has no trace of having sent them.
#[derive(Debug)]
struct LoseTheIntent {
    store: Arc<Store>,
    stop: std::sync::Mutex<Option<invois_gateway::pipeline::ShutdownTrigger>>,
    lost: std::sync::atomic::AtomicBool,
}

impl ClientObserver for LoseTheIntent {
    fn on_call(&self, event: &CallEvent) {
        if event.endpoint != Endpoint::SubmitDocuments
            || event.outcome != CallOutcome::Status(202)
            || self.lost.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        // The observer is called inline, between the answer and the gateway's record of it:
        // exactly where the commit must be lost. The store is changed right here, on this
        // worker thread (the test runs on a multi-thread runtime).
        let store = Arc::clone(&self.store);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(forget_intents(&store));
        });
        if let Some(stop) = self.stop.lock().unwrap().take() {
            stop.trigger();
        }
    }
}

/// Deletes every submission still in `intent` (with its payload) and takes its documents out
/// of it, leaving them batched and held, as the transaction that recorded the intent found
/// them.
async fn forget_intents(store: &Store) {
    let intents: Vec<i64> = store
        .submissions()
        .list(&SubmissionFilter {
            state: Some(SubmissionState::Intent),
            ..SubmissionFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|s| s.id.0)
        .collect();
    assert!(
        !intents.is_empty(),
        "an intent is on record during its POST"
    );
    for id in intents {
        // Guarded by state, as a lost commit loses nothing recorded after it.
        let statements = [
            format!(
                "UPDATE documents SET submission_id = NULL \
                 WHERE submission_id = {id} AND state = 'batched'"
            ),
            format!(
                "DELETE FROM submission_payloads WHERE submission_id IN \
                 (SELECT id FROM submissions WHERE id = {id} AND state = 'intent')"
            ),
            format!("DELETE FROM submissions WHERE id = {id} AND state = 'intent'"),
        ];
        for sql in &statements {
            match (store.db().sqlite_pool(), store.db().pg_pool()) {
                (Some(pool), _) => sqlx::query(sql).execute(pool).await.map(|_| ()),
                (_, Some(pool)) => sqlx::query(sql).execute(pool).await.map(|_| ()),
                _ => unreachable!("a store is SQLite or PostgreSQL"),
            }
            .unwrap();
        }
    }
}

/// The second line of defence behind `synchronous=FULL`: the record of a POST is lost (see
/// [`LoseTheIntent`]), a restarted pipeline sends the documents again, MyInvois marks every
/// copy invalid as a duplicate (DS302) of the valid original, and the gateway adopts the
/// originals: each document valid with the original's uuid and longId, no error, and
/// MyInvois holding one valid copy of each.
async fn lost_intent_resend_adopts_the_original(store: Arc<Store>, clock: Clock) {
    const DOCUMENTS: usize = 10;
    let sandbox = TestSandbox::builder()
        .clock(clock.clone())
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let tin = sandbox.supplier().tin;
    let (stop, shutdown) = Shutdown::new();
    let observer = Arc::new(LoseTheIntent {
        store: Arc::clone(&store),
        stop: std::sync::Mutex::new(Some(stop)),
        lost: false.into(),
    });
    let who = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id.clone(), who.client_secret.as_str())
        .clock(clock.clone())
        .rate_limits(RateLimits::profile(RateProfile::Production))
        .observer(observer.clone())
        .build()
        .unwrap();
    let client_id = client.client_id().to_owned();
    insert_invoices(&store, &sandbox, &client_id, "L", DOCUMENTS).await;
    // One submit loop, all prepared first: the documents leave in one batch and one POST, the
    // one whose record is lost. (Two loops on PostgreSQL can split them between two
    // concurrent claims.)
    let first = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        PipelineConfig {
            submit_concurrency: 1,
            ..config()
        },
    );
    while first.prepare_once().await.unwrap() > 0 {}
    tokio::time::timeout(Duration::from_secs(60), first.run(shutdown))
        .await
        .expect("the first pipeline stops once its intent is lost");
    assert!(observer.lost.load(std::sync::atomic::Ordering::SeqCst));
    let kept = store
        .submissions()
        .list(&SubmissionFilter::default())
        .await
        .unwrap();
    assert!(
        kept.is_empty(),
        "the gateway keeps no trace of the POST: {kept:?}"
    );
    until_sandbox(&sandbox, "the first copies valid", |s| {
        s.documents()
            .filter(|d| d.status == DocumentStatus::Valid)
            .count()
            == DOCUMENTS
    })
    .await;
    let originals = sandbox_records(&sandbox);

    // The restart: past the worker's lease (its documents come back to be sent) and past the
    // 10-minute DuplicateSubmission window, within the 2-hour duplicate-document one. One
    // new document joins the batch, sent for the first time.
    clock.advance(Duration::from_secs(11 * 60));
    let fresh = invoice(&sandbox, "L-NEW", 0);
    store
        .documents()
        .insert(new_document(&client_id, &tin, "L-NEW", fresh))
        .await
        .unwrap();
    let second = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client_for(&sandbox), LoginMode::Taxpayer),
        None,
        config(),
    );
    settle(&second).await;

    let docs = all_documents(&store).await;
    assert_eq!(docs.len(), DOCUMENTS + 1);
    let at_sandbox = sandbox_records(&sandbox);
    for d in &docs {
        assert_eq!(d.state, DocumentState::Valid, "{d:?} {:?}", d.errors);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let copies = &at_sandbox[&d.internal_id];
        let valid: Vec<_> = copies
            .iter()
            .filter(|c| c.1 == DocumentStatus::Valid)
            .collect();
        assert_eq!(valid.len(), 1, "{}: {copies:?}", d.internal_id);
        // The document of record is the one MyInvois holds as valid, with its longId.
        assert_eq!(d.uuid.as_deref(), Some(valid[0].0.as_str()));
        assert_eq!(d.long_id, valid[0].2);
        assert!(d.validated_at.is_some(), "{d:?}");
        let link = d.validation_link.as_deref().unwrap();
        assert!(link.ends_with(&format!(
            "{}/share/{}",
            valid[0].0,
            d.long_id.as_deref().unwrap()
        )));
        if d.internal_id == "L-NEW" {
            assert_eq!(copies.len(), 1, "{copies:?}");
            continue;
        }
        // The original, and the copy sent again, which MyInvois refused as its duplicate.
        assert_eq!(valid[0].0, originals[&d.internal_id][0].0);
        assert_eq!(copies.len(), 2, "{copies:?}");
        let copy = &copies[1];
        assert_eq!(copy.1, DocumentStatus::Invalid, "{copies:?}");
        let note = d.last_error.as_deref().unwrap_or_default();
        assert!(
            note.contains(&copy.0) && note.contains(&valid[0].0),
            "{note}"
        );
        let events: Vec<DocumentState> = store
            .documents()
            .events(d.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.state)
            .collect();
        assert_eq!(events, vec![DocumentState::Submitted, DocumentState::Valid]);
    }
}

/// A duplicate MyInvois refuses is adopted only when it says the same as the original: a
/// valid document another system filed under the same internal id and issue time, with other
/// content, leaves the gateway's copy invalid with MyInvois' duplicate error.
async fn a_duplicate_with_other_content_stays_invalid(store: Arc<Store>, clock: Clock) {
    let sandbox = TestSandbox::builder()
        .clock(clock.clone())
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let client = client_for(&sandbox);
    let tin = sandbox.supplier().tin;
    let issued = clock.now() - chrono::Duration::minutes(5);
    let elsewhere = invoice_issued_at(&sandbox, "D-0001", issued, Some("Another item"));
    let submitted = client
        .submissions()
        .submit(vec![invois_client::document_submission(
            invois_api::Format::Json,
            &elsewhere,
            "D-0001",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.accepted_documents.len(), 1, "{submitted:?}");
    until_sandbox(&sandbox, "the other system's document valid", |s| {
        s.documents().any(|d| d.status == DocumentStatus::Valid)
    })
    .await;
    let calls = Arc::new(Calls::default());
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(
            sandbox.supplier().client_id,
            sandbox.supplier().client_secret.as_str(),
        )
        .clock(clock.clone())
        .observer(calls.clone())
        .build()
        .unwrap();
    let ours = invoice_issued_at(&sandbox, "D-0001", issued, None);
    store
        .documents()
        .insert(new_document(client.client_id(), &tin, "D-0001", ours))
        .await
        .unwrap();
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client.clone(), LoginMode::Taxpayer),
        None,
        config(),
    );
    settle(&pipeline).await;
    let docs = all_documents(&store).await;
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.state, DocumentState::Invalid, "{d:?}");
    assert!(
        d.errors
            .iter()
            .any(|e| matches!(e.lhdn_code.as_deref(), Some("DS302" | "DV302"))),
        "{:?}",
        d.errors
    );
    let copies = &sandbox_records(&sandbox)["D-0001"];
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_ne!(d.uuid.as_deref(), Some(copies[0].0.as_str()));
    // The original was found and read, and its content compared.
    let calls = calls.0.lock().unwrap();
    assert!(calls.contains(&Endpoint::SearchDocuments), "{calls:?}");
    assert!(calls.contains(&Endpoint::GetDocument), "{calls:?}");
}

/// Every endpoint a client called, in order.
#[derive(Debug, Default)]
struct Calls(std::sync::Mutex<Vec<Endpoint>>);

impl ClientObserver for Calls {
    fn on_call(&self, event: &CallEvent) {
        self.0.lock().unwrap().push(event.endpoint);
    }
}

/// A pipeline on SQLite with `n` invoices prepared, against a sandbox with LHDN's
/// production budgets. Time runs a hundred times slower than real time, so a test's own
/// steps spend no share of the budget; the test moves the clock itself.
struct Batches {
    clock: Clock,
    store: Arc<Store>,
    pipeline: Pipeline,
    sandbox: TestSandbox,
    _dir: crate::common::SqliteFile,
}

impl Batches {
    async fn prepared(n: usize) -> Batches {
        let clock = Clock::scaled(0.01);
        let (store, dir) = crate::common::sqlite_store(clock.clone()).await;
        let sandbox = TestSandbox::builder()
            .clock(clock.clone())
            .profile(RateProfile::Production)
            .start()
            .await
            .unwrap();
        let client = client_for(&sandbox);
        let client_id = client.client_id().to_owned();
        insert_invoices(&store, &sandbox, &client_id, "S", n).await;
        let pipeline = Pipeline::new(
            Arc::clone(&store),
            ClientPool::new(client, LoginMode::Taxpayer),
            None,
            config(),
        );
        while pipeline.prepare_once().await.unwrap() > 0 {}
        Batches {
            clock,
            store,
            pipeline,
            sandbox,
            _dir: dir,
        }
    }
}

/// A partial batch waits until a share of Submit's budget (600 ms at 100 requests a minute)
/// has passed since the last batch of any kind. At the ceiling, a partial batch sent right
/// after each full one spent the window's slots on a few documents each.
#[tokio::test]
async fn a_partial_batch_waits_a_share_of_the_budget_after_any_batch() {
    // Every field bound: the sandbox and the file live to the test's end.
    let Batches {
        clock,
        store,
        pipeline,
        sandbox: _sandbox,
        _dir,
    } = Batches::prepared(130).await;
    let sizes = |store: Arc<Store>| async move {
        let page = store
            .submissions()
            .list(&SubmissionFilter::default())
            .await
            .unwrap();
        let mut sizes: Vec<i64> = page.iter().map(|s| s.document_count).collect();
        sizes.sort_unstable();
        sizes
    };

    let full = pipeline.submit_once().await.unwrap();
    assert!(matches!(full, Some(SubmitOutcome::Accepted(_))), "{full:?}");
    assert_eq!(sizes(Arc::clone(&store)).await, [100]);
    // Thirty prepared and nothing left to prepare, but a batch just left.
    assert_eq!(pipeline.submit_once().await.unwrap(), None);
    clock.advance(Duration::from_millis(550));
    assert_eq!(pipeline.submit_once().await.unwrap(), None);
    clock.advance(Duration::from_millis(60));
    let partial = pipeline.submit_once().await.unwrap();
    assert!(
        matches!(partial, Some(SubmitOutcome::Accepted(_))),
        "{partial:?}"
    );
    assert_eq!(sizes(Arc::clone(&store)).await, [30, 100]);
}

/// Nor does a partial batch leave while another batch is still being sent: the submit
/// workers send side by side, and at the ceiling a partial batch decided during a full one's
/// send left 20 ms after it, spending a slot of the budget on 44 documents.
#[tokio::test]
async fn a_partial_batch_waits_while_another_batch_is_being_sent() {
    let Batches {
        clock,
        store,
        pipeline,
        sandbox,
        _dir,
    } = Batches::prepared(130).await;
    // Every call to MyInvois takes 500 ms of real time, so the full batch's send is slow.
    sandbox.sandbox().set_faults(Faults {
        latency_ms: 500,
        ..Faults::default()
    });
    let full = tokio::spawn({
        let pipeline = pipeline.clone();
        async move { pipeline.submit_once().await }
    });
    // Once the full batch is claimed, thirty are left prepared; no batch has finished, so the
    // share since the last one has passed.
    let prepared = |store: Arc<Store>| async move {
        let counts = store.documents().count_by_state().await.unwrap();
        counts.get(&DocumentState::Prepared).copied().unwrap_or(0)
    };
    for _ in 0..500 {
        if prepared(Arc::clone(&store)).await == 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(prepared(Arc::clone(&store)).await, 30);
    assert!(
        !full.is_finished(),
        "the full batch's send should still be on its way"
    );
    assert_eq!(pipeline.submit_once().await.unwrap(), None);
    let full = full.await.unwrap().unwrap();
    assert!(matches!(full, Some(SubmitOutcome::Accepted(_))), "{full:?}");
    // A share after the full batch's end, the partial one leaves.
    assert_eq!(pipeline.submit_once().await.unwrap(), None);
    clock.advance(Duration::from_millis(610));
    let partial = pipeline.submit_once().await.unwrap();
    assert!(
        matches!(partial, Some(SubmitOutcome::Accepted(_))),
        "{partial:?}"
    );
    assert_eq!(prepared(Arc::clone(&store)).await, 0);
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let clock = invois_clock::Clock::scaled(60.0);
                    let (store, _dir) = crate::common::sqlite_store(clock.clone()).await;
                    super::$case(store, clock).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(schema) = crate::common::pg_schema(stringify!($case)).await else {
                        return;
                    };
                    let clock = invois_clock::Clock::scaled(60.0);
                    let store = std::sync::Arc::new(
                        crate::common::pg_store(schema.options(), clock.clone()).await,
                    );
                    super::$case(store, clock).await;
                    schema.drop_schema().await;
                }
            )*
        }
    };
}

on_both_stores!(
    batches_valid_invalid_and_local_rejections,
    a_duplicate_with_other_content_stays_invalid,
    faults_never_duplicate_a_document,
    maximum_size_exceeded_by_count_splits_the_batch,
    maximum_size_exceeded_by_bytes_splits_the_batch,
);

/// [`LoseTheIntent`] changes the store from inside the client's call, which needs a
/// multi-thread runtime.
mod lost_intent {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_resend_adopts_the_original() {
        let clock = invois_clock::Clock::scaled(60.0);
        let (store, _dir) = crate::common::sqlite_store(clock.clone()).await;
        super::lost_intent_resend_adopts_the_original(store, clock).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_resend_adopts_the_original() {
        let Some(schema) = crate::common::pg_schema("lost_intent").await else {
            return;
        };
        let clock = invois_clock::Clock::scaled(60.0);
        let store =
            std::sync::Arc::new(crate::common::pg_store(schema.options(), clock.clone()).await);
        super::lost_intent_resend_adopts_the_original(std::sync::Arc::clone(&store), clock).await;
        store.close().await;
        schema.drop_schema().await;
    }
}

//! One conformance suite for every [`Store`] implementation.
//!
//! Each case runs on SQLite (a temporary file) always, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set (CI: `postgres://postgres@127.0.0.1:5432/test`). Every
//! PostgreSQL case gets its own schema (random name, selected through `search_path` in the
//! connect options) and drops it at the end, so the cases run concurrently.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use invois_api::submission::WireDocument;
use invois_clock::Clock;
use invois_gateway::document_errors::{DocumentError, ErrorStage};
use invois_gateway::store::*;
use serde_json::json;

/// What a case gets: the store under test, the clock it reads, and raw access to its tables.
struct Harness {
    store: Arc<Store>,
    clock: Clock,
    raw: Raw,
    reopen: Reopen,
}

/// How to open a second, independent store on the same database (another gateway instance).
enum Reopen {
    Sqlite(String),
    Pg(Box<sqlx::postgres::PgConnectOptions>),
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Harness {
    async fn another_instance(&self) -> Arc<Store> {
        match &self.reopen {
            Reopen::Sqlite(url) => Arc::new(Store::open(url, self.clock.clone()).await.unwrap()),
            Reopen::Pg(options) => {
                Arc::new(crate::common::pg_store((**options).clone(), self.clock.clone()).await)
            }
        }
    }

    /// (state, rows) of `table`, counted straight from it: what the store's kept counts
    /// must equal.
    async fn rows_by_state(&self, table: &str) -> Vec<(String, i64)> {
        let sql = format!("SELECT state, COUNT(*) AS n FROM {table} GROUP BY state");
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as(&sql).fetch_all(pool).await.unwrap(),
            Raw::Pg(pool) => sqlx::query_as(&sql).fetch_all(pool).await.unwrap(),
        }
    }

    /// How many rows `table` holds.
    async fn row_count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as(&sql).fetch_one(pool).await.unwrap(),
            Raw::Pg(pool) => sqlx::query_as(&sql).fetch_one(pool).await.unwrap(),
        };
        n
    }

    /// Every (name, prefix, key_sha256) in `api_keys`, read straight from the table.
    async fn api_key_rows(&self) -> Vec<(String, String, String)> {
        let sql = "SELECT name, prefix, key_sha256 FROM api_keys ORDER BY id";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
            Raw::Pg(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
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
    let reopen = Reopen::Sqlite(url);
    let harness = Harness {
        store: Arc::new(store),
        clock,
        raw,
        reopen,
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
        let store = crate::common::pg_store(options.clone(), clock.clone()).await;
        let harness = Harness {
            store: Arc::new(store.clone()),
            clock,
            raw: Raw::Pg(store.db().pg_pool().unwrap().clone()),
            reopen: Reopen::Pg(Box::new(options)),
        };
        crate::common::run_then_close(store, harness, case).await;
    })
    .await;
}

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::run_sqlite(super::cases::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::run_pg(stringify!($name), super::cases::$name).await;
                }
            )*
        }
    };
}

store_tests!(
    insert_is_idempotent_and_conflicts_on_different_bytes,
    new_version_only_after_invalid_or_rejected_locally,
    concurrent_claims_never_share_a_document,
    two_instances_share_one_queue,
    batches_respect_limit_bytes_and_one_client_group,
    guarded_transitions_refuse_stale_moves,
    intent_is_recorded_before_accepted_then_validation,
    unknown_and_duplicate_outcomes_surface_for_reconcile,
    split_and_refusal_settle_the_documents,
    lease_expiry_recovers_orphans_without_resending,
    hold_before_post_needs_a_live_lease,
    webhook_retry_backs_off_then_dies,
    api_keys_are_stored_hashed_only,
    listing_pages_and_filters,
    state_counts_follow_every_change,
    webhook_counts_follow_every_change,
);

fn doc(issuer: &str, internal_id: &str, body: &str) -> NewDocument {
    NewDocument {
        issuer_tin: issuer.to_owned(),
        type_code: "01".to_owned(),
        internal_id: internal_id.to_owned(),
        version: 1,
        format: DocumentFormat::Json,
        client_id: "client-a".to_owned(),
        on_behalf_of: None,
        received: body.as_bytes().to_vec(),
    }
}

fn key(issuer: &str, internal_id: &str) -> DocumentKey {
    DocumentKey {
        issuer_tin: issuer.to_owned(),
        type_code: "01".to_owned(),
        internal_id: internal_id.to_owned(),
    }
}

const LEASE: Duration = Duration::from_secs(60);

/// Claims every received document and marks it prepared with `size` prepared bytes.
async fn prepare_all(store: &Store, size: usize) -> Vec<DocumentRecord> {
    let mut out = Vec::new();
    loop {
        let claimed = store
            .documents()
            .claim_received("preparer", 50, LEASE)
            .await
            .unwrap();
        if claimed.is_empty() {
            return out;
        }
        for d in claimed {
            let bytes = vec![b'x'; size];
            let prepared = WireDocument::new(DocumentFormat::Json, bytes);
            out.push(
                store
                    .documents()
                    .mark_prepared(d.id, "preparer", &prepared)
                    .await
                    .unwrap(),
            );
        }
    }
}

/// Inserts `n` documents for `issuer`, prepares them, and claims them as one batch.
async fn one_batch(store: &Store, issuer: &str, n: usize, worker: &str) -> Batch {
    for i in 0..n {
        store
            .documents()
            .insert(doc(issuer, &format!("{issuer}-{i}"), &format!("body {i}")))
            .await
            .unwrap();
    }
    prepare_all(store, 10).await;
    let batch = store
        .documents()
        .claim_for_batch(worker, 100, 5_000_000, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.documents.len(), n);
    batch
}

async fn intent_for(store: &Store, batch: &Batch, worker: &str) -> SubmissionRecord {
    store
        .submissions()
        .record_intent(SubmissionIntent {
            worker: worker.to_owned(),
            client_id: batch.client_id.clone(),
            on_behalf_of: batch.on_behalf_of.clone(),
            document_ids: batch.documents.iter().map(|d| d.id).collect(),
            payload: format!("payload for {} documents", batch.documents.len()).into_bytes(),
            lease: LEASE,
        })
        .await
        .unwrap()
}

mod cases {
    use super::*;

    pub(super) async fn insert_is_idempotent_and_conflicts_on_different_bytes(h: Harness) {
        let s = &*h.store;
        let first = s
            .documents()
            .insert(doc("C1", "INV-1", "<a/>"))
            .await
            .unwrap();
        assert!(first.created);
        assert_eq!(first.document.state, DocumentState::Received);
        assert_eq!(first.document.version, 1);
        assert_eq!(first.document.received, b"<a/>");

        let again = s
            .documents()
            .insert(doc("C1", "INV-1", "<a/>"))
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.document.id, first.document.id);

        let err = s
            .documents()
            .insert(doc("C1", "INV-1", "<b/>"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        // The key includes the issuer and the type.
        assert!(
            s.documents()
                .insert(doc("C2", "INV-1", "<b/>"))
                .await
                .unwrap()
                .created
        );
        let mut credit = doc("C1", "INV-1", "<b/>");
        credit.type_code = "02".to_owned();
        assert!(s.documents().insert(credit).await.unwrap().created);

        let got = s.documents().get(first.document.id).await.unwrap();
        assert_eq!(got, first.document);
        let found = s
            .documents()
            .find(&key("C1", "INV-1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, first.document.id);
        assert!(
            s.documents()
                .find(&key("C1", "nope"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.documents().get(DocumentId(999_999)).await,
            Err(StoreError::NotFound(_))
        ));
    }

    pub(super) async fn new_version_only_after_invalid_or_rejected_locally(h: Harness) {
        let s = &*h.store;
        // A valid document cannot be corrected.
        let batch = one_batch(s, "C7", 1, "b").await;
        let sub = intent_for(s, &batch, "b").await;
        let d = batch.documents[0].id;
        s.submissions()
            .record_accepted(
                sub.id,
                &SubmissionAccepted {
                    submission_uid: "SUB1".to_owned(),
                    accepted: vec![(d, "UUID-1".to_owned())],
                    rejected: vec![],
                },
            )
            .await
            .unwrap();
        s.submissions()
            .record_validation_results(&[ValidationUpdate {
                uuid: "UUID-1".to_owned(),
                outcome: ValidationOutcome::Valid {
                    long_id: Some("L".to_owned()),
                    validation_link: Some("https://x".to_owned()),
                },
            }])
            .await
            .unwrap();
        let err = s
            .documents()
            .new_version(&key("C7", "C7-0"), DocumentFormat::Json, b"other".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::StaleTransition { .. }), "{err:?}");

        let v1 = s
            .documents()
            .insert(doc("C1", "INV-9", "v1"))
            .await
            .unwrap()
            .document;
        // Received: not correctable yet.
        let err = s
            .documents()
            .new_version(&key("C1", "INV-9"), DocumentFormat::Json, b"v2".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::StaleTransition { .. }), "{err:?}");
        assert!(matches!(
            s.documents()
                .new_version(&key("C1", "missing"), DocumentFormat::Json, b"x".to_vec())
                .await,
            Err(StoreError::NotFound(_))
        ));

        let claimed = s.documents().claim_received("w", 10, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 1);
        s.documents()
            .mark_rejected_locally(
                v1.id,
                "w",
                &crate::common::errors(ErrorStage::LocalValidation, "CF001"),
            )
            .await
            .unwrap();

        let v2 = s
            .documents()
            .new_version(&key("C1", "INV-9"), DocumentFormat::Json, b"v2".to_vec())
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.state, DocumentState::Received);
        assert_eq!(v2.client_id, v1.client_id);
        // Repeating the same correction returns it rather than making version 3.
        let again = s
            .documents()
            .new_version(&key("C1", "INV-9"), DocumentFormat::Json, b"v2".to_vec())
            .await
            .unwrap();
        assert_eq!(again.id, v2.id);
        // A different correction while v2 is in flight is refused.
        let err = s
            .documents()
            .new_version(&key("C1", "INV-9"), DocumentFormat::Json, b"v3".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::StaleTransition { .. }), "{err:?}");
        // The latest version is what find returns; v1 is kept.
        assert_eq!(
            s.documents()
                .find(&key("C1", "INV-9"))
                .await
                .unwrap()
                .unwrap()
                .id,
            v2.id
        );
        assert_eq!(
            s.documents().get(v1.id).await.unwrap().state,
            DocumentState::RejectedLocally
        );
    }

    pub(super) async fn concurrent_claims_never_share_a_document(h: Harness) {
        let s = h.store.clone();
        const N: usize = 200;
        for i in 0..N {
            s.documents()
                .insert(doc("C1", &format!("D{i}"), &format!("{i}")))
                .await
                .unwrap();
        }

        // Preparation claims: 8 racing workers.
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let worker = format!("prep-{w}");
                let mut mine = Vec::new();
                loop {
                    let got = s
                        .documents()
                        .claim_received(&worker, 7, LEASE)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    for d in got {
                        assert_eq!(d.locked_by.as_deref(), Some(worker.as_str()));
                        s.documents()
                            .mark_prepared(
                                d.id,
                                &worker,
                                &WireDocument::new(DocumentFormat::Json, vec![b'p'; 3]),
                            )
                            .await
                            .unwrap();
                        mine.push(d.id);
                    }
                }
            }));
        }
        let mut seen = HashSet::new();
        for t in tasks {
            for id in t.await.unwrap() {
                assert!(
                    seen.insert(id),
                    "document {id} was claimed twice for preparation"
                );
            }
        }
        assert_eq!(seen.len(), N);

        // Batch claims: 8 racing batchers.
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let worker = format!("batch-{w}");
                let mut mine = Vec::new();
                while let Some(batch) = s
                    .documents()
                    .claim_for_batch(&worker, 9, 1_000_000, LEASE)
                    .await
                    .unwrap()
                {
                    assert!(batch.documents.len() <= 9);
                    for d in batch.documents {
                        assert_eq!(d.state, DocumentState::Batched);
                        assert_eq!(d.locked_by.as_deref(), Some(worker.as_str()));
                        mine.push(d.id);
                    }
                }
                mine
            }));
        }
        let mut seen = HashSet::new();
        for t in tasks {
            for id in t.await.unwrap() {
                assert!(seen.insert(id), "document {id} was batched twice");
            }
        }
        assert_eq!(seen.len(), N);
    }

    pub(super) async fn two_instances_share_one_queue(h: Harness) {
        // Two stores on one database, as two gateway instances (or a restarted one next to
        // a dying one) would have: their claims never overlap and none fails on locking.
        let a = h.store.clone();
        let b = h.another_instance().await;
        const N: usize = 120;
        for i in 0..N {
            let s = if i % 2 == 0 { &a } else { &b };
            s.documents()
                .insert(doc("C1", &format!("M{i}"), &format!("{i}")))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for w in 0..6 {
            let s = if w % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let worker = format!("instance-worker-{w}");
                let mut mine = Vec::new();
                loop {
                    let got = s
                        .documents()
                        .claim_received(&worker, 5, LEASE)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        break;
                    }
                    for d in got {
                        s.documents()
                            .mark_prepared(
                                d.id,
                                &worker,
                                &WireDocument::new(DocumentFormat::Json, vec![b'p'; 3]),
                            )
                            .await
                            .unwrap();
                    }
                }
                while let Some(batch) = s
                    .documents()
                    .claim_for_batch(&worker, 4, 1_000_000, LEASE)
                    .await
                    .unwrap()
                {
                    let ids: Vec<_> = batch.documents.iter().map(|d| d.id).collect();
                    let sub = s
                        .submissions()
                        .record_intent(SubmissionIntent {
                            worker: worker.clone(),
                            client_id: batch.client_id.clone(),
                            on_behalf_of: None,
                            document_ids: ids.clone(),
                            payload: b"{}".to_vec(),
                            lease: LEASE,
                        })
                        .await
                        .unwrap();
                    mine.push((sub.id, ids));
                }
                mine
            }));
        }
        let mut seen = HashSet::new();
        let mut submissions = 0;
        for t in tasks {
            for (sub, ids) in t.await.unwrap() {
                submissions += 1;
                let held = b.submissions().documents_in(sub).await.unwrap();
                assert_eq!(held.iter().map(|d| d.id).collect::<Vec<_>>(), ids);
                for id in ids {
                    assert!(seen.insert(id), "document {id} entered two submissions");
                }
            }
        }
        assert_eq!(seen.len(), N);
        assert!(submissions >= N / 4);
    }

    pub(super) async fn batches_respect_limit_bytes_and_one_client_group(h: Harness) {
        let s = &*h.store;
        for i in 0..5 {
            s.documents()
                .insert(doc("C1", &format!("A{i}"), &format!("{i}")))
                .await
                .unwrap();
        }
        for i in 0..3 {
            let mut d = doc("C2", &format!("B{i}"), &format!("{i}"));
            d.client_id = "intermediary".to_owned();
            d.on_behalf_of = Some("C2".to_owned());
            s.documents().insert(d).await.unwrap();
        }
        prepare_all(s, 100).await;

        // 250 bytes allows two documents of 100.
        let b1 = s
            .documents()
            .claim_for_batch("w", 100, 250, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b1.documents.len(), 2);
        assert_eq!(b1.client_id, "client-a");
        assert_eq!(b1.on_behalf_of, None);
        // A budget smaller than one document still takes one, so nothing stalls.
        let b2 = s
            .documents()
            .claim_for_batch("w", 100, 10, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b2.documents.len(), 1);
        // The count limit.
        let b3 = s
            .documents()
            .claim_for_batch("w", 1, 1_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b3.documents.len(), 1);
        let b4 = s
            .documents()
            .claim_for_batch("w", 100, 1_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b4.documents.len(), 1);
        assert_eq!(b4.client_id, "client-a");
        // Then the other group, never mixed with the first.
        let b5 = s
            .documents()
            .claim_for_batch("w", 100, 1_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b5.client_id, "intermediary");
        assert_eq!(b5.on_behalf_of.as_deref(), Some("C2"));
        assert_eq!(b5.documents.len(), 3);
        assert!(b5.documents.iter().all(|d| d.issuer_tin == "C2"));
        assert!(
            s.documents()
                .claim_for_batch("w", 100, 1_000_000, LEASE)
                .await
                .unwrap()
                .is_none()
        );

        // Documents of the first group came out oldest first.
        let order: Vec<_> = [&b1, &b2, &b3, &b4]
            .iter()
            .flat_map(|b| b.documents.iter().map(|d| d.internal_id.clone()))
            .collect();
        assert_eq!(order, ["A0", "A1", "A2", "A3", "A4"]);
    }

    pub(super) async fn guarded_transitions_refuse_stale_moves(h: Harness) {
        let s = &*h.store;
        let d = s
            .documents()
            .insert(doc("C1", "G1", "g"))
            .await
            .unwrap()
            .document;
        let prepared = WireDocument::new(DocumentFormat::Json, b"p".to_vec());

        // Not claimed: nobody may prepare it.
        let err = s
            .documents()
            .mark_prepared(d.id, "w1", &prepared)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
        s.documents().claim_received("w1", 10, LEASE).await.unwrap();
        // Another worker may not finish w1's work.
        let err = s
            .documents()
            .mark_prepared(d.id, "w2", &prepared)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
        s.documents()
            .mark_prepared(d.id, "w1", &prepared)
            .await
            .unwrap();
        // Twice is stale, and so is rejecting it now.
        let err = s
            .documents()
            .mark_prepared(d.id, "w1", &prepared)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::StaleTransition { .. }), "{err:?}");
        let err = s
            .documents()
            .mark_rejected_locally(d.id, "w1", &[])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::StaleTransition { .. }), "{err:?}");
        assert!(matches!(
            s.documents()
                .mark_prepared(DocumentId(424_242), "w1", &prepared)
                .await,
            Err(StoreError::NotFound(_))
        ));

        // A batch held by b1 cannot be put into b2's submission.
        let batch = s
            .documents()
            .claim_for_batch("b1", 100, 1_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        let err = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "b2".to_owned(),
                client_id: batch.client_id.clone(),
                on_behalf_of: None,
                document_ids: vec![d.id],
                payload: b"{}".to_vec(),
                lease: LEASE,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
        // The failed intent left nothing behind.
        assert!(
            s.documents()
                .get(d.id)
                .await
                .unwrap()
                .submission_id
                .is_none()
        );
        assert!(
            s.submissions()
                .needing_reconcile(10)
                .await
                .unwrap()
                .is_empty()
        );

        let sub = intent_for(s, &batch, "b1").await;
        // The same documents cannot enter a second submission.
        let err = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "b1".to_owned(),
                client_id: batch.client_id.clone(),
                on_behalf_of: None,
                document_ids: vec![d.id],
                payload: b"{}".to_vec(),
                lease: LEASE,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        let accepted = SubmissionAccepted {
            submission_uid: "SUB-G".to_owned(),
            accepted: vec![(d.id, "UUID-G".to_owned())],
            rejected: vec![],
        };
        s.submissions()
            .record_accepted(sub.id, &accepted)
            .await
            .unwrap();
        // Accepting again with the same uid is a no-op; with another uid it is stale.
        assert_eq!(
            s.submissions()
                .record_accepted(sub.id, &accepted)
                .await
                .unwrap()
                .state,
            SubmissionState::Accepted
        );
        let other = SubmissionAccepted {
            submission_uid: "SUB-X".to_owned(),
            ..accepted
        };
        assert!(matches!(
            s.submissions().record_accepted(sub.id, &other).await,
            Err(StoreError::StaleTransition { .. })
        ));
        // A late "unknown" from a stale worker cannot move an accepted submission back.
        assert!(matches!(
            s.submissions().record_unknown(sub.id, "timeout").await,
            Err(StoreError::StaleTransition { .. })
        ));
        assert!(matches!(
            s.submissions().record_split(sub.id).await,
            Err(StoreError::StaleTransition { .. })
        ));
        assert_eq!(
            s.submissions().get(sub.id).await.unwrap().state,
            SubmissionState::Accepted
        );

        // Cancelled only from valid; a result for a settled document changes nothing.
        let cancel = ValidationUpdate {
            uuid: "UUID-G".to_owned(),
            outcome: ValidationOutcome::Cancelled,
        };
        assert_eq!(
            s.submissions()
                .record_validation_results(std::slice::from_ref(&cancel))
                .await
                .unwrap(),
            0
        );
        let valid = ValidationUpdate {
            uuid: "UUID-G".to_owned(),
            outcome: ValidationOutcome::Valid {
                long_id: Some("LONG".to_owned()),
                validation_link: Some("https://v".to_owned()),
            },
        };
        assert_eq!(
            s.submissions()
                .record_validation_results(std::slice::from_ref(&valid))
                .await
                .unwrap(),
            1
        );
        let invalid = ValidationUpdate {
            uuid: "UUID-G".to_owned(),
            outcome: ValidationOutcome::Invalid {
                errors: crate::common::errors(ErrorStage::Validation, "CF321"),
            },
        };
        assert_eq!(
            s.submissions()
                .record_validation_results(&[invalid, valid])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            s.documents().get(d.id).await.unwrap().state,
            DocumentState::Valid
        );
        assert_eq!(
            s.submissions()
                .record_validation_results(&[cancel])
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            s.documents().get(d.id).await.unwrap().state,
            DocumentState::Cancelled
        );
    }

    pub(super) async fn intent_is_recorded_before_accepted_then_validation(h: Harness) {
        let s = &*h.store;
        let batch = one_batch(s, "C1", 3, "b").await;
        let ids: Vec<_> = batch.documents.iter().map(|d| d.id).collect();
        let payload = br#"{"documents":[1,2,3]}"#.to_vec();
        let sub = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "b".to_owned(),
                client_id: "client-a".to_owned(),
                on_behalf_of: None,
                document_ids: ids.clone(),
                payload: payload.clone(),
                lease: LEASE,
            })
            .await
            .unwrap();
        // Durable before the POST: state, exact payload and its SHA-256.
        let stored = s.submissions().get(sub.id).await.unwrap();
        assert_eq!(stored.state, SubmissionState::Intent);
        assert_eq!(s.submissions().payload(sub.id).await.unwrap(), payload);
        assert_eq!(stored.payload_bytes, payload.len() as i64);
        use sha2::Digest;
        assert_eq!(
            stored.payload_sha256,
            hex::encode(sha2::Sha256::digest(&payload))
        );
        assert_eq!(stored.document_count, 3);
        assert!(stored.submission_uid.is_none());
        let in_sub = s.submissions().documents_in(sub.id).await.unwrap();
        assert_eq!(in_sub.iter().map(|d| d.id).collect::<Vec<_>>(), ids);
        assert!(in_sub.iter().all(|d| d.state == DocumentState::Batched));
        // Nothing to poll or reconcile while the POST is in flight.
        assert!(s.submissions().to_poll(10).await.unwrap().is_empty());
        assert!(
            s.submissions()
                .needing_reconcile(10)
                .await
                .unwrap()
                .is_empty()
        );

        let accepted = s
            .submissions()
            .record_accepted(
                sub.id,
                &SubmissionAccepted {
                    submission_uid: "SUB-OK".to_owned(),
                    accepted: vec![(ids[0], "U0".to_owned()), (ids[1], "U1".to_owned())],
                    rejected: vec![(
                        ids[2],
                        crate::common::errors(ErrorStage::Submission, "BadArgument"),
                    )],
                },
            )
            .await
            .unwrap();
        assert_eq!(accepted.state, SubmissionState::Accepted);
        assert_eq!(accepted.submission_uid.as_deref(), Some("SUB-OK"));
        let d0 = s.documents().get(ids[0]).await.unwrap();
        assert_eq!(d0.state, DocumentState::Submitted);
        assert_eq!(d0.uuid.as_deref(), Some("U0"));
        assert_eq!(d0.locked_by, None);
        let d2 = s.documents().get(ids[2]).await.unwrap();
        assert_eq!(d2.state, DocumentState::Invalid);
        assert_eq!(
            d2.errors,
            crate::common::errors(ErrorStage::Submission, "BadArgument")
        );

        let poll = s.submissions().to_poll(10).await.unwrap();
        assert_eq!(poll.iter().map(|p| p.id).collect::<Vec<_>>(), [sub.id]);

        let n = s
            .submissions()
            .record_validation_results(&[
                ValidationUpdate {
                    uuid: "U0".to_owned(),
                    outcome: ValidationOutcome::Valid {
                        long_id: Some("LID0".to_owned()),
                        validation_link: Some(
                            "https://preprod.myinvois.hasil.gov.my/U0/share/LID0".to_owned(),
                        ),
                    },
                },
                ValidationUpdate {
                    uuid: "U1".to_owned(),
                    outcome: ValidationOutcome::Invalid {
                        errors: crate::common::errors(ErrorStage::Validation, "CF321"),
                    },
                },
            ])
            .await
            .unwrap();
        assert_eq!(n, 2);
        let d0 = s.documents().get(ids[0]).await.unwrap();
        assert_eq!(d0.state, DocumentState::Valid);
        assert_eq!(d0.long_id.as_deref(), Some("LID0"));
        let d1 = s.documents().get(ids[1]).await.unwrap();
        assert_eq!(d1.state, DocumentState::Invalid);
        assert_eq!(
            d1.errors,
            crate::common::errors(ErrorStage::Validation, "CF321")
        );
        let counts = s.documents().count_by_state().await.unwrap();
        assert_eq!(counts.get(&DocumentState::Valid), Some(&1));
        assert_eq!(counts.get(&DocumentState::Invalid), Some(&2));
        assert_eq!(counts.values().sum::<u64>(), 3);
        // All settled: nothing left to poll; every document is final.
        assert!(s.submissions().to_poll(10).await.unwrap().is_empty());
        for id in ids {
            assert!(s.documents().get(id).await.unwrap().state.is_final());
        }
    }

    pub(super) async fn unknown_and_duplicate_outcomes_surface_for_reconcile(h: Harness) {
        let s = &*h.store;
        let b1 = one_batch(s, "C1", 2, "b").await;
        let s1 = intent_for(s, &b1, "b").await;
        let b2 = one_batch(s, "C2", 1, "b").await;
        let s2 = intent_for(s, &b2, "b").await;
        let b3 = one_batch(s, "C3", 1, "b").await;
        let s3 = intent_for(s, &b3, "b").await;

        let u = s
            .submissions()
            .record_unknown(s1.id, "timeout after 30 s")
            .await
            .unwrap();
        assert_eq!(u.state, SubmissionState::OutcomeUnknown);
        assert_eq!(u.last_error.as_deref(), Some("timeout after 30 s"));
        s.submissions().record_duplicate(s2.id).await.unwrap();
        // Recording "unknown" twice is stale: only an intent can become unknown.
        assert!(matches!(
            s.submissions().record_unknown(s1.id, "again").await,
            Err(StoreError::StaleTransition { .. })
        ));

        let pending = s.submissions().needing_reconcile(10).await.unwrap();
        assert_eq!(
            pending.iter().map(|p| p.id).collect::<Vec<_>>(),
            [s1.id, s2.id]
        );
        // The documents stay held by their submission: nothing can re-batch them.
        assert!(
            s.documents()
                .claim_for_batch("x", 100, 1_000_000, LEASE)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.release_expired_leases().await.unwrap(),
            LeaseRecovery::default()
        );
        let held = s.submissions().documents_in(s1.id).await.unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.iter().all(|d| d.state == DocumentState::Batched));

        // Reconciliation found s1 at MyInvois: accepted from unknown.
        s.submissions()
            .record_accepted(
                s1.id,
                &SubmissionAccepted {
                    submission_uid: "FOUND".to_owned(),
                    accepted: held.iter().map(|d| (d.id, format!("U{}", d.id))).collect(),
                    rejected: vec![],
                },
            )
            .await
            .unwrap();
        // s2 (duplicate) proved absent: its document may go out in a new submission.
        let nr = s.submissions().record_not_received(s2.id).await.unwrap();
        assert_eq!(nr.state, SubmissionState::NotReceived);
        let again = s.documents().get(b2.documents[0].id).await.unwrap();
        assert_eq!(again.state, DocumentState::Prepared);
        assert_eq!(again.submission_id, None);
        // Only from unknown/duplicate: an intent cannot be declared absent.
        assert!(matches!(
            s.submissions().record_not_received(s3.id).await,
            Err(StoreError::StaleTransition { .. })
        ));
        assert!(
            s.submissions()
                .needing_reconcile(10)
                .await
                .unwrap()
                .is_empty()
        );
        let rebatch = s
            .documents()
            .claim_for_batch("x", 100, 1_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rebatch.documents[0].id, b2.documents[0].id);
        // An intent whose request provably never left (a 429, a refused login) goes
        // straight to not_received, keeping why, and its document is sendable again.
        let nr = s
            .submissions()
            .record_not_sent(s3.id, "429 Too Many Requests")
            .await
            .unwrap();
        assert_eq!(nr.state, SubmissionState::NotReceived);
        assert_eq!(nr.last_error.as_deref(), Some("429 Too Many Requests"));
        let back = s.documents().get(b3.documents[0].id).await.unwrap();
        assert_eq!(back.state, DocumentState::Prepared);
        assert_eq!(back.submission_id, None);
        // Only from an intent: a submission that may have arrived is reconciled instead.
        assert!(matches!(
            s.submissions().record_not_sent(s3.id, "again").await,
            Err(StoreError::StaleTransition { .. })
        ));
    }

    pub(super) async fn split_and_refusal_settle_the_documents(h: Harness) {
        let s = &*h.store;
        let b1 = one_batch(s, "C1", 4, "b").await;
        let s1 = intent_for(s, &b1, "b").await;
        let split = s.submissions().record_split(s1.id).await.unwrap();
        assert_eq!(split.state, SubmissionState::Split);
        for d in &b1.documents {
            let d = s.documents().get(d.id).await.unwrap();
            assert_eq!(d.state, DocumentState::Prepared);
            assert_eq!(d.submission_id, None);
        }
        // Smaller batches follow.
        let half = s
            .documents()
            .claim_for_batch("b", 2, 1_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(half.documents.len(), 2);
        let s2 = intent_for(s, &half, "b").await;
        let refused = s
            .submissions()
            .record_refused(
                s2.id,
                &DocumentError::refused(Some("IncorrectSubmitter"), "403 IncorrectSubmitter"),
            )
            .await
            .unwrap();
        assert_eq!(refused.state, SubmissionState::Refused);
        for d in &half.documents {
            let d = s.documents().get(d.id).await.unwrap();
            assert_eq!(d.state, DocumentState::Failed);
            assert_eq!(d.last_error.as_deref(), Some("403 IncorrectSubmitter"));
            // The refusal is also the document's typed error, with LHDN's code.
            assert_eq!(d.errors.len(), 1);
            assert_eq!(d.errors[0].lhdn_code.as_deref(), Some("IncorrectSubmitter"));
            assert_eq!(d.errors[0].stage, ErrorStage::Submission);
            assert!(d.state.is_final());
        }
        // The payload of a refused or split submission is kept for the record.
        let expected = b"payload for 4 documents".to_vec();
        assert_eq!(s.submissions().payload(s1.id).await.unwrap(), expected);
        assert_eq!(
            s.submissions().get(s1.id).await.unwrap().payload_bytes,
            expected.len() as i64
        );
        assert!(matches!(
            s.submissions().payload(SubmissionId(s1.id.0 + 1_000)).await,
            Err(StoreError::NotFound(_))
        ));
    }

    pub(super) async fn lease_expiry_recovers_orphans_without_resending(h: Harness) {
        let s = &*h.store;
        let short = Duration::from_secs(30);
        s.documents().insert(doc("C1", "L1", "1")).await.unwrap();
        let claimed = s
            .documents()
            .claim_received("dead-preparer", 10, short)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        // Held: nobody else gets it before the lease ends.
        assert!(
            s.documents()
                .claim_received("other", 10, short)
                .await
                .unwrap()
                .is_empty()
        );
        h.clock.advance(Duration::from_secs(31));
        let recovered = s.release_expired_leases().await.unwrap();
        assert_eq!(recovered.received_released, 1);
        let again = s
            .documents()
            .claim_received("other", 10, short)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 2);
        // The vanished worker's late result is refused.
        let late = s
            .documents()
            .mark_prepared(
                claimed[0].id,
                "dead-preparer",
                &WireDocument::new(DocumentFormat::Json, b"p".to_vec()),
            )
            .await
            .unwrap_err();
        assert!(matches!(late, StoreError::LeaseLost { .. }), "{late:?}");
        s.documents()
            .mark_prepared(
                claimed[0].id,
                "other",
                &WireDocument::new(DocumentFormat::Json, b"p".to_vec()),
            )
            .await
            .unwrap();

        // A batcher that vanished before recording an intent: documents return to prepared.
        let b = s
            .documents()
            .claim_for_batch("dead-batcher", 10, 1_000_000, short)
            .await
            .unwrap()
            .unwrap();
        assert!(
            s.documents()
                .claim_for_batch("x", 10, 1_000_000, short)
                .await
                .unwrap()
                .is_none()
        );
        h.clock.advance(Duration::from_secs(31));
        assert_eq!(
            s.release_expired_leases().await.unwrap().batched_released,
            1
        );
        assert_eq!(
            s.documents().get(b.documents[0].id).await.unwrap().state,
            DocumentState::Prepared
        );
        let late = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "dead-batcher".to_owned(),
                client_id: b.client_id.clone(),
                on_behalf_of: None,
                document_ids: vec![b.documents[0].id],
                payload: b"{}".to_vec(),
                lease: short,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(late, StoreError::StaleTransition { .. }),
            "{late:?}"
        );

        // A submitter that vanished after the intent (it may have POSTed): the submission
        // becomes outcome_unknown, and its documents are NOT released for resending.
        let b = s
            .documents()
            .claim_for_batch("submitter", 10, 1_000_000, short)
            .await
            .unwrap()
            .unwrap();
        let sub = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "submitter".to_owned(),
                client_id: b.client_id.clone(),
                on_behalf_of: None,
                document_ids: vec![b.documents[0].id],
                payload: b"{\"documents\":[]}".to_vec(),
                lease: short,
            })
            .await
            .unwrap();
        h.clock.advance(Duration::from_secs(10));
        assert_eq!(
            s.release_expired_leases().await.unwrap(),
            LeaseRecovery::default()
        );
        h.clock.advance(Duration::from_secs(25));
        let recovered = s.release_expired_leases().await.unwrap();
        assert_eq!(recovered.submissions_unknown, 1);
        assert_eq!(recovered.batched_released, 0);
        assert_eq!(
            s.submissions().get(sub.id).await.unwrap().state,
            SubmissionState::OutcomeUnknown
        );
        let doc = s.documents().get(b.documents[0].id).await.unwrap();
        assert_eq!(doc.state, DocumentState::Batched);
        assert_eq!(doc.submission_id, Some(sub.id));
        assert!(
            s.documents()
                .claim_for_batch("x", 10, 1_000_000, short)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.submissions()
                .needing_reconcile(10)
                .await
                .unwrap()
                .iter()
                .map(|x| x.id)
                .collect::<Vec<_>>(),
            [sub.id]
        );
        // Recovery is idempotent.
        assert_eq!(
            s.release_expired_leases().await.unwrap(),
            LeaseRecovery::default()
        );
        // The vanished submitter, back, must not POST it now.
        assert!(matches!(
            s.submissions().hold(sub.id, "submitter", short).await,
            Err(StoreError::StaleTransition { .. })
        ));
    }

    pub(super) async fn hold_before_post_needs_a_live_lease(h: Harness) {
        let s = &*h.store;
        let short = Duration::from_secs(30);
        let batch = one_batch(s, "C1", 2, "b").await;
        let sub = s
            .submissions()
            .record_intent(SubmissionIntent {
                worker: "b".to_owned(),
                client_id: batch.client_id.clone(),
                on_behalf_of: None,
                document_ids: batch.documents.iter().map(|d| d.id).collect(),
                payload: b"{}".to_vec(),
                lease: short,
            })
            .await
            .unwrap();
        // Another worker cannot hold it.
        assert!(matches!(
            s.submissions().hold(sub.id, "x", short).await,
            Err(StoreError::LeaseLost { .. })
        ));
        // The holder extends its lease: 20 s later, plus 30 s from then.
        h.clock.advance(Duration::from_secs(20));
        let held = s.submissions().hold(sub.id, "b", short).await.unwrap();
        assert!(held.lease_until.unwrap() > sub.lease_until.unwrap());
        h.clock.advance(Duration::from_secs(20));
        // 40 s after the intent, the extended lease still holds it.
        assert_eq!(
            s.release_expired_leases()
                .await
                .unwrap()
                .submissions_unknown,
            0
        );
        s.submissions().hold(sub.id, "b", short).await.unwrap();
        // Let it lapse: even before recovery runs, the holder may not POST any more.
        h.clock.advance(Duration::from_secs(31));
        assert!(matches!(
            s.submissions().hold(sub.id, "b", short).await,
            Err(StoreError::LeaseLost { .. })
        ));
        assert_eq!(
            s.release_expired_leases()
                .await
                .unwrap()
                .submissions_unknown,
            1
        );
        assert!(matches!(
            s.submissions()
                .hold(SubmissionId(999_999), "b", short)
                .await,
            Err(StoreError::NotFound(_))
        ));
        let counts = s.documents().count_by_state().await.unwrap();
        assert_eq!(counts.get(&DocumentState::Batched), Some(&2));
        assert_eq!(counts.len(), 1);
    }

    pub(super) async fn webhook_retry_backs_off_then_dies(h: Harness) {
        let s = &*h.store;
        let d = s
            .documents()
            .insert(doc("C1", "W1", "w"))
            .await
            .unwrap()
            .document;
        let hook = s
            .outbox()
            .enqueue(NewWebhook {
                document_id: Some(d.id),
                event: "document.valid".to_owned(),
                payload: json!({"id": d.id.0, "state": "valid"}),
                max_attempts: 3,
            })
            .await
            .unwrap();
        assert_eq!(hook.state, WebhookState::Pending);
        assert_eq!(hook.payload, json!({"id": d.id.0, "state": "valid"}));

        let got = s.outbox().claim("d1", 10, LEASE).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].attempts, 1);
        assert!(s.outbox().claim("d2", 10, LEASE).await.unwrap().is_empty());
        // Only the holder may settle it.
        assert!(matches!(
            s.outbox().retry(hook.id, "d2", "nope").await,
            Err(StoreError::LeaseLost { .. })
        ));
        let r1 = s.outbox().retry(hook.id, "d1", "HTTP 500").await.unwrap();
        assert_eq!(r1.state, WebhookState::Pending);
        assert_eq!(r1.last_error.as_deref(), Some("HTTP 500"));
        let t1 = r1.next_attempt_at - r1.updated_at;
        assert_eq!(t1.num_seconds(), webhook_backoff(1).as_secs() as i64);
        // Not due yet.
        assert!(s.outbox().claim("d1", 10, LEASE).await.unwrap().is_empty());
        h.clock.advance(webhook_backoff(1) + Duration::from_secs(1));
        let got = s.outbox().claim("d1", 10, LEASE).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].attempts, 2);
        let r2 = s.outbox().retry(hook.id, "d1", "timeout").await.unwrap();
        let t2 = r2.next_attempt_at - r2.updated_at;
        assert_eq!(t2.num_seconds(), webhook_backoff(2).as_secs() as i64);
        assert!(t2 > t1, "backoff grows");
        h.clock.advance(webhook_backoff(2) + Duration::from_secs(1));
        assert_eq!(s.outbox().claim("d1", 10, LEASE).await.unwrap().len(), 1);
        let r3 = s.outbox().retry(hook.id, "d1", "timeout").await.unwrap();
        assert_eq!(r3.state, WebhookState::Dead);
        h.clock.advance(Duration::from_secs(3600 * 24));
        assert!(s.outbox().claim("d1", 10, LEASE).await.unwrap().is_empty());

        // A second delivery: the deliverer vanishes, the lease expires, another delivers it.
        let h2 = s
            .outbox()
            .enqueue(NewWebhook {
                document_id: None,
                event: "ping".to_owned(),
                payload: json!({}),
                max_attempts: 5,
            })
            .await
            .unwrap();
        assert_eq!(
            s.outbox()
                .claim("gone", 10, Duration::from_secs(5))
                .await
                .unwrap()
                .len(),
            1
        );
        h.clock.advance(Duration::from_secs(6));
        assert_eq!(
            s.release_expired_leases().await.unwrap().webhooks_released,
            1
        );
        assert_eq!(s.outbox().claim("d3", 10, LEASE).await.unwrap().len(), 1);
        assert!(matches!(
            s.outbox().ack(h2.id, "gone").await,
            Err(StoreError::LeaseLost { .. })
        ));
        let acked = s.outbox().ack(h2.id, "d3").await.unwrap();
        assert_eq!(acked.state, WebhookState::Delivered);
        assert_eq!(acked.attempts, 2);
        assert!(matches!(
            s.outbox().ack(h2.id, "d3").await,
            Err(StoreError::LeaseLost { .. })
        ));
    }

    /// The per-state delivery counts (settled ones kept by triggers, live ones read from the
    /// due index) equal a GROUP BY over the deliveries after every kind of change (enqueue,
    /// claim, retry, death, lease expiry, one ack, a pass's acks in one statement, replay),
    /// and after the rows are folded.
    pub(super) async fn webhook_counts_follow_every_change(h: Harness) {
        let s = &*h.store;
        let check = |what: &'static str| {
            let h = &h;
            async move {
                let truth: std::collections::BTreeMap<WebhookState, u64> = h
                    .rows_by_state("webhook_deliveries")
                    .await
                    .into_iter()
                    .map(|(st, n)| (WebhookState::parse(&st).unwrap(), n as u64))
                    .collect();
                let counted = h.store.outbox().count_by_state().await.unwrap();
                assert_eq!(counted, truth, "after {what}");
                truth
            }
        };
        let hook = |event: &str, max_attempts: i64| NewWebhook {
            document_id: None,
            event: event.to_owned(),
            payload: json!({"event": event}),
            max_attempts,
        };
        for i in 0..4 {
            s.outbox().enqueue(hook(&format!("e{i}"), 1)).await.unwrap();
        }
        assert_eq!(check("enqueue").await.get(&WebhookState::Pending), Some(&4));
        let claimed = s.outbox().claim("d1", 3, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 3);
        check("claim").await;
        // max_attempts 1: the first failure is the last.
        s.outbox()
            .retry(claimed[0].id, "d1", "HTTP 500")
            .await
            .unwrap();
        assert_eq!(check("death").await.get(&WebhookState::Dead), Some(&1));
        s.outbox().ack(claimed[1].id, "d1").await.unwrap();
        check("one ack").await;
        let late = s
            .outbox()
            .claim("gone", 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(late.len(), 1);
        h.clock.advance(Duration::from_secs(2));
        s.release_expired_leases().await.unwrap();
        check("lease expiry").await;
        let again = s.outbox().claim("d2", 10, LEASE).await.unwrap();
        assert_eq!(again.len(), 1);
        let ids: Vec<WebhookId> = again.iter().map(|d| d.id).collect();
        s.outbox().ack_many(&ids, "d2").await.unwrap();
        s.outbox().ack_many(&[claimed[2].id], "d1").await.unwrap();
        assert_eq!(
            check("a pass's acks").await.get(&WebhookState::Delivered),
            Some(&3)
        );
        s.outbox().replay(claimed[0].id).await.unwrap();
        s.outbox().replay(claimed[1].id).await.unwrap();
        let after_replay = check("replay").await;
        assert_eq!(after_replay.get(&WebhookState::Pending), Some(&2));
        // Enough deliveries settled one at a time that PostgreSQL's appended rows are folded.
        for i in 0..300 {
            s.outbox().enqueue(hook(&format!("f{i}"), 3)).await.unwrap();
        }
        let many = s.outbox().claim("d3", 1000, LEASE).await.unwrap();
        assert_eq!(many.len(), 302);
        for d in &many {
            s.outbox().ack(d.id, "d3").await.unwrap();
        }
        s.release_expired_leases().await.unwrap();
        assert_eq!(
            check("folding").await.get(&WebhookState::Delivered),
            Some(&305)
        );
        let rows = h.row_count("webhook_delivery_counts").await;
        assert!(rows <= WebhookState::ALL.len() as i64, "{rows} count rows");
    }

    pub(super) async fn api_keys_are_stored_hashed_only(h: Harness) {
        let s = &*h.store;
        let (rec, secret) = s.api_keys().create("erp-prod").await.unwrap();
        let plain = secret.expose().to_owned();
        assert!(plain.len() >= 40, "a long random key");
        assert!(!format!("{secret:?}").contains(&plain));
        assert!(plain.starts_with(&rec.prefix));
        assert!(rec.prefix.len() < plain.len());

        let rows = h.api_key_rows().await;
        assert_eq!(rows.len(), 1);
        let (name, prefix, hash) = &rows[0];
        assert_eq!(name, "erp-prod");
        assert_ne!(hash, &plain);
        assert!(
            !hash.contains(&plain[12..]),
            "the stored hash must not carry the key"
        );
        assert_eq!(prefix.len(), 12);
        use sha2::Digest;
        assert_eq!(hash, &hex::encode(sha2::Sha256::digest(plain.as_bytes())));

        assert_eq!(
            s.api_keys().verify(&plain).await.unwrap().map(|r| r.id),
            Some(rec.id)
        );
        assert!(s.api_keys().verify("ivk_wrong").await.unwrap().is_none());
        let shown = format!("{:?} {s:?}", s.api_keys());
        assert!(
            !shown.contains(hash.as_str()) && !shown.contains(&plain),
            "the remembered keys stay out of Debug: {shown}"
        );
        assert!(
            s.api_keys().verify(hash).await.unwrap().is_none(),
            "the hash is not a key"
        );
        let (_, second) = s.api_keys().create("erp-test").await.unwrap();
        assert_ne!(second.expose(), plain);

        let revoked = s.api_keys().revoke(rec.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(s.api_keys().verify(&plain).await.unwrap().is_none());
        assert!(
            s.api_keys()
                .verify(second.expose())
                .await
                .unwrap()
                .is_some()
        );
        let listed = s.api_keys().list().await.unwrap();
        assert_eq!(
            listed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
            ["erp-prod", "erp-test"]
        );
        assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());
        // Revoking twice keeps the first time.
        h.clock.advance(Duration::from_secs(60));
        assert_eq!(
            s.api_keys().revoke(rec.id).await.unwrap().revoked_at,
            revoked.revoked_at
        );
        assert!(matches!(
            s.api_keys().revoke(ApiKeyId(987_654)).await,
            Err(StoreError::NotFound(_))
        ));

        // A key revoked by another instance (or `invois api-key revoke`) is taken on trust
        // here for at most KEY_TRUSTED_FOR after this instance last checked it.
        let (third, third_key) = s.api_keys().create("erp-other").await.unwrap();
        assert!(
            s.api_keys()
                .verify(third_key.expose())
                .await
                .unwrap()
                .is_some()
        );
        let other = h.another_instance().await;
        other.api_keys().revoke(third.id).await.unwrap();
        assert!(
            other
                .api_keys()
                .verify(third_key.expose())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.api_keys()
                .verify(third_key.expose())
                .await
                .unwrap()
                .is_some(),
            "checked a moment ago"
        );
        h.clock.advance(KEY_TRUSTED_FOR.to_std().unwrap());
        assert!(
            s.api_keys()
                .verify(third_key.expose())
                .await
                .unwrap()
                .is_none(),
            "checked again once the trust ran out"
        );
    }

    pub(super) async fn listing_pages_and_filters(h: Harness) {
        let s = &*h.store;
        let start = h.clock.now();
        for i in 0..25 {
            let issuer = if i % 2 == 0 { "EVEN" } else { "ODD" };
            s.documents()
                .insert(doc(issuer, &format!("P{i}"), &format!("{i}")))
                .await
                .unwrap();
            h.clock.advance(Duration::from_secs(60));
        }
        // Paging through everything, 10 at a time.
        let mut all = Vec::new();
        let mut filter = DocumentFilter {
            limit: 10,
            ..Default::default()
        };
        let mut pages = 0;
        loop {
            let page = s.documents().list(&filter).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 10);
            all.extend(page.items.iter().map(|d| d.internal_id.clone()));
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(all.len(), 25);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 25);
        assert_eq!(all[0], "P0");
        assert_eq!(all[24], "P24");

        let even = s
            .documents()
            .list(&DocumentFilter {
                issuer_tin: Some("EVEN".to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(even.items.len(), 13);
        assert!(even.items.iter().all(|d| d.issuer_tin == "EVEN"));
        assert_eq!(even.next, None);

        // Received in minutes [5, 10): P5..P9.
        let window = s
            .documents()
            .list(&DocumentFilter {
                received_from: Some(start + chrono::Duration::minutes(5)),
                received_before: Some(start + chrono::Duration::minutes(10)),
                ..Default::default()
            })
            .await
            .unwrap();
        let names: Vec<_> = window
            .items
            .iter()
            .map(|d| d.internal_id.as_str())
            .collect();
        assert_eq!(names, ["P5", "P6", "P7", "P8", "P9"]);

        s.documents().claim_received("w", 3, LEASE).await.unwrap();
        for d in s
            .documents()
            .list(&DocumentFilter {
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap()
            .items
        {
            s.documents()
                .mark_prepared(
                    d.id,
                    "w",
                    &WireDocument::new(DocumentFormat::Json, b"p".to_vec()),
                )
                .await
                .unwrap();
        }
        let prepared = s
            .documents()
            .list(&DocumentFilter {
                state: Some(DocumentState::Prepared),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(prepared.items.len(), 3);
        let odd_received = s
            .documents()
            .list(&DocumentFilter {
                state: Some(DocumentState::Received),
                issuer_tin: Some("ODD".to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
        // P1 was prepared; P3..P23 remain.
        assert_eq!(odd_received.items.len(), 11);
    }

    /// The per-state counts the triggers keep equal a GROUP BY over the table after every
    /// kind of change (intake, preparation, local rejection, batching, acceptance with a
    /// rejected document, validation, cancellation, split, refusal, retry, lease expiry),
    /// and after the rows are folded.
    pub(super) async fn state_counts_follow_every_change(h: Harness) {
        let s = &*h.store;
        let check = |what: &'static str| {
            let h = &h;
            async move {
                let truth: std::collections::BTreeMap<DocumentState, u64> = h
                    .rows_by_state("documents")
                    .await
                    .into_iter()
                    .map(|(st, n)| (DocumentState::parse(&st).unwrap(), n as u64))
                    .collect();
                let counted = h.store.documents().count_by_state().await.unwrap();
                assert_eq!(counted, truth, "after {what}");
            }
        };
        let a = one_batch(s, "C1", 3, "w").await;
        check("intake, preparation, batching").await;
        s.documents().insert(doc("C9", "R-1", "r")).await.unwrap();
        let r = s
            .documents()
            .claim_received("p", 1, LEASE)
            .await
            .unwrap()
            .remove(0);
        let errors = crate::common::errors(ErrorStage::Validation, "CF321");
        s.documents()
            .mark_rejected_locally(r.id, "p", &errors)
            .await
            .unwrap();
        check("local rejection").await;
        let sa = intent_for(s, &a, "w").await;
        let accepted = SubmissionAccepted {
            submission_uid: "SUB-A".to_owned(),
            accepted: vec![
                (a.documents[0].id, "UA0".to_owned()),
                (a.documents[1].id, "UA1".to_owned()),
            ],
            rejected: vec![(a.documents[2].id, errors.clone())],
        };
        s.submissions()
            .record_accepted(sa.id, &accepted)
            .await
            .unwrap();
        check("acceptance").await;
        let valid = |uuid: &str| ValidationUpdate {
            uuid: uuid.to_owned(),
            outcome: ValidationOutcome::Valid {
                long_id: None,
                validation_link: None,
            },
        };
        let cancelled = ValidationUpdate {
            uuid: "UA1".to_owned(),
            outcome: ValidationOutcome::Cancelled,
        };
        s.submissions()
            .record_validation_results(&[valid("UA0"), valid("UA1"), cancelled])
            .await
            .unwrap();
        check("validation and cancellation").await;
        let b = one_batch(s, "C2", 2, "w").await;
        let sb = intent_for(s, &b, "w").await;
        s.submissions().record_split(sb.id).await.unwrap();
        check("split").await;
        let c = s
            .documents()
            .claim_for_batch("w", 100, 5_000_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        let sc = intent_for(s, &c, "w").await;
        s.submissions()
            .record_refused(sc.id, &errors[0])
            .await
            .unwrap();
        check("refusal").await;
        for d in &c.documents {
            s.documents().retry(d.id).await.unwrap();
        }
        prepare_all(s, 10).await;
        s.documents()
            .claim_for_batch("gone", 100, 5_000_000, Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap();
        h.clock.advance(Duration::from_secs(2));
        let recovered = s.release_expired_leases().await.unwrap();
        assert_eq!(recovered.batched_released, c.documents.len() as u64);
        check("lease expiry").await;
        s.documents().retry(r.id).await.unwrap();
        check("retry").await;
        // Enough single-row changes that PostgreSQL's appended rows are folded.
        for i in 0..300 {
            let body = format!("fold {i}");
            s.documents()
                .insert(doc("C3", &format!("F-{i}"), &body))
                .await
                .unwrap();
        }
        s.release_expired_leases().await.unwrap();
        check("folding").await;
        let rows = h.row_count("document_state_counts").await;
        assert!(rows <= DocumentState::ALL.len() as i64, "{rows} count rows");
    }
}

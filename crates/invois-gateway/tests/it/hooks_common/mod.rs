//! Shared by the webhook, metrics and dashboard tests: a store on SQLite (always) or on
//! PostgreSQL (when `TEST_DATABASE_URL` is set; one schema per case, dropped at the end), and
//! a way to drive documents through their transitions so that status events exist.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use invois_api::submission::WireDocument;
use invois_clock::Clock;
use invois_gateway::document_errors::ErrorStage;
use invois_gateway::store::*;

use crate::common;

pub struct Harness {
    pub store: Arc<Store>,
    pub clock: Clock,
    reopen: Reopen,
}

enum Reopen {
    Sqlite(String),
    Pg(Box<sqlx::postgres::PgConnectOptions>),
}

impl Harness {
    /// A second, independent store on the same database (another gateway instance).
    pub async fn another_instance(&self) -> Arc<Store> {
        match &self.reopen {
            Reopen::Sqlite(url) => Arc::new(Store::open(url, self.clock.clone()).await.unwrap()),
            Reopen::Pg(options) => {
                Arc::new(common::pg_store((**options).clone(), self.clock.clone()).await)
            }
        }
    }
}

pub fn start_clock() -> Clock {
    Clock::starting_at(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap(), 1.0)
}

pub async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = common::SqliteFile::new();
    let url = dir.url();
    let clock = start_clock();
    let store = Store::open(&url, clock.clone()).await.unwrap();
    let harness = Harness {
        store: Arc::new(store),
        clock,
        reopen: Reopen::Sqlite(url),
    };
    tokio::spawn(case(harness)).await.unwrap();
    drop(dir);
}

pub async fn run_pg<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Harness) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    common::with_pg_schema(name, |options| async move {
        let clock = start_clock();
        let store = common::pg_store(options.clone(), clock.clone()).await;
        let harness = Harness {
            store: Arc::new(store.clone()),
            clock,
            reopen: Reopen::Pg(Box::new(options)),
        };
        common::run_then_close(store, harness, case).await;
    })
    .await;
}

/// Declares each case once for SQLite and once for PostgreSQL.
#[macro_export]
macro_rules! store_cases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::hooks_common::run_sqlite(super::cases::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::hooks_common::run_pg(stringify!($name), super::cases::$name).await;
                }
            )*
        }
    };
}

pub const LEASE: Duration = Duration::from_secs(60);

pub fn doc(issuer: &str, internal_id: &str, body: &str) -> NewDocument {
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

/// What [`drive`] did, by document.
pub struct Driven {
    /// Rejected locally.
    pub rejected: DocumentId,
    /// Submitted, then valid, then cancelled.
    pub cancelled: DocumentId,
    /// Submitted, then invalid.
    pub invalid_later: DocumentId,
    /// Rejected by MyInvois at submission (invalid at once).
    pub invalid_at_once: DocumentId,
}

/// Takes documents through every kind of status change: rejected locally; submitted then
/// valid then cancelled; submitted then invalid; invalid at submission. Seven events.
pub async fn drive(store: &Store, issuer: &str) -> Driven {
    let mut ids = Vec::new();
    for i in 0..4 {
        let d = store
            .documents()
            .insert(doc(
                issuer,
                &format!("{issuer}-INV-{i}"),
                &format!("body {i}"),
            ))
            .await
            .unwrap();
        ids.push(d.document.id);
    }
    let claimed = store
        .documents()
        .claim_received("preparer", 10, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    store
        .documents()
        .mark_rejected_locally(
            ids[3],
            "preparer",
            &crate::common::errors(ErrorStage::LocalValidation, "CF005"),
        )
        .await
        .unwrap();
    for id in &ids[..3] {
        store
            .documents()
            .mark_prepared(
                *id,
                "preparer",
                &WireDocument::new(DocumentFormat::Json, b"prepared".to_vec()),
            )
            .await
            .unwrap();
    }
    let batch = store
        .documents()
        .claim_for_batch("batcher", 100, 5_000_000, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.documents.len(), 3);
    let sub = store
        .submissions()
        .record_intent(SubmissionIntent {
            worker: "batcher".to_owned(),
            client_id: batch.client_id.clone(),
            on_behalf_of: None,
            document_ids: ids[..3].to_vec(),
            payload: b"payload".to_vec(),
            lease: LEASE,
        })
        .await
        .unwrap();
    store
        .submissions()
        .record_accepted(
            sub.id,
            &SubmissionAccepted {
                submission_uid: format!("SUB-{issuer}"),
                accepted: vec![
                    (ids[0], format!("U-{issuer}-0")),
                    (ids[1], format!("U-{issuer}-1")),
                ],
                rejected: vec![(
                    ids[2],
                    crate::common::errors(ErrorStage::Submission, "BadArgument"),
                )],
            },
        )
        .await
        .unwrap();
    let changed = store
        .submissions()
        .record_validation_results(&[
            ValidationUpdate {
                uuid: format!("U-{issuer}-0"),
                outcome: ValidationOutcome::Valid {
                    long_id: Some(format!("LONG-{issuer}-0")),
                    validation_link: Some(format!("https://myinvois.example/U-{issuer}-0/share")),
                },
            },
            ValidationUpdate {
                uuid: format!("U-{issuer}-1"),
                outcome: ValidationOutcome::Invalid {
                    errors: crate::common::errors(ErrorStage::Validation, "CF321"),
                },
            },
        ])
        .await
        .unwrap();
    assert_eq!(changed, 2);
    let changed = store
        .submissions()
        .record_validation_results(&[ValidationUpdate {
            uuid: format!("U-{issuer}-0"),
            outcome: ValidationOutcome::Cancelled,
        }])
        .await
        .unwrap();
    assert_eq!(changed, 1);
    Driven {
        rejected: ids[3],
        cancelled: ids[0],
        invalid_later: ids[1],
        invalid_at_once: ids[2],
    }
}

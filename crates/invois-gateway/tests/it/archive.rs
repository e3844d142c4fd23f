//! The archive: export writes what the store holds, byte for byte, under safe names; and
//! backfill records documents submitted outside the gateway, by Search Documents only.
//!
//! Every case runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set (own schema
//! per case).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use invois_api::submission::WireDocument;
use invois_client::api::submission::{DocumentFormat as WireFormat, DocumentSubmission};
use invois_client::api::{DocumentStatus, Endpoint};
use invois_client::{Client, DocumentSubmissionExt, RateLimits};
use invois_clock::Clock;
use invois_gateway::archive::{self, BackfillSummary, ExportFilter};
use invois_gateway::document_errors::ErrorStage;
use invois_gateway::store::*;
use invois_testkit::{CallObserver, CallRecord, TestSandbox, samples};
use serde_json::Value;
use sha2::Digest as _;

async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = crate::common::SqliteFile::new();
    let url = dir.url();
    let store = Store::open(&url, start_clock()).await.unwrap();
    tokio::spawn(case(Arc::new(store))).await.unwrap();
}

async fn run_pg<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Arc<Store>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    crate::common::with_pg_schema(name, |options| async move {
        let store = crate::common::pg_store(options, start_clock()).await;
        let shared: Arc<Store> = Arc::new(store.clone());
        crate::common::run_then_close(store, shared, case).await;
    })
    .await;
}

macro_rules! archive_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_pg(stringify!($name), super::$name).await;
                }
            )*
        }
    };
}

archive_tests!(
    export_writes_bytes_results_and_a_manifest,
    backfill_records_outside_documents_idempotently,
);

fn start_clock() -> Clock {
    Clock::starting_at(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap(), 1.0)
}

const LEASE: Duration = Duration::from_secs(60);

fn new_doc(internal_id: &str, format: DocumentFormat, body: &[u8]) -> NewDocument {
    NewDocument {
        issuer_tin: "C1234567890".to_owned(),
        type_code: "01".to_owned(),
        internal_id: internal_id.to_owned(),
        version: 1,
        format,
        client_id: "client-a".to_owned(),
        on_behalf_of: None,
        received: body.to_vec(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Drives `ids` (received) through preparation, one batch, an accepted submission with
/// `uuids`, and returns the submission.
async fn submit_through_store(
    s: &Store,
    ids: &[DocumentId],
    uuids: &[&str],
    submission_uid: &str,
) -> SubmissionRecord {
    let claimed = s
        .documents()
        .claim_received("prep", 100, LEASE)
        .await
        .unwrap();
    for d in claimed {
        if !ids.contains(&d.id) {
            continue;
        }
        let mut bytes = b"PREPARED:".to_vec();
        bytes.extend_from_slice(&d.received);
        let prepared = WireDocument::new(DocumentFormat::Json, bytes);
        s.documents()
            .mark_prepared(d.id, "prep", &prepared)
            .await
            .unwrap();
    }
    let batch = s
        .documents()
        .claim_for_batch("batcher", 100, 5_000_000, LEASE)
        .await
        .unwrap()
        .unwrap();
    let sub = s
        .submissions()
        .record_intent(SubmissionIntent {
            worker: "batcher".to_owned(),
            client_id: batch.client_id.clone(),
            on_behalf_of: None,
            document_ids: batch.documents.iter().map(|d| d.id).collect(),
            payload: format!("{{\"documents\":{}}}", batch.documents.len()).into_bytes(),
            lease: LEASE,
        })
        .await
        .unwrap();
    s.submissions()
        .record_accepted(
            sub.id,
            &SubmissionAccepted {
                submission_uid: submission_uid.to_owned(),
                accepted: ids
                    .iter()
                    .zip(uuids)
                    .map(|(d, u)| (*d, (*u).to_owned()))
                    .collect(),
                rejected: vec![],
            },
        )
        .await
        .unwrap()
}

/// Every file under `root`, relative, sorted.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

async fn export_writes_bytes_results_and_a_manifest(store: Arc<Store>) {
    let s = &*store;
    let hostile = "../../../../escaped/INV 9";
    let valid = s
        .documents()
        .insert(new_doc(
            "INV-1",
            DocumentFormat::Json,
            br#"{"Invoice":[1]}"#,
        ))
        .await
        .unwrap()
        .document;
    let xml = s
        .documents()
        .insert(new_doc(
            "INV-2",
            DocumentFormat::Xml,
            b"<Invoice>2</Invoice>",
        ))
        .await
        .unwrap()
        .document;
    let sub =
        submit_through_store(s, &[valid.id, xml.id], &["UUID-VALID", "UUID-XML"], "SUB-1").await;
    assert_eq!(sub.state, SubmissionState::Accepted);
    // The hostile one fails local validation.
    let evil = s
        .documents()
        .insert(new_doc(hostile, DocumentFormat::Json, br#"{"evil":true}"#))
        .await
        .unwrap()
        .document;
    let claimed = s
        .documents()
        .claim_received("prep", 10, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    s.documents()
        .mark_rejected_locally(
            evil.id,
            "prep",
            &crate::common::errors(ErrorStage::LocalValidation, "CF001"),
        )
        .await
        .unwrap();
    s.submissions()
        .record_validation_results(&[ValidationUpdate {
            uuid: "UUID-VALID".to_owned(),
            outcome: ValidationOutcome::Valid {
                long_id: Some("LONG-1".to_owned()),
                validation_link: Some(
                    "https://preprod.myinvois.hasil.gov.my/UUID-VALID/share/LONG-1".to_owned(),
                ),
            },
        }])
        .await
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("nested").join("out");
    let summary = archive::export(s, &root, &ExportFilter::default())
        .await
        .unwrap();
    assert_eq!(summary.documents, 3);
    assert_eq!(summary.submissions, 1);
    assert_eq!(summary.manifest, root.join("manifest.jsonl"));

    // Nothing was written outside the output directory.
    assert!(!tmp.path().join("escaped").exists());
    assert!(!tmp.path().join("nested").join("escaped").exists());
    let files = walk(&root);
    assert_eq!(summary.files, files.len() as u64, "{files:?}");
    for f in &files {
        assert!(
            f.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{f:?}"
        );
    }
    let written: u64 = files
        .iter()
        .map(|f| std::fs::metadata(root.join(f)).unwrap().len())
        .sum();
    assert_eq!(summary.bytes, written);

    let manifest = std::fs::read_to_string(root.join("manifest.jsonl")).unwrap();
    let lines: Vec<Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let id = DocumentId(line["id"].as_i64().unwrap());
        let stored = s.documents().get(id).await.unwrap();
        let dir = root.join(line["dir"].as_str().unwrap());
        assert!(dir.starts_with(root.join("documents")));
        assert_eq!(line["state"], stored.state.as_str());
        // Every file listed exists with the hash and size the manifest gives.
        for f in line["files"].as_array().unwrap() {
            let bytes = std::fs::read(dir.join(f["name"].as_str().unwrap())).unwrap();
            assert_eq!(f["sha256"], sha256_hex(&bytes));
            assert_eq!(f["bytes"], bytes.len());
        }
        let ext = if stored.format == DocumentFormat::Xml {
            "xml"
        } else {
            "json"
        };
        assert_eq!(
            std::fs::read(dir.join(format!("received.{ext}"))).unwrap(),
            stored.received
        );
        match &stored.prepared {
            Some(p) => assert_eq!(
                &std::fs::read(dir.join(format!("prepared.{ext}"))).unwrap(),
                p
            ),
            None => assert!(!dir.join(format!("prepared.{ext}")).exists()),
        }
        let result: Value =
            serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
        assert_eq!(result["state"], stored.state.as_str());
        assert_eq!(result["internalId"], stored.internal_id);
        let events: Vec<&str> = result["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["state"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = s
            .documents()
            .events(id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.state.as_str())
            .collect();
        assert_eq!(events, expected);
        if id == valid.id {
            assert_eq!(result["uuid"], "UUID-VALID");
            assert_eq!(result["longId"], "LONG-1");
            assert!(
                result["validationLink"]
                    .as_str()
                    .unwrap()
                    .ends_with("/UUID-VALID/share/LONG-1")
            );
            assert_eq!(result["submission"]["submissionUid"], "SUB-1");
            assert_eq!(result["submission"]["payloadSha256"], sub.payload_sha256);
            assert_eq!(events, vec!["submitted", "valid"]);
        }
        if id == evil.id {
            assert_eq!(result["errors"][0]["code"], "CF001");
            assert_eq!(result["errors"][0]["stage"], "local_validation");
            assert_eq!(result["internalId"], hostile);
            assert!(result["submission"].is_null());
            let name = line["dir"].as_str().unwrap();
            assert!(name.starts_with("documents/"), "{name}");
            assert!(!name["documents/".len()..].contains('/'), "{name}");
        }
    }

    let subs = std::fs::read_to_string(root.join("submissions.jsonl")).unwrap();
    let subs: Vec<Value> = subs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(subs.len(), 1);
    let payload = s.submissions().payload(sub.id).await.unwrap();
    assert_eq!(subs[0]["payloadSha256"], sha256_hex(&payload));
    assert_eq!(subs[0]["payloadBytes"], payload.len());
    assert_eq!(subs[0]["submissionUid"], "SUB-1");

    // Filters: only the valid one.
    let only_valid = tmp.path().join("valid");
    let summary = archive::export(
        s,
        &only_valid,
        &ExportFilter {
            state: Some(DocumentState::Valid),
            ..ExportFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(summary.documents, 1);
    let manifest = std::fs::read_to_string(only_valid.join("manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 1);
    assert!(manifest.contains("UUID-VALID"));
    // A received window that ends before anything was received exports nothing.
    let none = tmp.path().join("none");
    let summary = archive::export(
        s,
        &none,
        &ExportFilter {
            received_before: Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
            ..ExportFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(summary.documents, 0);
}

#[derive(Default)]
struct Calls(std::sync::Mutex<Vec<CallRecord>>);

impl CallObserver for Calls {
    fn on_call(&self, record: &CallRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

fn invoices(sandbox: &TestSandbox, n: usize, tag: &str) -> Vec<DocumentSubmission> {
    let supplier = sandbox.supplier().tin;
    let buyer = sandbox.buyer().tin;
    let now = sandbox.clock().now() - chrono::Duration::minutes(5);
    (0..n)
        .map(|i| {
            let mut doc = invois_testkit::fixture_json(
                invois_testkit::Version::V1_0,
                invois_testkit::Kind::Invoice,
            );
            let id = format!("PORTAL-{tag}-{i}");
            samples::adapt_json(&mut doc, &id, now, &supplier, &buyer);
            DocumentSubmission::from_bytes(WireFormat::Json, &samples::minified(&doc), id)
        })
        .collect()
}

async fn backfill_records_outside_documents_idempotently(store: Arc<Store>) {
    let s = &*store;
    let calls = Arc::new(Calls::default());
    let sandbox = TestSandbox::builder()
        .time_scale(60.0)
        .validation_delay(Duration::from_secs(2))
        .observer(calls.clone())
        .start()
        .await
        .unwrap();
    let who = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id.clone(), who.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .rate_limits(RateLimits::default())
        .build()
        .unwrap();
    // Three documents issued outside the gateway: submitted with the client directly.
    let submitted = client
        .submissions()
        .submit(invoices(&sandbox, 3, "A"))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.accepted_documents.len(), 3, "{submitted:?}");
    let uid = submitted.submission_uid.clone().unwrap();
    client
        .submissions()
        .poll(uid.clone())
        .expected_documents(3)
        .send()
        .await
        .unwrap();
    let uuids: Vec<String> = submitted
        .accepted_documents
        .iter()
        .map(|d| d.uuid.clone())
        .collect();

    // The gateway knows the first one as its own (it recorded that uuid in `documents`).
    let own = s
        .documents()
        .insert(new_doc("PORTAL-A-0", DocumentFormat::Json, b"{}"))
        .await
        .unwrap()
        .document;
    submit_through_store(s, &[own.id], &[uuids[0].as_str()], &uid).await;

    let now = sandbox.clock().now();
    let (from, to) = (
        now - chrono::Duration::days(1),
        now + chrono::Duration::minutes(1),
    );
    let first = archive::backfill(&client, s, from, to).await.unwrap();
    assert_eq!(
        first,
        BackfillSummary {
            listed: 3,
            inserted: 2,
            updated: 0,
            unchanged: 0,
            own: 1,
        }
    );
    let stored = s.archive().list(0, 0).await.unwrap();
    assert_eq!(stored.len(), 2);
    let mut stored_uuids: Vec<&str> = stored.iter().map(|e| e.document.uuid.as_str()).collect();
    stored_uuids.sort_unstable();
    let mut expected: Vec<&str> = uuids[1..].iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(stored_uuids, expected);
    for e in &stored {
        assert_eq!(e.document.submission_uid, uid);
        assert_eq!(e.document.issuer_tin, who.tin);
        assert!(e.document.internal_id.starts_with("PORTAL-A-"));
        assert_ne!(e.document.status, "Submitted", "polled to the end first");
        assert_eq!(e.document.listing["uuid"], e.document.uuid);
    }

    // Re-run: nothing new, nothing duplicated.
    let again = archive::backfill(&client, s, from, to).await.unwrap();
    assert_eq!(
        again,
        BackfillSummary {
            listed: 3,
            inserted: 0,
            updated: 0,
            unchanged: 2,
            own: 1,
        }
    );
    assert_eq!(s.archive().list(0, 0).await.unwrap().len(), 2);

    // A status change outside the gateway (cancelled in the portal) is picked up.
    let valid = stored
        .iter()
        .find(|e| e.document.status == DocumentStatus::Valid.as_str())
        .expect("the adapted samples validate");
    client
        .documents()
        .cancel(&valid.document.uuid, "wrong buyer")
        .await
        .unwrap();
    let third = archive::backfill(&client, s, from, to).await.unwrap();
    assert_eq!((third.updated, third.unchanged, third.own), (1, 1, 1));
    let after = s.archive().list(0, 0).await.unwrap();
    let cancelled = after
        .iter()
        .find(|e| e.document.uuid == valid.document.uuid)
        .unwrap();
    assert_eq!(cancelled.document.status, "Cancelled");
    assert!(cancelled.document.cancelled_at.is_some());
    assert_eq!(cancelled.id, valid.id, "updated in place");
    assert_eq!(after.len(), 2);

    // Only Search Documents was used to list.
    let calls = calls.0.lock().unwrap();
    assert!(
        calls
            .iter()
            .all(|c| c.endpoint != Some(Endpoint::GetRecentDocuments))
    );
    assert!(
        calls
            .iter()
            .any(|c| c.endpoint == Some(Endpoint::SearchDocuments))
    );
}

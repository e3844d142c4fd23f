//! The archive: every document the gateway received and sent, and every result, written
//! out of the store ([`export`]); and documents issued outside the gateway recorded from
//! Search Documents ([`backfill`]).
//!
//! LHDN's sandbox keeps data for three months, and the portal shows only what MyInvois
//! holds. The store already keeps the received bytes, the prepared (signed, minified) bytes
//! that were submitted, the submissions' payload hashes, errors, validation links and every
//! status change; [`export`] writes them to files an auditor can read without invois.
//!
//! Export layout under the output directory:
//!
//! ```text
//! manifest.jsonl                 one line per document version: key, state, files and hashes
//! submissions.jsonl              one line per submission: uid, state, payload SHA-256
//! external.jsonl                 documents recorded by backfill (issued outside the gateway)
//! documents/<row id>-<issuer>-<type>-<internal id>-v<version>/
//!     received.<xml|json>        the bytes as the ERP sent them
//!     prepared.<xml|json>        the bytes submitted to MyInvois (once prepared)
//!     result.json                state, uuid, longId, validation link, errors, submission,
//!                                status events
//! ```
//!
//! Directory names come from ERP-supplied ids, so every part is reduced to `[A-Za-z0-9._-]`
//! (see [`safe_component`]) and prefixed with the row id: a hostile internal id such as
//! `../../etc/passwd` cannot leave the output directory or collide with another document.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::store::{
    DocumentFilter, DocumentFormat, DocumentRecord, DocumentState, ExternalDocument,
    ExternalUpsert, Store, StoreError, SubmissionId, SubmissionRecord,
};

/// What can go wrong while archiving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// MyInvois (Search Documents) failed.
    #[error("Search Documents: {0}")]
    Client(#[from] invois_client::Error),
    /// The request itself is wrong (a backwards date range, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Which documents [`export`] writes. All fields are optional; the default is everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportFilter {
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_before: Option<DateTime<Utc>>,
    /// Only documents in this state.
    pub state: Option<DocumentState>,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Document versions exported.
    pub documents: u64,
    /// Submissions listed in `submissions.jsonl`.
    pub submissions: u64,
    /// External documents listed in `external.jsonl`.
    pub external: u64,
    /// Files written (including the manifests).
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The manifest's path.
    pub manifest: PathBuf,
}

/// Reduces an id to a safe file-name part: ASCII letters, digits, `-`, `_` and `.` are
/// kept, anything else becomes `_`; a leading `.` becomes `_` (no hidden files, no `.` or
/// `..`); at most 64 characters; never empty.
pub fn safe_component(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The directory (relative to the export root) of one document version.
pub fn document_dir(doc: &DocumentRecord) -> String {
    format!(
        "documents/{:08}-{}-{}-{}-v{}",
        doc.id.0,
        safe_component(&doc.issuer_tin),
        safe_component(&doc.type_code),
        safe_component(&doc.internal_id),
        doc.version
    )
}

fn extension(format: DocumentFormat) -> &'static str {
    format.as_lowercase()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Counts what is written.
struct Writer {
    root: PathBuf,
    files: u64,
    bytes: u64,
}

impl Writer {
    async fn mkdir(&self, rel: &str) -> Result<PathBuf, ArchiveError> {
        let path = self.root.join(rel);
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|source| ArchiveError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    async fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
        tokio::fs::write(path, bytes)
            .await
            .map_err(|source| ArchiveError::Io {
                path: path.to_owned(),
                source,
            })?;
        self.files += 1;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn submission_json(s: &SubmissionRecord) -> Value {
    json!({
        "id": s.id.0,
        "submissionUid": s.submission_uid,
        "state": s.state.as_str(),
        "clientId": s.client_id,
        "onBehalfOf": s.on_behalf_of,
        "documentCount": s.document_count,
        "payloadSha256": s.payload_sha256,
        "payloadBytes": s.payload_bytes,
        "lastError": s.last_error,
        "createdAt": time(s.created_at),
        "updatedAt": time(s.updated_at),
    })
}

fn jsonl_line(v: &Value) -> Vec<u8> {
    let mut line = v.to_string().into_bytes();
    line.push(b'\n');
    line
}

/// Writes every stored document version matching `filter` (received bytes, prepared bytes,
/// result), the submissions they were sent in, and the external documents, under `dir`
/// (created if missing; files already there with the same names are replaced). See the
/// module docs for the layout.
pub async fn export(
    store: &Store,
    dir: &Path,
    filter: &ExportFilter,
) -> Result<ExportSummary, ArchiveError> {
    let mut w = Writer {
        root: dir.to_owned(),
        files: 0,
        bytes: 0,
    };
    w.mkdir("documents").await?;
    let mut manifest = Vec::new();
    let mut submissions: HashMap<SubmissionId, SubmissionRecord> = HashMap::new();
    let mut documents = 0u64;
    let mut after = None;
    loop {
        let page = store
            .documents()
            .list(&DocumentFilter {
                state: filter.state,
                issuer_tin: None,
                received_from: filter.received_from,
                received_before: filter.received_before,
                after,
                limit: 200,
                ..DocumentFilter::default()
            })
            .await?;
        for doc in &page.items {
            let submission = match doc.submission_id {
                Some(id) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = submissions.entry(id) {
                        slot.insert(store.submissions().get(id).await?);
                    }
                    submissions.get(&id)
                }
                None => None,
            };
            let line = export_document(&mut w, store, doc, submission).await?;
            manifest.extend(jsonl_line(&line));
            documents += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    let manifest_path = dir.join("manifest.jsonl");
    w.write(&manifest_path, &manifest).await?;

    let mut subs: Vec<&SubmissionRecord> = submissions.values().collect();
    subs.sort_by_key(|s| s.id);
    let mut lines = Vec::new();
    for s in &subs {
        lines.extend(jsonl_line(&submission_json(s)));
    }
    w.write(&dir.join("submissions.jsonl"), &lines).await?;

    let mut lines = Vec::new();
    let mut external = 0u64;
    let mut after = 0;
    loop {
        let page = store.archive().list(after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in &page {
            lines.extend(jsonl_line(&json!({
                "id": e.id,
                "uuid": e.document.uuid,
                "submissionUid": e.document.submission_uid,
                "internalId": e.document.internal_id,
                "issuerTin": e.document.issuer_tin,
                "status": e.document.status,
                "firstSeenAt": time(e.first_seen_at),
                "updatedAt": time(e.updated_at),
                "listing": e.document.listing,
            })));
            external += 1;
        }
    }
    w.write(&dir.join("external.jsonl"), &lines).await?;

    Ok(ExportSummary {
        documents,
        submissions: subs.len() as u64,
        external,
        files: w.files,
        bytes: w.bytes,
        manifest: manifest_path,
    })
}

/// Writes one document version's files; returns its manifest line.
async fn export_document(
    w: &mut Writer,
    store: &Store,
    doc: &DocumentRecord,
    submission: Option<&SubmissionRecord>,
) -> Result<Value, ArchiveError> {
    let rel = document_dir(doc);
    let path = w.mkdir(&rel).await?;
    let ext = extension(doc.format);
    let mut files = Vec::new();

    let name = format!("received.{ext}");
    w.write(&path.join(&name), &doc.received).await?;
    files.push(json!({"name": name, "sha256": doc.received_sha256, "bytes": doc.received.len()}));

    if let Some(prepared) = &doc.prepared {
        let name = format!("prepared.{ext}");
        w.write(&path.join(&name), prepared).await?;
        files.push(json!({"name": name, "sha256": sha256_hex(prepared), "bytes": prepared.len()}));
    }

    let events: Vec<Value> = store
        .documents()
        .events(doc.id)
        .await?
        .iter()
        .map(|e| json!({"id": e.id, "state": e.state.as_str(), "at": time(e.created_at)}))
        .collect();
    let result = json!({
        "id": doc.id.0,
        "issuerTin": doc.issuer_tin,
        "typeCode": doc.type_code,
        "internalId": doc.internal_id,
        "version": doc.version,
        "format": doc.format.as_lowercase(),
        "clientId": doc.client_id,
        "onBehalfOf": doc.on_behalf_of,
        "state": doc.state.as_str(),
        "uuid": doc.uuid,
        "longId": doc.long_id,
        "validationLink": doc.validation_link,
        "errors": crate::document_errors::DocumentError::of(doc),
        "lastError": doc.last_error,
        "documentHash": doc.document_hash,
        "submission": submission.map(submission_json),
        "events": events,
        "receivedAt": time(doc.created_at),
        "updatedAt": time(doc.updated_at),
    });
    let bytes = serde_json::to_vec_pretty(&result).map_err(|e| ArchiveError::Io {
        path: path.join("result.json"),
        source: e.into(),
    })?;
    w.write(&path.join("result.json"), &bytes).await?;
    files.push(json!({"name": "result.json", "sha256": sha256_hex(&bytes), "bytes": bytes.len()}));

    Ok(json!({
        "id": doc.id.0,
        "issuerTin": doc.issuer_tin,
        "typeCode": doc.type_code,
        "internalId": doc.internal_id,
        "version": doc.version,
        "state": doc.state.as_str(),
        "uuid": doc.uuid,
        "submissionUid": submission.and_then(|s| s.submission_uid.clone()),
        "dir": rel,
        "files": files,
    }))
}

/// What [`backfill`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    /// Documents Search Documents listed.
    pub listed: u64,
    /// Newly recorded.
    pub inserted: u64,
    /// Already recorded, with a changed listing (a status change, say): updated.
    pub updated: u64,
    /// Already recorded as listed.
    pub unchanged: u64,
    /// Submitted by this gateway (known in `documents`): not recorded as external.
    pub own: u64,
}

/// The store's record of a listed document.
pub fn external_from_listing(
    listed: &invois_client::api::documents::ListedDocument,
) -> ExternalDocument {
    ExternalDocument {
        uuid: listed.uuid.clone(),
        submission_uid: listed.submission_uid.clone(),
        long_id: listed.long_id.clone().filter(|l| !l.is_empty()),
        internal_id: listed.internal_id.clone(),
        issuer_tin: listed.issuer_tin.clone(),
        issuer_name: listed.issuer_name.clone(),
        receiver_id: listed.receiver_id.clone(),
        receiver_name: listed.receiver_name.clone(),
        type_name: listed.type_name.clone(),
        type_version: listed.type_version_name.clone(),
        status: listed.status.as_str().to_owned(),
        issued_at: listed.date_time_issued,
        received_at: listed.date_time_received,
        validated_at: listed.date_time_validated,
        cancelled_at: listed.cancel_date_time,
        total_sales: listed.total_sales.map(|d| d.to_string()),
        total_discount: listed.total_discount.map(|d| d.to_string()),
        net_amount: listed.net_amount.map(|d| d.to_string()),
        total: listed.total.map(|d| d.to_string()),
        submission_channel: listed.submission_channel.clone(),
        listing: serde_json::to_value(listed).unwrap_or(Value::Null),
    }
}

/// Records every document Search Documents lists as submitted in `[from, to]` (any range:
/// the client walks it in 31-day windows, every page, within its rate budget) that the
/// gateway did not submit itself, into `external_documents`. Idempotent: a re-run updates
/// changed listings (status) and adds nothing twice. Only Search Documents is called, never
/// Get Recent Documents.
pub async fn backfill(
    client: &invois_client::Client,
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BackfillSummary, ArchiveError> {
    if from >= to {
        return Err(ArchiveError::Invalid(format!(
            "backfill: the date range must run forwards ({from} is not before {to})"
        )));
    }
    let mut summary = BackfillSummary::default();
    let stream = client
        .documents()
        .search()
        .submission_dates(from, to)
        .into_stream();
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let listed = item?;
        summary.listed += 1;
        match store
            .archive()
            .upsert(&external_from_listing(&listed))
            .await?
        {
            ExternalUpsert::Inserted => summary.inserted += 1,
            ExternalUpsert::Updated => summary.updated += 1,
            ExternalUpsert::Unchanged => summary.unchanged += 1,
            ExternalUpsert::Own => summary.own += 1,
        }
    }
    tracing::info!(
        listed = summary.listed,
        inserted = summary.inserted,
        updated = summary.updated,
        own = summary.own,
        "backfill done"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_become_plain_names() {
        assert_eq!(safe_component("INV-001_a.b"), "INV-001_a.b");
        assert_eq!(safe_component("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(safe_component(".."), "_.");
        assert_eq!(safe_component(""), "_");
        assert_eq!(safe_component("a/b\\c\0d"), "a_b_c_d");
        assert_eq!(safe_component("ünï"), "_n_");
        assert_eq!(safe_component(&"x".repeat(500)).len(), 64);
        for hostile in ["..", ".", "/", "a/../..", "C:\\x", "\u{202e}evil"] {
            let s = safe_component(hostile);
            assert!(!s.contains('/') && !s.contains('\\'), "{s}");
            assert!(s != "." && s != ".." && !s.starts_with('.'), "{s}");
        }
    }
}

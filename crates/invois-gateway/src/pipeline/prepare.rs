//! Preparation: received bytes → validated, signed, minified bytes (or a local rejection).
//!
//! A note (credit, debit or refund, normal or self-billed) may name its original by internal
//! `ID` alone: `BillingReference/InvoiceDocumentReference` with an `ID` and no `UUID` (absent
//! or empty). The ERP often cannot know the uuid, which MyInvois assigns when it validates
//! the original. Before validation and signing, the uuid of the gateway's *valid* document
//! with the note's issuer TIN and that internal id is filled in (an invoice of the matching
//! kind first: `01` for `02`-`04`, `11` for `12`-`14`, then the other notes of that kind).
//! When there is no such valid document yet, the note is rejected locally with an error
//! naming `BillingReference/InvoiceDocumentReference/UUID`; send it again as a new version
//! once the original is valid. A signed note is never changed.

use std::collections::HashMap;
use std::sync::Arc;

use invois_model::tree::{Element, Value as Leaf};
use invois_model::{Category, Document, Finding, ValidationContext, WireDocument};
use invois_sign::Signer;

use super::{Pipeline, PipelineError};
use crate::document_errors::{DocumentError, ErrorStage, codes};
use crate::store::{
    DocumentFormat, DocumentId, DocumentKey, DocumentRecord, DocumentState, Store, StoreError,
};

/// What preparation made of one document.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareOutcome {
    /// Ready to send: these exact bytes (minified, signed where the version needs it), hashed.
    Ready(WireDocument),
    /// Not sendable, and why: every blocking finding with its field, or the one reason.
    Rejected(Vec<DocumentError>),
}

fn rejected(stage: ErrorStage, code: &str, message: impl Into<String>) -> PrepareOutcome {
    PrepareOutcome::Rejected(vec![DocumentError::new(stage, code, message)])
}

/// The rules preparation applies besides validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareRules {
    /// Largest document sent, after signing (LHDN: 300 KB).
    pub max_document_bytes: usize,
    /// Whether arithmetic findings (line and document sums) block a document. MyInvois does
    /// not document checking them, and the official samples break them, so by default they
    /// are logged, not enforced.
    pub strict_arithmetic: bool,
}

/// Prepares one document: size limit, parse, local validation (every finding with its field
/// paths), then signing of an unsigned 1.1/1.3 document with `signer`, and the size limit
/// again on what will actually be sent. Pure CPU work; no I/O.
pub fn prepare_document(
    received: &[u8],
    format: DocumentFormat,
    signer: Option<&Signer>,
    ctx: &ValidationContext,
    rules: PrepareRules,
) -> PrepareOutcome {
    let max_document_bytes = rules.max_document_bytes;
    let too_large = |size: usize, what: &str| {
        rejected(
            ErrorStage::Intake,
            codes::TOO_LARGE,
            format!(
                "the {what} document is {size} bytes; MyInvois accepts at most \
                 {max_document_bytes} bytes (300 KB) per document, so it was not sent: split it \
                 into several documents"
            ),
        )
    };
    if received.len() > max_document_bytes {
        return too_large(received.len(), "received");
    }
    let document = match Document::parse_as(received, format) {
        Ok(d) => d,
        Err(e) => {
            return rejected(
                ErrorStage::Intake,
                codes::UNREADABLE,
                format!("the document could not be read: {e}"),
            );
        }
    };
    let report = invois_model::validate(&document, ctx);
    let version = document.version().unwrap_or_default().to_owned();
    // An unsigned 1.1/1.3 document is signed below when there is a certificate, so the
    // missing signature (CF013) is not a reason to stop it here.
    let will_sign = signer.is_some()
        && invois_client::version_needs_signature(&version)
        && !document.has_signature();
    let blocking: Vec<&Finding> = report
        .errors()
        .filter(|f| rules.strict_arithmetic || f.category != Category::Arithmetic)
        .filter(|f| !(will_sign && f.code == "CF013"))
        .collect();
    if !blocking.is_empty() {
        return PrepareOutcome::Rejected(
            blocking
                .into_iter()
                .map(|f| DocumentError::from_finding(f, format))
                .collect(),
        );
    }
    // Only the bytes: the hash is made once, of what is finally sent.
    let minified = document.to_string_as(format).into_bytes();
    let bytes = if invois_client::version_needs_signature(&version) && !document.has_signature() {
        let Some(signer) = signer else {
            return rejected(
                ErrorStage::Signing,
                codes::UNSIGNED,
                format!(
                    "version {version} documents must be signed, this one is not, and the \
                     gateway has no certificate: configure one (--cert) or sign before sending"
                ),
            );
        };
        match invois_sign::sign(&minified, format, signer, ctx.now) {
            Ok(signed) => signed,
            Err(e) => {
                return rejected(
                    ErrorStage::Signing,
                    codes::SIGNING_FAILED,
                    format!("signing failed: {e}"),
                );
            }
        }
    } else {
        minified
    };
    if bytes.len() > max_document_bytes {
        return too_large(bytes.len(), "signed");
    }
    PrepareOutcome::Ready(WireDocument::new(format, bytes))
}

/// A note's reference to an original by `ID` alone, which the gateway could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ReferenceError {
    /// No valid document with that internal id (yet).
    #[error(
        "BillingReference/InvoiceDocumentReference/UUID is empty, and the original `ID` {id} is \
         not valid at the gateway yet ({found}); send this note again as a new version once the \
         original is valid, or give the original's UUID"
    )]
    OriginalNotValid {
        /// Which `BillingReference` (0-based, among the document's `BillingReference`s).
        index: usize,
        /// The original's internal id, as the note gives it.
        id: String,
        /// What the gateway holds under that id.
        found: String,
    },
}

impl ReferenceError {
    /// The rejection stored for the note: a references finding on the empty UUID.
    fn rejection(&self, format: DocumentFormat) -> PrepareOutcome {
        let ReferenceError::OriginalNotValid { index, .. } = self;
        let field = match format {
            DocumentFormat::Json => format!(
                "$.Invoice[0].BillingReference[{index}].InvoiceDocumentReference[0].UUID[0]._"
            ),
            DocumentFormat::Xml => format!(
                "/Invoice/cac:BillingReference[{}]/cac:InvoiceDocumentReference/cbc:UUID",
                index + 1
            ),
        };
        PrepareOutcome::Rejected(vec![DocumentError {
            stage: ErrorStage::LocalValidation,
            code: "R002".to_owned(),
            lhdn_code: None,
            field: Some(field),
            message: self.to_string(),
        }])
    }
}

/// The type codes a note's original may have, most likely first: the invoice of the note's
/// kind, then the other notes of that kind (MyInvois only lets a note reference a document of
/// its own kind, normal or self-billed). `None` for a type that is not a note.
fn original_types(note_type: &str) -> Option<[&'static str; 4]> {
    match note_type {
        "02" | "03" | "04" => Some(["01", "02", "03", "04"]),
        "12" | "13" | "14" => Some(["11", "12", "13", "14"]),
        _ => None,
    }
}

/// The references of a note that name their original by `ID` only: (index among the
/// `BillingReference`s, the `ID`).
fn references_without_uuid(doc: &Document) -> Vec<(usize, String)> {
    doc.root()
        .children_named("BillingReference")
        .enumerate()
        .filter_map(|(i, b)| {
            let r = b.child("InvoiceDocumentReference")?;
            let id = r
                .text_at(&["ID"])
                .map(str::trim)
                .filter(|t| !t.is_empty())?;
            let uuid = r.text_at(&["UUID"]).map(str::trim).unwrap_or("");
            uuid.is_empty().then(|| (i, id.to_owned()))
        })
        .collect()
}

/// Writes `uuid` into the `index`th `BillingReference`'s `InvoiceDocumentReference`: into its
/// empty `UUID`, or as a new `UUID` where UBL places it (after `ID` and `CopyIndicator`).
fn set_reference_uuid(doc: &mut Document, index: usize, uuid: &str) {
    let Some(reference) = doc
        .root_mut()
        .children
        .iter_mut()
        .filter(|c| c.name == "BillingReference")
        .nth(index)
        .and_then(|b| b.child_mut("InvoiceDocumentReference"))
    else {
        return;
    };
    if let Some(existing) = reference.child_mut("UUID") {
        existing.value = Some(Leaf::string(uuid));
        return;
    }
    let prefix = reference.child("ID").and_then(|e| e.prefix.clone());
    let at = reference
        .children
        .iter()
        .rposition(|c| c.name == "ID" || c.name == "CopyIndicator")
        .map_or(0, |i| i + 1);
    let mut element = Element::cbc("UUID", uuid);
    element.prefix = prefix;
    reference.children.insert(at, element);
}

/// The uuid of the valid document `internal_id` of `issuer_tin` among `types`, or what the
/// gateway holds under that id instead (for the error).
async fn valid_original(
    store: &Store,
    issuer_tin: &str,
    internal_id: &str,
    types: [&str; 4],
) -> Result<Result<String, String>, StoreError> {
    let mut seen = Vec::new();
    for type_code in types {
        let key = DocumentKey {
            issuer_tin: issuer_tin.to_owned(),
            type_code: type_code.to_owned(),
            internal_id: internal_id.to_owned(),
        };
        if let Some(d) = store.documents().find(&key).await? {
            match (&d.state, &d.uuid) {
                (DocumentState::Valid, Some(uuid)) => return Ok(Ok(uuid.clone())),
                _ => seen.push(format!("type {type_code} document {} is {}", d.id, d.state)),
            }
        }
    }
    Ok(Err(if seen.is_empty() {
        format!("the gateway holds no document {internal_id} of issuer {issuer_tin}")
    } else {
        seen.join("; ")
    }))
}

/// For a note naming its original by `ID` only: the received bytes with the original's uuid
/// filled in, or the rejection when an original is not valid yet. `None`: nothing to fill
/// (not a note, every reference has its uuid, signed, or unreadable, which preparation then
/// reports).
async fn fill_original_uuids(
    store: &Store,
    doc: &DocumentRecord,
) -> Result<Option<Result<Vec<u8>, ReferenceError>>, StoreError> {
    let Some(types) = original_types(&doc.type_code) else {
        return Ok(None);
    };
    let Ok(mut parsed) = Document::parse_as(&doc.received, doc.format) else {
        return Ok(None);
    };
    let missing = references_without_uuid(&parsed);
    if missing.is_empty() || parsed.has_signature() {
        return Ok(None);
    }
    for (index, id) in missing {
        match valid_original(store, &doc.issuer_tin, &id, types).await? {
            Ok(uuid) => {
                tracing::debug!(
                    document.id = doc.id.0,
                    document.uuid = %uuid,
                    "note {}: original {id} is {uuid}",
                    doc.id
                );
                set_reference_uuid(&mut parsed, index, &uuid);
            }
            Err(found) => {
                return Ok(Some(Err(ReferenceError::OriginalNotValid {
                    index,
                    id,
                    found,
                })));
            }
        }
    }
    Ok(Some(Ok(parsed.to_string_as(doc.format).into_bytes())))
}

impl Pipeline {
    /// Claims received documents and prepares them (in parallel, off the async threads).
    /// Returns how many were handled.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn prepare_once(&self) -> Result<usize, PipelineError> {
        let inner = &self.inner;
        let docs = inner
            .store
            .documents()
            .claim_received(
                &inner.config.worker,
                inner.config.prepare_batch,
                inner.config.claim_lease,
            )
            .await?;
        if docs.is_empty() {
            return Ok(0);
        }
        let count = docs.len();
        // Notes naming their original by ID only get its uuid first (store reads, so here and
        // not in the blocking tasks below).
        let mut filled: HashMap<DocumentId, Result<Vec<u8>, ReferenceError>> = HashMap::new();
        for d in &docs {
            if let Some(fill) = fill_original_uuids(inner.store.as_ref(), d).await? {
                filled.insert(d.id, fill);
            }
        }
        let filled = Arc::new(filled);
        let ctx = Arc::new(self.validation_context());
        // Split the CPU work over the cores; each chunk is one blocking task.
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let chunk = count.div_ceil(workers).max(1);
        let mut chunks: Vec<Vec<DocumentRecord>> = Vec::new();
        let mut docs = docs;
        while !docs.is_empty() {
            let rest = docs.split_off(chunk.min(docs.len()));
            chunks.push(std::mem::replace(&mut docs, rest));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in chunks {
            let ctx = Arc::clone(&ctx);
            let filled = Arc::clone(&filled);
            let signer = inner.signer.clone();
            let rules = PrepareRules {
                max_document_bytes: inner.config.max_document_bytes,
                strict_arithmetic: inner.config.strict_arithmetic,
            };
            tasks.spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|d| {
                        let outcome = match filled.get(&d.id) {
                            Some(Err(e)) => e.rejection(d.format),
                            Some(Ok(bytes)) => {
                                prepare_document(bytes, d.format, signer.as_deref(), &ctx, rules)
                            }
                            None => prepare_document(
                                &d.received,
                                d.format,
                                signer.as_deref(),
                                &ctx,
                                rules,
                            ),
                        };
                        (d, outcome)
                    })
                    .collect::<Vec<_>>()
            });
        }
        let mut first_error = None;
        while let Some(done) = tasks.join_next().await {
            let Ok(results) = done else {
                // A panic in preparation is a bug; the documents' lease expires and another
                // attempt follows. Nothing is lost.
                tracing::error!("a preparation task failed");
                continue;
            };
            if let Some(e) = self.record_outcomes(results).await {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) if !matches!(e, crate::store::StoreError::LeaseLost { .. }) => Err(e.into()),
            _ => Ok(count),
        }
    }

    /// Records one chunk's outcomes: its prepared documents in one transaction (one fsync on
    /// SQLite, not one per document), local rejections one by one (they are rare). Returns
    /// the first error, after recording everything it could.
    async fn record_outcomes(
        &self,
        results: Vec<(DocumentRecord, PrepareOutcome)>,
    ) -> Option<crate::store::StoreError> {
        let inner = &self.inner;
        let mut first_error = None;
        let mut ready = Vec::with_capacity(results.len());
        for (doc, outcome) in results {
            match outcome {
                PrepareOutcome::Ready(wire) => ready.push((doc.id, wire)),
                PrepareOutcome::Rejected(errors) => {
                    inner.config.metrics.documents_rejected_locally(1);
                    tracing::info!(document = %doc.id, internal_id = %doc.internal_id, "rejected locally");
                    if let Err(e) = inner
                        .store
                        .documents()
                        .mark_rejected_locally(doc.id, &inner.config.worker, &errors)
                        .await
                    {
                        tracing::warn!(document = %doc.id, error = %e, "could not record preparation");
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if ready.is_empty() {
            return first_error;
        }
        let batch: Vec<_> = ready.iter().map(|(id, wire)| (*id, wire)).collect();
        let recorded = inner
            .store
            .documents()
            .mark_prepared_many(&inner.config.worker, &batch)
            .await;
        let outcomes = match recorded {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::warn!(error = %e, "could not record preparation");
                first_error.get_or_insert(e);
                return first_error;
            }
        };
        for ((id, _), outcome) in ready.iter().zip(outcomes) {
            match outcome {
                Ok(_) => inner.config.metrics.documents_prepared(1),
                Err(e) => {
                    // A lost lease means another worker has it now.
                    tracing::warn!(document = %id, error = %e, "could not record preparation");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unsigned v1.1 invoice fixture, issued just now.
    fn unsigned_v11() -> (Vec<u8>, chrono::DateTime<chrono::Utc>) {
        let bytes = invois_testkit::unsigned_fixture(
            invois_testkit::Version::V1_1,
            invois_testkit::Kind::Invoice,
            invois_model::Format::Json,
        );
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).expect("fixture JSON");
        let now = chrono::Utc::now();
        invois_testkit::samples::adapt_json(
            &mut doc,
            "P-1",
            now - chrono::Duration::minutes(5),
            "C25845632020",
            "C10987654320",
        );
        (invois_testkit::samples::minified(&doc), now)
    }

    const RULES: PrepareRules = PrepareRules {
        max_document_bytes: 300 * 1024,
        strict_arithmetic: false,
    };

    #[test]
    fn an_unsigned_v11_document_is_signed_when_there_is_a_certificate() {
        let (bytes, now) = unsigned_v11();
        let ctx = ValidationContext::at(now);
        let signer = invois_sign::TestCa::well_known()
            .and_then(|ca| ca.issue(&invois_sign::TestCertRequest::new("C25845632020", "X")))
            .and_then(|cert| cert.signer())
            .expect("a test signer");
        match prepare_document(&bytes, DocumentFormat::Json, Some(&signer), &ctx, RULES) {
            PrepareOutcome::Ready(signed) => {
                let doc = Document::parse(signed.bytes()).expect("the signed document reads back");
                assert!(doc.has_signature());
            }
            PrepareOutcome::Rejected(why) => panic!("rejected: {why:?}"),
        }
        // Without a certificate the missing signature stops it, named by field.
        match prepare_document(&bytes, DocumentFormat::Json, None, &ctx, RULES) {
            PrepareOutcome::Rejected(why) => {
                let unsigned = why.iter().find(|f| f.code == "CF013").expect("CF013");
                // LHDN's own code for the rule, beside invois's.
                assert_eq!(unsigned.lhdn_code.as_deref(), Some("DS301"), "{why:?}");
            }
            PrepareOutcome::Ready(_) => panic!("an unsigned v1.1 document was made ready"),
        }
    }

    /// The 1.0 invoice fixture with a 51-character number (the 10 Dec 2025 rule sets 50),
    /// issued an hour before `now`.
    fn long_number(now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        invois_testkit::samples::adapt_json(
            &mut doc,
            &"N".repeat(51),
            now - chrono::Duration::hours(1),
            "C25845632020",
            "C10987654320",
        );
        invois_testkit::samples::minified(&doc)
    }

    #[test]
    fn dated_rules_hold_a_document_back_from_their_first_day_in_the_target_environment() {
        use invois_model::rules::{self, Environment, Rule};
        let row = rules::rule(Rule::InvoiceNumberLength);
        for env in [Environment::Sandbox, Environment::Production] {
            let first = row.from_in(env).expect("a first day");
            // Noon in Kuala Lumpur, the day before and the first day.
            for (day, refused) in [(first.pred_opt().expect("a day"), false), (first, true)] {
                let now = day.and_hms_opt(4, 0, 0).expect("noon").and_utc();
                let ctx = ValidationContext::at(now).in_environment(env);
                let outcome =
                    prepare_document(&long_number(now), DocumentFormat::Json, None, &ctx, RULES);
                match (outcome, refused) {
                    (PrepareOutcome::Rejected(why), true) => {
                        assert_eq!(why.len(), 1, "{why:?}");
                        assert_eq!(why[0].code, "CF002");
                        assert_eq!(why[0].field.as_deref(), Some("$.Invoice[0].ID[0]"));
                    }
                    (PrepareOutcome::Ready(_), false) => {}
                    (outcome, _) => panic!("{env} on {day}: {outcome:?}"),
                }
            }
        }
    }
}

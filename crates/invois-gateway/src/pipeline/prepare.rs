//! Preparation: received bytes → validated, signed, minified bytes (or a local rejection).

use std::sync::Arc;

use invois_model::{Category, Document, Finding, Format, ValidationContext};
use invois_sign::Signer;
use serde_json::{Value, json};

use super::{Pipeline, PipelineError};
use crate::store::{DocumentFormat, DocumentRecord, Prepared};

/// What preparation made of one document.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareOutcome {
    /// Ready to send: these exact bytes (minified, signed where the version needs it).
    Ready(Vec<u8>),
    /// Not sendable; the JSON explains why (`error`, and `findings` naming each field).
    Rejected(Value),
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "code": f.code,
        "category": f.category.to_string(),
        "severity": f.severity.to_string(),
        "jsonPath": f.json_path,
        "xpath": f.xpath,
        "rule": f.rule,
        "value": f.value,
    })
}

fn rejected(error: impl Into<String>, findings: Vec<Value>) -> PrepareOutcome {
    PrepareOutcome::Rejected(json!({ "error": error.into(), "findings": findings }))
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
            format!(
                "the {what} document is {size} bytes; MyInvois accepts at most \
                 {max_document_bytes} bytes (300 KB) per document, so it was not sent: split it \
                 into several documents"
            ),
            Vec::new(),
        )
    };
    if received.len() > max_document_bytes {
        return too_large(received.len(), "received");
    }
    let model_format = match format {
        DocumentFormat::Json => Format::Json,
        DocumentFormat::Xml => Format::Xml,
    };
    let document = match Document::parse_as(received, model_format) {
        Ok(d) => d,
        Err(e) => return rejected(format!("the document could not be read: {e}"), Vec::new()),
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
        let findings: Vec<Value> = blocking.into_iter().map(finding_json).collect();
        return rejected(
            format!(
                "local validation found {} error(s); nothing was sent",
                findings.len()
            ),
            findings,
        );
    }
    let minified = document.prepare().bytes;
    let bytes = if invois_client::version_needs_signature(&version) && !document.has_signature() {
        let Some(signer) = signer else {
            return rejected(
                format!(
                    "version {version} documents must be signed, this one is not, and the \
                     gateway has no certificate: configure one (--cert) or sign before sending"
                ),
                Vec::new(),
            );
        };
        let sign_format = match model_format {
            Format::Json => invois_sign::Format::Json,
            Format::Xml => invois_sign::Format::Xml,
        };
        match invois_sign::sign(&minified, sign_format, signer, ctx.now) {
            Ok(signed) => signed,
            Err(e) => return rejected(format!("signing failed: {e}"), Vec::new()),
        }
    } else {
        minified
    };
    if bytes.len() > max_document_bytes {
        return too_large(bytes.len(), "signed");
    }
    PrepareOutcome::Ready(bytes)
}

impl Pipeline {
    /// Claims received documents and prepares them (in parallel, off the async threads).
    /// Returns how many were handled.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn prepare_once(&self) -> Result<usize, PipelineError> {
        let inner = &self.inner;
        let docs = inner
            .store
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
            let signer = inner.signer.clone();
            let rules = PrepareRules {
                max_document_bytes: inner.config.max_document_bytes,
                strict_arithmetic: inner.config.strict_arithmetic,
            };
            tasks.spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|d| {
                        let outcome =
                            prepare_document(&d.received, d.format, signer.as_deref(), &ctx, rules);
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
            for (doc, outcome) in results {
                let result = match outcome {
                    PrepareOutcome::Ready(bytes) => {
                        inner.config.metrics.documents_prepared(1);
                        let document_hash = invois_client::sha256_hex(&bytes);
                        inner
                            .store
                            .mark_prepared(
                                doc.id,
                                &inner.config.worker,
                                Prepared {
                                    bytes,
                                    document_hash,
                                },
                            )
                            .await
                            .map(|_| ())
                    }
                    PrepareOutcome::Rejected(errors) => {
                        inner.config.metrics.documents_rejected_locally(1);
                        tracing::info!(document = %doc.id, internal_id = %doc.internal_id, "rejected locally");
                        inner
                            .store
                            .mark_rejected_locally(doc.id, &inner.config.worker, errors)
                            .await
                            .map(|_| ())
                    }
                };
                if let Err(e) = result {
                    // A lost lease means another worker has it now; anything else is retried.
                    tracing::warn!(document = %doc.id, error = %e, "could not record preparation");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !matches!(e, crate::store::StoreError::LeaseLost { .. }) => Err(e.into()),
            _ => Ok(count),
        }
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
                let doc = Document::parse(&signed).expect("the signed document reads back");
                assert!(doc.has_signature());
            }
            PrepareOutcome::Rejected(why) => panic!("rejected: {why}"),
        }
        // Without a certificate the missing signature stops it, named by field.
        match prepare_document(&bytes, DocumentFormat::Json, None, &ctx, RULES) {
            PrepareOutcome::Rejected(why) => {
                assert!(
                    why["findings"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f["code"] == "CF013")),
                    "{why}"
                );
            }
            PrepareOutcome::Ready(_) => panic!("an unsigned v1.1 document was made ready"),
        }
    }
}

//! Adoption: a document MyInvois found invalid *only* as a duplicate of one this taxpayer
//! already holds as valid, with the same internal id and the same content, *is* that
//! document. The gateway had sent it before and lost its record of doing so (an intent lost
//! in a power cut, a database restored from a backup), sent it again, and MyInvois refused
//! the copy (`Step03-Duplicated Submission Validator`: `Error03` with `DS302`, or `DV302` in
//! LHDN's newer table of validator errors). The original is found with Search Documents, its
//! content compared with what the gateway sent, and the document recorded valid with the
//! original's uuid and longId, not as an error.
//!
//! Anything short of that proof leaves the copy invalid, as MyInvois said: a failed step
//! besides the duplicate one, no valid original found, an original that another stored
//! document already holds, or content that differs (two documents issued under one internal
//! id and issue time). A search that fails for a while (a 5xx, a 429, the network) holds the
//! result back, and the next poll, which reports it again, tries again.

use futures::TryStreamExt as _;
use invois_api::documents::{InvoiceDirection, ListedDocument, ValidationStep};
use invois_api::ids::validation_link;
use invois_api::status::DocumentStatus;
use invois_api::{StepError, validator_errors};
use invois_client::{Client, DocumentResult};
use invois_model::Document;

use super::{Pipeline, PipelineError};
use crate::store::{DocumentRecord, SubmissionRecord, sha256_hex};

/// The duplicate step's outer error code in LHDN's example.
const DUPLICATE_STEP_CODE: &str = "Error03";

/// `DS302`: LHDN's generic error example gives a duplicate this code (the Duplicate Document
/// validator's own page gives [`validator_errors::DUPLICATE_DOCUMENT`], `DV302`), so either is
/// taken, from the duplicate step only (see [`is_duplicate_step`]).
const DUPLICATE_CODE_IN_EXAMPLE: &str = "DS302";

fn is_duplicate_code(code: &str) -> bool {
    code == DUPLICATE_CODE_IN_EXAMPLE || Some(code) == validator_errors::DUPLICATE_DOCUMENT.code
}

/// What the search for an original concluded.
enum Original {
    /// Found, valid, with the same content: adopt it.
    Same(Box<ListedDocument>),
    /// No valid original with this internal id and content: the copy stays invalid.
    None,
    /// The search could not be made now; ask again at the next poll.
    Later(invois_client::Error),
}

/// Whether MyInvois found `d` invalid for being a duplicate and for nothing else. Steps that
/// passed may carry notes (the sandbox's unloaded code tables); only failed ones count.
pub(super) fn only_duplicate(d: &DocumentResult) -> bool {
    let mut failed = d
        .errors
        .iter()
        .filter(|s| s.status == DocumentStatus::Invalid)
        .peekable();
    d.status == DocumentStatus::Invalid
        && d.details_error.is_none()
        && failed.peek().is_some()
        && failed.all(is_duplicate_step)
}

fn is_duplicate_step(step: &ValidationStep) -> bool {
    let Some(error) = &step.error else {
        return false;
    };
    // DS302 is also "signature count is not 1" in PosDigicert's table of signature errors,
    // so the code alone proves nothing: the step must be the duplicate validator too.
    let duplicate_step = error.error_code.as_deref() == Some(DUPLICATE_STEP_CODE)
        || step.name.to_ascii_lowercase().contains("duplicate");
    let mut codes = Vec::new();
    leaf_codes(error, &mut codes);
    duplicate_step && !codes.is_empty() && codes.iter().all(|c| c.is_some_and(is_duplicate_code))
}

/// The codes of an error's innermost errors (its own when it has none inside).
fn leaf_codes<'a>(error: &'a StepError, out: &mut Vec<Option<&'a str>>) {
    match error.inner_error.as_deref() {
        Some(inner) if !inner.is_empty() => inner.iter().for_each(|e| leaf_codes(e, out)),
        _ => out.push(error.error_code.as_deref()),
    }
}

/// Whether Search Documents takes `text` as its `searchQuery` (letters, digits, spaces and
/// `.-_` only); other internal ids are matched on the listing alone.
fn searchable(text: &str) -> bool {
    !text.trim().is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
}

/// Whether `theirs` (what MyInvois holds) says what `sent` says. The same bytes do; so does
/// the same document signed again (its first preparation was lost too, and the signing time
/// moved), compared without its signature, by meaning (`Document::first_difference`).
fn same_content(theirs: &[u8], sent: &[u8], sent_hash: Option<&str>) -> bool {
    if sent_hash.is_some_and(|h| h.eq_ignore_ascii_case(&sha256_hex(theirs))) {
        return true;
    }
    let (Ok(mut theirs), Ok(mut sent)) = (Document::parse(theirs), Document::parse(sent)) else {
        return false;
    };
    for doc in [&mut theirs, &mut sent] {
        doc.root_mut()
            .children
            .retain(|c| c.name != "UBLExtensions" && c.name != "Signature");
    }
    theirs.first_difference(&sent).is_none()
}

/// Whether a failed call is worth making again later: the network, a 429 or a 5xx. Any other
/// answer would come again, so the copy is recorded invalid rather than held forever.
fn worth_retrying(e: &invois_client::Error) -> bool {
    e.status().is_none_or(|s| s == 429 || s >= 500)
}

impl Pipeline {
    /// Adopts the original of every result in `settled` that is only a duplicate (see the
    /// module docs). Returns the results still to be recorded: all but those adopted here
    /// and those whose original could not be looked for now (the next poll reports them
    /// again).
    pub(super) async fn adopt_originals(
        &self,
        client: &Client,
        sub: &SubmissionRecord,
        settled: Vec<DocumentResult>,
    ) -> Result<Vec<DocumentResult>, PipelineError> {
        if !settled.iter().any(only_duplicate) {
            return Ok(settled);
        }
        let documents = self.inner.store.submissions().documents_in(sub.id).await?;
        let mut rest = Vec::with_capacity(settled.len());
        for result in settled {
            let doc = documents
                .iter()
                .find(|d| d.uuid.as_deref() == Some(result.uuid.as_str()));
            let (true, Some(doc)) = (only_duplicate(&result), doc) else {
                rest.push(result);
                continue;
            };
            match find_original(client, doc, &result).await {
                Original::Same(original) => {
                    if !self.adopt(client, doc, &result, &original).await? {
                        rest.push(result);
                    }
                }
                Original::None => rest.push(result),
                Original::Later(e) => {
                    tracing::warn!(document = %doc.id, duplicate = %result.uuid, error = %e,
                        "could not look for the original of a duplicate; next poll");
                }
            }
        }
        Ok(rest)
    }

    /// Records `doc` valid under `original`'s uuid. `false` when the store found the original
    /// held by another document (or `doc` no longer waiting): then the copy is a duplicate.
    async fn adopt(
        &self,
        client: &Client,
        doc: &DocumentRecord,
        duplicate: &DocumentResult,
        original: &ListedDocument,
    ) -> Result<bool, PipelineError> {
        let link = original
            .long_id
            .as_deref()
            .map(|long_id| validation_link(client.environment().portal(), &original.uuid, long_id));
        let note = format!(
            "MyInvois already held this document, valid, as {}: it had been sent before and \
             the gateway lost its record of that (for example a power cut), so it was sent \
             again, and MyInvois marked that copy, {}, invalid as a duplicate. The first is \
             the document of record.",
            original.uuid, duplicate.uuid
        );
        let adopted = self
            .inner
            .store
            .submissions()
            .adopt_original(
                &duplicate.uuid,
                &original.uuid,
                original.long_id.as_deref(),
                link.as_deref(),
                &note,
            )
            .await?;
        let Some(id) = adopted else {
            tracing::warn!(document = %doc.id, original = %original.uuid,
                "the original of a duplicate belongs to another stored document; the copy stays invalid");
            return Ok(false);
        };
        tracing::warn!(document = %id, original = %original.uuid, duplicate = %duplicate.uuid,
            "a resent document was a duplicate; adopted the original");
        // When MyInvois validated the original, as the poller records it for any valid
        // document (the buyer's copy prints it).
        if let Some(at) = original.date_time_validated {
            let validated = [(original.uuid.clone(), at)];
            self.inner
                .store
                .documents()
                .record_validated_at(&validated)
                .await?;
        }
        Ok(true)
    }
}

/// Looks for the valid original of `duplicate` (this taxpayer's, same internal id, same
/// issue date-time, as MyInvois' duplicate rule has it) and compares its content with what
/// the gateway sent.
async fn find_original(
    client: &Client,
    doc: &DocumentRecord,
    duplicate: &DocumentResult,
) -> Original {
    let Some(sent) = doc.prepared.as_deref() else {
        return Original::None;
    };
    let Some(issued) = Document::parse(sent).ok().and_then(|d| d.issued_at()) else {
        return Original::None;
    };
    // The rule matches the issue date-time exactly; a second either side is slack for
    // however MyInvois rounds it.
    let slack = chrono::Duration::seconds(1);
    let mut search = client
        .documents()
        .search()
        .issue_dates(issued - slack, issued + slack)
        .direction(InvoiceDirection::Sent)
        .status(DocumentStatus::Valid)
        .page_size(100);
    if searchable(&doc.internal_id) {
        search = search.search_query(doc.internal_id.clone());
    }
    let candidates: Result<Vec<ListedDocument>, _> = search
        .into_stream()
        .try_filter(|d| {
            futures::future::ready(
                d.internal_id == doc.internal_id
                    && d.issuer_tin == doc.issuer_tin
                    && d.uuid != duplicate.uuid,
            )
        })
        .try_collect()
        .await;
    let candidates = match candidates {
        Ok(c) => c,
        Err(e) if worth_retrying(&e) => return Original::Later(e),
        Err(e) => {
            tracing::warn!(document = %doc.id, error = %e, "searching for a duplicate's original failed");
            return Original::None;
        }
    };
    for candidate in candidates {
        match client.documents().raw(&candidate.uuid).await {
            Ok(raw)
                if same_content(raw.document.as_bytes(), sent, doc.document_hash.as_deref()) =>
            {
                return Original::Same(Box::new(candidate));
            }
            Ok(_) => {
                tracing::warn!(document = %doc.id, original = %candidate.uuid,
                    "a valid document with this internal id and issue time says something else; not adopted");
            }
            Err(e) if worth_retrying(&e) => return Original::Later(e),
            Err(e) => {
                tracing::warn!(document = %doc.id, original = %candidate.uuid, error = %e,
                    "could not read a duplicate's original");
            }
        }
    }
    Original::None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outer: &str, inner: &[&str]) -> ValidationStep {
        let leaf = |code: &&str| StepError {
            property_name: None,
            property_path: None,
            error_code: Some((*code).to_owned()),
            error: Some("x".to_owned()),
            error_ms: None,
            target: None,
            inner_error: None,
        };
        serde_json::from_value(serde_json::json!({
            "name": name,
            "status": "Invalid",
            "error": {
                "errorCode": outer,
                "error": "x",
                "innerError": inner.iter().map(leaf).collect::<Vec<_>>(),
            }
        }))
        .unwrap()
    }

    #[test]
    fn only_the_duplicate_step_with_its_codes_counts() {
        let dup = |inner: &[&str]| step("Step03-Duplicated Submission Validator", "Error03", inner);
        assert!(is_duplicate_step(&dup(&["DS302"])));
        assert!(is_duplicate_step(&dup(&["DV302"])));
        assert!(!is_duplicate_step(&dup(&["DS302", "CV301"])));
        assert!(!is_duplicate_step(&dup(&[])));
        // DS302 from the signature step is "signature count is not 1", not a duplicate.
        assert!(!is_duplicate_step(&step(
            "Step08-Document Signature Validator",
            "Error21",
            &["DS302"]
        )));
    }

    #[test]
    fn internal_ids_with_special_characters_are_not_a_search_query() {
        assert!(searchable("INV-2025_001.A"));
        assert!(!searchable("INV/2025/001"));
        assert!(!searchable(" "));
    }

    #[test]
    fn content_is_compared_by_meaning_without_the_signature() {
        let json = br#"{"_D":"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2","Invoice":[{"ID":[{"_":"A-1"}],"IssueDate":[{"_":"2025-01-01"}]}]}"#;
        let pretty = br#"{ "_D": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
            "Invoice": [ { "ID": [ { "_": "A-1" } ], "IssueDate": [ { "_": "2025-01-01" } ] } ] }"#;
        let signed = br#"{"_D":"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2","Invoice":[{"ID":[{"_":"A-1"}],"IssueDate":[{"_":"2025-01-01"}],"UBLExtensions":[{"UBLExtension":[{"ExtensionURI":[{"_":"sig"}]}]}],"Signature":[{"ID":[{"_":"s"}]}]}]}"#;
        let other = br#"{"_D":"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2","Invoice":[{"ID":[{"_":"A-2"}],"IssueDate":[{"_":"2025-01-01"}]}]}"#;
        let hash = sha256_hex(json);
        assert!(same_content(json, json, Some(&hash)));
        assert!(same_content(pretty, json, None));
        assert!(same_content(signed, json, None));
        assert!(!same_content(other, json, Some(&hash)));
        assert!(!same_content(b"not a document", json, None));
    }
}

//! Submit Documents and Get Submission.
//!
//! Submit computes nothing behind the caller's back: it takes prepared documents (base64 and
//! hash already set, see [`DocumentSubmissionExt::from_bytes`]), checks the documented limits
//! locally, serialises the request once, hashes exactly those bytes, and sends them once.

use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use invois_api::Endpoint;
use invois_api::submission::{
    AcceptedDocument, DocumentFormat, DocumentSubmission, GetSubmissionQuery,
    GetSubmissionResponse, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_SUBMISSION, MAX_SUBMISSION_BYTES,
    MAX_SUBMISSION_PAGE_SIZE, RejectedDocument, SubmitDocumentsRequest, SubmitDocumentsResponse,
    WireDocument,
};
use sha2::{Digest, Sha256};

use crate::client::{Attempt, Call, Client, correlation_id, decode};
use crate::error::{Error, LimitError, SubmitError, TransportKind, UnknownReason};
use crate::poller::PollBuilder;

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Builds a [`DocumentSubmission`] from a document's exact bytes: base64 of the bytes and the
/// lowercase hex SHA-256 of the same bytes (README §6.4). Nothing is minified or re-encoded:
/// sign and minify first, then call this.
pub fn document_submission(
    format: DocumentFormat,
    bytes: &[u8],
    code_number: impl Into<String>,
) -> DocumentSubmission {
    WireDocument::new(format, bytes.to_vec()).submission(code_number)
}

/// `DocumentSubmission::from_bytes(format, bytes, code_number)`.
pub trait DocumentSubmissionExt {
    /// See [`document_submission`].
    fn from_bytes(
        format: DocumentFormat,
        bytes: &[u8],
        code_number: impl Into<String>,
    ) -> DocumentSubmission;
}

impl DocumentSubmissionExt for DocumentSubmission {
    fn from_bytes(
        format: DocumentFormat,
        bytes: &[u8],
        code_number: impl Into<String>,
    ) -> DocumentSubmission {
        document_submission(format, bytes, code_number)
    }
}

fn check_count(count: usize) -> Result<(), LimitError> {
    if count == 0 {
        return Err(LimitError::NoDocuments);
    }
    if count > MAX_DOCUMENTS_PER_SUBMISSION {
        return Err(LimitError::TooManyDocuments {
            count,
            max: MAX_DOCUMENTS_PER_SUBMISSION,
        });
    }
    Ok(())
}

fn check_document(index: usize, code_number: &str, bytes: usize) -> Result<(), LimitError> {
    if code_number.trim().is_empty() {
        return Err(LimitError::EmptyCodeNumber { index });
    }
    if bytes > MAX_DOCUMENT_BYTES {
        return Err(LimitError::DocumentTooLarge {
            code_number: code_number.to_owned(),
            bytes,
            max: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(())
}

/// A submission checked against the limits and serialised: the exact bytes that will be sent
/// and their hash. A gateway persists the hash before sending, so that an unknown outcome can
/// be reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSubmission {
    body: Bytes,
    payload_hash: String,
    document_count: usize,
}

impl PreparedSubmission {
    /// Checks the limits (1..=100 documents, 300 KB each, 5 MB in all, base64 documents,
    /// 64-digit hex hashes) and serialises. The base64 is the caller's, so it is decoded to
    /// check it and measure the document.
    pub fn new(documents: Vec<DocumentSubmission>) -> Result<PreparedSubmission, LimitError> {
        check_count(documents.len())?;
        for (index, d) in documents.iter().enumerate() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(d.document.as_bytes())
                .map_err(|_| LimitError::NotBase64 {
                    code_number: d.code_number.clone(),
                })?;
            check_document(index, &d.code_number, decoded.len())?;
            if d.document_hash.len() != 64
                || !d.document_hash.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(LimitError::BadHash {
                    code_number: d.code_number.clone(),
                });
            }
        }
        PreparedSubmission::serialise(documents)
    }

    /// Checks the same limits for documents whose base64 and hash were made from their
    /// bytes by [`WireDocument`], so nothing is decoded or hashed again: `(document,
    /// codeNumber)` pairs.
    pub fn from_wire<'a>(
        documents: impl IntoIterator<Item = (&'a WireDocument, String)>,
    ) -> Result<PreparedSubmission, LimitError> {
        let mut entries = Vec::new();
        for (index, (wire, code_number)) in documents.into_iter().enumerate() {
            check_document(index, &code_number, wire.bytes().len())?;
            entries.push(wire.submission(code_number));
        }
        check_count(entries.len())?;
        PreparedSubmission::serialise(entries)
    }

    fn serialise(documents: Vec<DocumentSubmission>) -> Result<PreparedSubmission, LimitError> {
        let document_count = documents.len();
        let body = serde_json::to_vec(&SubmitDocumentsRequest { documents })
            .unwrap_or_else(|_| unreachable!("a request of strings always serialises"));
        if body.len() > MAX_SUBMISSION_BYTES {
            return Err(LimitError::SubmissionTooLarge {
                bytes: body.len(),
                max: MAX_SUBMISSION_BYTES,
            });
        }
        Ok(PreparedSubmission {
            payload_hash: sha256_hex(&body),
            body: Bytes::from(body),
            document_count,
        })
    }

    /// Lowercase hex SHA-256 of [`PreparedSubmission::body`].
    pub fn payload_hash(&self) -> &str {
        &self.payload_hash
    }

    /// The exact request body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// How many documents.
    pub fn document_count(&self) -> usize {
        self.document_count
    }
}

/// A submission MyInvois accepted (any 2xx: final, never to be sent again).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submitted {
    /// The submission's uid; `None` when every document was rejected.
    pub submission_uid: Option<String>,
    /// Accepted documents, with their uuids.
    pub accepted_documents: Vec<AcceptedDocument>,
    /// Documents rejected by the synchronous checks.
    pub rejected_documents: Vec<RejectedDocument>,
    /// Hash of the request body.
    pub payload_hash: String,
    /// HTTP status (202).
    pub status: u16,
    /// The `correlationId`.
    pub correlation_id: Option<String>,
}

/// Submission APIs: `client.submissions()`.
#[derive(Debug, Clone)]
pub struct Submissions {
    client: Client,
}

impl Client {
    /// Submit Documents, Get Submission and the poller.
    pub fn submissions(&self) -> Submissions {
        Submissions {
            client: self.clone(),
        }
    }
}

impl Submissions {
    /// Submit Documents with these prepared documents.
    pub fn submit(&self, documents: Vec<DocumentSubmission>) -> SubmitBuilder {
        SubmitBuilder {
            client: self.client.clone(),
            documents,
        }
    }

    /// Sends an already prepared submission, once.
    pub async fn submit_prepared(
        &self,
        prepared: &PreparedSubmission,
    ) -> Result<Submitted, SubmitError> {
        submit_once(&self.client, prepared).await
    }

    /// Get Submission, one page.
    pub fn get(&self, submission_uid: impl Into<String>) -> GetSubmissionBuilder {
        GetSubmissionBuilder {
            client: self.client.clone(),
            submission_uid: submission_uid.into(),
            query: GetSubmissionQuery::default(),
        }
    }

    /// Waits for a submission's documents to be validated (see [`PollBuilder`]).
    pub fn poll(&self, submission_uid: impl Into<String>) -> PollBuilder {
        PollBuilder::new(self.client.clone(), submission_uid.into())
    }
}

/// Builder of Submit Documents.
#[derive(Debug)]
#[must_use]
pub struct SubmitBuilder {
    client: Client,
    documents: Vec<DocumentSubmission>,
}

impl SubmitBuilder {
    /// Checks and serialises without sending.
    pub fn prepare(self) -> Result<PreparedSubmission, LimitError> {
        PreparedSubmission::new(self.documents)
    }

    /// Checks, serialises and sends once.
    pub async fn send(self) -> Result<Submitted, SubmitError> {
        let client = self.client.clone();
        let prepared = self.prepare()?;
        submit_once(&client, &prepared).await
    }
}

async fn submit_once(
    client: &Client,
    prepared: &PreparedSubmission,
) -> Result<Submitted, SubmitError> {
    let endpoint = Endpoint::SubmitDocuments;
    let call = Call {
        endpoint,
        url: client.url(endpoint, &[]),
        json_body: Some(prepared.body.clone()),
    };
    let hash = || prepared.payload_hash.clone();
    let retry = client.inner.retry;
    let mut connect_retries = 0u32;
    let mut throttled = 0u32;
    let mut refreshed = false;
    loop {
        let (attempt, token) = client.attempt(&call).await.map_err(SubmitError::NotSent)?;
        match attempt {
            Attempt::Transport(TransportKind::Connect, message) => {
                // No connection, so no byte of the body left: trying again cannot duplicate.
                if connect_retries < retry.max_retries {
                    connect_retries += 1;
                    client.retry_after_backoff(endpoint, connect_retries).await;
                    continue;
                }
                return Err(SubmitError::NotSent(Error::Transport {
                    endpoint,
                    kind: TransportKind::Connect,
                    message,
                }));
            }
            Attempt::Transport(TransportKind::Timeout, message) => {
                tracing::warn!(payload.hash = %prepared.payload_hash, "submission timed out; outcome unknown");
                return Err(SubmitError::OutcomeUnknown {
                    payload_hash: hash(),
                    reason: UnknownReason::Timeout(message),
                });
            }
            Attempt::Transport(_, message) => {
                tracing::warn!(payload.hash = %prepared.payload_hash, "submission connection lost; outcome unknown");
                return Err(SubmitError::OutcomeUnknown {
                    payload_hash: hash(),
                    reason: UnknownReason::ConnectionLost(message),
                });
            }
            Attempt::Response {
                status,
                headers,
                body,
            } => {
                if (200..300).contains(&status) {
                    return accepted(prepared, status, &headers, body);
                }
                if status == 401 && !refreshed {
                    // The token was refused, so the submission was not processed.
                    refreshed = true;
                    client.invalidate_token(&token).await;
                    continue;
                }
                let failure = Box::new(client.failure(endpoint, status, &headers, body));
                if status == 429 {
                    // Refused, not processed: waiting out Retry-After and trying again is safe.
                    match client.throttle(endpoint, &failure, &mut throttled).await {
                        Ok(true) => continue,
                        _ => {
                            return Err(SubmitError::Rejected {
                                payload_hash: hash(),
                                failure,
                            });
                        }
                    }
                }
                if status == 422 && failure.code() == Some("DuplicateSubmission") {
                    return Err(SubmitError::Duplicate {
                        payload_hash: hash(),
                        retry_after: failure.retry_after,
                        failure,
                    });
                }
                if status >= 500 {
                    tracing::warn!(payload.hash = %prepared.payload_hash, http.status = status, "submission got a server error; outcome unknown");
                    return Err(SubmitError::OutcomeUnknown {
                        payload_hash: hash(),
                        reason: UnknownReason::ServerError(failure),
                    });
                }
                return Err(SubmitError::Rejected {
                    payload_hash: hash(),
                    failure,
                });
            }
        }
    }
}

/// A 2xx answer to Submit Documents. The submission was received, so a body that cannot be
/// read leaves its outcome unknown rather than failed.
fn accepted(
    prepared: &PreparedSubmission,
    status: u16,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Submitted, SubmitError> {
    let endpoint = Endpoint::SubmitDocuments;
    let hash = || prepared.payload_hash.clone();
    let cid = correlation_id(headers);
    match decode::<SubmitDocumentsResponse>(endpoint, status, cid.as_deref(), &body) {
        Ok(r) => {
            tracing::info!(submission.id = r.submission_uid.as_deref().unwrap_or("-"), payload.hash = %prepared.payload_hash, accepted = r.accepted_documents.len(), rejected = r.rejected_documents.len(), "submission accepted");
            Ok(Submitted {
                submission_uid: r.submission_uid,
                accepted_documents: r.accepted_documents,
                rejected_documents: r.rejected_documents,
                payload_hash: hash(),
                status,
                correlation_id: cid,
            })
        }
        Err(e) => Err(SubmitError::OutcomeUnknown {
            payload_hash: hash(),
            reason: UnknownReason::UnreadableAcceptance {
                status,
                message: e.to_string(),
                body,
            },
        }),
    }
}

/// Builder of Get Submission.
#[derive(Debug)]
#[must_use]
pub struct GetSubmissionBuilder {
    client: Client,
    submission_uid: String,
    query: GetSubmissionQuery,
}

impl GetSubmissionBuilder {
    /// 1-based page.
    pub fn page_no(mut self, page: u32) -> Self {
        self.query.page_no = Some(page);
        self
    }

    /// Page size, 1..=100.
    pub fn page_size(mut self, size: u32) -> Self {
        self.query.page_size = Some(size);
        self
    }

    /// Sends.
    pub async fn send(self) -> Result<GetSubmissionResponse, Error> {
        if let Some(size) = self.query.page_size
            && (size == 0 || size > MAX_SUBMISSION_PAGE_SIZE)
        {
            return Err(Error::InvalidRequest(format!(
                "Get Submission pageSize must be 1..={MAX_SUBMISSION_PAGE_SIZE}, not {size}"
            )));
        }
        if self.submission_uid.trim().is_empty() {
            return Err(Error::InvalidRequest("empty submission uid".into()));
        }
        let mut url = self
            .client
            .url(Endpoint::GetSubmission, &[self.submission_uid.trim()]);
        set_query(&mut url, &self.query)?;
        self.client
            .send_json(Call {
                endpoint: Endpoint::GetSubmission,
                url,
                json_body: None,
            })
            .await
    }
}

/// Puts a serde query struct on a URL (nothing when it serialises empty).
pub(crate) fn set_query<Q: serde::Serialize>(url: &mut url::Url, query: &Q) -> Result<(), Error> {
    let q = serde_urlencoded::to_string(query)
        .map_err(|e| Error::InvalidRequest(format!("query: {e}")))?;
    url.set_query((!q.is_empty()).then_some(q.as_str()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_hashes_the_exact_bytes() {
        let bytes = br#"{"Invoice":[{"ID":[{"_":"INV1"}]}]}"#;
        let d = DocumentSubmission::from_bytes(DocumentFormat::Json, bytes, "INV1");
        assert_eq!(d.document_hash, sha256_hex(bytes));
        assert_eq!(d.document_hash.len(), 64);
        assert!(d.document_hash.bytes().all(|b| !b.is_ascii_uppercase()));
        let back = base64::engine::general_purpose::STANDARD
            .decode(&d.document)
            .unwrap();
        assert_eq!(back, bytes);
        // Known vector: SHA-256 of "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn limits_are_checked_locally() {
        let doc = |n: usize, size: usize| {
            document_submission(DocumentFormat::Xml, &vec![b'a'; size], format!("INV{n}"))
        };
        assert_eq!(
            PreparedSubmission::new(vec![]).unwrap_err(),
            LimitError::NoDocuments
        );
        let many: Vec<_> = (0..101).map(|n| doc(n, 10)).collect();
        assert!(matches!(
            PreparedSubmission::new(many).unwrap_err(),
            LimitError::TooManyDocuments { count: 101, .. }
        ));
        assert!(matches!(
            PreparedSubmission::new(vec![doc(1, MAX_DOCUMENT_BYTES + 1)]).unwrap_err(),
            LimitError::DocumentTooLarge { .. }
        ));
        // 20 documents of 290 KB: each fine, together over 5 MB once base64'd.
        let big: Vec<_> = (0..20).map(|n| doc(n, 290 * 1024)).collect();
        assert!(matches!(
            PreparedSubmission::new(big).unwrap_err(),
            LimitError::SubmissionTooLarge { .. }
        ));
        let mut bad = doc(1, 10);
        bad.document_hash = "abc".into();
        assert!(matches!(
            PreparedSubmission::new(vec![bad]).unwrap_err(),
            LimitError::BadHash { .. }
        ));
        let mut bad = doc(1, 10);
        bad.document = "***".into();
        assert!(matches!(
            PreparedSubmission::new(vec![bad]).unwrap_err(),
            LimitError::NotBase64 { .. }
        ));
        let ok = PreparedSubmission::new(vec![doc(1, 10), doc(2, 10)]).unwrap();
        assert_eq!(ok.payload_hash(), sha256_hex(ok.body()));
        assert_eq!(ok.document_count(), 2);
        let parsed: SubmitDocumentsRequest = serde_json::from_slice(ok.body()).unwrap();
        assert_eq!(parsed.documents[1].code_number, "INV2");
    }
}

//! What the ERP sends, turned into stored documents.
//!
//! The ERP hands over a document in one of three shapes:
//!
//! - MyInvois UBL XML (starts with `<`);
//! - MyInvois UBL JSON (a JSON object with the UBL header `_D` or an `Invoice` member);
//! - invois's own document JSON (any other JSON object), converted to UBL JSON here.
//!
//! The idempotency key (issuer TIN, type code, internal id) is read from the document itself,
//! so the same document sent twice is stored once: a repeat with the same bytes is answered
//! with the stored record (`created: false`), and the same key with different bytes is a
//! conflict that names the way out for the state the stored document is in ([`next_step`]:
//! a corrected new version, a wait, a cancellation or a note).
//!
//! A document without an issue date and time gets the intake time: UBL JSON or XML with
//! neither `IssueDate` nor `IssueTime` (each absent or empty) is stored with both filled in
//! (UTC, `YYYY-MM-DD` and `HH:MM:SSZ`), and invois's own JSON without `issuedAt` (or with it
//! null or empty) is converted as if it carried that instant. So a template (an example, a
//! test document) goes through MyInvois' 72-hour issue window on any day. The time is the
//! gateway clients' clock, the one the pipeline validates against. A document that carries
//! its dates is stored byte for byte as received; a filled one is stored minified, with the
//! two elements after `ID` (`UUID`). A repeat of an undated document is recognised as a
//! repeat: it is filled with the dates of the version already stored under its key first. A
//! signed document, or one with only one of the two, is never changed: a fill would break
//! its signature, or guess at what its sender meant; validation names what is missing.
//!
//! Intake only reads what it needs to store and route the document. Full validation (and the
//! 300 KB document limit) is the pipeline's: a document that fails it is rejected locally
//! with its findings, and a corrected version can follow.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use invois_clock::Clock;
use invois_model::simple::JsonTop;
use invois_model::{Document, Format, ParseError};

use crate::clients::ClientPool;
use crate::store::{
    DocumentFormat, DocumentId, DocumentKey, DocumentRecord, DocumentState, Inserted, NewDocument,
    Store, StoreError,
};

/// The longest issuer TIN, type code or internal id accepted in a key. MyInvois' own limits
/// are lower (TIN 14, `ID` 50); this only keeps absurd values out of the store and the URLs.
pub const MAX_KEY_FIELD_CHARS: usize = 100;

/// Why a document was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    /// The body is empty.
    #[error("the document is empty")]
    Empty,
    /// The body is neither JSON nor XML.
    #[error(
        "the document is neither JSON (starts with `{{`) nor XML (starts with `<`); send MyInvois \
         UBL JSON or XML, or invois's own document JSON"
    )]
    UnknownFormat,
    /// The JSON does not parse.
    #[error("the document is not valid JSON: {message} (line {line}, column {column})")]
    Json {
        /// What the parser said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The XML does not parse.
    #[error("the document is not well-formed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What the reader said.
        message: String,
    },
    /// Not UTF-8.
    #[error("the document is not valid UTF-8: {0}")]
    Utf8(String),
    /// Well-formed, but not shaped like a MyInvois document.
    #[error("{path}: {message}")]
    Shape {
        /// JSON path (or XPath) of the offending member.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The root element is not `Invoice`.
    #[error("the root element is `{0}`; MyInvois documents of every type have the root `Invoice`")]
    NotAnInvoice(String),
    /// A field the idempotency key is made of is missing or empty.
    #[error("{what} is missing or empty: it is required at {path}")]
    Missing {
        /// Which field ("supplier TIN", ...).
        what: &'static str,
        /// Where it must be (JSON path for JSON, XPath for XML).
        path: &'static str,
    },
    /// A key field is implausibly long.
    #[error("{what} at {path} is {chars} characters; at most {MAX_KEY_FIELD_CHARS} are accepted")]
    KeyFieldTooLong {
        /// Which field.
        what: &'static str,
        /// Where it is.
        path: &'static str,
        /// Its length.
        chars: usize,
    },
    /// invois's own document JSON with a problem.
    #[error("{}: {message} (invois document JSON)", if path.is_empty() { "(document)" } else { path })]
    OwnJson {
        /// The field, as `lines[2].unitPrice` (empty: the whole document).
        path: String,
        /// The rule it broke.
        message: String,
    },
    /// A correction whose document does not carry the key it is filed under.
    #[error(
        "the corrected document's {what} is `{found}` at {path}, but the correction was sent \
         for `{expected}`; a new version must keep the issuer TIN, type and internal id"
    )]
    KeyMismatch {
        /// Which field.
        what: &'static str,
        /// Where it is in the document.
        path: &'static str,
        /// The key's value.
        expected: String,
        /// The document's value.
        found: String,
    },
    /// The same key was received earlier with different content.
    #[error("{0}")]
    Conflict(String),
    /// No such document (for a correction).
    #[error("no document {issuer_tin}/{type_code}/{internal_id}")]
    NotFound {
        /// Issuer TIN.
        issuer_tin: String,
        /// Type code.
        type_code: String,
        /// Internal id.
        internal_id: String,
    },
    /// A correction was sent for a document whose latest version is not invalid or rejected.
    #[error(
        "document {id} (version {version}) is {state}, and only an invalid or locally rejected \
         document can be corrected with a new version: {next}"
    )]
    NotCorrectable {
        /// The latest version's id.
        id: i64,
        /// Its version.
        version: i64,
        /// Its state.
        state: String,
        /// What can be done in that state instead ([`next_step`]).
        next: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl IntakeError {
    /// The field (JSON path or XPath) the error is about, when there is one.
    pub fn field(&self) -> Option<String> {
        match self {
            IntakeError::Shape { path, .. } => Some(path.clone()),
            IntakeError::OwnJson { path, .. } if !path.is_empty() => Some(path.clone()),
            IntakeError::Missing { path, .. }
            | IntakeError::KeyFieldTooLong { path, .. }
            | IntakeError::KeyMismatch { path, .. } => Some((*path).to_owned()),
            IntakeError::Json { line, column, .. } => Some(format!("line {line}, column {column}")),
            IntakeError::Xml { position, .. } => Some(format!("byte {position}")),
            _ => None,
        }
    }

    /// Whether the error is about the input (a 4xx), rather than the gateway (a 5xx).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, IntakeError::Store(_))
    }
}

/// Where the key fields are, for the error messages.
struct KeyPaths {
    supplier_tin: &'static str,
    type_code: &'static str,
    internal_id: &'static str,
}

const JSON_PATHS: KeyPaths = KeyPaths {
    supplier_tin: "$.Invoice[0].AccountingSupplierParty[0].Party[0].PartyIdentification[*].ID[0]\
                   (schemeID \"TIN\")",
    type_code: "$.Invoice[0].InvoiceTypeCode[0]._",
    internal_id: "$.Invoice[0].ID[0]._",
};

const XML_PATHS: KeyPaths = KeyPaths {
    supplier_tin: "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/\
                   cbc:ID[@schemeID='TIN']",
    type_code: "/Invoice/cbc:InvoiceTypeCode",
    internal_id: "/Invoice/cbc:ID",
};

/// A document read and keyed, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The idempotency key read from the document.
    pub key: DocumentKey,
    /// The format stored (own JSON is stored as the UBL JSON it converts to).
    pub format: DocumentFormat,
    /// The bytes stored as received (for an undated document: until its dates are filled
    /// when it is stored).
    pub bytes: Vec<u8>,
    /// Whether it was sent as invois's own document JSON.
    pub own_json: bool,
    /// Set when the document has no issue date and time, which intake fills when storing it.
    undated: Option<Undated>,
}

impl Parsed {
    /// Whether the document came without an issue date and time (intake fills them in when
    /// it stores the document).
    pub fn is_undated(&self) -> bool {
        self.undated.is_some()
    }
}

/// What an undated document is re-rendered from once its issue instant is known.
#[derive(Debug, Clone, PartialEq)]
enum Undated {
    /// UBL JSON or XML, parsed.
    Ubl(Document),
    /// invois's own JSON, as received (without `issuedAt`).
    Own(serde_json::Value),
}

impl Undated {
    /// The document's bytes issued at `at`.
    fn render(&self, at: DateTime<Utc>) -> Result<Vec<u8>, IntakeError> {
        match self {
            Undated::Ubl(doc) => {
                let mut doc = doc.clone();
                set_issue_instant(&mut doc, at);
                Ok(doc.to_string_as(doc.source_format()).into_bytes())
            }
            Undated::Own(value) => {
                let mut value = value.clone();
                value["issuedAt"] =
                    serde_json::Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, true));
                let bytes = serde_json::to_vec(&value).map_err(|e| IntakeError::OwnJson {
                    path: String::new(),
                    message: e.to_string(),
                })?;
                Ok(parse_own_json(&bytes)?.to_json_string().into_bytes())
            }
        }
    }
}

/// Whether a UBL document lacks both its issue date and time (absent or empty), and could
/// take them without breaking a signature or settling a repeated JSON key: filling them in
/// writes the document again, which would keep one reading of a key written twice (S008).
/// Such a document is stored as received, and preparation rejects it as it is.
fn needs_issue_instant(doc: &Document) -> bool {
    let blank = |v: Option<&str>| v.is_none_or(|t| t.trim().is_empty());
    blank(doc.issue_date())
        && blank(doc.issue_time())
        && !doc.has_signature()
        && doc.duplicate_keys().is_empty()
}

/// Writes `IssueDate` and `IssueTime` (UTC), replacing empty elements or adding them where
/// UBL places them: after `ID`, `CopyIndicator` and `UUID`.
fn set_issue_instant(doc: &mut Document, at: DateTime<Utc>) {
    let root = doc.root_mut();
    // A cbc element of the document itself shows the prefix its XML declares for cbc.
    let prefix = root.child("ID").and_then(|e| e.prefix.clone());
    for (name, text, after) in [
        (
            "IssueDate",
            at.format("%Y-%m-%d").to_string(),
            &["ID", "CopyIndicator", "UUID"][..],
        ),
        (
            "IssueTime",
            at.format("%H:%M:%SZ").to_string(),
            &["ID", "CopyIndicator", "UUID", "IssueDate"][..],
        ),
    ] {
        if let Some(existing) = root.child_mut(name) {
            existing.value = Some(invois_model::tree::Value::string(text));
            continue;
        }
        let at = root
            .children
            .iter()
            .rposition(|c| after.contains(&c.name.as_str()))
            .map_or(0, |i| i + 1);
        let mut element = invois_model::tree::Element::cbc(name, text);
        element.prefix = prefix.clone();
        root.children.insert(at, element);
    }
}

/// Turns ERP input into stored documents. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Intake {
    store: Arc<Store>,
    clients: ClientPool,
    /// The intake time of undated documents: the clients' clock, which the pipeline
    /// validates the issue window against (a scaled sandbox clock in a demo).
    clock: Clock,
}

impl Intake {
    /// Intake into `store`, routing each document to the pool's client id (and `onbehalfof`
    /// its issuer, for an intermediary).
    pub fn new(store: Arc<Store>, clients: &ClientPool) -> Intake {
        Intake {
            store,
            clock: clients.base().clock().clone(),
            clients: clients.clone(),
        }
    }

    /// Reads a document: detects its shape, parses it, and reads its key. `declared` is the
    /// format the sender declared (Content-Type, or a batch entry's `format`), checked against
    /// the bytes.
    pub fn parse(&self, bytes: &[u8], declared: Option<Format>) -> Result<Parsed, IntakeError> {
        parse_document(bytes, declared)
    }

    /// Stores a first version. Idempotent: the same key and bytes again return the stored
    /// record with `created: false`; the same key with other bytes is
    /// [`IntakeError::Conflict`].
    pub async fn submit(
        &self,
        bytes: &[u8],
        declared: Option<Format>,
    ) -> Result<Inserted, IntakeError> {
        let parsed = self.parse(bytes, declared)?;
        self.store_parsed(parsed).await
    }

    /// Stores an already parsed document as a first version (an undated one with its issue
    /// date and time filled in).
    pub async fn store_parsed(&self, parsed: Parsed) -> Result<Inserted, IntakeError> {
        let parsed = if parsed.is_undated() {
            let latest = self
                .store
                .documents()
                .find(&parsed.key)
                .await
                .map_err(IntakeError::Store)?;
            self.dated(parsed, latest.as_ref())?
        } else {
            parsed
        };
        let on_behalf_of = self.clients.on_behalf_of_for(&parsed.key.issuer_tin);
        let new = NewDocument {
            issuer_tin: parsed.key.issuer_tin,
            type_code: parsed.key.type_code,
            internal_id: parsed.key.internal_id,
            version: 1,
            format: parsed.format,
            client_id: self.clients.client_id().to_owned(),
            on_behalf_of,
            received: parsed.bytes,
        };
        let key = DocumentKey {
            issuer_tin: new.issuer_tin.clone(),
            type_code: new.type_code.clone(),
            internal_id: new.internal_id.clone(),
        };
        // Kept for the rare conflict, where the meaning decides.
        let (bytes, format) = (new.received.clone(), new.format);
        match self.store.documents().insert(new).await {
            Ok(inserted) => Ok(inserted),
            Err(StoreError::Conflict(message)) => {
                self.same_meaning_or_conflict(&key, &bytes, format, message)
                    .await
            }
            Err(e) => Err(IntakeError::Store(e)),
        }
    }

    /// The key's first version is stored with other bytes. If it says the same thing (the
    /// ERP re-serialised it: minified, keys reordered, or XML after JSON), it is the same
    /// document; otherwise the conflict names the first field that differs.
    async fn same_meaning_or_conflict(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        format: DocumentFormat,
        message: String,
    ) -> Result<Inserted, IntakeError> {
        let first = self
            .store
            .documents()
            .version(key, 1)
            .await
            .map_err(IntakeError::Store)?;
        let difference = match &first {
            Some(stored) => meaning_difference(stored, bytes, format),
            None => None,
        };
        match (first, difference) {
            (Some(stored), Some(Difference::None)) => Ok(Inserted {
                document: stored,
                created: false,
            }),
            (_, Some(Difference::At(path))) => Err(IntakeError::Conflict(
                self.with_next_step(key, format!("{message}; the first difference is at {path}"))
                    .await,
            )),
            _ => Err(IntakeError::Conflict(
                self.with_next_step(key, message).await,
            )),
        }
    }

    /// A conflict's message with the way out for the document's latest version. The store
    /// only knows that the key is taken; whether a new version, a wait, a cancellation or a
    /// note is the way out depends on where the latest version is.
    async fn with_next_step(&self, key: &DocumentKey, message: String) -> String {
        // The store's generic advice, replaced by the one for the current state.
        let base = message
            .strip_suffix("; send a correction as a new version")
            .unwrap_or(&message);
        match self.store.documents().find(key).await {
            Ok(Some(latest)) => format!(
                "{base}; its latest version {} (document {}) is {}: {}",
                latest.version,
                latest.id,
                latest.state,
                next_step(latest.state, latest.id, key)
            ),
            // Gone, or the store failed just now: the store's own message still holds.
            Ok(None) | Err(_) => message,
        }
    }

    /// Stores a corrected new version of the document `key`. Allowed only when its latest
    /// version is `invalid` or `rejected_locally`; the corrected document must carry the same
    /// key. Repeating the same correction returns the version it created, with `created:
    /// false`.
    pub async fn correct(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        declared: Option<Format>,
    ) -> Result<Inserted, IntakeError> {
        let parsed = self.parse(bytes, declared)?;
        let paths = paths_for(parsed.format, parsed.own_json);
        for (what, path, expected, found) in [
            (
                "supplier TIN",
                paths.supplier_tin,
                &key.issuer_tin,
                &parsed.key.issuer_tin,
            ),
            (
                "type code",
                paths.type_code,
                &key.type_code,
                &parsed.key.type_code,
            ),
            (
                "internal id",
                paths.internal_id,
                &key.internal_id,
                &parsed.key.internal_id,
            ),
        ] {
            if expected != found {
                return Err(IntakeError::KeyMismatch {
                    what,
                    path,
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        // The latest version before the call tells a new version from a repeated correction.
        let latest = self
            .store
            .documents()
            .find(key)
            .await
            .map_err(IntakeError::Store)?;
        let before = latest.as_ref().map(|d| d.version);
        let parsed = self.dated(parsed, latest.as_ref())?;
        match self
            .store
            .documents()
            .new_version(key, parsed.format, parsed.bytes)
            .await
        {
            Ok(document) => Ok(Inserted {
                created: before.is_none_or(|v| document.version > v),
                document,
            }),
            Err(StoreError::NotFound(_)) => Err(IntakeError::NotFound {
                issuer_tin: key.issuer_tin.clone(),
                type_code: key.type_code.clone(),
                internal_id: key.internal_id.clone(),
            }),
            Err(StoreError::StaleTransition { id, actual, .. }) => {
                let next = match DocumentState::parse(&actual) {
                    Some(state) => next_step(state, DocumentId(id), key),
                    None => format!("see GET /v1/documents/{id}"),
                };
                Err(IntakeError::NotCorrectable {
                    id,
                    // The latest version, read just before (the refusal was about that one).
                    version: before.unwrap_or(1),
                    state: actual,
                    next,
                })
            }
            Err(StoreError::Conflict(message)) => Err(IntakeError::Conflict(
                self.with_next_step(key, message).await,
            )),
            Err(e) => Err(IntakeError::Store(e)),
        }
    }

    /// An undated document with its issue instant filled: the instant of `latest` (the
    /// version stored under its key) when that makes it exactly the stored bytes, so that a
    /// repeat stays an idempotent repeat; otherwise now.
    fn dated(
        &self,
        mut parsed: Parsed,
        latest: Option<&DocumentRecord>,
    ) -> Result<Parsed, IntakeError> {
        let Some(undated) = parsed.undated.take() else {
            return Ok(parsed);
        };
        let stored_instant =
            latest.and_then(|d| Document::parse_as(&d.received, d.format).ok()?.issued_at());
        if let (Some(latest), Some(at)) = (latest, stored_instant) {
            // Issued at the stored instant, is it the stored document? Then it keeps that
            // instant, and the repeat is recognised as the same document.
            let bytes = undated.render(at)?;
            if bytes == latest.received
                || matches!(
                    meaning_difference(latest, &bytes, parsed.format),
                    Some(Difference::None)
                )
            {
                parsed.bytes = bytes;
                return Ok(parsed);
            }
        }
        let now = self.clock.now();
        parsed.bytes = undated.render(now)?;
        tracing::debug!(
            document.internal_id = %parsed.key.internal_id,
            "document {} has no issue date and time: issued at intake, {now}",
            parsed.key.internal_id
        );
        Ok(parsed)
    }

    /// The store documents go to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// What the ERP can do about a document whose latest version (`id`) is in `state`, as the
/// 409 answers say it: a new version only follows an invalid or locally rejected one; a
/// document on its way must be waited for; a valid one can only be cancelled (within 72 hours
/// of validation) or amended by a note; a cancelled or failed one is done with its key.
pub fn next_step(state: DocumentState, id: DocumentId, key: &DocumentKey) -> String {
    let versions = format!("POST {}/versions", crate::http::key_path(key));
    match state {
        DocumentState::Invalid => format!(
            "send the corrected document as a new version: {versions} (GET /v1/documents/{id} \
             shows what was wrong)"
        ),
        DocumentState::RejectedLocally | DocumentState::Failed => format!(
            "MyInvois never took it: send the corrected document as a new version: {versions}, \
             or, once the cause is fixed, send it again as it is: POST \
             /v1/documents/{id}/retry (GET /v1/documents/{id} shows what was wrong)"
        ),
        DocumentState::Received | DocumentState::Prepared | DocumentState::Batched => format!(
            "it is on its way to MyInvois and cannot be changed now; wait for its final status \
             (GET /v1/documents/{id}); if it ends invalid or rejected_locally, send the \
             correction as a new version: {versions}"
        ),
        DocumentState::Submitted => format!(
            "MyInvois is validating it; wait for its final status (GET /v1/documents/{id}); if \
             it ends invalid, send the correction as a new version: {versions}"
        ),
        DocumentState::Valid => format!(
            "MyInvois validated it, so it cannot be replaced by a new version; cancel it within \
             72 hours of validation (POST /v1/documents/{id}/cancel with {{\"reason\": \
             \"...\"}}) and issue the corrected document under a new internal id, or adjust it \
             with a credit, debit or refund note built from it (POST \
             /v1/documents/{id}/notes)"
        ),
        DocumentState::Cancelled => "it was cancelled at MyInvois; issue the replacement as a \
                                     new document with a new internal id"
            .to_owned(),
    }
}

/// invois's own JSON names the key fields plainly.
const OWN_PATHS: KeyPaths = KeyPaths {
    supplier_tin: "supplier.tin",
    type_code: "type",
    internal_id: "id",
};

fn paths_for(format: DocumentFormat, own_json: bool) -> &'static KeyPaths {
    match format {
        _ if own_json => &OWN_PATHS,
        DocumentFormat::Xml => &XML_PATHS,
        DocumentFormat::Json => &JSON_PATHS,
    }
}

/// Reads a document of any accepted shape; see [`Intake::parse`].
pub fn parse_document(bytes: &[u8], declared: Option<Format>) -> Result<Parsed, IntakeError> {
    // A UTF-8 byte order mark is tolerated and dropped: JSON parsers refuse it.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IntakeError::Empty);
    }
    let detected = Format::detect(bytes).ok_or(IntakeError::UnknownFormat)?;
    if let Some(declared) = declared
        && declared != detected
    {
        return Err(IntakeError::Shape {
            path: "$".to_owned(),
            message: format!(
                "the document was declared as {} but its content is {} (it starts with `{}`)",
                declared.name(),
                detected.name(),
                if detected == Format::Json { '{' } else { '<' }
            ),
        });
    }
    match detected {
        Format::Xml => {
            let doc = Document::from_xml_bytes(bytes).map_err(from_parse_error)?;
            let key = key_of(&doc, &XML_PATHS)?;
            Ok(Parsed {
                key,
                format: DocumentFormat::Xml,
                bytes: bytes.to_vec(),
                own_json: false,
                undated: needs_issue_instant(&doc).then_some(Undated::Ubl(doc)),
            })
        }
        Format::Json => {
            // The shape only, building nothing: the one full parse is the model's below.
            let top = JsonTop::scan(bytes).map_err(|e| IntakeError::Json {
                message: json_message(&e),
                line: e.line(),
                column: e.column(),
            })?;
            if !top.is_object {
                return Err(IntakeError::Shape {
                    path: "$".to_owned(),
                    message: "a document must be a JSON object".to_owned(),
                });
            }
            if top.is_ubl() {
                let doc = Document::from_json_bytes(bytes).map_err(from_parse_error)?;
                let key = key_of(&doc, &JSON_PATHS)?;
                return Ok(Parsed {
                    key,
                    format: DocumentFormat::Json,
                    bytes: bytes.to_vec(),
                    own_json: false,
                    undated: needs_issue_instant(&doc).then_some(Undated::Ubl(doc)),
                });
            }
            parse_own_document(bytes)
        }
    }
}

/// How a document differs in meaning from a stored one.
enum Difference {
    /// Only the writing differs.
    None,
    /// The first field that differs (a JSON path).
    At(String),
}

/// Compares `bytes` with what `stored` holds, by meaning; `None` when either cannot be read
/// (then the byte comparison's conflict stands).
fn meaning_difference(
    stored: &DocumentRecord,
    bytes: &[u8],
    format: DocumentFormat,
) -> Option<Difference> {
    let old = Document::parse_as(&stored.received, stored.format).ok()?;
    let new = Document::parse_as(bytes, format).ok()?;
    Some(match old.first_difference(&new) {
        None => Difference::None,
        Some(path) => Difference::At(path),
    })
}

/// invois's own document JSON, keyed; dated at intake when it carries no `issuedAt`.
fn parse_own_document(bytes: &[u8]) -> Result<Parsed, IntakeError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| IntakeError::Json {
            message: json_message(&e),
            line: e.line(),
            column: e.column(),
        })?;
    let undated = value
        .get("issuedAt")
        .is_none_or(|v| v.is_null() || v.as_str().is_some_and(|t| t.trim().is_empty()));
    if undated {
        // Keyed from a rendering at any instant (the key does not depend on it); the bytes
        // are rendered again when the intake time is known.
        let undated = Undated::Own(value);
        let bytes = undated.render(DateTime::<Utc>::UNIX_EPOCH)?;
        let doc = Document::from_json_bytes(&bytes).map_err(from_parse_error)?;
        let key = key_of(&doc, &OWN_PATHS)?;
        return Ok(Parsed {
            key,
            format: DocumentFormat::Json,
            bytes,
            own_json: true,
            undated: Some(undated),
        });
    }
    let doc = parse_own_json(bytes)?;
    let key = key_of(&doc, &OWN_PATHS)?;
    Ok(Parsed {
        key,
        format: DocumentFormat::Json,
        bytes: doc.to_json_string().into_bytes(),
        own_json: true,
        undated: None,
    })
}

/// invois's own document JSON, converted to a UBL document (totals and taxes computed).
fn parse_own_json(bytes: &[u8]) -> Result<Document, IntakeError> {
    invois_model::simple::parse(bytes).map_err(|e| IntakeError::OwnJson {
        path: e.path,
        message: e.message,
    })
}

fn key_of(doc: &Document, paths: &KeyPaths) -> Result<DocumentKey, IntakeError> {
    let field = |value: Option<&str>, what: &'static str, path: &'static str| {
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(IntakeError::Missing { what, path });
        }
        let chars = value.chars().count();
        if chars > MAX_KEY_FIELD_CHARS {
            return Err(IntakeError::KeyFieldTooLong { what, path, chars });
        }
        Ok(value.to_owned())
    };
    Ok(DocumentKey {
        issuer_tin: field(doc.supplier_tin(), "supplier TIN", paths.supplier_tin)?,
        type_code: field(doc.invoice_type_code(), "type code", paths.type_code)?,
        internal_id: field(doc.id(), "internal id", paths.internal_id)?,
    })
}

/// serde_json's message without its trailing " at line L column C" (reported separately).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn from_parse_error(e: ParseError) -> IntakeError {
    match e {
        ParseError::Utf8(m) => IntakeError::Utf8(m),
        ParseError::UnknownFormat => IntakeError::UnknownFormat,
        ParseError::Json(m) => IntakeError::Json {
            message: m,
            line: 0,
            column: 0,
        },
        ParseError::Xml { position, message } => IntakeError::Xml { position, message },
        ParseError::Shape { path, message } => IntakeError::Shape { path, message },
        ParseError::NotAnInvoice(root) => IntakeError::NotAnInvoice(root),
        other => IntakeError::Shape {
            path: "$".to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    const UBL_JSON: &str = r#"{"_D":"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2","Invoice":[{"ID":[{"_":"INV-1"}],"InvoiceTypeCode":[{"_":"01","listVersionID":"1.0"}],"AccountingSupplierParty":[{"Party":[{"PartyIdentification":[{"ID":[{"_":"C123","schemeID":"TIN"}]}]}]}]}]}"#;

    #[test]
    fn reads_the_key_from_ubl_json() {
        let p = parse_document(UBL_JSON.as_bytes(), None).unwrap();
        assert_eq!(p.key.issuer_tin, "C123");
        assert_eq!(p.key.type_code, "01");
        assert_eq!(p.key.internal_id, "INV-1");
        assert_eq!(p.format, DocumentFormat::Json);
        assert_eq!(p.bytes, UBL_JSON.as_bytes());
        assert!(!p.own_json);
    }

    #[test]
    fn reads_the_key_from_xml_and_names_missing_fields_by_xpath() {
        let xml = r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>X-1</cbc:ID><cbc:InvoiceTypeCode listVersionID="1.0">02</cbc:InvoiceTypeCode></Invoice>"#;
        let err = parse_document(xml.as_bytes(), Some(Format::Xml)).unwrap_err();
        match &err {
            IntakeError::Missing { what, path } => {
                assert_eq!(*what, "supplier TIN");
                assert!(
                    path.starts_with("/Invoice/cac:AccountingSupplierParty"),
                    "{path}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_syntax_errors_carry_their_position() {
        let err = parse_document(b"{\n  \"_D\": 1,,\n}", None).unwrap_err();
        match err {
            IntakeError::Json { line, column, .. } => {
                assert_eq!(line, 2);
                assert!(column > 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn declared_format_must_match_the_content() {
        let err = parse_document(UBL_JSON.as_bytes(), Some(Format::Xml)).unwrap_err();
        assert!(err.to_string().contains("declared as XML"), "{err}");
    }

    #[test]
    fn missing_type_code_names_its_json_path() {
        let doc = UBL_JSON.replace(
            r#""InvoiceTypeCode":[{"_":"01","listVersionID":"1.0"}],"#,
            "",
        );
        let err = parse_document(doc.as_bytes(), None).unwrap_err();
        assert_eq!(
            err.field().as_deref(),
            Some("$.Invoice[0].InvoiceTypeCode[0]._")
        );
    }

    #[test]
    fn own_json_becomes_ubl_json_keyed_by_its_fields() {
        let own = include_bytes!("../../invois-model/examples/simple-invoice.json");
        let p = parse_document(own, Some(Format::Json)).unwrap();
        assert!(p.own_json);
        assert_eq!(p.format, DocumentFormat::Json);
        assert_eq!(p.key.issuer_tin, "C2584563200");
        assert_eq!(p.key.type_code, "01");
        assert_eq!(p.key.internal_id, "SI-2026-00042");
        // Stored as UBL JSON, which reads back with the same key.
        let ubl = Document::parse(&p.bytes).unwrap();
        assert_eq!(ubl.supplier_tin(), Some("C2584563200"));
        assert_eq!(ubl.id(), Some("SI-2026-00042"));
        // The conversion is deterministic, so a repeat is an idempotent repeat.
        assert_eq!(parse_document(own, None).unwrap().bytes, p.bytes);
        let err = parse_document(br#"{"type": "invoice", "bogus": 1}"#, None).unwrap_err();
        assert_eq!(err.field().as_deref(), Some("bogus"));
    }

    #[test]
    fn undated_documents_take_the_instant_where_ubl_puts_it() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 5).unwrap();
        let mut doc =
            invois_model::model::example(invois_model::DocumentType::Invoice, "1.0", at).unwrap();
        doc.root_mut()
            .children
            .retain(|c| c.name != "IssueDate" && c.name != "IssueTime");
        for format in [Format::Xml, Format::Json] {
            let bytes = doc.to_string_as(format).into_bytes();
            let parsed = parse_document(&bytes, Some(format)).unwrap();
            assert!(parsed.is_undated());
            let Some(undated) = &parsed.undated else {
                unreachable!()
            };
            let filled = Document::parse_as(&undated.render(at).unwrap(), format).unwrap();
            assert_eq!(filled.issue_date(), Some("2026-03-01"));
            assert_eq!(filled.issue_time(), Some("08:30:05Z"));
            let names: Vec<&str> = filled
                .root()
                .children
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            let id = names.iter().position(|n| *n == "ID").unwrap();
            assert_eq!(
                names[id + 1..id + 3],
                ["IssueDate", "IssueTime"],
                "{format:?}"
            );
        }
        // Dated: left alone.
        let dated = invois_model::model::example(invois_model::DocumentType::Invoice, "1.0", at)
            .unwrap()
            .to_string_as(Format::Json);
        assert!(!parse_document(dated.as_bytes(), None).unwrap().is_undated());
    }

    #[test]
    fn next_steps_never_advise_a_new_version_that_cannot_be_taken() {
        let key = DocumentKey {
            issuer_tin: "C1".to_owned(),
            type_code: "01".to_owned(),
            internal_id: "INV/1".to_owned(),
        };
        for state in DocumentState::ALL {
            let text = next_step(*state, DocumentId(7), &key);
            assert_eq!(
                text.contains("send the corrected document as a new version"),
                state.allows_new_version(),
                "{state}: {text}"
            );
            if state.allows_new_version() {
                assert!(
                    text.contains("POST /v1/documents/C1/01/INV%2F1/versions"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn neither_json_nor_xml_and_empty_are_refused() {
        assert!(matches!(
            parse_document(b"hello", None),
            Err(IntakeError::UnknownFormat)
        ));
        assert!(matches!(
            parse_document(b"  \n", None),
            Err(IntakeError::Empty)
        ));
    }
}

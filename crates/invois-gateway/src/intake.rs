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
//! conflict that names the way out (send a corrected new version).
//!
//! Intake only reads what it needs to store and route the document. Full validation (and the
//! 300 KB document limit) is the pipeline's: a document that fails it is rejected locally
//! with its findings, and a corrected version can follow.

use std::sync::Arc;

use invois_model::{Document, Format, ParseError};

use crate::clients::ClientPool;
use crate::store::{DocumentFormat, DocumentKey, Inserted, NewDocument, Store, StoreError};

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
        "document {id} (version {version}) is {state}; only an invalid or locally rejected \
         document can be corrected with a new version"
    )]
    NotCorrectable {
        /// The latest version's id.
        id: i64,
        /// Its version.
        version: i64,
        /// Its state.
        state: String,
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
    /// The bytes stored as received.
    pub bytes: Vec<u8>,
    /// Whether it was sent as invois's own document JSON.
    pub own_json: bool,
}

/// Turns ERP input into stored documents. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Intake {
    store: Arc<dyn Store>,
    clients: ClientPool,
}

impl Intake {
    /// Intake into `store`, routing each document to the pool's client id (and `onbehalfof`
    /// its issuer, for an intermediary).
    pub fn new(store: Arc<dyn Store>, clients: &ClientPool) -> Intake {
        Intake {
            store,
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

    /// Stores an already parsed document as a first version.
    pub async fn store_parsed(&self, parsed: Parsed) -> Result<Inserted, IntakeError> {
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
        match self.store.insert_document(new).await {
            Ok(inserted) => Ok(inserted),
            Err(StoreError::Conflict(message)) => Err(IntakeError::Conflict(message)),
            Err(e) => Err(IntakeError::Store(e)),
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
        let before = self
            .store
            .find_document(key)
            .await
            .map_err(IntakeError::Store)?
            .map(|d| d.version);
        match self
            .store
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
                Err(IntakeError::NotCorrectable {
                    id,
                    // The latest version, read just before (the refusal was about that one).
                    version: before.unwrap_or(1),
                    state: actual,
                })
            }
            Err(StoreError::Conflict(message)) => Err(IntakeError::Conflict(message)),
            Err(e) => Err(IntakeError::Store(e)),
        }
    }

    /// The store documents go to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
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
                format_name(declared),
                format_name(detected),
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
            })
        }
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| IntakeError::Json {
                    message: json_message(&e),
                    line: e.line(),
                    column: e.column(),
                })?;
            let Some(top) = value.as_object() else {
                return Err(IntakeError::Shape {
                    path: "$".to_owned(),
                    message: "a document must be a JSON object".to_owned(),
                });
            };
            if is_ubl_json(top) {
                let doc = Document::from_json_bytes(bytes).map_err(from_parse_error)?;
                let key = key_of(&doc, &JSON_PATHS)?;
                Ok(Parsed {
                    key,
                    format: DocumentFormat::Json,
                    bytes: bytes.to_vec(),
                    own_json: false,
                })
            } else {
                let doc = parse_own_json(bytes)?;
                let key = key_of(&doc, &OWN_PATHS)?;
                Ok(Parsed {
                    key,
                    format: DocumentFormat::Json,
                    bytes: doc.to_json_string().into_bytes(),
                    own_json: true,
                })
            }
        }
    }
}

/// UBL JSON carries the `_D` namespace header; one that lost its header still has its root
/// `Invoice` array, and must not be mistaken for invois's own JSON.
fn is_ubl_json(top: &serde_json::Map<String, serde_json::Value>) -> bool {
    top.contains_key("_D") || top.get("Invoice").is_some_and(serde_json::Value::is_array)
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

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Json => "JSON",
        Format::Xml => "XML",
    }
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

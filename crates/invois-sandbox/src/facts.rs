//! The facts the sandbox needs from a submitted document (issuer, internal ID, type, version,
//! issue date-time, parties, totals, billing references), read from MyInvois UBL JSON or XML.
//!
//! The document is read by `invois-model` ([`Document::parse_as`]); the facts are a small
//! summary kept with every stored document so that listing and searching do not re-parse it.
//! A document that cannot be read, or has `invois-model` Structure errors, is refused at
//! submission ([`StructureError`], reported in `rejectedDocuments`).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use invois_api::submission::DocumentFormat;
use invois_model::{Document, ParseError, ValidationContext};
use rust_decimal::Decimal;

/// A party's identity as the document states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartyFacts {
    /// `PartyIdentification/ID[@schemeID='TIN']`.
    pub tin: Option<String>,
    /// `PartyLegalEntity/RegistrationName`.
    pub name: Option<String>,
    /// The first of the BRN/NRIC/PASSPORT/ARMY identifications: (scheme, value).
    pub id: Option<(String, String)>,
}

/// The document's totals (`LegalMonetaryTotal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// `LineExtensionAmount`.
    pub line_extension: Option<Decimal>,
    /// `TaxExclusiveAmount`.
    pub tax_exclusive: Option<Decimal>,
    /// `TaxInclusiveAmount`.
    pub tax_inclusive: Option<Decimal>,
    /// `AllowanceTotalAmount`.
    pub allowance_total: Option<Decimal>,
    /// `PayableAmount`.
    pub payable: Option<Decimal>,
}

/// A reference to an original document (`BillingReference/InvoiceDocumentReference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingRef {
    /// The original's MyInvois uuid.
    pub uuid: Option<String>,
    /// The original's internal number.
    pub internal_id: Option<String>,
}

/// What the sandbox reads from a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFacts {
    /// `cbc:ID`.
    pub internal_id: String,
    /// `InvoiceTypeCode`, e.g. `01`.
    pub type_code: String,
    /// `InvoiceTypeCode/@listVersionID`, e.g. `1.0`.
    pub version: String,
    /// `IssueDate`.
    pub issue_date: Option<NaiveDate>,
    /// `IssueTime`.
    pub issue_time: Option<NaiveTime>,
    /// `DocumentCurrencyCode`.
    pub currency: Option<String>,
    /// Whether `TaxExchangeRate/CalculationRate` is present.
    pub has_exchange_rate: bool,
    /// Supplier.
    pub supplier: PartyFacts,
    /// Buyer.
    pub buyer: PartyFacts,
    /// Totals.
    pub totals: Totals,
    /// Originals this document references.
    pub billing_references: Vec<BillingRef>,
    /// Whether `UBLExtensions` or `Signature` is present.
    pub has_signature: bool,
}

impl DocumentFacts {
    /// Whether the type is self-billed (11-14): the buyer issues it.
    pub fn is_self_billed(&self) -> bool {
        matches!(self.type_code.as_str(), "11" | "12" | "13" | "14")
    }

    /// Whether the type is a credit, debit or refund note (normal or self-billed).
    pub fn is_note(&self) -> bool {
        matches!(
            self.type_code.as_str(),
            "02" | "03" | "04" | "12" | "13" | "14"
        )
    }

    /// The issuer's TIN: the supplier, or the buyer for self-billed types.
    pub fn issuer(&self) -> &PartyFacts {
        if self.is_self_billed() {
            &self.buyer
        } else {
            &self.supplier
        }
    }

    /// The receiver: the buyer, or the supplier for self-billed types.
    pub fn receiver(&self) -> &PartyFacts {
        if self.is_self_billed() {
            &self.supplier
        } else {
            &self.buyer
        }
    }

    /// Issue date and time as one instant (time defaults to midnight when missing).
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        let date = self.issue_date?;
        Some(date.and_time(self.issue_time.unwrap_or_default()).and_utc())
    }
}

/// Why a document could not be read; these are the synchronous structure failures that end
/// in `rejectedDocuments`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StructureError {
    /// Not well-formed JSON or XML, or not shaped like a MyInvois document.
    #[error("{format} is not valid: {source}")]
    Malformed {
        /// `JSON` or `XML`.
        format: &'static str,
        /// What `invois-model` could not read.
        source: ParseError,
    },
    /// A Structure finding of `invois-model` (or a field the sandbox cannot do without).
    #[error("{path}: {message}")]
    Invalid {
        /// Where, as an XPath into the XML form (`/Invoice/cbc:ID`).
        path: String,
        /// The rule broken, with the offending value when there is one.
        message: String,
    },
    /// A Structure rule LHDN publishes a text for, answered with LHDN's code and text (the
    /// Structure page's one row: `Invalid child element`, code `null`).
    #[error("{path}: {message}")]
    Published {
        /// Where, as an XPath into the XML form.
        path: String,
        /// LHDN's code (`None`: LHDN's `null`).
        code: Option<&'static str>,
        /// LHDN's text.
        message: String,
    },
}

impl StructureError {
    /// The `code` and `message` of the rejection's detail: LHDN's own for a published rule,
    /// `StructureError` and the rule otherwise.
    pub fn code_and_message(&self) -> (Option<&'static str>, String) {
        match self {
            StructureError::Published { code, message, .. } => (*code, message.clone()),
            _ => (Some("StructureError"), self.to_string()),
        }
    }

    /// The `propertyPath` to report, when the error is about one element.
    pub fn path(&self) -> Option<&str> {
        match self {
            StructureError::Malformed { .. } => None,
            StructureError::Invalid { path, .. } | StructureError::Published { path, .. } => {
                Some(path)
            }
        }
    }

    fn invalid(path: &str, message: impl Into<String>) -> Self {
        StructureError::Invalid {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// Reads a document in the format the submitter declared.
pub fn parse(format: DocumentFormat, bytes: &[u8]) -> Result<Document, StructureError> {
    Document::parse_as(bytes, format).map_err(|source| StructureError::Malformed {
        format: format.name(),
        source,
    })
}

/// Reads the facts from a document's bytes, refusing documents with Structure errors (the
/// dated ones as `ctx` has them in force).
pub fn extract(
    format: DocumentFormat,
    bytes: &[u8],
    ctx: &ValidationContext,
) -> Result<DocumentFacts, StructureError> {
    let doc = parse(format, bytes)?;
    // Only the Structure category decides acceptance; the rest is the asynchronous steps'.
    let report = invois_model::validate::validate_structure(&doc, ctx);
    if let Some(f) = report.errors().next() {
        if let Some(message) = &f.lhdn_message {
            return Err(StructureError::Published {
                path: f.xpath.clone(),
                code: f.lhdn_code,
                message: message.clone(),
            });
        }
        let message = match &f.value {
            Some(v) => format!("{} ({}; value `{v}`)", f.rule, f.code),
            None => format!("{} ({})", f.rule, f.code),
        };
        return Err(StructureError::invalid(&f.xpath, message));
    }
    facts_from(&doc)
}

fn party(doc: &Document, supplier: bool) -> PartyFacts {
    let id_of = |scheme: &str| {
        if supplier {
            doc.supplier_id(scheme)
        } else {
            doc.buyer_id(scheme)
        }
    };
    let owned = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    PartyFacts {
        tin: owned(id_of("TIN")),
        name: owned(if supplier {
            doc.supplier_name()
        } else {
            doc.buyer_name()
        }),
        id: ["BRN", "NRIC", "PASSPORT", "ARMY"]
            .into_iter()
            .find_map(|scheme| Some((scheme.to_owned(), id_of(scheme)?.trim().to_owned()))),
    }
}

/// The facts of a parsed document; refuses documents the sandbox cannot file (no internal ID,
/// unknown type or version, unreadable issue date or time, no issuer TIN).
pub fn facts_from(doc: &Document) -> Result<DocumentFacts, StructureError> {
    let text = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let internal_id = text(doc.id()).ok_or_else(|| {
        StructureError::invalid("/Invoice/cbc:ID", "the internal ID is mandatory")
    })?;
    let type_code = doc
        .invoice_type_code()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if doc.document_type().is_none() {
        return Err(StructureError::invalid(
            "/Invoice/cbc:InvoiceTypeCode",
            format!("`{type_code}` is not an e-invoice type code (01-04, 11-14)"),
        ));
    }
    let version = doc
        .version()
        .map(str::trim)
        .ok_or_else(|| {
            StructureError::invalid(
                "/Invoice/cbc:InvoiceTypeCode/@listVersionID",
                "the document version is mandatory",
            )
        })?
        .to_owned();
    if !invois_model::codes::VERSIONS.contains(&version.as_str()) {
        return Err(StructureError::invalid(
            "/Invoice/cbc:InvoiceTypeCode/@listVersionID",
            format!("`{version}` is not a document version (1.0-1.3)"),
        ));
    }
    let issue_date = match text(doc.issue_date()) {
        None => None,
        Some(v) => Some(NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| {
            StructureError::invalid("/Invoice/cbc:IssueDate", format!("`{v}` is not YYYY-MM-DD"))
        })?),
    };
    let issue_time = match text(doc.issue_time()) {
        None => None,
        Some(v) => Some(
            NaiveTime::parse_from_str(v.trim_end_matches('Z'), "%H:%M:%S").map_err(|_| {
                StructureError::invalid("/Invoice/cbc:IssueTime", format!("`{v}` is not HH:MM:SSZ"))
            })?,
        ),
    };
    let totals = doc.totals();
    let facts = DocumentFacts {
        internal_id,
        type_code,
        version,
        issue_date,
        issue_time,
        currency: text(doc.currency()),
        has_exchange_rate: doc
            .root()
            .text_at(&["TaxExchangeRate", "CalculationRate"])
            .is_some_and(|v| !v.trim().is_empty()),
        supplier: party(doc, true),
        buyer: party(doc, false),
        totals: Totals {
            line_extension: totals.line_extension,
            tax_exclusive: totals.tax_exclusive,
            tax_inclusive: totals.tax_inclusive,
            allowance_total: totals.allowance_total,
            payable: totals.payable,
        },
        billing_references: doc
            .billing_references()
            .into_iter()
            .map(|r| BillingRef {
                uuid: text(r.uuid.as_deref()),
                internal_id: text(r.id.as_deref()),
            })
            .collect(),
        has_signature: doc.has_signature(),
    };
    if facts.issuer().tin.is_none() {
        return Err(StructureError::invalid(
            if facts.is_self_billed() {
                "/Invoice/cac:AccountingCustomerParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TIN']"
            } else {
                "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TIN']"
            },
            "the issuer's TIN is mandatory",
        ));
    }
    Ok(facts)
}

//! invois's own document JSON: a flat, ERP-friendly format that becomes a full MyInvois UBL
//! [`Document`] through the [`model`](crate::model) builder, so totals, line subtotals and taxes
//! are computed here and not by the sender.
//!
//! ```
//! let json = br#"{
//!   "type": "invoice", "version": "1.0", "id": "INV-1", "issuedAt": "2026-01-15T16:00:00+08:00",
//!   "supplier": {"name": "Pembekal Sdn Bhd", "tin": "C2584563200", "idType": "BRN",
//!     "idNumber": "202001234567", "msicCode": "46510", "businessActivity": "Wholesale",
//!     "phone": "+60123456789",
//!     "address": {"lines": ["Lot 66"], "city": "Kuala Lumpur", "state": "14", "country": "MYS"}},
//!   "buyer": {"name": "Pelanggan Bhd", "tin": "C2584563220", "idType": "BRN",
//!     "idNumber": "202101234568", "phone": "+60387654321",
//!     "address": {"lines": ["No. 8"], "city": "Petaling Jaya", "state": "10", "country": "MYS"}},
//!   "lines": [{"classification": "022", "description": "Service", "quantity": 2, "unit": "HUR",
//!     "unitPrice": "100.00", "taxes": [{"type": "02", "percent": 8}]}]
//! }"#;
//! let doc = invois_model::simple::parse(json)?;
//! assert_eq!(doc.totals().payable, Some(rust_decimal::Decimal::new(21600, 2)));
//!
//! let err = invois_model::simple::parse(br#"{"type": "invoice", "bogus": 1}"#).unwrap_err();
//! assert_eq!(err.path, "bogus");
//! # Ok::<(), invois_model::simple::SimpleError>(())
//! ```
//!
//! Money, quantities, rates and percentages are decimal strings (`"12.30"`) or JSON numbers
//! (`12.30`); both are read exactly (never through a binary float). Unknown fields are errors,
//! so a misspelt field is never silently dropped.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codes::{DocumentType, ID_TYPES};
use crate::document::Document;
use crate::model::{
    self, AdditionalReference, AllowanceCharge, BuildError, Invoice, Line, LineTax, ReadError,
};

/// A whole document in invois's own JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleDocument {
    /// Document type: code (`"01"`) or name (`"invoice"`, `"credit_note"`, ...).
    #[serde(rename = "type", with = "doc_type")]
    pub document_type: DocumentType,
    /// Version `1.0`-`1.3` (default `1.1`; `1.1` and `1.3` must be signed before submission).
    #[serde(default = "default_version")]
    pub version: String,
    /// The supplier's internal number.
    pub id: String,
    /// Issue instant, RFC 3339 with an offset (`2026-01-15T16:00:00+08:00`); stored in UTC.
    #[serde(with = "instant")]
    pub issued_at: DateTime<Utc>,
    /// Document currency (ISO 4217, default `MYR`).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Exchange rate to MYR; required exactly when the currency is not MYR.
    #[serde(default, with = "opt_decimal", skip_serializing_if = "Option::is_none")]
    pub exchange_rate: Option<Decimal>,
    /// Billing period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<SimplePeriod>,
    /// Original documents (required for credit, debit and refund notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub originals: Vec<SimpleOriginal>,
    /// Bill reference number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_reference: Option<String>,
    /// Customs forms, FTA, K2, Incoterms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_references: Vec<SimpleReference>,
    /// The supplier (the seller; the buyer issuing a self-billed document is still the buyer).
    pub supplier: SimpleParty,
    /// The buyer.
    pub buyer: SimpleParty,
    /// Shipping recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<SimpleDelivery>,
    /// Payment mode, account and terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<SimplePayment>,
    /// An amount already paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepayment: Option<SimplePrepayment>,
    /// Document-level discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<SimpleAmount>,
    /// Document-level charges (fees).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<SimpleAmount>,
    /// Rounding added to the payable amount.
    #[serde(default, with = "opt_decimal", skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Decimal>,
    /// The lines (at least one).
    pub lines: Vec<SimpleLine>,
}

/// A supplier or buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleParty {
    /// Registration name.
    pub name: String,
    /// TIN.
    pub tin: String,
    /// `NRIC`, `BRN`, `PASSPORT` or `ARMY`.
    pub id_type: String,
    /// The number in that scheme.
    pub id_number: String,
    /// SST registration (`NA` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sst: Option<String>,
    /// Tourism tax registration (`NA` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttx: Option<String>,
    /// MSIC code (supplier; with `businessActivity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msic_code: Option<String>,
    /// Business activity description (supplier; with `msicCode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_activity: Option<String>,
    /// CertEX registration (supplier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certex: Option<String>,
    /// Address.
    pub address: SimpleAddress,
    /// Contact number.
    pub phone: String,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleAddress {
    /// 1 to 3 address lines.
    pub lines: Vec<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    pub city: String,
    /// State code `01`-`17`.
    pub state: String,
    /// Country, ISO 3166-1 alpha-3 (`MYS`).
    pub country: String,
}

/// A billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimplePeriod {
    /// Start date `YYYY-MM-DD`.
    #[serde(with = "date")]
    pub start: String,
    /// End date `YYYY-MM-DD`.
    #[serde(with = "date")]
    pub end: String,
    /// Frequency (`Monthly`, ...).
    pub description: String,
}

/// The original document a note corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleOriginal {
    /// LHDN uuid of the original (26 letters and digits).
    pub uuid: String,
    /// The original's internal number.
    pub id: String,
}

/// An additional document reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleReference {
    /// Reference number.
    pub id: String,
    /// `CustomsImportForm`, `FreeTradeAgreement`, `K2`; absent for Incoterms.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    /// Description (FTA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The shipping recipient and freight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleDelivery {
    /// Recipient name.
    pub name: String,
    /// Recipient TIN.
    pub tin: String,
    /// `NRIC`, `BRN`, `PASSPORT` or `ARMY`.
    pub id_type: String,
    /// The number in that scheme.
    pub id_number: String,
    /// Recipient address.
    pub address: SimpleAddress,
    /// Freight charge (or discount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<SimpleFreight>,
}

/// A freight charge or discount on delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleFreight {
    /// Reason.
    pub reason: String,
    /// Amount.
    #[serde(with = "decimal")]
    pub amount: Decimal,
    /// A discount instead of a charge (default `false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub discount: bool,
}

/// Payment information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimplePayment {
    /// Payment mode `01`-`08`.
    pub mode: String,
    /// Payee bank account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Payment terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
}

/// A prepayment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimplePrepayment {
    /// Reference.
    pub id: String,
    /// Amount paid.
    #[serde(with = "decimal")]
    pub amount: Decimal,
    /// When, RFC 3339.
    #[serde(with = "instant")]
    pub paid_at: DateTime<Utc>,
}

/// A discount or charge with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleAmount {
    /// Reason.
    pub reason: String,
    /// Amount.
    #[serde(with = "decimal")]
    pub amount: Decimal,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleLine {
    /// Classification code (3 digits, `CLASS`).
    pub classification: String,
    /// Description.
    pub description: String,
    /// Quantity.
    #[serde(with = "decimal")]
    pub quantity: Decimal,
    /// Unit of measure (UN/ECE Rec 20, `C62` = one).
    pub unit: String,
    /// Unit price.
    #[serde(with = "decimal")]
    pub unit_price: Decimal,
    /// Taxes; none means tax type `06` (Not Applicable) at 0 %.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<SimpleTax>,
    /// Line discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<SimpleAmount>,
    /// Line charges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<SimpleAmount>,
    /// Country of origin (ISO 3166-1 alpha-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_country: Option<String>,
    /// Tariff code (`PTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff: Option<String>,
}

/// One tax on a line: a percentage, a fixed amount per unit, or an exemption (`E`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimpleTax {
    /// Tax type `01`-`06` or `E`.
    #[serde(rename = "type")]
    pub tax_type: String,
    /// Percentage rate.
    #[serde(default, with = "opt_decimal", skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    /// Fixed amount per unit of the line's unit.
    #[serde(default, with = "opt_decimal", skip_serializing_if = "Option::is_none")]
    pub per_unit: Option<Decimal>,
    /// Why exempt (type `E`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption_reason: Option<String>,
}

/// What kind of rule a [`SimpleError`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not JSON at all (the message has line and column).
    Syntax,
    /// A field this format does not have.
    UnknownField,
    /// A value of the wrong JSON type (a number where a string belongs, ...).
    WrongType,
    /// A required field is absent.
    Missing,
    /// Not a decimal number, or one with more precision than 28 digits.
    BadDecimal,
    /// A code, date or instant of the wrong form (unknown document type, ...).
    BadValue,
    /// The fields are well-formed but break a rule of the document (no lines, a note without
    /// its original, a foreign currency without an exchange rate, ...).
    Rule,
}

/// Why a simple JSON document was refused: the field (`lines[2].unitPrice`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", shown_path(.path))]
pub struct SimpleError {
    /// Where, as `supplier.address.city` or `lines[2].unitPrice` (empty: the whole document).
    pub path: String,
    /// Which kind of rule.
    pub kind: ErrorKind,
    /// The rule in plain English, with the offending value where there is one.
    pub message: String,
}

fn shown_path(path: &str) -> &str {
    if path.is_empty() { "(document)" } else { path }
}

impl SimpleError {
    fn new(path: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        SimpleError {
            path: path.into(),
            kind,
            message: message.into(),
        }
    }
}

// Prefixes of the messages our own deserializers raise, so the kind survives serde's
// string-only custom errors.
const BAD_DECIMAL: &str = "not a decimal number: ";
const BAD_VALUE: &str = "bad value: ";

/// The document-type names accepted besides the codes, in code order.
pub const TYPE_NAMES: [(&str, DocumentType); 8] = [
    ("invoice", DocumentType::Invoice),
    ("credit_note", DocumentType::CreditNote),
    ("debit_note", DocumentType::DebitNote),
    ("refund_note", DocumentType::RefundNote),
    ("self_billed_invoice", DocumentType::SelfBilledInvoice),
    (
        "self_billed_credit_note",
        DocumentType::SelfBilledCreditNote,
    ),
    ("self_billed_debit_note", DocumentType::SelfBilledDebitNote),
    (
        "self_billed_refund_note",
        DocumentType::SelfBilledRefundNote,
    ),
];

/// The name of a type (`credit_note`).
pub fn type_name(t: DocumentType) -> &'static str {
    TYPE_NAMES
        .iter()
        .find(|(_, d)| *d == t)
        .map_or("invoice", |(n, _)| n)
}

/// The top level of a JSON text, read without building it: whether it is an object, its
/// member names, and whether a root `Invoice` is an array. Reading a document's shape this
/// way lets the one full parse be the model's own (with its duplicate-key check and paths).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonTop {
    /// Whether the text is a JSON object at all.
    pub is_object: bool,
    /// The object's member names, in order.
    pub keys: Vec<String>,
    /// Whether a member `Invoice` holds an array.
    pub invoice_is_array: bool,
}

impl JsonTop {
    /// Scans `bytes` (after an optional BOM); a syntax error anywhere is reported, with its
    /// line and column.
    pub fn scan(bytes: &[u8]) -> Result<JsonTop, serde_json::Error> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let top = serde::Deserializer::deserialize_any(&mut de, TopVisitor)?;
        de.end()?;
        Ok(top)
    }

    /// Whether the object has a member `name`.
    pub fn has(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k == name)
    }

    /// Whether this is MyInvois UBL JSON rather than invois's own JSON: it carries the UBL
    /// namespace key `_D`, or, having lost that header, its root `Invoice` array. This is
    /// the one rule; the gateway's intake, its many-document reader and the CLI all ask
    /// here.
    pub fn is_ubl(&self) -> bool {
        self.is_object && (self.has("_D") || self.invoice_is_array)
    }
}

struct TopVisitor;

impl<'de> serde::de::Visitor<'de> for TopVisitor {
    type Value = JsonTop;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonTop, A::Error> {
        let mut top = JsonTop {
            is_object: true,
            ..JsonTop::default()
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == "Invoice" {
                top.invoice_is_array = map.next_value::<ArrayOrNot>()?.0;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            top.keys.push(key);
        }
        Ok(top)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonTop, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(JsonTop::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonTop, E> {
        Ok(JsonTop::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<JsonTop, E> {
        Ok(JsonTop::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<JsonTop, E> {
        Ok(JsonTop::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<JsonTop, E> {
        Ok(JsonTop::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<JsonTop, E> {
        Ok(JsonTop::default())
    }
    fn visit_unit<E>(self) -> Result<JsonTop, E> {
        Ok(JsonTop::default())
    }
}

/// Whether a value is an array, skipping its content either way.
struct ArrayOrNot(bool);

impl<'de> Deserialize<'de> for ArrayOrNot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ArrayOrNot, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ArrayOrNot;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ArrayOrNot, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(ArrayOrNot(true))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ArrayOrNot, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ArrayOrNot(false))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ArrayOrNot, E> {
                Ok(ArrayOrNot(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ArrayOrNot, E> {
                Ok(ArrayOrNot(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ArrayOrNot, E> {
                Ok(ArrayOrNot(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ArrayOrNot, E> {
                Ok(ArrayOrNot(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<ArrayOrNot, E> {
                Ok(ArrayOrNot(false))
            }
            fn visit_unit<E>(self) -> Result<ArrayOrNot, E> {
                Ok(ArrayOrNot(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether `bytes` are invois's own JSON rather than MyInvois UBL JSON or XML: a JSON object
/// that is not UBL by [`JsonTop::is_ubl`]. Bytes that are not JSON at all are routed by a scan
/// (an object with no `"_D"` key anywhere), so that a malformed simple document gets this
/// format's error (with line and column), not the UBL parser's.
pub fn looks_like_simple(bytes: &[u8]) -> bool {
    match JsonTop::scan(bytes) {
        Ok(top) => top.is_object && !top.is_ubl(),
        Err(_) => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            malformed_looks_like_simple(bytes)
        }
    }
}

fn malformed_looks_like_simple(bytes: &[u8]) -> bool {
    let start = match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) if bytes[i] == b'{' => i,
        _ => return false,
    };
    let rest = &bytes[start..];
    // `"_D"` followed by optional whitespace and `:` is the UBL namespace key; as a value
    // (`"x": "_D"`) it is followed by `,` or `}` and does not count.
    !rest.windows(4).enumerate().any(|(i, w)| {
        w == b"\"_D\""
            && rest[i + 4..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b':')
    })
}

/// Reads simple JSON into a [`SimpleDocument`], errors naming the field path.
pub fn from_slice(bytes: &[u8]) -> Result<SimpleDocument, SimpleError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc: SimpleDocument = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(e.inner(), &e.path().to_string()))?;
    // Trailing content after the object is an error too.
    de.end().map_err(|e| json_error(&e, ""))?;
    Ok(doc)
}

fn json_error(inner: &serde_json::Error, path: &str) -> SimpleError {
    let full = inner.to_string();
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return SimpleError::new("", ErrorKind::Syntax, full);
    }
    // serde_json appends the location; the path says more, so keep the message alone.
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    // serde_path_to_error writes the root as `.`.
    let mut path = if path == "." { "" } else { path }.to_owned();
    let join = |path: &str, field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let backticked = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if message.starts_with("missing field") {
        // serde reports the struct's path; name the field itself.
        if let Some(field) = backticked(&message) {
            path = join(&path, &field);
        }
        return SimpleError::new(path, ErrorKind::Missing, "required field is missing");
    }
    if message.starts_with("unknown field") {
        return SimpleError::new(path, ErrorKind::UnknownField, message);
    }
    if let Some(m) = message.strip_prefix(BAD_DECIMAL) {
        return SimpleError::new(path, ErrorKind::BadDecimal, m);
    }
    if let Some(m) = message.strip_prefix(BAD_VALUE) {
        return SimpleError::new(path, ErrorKind::BadValue, m);
    }
    if message.starts_with("invalid type") || message.starts_with("invalid length") {
        return SimpleError::new(path, ErrorKind::WrongType, message);
    }
    SimpleError::new(path, ErrorKind::BadValue, message)
}

/// Simple JSON -> [`Document`] (UBL tree, totals and taxes computed).
pub fn parse(bytes: &[u8]) -> Result<Document, SimpleError> {
    Ok(to_invoice(&from_slice(bytes)?)?.to_document())
}

fn rule(path: impl Into<String>, message: impl Into<String>) -> SimpleError {
    SimpleError::new(path, ErrorKind::Rule, message)
}

fn check_id_type(path: &str, id_type: &str) -> Result<(), SimpleError> {
    if ID_TYPES.iter().any(|(s, _)| *s == id_type) {
        Ok(())
    } else {
        Err(SimpleError::new(
            format!("{path}.idType"),
            ErrorKind::BadValue,
            format!("`{id_type}` is not NRIC, BRN, PASSPORT or ARMY"),
        ))
    }
}

fn address(path: &str, a: &SimpleAddress) -> Result<model::Address, SimpleError> {
    if a.lines.is_empty() || a.lines.len() > 3 {
        return Err(rule(
            format!("{path}.lines"),
            format!("1 to 3 address lines are required, not {}", a.lines.len()),
        ));
    }
    Ok(model::Address {
        lines: a.lines.clone(),
        postal_zone: a.postal_code.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        country: a.country.clone(),
    })
}

fn party(path: &str, p: &SimpleParty) -> Result<model::Party, SimpleError> {
    check_id_type(path, &p.id_type)?;
    let msic = match (&p.msic_code, &p.business_activity) {
        (Some(c), Some(d)) => Some((c.clone(), d.clone())),
        (None, None) => None,
        (Some(_), None) => {
            return Err(rule(
                format!("{path}.businessActivity"),
                "required together with msicCode",
            ));
        }
        (None, Some(_)) => {
            return Err(rule(
                format!("{path}.msicCode"),
                "required together with businessActivity",
            ));
        }
    };
    let mut out = model::Party::new(
        &p.name,
        &p.tin,
        &p.id_type,
        &p.id_number,
        address(&format!("{path}.address"), &p.address)?,
        &p.phone,
    );
    out.sst = p.sst.clone();
    out.ttx = p.ttx.clone();
    out.msic = msic;
    out.certex = p.certex.clone();
    out.email = p.email.clone();
    Ok(out)
}

fn line(path: &str, l: &SimpleLine) -> Result<Line, SimpleError> {
    let mut out = Line::new(
        &l.classification,
        &l.description,
        l.quantity,
        &l.unit,
        l.unit_price,
    );
    for (i, t) in l.taxes.iter().enumerate() {
        let p = format!("{path}.taxes[{i}]");
        let is_exempt = t.tax_type == "E";
        out.taxes.push(match (t.percent, t.per_unit, is_exempt) {
            (_, _, true) => {
                let Some(reason) = t.exemption_reason.clone() else {
                    return Err(rule(
                        format!("{p}.exemptionReason"),
                        "tax type E (exempt) needs an exemption reason",
                    ));
                };
                if t.per_unit.is_some() || t.percent.is_some_and(|x| !x.is_zero()) {
                    return Err(rule(p, "tax type E (exempt) takes no rate"));
                }
                LineTax {
                    tax_type: t.tax_type.clone(),
                    percent: Some(Decimal::ZERO),
                    per_unit: None,
                    exemption_reason: Some(reason),
                    amount: None,
                }
            }
            (Some(percent), None, false) => LineTax {
                tax_type: t.tax_type.clone(),
                percent: Some(percent),
                per_unit: None,
                exemption_reason: t.exemption_reason.clone(),
                amount: None,
            },
            (None, Some(per), false) => LineTax {
                tax_type: t.tax_type.clone(),
                percent: None,
                per_unit: Some((per, l.unit.clone())),
                exemption_reason: t.exemption_reason.clone(),
                amount: None,
            },
            (Some(_), Some(_), false) => {
                return Err(rule(p, "give percent or perUnit, not both"));
            }
            (None, None, false) => {
                return Err(rule(
                    p,
                    "a tax needs percent or perUnit (or type E with exemptionReason)",
                ));
            }
        });
    }
    for d in &l.discounts {
        out = out.discount(&d.reason, d.amount);
    }
    for c in &l.charges {
        out = out.charge(&c.reason, c.amount);
    }
    out.origin_country = l.origin_country.clone();
    out.tariff = l.tariff.clone();
    Ok(out)
}

/// [`SimpleDocument`] -> the typed [`Invoice`], through [`Invoice::builder`]; errors name the
/// field.
pub fn to_invoice(s: &SimpleDocument) -> Result<Invoice, SimpleError> {
    let mut b = Invoice::builder(s.document_type, &s.id, s.issued_at)
        .version(&s.version)
        .supplier(party("supplier", &s.supplier)?)
        .buyer(party("buyer", &s.buyer)?);
    match (s.currency.as_str(), s.exchange_rate) {
        ("MYR", None) => {}
        ("MYR", Some(_)) => {
            return Err(rule(
                "exchangeRate",
                "an exchange rate is only for a currency other than MYR",
            ));
        }
        (_, None) => {
            return Err(rule(
                "exchangeRate",
                format!("currency {} needs an exchange rate to MYR", s.currency),
            ));
        }
        (_, Some(r)) if r <= Decimal::ZERO => {
            return Err(rule("exchangeRate", format!("{r} is not positive")));
        }
        (c, Some(r)) => b = b.currency(c, r),
    }
    if let Some(p) = &s.period {
        b = b.period(model::Period {
            start: p.start.clone(),
            end: p.end.clone(),
            description: p.description.clone(),
        });
    }
    for o in &s.originals {
        b = b.original(&o.uuid, &o.id);
    }
    if let Some(r) = &s.bill_reference {
        b = b.bill_reference(r);
    }
    for r in &s.additional_references {
        b = b.additional_reference(AdditionalReference {
            id: r.id.clone(),
            document_type: r.document_type.clone(),
            description: r.description.clone(),
        });
    }
    if let Some(d) = &s.delivery {
        check_id_type("delivery", &d.id_type)?;
        let recipient = model::Party::new(
            &d.name,
            &d.tin,
            &d.id_type,
            &d.id_number,
            address("delivery.address", &d.address)?,
            "",
        );
        b = b.delivery(model::Delivery {
            recipient,
            freight: d.freight.as_ref().map(|f| AllowanceCharge {
                charge: !f.discount,
                reason: f.reason.clone(),
                amount: f.amount,
            }),
        });
    }
    if let Some(p) = &s.payment {
        b = b.payment(model::Payment {
            mode: p.mode.clone(),
            account: p.account.clone(),
            terms: p.terms.clone(),
        });
    }
    if let Some(p) = &s.prepayment {
        b = b.prepayment(model::Prepayment {
            id: p.id.clone(),
            amount: p.amount,
            paid_at: p.paid_at,
        });
    }
    for d in &s.discounts {
        b = b.discount(&d.reason, d.amount);
    }
    for c in &s.charges {
        b = b.charge(&c.reason, c.amount);
    }
    if let Some(r) = s.rounding {
        b = b.rounding(r);
    }
    for (i, l) in s.lines.iter().enumerate() {
        b = b.line(line(&format!("lines[{i}]"), l)?);
    }
    b.build().map_err(|e| match e {
        BuildError::Missing("the supplier") => rule("supplier", e.to_string()),
        BuildError::Missing("the buyer") => rule("buyer", e.to_string()),
        BuildError::Missing(_) => rule("lines", "at least one line is required"),
        BuildError::NoOriginal(t) => rule(
            "originals",
            format!("a {t} must reference its original document (uuid and id)"),
        ),
        BuildError::Version(v) => SimpleError::new(
            "version",
            ErrorKind::BadValue,
            format!("`{v}` is not 1.0, 1.1, 1.2 or 1.3"),
        ),
    })
}

/// Why a document could not be written as simple JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToSimpleError {
    /// The document could not be read into the typed model.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A tax on a line has no rate of either kind.
    #[error("line {line}: tax {tax_type} has neither a percent nor a per-unit amount")]
    Tax {
        /// 1-based line number.
        line: usize,
        /// The tax type.
        tax_type: String,
    },
}

fn simple_address(a: &model::Address) -> SimpleAddress {
    SimpleAddress {
        lines: a.lines.clone(),
        postal_code: a.postal_zone.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        country: a.country.clone(),
    }
}

fn simple_party(p: &model::Party) -> SimpleParty {
    let na = |v: &Option<String>| v.clone().filter(|v| v != "NA");
    SimpleParty {
        name: p.name.clone(),
        tin: p.tin.clone(),
        id_type: p.id_scheme.clone(),
        id_number: p.id.clone(),
        sst: na(&p.sst),
        ttx: na(&p.ttx),
        msic_code: p.msic.as_ref().map(|m| m.0.clone()),
        business_activity: p.msic.as_ref().map(|m| m.1.clone()),
        certex: p.certex.clone(),
        address: simple_address(&p.address),
        phone: p.phone.clone(),
        email: p.email.clone(),
    }
}

fn split(acs: &[AllowanceCharge], charge: bool) -> Vec<SimpleAmount> {
    acs.iter()
        .filter(|a| a.charge == charge)
        .map(|a| SimpleAmount {
            reason: a.reason.clone(),
            amount: a.amount,
        })
        .collect()
}

/// A [`Document`] -> simple JSON, through [`Invoice::from_document`]. Computed amounts are
/// not carried (they are computed again on the way back); fields outside the typed model are
/// dropped, and discounts come before charges.
pub fn to_simple(doc: &Document) -> Result<SimpleDocument, ToSimpleError> {
    let inv = Invoice::from_document(doc)?;
    let mut lines = Vec::with_capacity(inv.lines.len());
    for (i, l) in inv.lines.iter().enumerate() {
        let mut taxes = Vec::new();
        for t in &l.taxes {
            let exempt = t.tax_type == "E";
            if !exempt && t.percent.is_none() && t.per_unit.is_none() {
                return Err(ToSimpleError::Tax {
                    line: i + 1,
                    tax_type: t.tax_type.clone(),
                });
            }
            taxes.push(SimpleTax {
                tax_type: t.tax_type.clone(),
                percent: if exempt { None } else { t.percent },
                per_unit: t.per_unit.as_ref().map(|p| p.0),
                exemption_reason: t.exemption_reason.clone(),
            });
        }
        lines.push(SimpleLine {
            classification: l.classification.clone(),
            description: l.description.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            unit_price: l.unit_price,
            taxes,
            discounts: split(&l.allowance_charges, false),
            charges: split(&l.allowance_charges, true),
            origin_country: l.origin_country.clone(),
            tariff: l.tariff.clone(),
        });
    }
    Ok(SimpleDocument {
        document_type: inv.document_type,
        version: inv.version,
        id: inv.id,
        issued_at: inv.issued_at,
        exchange_rate: if inv.currency == "MYR" {
            None
        } else {
            inv.exchange_rate
        },
        currency: inv.currency,
        period: inv.period.map(|p| SimplePeriod {
            start: p.start,
            end: p.end,
            description: p.description,
        }),
        originals: inv
            .originals
            .into_iter()
            .map(|o| SimpleOriginal {
                uuid: o.uuid,
                id: o.id,
            })
            .collect(),
        bill_reference: inv.bill_reference,
        additional_references: inv
            .additional_references
            .into_iter()
            .map(|r| SimpleReference {
                id: r.id,
                document_type: r.document_type,
                description: r.description,
            })
            .collect(),
        supplier: simple_party(&inv.supplier),
        buyer: simple_party(&inv.buyer),
        delivery: inv.delivery.map(|d| SimpleDelivery {
            name: d.recipient.name,
            tin: d.recipient.tin,
            id_type: d.recipient.id_scheme,
            id_number: d.recipient.id,
            address: simple_address(&d.recipient.address),
            freight: d.freight.map(|f| SimpleFreight {
                reason: f.reason,
                amount: f.amount,
                discount: !f.charge,
            }),
        }),
        payment: inv.payment.map(|p| SimplePayment {
            mode: p.mode,
            account: p.account,
            terms: p.terms,
        }),
        prepayment: inv.prepayment.map(|p| SimplePrepayment {
            id: p.id,
            amount: p.amount,
            paid_at: p.paid_at,
        }),
        discounts: split(&inv.allowance_charges, false),
        charges: split(&inv.allowance_charges, true),
        rounding: inv.rounding,
        lines,
    })
}

impl FromStr for SimpleDocument {
    type Err = SimpleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_slice(s.as_bytes())
    }
}

fn default_version() -> String {
    "1.1".to_owned()
}

fn default_currency() -> String {
    "MYR".to_owned()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An exact decimal from a JSON number (its literal text, thanks to `arbitrary_precision`) or
/// a string.
fn exact_decimal<E: serde::de::Error>(v: serde_json::Value) -> Result<Decimal, E> {
    let text = match &v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(E::custom(format!(
                "{BAD_DECIMAL}expected a decimal string or number, found {}",
                kind_of(other)
            )));
        }
    };
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str_exact(&text)
    };
    parsed.map_err(|e| E::custom(format!("{BAD_DECIMAL}`{text}` ({e})")))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

mod decimal {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        exact_decimal(serde_json::Value::deserialize(d)?)
    }

    // As a string: exact, and what an ERP's decimal type reads back without loss.
    pub(super) fn serialize<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
}

mod opt_decimal {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Decimal>, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(None),
            v => exact_decimal(v).map(Some),
        }
    }

    pub(super) fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }
}

mod instant {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{BAD_VALUE}`{s}` is not an RFC 3339 date and time with offset \
                     (2026-01-15T16:00:00+08:00)"
                ))
            })
    }

    pub(super) fn serialize<S: Serializer>(v: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

mod date {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s = String::deserialize(d)?;
        match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(_) if s.len() == 10 => Ok(s),
            _ => Err(serde::de::Error::custom(format!(
                "{BAD_VALUE}`{s}` is not a date YYYY-MM-DD"
            ))),
        }
    }

    pub(super) fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }
}

mod doc_type {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DocumentType, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<DocumentType>()
            .ok()
            .or_else(|| TYPE_NAMES.iter().find(|(n, _)| *n == s).map(|(_, t)| *t))
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{BAD_VALUE}`{s}` is not a document type: 01-04, 11-14, or invoice, \
                     credit_note, debit_note, refund_note, self_billed_invoice, \
                     self_billed_credit_note, self_billed_debit_note, self_billed_refund_note"
                ))
            })
    }

    pub(super) fn serialize<S: Serializer>(v: &DocumentType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(type_name(*v))
    }
}

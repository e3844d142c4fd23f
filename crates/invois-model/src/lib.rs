//! MyInvois documents: the 8 e-invoice types, v1.0-1.3, UBL JSON and XML, local validation,
//! code tables.
//!
//! A [`Document`] is an order-preserving element tree (names, namespaces, attributes, values
//! with their JSON kind, children), so JSON -> document -> JSON and XML -> document -> XML are
//! faithful, JSON <-> XML keeps every value, and nothing unknown is dropped. Typed access is
//! through accessors ([`Document::supplier_tin`], [`Document::totals`], ...), and the
//! [`model`] builders make new documents.
//!
//! ```
//! use invois_model::{Document, Format};
//! let json = r#"{"_D":"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2","Invoice":[{"ID":[{"_":"INV-1"}],"LegalMonetaryTotal":[{"PayableAmount":[{"_":1.0,"currencyID":"MYR"}]}]}]}"#;
//! let doc = Document::parse(json.as_bytes())?;
//! assert_eq!(doc.id(), Some("INV-1"));
//! assert_eq!(doc.to_json_string(), json);
//! let xml = doc.to_xml_string();
//! assert!(xml.contains("<cbc:PayableAmount currencyID=\"MYR\">1.0</cbc:PayableAmount>"));
//! # Ok::<(), invois_model::ParseError>(())
//! ```
//!
//! No I/O besides reading a code directory given as a path ([`CodeTables::load_dir`]); no
//! network; no async.

#![warn(missing_docs)]

pub mod codes;
mod document;
mod error;
mod json;
mod layout;
pub mod model;
pub mod schema;
pub mod simple;
pub mod tree;
pub mod validate;
mod xml;

pub use codes::{CodeTables, DocumentType, Table};
pub use document::{BillingReference, Document, Format, Prepared, Totals, prepare_for_submission};
pub use error::{CodesError, ParseError};
pub use validate::{Category, Finding, Report, Severity, ValidationContext, validate};
pub use xml::canonicalize;

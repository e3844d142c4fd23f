#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]
#![warn(missing_docs)]

pub mod codes;
pub mod consolidation;
mod document;
mod error;
mod json;
mod layout;
pub mod model;
pub mod rules;
pub mod schema;
pub mod simple;
pub mod tree;
pub mod validate;
mod xml;

pub use codes::{CodeTables, DocumentType, Table};
pub use document::{
    BillingReference, Document, Format, Totals, WireDocument, prepare_for_submission,
};
pub use error::{CodesError, ParseError};
pub use rules::Environment;
pub use validate::{Category, Finding, Report, Severity, ValidationContext, validate};
pub use xml::canonicalize;

#![doc = include_str!("../README.md")]
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
pub use document::{
    BillingReference, Document, Format, Totals, WireDocument, prepare_for_submission,
};
pub use error::{CodesError, ParseError};
pub use validate::{Category, Finding, Report, Severity, ValidationContext, validate};
pub use xml::canonicalize;

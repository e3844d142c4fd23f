//! Conversions between the records and what the tables hold, shared by the repositories.
//!
//! Timestamps are truncated to microseconds (what PostgreSQL keeps) and bound as
//! `DateTime<Utc>`: PostgreSQL stores `timestamptz`; SQLite stores RFC 3339 text, whose
//! fixed `+00:00` offset and 0/3/6-digit fractions keep text order equal to time order.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use invois_clock::Clock;

use super::{DocumentFormat, StoreError};
use crate::document_errors::DocumentError;

/// Rows (or ids) per multi-row statement: a few binds each keeps a statement well inside
/// SQLite's 32,766 and PostgreSQL's 65,535 bind limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;

/// The longest lease or delay honoured; longer ones are clamped so that stored times stay
/// ordinary dates.
const MAX_SPAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub(crate) fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The clock's time as stored.
pub(crate) fn now(clock: &Clock) -> DateTime<Utc> {
    truncate(clock.now())
}

pub(crate) fn later(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    let span = chrono::Duration::from_std(span.min(MAX_SPAN)).unwrap_or(chrono::Duration::zero());
    truncate(now + span)
}

/// `onbehalfof` is stored as `''` when absent so that equality works alike in both dialects.
pub(crate) fn obo_to_db(obo: &Option<String>) -> String {
    obo.clone().unwrap_or_default()
}

pub(crate) fn obo_from_db(obo: String) -> Option<String> {
    if obo.is_empty() { None } else { Some(obo) }
}

pub(crate) fn clamp_limit(limit: u32, default: u32, max: u32) -> i64 {
    i64::from(if limit == 0 { default } else { limit.min(max) })
}

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

/// Parses a stored state name with `parse` (the enum's own), or names the bad value.
pub(crate) fn parse_state<T>(
    what: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| corrupt(what, text))
}

/// Reads JSON stored as text.
pub(crate) fn json_from_db(what: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, &e.to_string()))
}

/// A document's errors as stored: NULL when there are none, else the JSON list.
pub(crate) fn errors_to_db(errors: &[DocumentError]) -> Option<String> {
    if errors.is_empty() {
        return None;
    }
    // A list of plain strings and enums always serialises.
    serde_json::to_string(errors).ok()
}

/// Reads a document's stored errors, including the shapes earlier versions wrote.
pub(crate) fn errors_from_db(
    text: Option<String>,
    format: DocumentFormat,
) -> Result<Vec<DocumentError>, StoreError> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => Ok(DocumentError::read_stored(
            json_from_db("document errors", &t)?,
            format,
        )),
    }
}

//! MyInvois' time windows (README §4.2, §7), each written once here and read by the client,
//! the sandbox and the gateway. The one window that belongs to a document rather than to an
//! API call, how old an issue date may be at submission (CF011/TP004), is
//! `invois_model::codes::ISSUE_WINDOW`: the model validates it and depends on nothing.

use chrono::TimeDelta;

/// The issuer may cancel a document this long after it became Valid (the
/// `cancellationDuration` workflow parameter).
pub const CANCELLATION_WINDOW: TimeDelta = TimeDelta::hours(72);

/// The receiver may ask, once, to reject a document this long after it became Valid (the
/// `rejectionDuration` workflow parameter).
pub const REJECTION_WINDOW: TimeDelta = TimeDelta::hours(72);

/// An identical submission payload from the same taxpayer within this window is refused as
/// `DuplicateSubmission` (422).
pub const DUPLICATE_SUBMISSION_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// A document with the same type, version, issue date-time, internal id and issuer TIN as a
/// Valid one received within this window is Invalid (Duplicate Document validator).
pub const DUPLICATE_DOCUMENT_WINDOW: TimeDelta = TimeDelta::hours(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_match_the_published_values() {
        assert_eq!(CANCELLATION_WINDOW.num_hours(), 72);
        assert_eq!(REJECTION_WINDOW.num_hours(), 72);
        assert_eq!(DUPLICATE_SUBMISSION_WINDOW.num_seconds(), 600);
        assert_eq!(DUPLICATE_DOCUMENT_WINDOW.num_hours(), 2);
    }
}

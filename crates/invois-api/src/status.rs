//! Statuses, parsed without regard to case or spaces (README §4.2: the documented
//! `in progress`/`partially valid` and the PascalCase `InProgress`/`PartiallyValid` seen in
//! community code are both accepted).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A document's status (FAQ integer codes 1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentStatus {
    /// Passed the initial structure checks; asynchronous validation pending.
    Submitted,
    /// Validated.
    Valid,
    /// Failed validation.
    Invalid,
    /// Cancelled by the issuer.
    Cancelled,
}

impl DocumentStatus {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Submitted => "Submitted",
            DocumentStatus::Valid => "Valid",
            DocumentStatus::Invalid => "Invalid",
            DocumentStatus::Cancelled => "Cancelled",
        }
    }

    /// Parses a status in any casing or spacing.
    pub fn parse(s: &str) -> Option<DocumentStatus> {
        match normalise(s).as_str() {
            "submitted" | "1" => Some(DocumentStatus::Submitted),
            "valid" | "2" => Some(DocumentStatus::Valid),
            "invalid" | "3" => Some(DocumentStatus::Invalid),
            "cancelled" | "canceled" | "4" => Some(DocumentStatus::Cancelled),
            _ => None,
        }
    }

    /// Whether no further validation outcome will change.
    pub const fn is_final(self) -> bool {
        !matches!(self, DocumentStatus::Submitted)
    }
}

/// The `overallStatus` of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverallStatus {
    /// Some documents are still being validated.
    InProgress,
    /// Every document is valid.
    Valid,
    /// Some valid, some invalid.
    PartiallyValid,
    /// Every document is invalid.
    Invalid,
}

impl OverallStatus {
    /// The documented wire spelling (`in progress`, `valid`, `partially valid`, `invalid`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OverallStatus::InProgress => "in progress",
            OverallStatus::Valid => "valid",
            OverallStatus::PartiallyValid => "partially valid",
            OverallStatus::Invalid => "invalid",
        }
    }

    /// Parses a status in any casing or spacing.
    pub fn parse(s: &str) -> Option<OverallStatus> {
        match normalise(s).as_str() {
            "inprogress" => Some(OverallStatus::InProgress),
            "valid" => Some(OverallStatus::Valid),
            "partiallyvalid" => Some(OverallStatus::PartiallyValid),
            "invalid" => Some(OverallStatus::Invalid),
            _ => None,
        }
    }

    /// Derives the overall status from the documents' statuses. Cancelled documents had been
    /// valid, so they count as valid.
    pub fn from_documents(statuses: impl IntoIterator<Item = DocumentStatus>) -> OverallStatus {
        let (mut valid, mut invalid, mut pending) = (0usize, 0usize, 0usize);
        for s in statuses {
            match s {
                DocumentStatus::Submitted => pending += 1,
                DocumentStatus::Valid | DocumentStatus::Cancelled => valid += 1,
                DocumentStatus::Invalid => invalid += 1,
            }
        }
        match (pending, valid, invalid) {
            (p, _, _) if p > 0 => OverallStatus::InProgress,
            (_, 0, i) if i > 0 => OverallStatus::Invalid,
            (_, _, 0) => OverallStatus::Valid,
            _ => OverallStatus::PartiallyValid,
        }
    }
}

macro_rules! serde_via_str {
    ($t:ty, $what:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                <$t>::parse(&raw).ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("unknown ", $what, " `{}`"), raw))
                })
            }
        }
    };
}

serde_via_str!(DocumentStatus, "document status");
serde_via_str!(OverallStatus, "overall status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_status_parses_every_spelling() {
        for s in [
            "in progress",
            "InProgress",
            "IN PROGRESS",
            "in_progress",
            " inprogress ",
        ] {
            assert_eq!(
                OverallStatus::parse(s),
                Some(OverallStatus::InProgress),
                "{s}"
            );
        }
        for s in ["partially valid", "PartiallyValid", "Partially Valid"] {
            assert_eq!(
                OverallStatus::parse(s),
                Some(OverallStatus::PartiallyValid),
                "{s}"
            );
        }
        assert_eq!(OverallStatus::parse("done"), None);
    }

    #[test]
    fn overall_status_follows_documents() {
        use DocumentStatus::*;
        assert_eq!(
            OverallStatus::from_documents([Valid, Submitted]),
            OverallStatus::InProgress
        );
        assert_eq!(
            OverallStatus::from_documents([Valid, Cancelled]),
            OverallStatus::Valid
        );
        assert_eq!(
            OverallStatus::from_documents([Invalid, Invalid]),
            OverallStatus::Invalid
        );
        assert_eq!(
            OverallStatus::from_documents([Valid, Invalid]),
            OverallStatus::PartiallyValid
        );
    }

    #[test]
    fn document_status_round_trips() {
        for s in [
            DocumentStatus::Submitted,
            DocumentStatus::Valid,
            DocumentStatus::Invalid,
            DocumentStatus::Cancelled,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<DocumentStatus>(&json).unwrap(), s);
        }
        assert_eq!(DocumentStatus::parse("VALID"), Some(DocumentStatus::Valid));
    }
}

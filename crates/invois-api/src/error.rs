//! The two error shapes MyInvois returns (README §3.3 and §3.4), and one parser for both.
//!
//! 1. HTTP-level errors and `rejectedDocuments[].error` use an OData-like object:
//!    `{"error":{"code","message","target","details":[...]}}` ([`ApiErrorBody`]).
//! 2. Validation steps (Get Document Details) use the documented shape:
//!    `{"propertyName","propertyPath","errorCode","error","errorMs","innerError":[...]}`
//!    ([`StepError`]).
//!
//! The identity service answers with RFC 6749 bodies instead ([`crate::identity::TokenError`]).

use serde::{Deserialize, Serialize};

use crate::identity::TokenError;

/// The HTTP-level error envelope: `{"error": ApiError}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiError,
}

/// One OData-like error, also used for its own `details` and for rejected documents.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// Machine code, e.g. `BadStructure`, `ValidationError`, `DuplicateSubmission`, or `"3"`
    /// inside rejected documents.
    pub code: Option<String>,
    /// English message.
    pub message: Option<String>,
    /// What the error is about (a parameter name, or a document's code number).
    pub target: Option<String>,
    /// JSON path of the offending value, where the server gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_path: Option<String>,
    /// Nested errors.
    pub details: Option<Vec<ApiError>>,
}

impl ApiError {
    /// An error with a code and message and nothing else.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            code: Some(code.into()),
            message: Some(message.into()),
            ..ApiError::default()
        }
    }

    /// Sets the target.
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the property path.
    #[must_use]
    pub fn with_property_path(mut self, path: impl Into<String>) -> Self {
        self.property_path = Some(path.into());
        self
    }

    /// Appends a detail.
    #[must_use]
    pub fn with_detail(mut self, detail: ApiError) -> Self {
        self.details.get_or_insert_with(Vec::new).push(detail);
        self
    }

    /// Wraps this error in its envelope.
    pub fn into_body(self) -> ApiErrorBody {
        ApiErrorBody { error: self }
    }
}

/// A validation-step error (README §3.4 shape 2), as Get Document Details returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepError {
    /// Name of the offending field, e.g. `DigestValue`.
    pub property_name: Option<String>,
    /// Path to it.
    pub property_path: Option<String>,
    /// Code, e.g. `Error21` for a step, `DS320` for an inner signature error.
    pub error_code: Option<String>,
    /// English message.
    pub error: Option<String>,
    /// Malay message. Documented as `errorMS`; real responses spell it `errorMs`.
    #[serde(alias = "errorMS")]
    pub error_ms: Option<String>,
    /// Optional subject of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested errors, same shape.
    pub inner_error: Option<Vec<StepError>>,
}

/// Any error body MyInvois or its identity service returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorEnvelope {
    /// The OData-like shape.
    Api(ApiError),
    /// The documented step shape, wrapped in `{"error": ...}` as §3.3 shows it.
    Step(StepError),
    /// An RFC 6749 token error.
    OAuth(TokenError),
}

impl ErrorEnvelope {
    /// Parses either envelope from a response body. Returns `None` for an empty body or one
    /// that is neither shape (for example the HTML maintenance page); callers keep the raw
    /// bytes for that case.
    pub fn parse(body: &[u8]) -> Option<ErrorEnvelope> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error")?;
        match error {
            serde_json::Value::String(_) => serde_json::from_value::<TokenError>(value.clone())
                .ok()
                .map(ErrorEnvelope::OAuth),
            serde_json::Value::Object(map) => {
                if map.contains_key("errorCode") || map.contains_key("innerError") {
                    serde_json::from_value(error.clone())
                        .ok()
                        .map(ErrorEnvelope::Step)
                } else {
                    serde_json::from_value(error.clone())
                        .ok()
                        .map(ErrorEnvelope::Api)
                }
            }
            _ => None,
        }
    }

    /// The machine code, whichever shape carried it.
    pub fn code(&self) -> Option<&str> {
        match self {
            ErrorEnvelope::Api(e) => e.code.as_deref(),
            ErrorEnvelope::Step(e) => e.error_code.as_deref(),
            ErrorEnvelope::OAuth(e) => Some(e.error.as_str()),
        }
    }

    /// The English message, whichever shape carried it.
    pub fn message(&self) -> Option<&str> {
        match self {
            ErrorEnvelope::Api(e) => e.message.as_deref().or_else(|| {
                e.details
                    .as_ref()
                    .and_then(|d| d.first())
                    .and_then(|d| d.message.as_deref())
            }),
            ErrorEnvelope::Step(e) => e.error.as_deref(),
            ErrorEnvelope::OAuth(e) => e.error_description.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_observed_odata_shape() {
        let body = br#"{"error":{"code":"ValidationError","message":null,"target":null,"details":[{"code":"submission","target":"submission","message":"Invalid structured submission. For more details contact the System Admin using Correlation Id: 0HNDA9M25MBJ0:00000025"}]}}"#;
        let env = ErrorEnvelope::parse(body).expect("parses");
        assert_eq!(env.code(), Some("ValidationError"));
        assert!(
            env.message()
                .unwrap()
                .starts_with("Invalid structured submission")
        );
        let ErrorEnvelope::Api(e) = env else {
            panic!("wrong shape")
        };
        assert_eq!(e.details.unwrap()[0].target.as_deref(), Some("submission"));
    }

    #[test]
    fn parses_the_documented_step_shape_with_either_malay_spelling() {
        for key in ["errorMs", "errorMS"] {
            let body = format!(
                r#"{{"error":{{"propertyName":null,"propertyPath":null,"errorCode":"Error03","error":"Duplicated Submission Validator","{key}":"Pengesah","innerError":[{{"propertyName":"document","propertyPath":null,"errorCode":"DS302","error":"dup","{key}":"x","innerError":null}}]}}}}"#
            );
            let env = ErrorEnvelope::parse(body.as_bytes()).expect("parses");
            let ErrorEnvelope::Step(step) = env else {
                panic!("wrong shape")
            };
            assert_eq!(step.error_code.as_deref(), Some("Error03"));
            assert_eq!(step.error_ms.as_deref(), Some("Pengesah"));
            assert_eq!(
                step.inner_error.unwrap()[0].error_code.as_deref(),
                Some("DS302")
            );
        }
    }

    #[test]
    fn parses_oauth_errors() {
        let env = ErrorEnvelope::parse(
            br#"{"error":"invalid_client","error_description":"User blocked"}"#,
        )
        .expect("parses");
        assert_eq!(env.code(), Some("invalid_client"));
        assert_eq!(env.message(), Some("User blocked"));
    }

    #[test]
    fn html_and_empty_bodies_are_not_envelopes() {
        assert_eq!(ErrorEnvelope::parse(b""), None);
        assert_eq!(ErrorEnvelope::parse(b"<html>Maintenance</html>"), None);
        assert_eq!(ErrorEnvelope::parse(br#"{"error":42}"#), None);
    }

    #[test]
    fn serialises_step_errors_with_real_spelling() {
        let s = serde_json::to_string(&StepError {
            error_code: Some("DS320".into()),
            error_ms: Some("x".into()),
            ..StepError::default()
        })
        .unwrap();
        assert!(s.contains(r#""errorMs":"x""#), "{s}");
        assert!(s.contains(r#""innerError":null"#), "{s}");
        assert!(!s.contains("target"), "{s}");
    }
}

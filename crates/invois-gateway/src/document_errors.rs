//! The one shape of a document's errors, whatever stage found them.
//!
//! Local validation, signing, MyInvois' synchronous rejection at submission, a refused
//! submission and MyInvois' asynchronous validation steps all end as a flat list of
//! [`DocumentError`]s. The store keeps that list, and the ERP API, the webhooks, the dashboard,
//! the archive and `invois submit` show it as it is, so none of them reads a key by name.
//!
//! MyInvois nests its errors (a step's error holds `innerError`s; a rejection holds
//! `details`). Only the innermost carry a field path, so the list keeps those leaves.

use invois_api::documents::ValidationStep;
use invois_api::error::{ApiError, StepError};
use invois_model::validate::Finding;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{DocumentFormat, DocumentRecord, DocumentState};

/// Which stage of a document's path produced an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStage {
    /// Reading the document at preparation (unreadable, too large).
    Intake,
    /// The gateway's own validation before sending.
    LocalValidation,
    /// Signing before sending.
    Signing,
    /// MyInvois' answer to the submission (synchronous rejection or refusal).
    Submission,
    /// MyInvois' validation steps, after it accepted the submission.
    Validation,
}

/// One error in a document's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentError {
    /// Which stage found it.
    pub stage: ErrorStage,
    /// The code: invois's own for local findings and gateway reasons, MyInvois' otherwise.
    pub code: String,
    /// LHDN's code, where LHDN published or returned one.
    pub lhdn_code: Option<String>,
    /// The field, as a path into the document, when the error names one.
    pub field: Option<String>,
    /// What is wrong, in English.
    pub message: String,
}

impl std::fmt::Display for DocumentError {
    /// `FIELD: MESSAGE [CODE]`, the form `invois submit` and the dashboard print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{} [{}]", self.message, self.code)
    }
}

/// Codes for what the gateway itself decides, where no validator has a code.
pub mod codes {
    /// The stored bytes could not be read as a document.
    pub const UNREADABLE: &str = "unreadable";
    /// Larger than MyInvois accepts.
    pub const TOO_LARGE: &str = "too_large";
    /// A version that must be signed, with no certificate to sign it.
    pub const UNSIGNED: &str = "unsigned";
    /// Signing failed.
    pub const SIGNING_FAILED: &str = "signing_failed";
    /// MyInvois accepted the submission but listed the document nowhere.
    pub const NOT_LISTED: &str = "not_listed";
    /// MyInvois found the document invalid and its details could not be fetched.
    pub const DETAILS_UNAVAILABLE: &str = "details_unavailable";
    /// MyInvois refused the whole submission.
    pub const REFUSED: &str = "refused";
    /// Written by an earlier version in a shape this one does not know.
    pub const UNKNOWN: &str = "unknown";
}

impl DocumentError {
    /// An error the gateway decided, with no field.
    pub fn new(stage: ErrorStage, code: &str, message: impl Into<String>) -> DocumentError {
        DocumentError {
            stage,
            code: code.to_owned(),
            lhdn_code: None,
            field: None,
            message: message.into(),
        }
    }

    /// A local validation finding, with its path in the document's own format, and LHDN's
    /// code when LHDN publishes the rule, so the ERP sees the code MyInvois would have
    /// answered with.
    pub fn from_finding(f: &Finding, format: DocumentFormat) -> DocumentError {
        let field = match format {
            DocumentFormat::Json => &f.json_path,
            DocumentFormat::Xml => &f.xpath,
        };
        let message = match &f.value {
            Some(v) => format!("{} (value: {v:?})", f.rule),
            None => f.rule.clone(),
        };
        DocumentError {
            stage: ErrorStage::LocalValidation,
            code: f.code.to_owned(),
            lhdn_code: f.lhdn_code.map(str::to_owned),
            field: Some(field.clone()),
            message,
        }
    }

    /// MyInvois' rejection of one document at submission, one entry per innermost detail.
    pub fn from_rejection(error: &ApiError) -> Vec<DocumentError> {
        let mut out = Vec::new();
        rejection_leaves(error, &mut out);
        out
    }

    /// MyInvois' failed validation steps, one entry per innermost error.
    pub fn from_steps(steps: &[ValidationStep]) -> Vec<DocumentError> {
        let mut out = Vec::new();
        for step in steps {
            if let Some(e) = &step.error {
                step_leaves(&step.name, e, &mut out);
            }
        }
        out
    }

    /// A refusal of the whole submission (HTTP status and MyInvois' error, if any).
    pub fn refused(code: Option<&str>, message: impl Into<String>) -> DocumentError {
        DocumentError {
            stage: ErrorStage::Submission,
            code: code.unwrap_or(codes::REFUSED).to_owned(),
            lhdn_code: code.map(str::to_owned),
            field: None,
            message: message.into(),
        }
    }

    /// A document's errors to show. A `failed` document stored before refusals were listed
    /// has only its last error, which stands in.
    pub fn of(doc: &DocumentRecord) -> Vec<DocumentError> {
        match (&doc.last_error, doc.state) {
            (Some(e), DocumentState::Failed) if doc.errors.is_empty() => {
                vec![DocumentError::refused(None, e.clone())]
            }
            _ => doc.errors.clone(),
        }
    }

    /// Reads a stored list. Rows written before the list was typed hold one of four JSON
    /// shapes; those are flattened the way `invois submit` used to, so an upgraded gateway
    /// still shows why an old document failed.
    pub fn read_stored(value: Value, format: DocumentFormat) -> Vec<DocumentError> {
        match serde_json::from_value::<Vec<DocumentError>>(value.clone()) {
            Ok(list) => list,
            Err(_) => legacy(&value, format),
        }
    }
}

fn rejection_leaves(e: &ApiError, out: &mut Vec<DocumentError>) {
    if let Some(details) = e.details.as_ref().filter(|d| !d.is_empty()) {
        for d in details {
            rejection_leaves(d, out);
        }
        return;
    }
    out.push(DocumentError {
        stage: ErrorStage::Submission,
        code: e.code.clone().unwrap_or_else(|| codes::REFUSED.to_owned()),
        lhdn_code: e.code.clone(),
        field: e.property_path.clone().or_else(|| e.target.clone()),
        message: e
            .message
            .clone()
            .unwrap_or_else(|| "rejected at submission".to_owned()),
    });
}

fn step_leaves(step: &str, e: &StepError, out: &mut Vec<DocumentError>) {
    if let Some(inner) = e.inner_error.as_ref().filter(|i| !i.is_empty()) {
        for i in inner {
            step_leaves(step, i, out);
        }
        return;
    }
    let text = e
        .error
        .as_deref()
        .unwrap_or("invalid")
        .trim_end_matches('.');
    out.push(DocumentError {
        stage: ErrorStage::Validation,
        code: e.error_code.clone().unwrap_or_else(|| step.to_owned()),
        lhdn_code: e.error_code.clone(),
        field: e.property_path.clone().or_else(|| e.property_name.clone()),
        message: format!("{text} ({step})"),
    });
}

/// The shapes of earlier versions: `{error, findings}` (preparation), `{error, submission}`
/// (rejection), `{error, validationSteps}` or `{error, detailsError}` (validation).
fn legacy(value: &Value, format: DocumentFormat) -> Vec<DocumentError> {
    let mut out = Vec::new();
    let path_key = match format {
        DocumentFormat::Xml => "xpath",
        DocumentFormat::Json => "jsonPath",
    };
    for f in value["findings"].as_array().into_iter().flatten() {
        out.push(DocumentError {
            stage: ErrorStage::LocalValidation,
            code: f["code"].as_str().unwrap_or(codes::UNKNOWN).to_owned(),
            lhdn_code: None,
            field: f[path_key].as_str().map(str::to_owned),
            message: f["rule"].as_str().unwrap_or_default().to_owned(),
        });
    }
    if let Ok(steps) =
        serde_json::from_value::<Vec<ValidationStep>>(value["validationSteps"].clone())
    {
        out.extend(DocumentError::from_steps(&steps));
    }
    if let Ok(e) = serde_json::from_value::<ApiError>(value["submission"].clone()) {
        rejection_leaves(&e, &mut out);
    }
    if out.is_empty() {
        let message = match value["error"].as_str() {
            Some(m) => m.to_owned(),
            None => value.to_string(),
        };
        out.push(DocumentError::new(
            ErrorStage::Validation,
            codes::UNKNOWN,
            message,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_step_errors_keep_their_paths() {
        let steps: Vec<ValidationStep> = serde_json::from_value(json!([{
            "name": "Step08", "status": "Invalid",
            "error": {"errorCode": "Error21", "error": "Signature invalid", "innerError": [
                {"errorCode": "DS320", "error": "Digest mismatch.", "propertyPath": "$.UBLExtensions"},
                {"errorCode": "DS311", "error": "TIN differs", "propertyName": "TIN"},
            ]}
        }]))
        .unwrap();
        let out = DocumentError::from_steps(&steps);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].to_string(),
            "$.UBLExtensions: Digest mismatch (Step08) [DS320]"
        );
        assert_eq!(out[0].lhdn_code.as_deref(), Some("DS320"));
        assert_eq!(out[1].field.as_deref(), Some("TIN"));
        assert!(out.iter().all(|e| e.stage == ErrorStage::Validation));
    }

    #[test]
    fn submission_rejections_are_flattened_to_their_details() {
        let e: ApiError = serde_json::from_value(json!({"code": "ValidationError",
            "message": "bad", "details": [
            {"code": "CF321", "message": "Issue date too old", "propertyPath": "Invoice.IssueDate"}
        ]}))
        .unwrap();
        let out = DocumentError::from_rejection(&e);
        assert_eq!(
            out,
            vec![DocumentError {
                stage: ErrorStage::Submission,
                code: "CF321".to_owned(),
                lhdn_code: Some("CF321".to_owned()),
                field: Some("Invoice.IssueDate".to_owned()),
                message: "Issue date too old".to_owned(),
            }]
        );
    }

    #[test]
    fn the_typed_list_round_trips_in_snake_case() {
        let list = vec![DocumentError::refused(
            Some("IncorrectSubmitter"),
            "HTTP 403",
        )];
        let value = serde_json::to_value(&list).unwrap();
        assert_eq!(value[0]["lhdn_code"], "IncorrectSubmitter");
        assert_eq!(value[0]["stage"], "submission");
        assert_eq!(
            DocumentError::read_stored(value, DocumentFormat::Json),
            list
        );
    }

    #[test]
    fn rows_of_earlier_versions_are_still_read() {
        let prepared = json!({"error": "local validation found 1 error(s)", "findings": [
            {"code": "CF005", "jsonPath": "$.Invoice[0].X", "xpath": "/Invoice/X", "rule": "TIN form"}
        ]});
        let xml = DocumentError::read_stored(prepared.clone(), DocumentFormat::Xml);
        assert_eq!(xml[0].field.as_deref(), Some("/Invoice/X"));
        assert_eq!(xml[0].code, "CF005");
        let json = DocumentError::read_stored(prepared, DocumentFormat::Json);
        assert_eq!(json[0].field.as_deref(), Some("$.Invoice[0].X"));

        let details =
            json!({"error": "MyInvois found the document invalid", "detailsError": "503"});
        let out = DocumentError::read_stored(details, DocumentFormat::Json);
        assert_eq!(out[0].message, "MyInvois found the document invalid");
        assert_eq!(out[0].code, codes::UNKNOWN);
    }
}

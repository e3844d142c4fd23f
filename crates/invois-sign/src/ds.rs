//! DS3xx signature error codes with their official English texts.
//!
//! The codes and texts come from PosDigicert's *Document Signature Creation Guideline*, as
//! reproduced in §9.5 of the project's MyInvois reference. The two that LHDN's own signature
//! validator page also lists (DS301, DS303) are read from `invois_api::validator_errors`, so
//! each text is written once. MyInvois reports them as inner errors of the
//! `Step08-Document Signature Validator` validation step.

use serde::Serialize;

/// Validation step name under which MyInvois reports signature errors (§3.4).
pub const SIGNATURE_STEP_NAME: &str = "Step08-Document Signature Validator";

/// Every DS code with its official English text.
pub const DS_CODES: &[(&str, &str)] = &[
    ("DS300", "Failed to parse input document."),
    ("DS301", invois_api::validator_errors::DS301.text),
    ("DS302", "Signature count not equal to 1."),
    ("DS303", invois_api::validator_errors::DS303.text),
    ("DS304", "Signing time is not within validity period."),
    ("DS305", "X509Certificate is not valid."),
    ("DS306", "SERIALNUMBER is empty in the certificate."),
    ("DS307", "OI is empty in the certificate."),
    (
        "DS308",
        "Incompatible certificate for the Submission Channel. Organizational certificate cannot be used for Portal/Mobile submission.",
    ),
    (
        "DS309",
        "Incompatible certificate for the Submission Channel. Personal certificate cannot be used for ERP submission.",
    ),
    (
        "DS310",
        "Signer of invoice doesn't match the submitter. UserLoginId doesn't match with the SERIALNUMBER.",
    ),
    (
        "DS311",
        "Signer of invoice doesn't match the submitter. TIN doesn't match with the OI.",
    ),
    (
        "DS312",
        "Submitter registration/identity number doesn't match with the certificate SERIALNUMBER.",
    ),
    (
        "DS313",
        "Certificate digest algorithm doesn't match expected value of http://www.w3.org/2001/04/xmlenc#sha256.",
    ),
    (
        "DS314",
        "Document digest method doesn't match expected value of http://www.w3.org/2001/04/xmlenc#sha256.",
    ),
    (
        "DS315",
        "Signed properties digest method doesn't match expected value of http://www.w3.org/2001/04/xmlenc#sha256.",
    ),
    (
        "DS316",
        "Signature method doesn't match supported method of http://www.w3.org/2001/04/xmldsig-more#rsa-sha256.",
    ),
    ("DS317", "Certificate digest is missing or empty."),
    (
        "DS318",
        "Certificate digest value doesn't match digest calculated value from provided certificate.",
    ),
    (
        "DS319",
        "Signed properties section digest is missing or empty.",
    ),
    (
        "DS320",
        "Signed properties digest value doesn't match digest calculated value from provided signed properties section where ID is id-xades-signed-props.",
    ),
    ("DS321", "Document digest is missing or empty."),
    (
        "DS322",
        "Document digest value doesn't match digest calculated value from existing document content. Document content might have changed.",
    ),
    (
        "DS323",
        "Signature method used doesn't match the expected value of urn:oasis:names:specification:ubl:dsig:enveloped:xades.",
    ),
    (
        "DS324",
        "Certificate X509IssuerName is missing or empty in the signed properties section.",
    ),
    (
        "DS325",
        "Certificate X509SerialNumber is missing or empty in the signed properties section.",
    ),
    (
        "DS326",
        "Certificate X509IssuerName doesn't match the X509IssuerName value provided in the signed properties section.",
    ),
    (
        "DS327",
        "Cannot parse the certificate X509SerialNumber value from the signed properties section.",
    ),
    (
        "DS328",
        "Certificate X509SerialNumber doesn't match the X509SerialNumber value provided in the signed properties section.",
    ),
    (
        "DS329",
        "Certificate is not valid according to the chain of trust validation or has been issued by an untrusted certificate authority.",
    ),
    ("DS330", "TIN provided cannot be found in Core system."),
    ("DS331", "Failed to parse input document."),
    (
        "DS332",
        "Document signature value is empty or doesn't exist.",
    ),
    (
        "DS333",
        "Document signature value is not a valid signature of the document digest using the public key of the certificate provided.",
    ),
    (
        "DS334",
        "Certificate cannot be used to validate the document signature value.",
    ),
    ("DS335", "Failed to validate the document signature value."),
    (
        "DS336",
        "Unable to parse Signing Time. Signing Time format is invalid.",
    ),
    (
        "DS337",
        "Unable to parse certificate SERIALNUMBER. Certificate SERIALNUMBER is invalid.",
    ),
    (
        "DS338",
        "Unable to parse certificate OI. Certificate OI is invalid.",
    ),
];

/// The official English text of a DS code, if the code is known.
pub fn official_text(code: &str) -> Option<&'static str> {
    DS_CODES.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
}

/// One reason a signature or certificate would be rejected, with the DS code MyInvois uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DsFinding {
    /// The DS code, e.g. `DS322`.
    pub code: &'static str,
    /// The official English text of the code.
    pub error: &'static str,
    /// Name of the offending property (`DigestValue`, `X509IssuerName`, ...), as MyInvois
    /// reports it in `propertyName`.
    pub property_name: Option<String>,
    /// Where the property is, in MyInvois's `propertyPath` form (README §3.4), the same for
    /// JSON and XML documents:
    /// `Invoice.UBLExtensions.UBLExtensions.ExtensionContent…Reference@Type="…#SignedProperties".DigestValue`.
    pub property_path: Option<String>,
    /// What exactly is wrong in this document, with the values involved.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl DsFinding {
    pub(crate) fn new(
        code: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            code,
            error: official_text(code).unwrap_or("Unknown signature error."),
            property_name: None,
            property_path: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// Names the property, located by `xpath` (an XPath into the XML form).
    pub(crate) fn at(mut self, name: &str, xpath: impl AsRef<str>) -> Self {
        self.property_name = Some(name.to_owned());
        self.property_path = Some(invois_api::property_path::from_xpath(xpath.as_ref()));
        self
    }

    /// This finding as an inner error in the validation-step shape of §3.4
    /// (`propertyName`, `propertyPath`, `errorCode`, `error`, `errorMs`, `innerError`).
    /// MyInvois fills `errorMs` with a Malay text we do not have; the English text is used.
    pub fn to_validation_error(&self) -> serde_json::Value {
        serde_json::json!({
            "propertyName": self.property_name,
            "propertyPath": self.property_path,
            "errorCode": self.code,
            "error": self.error,
            "errorMs": self.error,
            "innerError": null,
        })
    }
}

impl std::fmt::Display for DsFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

/// The `error` object of a validation step holding these findings, in the shape MyInvois
/// returns (§3.4): an outer `Error21 Document Signature Validator` with one inner error per
/// finding. Returns `None` when there are no findings (the step is `Valid`).
pub fn validation_step_error(findings: &[DsFinding]) -> Option<serde_json::Value> {
    if findings.is_empty() {
        return None;
    }
    Some(serde_json::json!({
        "propertyName": null,
        "propertyPath": null,
        "errorCode": "Error21",
        "error": "Document Signature Validator",
        "errorMs": "Document Signature Validator",
        "innerError": findings.iter().map(DsFinding::to_validation_error).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_complete_and_unique() {
        assert_eq!(DS_CODES.len(), 39);
        for (i, (c, _)) in DS_CODES.iter().enumerate() {
            assert_eq!(*c, format!("DS{}", 300 + i));
        }
        assert_eq!(
            official_text("DS326"),
            Some(
                "Certificate X509IssuerName doesn't match the X509IssuerName value provided in the signed properties section."
            )
        );
    }

    #[test]
    fn validation_step_shape() {
        let f = DsFinding::new("DS320", "m", "f").at("DigestValue", "/Invoice/ds:X");
        let v = validation_step_error(&[f]).unwrap();
        assert_eq!(v["innerError"][0]["errorCode"], "DS320");
        assert_eq!(v["innerError"][0]["propertyName"], "DigestValue");
        assert!(validation_step_error(&[]).is_none());
    }
}

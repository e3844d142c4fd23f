#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

mod cert;
mod ds;
mod error;
mod json;
mod jsonread;
mod jsonscan;
mod secret;
mod signer;
mod testca;
mod trust;
mod verify;
mod xml;
mod xmldom;
mod xmlscan;
mod xmlsig;

use chrono::{DateTime, Utc};

pub use cert::{Certificate, CertificateInfo, DOCUMENT_SIGNING_EKU, ProfileExpectation};
pub use ds::{DS_CODES, DsFinding, SIGNATURE_STEP_NAME, official_text, validation_step_error};
pub use error::SignError;
pub use json::sign_json;
pub use secret::{Password, SecretKeyDer};
pub use signer::Signer;
pub use testca::{
    IssuedCertificate, Pkcs12Cipher, TestCa, TestCertRequest, issue_test_certificate, write_pkcs12,
};
pub use trust::TrustStore;
pub use verify::{Check, CheckKind, CheckStatus, Verification, VerifyOptions};
pub use xml::sign_xml;

/// Document format: the one enum, from `invois-api`.
pub use invois_api::Format;

/// Sign a document in either format.
pub fn sign(
    bytes: &[u8],
    format: Format,
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    match format {
        Format::Json => sign_json(bytes, signer, signing_time),
        Format::Xml => sign_xml(bytes, signer, signing_time),
    }
}

/// Verify a document. `format: None` detects it. With `trust: None` the chain of trust is
/// not checked (reported as not checked); the certificate's TIN/BRN are compared with the
/// document issuer's (supplier for types 01-04, buyer for self-billed 11-14).
pub fn verify(bytes: &[u8], format: Option<Format>, trust: Option<&TrustStore>) -> Verification {
    let opts = VerifyOptions {
        trust: trust.cloned(),
        ..VerifyOptions::default()
    };
    verify_with(bytes, format, &opts)
}

/// Verify a document with explicit options.
pub fn verify_with(bytes: &[u8], format: Option<Format>, opts: &VerifyOptions) -> Verification {
    let Some(format) = format.or_else(|| Format::detect(bytes)) else {
        return verify::parse_failure(Format::Json, "neither JSON nor XML".to_owned());
    };
    let extracted = match format {
        Format::Json => json::extract(bytes),
        Format::Xml => xml::extract(bytes),
    };
    match extracted {
        Ok(ex) => verify::run(format, &ex, opts),
        Err(message) => verify::parse_failure(format, message),
    }
}

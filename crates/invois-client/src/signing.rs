//! Signing on the way out.
//!
//! Versions 1.1 and 1.3 must carry a signature (README §6.1); 1.0 and 1.2 must not (the schema
//! refuses the blocks). With a certificate configured ([`crate::ClientBuilder::signer`]),
//! [`Client::document_submission`] signs a 1.1/1.3 document that has no signature yet, at the
//! client clock's time, and only then computes the base64 and hash, so that what is hashed is
//! exactly what is sent. A document that is already signed is sent unchanged: re-signing it
//! would silently replace the ERP's own signature.

use invois_api::submission::{DocumentFormat, DocumentSubmission, WireDocument};

use crate::client::Client;
use crate::submissions::document_submission;

/// Why a document could not be made ready for submission.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The bytes are not a MyInvois JSON or XML document.
    #[error("the document could not be read: {0}")]
    Parse(#[from] invois_model::ParseError),
    /// The document has no `cbc:ID` and no code number was given.
    #[error("the document has no ID (cbc:ID), and no code number was given")]
    MissingId,
    /// A 1.1/1.3 document is unsigned and the client has no certificate.
    #[error(
        "version {version} documents must be signed, this one is not, and no certificate is \
         configured: configure one (ClientBuilder::signer) or sign the document first"
    )]
    SignatureRequired {
        /// The document's `listVersionID`.
        version: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(#[from] invois_sign::SignError),
}

/// Whether a document version carries a signature (README §6.1). The rule itself is
/// [`invois_model::codes::version_is_signed`]; this trims what a document's attribute may
/// carry around it.
pub fn version_needs_signature(version: &str) -> bool {
    invois_model::codes::version_is_signed(version.trim())
}

impl Client {
    /// Makes a [`DocumentSubmission`] from a document's bytes: signs it first when it needs a
    /// signature and a certificate is configured (see the module docs), then encodes the exact
    /// bytes. `code_number` defaults to the document's `cbc:ID`.
    pub fn document_submission(
        &self,
        bytes: &[u8],
        code_number: Option<&str>,
    ) -> Result<DocumentSubmission, PrepareError> {
        let document = invois_model::Document::parse(bytes)?;
        let code_number = match code_number {
            Some(c) => c.to_owned(),
            None => document.id().ok_or(PrepareError::MissingId)?.to_owned(),
        };
        // `parse` succeeded, so the format was detected; JSON is the only other answer.
        let format = DocumentFormat::detect(bytes).unwrap_or(DocumentFormat::Json);
        let version = document.version().unwrap_or_default();
        if !version_needs_signature(version) || document.has_signature() {
            return Ok(document_submission(format, bytes, code_number));
        }
        let Some(signer) = &self.inner.signer else {
            return Err(PrepareError::SignatureRequired {
                version: version.to_owned(),
            });
        };
        let signed = invois_sign::sign(bytes, format, signer, self.inner.clock.now())?;
        Ok(WireDocument::new(format, signed).submission(code_number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_11_and_13_are_signed() {
        assert!(version_needs_signature("1.1"));
        assert!(version_needs_signature("1.3"));
        assert!(!version_needs_signature("1.0"));
        assert!(!version_needs_signature("1.2"));
        assert!(!version_needs_signature(""));
    }
}

//! The error type of this crate.

/// Why a signing or loading operation failed. Verification problems are not errors: they are
/// [`crate::DsFinding`]s in a [`crate::Verification`].
///
/// No variant ever carries a password or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A certificate could not be parsed or is unusable.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A private key could not be parsed or does not match the certificate.
    #[error("private key: {0}")]
    PrivateKey(String),
    /// A PKCS#12 file could not be opened (wrong password, unsupported cipher, no key).
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    /// The document to sign could not be parsed or has no place for a signature.
    #[error("document: {0}")]
    Document(String),
    /// The RSA signing operation failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A test certificate could not be issued.
    #[error("issuing a test certificate: {0}")]
    Issue(String),
}

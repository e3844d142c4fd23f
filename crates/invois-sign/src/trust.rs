//! Trust anchors for the chain check (DS329).

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::cert::Certificate;
use crate::error::SignError;

/// How many (certificate, issuer) pairs whose signature verified are kept.
const VERIFIED_SIZE: usize = 64;

/// (certificate digest, issuer digest) of the pairs whose signature verified last, most recent
/// first. A signer's certificate comes with every document it signs, and checking its issuer's
/// signature (ECDSA or RSA) cost more than verifying the document's own.
static VERIFIED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Whether `ca`'s key signed `cert`. The answer depends on the two certificates' bytes alone,
/// which their digests name, so a kept answer is the same answer.
fn issued_by(cert: &Certificate, ca: &Certificate) -> bool {
    let key = (cert.digest().to_owned(), ca.digest().to_owned());
    let mut verified = VERIFIED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(i) = verified.iter().position(|k| *k == key) {
        let k = verified.remove(i);
        verified.insert(0, k);
        return true;
    }
    drop(verified);
    let (Ok((_, c)), Ok((_, issuer))) = (
        x509_parser::parse_x509_certificate(cert.der()),
        x509_parser::parse_x509_certificate(ca.der()),
    ) else {
        return false;
    };
    if c.verify_signature(Some(issuer.public_key())).is_err() {
        return false;
    }
    let mut verified = VERIFIED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    verified.insert(0, key);
    verified.truncate(VERIFIED_SIZE);
    true
}

/// Certificates trusted to issue signing certificates. Any certificate in the store is an
/// anchor (a root or an intermediate): a signing certificate is trusted when one of them
/// issued it (names match and the signature verifies) or when it is itself in the store.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
}

impl TrustStore {
    /// A store with no anchors (everything is untrusted).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A store holding the well-known invois test CA (see [`crate::TestCa::well_known`]):
    /// the default of the invois sandbox.
    pub fn test_ca() -> Result<Self, SignError> {
        let mut s = Self::empty();
        s.add(crate::testca::TestCa::well_known()?.certificate().clone());
        Ok(s)
    }

    /// Add an anchor.
    pub fn add(&mut self, cert: Certificate) {
        if !self.anchors.contains(&cert) {
            self.anchors.push(cert);
        }
    }

    /// Add every certificate of a PEM file (or one DER certificate); returns how many.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, SignError> {
        let certs = if pem.windows(11).any(|w| w == b"-----BEGIN ") {
            Certificate::all_from_pem(pem)?
        } else {
            vec![Certificate::from_der(pem)?]
        };
        let n = certs.len();
        for c in certs {
            self.add(c);
        }
        Ok(n)
    }

    /// The anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// Check that `leaf` was issued by an anchor (and, when `at` is given, that the anchor
    /// was valid then). The error says why not.
    pub fn verify_chain(
        &self,
        leaf: &Certificate,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        if self.anchors.iter().any(|a| a.der() == leaf.der()) {
            return Ok(());
        }
        let mut named = false;
        for a in &self.anchors {
            if a.subject_der() != leaf.issuer_der() {
                continue;
            }
            named = true;
            if !issued_by(leaf, a) {
                continue;
            }
            if let Some(t) = at {
                let i = a.inspect();
                if t < i.not_before || t > i.not_after {
                    return Err(format!(
                        "the issuing CA {:?} was not valid at the signing time",
                        i.subject
                    ));
                }
            }
            return Ok(());
        }
        if named {
            Err(format!(
                "a trusted CA is named {:?} but its key did not sign this certificate",
                leaf.inspect().issuer
            ))
        } else {
            Err(format!(
                "its issuer {:?} is not in the trust store",
                leaf.inspect().issuer
            ))
        }
    }
}

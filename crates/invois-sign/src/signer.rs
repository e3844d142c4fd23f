//! The signing identity: a certificate and its RSA private key.

// AWS-LC rather than ring: its RSA private-key operation is about twice as fast here (it has
// AVX-512 IFMA code for 2048-bit moduli), and one RSA signature is most of what signing a
// document costs (docs/performance.md).
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};

use crate::cert::Certificate;
use crate::error::SignError;
use crate::secret::{Password, SecretKeyDer};

/// A certificate with its private key, ready to sign documents.
///
/// `Debug` shows the certificate only; the key never appears in output, logs or errors.
pub struct Signer {
    certificate: Certificate,
    chain: Vec<Certificate>,
    key: RsaKeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("certificate", &self.certificate)
            .field("chain", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Read one DER TLV: (tag, content, rest). Only what PKCS#8 unwrapping needs.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut l = 0usize;
        for &b in &rest[..n] {
            l = (l << 8) | b as usize;
        }
        rest = &rest[n..];
        l
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (a strict PKCS#8 parser may
/// refuse optional attributes that PKCS#12 tools add; the PKCS#1 form always loads).
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<&[u8]> {
    let (tag, seq, _) = der_next(der)?;
    if tag != 0x30 {
        return None;
    }
    let (t1, _version, rest) = der_next(seq)?;
    let (t2, _alg, rest) = der_next(rest)?;
    let (t3, key, _) = der_next(rest)?;
    (t1 == 0x02 && t2 == 0x30 && t3 == 0x04).then_some(key)
}

fn rsa_from_pkcs8(der: &[u8]) -> Result<RsaKeyPair, SignError> {
    if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
        return Ok(k);
    }
    let pkcs1 = pkcs1_from_pkcs8(der)
        .ok_or_else(|| SignError::PrivateKey("not a PKCS#8 private key".to_owned()))?;
    RsaKeyPair::from_der(pkcs1).map_err(|e| {
        SignError::PrivateKey(format!("not a usable RSA key ({e}); MyInvois requires RSA"))
    })
}

impl Signer {
    /// Build a signer from a certificate and a PKCS#8 DER private key.
    pub fn from_parts(
        certificate: Certificate,
        key_pkcs8: &SecretKeyDer,
        chain: Vec<Certificate>,
    ) -> Result<Self, SignError> {
        let key = rsa_from_pkcs8(key_pkcs8.expose())?;
        Self::new(certificate, key, chain)
    }

    fn new(
        certificate: Certificate,
        key: RsaKeyPair,
        chain: Vec<Certificate>,
    ) -> Result<Self, SignError> {
        let cert_key = certificate.rsa_public_key().ok_or_else(|| {
            SignError::Certificate(
                "the certificate key is not RSA; MyInvois requires RSA".to_owned(),
            )
        })?;
        if cert_key != key.public_key().as_ref() {
            return Err(SignError::PrivateKey(
                "the private key does not belong to the certificate".to_owned(),
            ));
        }
        Ok(Self {
            certificate,
            chain,
            key,
        })
    }

    /// Load a PKCS#12 (.p12/.pfx) file: modern (PBES2/AES) or legacy (RC2-40, 3DES) ciphers.
    /// The leaf certificate is the one whose public key matches the private key; the other
    /// certificates are kept as the chain.
    pub fn from_pkcs12(bytes: &[u8], password: &Password) -> Result<Self, SignError> {
        let archive =
            p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password.expose()).map_err(|e| {
                // The crate's messages name the failing step (MAC, decryption, ASN.1), never the password.
                SignError::Pkcs12(format!("cannot open the file ({e}); check the password"))
            })?;
        let mut certs = Vec::new();
        for bag in &archive.certs {
            certs.push(Certificate::from_der(bag.cert.as_der())?);
        }
        let mut last_err = SignError::Pkcs12("the file holds no private key".to_owned());
        for bag in &archive.keys {
            let key = match rsa_from_pkcs8(bag.key.as_der()) {
                Ok(k) => k,
                Err(e) => {
                    last_err = e;
                    continue;
                }
            };
            let idx = certs.iter().position(|c| {
                c.rsa_public_key()
                    .is_some_and(|p| p == key.public_key().as_ref())
            });
            match idx {
                Some(i) => {
                    let leaf = certs.remove(i);
                    return Self::new(leaf, key, certs);
                }
                None => {
                    last_err = SignError::Pkcs12(
                        "no certificate in the file matches its private key".to_owned(),
                    )
                }
            }
        }
        Err(last_err)
    }

    /// Load a PEM (or DER) certificate and a PEM private key (`PRIVATE KEY` PKCS#8 or
    /// `RSA PRIVATE KEY` PKCS#1). Encrypted PEM keys are not supported: use PKCS#12.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, SignError> {
        let certs = if cert.windows(11).any(|w| w == b"-----BEGIN ") {
            Certificate::all_from_pem(cert)?
        } else {
            vec![Certificate::from_der(cert)?]
        };
        let mut certs = certs.into_iter();
        let leaf = certs
            .next()
            .ok_or_else(|| SignError::Certificate("no certificate in the input".to_owned()))?;
        let mut found = None;
        for block in x509_parser::pem::Pem::iter_from_buffer(key) {
            let block = block
                .map_err(|_| SignError::PrivateKey("the key file is not valid PEM".to_owned()))?;
            match block.label.as_str() {
                "PRIVATE KEY" => {
                    found = Some(rsa_from_pkcs8(&block.contents)?);
                    break;
                }
                "RSA PRIVATE KEY" => {
                    found = Some(RsaKeyPair::from_der(&block.contents).map_err(|e| {
                        SignError::PrivateKey(format!("not a usable RSA key ({e})"))
                    })?);
                    break;
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(SignError::PrivateKey(
                        "encrypted PEM keys are not supported; use the PKCS#12 file or an unencrypted key".to_owned(),
                    ));
                }
                _ => {}
            }
        }
        let key = found.ok_or_else(|| {
            SignError::PrivateKey("no PRIVATE KEY block in the key file".to_owned())
        })?;
        Self::new(leaf, key, certs.collect())
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Other certificates that came with it (intermediates, root), if any.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The SHA-256 of `data` (the DocDigest) and the RSA PKCS#1 v1.5 SHA-256 signature of
    /// `data`, signed from that digest: hashing the document once instead of twice, which
    /// for a large document costs more than the rest of the signature block.
    pub(crate) fn digest_and_sign(&self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SignError> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign_digest(&RSA_PKCS1_SHA256, &digest, &mut sig)
            .map_err(|_| SignError::Signing("RSA signing failed".to_owned()))?;
        Ok((digest.as_ref().to_vec(), sig))
    }
}

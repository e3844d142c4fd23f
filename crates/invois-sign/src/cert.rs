//! X.509 certificates: parsing, the MyInvois profile (§9.1), and the issuer-name rendering that
//! MyInvois compares against `X509IssuerName` (the cause of DS326).

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::der_parser::asn1_rs::ToDer as _;
use x509_parser::prelude::*;

use crate::ds::DsFinding;
use crate::error::SignError;

/// OID of the Document Signing extended key usage that MyInvois requires.
pub const DOCUMENT_SIGNING_EKU: &str = "1.3.6.1.4.1.311.10.3.12";
const OID_ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
const OID_SERIAL_NUMBER: &str = "2.5.4.5";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// A parsed X.509 certificate (DER kept as given: its SHA-256 is the CertDigest).
///
/// Cheap to clone: verification hands the same certificate around, and keeps the last few it
/// parsed (see [`Certificate::from_base64_memo`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate(Arc<Parsed>);

/// What a certificate's DER says that signing and verification read, read once.
struct Parsed {
    der: Vec<u8>,
    info: CertificateInfo,
    /// The PKCS#1 `RSAPublicKey` when the key is RSA.
    rsa_key: Option<Vec<u8>>,
    /// That key parsed for verifying (`None` when it does not parse). aws-lc works out a
    /// key's Montgomery form on its first use and keeps it with the parsed key, so one kept
    /// here (a signer's certificate is memoised, see [`MEMO`]) spares every later
    /// verification that work, a division of the square of the modulus.
    rsa_verifier: Option<ParsedPublicKey>,
    /// The DER of the issuer and subject names, for matching a certificate to its issuer.
    issuer_der: Vec<u8>,
    subject_der: Vec<u8>,
}

/// Everything else is read from the DER, so the DER alone says whether two are the same.
impl PartialEq for Parsed {
    fn eq(&self, other: &Parsed) -> bool {
        self.der == other.der
    }
}

impl Eq for Parsed {}

/// How many parsed certificates verification keeps: a signer's certificate is the same on
/// every document, and parsing it cost as much as the rest of verifying one.
const MEMO_SIZE: usize = 16;

/// The certificates parsed last, most recent first, each with the Base64 text it was read
/// from.
static MEMO: Mutex<Vec<(String, Certificate)>> = Mutex::new(Vec::new());

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.0.info.subject)
            .field("issuer", &self.0.info.issuer)
            .field("serial_number", &self.0.info.serial_number)
            .finish_non_exhaustive()
    }
}

/// What `invois cert inspect` shows, and what the profile checks read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CertificateInfo {
    /// Subject rendered like the issuer (see [`CertificateInfo::issuer`]).
    pub subject: String,
    /// Issuer rendered exactly as MyInvois compares `X509IssuerName`.
    pub issuer: String,
    /// Serial number in decimal, as `X509SerialNumber` carries it.
    pub serial_number: String,
    /// organizationIdentifier (2.5.4.97): must be the issuer's TIN.
    pub tin: Option<String>,
    /// serialNumber subject attribute (2.5.4.5): must be the issuer's BRN.
    pub brn: Option<String>,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Key usages by name (`digitalSignature`, `nonRepudiation`, ...).
    pub key_usages: Vec<String>,
    /// Extended key usages as dotted OIDs.
    pub extended_key_usages: Vec<String>,
    /// Public key algorithm and size, e.g. `RSA 2048`.
    pub public_key: String,
    /// True for a CA certificate (basicConstraints cA).
    pub is_ca: bool,
    /// Base64 SHA-256 of the DER: the value of `CertDigest`.
    pub digest: String,
}

impl CertificateInfo {
    /// Key usage includes Non-Repudiation (contentCommitment).
    pub fn has_non_repudiation(&self) -> bool {
        self.key_usages.iter().any(|k| k == "nonRepudiation")
    }

    /// Extended key usage includes Document Signing (1.3.6.1.4.1.311.10.3.12).
    pub fn has_document_signing(&self) -> bool {
        self.extended_key_usages
            .iter()
            .any(|k| k == DOCUMENT_SIGNING_EKU)
    }
}

/// Name of an attribute type as .NET's `X500DistinguishedName.Name` prints it (MyInvois runs
/// on .NET). Unknown types print as `OID.<dotted>`.
fn attr_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN".to_owned(),
        "2.5.4.6" => "C".to_owned(),
        "2.5.4.7" => "L".to_owned(),
        "2.5.4.8" => "S".to_owned(),
        "2.5.4.9" => "STREET".to_owned(),
        "2.5.4.10" => "O".to_owned(),
        "2.5.4.11" => "OU".to_owned(),
        "2.5.4.12" => "T".to_owned(),
        "2.5.4.4" => "SN".to_owned(),
        "2.5.4.42" => "G".to_owned(),
        "2.5.4.43" => "I".to_owned(),
        "2.5.4.5" => "SERIALNUMBER".to_owned(),
        "1.2.840.113549.1.9.1" => "E".to_owned(),
        "0.9.2342.19200300.100.1.25" => "DC".to_owned(),
        other => format!("OID.{other}"),
    }
}

fn attr_value(atv: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = atv.as_str() {
        return s.to_owned();
    }
    let raw = atv.as_slice();
    // BMPString (UTF-16BE) and T61/Teletex strings appear in older CA names.
    match atv.attr_value().tag() {
        x509_parser::der_parser::asn1_rs::Tag::BmpString => {
            let units: Vec<u16> = raw
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        x509_parser::der_parser::asn1_rs::Tag::TeletexString => {
            raw.iter().map(|&b| b as char).collect()
        }
        _ => {
            let mut s = String::from("#");
            for b in atv.attr_value().to_der_vec().unwrap_or_default() {
                s.push_str(&format!("{b:02X}"));
            }
            s
        }
    }
}

/// Quote a value the way `X500DistinguishedName.Name` does: values with special characters or
/// surrounding spaces are put in double quotes, with embedded quotes doubled.
fn quote(v: &str) -> String {
    let special = v.is_empty()
        || v.starts_with(' ')
        || v.ends_with(' ')
        || v.chars()
            .any(|c| matches!(c, ',' | '+' | '=' | '"' | '\n' | '<' | '>' | '#' | ';'));
    if special {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// Render a distinguished name the way MyInvois compares `X509IssuerName`: RDNs in reverse of
/// their DER order (most specific first), joined by `", "`, multi-valued RDNs joined by
/// `" + "`. For the names of both official sample certificates this equals RFC 4514 with
/// `", "` separators (§9.3 [VER]): `CN=Trial LHDNM Sub CA V1, OU=..., O=LHDNM, C=MY`.
pub(crate) fn render_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    format!(
                        "{}={}",
                        attr_name(&atv.attr_type().to_id_string()),
                        quote(&attr_value(atv))
                    )
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

fn first_attr(name: &X509Name<'_>, oid: &str) -> Option<String> {
    name.iter_attributes()
        .find(|a| a.attr_type().to_id_string() == oid)
        .map(attr_value)
}

impl Certificate {
    /// Parse a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, SignError> {
        let (rest, cert) = parse_x509_certificate(der)
            .map_err(|e| SignError::Certificate(format!("not a DER X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(SignError::Certificate(
                "trailing bytes after the certificate".to_owned(),
            ));
        }
        let spki = cert.public_key();
        let rsa_key = (spki.algorithm.algorithm.to_id_string() == OID_RSA)
            .then(|| spki.subject_public_key.data.to_vec());
        let rsa_verifier = rsa_key
            .as_ref()
            .and_then(|k| ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, k).ok());
        Ok(Self(Arc::new(Parsed {
            der: der.to_vec(),
            info: info_of(&cert, der)?,
            rsa_key,
            rsa_verifier,
            issuer_der: cert.issuer().as_raw().to_vec(),
            subject_der: cert.subject().as_raw().to_vec(),
        })))
    }

    /// A certificate as a signed document embeds it, Base64 text (`decode` reads it), answered
    /// from the last few certificates read when the text is one of theirs: the parse is a
    /// function of the text alone, so a kept one is the same answer, and neither decoding
    /// nor parsing is done again. `None` when the text is not Base64.
    pub(crate) fn from_base64_memo(
        text: &str,
        decode: impl FnOnce(&str) -> Option<Vec<u8>>,
    ) -> Option<Result<Self, SignError>> {
        let mut memo = MEMO
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = memo.iter().position(|(t, _)| t == text) {
            let kept = memo.remove(i);
            let c = kept.1.clone();
            memo.insert(0, kept);
            return Some(Ok(c));
        }
        drop(memo);
        let c = match Self::from_der(&decode(text)?) {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let mut memo = MEMO
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        memo.insert(0, (text.to_owned(), c.clone()));
        memo.truncate(MEMO_SIZE);
        Some(Ok(c))
    }

    /// Parse the first `CERTIFICATE` block of a PEM file.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SignError> {
        Self::all_from_pem(pem)?.into_iter().next().ok_or_else(|| {
            SignError::Certificate("no CERTIFICATE block in the PEM input".to_owned())
        })
    }

    /// Parse every `CERTIFICATE` block of a PEM file.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, SignError> {
        let mut out = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| SignError::Certificate(format!("bad PEM: {e}")))?;
            if block.label == "CERTIFICATE" {
                out.push(Self::from_der(&block.contents)?);
            }
        }
        Ok(out)
    }

    /// Load a certificate file, DER or PEM.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignError> {
        if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(bytes)
        } else {
            Self::from_der(bytes)
        }
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }

    /// The certificate as PEM text.
    pub fn to_pem(&self) -> String {
        let b64 = B64.encode(&self.0.der);
        let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(&String::from_utf8_lossy(chunk));
            s.push('\n');
        }
        s.push_str("-----END CERTIFICATE-----\n");
        s
    }

    /// Subject, TIN, BRN, validity, key usages and the issuer string.
    pub fn inspect(&self) -> &CertificateInfo {
        &self.0.info
    }

    /// Base64 SHA-256 of the DER (CertDigest).
    pub fn digest(&self) -> &str {
        &self.0.info.digest
    }

    /// The RSA public key (PKCS#1 `RSAPublicKey` DER) if the key is RSA.
    pub(crate) fn rsa_public_key(&self) -> Option<&[u8]> {
        self.0.rsa_key.as_deref()
    }

    /// Whether `sig` is an RSA PKCS#1 v1.5 SHA-256 signature, by this certificate's key, of
    /// the data whose SHA-256 is `digest` (verification has hashed it already, for
    /// DocDigest). False when the key is not RSA or does not parse.
    pub(crate) fn verifies_rsa_digest(
        &self,
        digest: &aws_lc_rs::digest::Digest,
        sig: &[u8],
    ) -> bool {
        self.0
            .rsa_verifier
            .as_ref()
            .is_some_and(|key| key.verify_digest_sig(digest, sig).is_ok())
    }

    /// The DER of the issuer name.
    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.0.issuer_der
    }

    /// The DER of the subject name.
    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.0.subject_der
    }

    /// Check the MyInvois certificate profile (§9.1) against the expected issuer identity at
    /// the given time. Each failure carries the DS code MyInvois would report:
    /// DS307/DS338 organizationIdentifier empty/invalid, DS311 organizationIdentifier ≠ TIN,
    /// DS306/DS337 serialNumber empty/invalid, DS312 serialNumber ≠ BRN, DS334 key usage
    /// without Non-Repudiation or extended key usage without Document Signing (the
    /// certificate cannot be used for document signatures), DS304 not valid at `at`.
    pub fn check_profile(&self, expected: &ProfileExpectation) -> Vec<DsFinding> {
        let mut out = Vec::new();
        let i = &self.0.info;
        match i.tin.as_deref().map(str::trim) {
            None | Some("") => out.push(DsFinding::new(
                "DS307",
                "the certificate subject has no organizationIdentifier (2.5.4.97) attribute",
                "use an organisation certificate from an MCMC-licensed CA whose subject carries organizationIdentifier = your TIN",
            )),
            Some(oi) if !oi.chars().all(|c| c.is_ascii_alphanumeric()) => out.push(DsFinding::new(
                "DS338",
                format!("the certificate organizationIdentifier {oi:?} is not a TIN"),
                "ask the CA to reissue the certificate with organizationIdentifier set to the bare TIN",
            )),
            Some(oi) => {
                if let Some(tin) = expected.tin.as_deref()
                    && !oi.eq_ignore_ascii_case(tin.trim())
                {
                    {
                        out.push(DsFinding::new(
                            "DS311",
                            format!("the certificate organizationIdentifier is {oi:?} but the document issuer TIN is {tin:?}"),
                            "sign with the certificate issued to the document issuer (or, as an intermediary, with your own certificate and your own TIN as submitter); check the issuer party's TIN",
                        ));
                    }
                }
            }
        }
        match i.brn.as_deref().map(str::trim) {
            None | Some("") => out.push(DsFinding::new(
                "DS306",
                "the certificate subject has no serialNumber (2.5.4.5) attribute",
                "use a certificate whose subject carries serialNumber = your business registration number (BRN)",
            )),
            Some(sn) if sn.chars().any(|c| c.is_control()) => out.push(DsFinding::new(
                "DS337",
                format!("the certificate serialNumber {sn:?} contains control characters"),
                "ask the CA to reissue the certificate with serialNumber set to the BRN",
            )),
            Some(sn) => {
                if let Some(brn) = expected.brn.as_deref()
                    && !sn.eq_ignore_ascii_case(brn.trim())
                {
                    {
                        out.push(DsFinding::new(
                            "DS312",
                            format!("the certificate serialNumber is {sn:?} but the document issuer's registration number is {brn:?}"),
                            "make the issuer party's BRN (PartyIdentification schemeID BRN) equal the certificate serialNumber, or sign with the certificate issued to that business",
                        ));
                    }
                }
            }
        }
        if !i.has_non_repudiation() {
            out.push(DsFinding::new(
                "DS334",
                format!("the certificate key usage ({}) does not include Non-Repudiation", display_list(&i.key_usages)),
                "request a document-signing certificate with the Non-Repudiation (contentCommitment) key usage",
            ));
        }
        if !i.has_document_signing() {
            out.push(DsFinding::new(
                "DS334",
                format!(
                    "the certificate extended key usage ({}) does not include Document Signing {DOCUMENT_SIGNING_EKU}",
                    display_list(&i.extended_key_usages)
                ),
                "request a certificate with the Document Signing extended key usage (1.3.6.1.4.1.311.10.3.12)",
            ));
        }
        if let Some(at) = expected.at
            && (at < i.not_before || at > i.not_after)
        {
            {
                out.push(DsFinding::new(
                    "DS304",
                    format!(
                        "{} is outside the certificate validity {} .. {}",
                        at.format("%Y-%m-%dT%H:%M:%SZ"),
                        i.not_before.format("%Y-%m-%dT%H:%M:%SZ"),
                        i.not_after.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                    "renew the certificate, or sign with a signing time inside its validity period",
                ));
            }
        }
        out
    }
}

fn display_list(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// What the profile check compares the certificate with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileExpectation {
    /// The issuer's TIN (organizationIdentifier must equal it).
    pub tin: Option<String>,
    /// The issuer's BRN (serialNumber must equal it).
    pub brn: Option<String>,
    /// The time the certificate must be valid at (the signing time).
    pub at: Option<DateTime<Utc>>,
}

impl ProfileExpectation {
    /// Expect this TIN and BRN, valid at `at`.
    pub fn new(tin: Option<String>, brn: Option<String>, at: Option<DateTime<Utc>>) -> Self {
        Self { tin, brn, at }
    }
}

fn ts(t: &ASN1Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
}

fn info_of(cert: &X509Certificate<'_>, der: &[u8]) -> Result<CertificateInfo, SignError> {
    let mut key_usages = Vec::new();
    if let Ok(Some(ku)) = cert.key_usage() {
        let k = ku.value;
        let names = [
            (k.digital_signature(), "digitalSignature"),
            (k.non_repudiation(), "nonRepudiation"),
            (k.key_encipherment(), "keyEncipherment"),
            (k.data_encipherment(), "dataEncipherment"),
            (k.key_agreement(), "keyAgreement"),
            (k.key_cert_sign(), "keyCertSign"),
            (k.crl_sign(), "cRLSign"),
            (k.encipher_only(), "encipherOnly"),
            (k.decipher_only(), "decipherOnly"),
        ];
        key_usages = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| (*n).to_owned())
            .collect();
    }
    let mut extended_key_usages = Vec::new();
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        let e = eku.value;
        let known = [
            (e.server_auth, "1.3.6.1.5.5.7.3.1"),
            (e.client_auth, "1.3.6.1.5.5.7.3.2"),
            (e.code_signing, "1.3.6.1.5.5.7.3.3"),
            (e.email_protection, "1.3.6.1.5.5.7.3.4"),
            (e.time_stamping, "1.3.6.1.5.5.7.3.8"),
            (e.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
            (e.any, "2.5.29.37.0"),
        ];
        extended_key_usages = known
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, o)| (*o).to_owned())
            .collect();
        extended_key_usages.extend(e.other.iter().map(|o| o.to_id_string()));
    }
    let spki = cert.public_key();
    let public_key = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => format!("EC {}", ec.key_size()),
        _ => spki.algorithm.algorithm.to_id_string(),
    };
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    Ok(CertificateInfo {
        subject: render_name(cert.subject()),
        issuer: render_name(cert.issuer()),
        serial_number: cert.serial.to_str_radix(10),
        tin: first_attr(cert.subject(), OID_ORGANIZATION_IDENTIFIER),
        brn: first_attr(cert.subject(), OID_SERIAL_NUMBER),
        not_before: ts(&cert.validity().not_before),
        not_after: ts(&cert.validity().not_after),
        key_usages,
        extended_key_usages,
        public_key,
        is_ca,
        digest: B64.encode(Sha256::digest(der)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_read_again_from_its_base64_is_the_one_kept() {
        let issued = crate::TestCa::well_known()
            .unwrap()
            .issue(&crate::TestCertRequest::new("C1234567890", "202001234567"))
            .unwrap();
        let text = B64.encode(issued.certificate.der());
        let mut decoded = 0;
        let mut decode = |t: &str| {
            decoded += 1;
            crate::verify::decode_b64(t)
        };
        let first = Certificate::from_base64_memo(&text, &mut decode)
            .unwrap()
            .unwrap();
        let again = Certificate::from_base64_memo(&text, &mut decode)
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&first.0, &again.0), "the kept certificate");
        assert!(decoded <= 1, "decoded {decoded} times");
        assert_eq!(first, issued.certificate);
        assert!(
            first.0.rsa_verifier.is_some(),
            "an RSA key parsed for verifying"
        );

        // The same DER in other text (line breaks) is read on its own, and is equal.
        let wrapped = format!("{}\n{}", &text[..64], &text[64..]);
        let other = Certificate::from_base64_memo(&wrapped, crate::verify::decode_b64)
            .unwrap()
            .unwrap();
        assert_eq!(other, first);
        // Text that is not Base64 is not a certificate, and says so.
        assert!(Certificate::from_base64_memo("not base64!", crate::verify::decode_b64).is_none());
        let not_der = B64.encode(b"not a certificate");
        assert!(matches!(
            Certificate::from_base64_memo(&not_der, crate::verify::decode_b64),
            Some(Err(SignError::Certificate(_)))
        ));
    }

    #[test]
    fn quoting_follows_dotnet() {
        assert_eq!(quote("LHDNM"), "LHDNM");
        assert_eq!(quote("Foo, Inc."), "\"Foo, Inc.\"");
        assert_eq!(quote("a\"b="), "\"a\"\"b=\"");
        assert_eq!(quote("http://x.my"), "http://x.my");
    }
}

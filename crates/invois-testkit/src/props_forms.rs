//! Signed XML documents whose PropsDigest is computed the way third-party signers compute it,
//! for tests that check a verifier accepts what MyInvois accepts.
//!
//! Each form is hand-written here from the document's values, as those signers build the
//! string they hash, so the tests do not borrow `invois-sign`'s own serialiser to check it.
//! The forms differ from exclusive C14N of `xades:SignedProperties` (which invois wrote until
//! Dec 2026) only in where the namespace declarations go and how an empty element is written;
//! invois now signs in [`PropsForm::LhdnSamples`], so that form of an invois signature is the
//! signature itself.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// A way of writing `xades:SignedProperties` before hashing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropsForm {
    /// The klsheng PHP SDK's string: the minified block with each element's namespace
    /// declaration after its attributes (`Id` before `xmlns:xades`, `Algorithm` before
    /// `xmlns:ds`), empty elements as `<a></a>`. Not exclusive C14N, whose declarations come
    /// first.
    Klsheng,
    /// What LHDN's own XML samples were signed over: the klsheng layout with the empty
    /// `ds:DigestMethod` written `<ds:DigestMethod Algorithm="…" xmlns:ds="…" />`.
    LhdnSamples,
    /// The klsheng string indented as in a pretty-printed document: a form no known signer
    /// hashes, for the negative case.
    Indented,
}

impl PropsForm {
    /// The string a signer of this form hashes, for these signed-property values (as written
    /// in the document, so already XML-escaped).
    pub fn signed_properties(self, values: &SignedValues) -> String {
        let SignedValues {
            signing_time,
            cert_digest,
            issuer_name,
            serial_number,
        } = values;
        let digest_method = match self {
            PropsForm::LhdnSamples => {
                format!(r#"<ds:DigestMethod Algorithm="{SHA256}" xmlns:ds="{DS}" />"#)
            }
            _ => format!(
                r#"<ds:DigestMethod Algorithm="{SHA256}" xmlns:ds="{DS}"></ds:DigestMethod>"#
            ),
        };
        let (nl, indent) = match self {
            PropsForm::Indented => ("\n", "  "),
            _ => ("", ""),
        };
        let i = |n: usize| format!("{nl}{}", indent.repeat(n));
        let declares = format!(r#" Id="id-xades-signed-props" xmlns:xades="{XADES}""#);
        [
            format!("<xades:SignedProperties{declares}>"),
            format!("{}<xades:SignedSignatureProperties>", i(1)),
            format!(
                "{}<xades:SigningTime>{signing_time}</xades:SigningTime>",
                i(2)
            ),
            format!("{}<xades:SigningCertificate>", i(2)),
            format!("{}<xades:Cert>", i(3)),
            format!("{}<xades:CertDigest>", i(4)),
            format!("{}{digest_method}", i(5)),
            format!(
                r#"{}<ds:DigestValue xmlns:ds="{DS}">{cert_digest}</ds:DigestValue>"#,
                i(5)
            ),
            format!("{}</xades:CertDigest>", i(4)),
            format!("{}<xades:IssuerSerial>", i(4)),
            format!(
                r#"{}<ds:X509IssuerName xmlns:ds="{DS}">{issuer_name}</ds:X509IssuerName>"#,
                i(5)
            ),
            format!(
                r#"{}<ds:X509SerialNumber xmlns:ds="{DS}">{serial_number}</ds:X509SerialNumber>"#,
                i(5)
            ),
            format!("{}</xades:IssuerSerial>", i(4)),
            format!("{}</xades:Cert>", i(3)),
            format!("{}</xades:SigningCertificate>", i(2)),
            format!("{}</xades:SignedSignatureProperties>", i(1)),
            format!("{nl}</xades:SignedProperties>"),
        ]
        .concat()
    }
}

/// The values inside `xades:SignedProperties`, as written in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedValues {
    /// `xades:SigningTime`.
    pub signing_time: String,
    /// `xades:CertDigest/ds:DigestValue`.
    pub cert_digest: String,
    /// `ds:X509IssuerName`.
    pub issuer_name: String,
    /// `ds:X509SerialNumber`.
    pub serial_number: String,
}

impl SignedValues {
    /// The values of a signed XML document (one signature, the `xades`/`ds` prefixes).
    pub fn of(signed: &str) -> Option<SignedValues> {
        let properties = between(
            signed,
            "<xades:SignedProperties",
            "</xades:SignedProperties>",
        )?;
        let cert_digest = between(properties, "<xades:CertDigest>", "</xades:CertDigest>")?;
        Some(SignedValues {
            signing_time: text_of(properties, "xades:SigningTime")?,
            cert_digest: text_of(cert_digest, "ds:DigestValue")?,
            issuer_name: text_of(properties, "ds:X509IssuerName")?,
            serial_number: text_of(properties, "ds:X509SerialNumber")?,
        })
    }
}

/// `signed` (a signed XML document) with the PropsDigest of its signed-properties reference
/// replaced by the SHA-256 of its signed properties written in `form`. The document digest and
/// signature value do not cover the signature block, so they stay valid.
///
/// # Panics
///
/// When `signed` is not a signed XML document in the layout invois and LHDN write.
pub fn with_props_digest(signed: &str, form: PropsForm) -> String {
    let values = SignedValues::of(signed).expect("a signed XML document");
    let digest = STANDARD.encode(Sha256::digest(form.signed_properties(&values).as_bytes()));
    let reference = signed
        .find(r##"URI="#id-xades-signed-props""##)
        .expect("the signed-properties reference");
    let open = "<ds:DigestValue>";
    let start = reference + signed[reference..].find(open).expect("its DigestValue") + open.len();
    let end = start + signed[start..].find("</ds:DigestValue>").expect("closed");
    format!("{}{digest}{}", &signed[..start], &signed[end..])
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)?;
    let end = start + s[start..].find(close)?;
    Some(&s[start..end])
}

fn text_of(s: &str, element: &str) -> Option<String> {
    let open = format!("<{element}>");
    let start = s.find(&open)? + open.len();
    let end = start + s[start..].find(&format!("</{element}>"))?;
    Some(s[start..end].to_owned())
}

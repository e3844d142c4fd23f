//! Verification: the checks of §9.3-§9.4, each failure mapped to its DS code (§9.5).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Format;
use crate::cert::{Certificate, CertificateInfo, ProfileExpectation};
use crate::ds::DsFinding;
use crate::trust::TrustStore;

pub(crate) const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(crate) const RSA_SHA256_URI: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(crate) const XADES_METHOD: &str = "urn:oasis:names:specification:ubl:dsig:enveloped:xades";

/// Which party issued the document, and so whose identity the certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct IssuerParty {
    /// `AccountingSupplierParty` (types 01-04) or `AccountingCustomerParty` (11-14).
    pub(crate) role: &'static str,
    pub(crate) tin: Option<String>,
    /// The registration identifier: BRN, else NRIC/PASSPORT/ARMY, with its scheme.
    pub(crate) id: Option<(String, String)>,
}

/// The signature fields read from a document (JSON or XML), before any check.
#[derive(Debug, Clone, Default)]
pub(crate) struct SigFields {
    pub(crate) signature_method: Option<String>,
    pub(crate) doc_digest_method: Option<String>,
    pub(crate) doc_digest: Option<String>,
    pub(crate) props_digest_method: Option<String>,
    pub(crate) props_digest: Option<String>,
    pub(crate) signature_value: Option<String>,
    pub(crate) certificate: Option<String>,
    pub(crate) cert_digest_method: Option<String>,
    pub(crate) cert_digest: Option<String>,
    pub(crate) signing_time: Option<String>,
    pub(crate) issuer_name: Option<String>,
    pub(crate) serial_number: Option<String>,
    /// Candidate canonical forms of the signed properties. JSON has one; XML has several
    /// because the official XML sample's convention is unknown (§9.3).
    pub(crate) props_forms: Vec<PropsForm>,
}

/// One form of the signed properties that signers are known to hash, by its digest.
#[derive(Debug, Clone)]
pub(crate) struct PropsForm {
    pub(crate) label: &'static str,
    /// Base64(SHA-256(the form)), as a PropsDigest is written: worked out once, when the
    /// form is made. XML's reader hashes a form to know whether to try the next, and the
    /// check used to hash it again. The bytes themselves are not needed after.
    pub(crate) digest: String,
}

impl PropsForm {
    pub(crate) fn new(label: &'static str, bytes: &[u8]) -> PropsForm {
        PropsForm {
            label,
            digest: b64(&Sha256::digest(bytes)),
        }
    }
}

/// Everything verification needs from a document.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extracted {
    pub(crate) version: Option<String>,
    pub(crate) type_code: Option<String>,
    pub(crate) issuer: IssuerParty,
    /// The bytes whose SHA-256 is the DocDigest and that the Sig signs.
    pub(crate) canonical: Vec<u8>,
    pub(crate) signature_count: usize,
    /// `cac:Signature/cbc:SignatureMethod`, `None` when `cac:Signature` is absent.
    pub(crate) ubl_signature_method: Option<String>,
    pub(crate) ubl_signature_present: bool,
    pub(crate) sig: Option<SigFields>,
}

/// The party whose identity the certificate must carry: the supplier for types 01-04, the
/// buyer for self-billed types 11-14 (self-billed documents are issued by the buyer).
pub(crate) fn issuer_role(type_code: Option<&str>) -> &'static str {
    match type_code {
        Some("11" | "12" | "13" | "14") => "AccountingCustomerParty",
        _ => "AccountingSupplierParty",
    }
}

/// Pick TIN and registration id from `(schemeID, value)` pairs of PartyIdentification.
pub(crate) fn party_from_ids(role: &'static str, ids: &[(String, String)]) -> IssuerParty {
    let tin = ids.iter().find(|(s, _)| s == "TIN").map(|(_, v)| v.clone());
    let id = ["BRN", "NRIC", "PASSPORT", "ARMY"]
        .iter()
        .find_map(|scheme| ids.iter().find(|(s, _)| s == scheme).cloned());
    IssuerParty { role, tin, id }
}

/// A check and its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CheckKind {
    /// The document parses and carries exactly one signature of the expected shape.
    Structure,
    /// Signature, digest and UBL signature method URIs.
    Algorithms,
    /// DocDigest = SHA-256 of the canonical document.
    DocumentDigest,
    /// Sig verifies with the embedded certificate's public key.
    SignatureValue,
    /// CertDigest = SHA-256 of the embedded certificate.
    CertificateDigest,
    /// PropsDigest = SHA-256 of the signed properties, in one of the forms signers write.
    SignedPropertiesDigest,
    /// SigningTime present, well-formed, inside the certificate validity.
    SigningTime,
    /// X509IssuerName equals the certificate issuer as MyInvois renders it.
    IssuerName,
    /// X509SerialNumber equals the certificate serial.
    SerialNumber,
    /// Key usage, extended key usage, organizationIdentifier and serialNumber present.
    CertificateProfile,
    /// organizationIdentifier = issuer TIN and serialNumber = issuer BRN.
    IssuerIdentity,
    /// The certificate chains to a trusted CA.
    TrustChain,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    /// The check ran and passed.
    Passed,
    /// The check ran and failed (see the findings).
    Failed,
    /// The check could not or was asked not to run (see the detail).
    NotChecked,
}

/// One check with its outcome and a one-line detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// What was checked.
    pub kind: CheckKind,
    /// How it went.
    pub status: CheckStatus,
    /// Details (values compared, or why it was not checked).
    pub detail: String,
}

/// The result of verifying one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verification {
    /// Format of the document (`json` or `xml` in the report).
    #[serde(with = "invois_api::format::lowercase")]
    pub format: Format,
    /// `InvoiceTypeCode/@listVersionID`.
    pub version: Option<String>,
    /// `InvoiceTypeCode` (01-04, 11-14).
    pub type_code: Option<String>,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
    /// Every rejection reason with its DS code; empty when valid.
    pub findings: Vec<DsFinding>,
    /// The embedded certificate, when it could be read.
    pub certificate: Option<CertificateInfo>,
    /// Notes that are not failures (for example, about the official XML samples).
    pub notes: Vec<String>,
}

impl Verification {
    /// True when no finding was raised.
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty()
    }

    /// The outcome of one check, if it ran.
    pub fn status(&self, kind: CheckKind) -> Option<CheckStatus> {
        self.checks
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.status)
    }

    /// True when some finding has this DS code.
    pub fn has_code(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// The DS codes raised, in order, without duplicates.
    pub fn codes(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for f in &self.findings {
            if !v.contains(&f.code) {
                v.push(f.code);
            }
        }
        v
    }

    /// A human explanation: the verdict, each check, then each finding with its official
    /// text, where it is, what is wrong and how to fix it.
    pub fn explain(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let verdict = if self.is_valid() { "VALID" } else { "INVALID" };
        let _ = writeln!(
            s,
            "{verdict}: {} document, version {}, type {}",
            self.format.name(),
            self.version.as_deref().unwrap_or("?"),
            self.type_code.as_deref().unwrap_or("?")
        );
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Passed => "ok  ",
                CheckStatus::Failed => "FAIL",
                CheckStatus::NotChecked => "--  ",
            };
            let _ = writeln!(s, "  [{mark}] {:?}: {}", c.kind, c.detail);
        }
        for f in &self.findings {
            let _ = writeln!(s, "\n{} {}", f.code, f.error);
            if let Some(p) = &f.property_path {
                let _ = writeln!(s, "  where: {p}");
            }
            let _ = writeln!(s, "  what:  {}", f.message);
            let _ = writeln!(s, "  fix:   {}", f.fix);
        }
        for n in &self.notes {
            let _ = writeln!(s, "\nnote: {n}");
        }
        s
    }

    /// This result as one entry of `validationResults.validationSteps[]` (§4.2):
    /// `{ "name": "Step08-Document Signature Validator", "status": "Valid"|"Invalid", "error" }`.
    pub fn validation_step(&self) -> serde_json::Value {
        let mut step = serde_json::json!({
            "name": crate::ds::SIGNATURE_STEP_NAME,
            "status": if self.is_valid() { "Valid" } else { "Invalid" },
        });
        if let Some(e) = self.validation_step_error() {
            step["error"] = e;
        }
        step
    }

    /// The validation-step `error` object of §3.4 for these findings (`None` when valid).
    pub fn validation_step_error(&self) -> Option<serde_json::Value> {
        crate::ds::validation_step_error(&self.findings)
    }
}

/// How to verify.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Check the chain against this store (DS329). `None`: the chain is not checked.
    pub trust: Option<TrustStore>,
    /// The TIN the certificate must carry. `None`: the issuer party's TIN from the document.
    /// An intermediary signing for its clients sets its own TIN here (§9.4).
    pub expected_tin: Option<String>,
    /// The BRN the certificate must carry. `None`: the issuer party's BRN from the document.
    pub expected_brn: Option<String>,
    /// Skip the TIN/BRN comparison (DS311/DS312) entirely.
    pub skip_identity: bool,
}

impl VerifyOptions {
    /// Check the chain against `trust`.
    pub fn with_trust(mut self, trust: TrustStore) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Compare the certificate with this submitter identity instead of the document issuer.
    pub fn with_submitter(mut self, tin: impl Into<String>, brn: impl Into<String>) -> Self {
        self.expected_tin = Some(tin.into());
        self.expected_brn = Some(brn.into());
        self
    }

    /// Do not compare TIN/BRN (DS311/DS312).
    pub fn without_identity_check(mut self) -> Self {
        self.skip_identity = true;
        self
    }
}

/// Where each signature property lives, for `propertyPath`: an XPath into the XML form,
/// which names the same element of a JSON document. [`DsFinding::at`] turns it into
/// MyInvois's dotted form (README §3.4), the same for both formats.
pub(crate) struct Paths {
    base: &'static str,
}

impl Paths {
    fn new() -> Self {
        Self {
            base: "/Invoice/ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sig:UBLDocumentSignatures/sac:SignatureInformation/ds:Signature",
        }
    }

    fn p(&self, rel: &[&str]) -> String {
        let parts: Vec<String> = rel.iter().map(|r| xml_name(r)).collect();
        format!("{}/{}", self.base, parts.join("/"))
    }

    fn doc_reference(&self, leaf: &str) -> String {
        format!(
            "{}/ds:SignedInfo/ds:Reference[@URI=\"\"]/ds:{leaf}",
            self.base
        )
    }

    /// The reference to the signed properties, selected by its `Type` as MyInvois's DS320 path
    /// does, for XML documents too (whose samples give it another `Type`, §12.6): the path is
    /// the validator's, not the document's.
    fn props_reference(&self, leaf: &str) -> String {
        format!(
            "{}/ds:SignedInfo/ds:Reference[@Type=\"{PROPS_REFERENCE_TYPE}\"]/ds:{leaf}",
            self.base
        )
    }

    fn props(&self, rel: &[&str]) -> String {
        let mut v = vec![
            "Object",
            "QualifyingProperties",
            "SignedProperties",
            "SignedSignatureProperties",
        ];
        v.extend_from_slice(rel);
        self.p(&v)
    }

    fn ubl_signature(&self) -> String {
        "/Invoice/cac:Signature/cbc:SignatureMethod".to_owned()
    }

    fn party(&self, role: &str, scheme: &str) -> String {
        format!(
            "/Invoice/cac:{role}/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID=\"{scheme}\"]"
        )
    }
}

/// The `Type` of the signed-properties reference in MyInvois's own path (§3.4) and in the
/// JSON samples.
const PROPS_REFERENCE_TYPE: &str = "http://uri.etsi.org/01903/v1.3.2#SignedProperties";

/// XML prefix for a local name in the signature block.
fn xml_name(local: &str) -> String {
    let prefix = match local {
        "QualifyingProperties"
        | "SignedProperties"
        | "SignedSignatureProperties"
        | "SigningTime"
        | "SigningCertificate"
        | "Cert"
        | "CertDigest"
        | "IssuerSerial" => "xades",
        _ => "ds",
    };
    format!("{prefix}:{local}")
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(crate) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    // Line breaks are allowed in the Base64; copying every value to drop them cost more than
    // decoding it.
    if !s.contains(char::is_whitespace) {
        return B64.decode(s).ok();
    }
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(clean).ok()
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parse `xades:SigningTime`: UTC with `Z` (seconds fraction allowed), or with an offset.
pub(crate) fn parse_signing_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// The checks run so far, their findings and notes, in order; becomes the `Verification`.
#[derive(Default)]
struct Run {
    checks: Vec<Check>,
    findings: Vec<DsFinding>,
    notes: Vec<String>,
}

impl Run {
    fn check(
        &mut self,
        kind: CheckKind,
        findings: Vec<DsFinding>,
        passed_detail: impl Into<String>,
    ) {
        let status = if findings.is_empty() {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        let detail = if findings.is_empty() {
            passed_detail.into()
        } else {
            findings
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        };
        self.checks.push(Check {
            kind,
            status,
            detail,
        });
        self.findings.extend(findings);
    }

    fn not_checked(&mut self, kind: CheckKind, why: impl Into<String>) {
        self.checks.push(Check {
            kind,
            status: CheckStatus::NotChecked,
            detail: why.into(),
        });
    }

    fn finish(
        self,
        format: Format,
        ex: &Extracted,
        certificate: Option<CertificateInfo>,
    ) -> Verification {
        Verification {
            format,
            version: ex.version.clone(),
            type_code: ex.type_code.clone(),
            checks: self.checks,
            findings: self.findings,
            certificate,
            notes: self.notes,
        }
    }
}

/// A document that could not be parsed at all.
pub(crate) fn parse_failure(format: Format, message: String) -> Verification {
    let f = DsFinding::new(
        "DS300",
        format!(
            "the document cannot be parsed as {}: {message}",
            format.name()
        ),
        format!(
            "fix the {} syntax; the document must be UTF-8 and well-formed",
            format.name()
        ),
    );
    Verification {
        format,
        version: None,
        type_code: None,
        checks: vec![Check {
            kind: CheckKind::Structure,
            status: CheckStatus::Failed,
            detail: f.message.clone(),
        }],
        findings: vec![f],
        certificate: None,
        notes: Vec::new(),
    }
}

/// What every check of a signed document reads: the document, its signature fields, and
/// where those fields live in this format (for `propertyPath`).
struct Signed<'a> {
    format: Format,
    paths: Paths,
    ex: &'a Extracted,
    sig: &'a SigFields,
    /// SHA-256 of the canonical bytes: the DocDigest, and what the signature signs.
    digest: aws_lc_rs::digest::Digest,
}

/// Run every check on an extracted document.
///
/// The order of the calls is the order of `Verification::checks` and of the findings, which
/// `explain`, the validation-step error and the tests pin. A check that needs the certificate
/// records itself as not checked when there is none, so a signed document always lists every
/// check.
pub(crate) fn run(format: Format, ex: &Extracted, opts: &VerifyOptions) -> Verification {
    let mut r = Run::default();
    let Some(sig) = ex.sig.as_ref() else {
        check_unsigned_structure(&mut r, ex);
        return r.finish(format, ex, None);
    };
    let doc = Signed {
        format,
        paths: Paths::new(),
        ex,
        sig,
        // One pass over the document serves both the DocDigest and the signature check.
        digest: aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &ex.canonical),
    };
    check_structure(&mut r, &doc);
    check_algorithms(&mut r, &doc);
    check_document_digest(&mut r, &doc);
    // A missing or unreadable certificate is reported (DS305, under CertificateDigest) as soon
    // as it is read, before the signature value; a readable one has its digest compared after.
    let cert = read_certificate(&mut r, &doc);
    check_signature_value(&mut r, &doc, cert.as_ref());
    if let Some(c) = &cert {
        check_certificate_digest(&mut r, &doc, c);
    }
    check_signed_properties_digest(&mut r, &doc);
    let signing_time = check_signing_time(&mut r, &doc, cert.as_ref());
    check_issuer_name(&mut r, &doc, cert.as_ref());
    check_serial_number(&mut r, &doc, cert.as_ref());
    check_certificate_profile(&mut r, &doc, cert.as_ref());
    check_issuer_identity(&mut r, &doc, opts, cert.as_ref());
    check_trust_chain(&mut r, &doc, opts, cert.as_ref(), signing_time);
    let certificate = cert.map(|c| c.inspect().clone());
    r.finish(format, ex, certificate)
}

/// Structure of a document without a signature block: expected of a version 1.0/1.2 document
/// that carries no signature at all, DS301 for anything else.
fn check_unsigned_structure(r: &mut Run, ex: &Extracted) {
    let signed_version = matches!(ex.version.as_deref(), Some("1.1" | "1.3"));
    if !signed_version && ex.signature_count == 0 && !ex.ubl_signature_present {
        r.not_checked(
            CheckKind::Structure,
            format!(
                "version {} documents carry no signature; MyInvois validates signatures from version 1.1 (and 1.3)",
                ex.version.as_deref().unwrap_or("(none)")
            ),
        );
        return;
    }
    let f = DsFinding::new(
        "DS301",
        "the document has no UBLExtensions/UBLExtension/ExtensionContent/UBLDocumentSignatures/SignatureInformation/Signature block",
        "sign the document (invois sign FILE --cert CERT.p12); version 1.1 and 1.3 documents must carry the XAdES signature in UBLExtensions",
    )
    .at("UBLExtensions", "/Invoice/ext:UBLExtensions");
    r.check(CheckKind::Structure, vec![f], "");
}

/// Exactly one signature (DS302).
fn check_structure(r: &mut Run, doc: &Signed<'_>) {
    let Signed { paths, ex, .. } = doc;
    let mut structure = Vec::new();
    if ex.signature_count != 1 {
        structure.push(DsFinding::new(
            "DS302",
            format!("the document carries {} signatures", ex.signature_count),
            "keep exactly one ds:Signature in UBLExtensions: remove old signatures before signing again",
        )
        .at("Signature", paths.base));
    }
    r.check(
        CheckKind::Structure,
        structure,
        "one signature in UBLExtensions",
    );
}

/// The UBL signature method (DS323), the signature algorithm (DS316) and the three digest
/// methods (DS314, DS315, DS313), all reported under one check.
fn check_algorithms(r: &mut Run, doc: &Signed<'_>) {
    let Signed { paths, ex, sig, .. } = doc;
    let mut alg = Vec::new();
    match ex.ubl_signature_method.as_deref().map(str::trim) {
        Some(XADES_METHOD) => {}
        other => alg.push(
            DsFinding::new(
                "DS323",
                match other {
                    None => "the top-level Signature block (cac:Signature with cbc:SignatureMethod) is missing".to_owned(),
                    Some(v) => format!("cac:Signature/cbc:SignatureMethod is {v:?}"),
                },
                format!("add the top-level Signature with ID urn:oasis:names:specification:ubl:signature:Invoice and SignatureMethod {XADES_METHOD}"),
            )
            .at("SignatureMethod", paths.ubl_signature()),
        ),
    }
    if sig.signature_method.as_deref().map(str::trim) != Some(RSA_SHA256_URI) {
        alg.push(
            DsFinding::new(
                "DS316",
                format!(
                    "SignedInfo/SignatureMethod Algorithm is {:?}",
                    sig.signature_method.as_deref().unwrap_or("")
                ),
                format!("sign with RSA-SHA256 and set the Algorithm to {RSA_SHA256_URI}"),
            )
            .at(
                "SignatureMethod",
                paths.p(&["SignedInfo", "SignatureMethod"]),
            ),
        );
    }
    let digest_checks = [
        (
            "DS314",
            &sig.doc_digest_method,
            paths.doc_reference("DigestMethod"),
            "document digest",
        ),
        (
            "DS315",
            &sig.props_digest_method,
            paths.props_reference("DigestMethod"),
            "signed properties digest",
        ),
        (
            "DS313",
            &sig.cert_digest_method,
            paths.props(&["SigningCertificate", "Cert", "CertDigest", "DigestMethod"]),
            "certificate digest",
        ),
    ];
    for (code, value, path, what) in digest_checks {
        if value.as_deref().map(str::trim) != Some(SHA256_URI) {
            alg.push(
                DsFinding::new(
                    code,
                    format!("the {what} method is {:?}", value.as_deref().unwrap_or("")),
                    format!("use SHA-256 and set the DigestMethod Algorithm to {SHA256_URI}"),
                )
                .at("DigestMethod", path),
            );
        }
    }
    r.check(
        CheckKind::Algorithms,
        alg,
        "RSA-SHA256, SHA-256 digests, enveloped XAdES",
    );
}

/// DocDigest present (DS321) and equal to the SHA-256 of the canonical document (DS322).
fn check_document_digest(r: &mut Run, doc: &Signed<'_>) {
    let Signed {
        format,
        paths,
        sig,
        digest,
        ..
    } = doc;
    let doc_digest = b64(digest.as_ref());
    match nonempty(&sig.doc_digest) {
        None => r.check(
            CheckKind::DocumentDigest,
            vec![
                DsFinding::new(
                    "DS321",
                    "the Reference with URI=\"\" has no DigestValue",
                    "set DigestValue to Base64(SHA-256(canonical document without UBLExtensions and Signature))",
                )
                .at("DigestValue", paths.doc_reference("DigestValue")),
            ],
            "",
        ),
        Some(v) if v == doc_digest => r.check(CheckKind::DocumentDigest, vec![], format!("DocDigest {v}")),
        Some(v) => r.check(
            CheckKind::DocumentDigest,
            vec![
                DsFinding::new(
                    "DS322",
                    format!("DocDigest in the document is {v} but the document content hashes to {doc_digest}: the document was changed after signing, or was hashed in another form"),
                    match format {
                        Format::Json => "sign the final document and do not change it afterwards (not even listVersionID or one amount); the digest is over the minified JSON with UBLExtensions and Signature removed, members in document order".to_owned(),
                        Format::Xml => "sign the final document and do not change it afterwards; the digest is over the inclusive C14N of the document with UBLExtensions and cac:Signature removed and whitespace between tags dropped".to_owned(),
                    },
                )
                .at("DigestValue", paths.doc_reference("DigestValue")),
            ],
            "",
        ),
    }
}

/// The embedded certificate, or `None` after recording why it is unusable (DS305: missing,
/// not Base64, or not a certificate) as a failed CertificateDigest check.
fn read_certificate(r: &mut Run, doc: &Signed<'_>) -> Option<Certificate> {
    let Signed { paths, sig, .. } = doc;
    match nonempty(&sig.certificate) {
        None => {
            let f = DsFinding::new(
                "DS305",
                "KeyInfo/X509Data/X509Certificate is missing or empty",
                "embed the signing certificate (Base64 DER) in KeyInfo/X509Data/X509Certificate",
            )
            .at(
                "X509Certificate",
                paths.p(&["KeyInfo", "X509Data", "X509Certificate"]),
            );
            r.check(CheckKind::CertificateDigest, vec![f], "");
            None
        }
        Some(b) => match Certificate::from_base64_memo(b, decode_b64) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                let f = DsFinding::new(
                    "DS305",
                    format!("the embedded certificate cannot be parsed: {e}"),
                    "embed the certificate as Base64 of its DER bytes (no PEM header, no line breaks)",
                )
                .at("X509Certificate", paths.p(&["KeyInfo", "X509Data", "X509Certificate"]));
                r.check(CheckKind::CertificateDigest, vec![f], "");
                None
            }
            None => {
                let f = DsFinding::new(
                    "DS305",
                    "the embedded certificate is not valid Base64",
                    "embed the certificate as Base64 of its DER bytes",
                )
                .at(
                    "X509Certificate",
                    paths.p(&["KeyInfo", "X509Data", "X509Certificate"]),
                );
                r.check(CheckKind::CertificateDigest, vec![f], "");
                None
            }
        },
    }
}

/// SignatureValue present (DS332), the key RSA (DS334), and the signature verifying over the
/// canonical document with the embedded certificate's key (DS333).
fn check_signature_value(r: &mut Run, doc: &Signed<'_>, cert: Option<&Certificate>) {
    let Signed {
        paths, sig, digest, ..
    } = doc;
    match (nonempty(&sig.signature_value), cert) {
        (None, _) => r.check(
            CheckKind::SignatureValue,
            vec![
                DsFinding::new(
                    "DS332",
                    "SignatureValue is missing or empty",
                    "set SignatureValue to Base64(RSA-SHA256 signature of the canonical document)",
                )
                .at("SignatureValue", paths.p(&["SignatureValue"])),
            ],
            "",
        ),
        (Some(_), None) => r.not_checked(CheckKind::SignatureValue, "no usable certificate"),
        (Some(v), Some(c)) => {
            let f = match (decode_b64(v), c.rsa_public_key()) {
                (_, None) => Some(DsFinding::new(
                    "DS334",
                    format!("the certificate key is {}, not RSA", c.inspect().public_key),
                    "use an RSA certificate; MyInvois accepts RSA-SHA256 only",
                )),
                (None, _) => Some(DsFinding::new(
                    "DS333",
                    "SignatureValue is not valid Base64",
                    "set SignatureValue to the Base64 of the raw RSA signature bytes",
                )),
                (Some(s), Some(_)) => (!c.verifies_rsa_digest(digest, &s)).then(|| {
                    DsFinding::new(
                        "DS333",
                        "SignatureValue does not verify with the embedded certificate's public key over the canonical document",
                        "sign the same canonical bytes that DocDigest hashes (RSA PKCS#1 v1.5 with SHA-256, over the document itself, not over SignedInfo) with the private key of the embedded certificate",
                    )
                }),
            };
            match f {
                Some(f) => r.check(
                    CheckKind::SignatureValue,
                    vec![f.at("SignatureValue", paths.p(&["SignatureValue"]))],
                    "",
                ),
                None => r.check(
                    CheckKind::SignatureValue,
                    vec![],
                    "RSA-SHA256 signature verifies with the embedded certificate",
                ),
            }
        }
    }
}

/// CertDigest present (DS317) and equal to the SHA-256 of the embedded certificate (DS318).
fn check_certificate_digest(r: &mut Run, doc: &Signed<'_>, c: &Certificate) {
    let Signed { paths, sig, .. } = doc;
    let path = || paths.props(&["SigningCertificate", "Cert", "CertDigest", "DigestValue"]);
    match nonempty(&sig.cert_digest) {
        None => r.check(
            CheckKind::CertificateDigest,
            vec![
                DsFinding::new("DS317", "CertDigest/DigestValue is missing or empty", "set it to Base64(SHA-256(certificate DER))")
                    .at("DigestValue", path()),
            ],
            "",
        ),
        Some(v) if v == c.digest() => r.check(CheckKind::CertificateDigest, vec![], format!("CertDigest {v}")),
        Some(v) => r.check(
            CheckKind::CertificateDigest,
            vec![
                DsFinding::new(
                    "DS318",
                    format!("CertDigest is {v} but the embedded certificate hashes to {}", c.digest()),
                    "compute CertDigest from the exact DER bytes of the certificate embedded in X509Certificate; re-sign if the certificate was swapped",
                )
                .at("DigestValue", path()),
            ],
            "",
        ),
    }
}

/// PropsDigest present (DS319) and equal to the SHA-256 of one of the forms of the signed
/// properties that signers are known to use and MyInvois accepts (DS320); the XML forms are
/// listed in `xml`'s module doc.
fn check_signed_properties_digest(r: &mut Run, doc: &Signed<'_>) {
    let Signed { paths, sig, .. } = doc;
    let path = || paths.props_reference("DigestValue");
    match nonempty(&sig.props_digest) {
        None => r.check(
            CheckKind::SignedPropertiesDigest,
            vec![
                DsFinding::new(
                    "DS319",
                    "the Reference to #id-xades-signed-props has no DigestValue",
                    "set it to Base64(SHA-256(minified signed properties))",
                )
                .at("DigestValue", path()),
            ],
            "",
        ),
        Some(v) => {
            let hit = sig.props_forms.iter().find(|f| f.digest == v);
            match hit {
                Some(PropsForm { label, .. }) => r.check(
                    CheckKind::SignedPropertiesDigest,
                    vec![],
                    format!("PropsDigest {v} ({label})"),
                ),
                None if doc.format == Format::Xml => not_verifiable_props(r, v, sig),
                None => {
                    let ((first, computed), others) = sig
                        .props_forms
                        .split_first()
                        .map_or((("", ""), &[][..]), |(f, others)| {
                            ((f.label, f.digest.as_str()), others)
                        });
                    let mut message = format!(
                        "PropsDigest in the document is {v} but the signed properties hash to {computed} ({first})"
                    );
                    if !others.is_empty() {
                        let labels: Vec<&str> = others.iter().map(|f| f.label).collect();
                        message.push_str(&format!(
                            ", and to none of the other forms signers are known to use ({})",
                            labels.join("; ")
                        ));
                    }
                    message.push_str(": the signing time, certificate digest, issuer name or serial number changed after signing");
                    r.check(
                        CheckKind::SignedPropertiesDigest,
                        vec![DsFinding::new(
                            "DS320",
                            message,
                            "compute PropsDigest last, after SigningTime, CertDigest, X509IssuerName and X509SerialNumber are final, over the minified signed properties; re-sign instead of editing them",
                        )
                        .at("DigestValue", path())],
                        "",
                    );
                }
            }
        }
    }
}

/// An XML PropsDigest that none of the known forms reproduces is "not verifiable", not DS320.
/// XML signers hash the signed properties as they wrote them, and MyInvois accepts at least
/// one form that is not canonical XML (the klsheng string), so a form nobody has reported
/// may be accepted too: invois cannot tell it from properties changed after signing, and
/// says so rather than refuse what MyInvois might accept (issue 17). JSON has one form
/// (minified as written), so there a mismatch stays DS320.
fn not_verifiable_props(r: &mut Run, v: &str, sig: &SigFields) {
    let tried: Vec<String> = sig
        .props_forms
        .iter()
        .map(|f| format!("{}: {}", f.label, f.digest))
        .collect();
    r.not_checked(
        CheckKind::SignedPropertiesDigest,
        format!(
            "not verifiable: PropsDigest {v} matches none of the forms of the signed properties known to be signed and accepted ({})",
            tried.join("; ")
        ),
    );
    r.notes.push(
        "PropsDigest not verifiable: the signed properties were hashed in a form invois does not know, or changed after signing (SigningTime, CertDigest, X509IssuerName, X509SerialNumber). MyInvois accepts more than one XML form and not all are documented, so this is not reported as DS320; MyInvois answers DS320 if it recognises no form either. Re-signing with `invois sign` (the form of LHDN's own samples) removes the doubt.".to_owned(),
    );
}

/// SigningTime present (DS303), well-formed (DS336) and inside the certificate validity
/// (DS304). Returns the parsed time, which the trust chain is checked at.
fn check_signing_time(
    r: &mut Run,
    doc: &Signed<'_>,
    cert: Option<&Certificate>,
) -> Option<DateTime<Utc>> {
    let Signed { paths, sig, .. } = doc;
    let signing_time_path = || paths.props(&["SigningTime"]);
    match nonempty(&sig.signing_time) {
        None => {
            r.check(
                CheckKind::SigningTime,
                vec![
                    DsFinding::new(
                        "DS303",
                        "SigningTime is missing",
                        "add xades:SigningTime in UTC, e.g. 2024-07-23T15:14:54Z",
                    )
                    .at("SigningTime", signing_time_path()),
                ],
                "",
            );
            None
        }
        Some(s) => match parse_signing_time(s) {
            None => {
                r.check(
                    CheckKind::SigningTime,
                    vec![
                        DsFinding::new(
                            "DS336",
                            format!("SigningTime {s:?} is not an ISO 8601 date-time"),
                            "write SigningTime as UTC with a Z suffix, e.g. 2024-07-23T15:14:54Z",
                        )
                        .at("SigningTime", signing_time_path()),
                    ],
                    "",
                );
                None
            }
            Some(t) => {
                match cert {
                    Some(c) => {
                        let i = c.inspect();
                        let f = (t < i.not_before || t > i.not_after).then(|| {
                            DsFinding::new(
                                "DS304",
                                format!(
                                    "SigningTime {s} is outside the certificate validity {} .. {}",
                                    i.not_before.format("%Y-%m-%dT%H:%M:%SZ"),
                                    i.not_after.format("%Y-%m-%dT%H:%M:%SZ")
                                ),
                                "renew the certificate if it expired, and sign with the current time from a correct clock",
                            )
                            .at("SigningTime", signing_time_path())
                        });
                        r.check(
                            CheckKind::SigningTime,
                            f.into_iter().collect(),
                            format!("{s} within the certificate validity"),
                        );
                    }
                    None => r.not_checked(CheckKind::SigningTime, "no usable certificate"),
                }
                Some(t)
            }
        },
    }
}

/// X509IssuerName present (DS324) and exactly the certificate issuer as MyInvois renders it
/// (DS326).
fn check_issuer_name(r: &mut Run, doc: &Signed<'_>, cert: Option<&Certificate>) {
    let Signed { paths, sig, .. } = doc;
    let Some(c) = cert else {
        r.not_checked(CheckKind::IssuerName, "no usable certificate");
        return;
    };
    let issuer_path = || {
        paths.props(&[
            "SigningCertificate",
            "Cert",
            "IssuerSerial",
            "X509IssuerName",
        ])
    };
    let i = c.inspect();
    let f = match nonempty(&sig.issuer_name) {
        None => Some(DsFinding::new(
            "DS324",
            "X509IssuerName is missing or empty",
            format!("set X509IssuerName to exactly {:?}", i.issuer),
        )),
        Some(v) if v == i.issuer => None,
        Some(v) => Some(DsFinding::new(
            "DS326",
            format!(
                "X509IssuerName is {v:?} but MyInvois renders the certificate issuer as {:?}",
                i.issuer
            ),
            format!(
                "set X509IssuerName to exactly {:?} (most specific RDN first, \", \" between RDNs, no spaces around '='); do not rebuild it from parts in another order",
                i.issuer
            ),
        )),
    };
    r.check(
        CheckKind::IssuerName,
        f.map(|f| f.at("X509IssuerName", issuer_path()))
            .into_iter()
            .collect(),
        format!("{:?}", i.issuer),
    );
}

/// X509SerialNumber present (DS325), decimal (DS327) and equal to the certificate serial
/// (DS328), leading zeros aside.
fn check_serial_number(r: &mut Run, doc: &Signed<'_>, cert: Option<&Certificate>) {
    let Signed { paths, sig, .. } = doc;
    let Some(c) = cert else {
        r.not_checked(CheckKind::SerialNumber, "no usable certificate");
        return;
    };
    let serial_path = || {
        paths.props(&[
            "SigningCertificate",
            "Cert",
            "IssuerSerial",
            "X509SerialNumber",
        ])
    };
    let i = c.inspect();
    let f = match nonempty(&sig.serial_number) {
        None => Some(DsFinding::new(
            "DS325",
            "X509SerialNumber is missing or empty",
            format!(
                "set X509SerialNumber to the decimal serial {}",
                i.serial_number
            ),
        )),
        Some(v) if !v.chars().all(|ch| ch.is_ascii_digit()) => Some(DsFinding::new(
            "DS327",
            format!("X509SerialNumber {v:?} is not a decimal integer"),
            format!("write the serial in decimal: {}", i.serial_number),
        )),
        Some(v) if v.trim_start_matches('0') == i.serial_number.trim_start_matches('0') => None,
        Some(v) => Some(DsFinding::new(
            "DS328",
            format!(
                "X509SerialNumber is {v} but the certificate serial is {}",
                i.serial_number
            ),
            format!(
                "set X509SerialNumber to {} (decimal), from the embedded certificate",
                i.serial_number
            ),
        )),
    };
    r.check(
        CheckKind::SerialNumber,
        f.map(|f| f.at("X509SerialNumber", serial_path()))
            .into_iter()
            .collect(),
        i.serial_number.clone(),
    );
}

/// The certificate's own profile: key usage, extended key usage, organizationIdentifier and
/// serialNumber present, whoever the document says issued it.
fn check_certificate_profile(r: &mut Run, doc: &Signed<'_>, cert: Option<&Certificate>) {
    let Some(c) = cert else {
        r.not_checked(CheckKind::CertificateProfile, "no usable certificate");
        return;
    };
    let exp = ProfileExpectation::new(None, None, None);
    let profile: Vec<DsFinding> = c
        .check_profile(&exp)
        .into_iter()
        .map(|f| {
            f.at(
                "X509Certificate",
                doc.paths.p(&["KeyInfo", "X509Data", "X509Certificate"]),
            )
        })
        .collect();
    r.check(
        CheckKind::CertificateProfile,
        profile,
        "organizationIdentifier, serialNumber, Non-Repudiation and Document Signing present",
    );
}

/// The certificate names the issuer: organizationIdentifier = TIN (DS311) and serialNumber =
/// BRN or other registration id (DS312). The expected values are the submitter's when the
/// options give them (an intermediary, §9.4), else the issuer party's in the document.
fn check_issuer_identity(
    r: &mut Run,
    doc: &Signed<'_>,
    opts: &VerifyOptions,
    cert: Option<&Certificate>,
) {
    let Signed { paths, ex, .. } = doc;
    let Some(c) = cert else {
        r.not_checked(CheckKind::IssuerIdentity, "no usable certificate");
        return;
    };
    if opts.skip_identity {
        r.not_checked(CheckKind::IssuerIdentity, "identity check disabled");
        return;
    }
    let tin = opts.expected_tin.clone().or_else(|| ex.issuer.tin.clone());
    let brn = opts
        .expected_brn
        .clone()
        .or_else(|| ex.issuer.id.as_ref().map(|(_, v)| v.clone()));
    let exp = ProfileExpectation::new(tin.clone(), brn, None);
    let tin_path = || paths.party(ex.issuer.role, "TIN");
    let id_path = || {
        paths.party(
            ex.issuer.role,
            ex.issuer
                .id
                .as_ref()
                .map(|(s, _)| s.as_str())
                .unwrap_or("BRN"),
        )
    };
    let who = if opts.expected_tin.is_some() {
        "the submitter"
    } else {
        ex.issuer.role
    };
    let ident: Vec<DsFinding> = c
        .check_profile(&exp)
        .into_iter()
        .filter(|f| matches!(f.code, "DS311" | "DS312"))
        .map(|f| {
            let path = if f.code == "DS311" {
                tin_path()
            } else {
                id_path()
            };
            let name = if f.code == "DS311" { "TIN" } else { "BRN" };
            DsFinding {
                message: format!("{} (issuer taken from {who})", f.message),
                ..f
            }
            .at(name, path)
        })
        .collect();
    if tin.is_none() {
        r.not_checked(CheckKind::IssuerIdentity, format!("no TIN in {who}"));
    } else {
        r.check(
            CheckKind::IssuerIdentity,
            ident,
            format!("certificate identifies {who}"),
        );
    }
}

/// The certificate chains to a CA in the trust store, at the signing time when there is one
/// (DS329). Not checked without a store.
fn check_trust_chain(
    r: &mut Run,
    doc: &Signed<'_>,
    opts: &VerifyOptions,
    cert: Option<&Certificate>,
    signing_time: Option<DateTime<Utc>>,
) {
    match (cert, &opts.trust) {
        (None, _) => r.not_checked(CheckKind::TrustChain, "no usable certificate"),
        (Some(_), None) => r.not_checked(CheckKind::TrustChain, "no trust store given"),
        (Some(c), Some(store)) => {
            let f = store.verify_chain(c, signing_time).err().map(|why| {
                DsFinding::new(
                    "DS329",
                    format!("the certificate does not chain to a trusted CA: {why}"),
                    "use a certificate from a CA licensed by MCMC (PosDigicert, MSC Trustgate, Raffcomm, TM); for the invois sandbox, a certificate from `invois cert issue-test` or a CA added to its trust store",
                )
                .at("X509Certificate", doc.paths.p(&["KeyInfo", "X509Data", "X509Certificate"]))
            });
            r.check(
                CheckKind::TrustChain,
                f.into_iter().collect(),
                "chains to a trusted CA",
            );
        }
    }
}

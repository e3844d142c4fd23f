//! UBL 2.1 XML documents: canonical form, signature extraction and signing.
//!
//! DocDigest and Sig are over the inclusive C14N of the document with `ext:UBLExtensions` and
//! `cac:Signature` removed and every whitespace-only text node dropped: that is the form the
//! official XML samples reproduce (§9.3 [VER]).
//!
//! PropsDigest is over the minified `xades:SignedProperties`, but signers disagree on how the
//! block is written, and MyInvois accepts several ways (§9.3). Verification accepts each one
//! known ([`props_forms`]):
//!
//! - the form LHDN's own XML samples were signed in, which invois writes, found by trying the
//!   variants on them: namespace declarations (`xmlns:xades` on `SignedProperties`, `xmlns:ds`
//!   on each `ds:` element) after the attributes, and empty elements written
//!   `<ds:DigestMethod Algorithm="…" xmlns:ds="…" />` (what .NET's `XmlElement.OuterXml`
//!   writes). It reproduces the PropsDigest of every official 1.1 and 1.3 XML sample but
//!   `1.1-Invoice-ForeignCurrency-Sample.xml`, whose `SigningTime` was edited after signing;
//! - exclusive C14N, which invois wrote before: the same declarations before the attributes;
//! - the klsheng PHP SDK's string as it writes it: the declarations after the attributes
//!   (`Id` before `xmlns:xades`, `Algorithm` before `xmlns:ds`), empty elements with an end
//!   tag; it is not C14N;
//! - inclusive C14N of `SignedProperties`, and either C14N of `QualifyingProperties`.
//!
//! invois signs in the samples' form because it is the one with the strongest evidence that
//! MyInvois computes it: LHDN's own signer wrote it, and the klsheng string that users report
//! MyInvois accepting differs from it only in how empty elements are closed. Nothing shows
//! that MyInvois computes exclusive C14N (§9.3 only calls the klsheng string "equivalent" to
//! it, and the string's attribute order says otherwise).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::SignError;
use crate::signer::Signer;
use crate::verify::{
    Extracted, PropsForm, RSA_SHA256_URI, SHA256_URI, SigFields, XADES_METHOD, issuer_role,
    party_from_ids,
};
use crate::xmldom::{self, Element, Node};
use crate::xmlscan;

pub(crate) const NS_EXT: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";
pub(crate) const NS_CAC: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
pub(crate) const NS_CBC: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
const NS_SIG: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2";
const NS_SAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2";
const NS_SBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2";
pub(crate) const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";

fn is_enveloped_part(e: &Element) -> bool {
    e.is(NS_EXT, "UBLExtensions") || e.is(NS_CAC, "Signature")
}

fn parse(bytes: &[u8]) -> Result<Element, String> {
    let mut doc = xmldom::parse(bytes).map_err(|e| e.0)?;
    if doc.root.local != "Invoice" {
        return Err(format!(
            "the root element is <{}>, not <Invoice>",
            doc.root.qname()
        ));
    }
    xmldom::strip_whitespace(&mut doc.root);
    Ok(doc.root)
}

/// The canonical bytes of a (whitespace-stripped) document: inclusive C14N without the
/// enveloped signature parts.
fn canonical(root: &Element) -> Vec<u8> {
    let mut stripped = root.clone();
    xmldom::remove_elements(&mut stripped, &is_enveloped_part);
    xmldom::c14n_document(&stripped).into_bytes()
}

fn text_opt(e: Option<&Element>) -> Option<String> {
    e.map(Element::text)
}

/// Read everything verification needs.
pub(crate) fn extract(bytes: &[u8]) -> Result<Extracted, String> {
    if let Some(mut scanned) = xmlscan::scan_reading(bytes) {
        if let Some(ex) = extract_read(&mut scanned) {
            return Ok(ex);
        }
        let input = scanned.input;
        let mut reduced = String::with_capacity(input.len());
        reduced.push_str(&input[scanned.root_tag.clone()]);
        for c in scanned
            .children
            .iter()
            .filter(|c| READ_CHILDREN.contains(&c.local))
        {
            reduced.push_str(&input[c.range.clone()]);
        }
        reduced.push_str("</");
        reduced.push_str(scanned.root_qname);
        reduced.push('>');
        let root = parse(reduced.as_bytes())?;
        return Ok(extract_from(&root, scanned.canonical));
    }
    let root = parse(bytes)?;
    let canonical = canonical(&root);
    Ok(extract_from(&root, canonical))
}

/// What the scan read on its way (`xmlsig`), with no tree at all; `None` (the scan left as it
/// was) when the signed properties are not in the samples' form, for the tree to try the
/// others.
fn extract_read(scanned: &mut xmlscan::Scanned<'_>) -> Option<Extracted> {
    let read = scanned.read.take()?;
    let (mut ex, form) = read.finish(std::mem::take(&mut scanned.canonical));
    let Some(form) = form else {
        return Some(ex);
    };
    if let Some(sig) = &mut ex.sig {
        let want = sig.props_digest.as_deref().map(str::trim);
        let form = PropsForm::new(SAMPLES_FORM, &form);
        if want.is_some_and(|w| form.digest == w) {
            sig.props_forms = vec![form];
            return Some(ex);
        }
    }
    scanned.canonical = ex.canonical;
    None
}

/// The children of the root that [`extract_from`] reads.
const READ_CHILDREN: &[&str] = &[
    "InvoiceTypeCode",
    "AccountingSupplierParty",
    "AccountingCustomerParty",
    "Signature",
    "UBLExtensions",
];

/// Everything verification needs, from the root (or one with the children of
/// [`READ_CHILDREN`] only) and the canonical bytes.
fn extract_from(root: &Element, canonical: Vec<u8>) -> Extracted {
    let type_el = root.child("InvoiceTypeCode");
    let type_code = type_el.map(|e| e.text().trim().to_owned());
    let version = type_el
        .and_then(|e| e.attr("listVersionID"))
        .map(str::to_owned);
    let role = issuer_role(type_code.as_deref());
    let ids = party_ids(root, role);

    let ubl_sig = root.child_elements().find(|e| e.is(NS_CAC, "Signature"));
    let ubl_signature_method = ubl_sig
        .and_then(|s| s.child("SignatureMethod"))
        .map(Element::text);

    let ext = root
        .child_elements()
        .find(|e| e.is(NS_EXT, "UBLExtensions"));
    let mut all = Vec::new();
    if let Some(ext) = ext {
        ext.find_all(&|e: &Element| e.is(NS_DS, "Signature"), &mut all);
    }
    let signature_count = all.len();
    let sig = ext
        .and_then(|ext| signature_chain(root, ext))
        .map(|chain| sig_fields(&chain));

    Extracted {
        version,
        type_code,
        issuer: party_from_ids(role, &ids),
        canonical,
        // A ds:Signature somewhere else in UBLExtensions still counts (DS302), but is not
        // "the" signature: without one at the prescribed place the result is DS301.
        signature_count,
        ubl_signature_method,
        ubl_signature_present: ubl_sig.is_some(),
        sig,
    }
}

/// `(schemeID, value)` of every `PartyIdentification/ID` of the issuer party.
fn party_ids(root: &Element, role: &str) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    if let Some(party) = root.path(&[role, "Party"]) {
        for pi in party
            .child_elements()
            .filter(|e| e.local == "PartyIdentification")
        {
            for id in pi.child_elements().filter(|e| e.local == "ID") {
                if let Some(s) = id.attr("schemeID") {
                    ids.push((s.to_owned(), id.text()));
                }
            }
        }
    }
    ids
}

/// The signature at its prescribed place, with its ancestors (root first, the `ds:Signature`
/// last) for namespace scope.
fn signature_chain<'a>(root: &'a Element, ext: &'a Element) -> Option<Vec<&'a Element>> {
    let ue = ext.child("UBLExtension")?;
    let content = ue.child("ExtensionContent")?;
    let docsigs = content.child("UBLDocumentSignatures")?;
    let info = docsigs.child("SignatureInformation")?;
    let sig = info.child_elements().find(|e| e.is(NS_DS, "Signature"))?;
    Some(vec![root, ext, ue, content, docsigs, info, sig])
}

/// The fields of the `ds:Signature` that ends `chain`.
fn sig_fields(chain: &[&Element]) -> SigFields {
    let s = chain[chain.len() - 1];
    let signed_info = s.child("SignedInfo");
    let refs: Vec<&Element> = signed_info
        .map(|si| {
            si.child_elements()
                .filter(|e| e.local == "Reference")
                .collect()
        })
        .unwrap_or_default();
    let doc_ref = refs.iter().find(|r| r.attr("URI") == Some(""));
    let props_ref = refs
        .iter()
        .find(|r| r.attr("URI") == Some("#id-xades-signed-props"));
    let object = s.child("Object");
    let qp = object.and_then(|o| o.child("QualifyingProperties"));
    let sp = qp.and_then(|q| q.child("SignedProperties"));
    let ssp = sp.and_then(|p| p.child("SignedSignatureProperties"));
    let cert = ssp.and_then(|p| p.path(&["SigningCertificate", "Cert"]));

    let props_digest = text_opt(props_ref.and_then(|r| r.child("DigestValue")));
    let props_forms = match (object, qp, sp) {
        (Some(object), Some(qp), Some(sp)) => props_forms(
            chain,
            object,
            qp,
            sp,
            props_digest.as_deref().map(str::trim),
        ),
        _ => Vec::new(),
    };
    SigFields {
        signature_method: signed_info
            .and_then(|si| si.child("SignatureMethod"))
            .and_then(|m| m.attr("Algorithm"))
            .map(str::to_owned),
        doc_digest_method: doc_ref
            .and_then(|r| r.child("DigestMethod"))
            .and_then(|m| m.attr("Algorithm"))
            .map(str::to_owned),
        doc_digest: text_opt(doc_ref.and_then(|r| r.child("DigestValue"))),
        props_digest_method: props_ref
            .and_then(|r| r.child("DigestMethod"))
            .and_then(|m| m.attr("Algorithm"))
            .map(str::to_owned),
        props_digest,
        signature_value: text_opt(s.child("SignatureValue")),
        certificate: text_opt(s.path(&["KeyInfo", "X509Data", "X509Certificate"])),
        cert_digest_method: cert
            .and_then(|c| c.path(&["CertDigest", "DigestMethod"]))
            .and_then(|m| m.attr("Algorithm"))
            .map(str::to_owned),
        cert_digest: text_opt(cert.and_then(|c| c.path(&["CertDigest", "DigestValue"]))),
        signing_time: text_opt(ssp.and_then(|p| p.child("SigningTime"))),
        issuer_name: text_opt(cert.and_then(|c| c.path(&["IssuerSerial", "X509IssuerName"]))),
        serial_number: text_opt(cert.and_then(|c| c.path(&["IssuerSerial", "X509SerialNumber"]))),
        props_forms,
    }
}

/// The form of the signed properties LHDN's samples were signed in, which invois writes.
const SAMPLES_FORM: &str = "SignedProperties as LHDN's samples were signed: declarations after the attributes, empty elements as <x />";

/// Every form of the signed properties a PropsDigest is accepted over (see the module doc),
/// labelled, the form invois writes first, up to the first whose digest is `want` (the check
/// reads no further, and each form is a canonicalisation). `chain` ends at the `ds:Signature`
/// holding `object`, so each form sees the namespaces in scope where it sits.
fn props_forms(
    chain: &[&Element],
    object: &Element,
    qp: &Element,
    sp: &Element,
    want: Option<&str>,
) -> Vec<PropsForm> {
    let mut anc = chain.to_vec();
    anc.push(object);
    let at_qp = xmldom::scope_of(&anc);
    anc.push(qp);
    let at_sp = xmldom::scope_of(&anc);
    let as_written = |empty_self_closing| xmldom::Layout {
        declarations_last: true,
        attributes_as_written: true,
        empty_self_closing,
    };
    type Form<'f> = (&'static str, Box<dyn Fn() -> String + 'f>);
    let forms: [Form<'_>; 6] = [
        (
            SAMPLES_FORM,
            Box::new(|| xmldom::visibly_used_subtree(sp, &at_sp, as_written(true))),
        ),
        (
            "exclusive C14N of SignedProperties",
            Box::new(|| xmldom::exc_c14n_subtree(sp, &at_sp)),
        ),
        (
            "SignedProperties as the klsheng SDK writes it: exclusive C14N's declarations after the attributes",
            Box::new(|| xmldom::visibly_used_subtree(sp, &at_sp, as_written(false))),
        ),
        (
            "inclusive C14N of SignedProperties",
            Box::new(|| xmldom::c14n_subtree(sp, &at_sp)),
        ),
        (
            "exclusive C14N of QualifyingProperties",
            Box::new(|| xmldom::exc_c14n_subtree(qp, &at_qp)),
        ),
        (
            "inclusive C14N of QualifyingProperties",
            Box::new(|| xmldom::c14n_subtree(qp, &at_qp)),
        ),
    ];
    let mut out = Vec::new();
    for (label, form) in forms {
        let form = PropsForm::new(label, form().as_bytes());
        let hit = want.is_some_and(|w| form.digest == w);
        out.push(form);
        if hit {
            break;
        }
    }
    out
}

/// Text content as the tree writes it (`xmldom`'s escaping), so that the signature block
/// below is written exactly as parsing and writing it back would.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;")
}

/// Parse a fragment that uses the root's `cac`/`cbc` prefixes.
fn fragment(xml: &str) -> Result<Element, SignError> {
    let wrapped = format!(r#"<w xmlns:cac="{NS_CAC}" xmlns:cbc="{NS_CBC}">{xml}</w>"#);
    let doc = xmldom::parse(wrapped.as_bytes())
        .map_err(|e| SignError::Document(format!("internal fragment: {}", e.0)))?;
    doc.root
        .child_elements()
        .next()
        .cloned()
        .ok_or_else(|| SignError::Document("internal fragment is empty".to_owned()))
}

/// Sign an XML document (§9.3). Any existing signature is replaced. The output is minified
/// (whitespace between tags removed, no XML declaration), with `ext:UBLExtensions` as the
/// first child of `Invoice` and `cac:Signature` just before `cac:AccountingSupplierParty`
/// (its place in the UBL 2.1 sequence). The root must bind `cac` and `cbc` to the UBL
/// namespaces, as every MyInvois document does.
pub fn sign_xml(
    bytes: &[u8],
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    let Some(scanned) = xmlscan::scan(bytes, true) else {
        return sign_xml_by_tree(bytes, signer, signing_time);
    };
    let binds_ubl = [("cac", NS_CAC), ("cbc", NS_CBC)]
        .iter()
        .all(|(prefix, uri)| {
            scanned
                .root_decls
                .iter()
                .any(|(p, u)| *p == Some(*prefix) && u == uri)
        });
    let Some(supplier_at) = scanned.supplier_at.filter(|_| binds_ubl) else {
        // The tree's path says what is missing.
        return sign_xml_by_tree(bytes, signer, signing_time);
    };
    let extensions = signature_extensions(&scanned.canonical, signer, signing_time)?;
    // What the tree's path writes: the block first in the root, cac:Signature before the
    // supplier, the rest as scanned.
    let (written, content_at) = (&scanned.written, scanned.content_at);
    let mut out = Vec::with_capacity(written.len() + extensions.len() + UBL_SIGNATURE.len());
    out.extend_from_slice(&written[..content_at]);
    out.extend_from_slice(extensions.as_bytes());
    out.extend_from_slice(&written[content_at..supplier_at]);
    out.extend_from_slice(UBL_SIGNATURE.as_bytes());
    out.extend_from_slice(&written[supplier_at..]);
    Ok(out)
}

/// `cac:Signature`, as written.
const UBL_SIGNATURE: &str = concat!(
    "<cac:Signature><cbc:ID>urn:oasis:names:specification:ubl:signature:Invoice</cbc:ID>",
    "<cbc:SignatureMethod>urn:oasis:names:specification:ubl:dsig:enveloped:xades</cbc:SignatureMethod></cac:Signature>"
);

/// [`sign_xml`] through the tree, for the documents the scanner leaves to it (and to say
/// what is wrong with one that cannot be signed).
fn sign_xml_by_tree(
    bytes: &[u8],
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    let mut root = parse(bytes).map_err(SignError::Document)?;
    require_ubl_prefixes(&root)?;
    root.children
        .retain(|n| !matches!(n, Node::Element(e) if is_enveloped_part(e)));
    let supplier_at = root
        .children
        .iter()
        .position(|n| matches!(n, Node::Element(e) if e.is(NS_CAC, "AccountingSupplierParty")))
        .ok_or_else(|| {
            SignError::Document(
                "no cac:AccountingSupplierParty: cannot place cac:Signature".to_owned(),
            )
        })?;

    let canonical = canonical(&root);
    let ext_el = fragment(&signature_extensions(&canonical, signer, signing_time)?)?;
    let ubl_signature = fragment(UBL_SIGNATURE)?;
    // The fragment parser bound cac/cbc on its wrapper; the root binds the same URIs.
    root.children
        .insert(supplier_at, Node::Element(ubl_signature));
    root.children.insert(0, Node::Element(ext_el));

    let mut out = String::with_capacity(bytes.len() + 4096);
    xmldom::serialize(&root, &mut out);
    Ok(out.into_bytes())
}

/// The inserted `cac:Signature` is written with the `cac`/`cbc` prefixes, so the root must
/// bind them to the UBL namespaces.
fn require_ubl_prefixes(root: &Element) -> Result<(), SignError> {
    for (prefix, uri) in [("cac", NS_CAC), ("cbc", NS_CBC)] {
        if !root
            .ns_decls
            .iter()
            .any(|d| d.prefix.as_deref() == Some(prefix) && d.uri == uri)
        {
            return Err(SignError::Document(format!(
                "the Invoice root must declare xmlns:{prefix}=\"{uri}\""
            )));
        }
    }
    Ok(())
}

/// The whole `ext:UBLExtensions` element signing `canonical`, written as the tree writes it
/// (empty elements with an end tag, text escaped by `text`), so that both signing paths give
/// the same bytes.
fn signature_extensions(
    canonical: &[u8],
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<String, SignError> {
    let (digest, signature) = signer.digest_and_sign(canonical)?;
    let (doc_digest, signature) = (B64.encode(digest), B64.encode(signature));
    let cert = signer.certificate();
    let info = cert.inspect();
    let time = signing_time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let cert_b64 = B64.encode(cert.der());
    let cert_digest = cert.digest();
    let issuer = text(&info.issuer);
    let serial = text(&info.serial_number);
    let props_digest = B64.encode(Sha256::digest(
        signed_properties_as_lhdn_signs(&time, cert_digest, &issuer, &serial).as_bytes(),
    ));

    // The same layout as LHDN's signed sample.
    Ok(format!(
        concat!(
            r#"<UBLExtensions xmlns="{ext}"><UBLExtension><ExtensionURI>{xades_method}</ExtensionURI><ExtensionContent>"#,
            r#"<sig:UBLDocumentSignatures xmlns:sig="{sig}" xmlns:sac="{sac}" xmlns:sbc="{sbc}"><sac:SignatureInformation>"#,
            r#"<cbc:ID>urn:oasis:names:specification:ubl:signature:1</cbc:ID>"#,
            r#"<sbc:ReferencedSignatureID>urn:oasis:names:specification:ubl:signature:Invoice</sbc:ReferencedSignatureID>"#,
            r#"<ds:Signature xmlns:ds="{ds}" Id="signature"><ds:SignedInfo>"#,
            // Algorithm URIs as in LHDN's signed XML sample (MyInvois evidently canonicalises
            // the document inclusively whatever these say, see the module doc).
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:CanonicalizationMethod>"#,
            r#"<ds:SignatureMethod Algorithm="{rsa}"></ds:SignatureMethod>"#,
            r#"<ds:Reference Id="id-doc-signed-data" URI=""><ds:Transforms>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(//ancestor-or-self::ext:UBLExtensions)</ds:XPath></ds:Transform>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(//ancestor-or-self::cac:Signature)</ds:XPath></ds:Transform>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform></ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="{sha}"></ds:DigestMethod><ds:DigestValue>{doc_digest}</ds:DigestValue></ds:Reference>"#,
            r##"<ds:Reference Type="http://www.w3.org/2000/09/xmldsig#SignatureProperties" URI="#id-xades-signed-props">"##,
            r#"<ds:DigestMethod Algorithm="{sha}"></ds:DigestMethod><ds:DigestValue>{props_digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
            r#"<ds:SignatureValue>{signature}</ds:SignatureValue>"#,
            r#"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"#,
            r#"<ds:Object><xades:QualifyingProperties xmlns:xades="{xades}" Target="signature">"#,
            r#"<xades:SignedProperties Id="id-xades-signed-props"><xades:SignedSignatureProperties>"#,
            r#"<xades:SigningTime>{time}</xades:SigningTime><xades:SigningCertificate><xades:Cert>"#,
            r#"<xades:CertDigest><ds:DigestMethod Algorithm="{sha}"></ds:DigestMethod><ds:DigestValue>{cert_digest}</ds:DigestValue></xades:CertDigest>"#,
            r#"<xades:IssuerSerial><ds:X509IssuerName>{issuer}</ds:X509IssuerName><ds:X509SerialNumber>{serial}</ds:X509SerialNumber></xades:IssuerSerial>"#,
            r#"</xades:Cert></xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties>"#,
            r#"</xades:QualifyingProperties></ds:Object></ds:Signature></sac:SignatureInformation>"#,
            r#"</sig:UBLDocumentSignatures></ExtensionContent></UBLExtension></UBLExtensions>"#
        ),
        ext = NS_EXT,
        xades_method = XADES_METHOD,
        sig = NS_SIG,
        sac = NS_SAC,
        sbc = NS_SBC,
        ds = NS_DS,
        rsa = RSA_SHA256_URI,
        sha = SHA256_URI,
        doc_digest = doc_digest,
        props_digest = props_digest,
        signature = signature,
        cert = cert_b64,
        xades = NS_XADES,
        time = time,
        cert_digest = cert_digest,
        issuer = issuer,
        serial = serial,
    ))
}

/// The `xades:SignedProperties` that [`signature_extensions`] writes, in the form LHDN's own
/// XML samples were signed in (its PropsDigest is over these bytes, see the module doc): each
/// element declares the prefix it uses unless an ancestor inside the block did, after its
/// attributes; an empty element is written `<x a="1" />`. Text comes escaped.
fn signed_properties_as_lhdn_signs(
    time: &str,
    cert_digest: &str,
    issuer: &str,
    serial: &str,
) -> String {
    format!(
        concat!(
            r#"<xades:SignedProperties Id="id-xades-signed-props" xmlns:xades="{xades}"><xades:SignedSignatureProperties>"#,
            r#"<xades:SigningTime>{time}</xades:SigningTime><xades:SigningCertificate><xades:Cert><xades:CertDigest>"#,
            r#"<ds:DigestMethod Algorithm="{sha}" xmlns:ds="{ds}" />"#,
            r#"<ds:DigestValue xmlns:ds="{ds}">{cert_digest}</ds:DigestValue></xades:CertDigest><xades:IssuerSerial>"#,
            r#"<ds:X509IssuerName xmlns:ds="{ds}">{issuer}</ds:X509IssuerName>"#,
            r#"<ds:X509SerialNumber xmlns:ds="{ds}">{serial}</ds:X509SerialNumber></xades:IssuerSerial>"#,
            r#"</xades:Cert></xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties>"#
        ),
        xades = NS_XADES,
        ds = NS_DS,
        sha = SHA256_URI,
        time = time,
        cert_digest = cert_digest,
        issuer = issuer,
        serial = serial,
    )
}

/// PropsDigest in the samples' form, computed on the tree (the verifier's definition), which
/// [`signed_properties_as_lhdn_signs`] must agree with.
#[cfg(test)]
fn props_digest(root: &Element, ext_el: &Element) -> Result<String, SignError> {
    let mut anc: Vec<&Element> = vec![root, ext_el];
    let mut cur: &Element = ext_el;
    for step in [
        "UBLExtension",
        "ExtensionContent",
        "UBLDocumentSignatures",
        "SignatureInformation",
        "Signature",
        "Object",
        "QualifyingProperties",
    ] {
        cur = cur
            .child(step)
            .ok_or_else(|| SignError::Document(format!("internal: no {step}")))?;
        anc.push(cur);
    }
    let sp = cur
        .child("SignedProperties")
        .ok_or_else(|| SignError::Document("internal: no SignedProperties".to_owned()))?;
    let layout = xmldom::Layout {
        declarations_last: true,
        attributes_as_written: true,
        empty_self_closing: true,
    };
    Ok(B64.encode(Sha256::digest(
        xmldom::visibly_used_subtree(sp, &xmldom::scope_of(&anc), layout).as_bytes(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canonical and written forms through the tree: the definitions the scanner follows.
    fn by_tree(doc: &str) -> (Vec<u8>, Vec<u8>) {
        let mut root = parse(doc.as_bytes()).unwrap();
        let canonical = canonical(&root);
        root.children
            .retain(|n| !matches!(n, Node::Element(e) if is_enveloped_part(e)));
        let mut written = String::new();
        xmldom::serialize(&root, &mut written);
        (canonical, written.into_bytes())
    }

    fn agree(doc: &str) {
        let scanned = xmlscan::scan(doc.as_bytes(), true).unwrap_or_else(|| panic!("{doc}"));
        let (canonical, written) = by_tree(doc);
        assert_eq!(
            String::from_utf8_lossy(&scanned.canonical),
            String::from_utf8_lossy(&canonical)
        );
        assert_eq!(
            String::from_utf8_lossy(&scanned.written),
            String::from_utf8_lossy(&written)
        );
    }

    const ROOT: &str = r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2">"#;

    #[test]
    fn the_scan_writes_what_the_tree_writes() {
        for body in [
            "<cbc:ID>A1</cbc:ID>",
            "\n  <cbc:ID> A &amp; B &lt;&gt; &quot;q&quot; &apos;a&apos; &#65;&#x42; &#9;&#xA;&#13; > é 日本</cbc:ID>\n  <cbc:Note/>\n",
            r#"<cbc:ID schemeID="a&amp;b&lt;&quot;&#9;" z="1" a='2' cbc:x="3" xml:lang="ms">1</cbc:ID>"#,
            "<ext:UBLExtensions><ext:UBLExtension>x</ext:UBLExtension></ext:UBLExtensions><cbc:ID>1</cbc:ID>",
            "<cac:Signature><cbc:ID>s</cbc:ID></cac:Signature><cac:Party><cac:Signature>deep</cac:Signature><cbc:Name>n</cbc:Name></cac:Party>",
            r#"<x:A xmlns:x="urn:x" xmlns:y="urn:y"><x:B xmlns:x="urn:x">1</x:B><y:C xmlns:y="urn:other" y:a="1">2</y:C></x:A>"#,
            r#"<A xmlns=""><B xmlns="urn:d"><C xmlns="">t</C></B></A>"#,
            "<cbc:ID>a</cbc:ID>  <cbc:ID>  </cbc:ID><cbc:ID>&#32;</cbc:ID>",
        ] {
            agree(&format!("{ROOT}{body}</Invoice>"));
            agree(&format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{ROOT}{body}</Invoice>\n"
            ));
        }
    }

    /// The scan copies runs of the input that are their own form, and finds where a text
    /// stops being one eight bytes at a time: whatever breaks a run (a reference, `>`, a tag
    /// to rewrite, whitespace between tags, an enveloped part) or sits next to one (a
    /// multi-byte character) must be seen at every offset of a chunk and across its edges.
    #[test]
    fn the_scan_agrees_at_every_offset_of_a_run() {
        let texts = [
            "&amp;",
            "&lt;",
            "&gt;",
            "&quot;",
            "&apos;",
            "&#65;",
            "&#x1F600;",
            ">",
            "é",
            "日",
            "😀",
            "]]",
            " ",
        ];
        let tags = [
            r#"<cbc:ID schemeID="TIN">1</cbc:ID>"#,
            r#"<cbc:ID  schemeID="TIN" >1</cbc:ID >"#,
            "<cbc:ID\tschemeID='TIN'\n>1</cbc:ID\n>",
            r#"<cbc:ID schemeID = "TIN">1</cbc:ID>"#,
            r#"<cbc:ID z="1" a="2">1</cbc:ID>"#,
            r#"<cbc:ID a="1" z="2">1</cbc:ID>"#,
            r#"<cbc:ID a="&amp;1>">1</cbc:ID>"#,
            r#"<cbc:ID a="1"/>"#,
            "<cbc:ID/>",
            r#"<cbc:ID xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">1</cbc:ID>"#,
            "<ext:UBLExtensions><cbc:ID>&amp;x</cbc:ID> </ext:UBLExtensions>",
            "<cac:Signature><cbc:ID a=\"1\"/></cac:Signature>",
            "<cac:P><cac:Signature>s</cac:Signature>\n</cac:P>",
        ];
        for lead in 0..20 {
            let run = "a".repeat(lead);
            for text in texts {
                let tail = "b".repeat(lead % 9);
                agree(&format!(
                    "{ROOT}<cbc:Note>{run}{text}{tail}</cbc:Note><cbc:Note>{text}</cbc:Note></Invoice>"
                ));
            }
            for tag in tags {
                agree(&format!(
                    "{ROOT}<cbc:Note>{run}</cbc:Note>{tag}<cbc:N>{run}</cbc:N></Invoice>"
                ));
                agree(&format!(
                    "{ROOT}{tag}\n {run}<cbc:N>{run}</cbc:N>{tag}</Invoice>"
                ));
            }
            // A carriage return (CRLF line ends) is the tree's to normalise, wherever it is.
            for doc in [
                format!("{ROOT}<cbc:Note>{run}\r\n</cbc:Note></Invoice>"),
                format!("{ROOT}\r\n<cbc:Note>{run}</cbc:Note></Invoice>"),
            ] {
                assert!(xmlscan::scan(doc.as_bytes(), true).is_none(), "{doc:?}");
            }
        }
    }

    #[test]
    fn the_scan_agrees_on_every_fixture() {
        use invois_testkit::{Corpus, Kind, Version};
        let corpus = Corpus::fixtures();
        for version in Version::ALL {
            for kind in Kind::ALL.into_iter().filter(|k| k.in_version(version)) {
                let signed = corpus.read(version, kind, invois_model::Format::Xml);
                agree(std::str::from_utf8(&signed).unwrap());
                if version.is_signed() {
                    let unsigned =
                        invois_testkit::unsigned_fixture(version, kind, invois_model::Format::Xml);
                    agree(std::str::from_utf8(&unsigned).unwrap());
                }
            }
        }
    }

    #[test]
    fn the_scan_leaves_the_rest_to_the_tree() {
        for body in [
            "<!-- c --><cbc:ID>1</cbc:ID>",
            "<cbc:ID><![CDATA[x]]></cbc:ID>",
            "<?pi x?><cbc:ID>1</cbc:ID>",
            "<cbc:ID>&nbsp;</cbc:ID>",
            "<cbc:ID>&#1;</cbc:ID>",
            "<cbc:ID>&#+65;</cbc:ID>",
            "<cbc:ID>a\r\nb</cbc:ID>",
            r#"<cbc:ID a="1" a="2">1</cbc:ID>"#,
            "<cbc:ID a=\"x\ny\">1</cbc:ID>",
            "<q:ID>1</q:ID>",
            "<cbc:ID>1</cbc:Note>",
            "<cbc:ID>1",
            "<cbc:ID>]]></cbc:ID>",
        ] {
            let doc = format!("{ROOT}{body}</Invoice>");
            assert!(xmlscan::scan(doc.as_bytes(), true).is_none(), "{body}");
        }
        for doc in [
            "<!DOCTYPE Invoice><Invoice/>",
            "<Other/>",
            "<Invoice/><Invoice/>",
            "<Invoice/>x",
            "x<Invoice/>",
        ] {
            assert!(xmlscan::scan(doc.as_bytes(), true).is_none(), "{doc}");
        }
    }

    /// The tree's answer, with every form of the signed properties up to the first matching.
    fn extract_by_tree(doc: &str) -> Extracted {
        let root = parse(doc.as_bytes()).unwrap();
        let canonical = canonical(&root);
        extract_from(&root, canonical)
    }

    /// What the scan reads agrees with the tree, field by field, and its form of the signed
    /// properties is the tree's first; `extract` answers as the tree does. Returns whether the
    /// scan's answer was used (no tree built).
    fn read_agrees(doc: &str) -> bool {
        let tree = extract_by_tree(doc);
        let mut scanned = xmlscan::scan_reading(doc.as_bytes()).unwrap_or_else(|| panic!("{doc}"));
        let (read, form) = scanned
            .read
            .take()
            .unwrap()
            .finish(scanned.canonical.clone());
        let mut tree_fields = tree.clone();
        let tree_first_form = tree_fields
            .sig
            .as_mut()
            .and_then(|s| std::mem::take(&mut s.props_forms).into_iter().next());
        assert_eq!(format!("{read:?}"), format!("{tree_fields:?}"), "{doc}");
        // The same form, by its digest (the bytes are not kept).
        assert_eq!(
            form.map(|f| PropsForm::new(SAMPLES_FORM, &f).digest),
            tree_first_form.map(|f| f.digest),
            "{doc}"
        );
        assert_eq!(
            format!("{:?}", extract(doc.as_bytes()).unwrap()),
            format!("{tree:?}"),
            "{doc}"
        );
        let mut scanned = xmlscan::scan_reading(doc.as_bytes()).unwrap();
        extract_read(&mut scanned).is_some()
    }

    #[test]
    fn the_scan_reads_what_the_tree_reads() {
        use invois_testkit::{Corpus, Kind, Version};
        let corpus = Corpus::fixtures();
        for version in Version::ALL {
            for kind in Kind::ALL.into_iter().filter(|k| k.in_version(version)) {
                let doc = corpus.read(version, kind, invois_model::Format::Xml);
                // The signed fixtures' PropsDigest is over exclusive C14N (what invois wrote
                // before): the tree finds it.
                read_agrees(std::str::from_utf8(&doc).unwrap());
                if version.is_signed() {
                    // What invois signs now needs no tree at all.
                    let unsigned =
                        invois_testkit::unsigned_fixture(version, kind, invois_model::Format::Xml);
                    let signed = sign_xml(&unsigned, &signer(), Utc::now()).unwrap();
                    let signed = std::str::from_utf8(&signed).unwrap();
                    assert!(read_agrees(signed), "{version:?} {kind:?}");
                }
            }
        }
        let unsigned = invois_testkit::unsigned_fixture(
            Version::V1_1,
            Kind::Invoice,
            invois_model::Format::Xml,
        );
        let signed = sign_xml(&unsigned, &signer(), Utc::now()).unwrap();
        let signed = std::str::from_utf8(&signed).unwrap();
        let sp = r#"<xades:SignedProperties Id="id-xades-signed-props">"#;
        let ssp = "<xades:SignedSignatureProperties>";
        let sig_start = signed.find("<ds:Signature ").unwrap();
        let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let signature = &signed[sig_start..sig_end];
        // Variants the samples' form still gives the PropsDigest of: the scan answers.
        for doc in [
            signed.replace("><", ">\n  <"),
            signed.replace(sp, &format!(r#"{sp} "#).replace(
                "Id=",
                r#"xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Id="#,
            )),
            signed.replace("></ds:DigestMethod>", " />"),
            signed.replace(">01</cbc:InvoiceTypeCode>", ">11</cbc:InvoiceTypeCode>"),
            signed.replace(
                r#"<cbc:ID schemeID="TIN">"#,
                r#"<cbc:ID>no scheme</cbc:ID><cbc:ID schemeID="TIN">"#,
            ),
            signed.replace(sig_start_tag(signed), &format!("{}{}", signature, sig_start_tag(signed))),
            signed.replace("<ds:SignatureValue>", "<ds:SignatureValue>a&amp;b<x/>c"),
            signed.replace("<ds:SignedInfo>", "<ds:SignedInfo><ds:Reference URI=\"\"><ds:DigestValue>x</ds:DigestValue></ds:Reference>"),
        ] {
            assert!(read_agrees(&doc), "{doc}");
        }
        // Variants whose signed properties changed (the tree then tries every form), or
        // without them.
        for doc in [
            signed.replace(ssp, &format!("{ssp}<Foo xmlns=\"urn:y\" a=\"1\">t</Foo><Bar xmlns=\"\"/>")),
            signed.replace(ssp, r#"<xades:SignedSignatureProperties xml:lang="ms" xmlns:q="urn:q" q:a="&lt;&quot;">"#),
            signed.replace("<xades:SigningTime>", "<xades:SigningTime> &#x41; &amp; > "),
            signed.replace(sp, r#"<xades:SignedProperties xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="id-xades-signed-props">"#),
            signed.replace("xades:SignedProperties", "xades:OtherProperties"),
            signed.replace("ds:Signature", "ds:Other"),
            signed.replace("<ds:Object>", "<ds:Object><x:QualifyingProperties xmlns:x=\"urn:x\"/>"),
        ] {
            read_agrees(&doc);
        }
    }

    fn signer() -> Signer {
        crate::TestCa::well_known()
            .unwrap()
            .issue(&crate::TestCertRequest::new("C25845632020", "202001234567"))
            .unwrap()
            .signer()
            .unwrap()
    }

    /// The start tag of the ds:Signature in `doc`.
    fn sig_start_tag(doc: &str) -> &str {
        let at = doc.find("<ds:Signature ").unwrap();
        &doc[at..at + doc[at..].find('>').unwrap() + 1]
    }

    #[test]
    fn the_written_signed_properties_digest_is_in_the_samples_form() {
        let signer = crate::TestCa::well_known()
            .unwrap()
            .issue(&crate::TestCertRequest::new("C1", "B & <2>"))
            .unwrap()
            .signer()
            .unwrap();
        let doc =
            format!("{ROOT}<cac:AccountingSupplierParty>x</cac:AccountingSupplierParty></Invoice>");
        let signed = sign_xml(doc.as_bytes(), &signer, Utc::now()).unwrap();
        let root = parse(&signed).unwrap();
        let ext = root.child("UBLExtensions").unwrap();
        let written = ext
            .path(&[
                "UBLExtension",
                "ExtensionContent",
                "UBLDocumentSignatures",
                "SignatureInformation",
                "Signature",
                "SignedInfo",
            ])
            .unwrap()
            .child_elements()
            .filter(|r| r.attr("URI") == Some("#id-xades-signed-props"))
            .find_map(|r| r.child("DigestValue"))
            .unwrap()
            .text();
        assert_eq!(written, props_digest(&root, ext).unwrap());
        assert_eq!(
            sign_xml_by_tree(doc.as_bytes(), &signer, Utc::now())
                .unwrap()
                .len(),
            signed.len()
        );
        assert!(UBL_SIGNATURE.contains(XADES_METHOD));
    }
}

//! MyInvois UBL JSON documents: canonical form, signature extraction and signing.
//!
//! The canonical document is the parsed document with `UBLExtensions` and `Signature` removed
//! from `Invoice[0]`, serialised minified with members in document order. serde_json's
//! `preserve_order` and `arbitrary_precision` features (on workspace-wide) keep member order
//! and the exact number text, which makes this byte-identical to the form LHDN's official
//! samples were signed over (tests check every official sample).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::SignError;
use crate::jsonscan;
use crate::signer::Signer;
use crate::verify::{
    Extracted, RSA_SHA256_URI, SHA256_URI, SigFields, XADES_METHOD, issuer_role, party_from_ids,
};

/// First element of the array under `key`.
fn first<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key)?.as_array()?.first()
}

fn walk<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = first(cur, k)?;
    }
    Some(cur)
}

/// The `_` value of a leaf as text (strings as is, numbers by their literal text).
fn leaf_text(v: &Value) -> Option<String> {
    match v.get("_")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_at(v: &Value, keys: &[&str]) -> Option<String> {
    walk(v, keys).and_then(leaf_text)
}

fn str_attr(v: Option<&Value>, key: &str) -> Option<String> {
    v?.get(key)?.as_str().map(str::to_owned)
}

fn invoice(doc: &Value) -> Result<&Map<String, Value>, String> {
    doc.get("Invoice")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_object)
        .ok_or_else(|| "no Invoice[0] object at the top level".to_owned())
}

fn parse(bytes: &[u8]) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("the top level is not an object".to_owned());
    }
    invoice(&v)?;
    Ok(v)
}

/// The canonical bytes: the document minus `UBLExtensions` and `Signature`, minified.
fn canonical(doc: &Value) -> Result<(Value, Vec<u8>), String> {
    let mut stripped = doc.clone();
    if let Some(inv) = stripped
        .get_mut("Invoice")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.first_mut())
        .and_then(Value::as_object_mut)
    {
        // shift_remove keeps the order of the remaining members (swap_remove would not).
        inv.shift_remove("UBLExtensions");
        inv.shift_remove("Signature");
    }
    let bytes = serde_json::to_vec(&stripped).map_err(|e| e.to_string())?;
    Ok((stripped, bytes))
}

/// Read everything verification needs.
pub(crate) fn extract(bytes: &[u8]) -> Result<Extracted, String> {
    if let Some(scanned) = jsonscan::scan(bytes) {
        // Only the members verification reads are parsed into values; the canonical form came
        // from the scan.
        let mut inv = Map::new();
        for name in READ_MEMBERS {
            if let Some(raw) = scanned.member(name) {
                let v: Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
                inv.insert((*name).to_owned(), v);
            }
        }
        return Ok(extract_from(&Value::Object(inv), scanned.canonical));
    }
    let doc = parse(bytes)?;
    let (_, canonical) = canonical(&doc)?;
    let inv = doc
        .get("Invoice")
        .and_then(|a| a.get(0))
        .ok_or_else(|| "no Invoice[0]".to_owned())?;
    Ok(extract_from(inv, canonical))
}

/// The members of `Invoice[0]` that [`extract_from`] reads.
const READ_MEMBERS: &[&str] = &[
    "InvoiceTypeCode",
    "AccountingSupplierParty",
    "AccountingCustomerParty",
    "UBLExtensions",
    "Signature",
];

/// Everything verification needs, from `Invoice[0]` (or the members of it listed in
/// [`READ_MEMBERS`]) and the canonical bytes.
fn extract_from(inv: &Value, canonical: Vec<u8>) -> Extracted {
    let type_code_el = first(inv, "InvoiceTypeCode");
    let type_code = type_code_el.and_then(leaf_text);
    let version = str_attr(type_code_el, "listVersionID");
    let role = issuer_role(type_code.as_deref());
    let ids = party_ids(inv, role);

    let ubl_signature_present = inv.get("Signature").is_some();
    let ubl_signature_method = text_at(inv, &["Signature", "SignatureMethod"]);

    // Every ds:Signature under every SignatureInformation of every UBLExtension counts; the
    // first is the one verified.
    let signatures = signatures(inv);
    let signature_count = signatures.len();
    let sig = signatures.first().map(|s| sig_fields(s));

    Extracted {
        version,
        type_code,
        issuer: party_from_ids(role, &ids),
        canonical,
        signature_count,
        ubl_signature_method,
        ubl_signature_present,
        sig,
    }
}

/// `(schemeID, value)` of every `PartyIdentification/ID` of the issuer party.
fn party_ids(inv: &Value, role: &str) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    if let Some(party) = walk(inv, &[role, "Party"]) {
        for pi in party
            .get("PartyIdentification")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for id in pi.get("ID").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(s), Some(v)) = (str_attr(Some(id), "schemeID"), leaf_text(id)) {
                    ids.push((s, v));
                }
            }
        }
    }
    ids
}

/// Every `ds:Signature` under every `SignatureInformation` of every `UBLExtension`, in
/// document order.
fn signatures(inv: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for ext in inv
        .get("UBLExtensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for ue in ext
            .get("UBLExtension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(docsigs) = walk(ue, &["ExtensionContent", "UBLDocumentSignatures"]) else {
                continue;
            };
            for si in docsigs
                .get("SignatureInformation")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for s in si
                    .get("Signature")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    all.push(s);
                }
            }
        }
    }
    all
}

/// The fields of one `ds:Signature`.
fn sig_fields(s: &Value) -> SigFields {
    let signed_info = first(s, "SignedInfo");
    let refs: Vec<&Value> = signed_info
        .and_then(|si| si.get("Reference"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let doc_ref = refs
        .iter()
        .find(|r| r.get("URI").and_then(Value::as_str) == Some(""));
    let props_ref = refs
        .iter()
        .find(|r| r.get("URI").and_then(Value::as_str) == Some("#id-xades-signed-props"));
    let qp = walk(s, &["Object", "QualifyingProperties"]);
    let ssp = qp.and_then(|q| walk(q, &["SignedProperties", "SignedSignatureProperties"]));
    let cert = ssp.and_then(|p| walk(p, &["SigningCertificate", "Cert"]));
    SigFields {
        signature_method: str_attr(
            signed_info.and_then(|si| first(si, "SignatureMethod")),
            "Algorithm",
        ),
        doc_digest_method: str_attr(doc_ref.and_then(|r| first(r, "DigestMethod")), "Algorithm"),
        doc_digest: doc_ref.and_then(|r| text_at(r, &["DigestValue"])),
        props_digest_method: str_attr(
            props_ref.and_then(|r| first(r, "DigestMethod")),
            "Algorithm",
        ),
        props_digest: props_ref.and_then(|r| text_at(r, &["DigestValue"])),
        signature_value: text_at(s, &["SignatureValue"]),
        certificate: text_at(s, &["KeyInfo", "X509Data", "X509Certificate"]),
        cert_digest_method: str_attr(
            cert.and_then(|c| walk(c, &["CertDigest", "DigestMethod"])),
            "Algorithm",
        ),
        cert_digest: cert.and_then(|c| text_at(c, &["CertDigest", "DigestValue"])),
        signing_time: ssp.and_then(|p| text_at(p, &["SigningTime"])),
        issuer_name: cert.and_then(|c| text_at(c, &["IssuerSerial", "X509IssuerName"])),
        serial_number: cert.and_then(|c| text_at(c, &["IssuerSerial", "X509SerialNumber"])),
        props_forms: qp
            .and_then(|q| serde_json::to_vec(q).ok())
            .map(|b| vec![("minified QualifyingProperties", b)])
            .unwrap_or_default(),
    }
}

/// Sign a JSON document (§9.3). Any existing signature is replaced; the output is minified
/// with `UBLExtensions` and `Signature` as the last two members of the invoice.
pub fn sign_json(
    bytes: &[u8],
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    let Some(scanned) = jsonscan::scan(bytes) else {
        return sign_json_by_value(bytes, signer, signing_time);
    };
    let (extensions, ubl_signature) = signature_members(&scanned.canonical, signer, signing_time)?;
    // The bytes serde_json writes for the invoice with the two members appended (what
    // `sign_json_by_value` does), spliced into the canonical form where the invoice closes.
    let canonical = &scanned.canonical;
    let at = scanned.invoice_end;
    let mut out = Vec::with_capacity(canonical.len() + 8192);
    out.extend_from_slice(&canonical[..at]);
    if scanned.invoice_has_members {
        out.push(b',');
    }
    out.extend_from_slice(b"\"UBLExtensions\":");
    out.extend_from_slice(extensions.as_bytes());
    out.extend_from_slice(b",\"Signature\":");
    out.extend_from_slice(ubl_signature.as_bytes());
    out.extend_from_slice(&canonical[at..]);
    Ok(out)
}

/// [`sign_json`] through a `serde_json::Value`, for the documents the scanner leaves to
/// serde_json (and to report why a document is not JSON).
fn sign_json_by_value(
    bytes: &[u8],
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    let doc = parse(bytes).map_err(SignError::Document)?;
    let (mut stripped, canonical) = canonical(&doc).map_err(SignError::Document)?;
    let (extensions, ubl_signature) = signature_members(&canonical, signer, signing_time)?;
    let inv = stripped
        .get_mut("Invoice")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.first_mut())
        .and_then(Value::as_object_mut)
        .ok_or_else(|| SignError::Document("no Invoice[0] object".to_owned()))?;
    let value = |json: &str| -> Result<Value, SignError> {
        serde_json::from_str(json).map_err(|e| SignError::Document(e.to_string()))
    };
    inv.insert("UBLExtensions".to_owned(), value(&extensions)?);
    inv.insert("Signature".to_owned(), value(ubl_signature)?);
    serde_json::to_vec(&stripped).map_err(|e| SignError::Document(e.to_string()))
}

/// `s` as a JSON string: quoted and escaped by serde_json's writer.
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The values of `UBLExtensions` (the XAdES signature over `canonical`) and `Signature`, as
/// serde_json writes them (minified, members in this order). Written out rather than built as
/// `Value`s: the hundred small maps cost a tenth of an RSA signature.
fn signature_members(
    canonical: &[u8],
    signer: &Signer,
    signing_time: DateTime<Utc>,
) -> Result<(String, &'static str), SignError> {
    let (digest, signature) = signer.digest_and_sign(canonical)?;
    let (doc_digest, signature) = (B64.encode(digest), B64.encode(signature));
    let cert = signer.certificate();
    let info = cert.inspect();
    let issuer = quoted(&info.issuer);
    let serial = quoted(&info.serial_number);
    let digest_method = format!(r#"[{{"_":"","Algorithm":"{SHA256_URI}"}}]"#);

    let qualifying = format!(
        concat!(
            r#"{{"Target":"signature","SignedProperties":[{{"Id":"id-xades-signed-props","SignedSignatureProperties":[{{"#,
            r#""SigningTime":[{{"_":"{time}"}}],"SigningCertificate":[{{"Cert":[{{"#,
            r#""CertDigest":[{{"DigestMethod":{dm},"DigestValue":[{{"_":{cert_digest}}}]}}],"#,
            r#""IssuerSerial":[{{"X509IssuerName":[{{"_":{issuer}}}],"X509SerialNumber":[{{"_":{serial}}}]}}]"#,
            r#"}}]}}]}}]}}]}}"#
        ),
        time = signing_time.format("%Y-%m-%dT%H:%M:%SZ"),
        dm = digest_method,
        cert_digest = quoted(cert.digest()),
        issuer = issuer,
        serial = serial,
    );
    let props_digest = B64.encode(Sha256::digest(qualifying.as_bytes()));

    let extensions = format!(
        concat!(
            r#"[{{"UBLExtension":[{{"ExtensionURI":[{{"_":"{xades}"}}],"ExtensionContent":[{{"UBLDocumentSignatures":[{{"#,
            r#""SignatureInformation":[{{"ID":[{{"_":"urn:oasis:names:specification:ubl:signature:1"}}],"#,
            r#""ReferencedSignatureID":[{{"_":"urn:oasis:names:specification:ubl:signature:Invoice"}}],"#,
            r#""Signature":[{{"Id":"signature","Object":[{{"QualifyingProperties":[{qualifying}]}}],"#,
            r#""KeyInfo":[{{"X509Data":[{{"X509Certificate":[{{"_":"{cert}"}}],"X509SubjectName":[{{"_":{subject}}}],"#,
            r#""X509IssuerSerial":[{{"X509IssuerName":[{{"_":{issuer}}}],"X509SerialNumber":[{{"_":{serial}}}]}}]}}]}}],"#,
            r#""SignatureValue":[{{"_":"{signature}"}}],"#,
            r#""SignedInfo":[{{"SignatureMethod":[{{"_":"","Algorithm":"{rsa}"}}],"Reference":["#,
            r##"{{"Type":"http://uri.etsi.org/01903/v1.3.2#SignedProperties","URI":"#id-xades-signed-props","DigestMethod":{dm},"DigestValue":[{{"_":"{props_digest}"}}]}},"##,
            r#"{{"Type":"","URI":"","DigestMethod":{dm},"DigestValue":[{{"_":"{doc_digest}"}}]}}]}}]"#,
            r#"}}]}}]}}]}}]}}]}}]"#
        ),
        xades = XADES_METHOD,
        qualifying = qualifying,
        cert = B64.encode(cert.der()),
        subject = quoted(&info.subject),
        issuer = issuer,
        serial = serial,
        signature = signature,
        rsa = RSA_SHA256_URI,
        dm = digest_method,
        props_digest = props_digest,
        doc_digest = doc_digest,
    );
    Ok((extensions, UBL_SIGNATURE))
}

/// The value of the invoice's `Signature` member.
const UBL_SIGNATURE: &str = concat!(
    r#"[{"ID":[{"_":"urn:oasis:names:specification:ubl:signature:Invoice"}],"#,
    r#""SignatureMethod":[{"_":"urn:oasis:names:specification:ubl:dsig:enveloped:xades"}]}]"#
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical bytes through serde_json's `Value`: the definition the scanner follows.
    fn by_value(doc: &str) -> Option<Vec<u8>> {
        let v = parse(doc.as_bytes()).ok()?;
        Some(canonical(&v).ok()?.1)
    }

    fn by_scan(doc: &str) -> Option<Vec<u8>> {
        jsonscan::scan(doc.as_bytes()).map(|s| s.canonical)
    }

    #[test]
    fn the_scan_writes_what_serde_json_writes() {
        for doc in [
            r#"{"Invoice":[{"ID":[{"_":"A1"}]}]}"#,
            "\u{feff} {\n \"_D\" : \"urn:x\",\r\n\t\"Invoice\" : [ { \"ID\" : [ { \"_\" : \"A1\" } ] , \"UBLExtensions\":[{}], \"Note\":[] , \"Signature\" : [ {\"ID\":[{\"_\":\"s\"}]} ] } , {\"UBLExtensions\":1} ] }\n",
            r#"{"Invoice":[{"UBLExtensions":[],"Signature":[]}]}"#,
            r#"{"Invoice":[{"Signature":[],"A":true,"B":false,"C":null}]}"#,
            r#"{"Invoice":[{"N":[0,-0,1.50,-12.0e5,3E-2,4e+1,18446744073709551616,-9223372036854775809]}]}"#,
            r#"{"Invoice":[{"S":["a\"b\\c\/d\b\f\n\r\t","\u00e9\u0041\u001f\u007f\u0000","日本 é","\ud83d\ude00"]}]}"#,
            r#"{"Invoice":[{}],"Z":{"Invoice":[{"Signature":1}]}}"#,
        ] {
            assert_eq!(by_scan(doc), by_value(doc), "{doc}");
            assert!(by_scan(doc).is_some(), "{doc}");
        }
    }

    #[test]
    fn the_written_members_are_what_serde_json_writes() {
        let signer = crate::TestCa::well_known()
            .unwrap()
            .issue(&crate::TestCertRequest::new("C1", "B \"2\" \\ é"))
            .unwrap()
            .signer()
            .unwrap();
        let (ext, sig) = signature_members(b"{}", &signer, Utc::now()).unwrap();
        for json in [ext.as_str(), sig] {
            let v: Value = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
        }
        assert!(UBL_SIGNATURE.contains(XADES_METHOD));
    }

    #[test]
    fn the_scan_leaves_the_rest_to_serde_json() {
        for doc in [
            r#"{"Invoice":[{"A":1,"A":2}]}"#,
            r#"{"Invoice":[{"\u0041":1}]}"#,
            r#"{"Invoice":[{"A":"\ud800"}]}"#,
            r#"{"Invoice":[{"A":"\ud800\n"}]}"#,
            r#"{"Invoice":[{"A":"\udc00"}]}"#,
            r#"{"Invoice":[1]}"#,
            r#"{"Invoice":{}}"#,
            r#"{"Invoice":[{"A":01}]}"#,
            r#"{"Invoice":[{"A":1.}]}"#,
            r#"{"Invoice":[{"A":"x
"}]}"#,
            r#"{"Invoice":[{"A":1}]} x"#,
            r#"[{"Invoice":[{}]}]"#,
            r#"{"Invoice":[{"A":tru}]}"#,
        ] {
            assert!(by_scan(doc).is_none(), "{doc}");
        }
        let deep = format!(
            r#"{{"Invoice":[{{"A":{}1{}}}]}}"#,
            "[".repeat(130),
            "]".repeat(130)
        );
        assert!(by_scan(&deep).is_none());
        assert!(by_value(&deep).is_none());
    }
}

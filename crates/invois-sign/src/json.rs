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
use crate::jsonread::{Json, Step};
use crate::jsonscan;
use crate::signer::Signer;
use crate::verify::{
    Extracted, PropsForm, RSA_SHA256_URI, SHA256_URI, SigFields, XADES_METHOD, issuer_role,
    party_from_ids,
};

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
        // The members read come minified from the scan, as does the canonical form: no tree.
        let member = |name: &str| scanned.member(name).map(Json::new);
        let ex = extract_from(member, Vec::new());
        return Ok(Extracted {
            canonical: scanned.canonical,
            ..ex
        });
    }
    extract_by_value(bytes)
}

/// [`extract`] through a `serde_json::Value`, for the documents the scanner leaves to
/// serde_json (and to report why a document is not JSON).
fn extract_by_value(bytes: &[u8]) -> Result<Extracted, String> {
    let doc = parse(bytes)?;
    let (_, canonical) = canonical(&doc)?;
    let inv = doc
        .get("Invoice")
        .and_then(|a| a.get(0))
        .ok_or_else(|| "no Invoice[0]".to_owned())?;
    // The invoice written minified reads as the scan's members do.
    let inv = serde_json::to_vec(inv).map_err(|e| e.to_string())?;
    let inv = Json::new(&inv);
    Ok(extract_from(|name| inv.get(name), canonical))
}

/// Everything verification needs, from the members of `Invoice[0]` (`member` gives each, as
/// serde_json writes it) and the canonical bytes.
fn extract_from<'a>(member: impl Fn(&str) -> Option<Json<'a>>, canonical: Vec<u8>) -> Extracted {
    let first = |name: &str| member(name)?.elements()?.next();
    let type_code_el = first("InvoiceTypeCode");
    let type_code = type_code_el.and_then(Json::leaf_text);
    let version = type_code_el.and_then(|e| e.str_attr("listVersionID"));
    let role = issuer_role(type_code.as_deref());
    let ids = party_ids(first(role));

    let ubl_signature = member("Signature");
    let ubl_signature_method = ubl_signature
        .and_then(|s| s.elements()?.next())
        .and_then(|s| s.text_at(&["SignatureMethod"]));

    // Every ds:Signature under every SignatureInformation of every UBLExtension counts; the
    // first is the one verified.
    let mut signature_count = 0;
    let mut sig = None;
    if let Some(extensions) = member("UBLExtensions") {
        extensions.visit_elements(SIGNATURES, |s| {
            signature_count += 1;
            if sig.is_none() {
                sig = Some(sig_fields(s));
            }
        });
    }

    Extracted {
        version,
        type_code,
        issuer: party_from_ids(role, &ids),
        canonical,
        signature_count,
        ubl_signature_method,
        ubl_signature_present: ubl_signature.is_some(),
        sig,
    }
}

/// `(schemeID, value)` of every `PartyIdentification/ID` of the issuer party (`role[0]`).
fn party_ids(role: Option<Json<'_>>) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    if let Some(party) = role.and_then(|r| r.first("Party")) {
        for pi in party.array("PartyIdentification") {
            for id in pi.array("ID") {
                if let (Some(s), Some(v)) = (id.str_attr("schemeID"), id.leaf_text()) {
                    ids.push((s, v));
                }
            }
        }
    }
    ids
}

/// Where every `ds:Signature` is from the elements of `UBLExtensions`: under every
/// `SignatureInformation` of the first `UBLDocumentSignatures` in the first `ExtensionContent`
/// of every `UBLExtension`.
const SIGNATURES: &[Step<'_>] = &[
    ("UBLExtension", true),
    ("ExtensionContent", false),
    ("UBLDocumentSignatures", false),
    ("SignatureInformation", true),
    ("Signature", true),
];

/// The fields of one `ds:Signature`.
fn sig_fields(s: Json<'_>) -> SigFields {
    fn first(v: Option<Json<'_>>) -> Option<Json<'_>> {
        v?.elements()?.next()
    }
    let [signed_info, signature_value, key_info, object] =
        s.fields(["SignedInfo", "SignatureValue", "KeyInfo", "Object"]);
    let signed_info = first(signed_info);
    let mut doc_ref = None;
    let mut props_ref = None;
    for r in signed_info.into_iter().flat_map(|si| si.array("Reference")) {
        let uri = r.get("URI").and_then(Json::as_str);
        match uri.as_deref() {
            Some("") if doc_ref.is_none() => doc_ref = Some(r),
            Some("#id-xades-signed-props") if props_ref.is_none() => props_ref = Some(r),
            _ => {}
        }
    }
    let algorithm = |v: Option<Json<'_>>, keys: &[&str]| v?.walk(keys)?.str_attr("Algorithm");
    let qp = first(object).and_then(|o| o.first("QualifyingProperties"));
    let ssp = qp.and_then(|q| q.walk(&["SignedProperties", "SignedSignatureProperties"]));
    let cert = ssp.and_then(|p| p.walk(&["SigningCertificate", "Cert"]));
    SigFields {
        signature_method: algorithm(signed_info, &["SignatureMethod"]),
        doc_digest_method: algorithm(doc_ref, &["DigestMethod"]),
        doc_digest: doc_ref.and_then(|r| r.text_at(&["DigestValue"])),
        props_digest_method: algorithm(props_ref, &["DigestMethod"]),
        props_digest: props_ref.and_then(|r| r.text_at(&["DigestValue"])),
        signature_value: first(signature_value).and_then(Json::leaf_text),
        certificate: first(key_info).and_then(|k| k.text_at(&["X509Data", "X509Certificate"])),
        cert_digest_method: algorithm(cert, &["CertDigest", "DigestMethod"]),
        cert_digest: cert.and_then(|c| c.text_at(&["CertDigest", "DigestValue"])),
        signing_time: ssp.and_then(|p| p.text_at(&["SigningTime"])),
        issuer_name: cert.and_then(|c| c.text_at(&["IssuerSerial", "X509IssuerName"])),
        serial_number: cert.and_then(|c| c.text_at(&["IssuerSerial", "X509SerialNumber"])),
        // The value as serde_json writes it: the minified QualifyingProperties.
        props_forms: qp
            .map(|q| vec![PropsForm::new("minified QualifyingProperties", q.bytes())])
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
    // `sign_json_by_value` does), spliced into the canonical form where the invoice closes:
    // near the end of the document, so only its last bytes move.
    let mut members = Vec::with_capacity(extensions.len() + ubl_signature.len() + 32);
    if scanned.invoice_has_members {
        members.push(b',');
    }
    members.extend_from_slice(b"\"UBLExtensions\":");
    members.extend_from_slice(extensions.as_bytes());
    members.extend_from_slice(b",\"Signature\":");
    members.extend_from_slice(ubl_signature.as_bytes());
    let at = scanned.invoice_end;
    let mut out = scanned.canonical;
    out.splice(at..at, members);
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

    /// The scan copies runs of string content eight bytes at a time: whatever ends a run (a
    /// quote, an escape, a control character) or sits next to one (a multi-byte character)
    /// must be seen at every offset of a chunk and across its edges.
    #[test]
    fn the_scan_agrees_at_every_offset_of_a_run() {
        let specials = [
            r#"\""#,
            r"\\",
            r"\/",
            r"\n",
            r"\u00e9",
            r"\u001F",
            r"\ud83d\ude00",
            "é",
            "日",
            "😀",
            "\u{7f}",
            "~",
            " ",
        ];
        for lead in 0..20 {
            for special in specials {
                let text = format!("{}{special}{}", "a".repeat(lead), "b".repeat(lead % 9));
                let doc = format!(
                    r#"{{"Invoice":[{{"{}":[{{"_":"{text}","k{text}":1}}],"T":"{text}"}}]}}"#,
                    "K".repeat(lead)
                );
                // A member name must be plain text: only the plain ones are scanned.
                let plain = !special.starts_with('\\');
                assert_eq!(by_scan(&doc).is_some(), plain, "{doc}");
                let doc = doc.replace(&format!("\"k{text}\""), "\"k\"");
                assert_eq!(by_scan(&doc), by_value(&doc), "{doc}");
                assert!(by_scan(&doc).is_some(), "{doc}");
                // A raw control character ends a run too: serde_json refuses it.
                let raw = doc.replacen('a', "\u{1}", 1);
                if raw != doc {
                    assert!(
                        by_scan(&raw).is_none() && by_value(&raw).is_none(),
                        "{raw:?}"
                    );
                }
            }
        }
    }

    /// A leaf (`[{"_":…}]`) is read whole when it is its own canonical form, and the general
    /// way otherwise: both must accept, refuse and write exactly alike. Each leaf is read once
    /// as written and once after a space (which only the general path reads), at the depths
    /// around the scanner's limit too.
    #[test]
    fn a_leaf_read_whole_reads_as_the_general_path_reads() {
        let leaves = [
            r#"[{"_":"a"}]"#,
            r#"[{"_":""}]"#,
            r#"[{"_":"日本 é 😀"}]"#,
            r#"[{"_":"a"b"}]"#,
            r#"[{"_":"a\/b"}]"#,
            r#"[{"_":"A"}]"#,
            r#"[{"_":""UBLExtensions":[{"_":"x"}],"Signature":1"}]"#,
            r#"[{"_":"x"}],"Signature":[{"_":"y"}]"#,
            r#"[{"_":0}]"#,
            r#"[{"_":-0}]"#,
            r#"[{"_":1.50,"currencyID":"MYR"}]"#,
            r#"[{"_":-12.0}]"#,
            r#"[{"_":01}]"#,
            r#"[{"_":1.}]"#,
            r#"[{"_":.5}]"#,
            r#"[{"_":-}]"#,
            r#"[{"_":1.2.3}]"#,
            r#"[{"_":1e5}]"#,
            r#"[{"_":1E+5,"a":"b"}]"#,
            r#"[{"_":1.5e-2}]"#,
            r#"[{"_":true}]"#,
            r#"[{"_":false,"a":"b"}]"#,
            r#"[{"_":null}]"#,
            r#"[{"_":tru}]"#,
            r#"[{"_":nulll}]"#,
            r#"[{"_":"a","currencyID":"MYR"}]"#,
            r#"[{"_":"a","b":"1","c":"2"}]"#,
            r#"[{"_":"a","b":"1","c":"2","d":"3"}]"#,
            r#"[{"_":"a","b":"1","c":"2","d":"3","e":"4"}]"#,
            r#"[{"_":"a","_":"b"}]"#,
            r#"[{"_":"a","b":"1","b":"2"}]"#,
            r#"[{"_":"a","b":"1","c":"2","b":"3"}]"#,
            r#"[{"_":"a","b":1}]"#,
            r#"[{"_":"a","b":"
"}]"#,
            r#"[{"_":"a","b"":"c"}]"#,
            r#"[{"_":"a","b":"c" }]"#,
            r#"[{"_":"a", "b":"c"}]"#,
            r#"[{"_":"a"},{"_":"b"}]"#,
            r#"[{"_":"a"}}"#,
            r#"[{"_":"a"}]]"#,
            r#"[{"_":"a"]"#,
            r#"[{"_":"a"}"#,
            r#"[{"_":"a"#,
            "[{\"_\":\"a\u{1}\"}]",
            "[{\"_\":\"a\u{7f}\"}]",
        ];
        for leaf in leaves {
            for nesting in [0, 111, 112, 113, 114, 115] {
                let (open, close) = ("[".repeat(nesting), "]".repeat(nesting));
                let doc = format!(
                    r#"{{"Invoice":[{{"ID":{leaf},"N":[{{"M":{open}{leaf}{close}}}]}}],"Z":{leaf}}}"#
                );
                let general = doc.replace(r#"[{"_""#, r#"[ {"_""#);
                assert_ne!(doc, general);
                let scanned = by_scan(&doc);
                assert_eq!(scanned, by_scan(&general), "{doc}");
                if scanned.is_some() {
                    assert_eq!(scanned, by_value(&doc), "{doc}");
                }
            }
        }
        // The plain leaves are read (as written) by the scan.
        for leaf in [
            r#"[{"_":"a"}]"#,
            r#"[{"_":-12.0,"a":"b","c":"d"}]"#,
            r#"[{"_":null}]"#,
        ] {
            let doc = format!(r#"{{"Invoice":[{{"ID":{leaf}}}]}}"#);
            assert_eq!(by_scan(&doc).as_deref(), Some(doc.as_bytes()), "{doc}");
        }
    }

    /// The scan's members read as serde_json's `Value` of the document, written back, reads.
    #[test]
    fn the_scan_reads_what_serde_json_reads() {
        use invois_testkit::{Corpus, Kind, Version};
        let corpus = Corpus::fixtures();
        for version in Version::ALL {
            for kind in Kind::ALL.into_iter().filter(|k| k.in_version(version)) {
                let doc = corpus.read(version, kind, invois_model::Format::Json);
                let v: Value = serde_json::from_slice(&doc).unwrap();
                let pretty = serde_json::to_vec_pretty(&v).unwrap();
                let twice = String::from_utf8(doc.clone()).unwrap().replacen(
                    r#""Signature":[{"Id""#,
                    r#""Signature":[{"Id":"again"},{"Id""#,
                    1,
                );
                for doc in [doc, pretty, twice.into_bytes()] {
                    assert!(jsonscan::scan(&doc).is_some());
                    assert_eq!(
                        format!("{:?}", extract(&doc)),
                        format!("{:?}", extract_by_value(&doc)),
                        "{version:?} {kind:?}"
                    );
                }
            }
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

    /// UTF-8 is checked where the scan meets bytes past ASCII, not over the whole document
    /// first: a broken sequence anywhere (a string, a member name, between tokens, at the
    /// end) is refused as serde_json refuses it, and a whole one is read alike.
    #[test]
    fn bytes_that_are_not_utf8_are_refused_wherever_they_are() {
        let broken: [&[u8]; 6] = [
            b"\xff",
            b"\xc3",
            b"\xc3(",
            b"\xe6\x97",
            b"\xed\xa0\x80",
            b"\xf0\x9f\x98",
        ];
        let places = [
            r#"{"Invoice":[{"A":[{"_":"xX"}]}]}"#,
            r#"{"Invoice":[{"A":[{"_":"X"}]}]}"#,
            r#"{"Invoice":[{"A":"éX日"}]}"#,
            r#"{"Invoice":[{"kX":1}]}"#,
            r#"{"Invoice":[{"A":1}]}X"#,
            r#"{"Invoice":[{"A":1X}]}"#,
        ];
        for place in places {
            for bytes in broken {
                let doc = place.replace('X', "\u{1}").into_bytes();
                let at = doc.iter().position(|&b| b == 1).unwrap();
                let mut doc = doc;
                doc.splice(at..=at, bytes.iter().copied());
                assert!(jsonscan::scan(&doc).is_none(), "{doc:?}");
                assert!(serde_json::from_slice::<Value>(&doc).is_err(), "{doc:?}");
            }
            // Whole characters in strings and names read as serde_json reads them.
            let whole = place.replace('X', "é😀");
            if serde_json::from_str::<Value>(&whole).is_ok() {
                assert_eq!(by_scan(&whole), by_value(&whole), "{whole}");
                assert!(by_scan(&whole).is_some(), "{whole}");
            }
        }
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

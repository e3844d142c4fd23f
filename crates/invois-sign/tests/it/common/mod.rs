//! Helpers shared by the integration tests: the documents to test with (the project's fixtures,
//! always, and LHDN's official samples when `INVOIS_LHDN_SAMPLES` names them; see
//! `invois_testkit::corpus`) and a cached test certificate for the fixtures' issuer.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use invois_sign::{Format, IssuedCertificate, TestCa, TestCertRequest};
use invois_testkit::{Corpus, Kind, Version};
use serde_json::Value;

/// The fixtures' issuer (the sandbox's demo supplier): every fixture is issued, and signed, by
/// this taxpayer (as the buyer of self-billed ones), so [`issued`] certificates match them.
pub const TIN: &str = invois_testkit::fixtures::ISSUER_TIN;
pub const BRN: &str = invois_testkit::fixtures::ISSUER_BRN;

/// The corpus API speaks `invois_model::Format`; the signer has its own.
pub fn model_format(format: Format) -> invois_model::Format {
    match format {
        Format::Json => invois_model::Format::Json,
        Format::Xml => invois_model::Format::Xml,
    }
}

pub fn extension(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

/// A fixture as committed: signed for 1.1 and 1.3.
pub fn fixture(version: Version, kind: Kind, format: Format) -> Vec<u8> {
    Corpus::fixtures().read(version, kind, model_format(format))
}

/// A fixture before signing (the `-unsigned` folder for 1.1 and 1.3).
pub fn unsigned(version: Version, kind: Kind, format: Format) -> Vec<u8> {
    invois_testkit::unsigned_fixture(version, kind, model_format(format))
}

/// The folder of a version's documents, in the corpus's own layout.
pub fn version_dir(corpus: &Corpus, version: Version) -> PathBuf {
    let name = match (corpus, version) {
        (Corpus::Lhdn(_), Version::V1_2) => "v1.2-svdp".to_owned(),
        (Corpus::Lhdn(_), Version::V1_3) => "v1.3-svdp".to_owned(),
        _ => format!("v{}", version.as_str()),
    };
    corpus.root().join(name)
}

/// Every file of a folder with this format's extension, sorted, as (name, bytes); fails if
/// there are none. `label` prefixes the names (for assertion messages).
pub fn list(dir: &Path, format: Format, label: &str) -> Vec<(String, Vec<u8>)> {
    let ext = extension(format);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .{ext} documents in {}", dir.display());
    v.into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let name = if label.is_empty() {
                name
            } else {
                format!("{label}: {name}")
            };
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// `Corpus::lhdn()`, looked up once per test binary (the helpers below ask for it per
/// document).
fn lhdn() -> Option<&'static Corpus> {
    static L: OnceLock<Option<Corpus>> = OnceLock::new();
    L.get_or_init(Corpus::lhdn).as_ref()
}

/// `Corpus::available()`: the fixtures, then LHDN's samples when switched on.
pub fn available() -> Vec<Corpus> {
    let mut v = vec![Corpus::fixtures()];
    v.extend(lhdn().cloned());
    v
}

/// The documents of a version as published (signed for 1.1 and 1.3), of every available
/// corpus: the fixtures, then LHDN's samples when switched on.
pub fn documents(version: Version, format: Format) -> Vec<(String, Vec<u8>)> {
    available()
        .iter()
        .flat_map(|c| list(&version_dir(c, version), format, c.name()))
        .collect()
}

/// Documents of a version to sign with [`issued`]: the fixtures' unsigned forms, and LHDN's
/// samples (when switched on) with their placeholder identities filled ([`with_identity`]).
pub fn to_sign(version: Version, format: Format) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Kind::ALL
        .into_iter()
        .filter(|k| k.in_version(version))
        .map(|k| {
            (
                format!("fixtures: {} {}", version.as_str(), k.slug()),
                unsigned(version, k, format),
            )
        })
        .collect();
    if let Some(lhdn) = lhdn() {
        out.extend(
            list(&version_dir(lhdn, version), format, lhdn.name())
                .into_iter()
                .map(|(name, bytes)| (name, with_identity(&bytes))),
        );
    }
    out
}

/// One kind of document to sign, of every available corpus (see [`to_sign`]).
pub fn to_sign_kind(version: Version, kind: Kind, format: Format) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        format!("fixtures: {} {}", version.as_str(), kind.slug()),
        unsigned(version, kind, format),
    )];
    if let Some(lhdn) = lhdn() {
        let path = lhdn.path(version, kind, model_format(format));
        out.push((
            format!("{}: {}", lhdn.name(), path.display()),
            with_identity(&lhdn.read(version, kind, model_format(format))),
        ));
    }
    out
}

/// An LHDN file by its path below the samples folder (`signed/one-doc-signed.xml`). Only for
/// tests of LHDN's publications, which hold a `Corpus::lhdn()`.
pub fn lhdn_read(lhdn: &Corpus, rel: &str) -> Vec<u8> {
    assert!(lhdn.is_lhdn(), "lhdn_read on {}", lhdn.name());
    let p = lhdn.root().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Every file of an LHDN samples folder (`v1.1`, `v1.3-svdp`, ...) with this extension,
/// sorted, named by file name; fails if there are none.
pub fn lhdn_samples(lhdn: &Corpus, dir: &str, ext: &str) -> Vec<(String, Vec<u8>)> {
    assert!(lhdn.is_lhdn(), "lhdn_samples on {}", lhdn.name());
    let format = if ext == "json" {
        Format::Json
    } else {
        Format::Xml
    };
    list(&lhdn.root().join(dir), format, "")
}

/// One ERP-profile certificate from the well-known test CA for the fixtures' issuer, issued
/// once per test binary (RSA key generation is the slow part).
pub fn issued() -> &'static IssuedCertificate {
    static C: OnceLock<IssuedCertificate> = OnceLock::new();
    C.get_or_init(|| {
        TestCa::well_known()
            .unwrap()
            .issue(&TestCertRequest::new(TIN, BRN))
            .unwrap()
    })
}

/// Replace LHDN's issuer TIN and BRN placeholders so identity checks can pass (fixtures have
/// real identities already, and are returned unchanged).
pub fn with_identity(doc: &[u8]) -> Vec<u8> {
    String::from_utf8(doc.to_vec())
        .unwrap()
        .replace("Supplier's TIN", TIN)
        .replace("Supplier's BRN", BRN)
        .replace("Buyer's TIN", TIN)
        .replace("Buyer's BRN", BRN)
        .into_bytes()
}

/// Sets the TIN and BRN of a party (`AccountingSupplierParty`, `AccountingCustomerParty`) of a
/// JSON document.
pub fn set_party(doc: &mut Value, role: &str, tin: &str, brn: &str) {
    let ids = doc["Invoice"][0][role][0]["Party"][0]["PartyIdentification"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("{role} has no PartyIdentification"));
    let mut set = 0;
    for id in ids {
        let id = &mut id["ID"][0];
        let value = match id["schemeID"].as_str() {
            Some("TIN") => tin,
            Some("BRN") => brn,
            _ => continue,
        };
        id["_"] = Value::from(value);
        set += 1;
    }
    assert_eq!(set, 2, "{role}: TIN and BRN");
}

/// A JSON document with its parties' identities changed (see [`set_party`]).
pub fn with_parties(doc: &[u8], supplier: (&str, &str), buyer: (&str, &str)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(doc).unwrap();
    set_party(&mut v, "AccountingSupplierParty", supplier.0, supplier.1);
    set_party(&mut v, "AccountingCustomerParty", buyer.0, buyer.1);
    serde_json::to_vec(&v).unwrap()
}

/// Changes the document's own `cbc:ID` (the first after UBLExtensions) of an XML document.
pub fn edit_xml_invoice_id(xml: &str, new_id: &str) -> String {
    let after_ext = xml
        .rfind("UBLExtensions>")
        .expect("no UBLExtensions in the document");
    let open = "<cbc:ID>";
    let a = after_ext + xml[after_ext..].find(open).unwrap() + open.len();
    let b = a + xml[a..].find("</cbc:ID>").unwrap();
    assert_ne!(&xml[a..b], new_id);
    format!("{}{new_id}{}", &xml[..a], &xml[b..])
}

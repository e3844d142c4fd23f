//! The fields verification reads from an XML document, read while `xmlscan` scans it.
//!
//! Verification reads the type code, the issuer party's identifiers and the signature block.
//! Building a tree of those children of the root (a `String` per name, a map per scope) cost
//! more than the scan of the whole document. This reader answers what `xml::extract_from`
//! answers on that tree, from the scanner's events: each element gets a role from its
//! parent's role and its name, with the tree's rules (the first child of a local name, or the
//! first `ds:Signature`, the first `Reference` of each URI, every `PartyIdentification/ID`), and
//! an element's text is its non-blank text runs joined, as `Element::text` joins the text
//! nodes that survive whitespace stripping. It also writes the signed properties in the form
//! invois signs and LHDN's samples were signed in (`xmldom::visibly_used_subtree` with the
//! samples' layout); when that form does not give the PropsDigest, the caller falls back to
//! the tree, which tries the other forms.

use std::borrow::Cow;

use crate::verify::{Extracted, SigFields, issuer_role, party_from_ids};
use crate::xml::{NS_CAC, NS_DS, NS_EXT};
use crate::xmlscan::RawAttr;

/// What an element is to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Other,
    Root,
    TypeCode,
    /// `AccountingSupplierParty` (0) or `AccountingCustomerParty` (1), then its `Party`, a
    /// `PartyIdentification`, an `ID` with a `schemeID`.
    PartyRoot(usize),
    Party(usize),
    PartyIdent(usize),
    PartyId(usize),
    UblSig,
    UblSigMethod,
    Ext,
    Ue,
    Content,
    DocSigs,
    SigInfo,
    Sig,
    SignedInfo,
    SigMethod,
    /// The document's `Reference` (false) or the signed properties' (true).
    Ref(bool),
    RefDigestMethod(bool),
    RefDigestValue(bool),
    SigValue,
    KeyInfo,
    X509Data,
    Certificate,
    Object,
    Qp,
    Sp,
    Ssp,
    SigningTime,
    SigningCert,
    Cert,
    CertDigest,
    CertDigestMethod,
    CertDigestValue,
    IssuerSerial,
    IssuerName,
    SerialNumber,
}

/// An element as the scanner read its start tag.
pub(crate) struct Start<'s, 'a> {
    pub(crate) qname: &'a str,
    pub(crate) prefix: Option<&'a str>,
    pub(crate) local: &'a str,
    pub(crate) ns: Option<&'s str>,
    /// Attributes but namespace declarations, as written.
    pub(crate) attrs: &'s [RawAttr<'a>],
    /// The namespace declarations in scope, this element's included, innermost last.
    pub(crate) scope: &'s [(Option<&'a str>, Cow<'a, str>)],
}

impl Start<'_, '_> {
    /// An unprefixed attribute's value (`Element::attr`).
    fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.qname == local)
            .map(|a| a.value.as_ref())
    }

    fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns == Some(ns)
    }
}

/// What the reader keeps of an open element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opened {
    pub(crate) role: Role,
    /// Which of its child roles have been taken (the tree reads the first child of a name).
    seen: u32,
    /// Inside the first `ext:UBLExtensions` (whose `ds:Signature`s are counted).
    in_ext: bool,
    /// Inside the signed properties: how many declarations their form had rendered before.
    form_rendered: Option<usize>,
}

impl Opened {
    /// Whether the reader wants the text directly inside this element.
    pub(crate) fn reads_text(&self) -> bool {
        self.role != Role::Other || self.form_rendered.is_some()
    }

    /// Whether nothing under this element is read: no child of it takes a role, counts as a
    /// signature or renders into the signed properties' form, so a child is [`Self::OTHER`]
    /// without looking at it (most elements of a document).
    pub(crate) fn is_inert(&self) -> bool {
        self.role == Role::Other && !self.in_ext && self.form_rendered.is_none()
    }

    pub(crate) const OTHER: Opened = Opened {
        role: Role::Other,
        seen: 0,
        in_ext: false,
        form_rendered: None,
    };
}

/// The child role of an element under `parent`, and the bit of `parent.seen` it takes (0: a
/// role every such child gets).
fn child_role(parent: Role, e: &Start<'_, '_>) -> Option<(u32, Role)> {
    use Role as R;
    let l = e.local;
    Some(match parent {
        R::Root => match l {
            "InvoiceTypeCode" => (1, R::TypeCode),
            "AccountingSupplierParty" => (2, R::PartyRoot(0)),
            "AccountingCustomerParty" => (4, R::PartyRoot(1)),
            _ if e.is(NS_CAC, "Signature") => (8, R::UblSig),
            _ if e.is(NS_EXT, "UBLExtensions") => (16, R::Ext),
            _ => return None,
        },
        R::PartyRoot(p) if l == "Party" => (1, R::Party(p)),
        R::Party(p) if l == "PartyIdentification" => (0, R::PartyIdent(p)),
        R::PartyIdent(p) if l == "ID" && e.attr("schemeID").is_some() => (0, R::PartyId(p)),
        R::UblSig if l == "SignatureMethod" => (1, R::UblSigMethod),
        R::Ext if l == "UBLExtension" => (1, R::Ue),
        R::Ue if l == "ExtensionContent" => (1, R::Content),
        R::Content if l == "UBLDocumentSignatures" => (1, R::DocSigs),
        R::DocSigs if l == "SignatureInformation" => (1, R::SigInfo),
        R::SigInfo if e.is(NS_DS, "Signature") => (1, R::Sig),
        R::Sig => match l {
            "SignedInfo" => (1, R::SignedInfo),
            "SignatureValue" => (2, R::SigValue),
            "KeyInfo" => (4, R::KeyInfo),
            "Object" => (8, R::Object),
            _ => return None,
        },
        R::SignedInfo => match (l, e.attr("URI")) {
            ("SignatureMethod", _) => (1, R::SigMethod),
            ("Reference", Some("")) => (2, R::Ref(false)),
            ("Reference", Some("#id-xades-signed-props")) => (4, R::Ref(true)),
            _ => return None,
        },
        R::Ref(props) => match l {
            "DigestMethod" => (1, R::RefDigestMethod(props)),
            "DigestValue" => (2, R::RefDigestValue(props)),
            _ => return None,
        },
        R::KeyInfo if l == "X509Data" => (1, R::X509Data),
        R::X509Data if l == "X509Certificate" => (1, R::Certificate),
        R::Object if l == "QualifyingProperties" => (1, R::Qp),
        R::Qp if l == "SignedProperties" => (1, R::Sp),
        R::Sp if l == "SignedSignatureProperties" => (1, R::Ssp),
        R::Ssp => match l {
            "SigningTime" => (1, R::SigningTime),
            "SigningCertificate" => (2, R::SigningCert),
            _ => return None,
        },
        R::SigningCert if l == "Cert" => (1, R::Cert),
        R::Cert => match l {
            "CertDigest" => (1, R::CertDigest),
            "IssuerSerial" => (2, R::IssuerSerial),
            _ => return None,
        },
        R::CertDigest => match l {
            "DigestMethod" => (1, R::CertDigestMethod),
            "DigestValue" => (2, R::CertDigestValue),
            _ => return None,
        },
        R::IssuerSerial => match l {
            "X509IssuerName" => (1, R::IssuerName),
            "X509SerialNumber" => (2, R::SerialNumber),
            _ => return None,
        },
        _ => return None,
    })
}

/// The namespace bound to `prefix` in `scope` (innermost last).
fn lookup<'x>(scope: &'x [(Option<&str>, Cow<'_, str>)], prefix: Option<&str>) -> Option<&'x str> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| u.as_ref())
}

/// What the reader gathered.
#[derive(Debug, Default)]
pub(crate) struct Read<'a> {
    type_code: Option<String>,
    version: Option<String>,
    /// The identifiers of the supplier's and the customer's party.
    parties: [Vec<(String, String)>; 2],
    ubl_signature_present: bool,
    ubl_signature_method: Option<String>,
    signature_count: usize,
    sig: Option<SigFields>,
    /// The signed properties in the samples' form, once `SignedProperties` is reached.
    form: Option<Vec<u8>>,
    /// The declarations the form has written, innermost last.
    rendered: Vec<(Option<&'a str>, Cow<'a, str>)>,
    /// The form's last start tag is not closed yet (`>` or ` />` depends on what follows).
    pending: bool,
}

impl<'a> Read<'a> {
    /// An element starts; returns what to keep of it until it ends.
    pub(crate) fn start(&mut self, parent: Option<&mut Opened>, e: &Start<'_, 'a>) -> Opened {
        let Some(parent) = parent else {
            return Opened {
                role: Role::Root,
                ..Opened::OTHER
            };
        };
        let mut role = Role::Other;
        if parent.role != Role::Other
            && let Some((bit, r)) = child_role(parent.role, e)
            && parent.seen & bit == 0
        {
            parent.seen |= bit;
            role = r;
        }
        if parent.in_ext && e.is(NS_DS, "Signature") {
            self.signature_count += 1;
        }
        self.take(role, e);
        let form_rendered = if role == Role::Sp || parent.form_rendered.is_some() {
            Some(self.form_start(e))
        } else {
            None
        };
        Opened {
            role,
            seen: 0,
            in_ext: parent.in_ext || role == Role::Ext,
            form_rendered,
        }
    }

    /// What an element of `role` gives as it starts: its attributes, and an empty text.
    fn take(&mut self, role: Role, e: &Start<'_, 'a>) {
        let algorithm = || e.attr("Algorithm").map(str::to_owned);
        match role {
            Role::Other => {}
            Role::TypeCode => {
                self.type_code = Some(String::new());
                self.version = e.attr("listVersionID").map(str::to_owned);
            }
            Role::PartyId(p) => {
                let scheme = e.attr("schemeID").unwrap_or_default().to_owned();
                self.parties[p].push((scheme, String::new()));
            }
            Role::UblSig => self.ubl_signature_present = true,
            // The signature at its place: every signature field lies inside it.
            Role::Sig => self.sig = Some(SigFields::default()),
            Role::Sp => {
                self.form = Some(Vec::with_capacity(1024));
                self.rendered.clear();
            }
            Role::SigMethod | Role::RefDigestMethod(_) | Role::CertDigestMethod => {
                if let Some(sig) = &mut self.sig {
                    *match role {
                        Role::SigMethod => &mut sig.signature_method,
                        Role::RefDigestMethod(false) => &mut sig.doc_digest_method,
                        Role::RefDigestMethod(true) => &mut sig.props_digest_method,
                        _ => &mut sig.cert_digest_method,
                    } = algorithm();
                }
            }
            _ => {
                if let Some(field) = self.text_field(role) {
                    *field = Some(String::new());
                }
            }
        }
    }

    /// The text field an element of `role` fills.
    fn text_field(&mut self, role: Role) -> Option<&mut Option<String>> {
        if role == Role::TypeCode {
            return Some(&mut self.type_code);
        }
        if role == Role::UblSigMethod {
            return Some(&mut self.ubl_signature_method);
        }
        let sig = self.sig.as_mut()?;
        Some(match role {
            Role::RefDigestValue(false) => &mut sig.doc_digest,
            Role::RefDigestValue(true) => &mut sig.props_digest,
            Role::SigValue => &mut sig.signature_value,
            Role::Certificate => &mut sig.certificate,
            Role::SigningTime => &mut sig.signing_time,
            Role::CertDigestValue => &mut sig.cert_digest,
            Role::IssuerName => &mut sig.issuer_name,
            Role::SerialNumber => &mut sig.serial_number,
            _ => return None,
        })
    }

    /// A text run (references expanded, not blank) directly inside `open`.
    pub(crate) fn text(&mut self, open: &Opened, text: &str) {
        if let Role::PartyId(p) = open.role {
            if let Some((_, v)) = self.parties[p].last_mut() {
                v.push_str(text);
            }
        } else if let Some(Some(field)) = self.text_field(open.role) {
            field.push_str(text);
        }
        if open.form_rendered.is_some()
            && let Some(form) = &mut self.form
        {
            if self.pending {
                form.push(b'>');
                self.pending = false;
            }
            crate::xmlscan::escape_text(text, form);
        }
    }

    /// The start tag of an element of the signed properties, in the samples' layout: the
    /// attributes as written, then the declarations of the prefixes it visibly uses that no
    /// element of the form above declared alike. Returns how many declarations were rendered
    /// before it.
    fn form_start(&mut self, e: &Start<'_, 'a>) -> usize {
        let before = self.rendered.len();
        let Some(form) = &mut self.form else {
            return before;
        };
        if self.pending {
            form.push(b'>');
        }
        let used = std::iter::once(e.prefix).chain(
            e.attrs
                .iter()
                .filter_map(|a| a.qname.split_once(':').map(|(p, _)| p))
                .filter(|p| *p != "xml")
                .map(Some),
        );
        let mut decls: Vec<(Option<&'a str>, Cow<'a, str>)> = Vec::new();
        for p in used {
            let uri = lookup(e.scope, p).unwrap_or_default();
            let rendered = lookup(&self.rendered, p);
            if p.is_none() && uri.is_empty() && rendered.is_none_or(str::is_empty) {
                continue;
            }
            if rendered != Some(uri) && !decls.iter().any(|(q, _)| *q == p) {
                let uri = e
                    .scope
                    .iter()
                    .rev()
                    .find(|(q, _)| *q == p)
                    .map_or(Cow::Borrowed(""), |(_, u)| u.clone());
                decls.push((p, uri));
            }
        }
        decls.sort_by(|a, b| a.0.cmp(&b.0));
        form.push(b'<');
        form.extend_from_slice(e.qname.as_bytes());
        for a in e.attrs {
            crate::xmlscan::write_attr(a, form);
        }
        for (p, uri) in &decls {
            crate::xmlscan::write_decl(*p, uri, form);
        }
        self.pending = true;
        self.rendered.extend(decls);
        before
    }

    /// An element ends.
    pub(crate) fn end(&mut self, open: &Opened, qname: &str) {
        let Some(before) = open.form_rendered else {
            return;
        };
        if let Some(form) = &mut self.form {
            if self.pending {
                form.extend_from_slice(b" />");
                self.pending = false;
            } else {
                form.extend_from_slice(b"</");
                form.extend_from_slice(qname.as_bytes());
                form.push(b'>');
            }
        }
        self.rendered.truncate(before);
    }

    /// What `xml::extract_from` gives but the signed properties' forms (left empty), and the
    /// form in the samples' layout when the signature has signed properties.
    pub(crate) fn finish(self, canonical: Vec<u8>) -> (Extracted, Option<Vec<u8>>) {
        let type_code = self.type_code.map(|t| t.trim().to_owned());
        let role = issuer_role(type_code.as_deref());
        let ids = if role == "AccountingCustomerParty" {
            &self.parties[1]
        } else {
            &self.parties[0]
        };
        (
            Extracted {
                version: self.version,
                issuer: party_from_ids(role, ids),
                type_code,
                canonical,
                signature_count: self.signature_count,
                ubl_signature_method: self.ubl_signature_method,
                ubl_signature_present: self.ubl_signature_present,
                sig: self.sig,
            },
            self.form,
        )
    }
}

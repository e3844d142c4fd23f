//! Namespaces for elements read from JSON (which carries none), and UBL sequence order.

use crate::schema::{self, Child};
use crate::tree::{Element, Ns};

/// Where in the document an element sits, for namespace assignment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// The UBL document proper; the type of the parent aggregate when modelled.
    Ubl(Option<&'static str>),
    /// Inside `ext:UBLExtensions` but outside the signature.
    Ext,
    /// `sig:UBLDocumentSignatures`.
    Sig,
    /// `sac:SignatureInformation`.
    Sac,
    /// `ds:Signature` and below, outside XAdES.
    Ds,
    /// `xades:QualifyingProperties` and below.
    Xades,
}

/// Gives every element without an XML prefix its namespace from its position, the way the
/// official samples place them. Elements read from XML keep the namespace they were read with.
pub(crate) fn assign_namespaces(root: &mut Element) {
    if root.prefix.is_none() {
        root.ns = Ns::Invoice;
    }
    let zone = Zone::Ubl(Some("Invoice"));
    for child in &mut root.children {
        assign(child, zone);
    }
}

fn assign(el: &mut Element, parent: Zone) {
    let (ns, zone) = place(el, parent);
    if el.prefix.is_none() {
        el.ns = ns;
    }
    for child in &mut el.children {
        assign(child, zone);
    }
}

/// The namespace of `el` under a parent in `parent`, and the zone its children are in.
fn place(el: &Element, parent: Zone) -> (Ns, Zone) {
    let name = el.name.as_str();
    match parent {
        Zone::Ubl(parent_type) => {
            let slot = parent_type.and_then(|t| schema::slot(t, name));
            match slot.map(|s| s.entry.1) {
                Some(Child::X) => (Ns::Ext, Zone::Ext),
                Some(Child::L(_)) => (Ns::Cbc, Zone::Ubl(None)),
                Some(Child::A(t)) => (Ns::Cac, Zone::Ubl(Some(t))),
                Some(Child::O) => (Ns::Cac, Zone::Ubl(None)),
                None if name == "UBLExtensions" => (Ns::Ext, Zone::Ext),
                // Unknown: a value makes it basic, children make it aggregate (UBL's own rule).
                None if el.value.is_some() => (Ns::Cbc, Zone::Ubl(None)),
                None => (Ns::Cac, Zone::Ubl(None)),
            }
        }
        Zone::Ext => match name {
            "UBLDocumentSignatures" => (Ns::Sig, Zone::Sig),
            _ => (Ns::Ext, Zone::Ext),
        },
        Zone::Sig => (Ns::Sac, Zone::Sac),
        Zone::Sac => match name {
            "ID" => (Ns::Cbc, Zone::Ubl(None)),
            "ReferencedSignatureID" => (Ns::Sbc, Zone::Ubl(None)),
            "Signature" => (Ns::Ds, Zone::Ds),
            _ => (Ns::Sac, Zone::Sac),
        },
        Zone::Ds => match name {
            "QualifyingProperties" => (Ns::Xades, Zone::Xades),
            _ => (Ns::Ds, Zone::Ds),
        },
        // XAdES reuses xmldsig elements for digests and issuer serials.
        Zone::Xades => match name {
            "DigestMethod" | "DigestValue" | "X509IssuerName" | "X509SerialNumber" => {
                (Ns::Ds, Zone::Ds)
            }
            _ => (Ns::Xades, Zone::Xades),
        },
    }
}

/// Sorts children of every modelled aggregate into UBL 2.1 sequence order (stable: repeated
/// elements keep their order; unknown elements stay after the known ones they followed).
pub(crate) fn reorder_ubl(root: &mut Element) {
    reorder(root, "Invoice");
}

fn reorder(el: &mut Element, type_name: &'static str) {
    if schema::sequence(type_name).is_some() {
        // Unknown children take the index of the known element before them, so they move with it.
        let mut last = 0usize;
        let mut keyed: Vec<(usize, Element)> = std::mem::take(&mut el.children)
            .into_iter()
            .map(|c| {
                if let Some(slot) = schema::slot(type_name, &c.name) {
                    last = slot.index;
                }
                (last, c)
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        el.children = keyed.into_iter().map(|(_, c)| c).collect();
    }
    for child in &mut el.children {
        if let Some(t) = schema::child_type(type_name, &child.name) {
            reorder(child, t);
        }
    }
}

/// The JSON convention of the official samples: `UBLExtensions` and `Signature` are the last
/// two members of the Invoice object.
pub(crate) fn json_signature_last(root: &mut Element) {
    let (mut tail, rest): (Vec<Element>, Vec<Element>) = std::mem::take(&mut root.children)
        .into_iter()
        .partition(|c| c.name == "UBLExtensions" || c.name == "Signature");
    tail.sort_by_key(|c| c.name != "UBLExtensions");
    root.children = rest;
    root.children.append(&mut tail);
}

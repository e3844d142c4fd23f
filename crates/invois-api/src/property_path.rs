//! The `propertyPath` of a validation-step error, in the form MyInvois writes it (README §3.4):
//!
//! ```text
//! Invoice.UBLExtensions.UBLExtensions.ExtensionContent.UBLDocumentSignatures.SignatureInformation
//!     .Signature.SignedInfo.Reference@Type="http://uri.etsi.org/01903/v1.3.2#SignedProperties".DigestValue
//! ```
//!
//! That is the only full path MyInvois is known to return, for a DS320. It reads the document
//! as its own model does, whatever the submitted format: element names without namespace
//! prefixes, joined by dots from `Invoice`; a sibling picked by an attribute is written
//! `Name@attr="value"`; and the `ext:UBLExtension` element is spelled `UBLExtensions`. From
//! the documented example (`$.InvoiceLineItem[*].InvoicedQuantity.unitCode`, §3.3) an attribute
//! is one more dotted member, as it is in MyInvois UBL JSON. The published material shows no
//! path to the n-th of several siblings; the index is written `[n]` counting from 0, as in the
//! JSON form of the document, and only where there are several.
//!
//! Local validation, signature verification and the sandbox locate a finding with an XPath
//! into the XML form (`/Invoice/cac:InvoiceLine[2]/cbc:ID`), which also names an element of a
//! JSON document; [`from_xpath`] is the one conversion from that to MyInvois's form.

/// MyInvois's `propertyPath` for the element or attribute at `xpath`, an XPath into the XML
/// form of a document (absolute, with `[n]` positions counting from 1 and `[@a='v']` or
/// `[@a="v"]` predicates, as local findings give it). A `text()` step is dropped: the path
/// names the element. Anything that is not an absolute XPath is returned as it is.
///
/// ```
/// use invois_api::property_path::from_xpath;
/// assert_eq!(
///     from_xpath("/Invoice/cac:InvoiceLine[2]/cbc:InvoicedQuantity/@unitCode"),
///     "Invoice.InvoiceLine[1].InvoicedQuantity.unitCode"
/// );
/// assert_eq!(
///     from_xpath("/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TIN']"),
///     r#"Invoice.AccountingSupplierParty.Party.PartyIdentification.ID@schemeID="TIN""#
/// );
/// ```
pub fn from_xpath(xpath: &str) -> String {
    if !xpath.starts_with('/') {
        return xpath.to_owned();
    }
    let mut out: Vec<String> = Vec::new();
    let mut parent = "";
    for step in steps(xpath) {
        if step == "text()" {
            continue;
        }
        if let Some(attribute) = step.strip_prefix('@') {
            out.push(local(attribute).to_owned());
            continue;
        }
        let (name, predicates) = step.split_at(step.find('[').unwrap_or(step.len()));
        let name = local(name);
        // MyInvois's model calls the list inside UBLExtensions `UBLExtensions` too, and so
        // does its path ("UBLExtensions.UBLExtensions.ExtensionContent").
        let mut segment = if name == "UBLExtension" && parent == "UBLExtensions" {
            "UBLExtensions".to_owned()
        } else {
            name.to_owned()
        };
        for predicate in predicates_of(predicates) {
            segment.push_str(&predicate_form(predicate));
        }
        parent = name;
        out.push(segment);
    }
    out.join(".")
}

/// The steps of an absolute XPath: split at `/`, except inside a predicate (whose quoted
/// values hold URIs).
fn steps(xpath: &str) -> Vec<&str> {
    let mut steps = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0usize);
    for (i, c) in xpath.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') if depth > 0 => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '/') if depth == 0 => {
                if i > start {
                    steps.push(&xpath[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < xpath.len() {
        steps.push(&xpath[start..]);
    }
    steps
}

/// The contents of each `[...]` in `s` (a run of predicates).
fn predicates_of(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0usize);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => {
                if depth == 0 {
                    start = i + 1;
                }
                depth += 1;
            }
            (None, ']') if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(&s[start..i]);
                }
            }
            _ => {}
        }
    }
    out
}

/// One predicate in MyInvois's form: a 1-based position becomes `[n-1]`, an attribute test
/// `@a="v"`; anything else is kept in brackets.
fn predicate_form(predicate: &str) -> String {
    let p = predicate.trim();
    if let Ok(n) = p.parse::<usize>() {
        return format!("[{}]", n.saturating_sub(1));
    }
    if let Some(test) = p.strip_prefix('@')
        && let Some((attribute, value)) = test.split_once('=')
    {
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        return format!("@{}=\"{unquoted}\"", local(attribute.trim()));
    }
    format!("[{p}]")
}

/// A name without its namespace prefix.
fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one full path MyInvois is known to return (README §3.4, a DS320).
    const OBSERVED_DS320: &str = "Invoice.UBLExtensions.UBLExtensions.ExtensionContent.UBLDocumentSignatures.SignatureInformation.Signature.SignedInfo.Reference@Type=\"http://uri.etsi.org/01903/v1.3.2#SignedProperties\".DigestValue";

    #[test]
    fn the_observed_ds320_path_comes_out_of_its_xpath() {
        assert_eq!(
            from_xpath(
                "/Invoice/ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sig:UBLDocumentSignatures/sac:SignatureInformation/ds:Signature/ds:SignedInfo/ds:Reference[@Type='http://uri.etsi.org/01903/v1.3.2#SignedProperties']/ds:DigestValue"
            ),
            OBSERVED_DS320
        );
    }

    #[test]
    fn positions_attributes_and_text() {
        for (xpath, dotted) in [
            ("/Invoice", "Invoice"),
            ("/Invoice/cbc:ID[2]", "Invoice.ID[1]"),
            (
                "/Invoice/cbc:DocumentCurrencyCode/text()",
                "Invoice.DocumentCurrencyCode",
            ),
            (
                "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification[1]/cbc:ID/@schemeID",
                "Invoice.AccountingSupplierParty.Party.PartyIdentification[0].ID.schemeID",
            ),
            (
                "/Invoice/ds:SignedInfo/ds:Reference[@URI=\"\"]/ds:DigestValue",
                "Invoice.SignedInfo.Reference@URI=\"\".DigestValue",
            ),
            (
                "/Invoice/ds:Reference[@URI=\"#id-xades-signed-props\"][2]",
                "Invoice.Reference@URI=\"#id-xades-signed-props\"[1]",
            ),
            // A UBLExtension anywhere else keeps its name.
            ("/Invoice/ext:UBLExtension", "Invoice.UBLExtension"),
        ] {
            assert_eq!(from_xpath(xpath), dotted, "{xpath}");
        }
    }

    #[test]
    fn anything_else_is_kept() {
        assert_eq!(from_xpath("Invoice.IssueDate"), "Invoice.IssueDate");
        assert_eq!(from_xpath("$.Invoice[0].ID"), "$.Invoice[0].ID");
        assert_eq!(from_xpath(OBSERVED_DS320), OBSERVED_DS320);
    }
}

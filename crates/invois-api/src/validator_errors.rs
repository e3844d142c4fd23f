//! The inner error codes LHDN publishes for its document validators, with their English texts.
//!
//! Source: LHDN's SDK pages `documentvalidationrules/<validator>-validator-error/` (one page per
//! validator), as collected in the project's MyInvois reference (`validator-errors.md` §2).
//! Only the first rows of most pages could be read, so this is every code known, not every
//! code LHDN has. The texts are kept to the character (the en dash of CV316 included) because
//! clients compare them; `{0}`, `{1}`... are LHDN's placeholders, filled by
//! [`PublishedError::message`].
//!
//! Both `invois-model` (local findings carry the code) and the sandbox (which answers with it)
//! read this one table; `invois-sign` takes the DS301/DS303 texts from here too.

/// The validators LHDN names, in the order of its document-validation-rules page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Validator {
    /// UBL structure; refuses at submission (`rejectedDocuments`).
    Structure,
    /// Mandatory fields and their forms.
    CoreFields,
    /// The XAdES signature of versions 1.1 and 1.3.
    Signature,
    /// Taxpayers named in the document, and the issue time.
    Taxpayer,
    /// Originals referenced by notes.
    ReferencedDocuments,
    /// Code-table membership.
    Code,
    /// The same document submitted again.
    DuplicateDocument,
    /// Currency codes and exchange rates.
    Currency,
}

impl Validator {
    /// LHDN's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            Validator::Structure => "Structure Validator",
            Validator::CoreFields => "Core Fields Validator",
            Validator::Signature => "Document Signature Validator",
            Validator::Taxpayer => "Taxpayer Validator",
            Validator::ReferencedDocuments => "Referenced Documents Validator",
            Validator::Code => "Code Validator",
            Validator::DuplicateDocument => "Duplicated Submission Validator",
            Validator::Currency => "Currency Validator",
        }
    }
}

/// One published error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedError {
    /// The inner `errorCode`. `None` where LHDN prints `null` (the Structure page's one row).
    pub code: Option<&'static str>,
    /// The validator whose page lists it.
    pub validator: Validator,
    /// LHDN's English text, placeholders as published.
    pub text: &'static str,
    /// The field or rule it is about, as a UBL path.
    pub field: &'static str,
    /// The page it comes from.
    pub source: &'static str,
}

impl PublishedError {
    /// LHDN's text with `{0}`, `{1}`... replaced by `args[0]`, `args[1]`... A placeholder with
    /// no argument is left as it is, so a missing value shows rather than vanishes.
    pub fn message(&self, args: &[&str]) -> String {
        let mut out = String::with_capacity(self.text.len() + 32);
        let mut rest = self.text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let filled = after.find('}').and_then(|close| {
                let index: usize = after[..close].parse().ok()?;
                Some((args.get(index)?, close))
            });
            match filled {
                Some((value, close)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

const PAGES: &str = "https://sdk.myinvois.hasil.gov.my/documentvalidationrules/";

const fn published(
    code: Option<&'static str>,
    validator: Validator,
    text: &'static str,
    field: &'static str,
    source: &'static str,
) -> PublishedError {
    PublishedError {
        code,
        validator,
        text,
        field,
        source,
    }
}

/// Structure: an XML element out of its UBL 2.1 sequence. LHDN's code is `null`.
pub const INVALID_CHILD_ELEMENT: PublishedError = published(
    None,
    Validator::Structure,
    "Invalid child element",
    "XML element order (UBL 2.1 sequence)",
    "structure-validator-error",
);
/// A supplier address line too long: {0} value, {1} line number, {2} limit, {3} length.
pub const CF345: PublishedError = published(
    Some("CF345"),
    Validator::CoreFields,
    "Address Line {1} maximum length is {2} characters. (Count: {3}) - {0}",
    "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:AddressLine/cbc:Line",
    "core-fields-validator-error",
);
/// The same for the buyer.
pub const CF346: PublishedError = published(
    Some("CF346"),
    Validator::CoreFields,
    "Address Line {1} maximum length is {2} characters. (Count: {3}) - {0}",
    "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:AddressLine/cbc:Line",
    "core-fields-validator-error",
);
/// The document currency missing.
pub const CF378: PublishedError = published(
    Some("CF378"),
    Validator::CoreFields,
    "Invoice currency code is required",
    "cbc:DocumentCurrencyCode",
    "core-fields-validator-error",
);
/// The supplier's tourism tax number of the wrong form: {0} the value.
pub const CF407: PublishedError = published(
    Some("CF407"),
    Validator::CoreFields,
    "Enter valid TTX registration number - {0}",
    "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TTX']",
    "core-fields-validator-error",
);
/// No signature in a document that must be signed.
pub const DS301: PublishedError = published(
    Some("DS301"),
    Validator::Signature,
    "Signature not found.",
    "ext:UBLExtensions/.../ds:Signature",
    "signature-validator-error",
);
/// A signature without its signing time.
pub const DS303: PublishedError = published(
    Some("DS303"),
    Validator::Signature,
    "Signing time not found.",
    "xades:SignedSignatureProperties/xades:SigningTime",
    "signature-validator-error",
);
/// An NRIC or army number that is not the TIN's in LHDN's records.
pub const ERR206: PublishedError = published(
    Some("ERR206"),
    Validator::Taxpayer,
    "NRIC/ARMY mismatch or not exist in HITS",
    "cac:PartyIdentification/cbc:ID[@schemeID='NRIC' or @schemeID='ARMY']",
    "taxpayer-validator-error",
);
/// The foreign-buyer general TIN used for the supplier.
pub const ERR208: PublishedError = published(
    Some("ERR208"),
    Validator::Taxpayer,
    "General TIN (020) is not applicable for foreign supplier",
    "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TIN']",
    "taxpayer-validator-error",
);
/// A referenced original whose status forbids it: {0} its uuid, {1} its status.
pub const DR303: PublishedError = published(
    Some("DR303"),
    Validator::ReferencedDocuments,
    "The status of referenced document uuid {0} is {1}",
    "cac:BillingReference/cac:InvoiceDocumentReference/cbc:UUID",
    "referenced-documents-validator-error",
);
/// A code not in its table: {0} the code, {1} the table.
pub const CV302: PublishedError = published(
    Some("CV302"),
    Validator::Code,
    "ItemCode {0} does not exist in CodeType {1}",
    "every coded field",
    "code-validator-error",
);
/// A Malaysian state code with another country: {0} the state code.
pub const CV316: PublishedError = published(
    Some("CV316"),
    Validator::Code,
    "State Codes 01\u{2013}16 must be restricted to MYS only - {0}",
    "cbc:CountrySubentityCode with cac:Country/cbc:IdentificationCode",
    "code-validator-error",
);
/// The same document again: {0} the new document's uuid, {1} the earlier one's.
pub const DV302: PublishedError = published(
    Some("DV302"),
    Validator::DuplicateDocument,
    "Duplicated submitted document with UUID {0} where the values of configured attributes match with values for the document with UUID: {1}",
    "cbc:InvoiceTypeCode/@listVersionID, cbc:IssueDate, cbc:IssueTime, cbc:ID, issuer TIN",
    "duplicate-document-validator-error",
);
/// A tax amount in another currency than `TaxCurrencyCode`.
pub const DC501: PublishedError = published(
    Some("DC501"),
    Validator::Currency,
    "Tax Amount currency code is not same as TaxCurrencyCode",
    "@currencyID of tax amounts",
    "currency-validator-error",
);
/// An amount in another currency than the document's: {0} the document currency.
pub const DC502: PublishedError = published(
    Some("DC502"),
    Validator::Currency,
    "If the document currency is {0}, all currency codes for amounts should also be {0}",
    "@currencyID of every amount",
    "currency-validator-error",
);

/// Every published error known, validator by validator.
pub const PUBLISHED: [PublishedError; 15] = [
    INVALID_CHILD_ELEMENT,
    CF345,
    CF346,
    CF378,
    CF407,
    DS301,
    DS303,
    ERR206,
    ERR208,
    DR303,
    CV302,
    CV316,
    DV302,
    DC501,
    DC502,
];

/// The published error with this code.
pub fn published_error(code: &str) -> Option<&'static PublishedError> {
    PUBLISHED.iter().find(|p| p.code == Some(code))
}

/// The address of a row's source page.
pub fn source_url(error: &PublishedError) -> String {
    format!("{PAGES}{}/", error.source)
}

/// The duplicate-document code. LHDN's generic error example shows a duplicate under `DS302`,
/// but DS302 is also the signature validator's "signature count not equal to 1"; the
/// Duplicate Document validator's own page gives `DV302`, which keeps the two apart. The
/// per-validator page is the newer and more specific source, so invois answers `DV302`
/// (README §12 item 4).
pub const DUPLICATE_DOCUMENT: PublishedError = DV302;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_by_index_and_kept_when_missing() {
        assert_eq!(
            CF345.message(&["Jalan 1", "0", "150", "151"]),
            "Address Line 0 maximum length is 150 characters. (Count: 151) - Jalan 1"
        );
        assert_eq!(
            DC502.message(&["USD"]),
            "If the document currency is USD, all currency codes for amounts should also be USD"
        );
        assert_eq!(
            DR303.message(&["ABC"]),
            "The status of referenced document uuid ABC is {1}"
        );
        assert_eq!(CF378.message(&[]), "Invoice currency code is required");
    }

    #[test]
    fn codes_are_unique_and_found() {
        for p in PUBLISHED {
            if let Some(code) = p.code {
                assert_eq!(published_error(code), Some(&p));
                assert!(
                    PUBLISHED.iter().filter(|q| q.code == Some(code)).count() == 1,
                    "{code}"
                );
            }
            assert!(source_url(&p).ends_with("-validator-error/"));
        }
        assert!(published_error("DS302").is_none());
        assert!(CV316.text.contains('\u{2013}'));
    }
}

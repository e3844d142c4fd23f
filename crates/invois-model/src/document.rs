//! A parsed MyInvois document: the lossless element tree plus accessors for the fields other
//! parts of invois need, the two writers, and the submission payload (§6.4).

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;

use crate::codes::DocumentType;
use crate::error::ParseError;
use crate::tree::Element;
use crate::{json, layout, xml};

/// The two wire formats; the one enum lives in `invois-api`, the crate every user shares.
pub use invois_api::Format;
pub use invois_api::submission::WireDocument;

/// One e-invoice document (any of the 8 types, any version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    root: Element,
    json_header: Vec<(String, String)>,
    xml_decl: Option<String>,
    source: Format,
    /// JSON keys written more than once in one object (reported as `S008`).
    duplicate_keys: Vec<json::DuplicateKey>,
}

/// A reference to an original document (`cac:BillingReference/cac:InvoiceDocumentReference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingReference {
    /// The LHDN uuid of the original (`cbc:UUID`).
    pub uuid: Option<String>,
    /// The original's internal number (`cbc:ID`).
    pub id: Option<String>,
}

/// The legal monetary total. Amounts that are absent or not decimal numbers are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// `LineExtensionAmount`: sum of the lines, net.
    pub line_extension: Option<Decimal>,
    /// `TaxExclusiveAmount`.
    pub tax_exclusive: Option<Decimal>,
    /// `TaxInclusiveAmount`.
    pub tax_inclusive: Option<Decimal>,
    /// `AllowanceTotalAmount`: total discount.
    pub allowance_total: Option<Decimal>,
    /// `ChargeTotalAmount`.
    pub charge_total: Option<Decimal>,
    /// `PayableRoundingAmount`.
    pub payable_rounding: Option<Decimal>,
    /// `PayableAmount`.
    pub payable: Option<Decimal>,
    /// `cac:TaxTotal/cbc:TaxAmount` (document level; the first `TaxTotal`).
    pub tax: Option<Decimal>,
}

/// Parses `bytes` (JSON or XML, detected), minifies them in their own format, and computes the
/// base64 `document` and the hex `documentHash` from the minified bytes.
///
/// Minifying JSON never changes its content; minifying XML removes the whitespace between
/// elements, which breaks an XML signature made over the indented form: sign the minified
/// document (or make a [`WireDocument`] of the exact bytes).
pub fn prepare_for_submission(bytes: &[u8]) -> Result<WireDocument, ParseError> {
    Ok(Document::parse(bytes)?.prepare())
}

impl Document {
    /// Parses a document, detecting JSON or XML.
    pub fn parse(bytes: &[u8]) -> Result<Document, ParseError> {
        match Format::detect(bytes).ok_or(ParseError::UnknownFormat)? {
            Format::Json => Document::from_json_bytes(bytes),
            Format::Xml => Document::from_xml_bytes(bytes),
        }
    }

    /// Parses a document in the given format.
    pub fn parse_as(bytes: &[u8], format: Format) -> Result<Document, ParseError> {
        match format {
            Format::Json => Document::from_json_bytes(bytes),
            Format::Xml => Document::from_xml_bytes(bytes),
        }
    }

    /// Parses MyInvois UBL JSON.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Document, ParseError> {
        let json::Parsed {
            header: json_header,
            mut root,
            duplicates: duplicate_keys,
        } = json::parse(bytes)?;
        check_root(&root)?;
        layout::assign_namespaces(&mut root);
        Ok(Document {
            root,
            json_header,
            xml_decl: None,
            source: Format::Json,
            duplicate_keys,
        })
    }

    /// Parses UBL XML.
    pub fn from_xml_bytes(bytes: &[u8]) -> Result<Document, ParseError> {
        let parsed = xml::parse(bytes)?;
        check_root(&parsed.root)?;
        Ok(Document {
            root: parsed.root,
            json_header: json::default_header(),
            xml_decl: parsed.decl,
            source: Format::Xml,
            duplicate_keys: Vec::new(),
        })
    }

    /// A document from an element tree (as the builders make). Namespaces are assigned and
    /// children put in UBL order.
    pub fn from_root(mut root: Element) -> Document {
        layout::assign_namespaces(&mut root);
        layout::reorder_ubl(&mut root);
        Document {
            root,
            json_header: json::default_header(),
            xml_decl: None,
            source: Format::Json,
            duplicate_keys: Vec::new(),
        }
    }

    /// The format the document was read from.
    pub fn source_format(&self) -> Format {
        self.source
    }

    /// The root `Invoice` element.
    pub fn root(&self) -> &Element {
        &self.root
    }

    /// Where this document first differs in meaning from `other`, as a JSON path, or `None`
    /// when only the writing differs (see [`crate::tree::first_difference`]).
    pub fn first_difference(&self, other: &Document) -> Option<String> {
        crate::tree::first_difference(&self.root, &other.root)
    }

    /// The root element, mutable (namespaces of new elements are assigned on write).
    pub fn root_mut(&mut self) -> &mut Element {
        &mut self.root
    }

    /// Puts every modelled aggregate's children in UBL 2.1 sequence order.
    pub fn reorder_ubl(&mut self) {
        layout::reorder_ubl(&mut self.root);
    }

    /// Minified MyInvois JSON. A document read from JSON keeps its member order; one read from
    /// XML is written in UBL order with `UBLExtensions` and `Signature` last, as in the
    /// official JSON samples.
    pub fn to_json_string(&self) -> String {
        if self.source == Format::Json {
            json::write(&self.json_header, &self.root)
        } else {
            let mut root = self.root.clone();
            layout::reorder_ubl(&mut root);
            layout::json_signature_last(&mut root);
            json::write(&self.json_header, &root)
        }
    }

    /// Minified XML. A document read from XML keeps its order, prefixes and declarations; one
    /// read from JSON is written in UBL 2.1 sequence order with the standard prefixes.
    pub fn to_xml_string(&self) -> String {
        if self.source == Format::Xml {
            xml::write(self.xml_decl.as_deref(), &self.root)
        } else {
            let mut root = self.root.clone();
            layout::assign_namespaces(&mut root);
            layout::reorder_ubl(&mut root);
            // The official samples declare the three UBL namespaces once, on the root.
            if root.prefix.is_none() {
                root.ns_decls = vec![
                    (String::new(), crate::tree::NS_INVOICE.to_owned()),
                    ("cac".to_owned(), crate::tree::NS_CAC.to_owned()),
                    ("cbc".to_owned(), crate::tree::NS_CBC.to_owned()),
                ];
            }
            xml::write(None, &root)
        }
    }

    /// Writes the document in `format`.
    pub fn to_string_as(&self, format: Format) -> String {
        match format {
            Format::Json => self.to_json_string(),
            Format::Xml => self.to_xml_string(),
        }
    }

    /// The submission payload in the document's own format, minified.
    pub fn prepare(&self) -> WireDocument {
        WireDocument::new(self.source, self.to_string_as(self.source).into_bytes())
    }

    /// `cbc:InvoiceTypeCode` (`01`...`14`).
    pub fn invoice_type_code(&self) -> Option<&str> {
        self.root.text_at(&["InvoiceTypeCode"])
    }

    /// The document type, when the code is one of the 8.
    pub fn document_type(&self) -> Option<DocumentType> {
        self.invoice_type_code().and_then(|c| c.parse().ok())
    }

    /// `cbc:InvoiceTypeCode/@listVersionID` (`1.0`...`1.3`).
    pub fn version(&self) -> Option<&str> {
        self.root
            .child("InvoiceTypeCode")
            .and_then(|e| e.attr_value("listVersionID"))
    }

    /// The internal number `cbc:ID`.
    pub fn id(&self) -> Option<&str> {
        self.root.text_at(&["ID"])
    }

    /// `cbc:IssueDate` as written.
    pub fn issue_date(&self) -> Option<&str> {
        self.root.text_at(&["IssueDate"])
    }

    /// `cbc:IssueTime` as written.
    pub fn issue_time(&self) -> Option<&str> {
        self.root.text_at(&["IssueTime"])
    }

    /// Issue date and time as a UTC instant (`IssueTime` is UTC, `HH:MM:SSZ`).
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        parse_issue(self.issue_date()?, self.issue_time()?)
    }

    /// The supplier's TIN.
    pub fn supplier_tin(&self) -> Option<&str> {
        party_id(self.root.at(&["AccountingSupplierParty", "Party"])?, "TIN")
    }

    /// The buyer's TIN.
    pub fn buyer_tin(&self) -> Option<&str> {
        party_id(self.root.at(&["AccountingCustomerParty", "Party"])?, "TIN")
    }

    /// The supplier's registration name.
    pub fn supplier_name(&self) -> Option<&str> {
        self.root.text_at(&[
            "AccountingSupplierParty",
            "Party",
            "PartyLegalEntity",
            "RegistrationName",
        ])
    }

    /// The buyer's registration name.
    pub fn buyer_name(&self) -> Option<&str> {
        self.root.text_at(&[
            "AccountingCustomerParty",
            "Party",
            "PartyLegalEntity",
            "RegistrationName",
        ])
    }

    /// A party identifier of the supplier by scheme (`TIN`, `BRN`, `NRIC`, `SST`, ...).
    pub fn supplier_id(&self, scheme: &str) -> Option<&str> {
        party_id(self.root.at(&["AccountingSupplierParty", "Party"])?, scheme)
    }

    /// A party identifier of the buyer by scheme.
    pub fn buyer_id(&self, scheme: &str) -> Option<&str> {
        party_id(self.root.at(&["AccountingCustomerParty", "Party"])?, scheme)
    }

    /// `cbc:DocumentCurrencyCode`.
    pub fn currency(&self) -> Option<&str> {
        self.root.text_at(&["DocumentCurrencyCode"])
    }

    /// The legal monetary total and the document tax total.
    pub fn totals(&self) -> Totals {
        let m = |name: &str| decimal(self.root.text_at(&["LegalMonetaryTotal", name]));
        Totals {
            line_extension: m("LineExtensionAmount"),
            tax_exclusive: m("TaxExclusiveAmount"),
            tax_inclusive: m("TaxInclusiveAmount"),
            allowance_total: m("AllowanceTotalAmount"),
            charge_total: m("ChargeTotalAmount"),
            payable_rounding: m("PayableRoundingAmount"),
            payable: m("PayableAmount"),
            tax: decimal(self.root.text_at(&["TaxTotal", "TaxAmount"])),
        }
    }

    /// The originals this document references (credit, debit and refund notes).
    pub fn billing_references(&self) -> Vec<BillingReference> {
        self.root
            .children_named("BillingReference")
            .filter_map(|b| b.child("InvoiceDocumentReference"))
            .map(|r| BillingReference {
                uuid: r.text_at(&["UUID"]).map(str::to_owned),
                id: r.text_at(&["ID"]).map(str::to_owned),
            })
            .collect()
    }

    /// Number of invoice lines.
    pub fn line_count(&self) -> usize {
        self.root.children_named("InvoiceLine").count()
    }

    /// Elements that are not part of UBL 2.1 where they appear (the `S001` findings of
    /// validation). They are kept in the document and written back; this lists them.
    pub fn unknown_elements(&self) -> Vec<crate::Finding> {
        let ctx = crate::ValidationContext::at(chrono::DateTime::<Utc>::UNIX_EPOCH);
        crate::validate(self, &ctx)
            .findings
            .into_iter()
            .filter(|f| f.code == "S001")
            .collect()
    }

    /// JSON keys written more than once in one object (the `S008` findings of validation), in
    /// document order. Readers disagree on such a document (some keep the first occurrence,
    /// some the last, `serde_json::Value` the last), so nothing should rewrite it as if it
    /// had one meaning: `invois convert` refuses it. Always empty for XML.
    pub fn duplicate_keys(&self) -> Vec<crate::Finding> {
        crate::validate::duplicate_keys(self)
    }

    pub(crate) fn duplicate_key_records(&self) -> &[json::DuplicateKey] {
        &self.duplicate_keys
    }

    /// Whether the document carries a signature (`UBLExtensions` or `cac:Signature`).
    pub fn has_signature(&self) -> bool {
        self.root.child("UBLExtensions").is_some() || self.root.child("Signature").is_some()
    }
}

fn check_root(root: &Element) -> Result<(), ParseError> {
    if root.name == "Invoice" {
        Ok(())
    } else {
        Err(ParseError::NotAnInvoice(root.name.clone()))
    }
}

/// The value of `PartyIdentification/ID[@schemeID=scheme]`.
pub(crate) fn party_id<'a>(party: &'a Element, scheme: &str) -> Option<&'a str> {
    party
        .children_named("PartyIdentification")
        .filter_map(|p| p.child("ID"))
        .find(|id| id.attr_value("schemeID") == Some(scheme))
        .and_then(Element::text)
}

/// A decimal from a UBL amount text; exponents are refused (MyInvois rejects them).
pub(crate) fn decimal(text: Option<&str>) -> Option<Decimal> {
    let t = text?.trim();
    if t.contains(['e', 'E']) {
        return None;
    }
    Decimal::from_str(t).ok()
}

/// `YYYY-MM-DD` + `HH:MM:SSZ` (or without `Z`) as UTC.
pub(crate) fn parse_issue(date: &str, time: &str) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let t = NaiveTime::parse_from_str(time.strip_suffix('Z').unwrap_or(time), "%H:%M:%S").ok()?;
    Some(d.and_time(t).and_utc())
}

//! The facts the sandbox needs from a submitted document (issuer, internal ID, type, version,
//! issue date-time, parties, totals, billing references), read from MyInvois UBL JSON or XML.
//!
//! Both formats are first flattened into the same list of `(element path, value, attributes)`
//! entries, so every fact is read once for both. This is deliberately small: full parsing and
//! validation of the document model belong to `invois-model`, and [`extract`] is the one
//! function to switch over to it.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use invois_api::submission::DocumentFormat;
use quick_xml::events::Event;
use rust_decimal::Decimal;

/// A party's identity as the document states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartyFacts {
    /// `PartyIdentification/ID[@schemeID='TIN']`.
    pub tin: Option<String>,
    /// `PartyLegalEntity/RegistrationName`.
    pub name: Option<String>,
    /// The first of the BRN/NRIC/PASSPORT/ARMY identifications: (scheme, value).
    pub id: Option<(String, String)>,
}

/// The document's totals (`LegalMonetaryTotal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// `LineExtensionAmount`.
    pub line_extension: Option<Decimal>,
    /// `TaxExclusiveAmount`.
    pub tax_exclusive: Option<Decimal>,
    /// `TaxInclusiveAmount`.
    pub tax_inclusive: Option<Decimal>,
    /// `AllowanceTotalAmount`.
    pub allowance_total: Option<Decimal>,
    /// `PayableAmount`.
    pub payable: Option<Decimal>,
}

/// A reference to an original document (`BillingReference/InvoiceDocumentReference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingRef {
    /// The original's MyInvois uuid.
    pub uuid: Option<String>,
    /// The original's internal number.
    pub internal_id: Option<String>,
}

/// What the sandbox reads from a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFacts {
    /// `cbc:ID`.
    pub internal_id: String,
    /// `InvoiceTypeCode`, e.g. `01`.
    pub type_code: String,
    /// `InvoiceTypeCode/@listVersionID`, e.g. `1.0`.
    pub version: String,
    /// `IssueDate`.
    pub issue_date: Option<NaiveDate>,
    /// `IssueTime`.
    pub issue_time: Option<NaiveTime>,
    /// `DocumentCurrencyCode`.
    pub currency: Option<String>,
    /// Whether `TaxExchangeRate/CalculationRate` is present.
    pub has_exchange_rate: bool,
    /// Supplier.
    pub supplier: PartyFacts,
    /// Buyer.
    pub buyer: PartyFacts,
    /// Totals.
    pub totals: Totals,
    /// Originals this document references.
    pub billing_references: Vec<BillingRef>,
    /// Whether `UBLExtensions` or `Signature` is present.
    pub has_signature: bool,
}

impl DocumentFacts {
    /// Whether the type is self-billed (11-14): the buyer issues it.
    pub fn is_self_billed(&self) -> bool {
        matches!(self.type_code.as_str(), "11" | "12" | "13" | "14")
    }

    /// Whether the type is a credit, debit or refund note (normal or self-billed).
    pub fn is_note(&self) -> bool {
        matches!(
            self.type_code.as_str(),
            "02" | "03" | "04" | "12" | "13" | "14"
        )
    }

    /// The issuer's TIN: the supplier, or the buyer for self-billed types.
    pub fn issuer(&self) -> &PartyFacts {
        if self.is_self_billed() {
            &self.buyer
        } else {
            &self.supplier
        }
    }

    /// The receiver: the buyer, or the supplier for self-billed types.
    pub fn receiver(&self) -> &PartyFacts {
        if self.is_self_billed() {
            &self.supplier
        } else {
            &self.buyer
        }
    }

    /// Issue date and time as one instant (time defaults to midnight when missing).
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        let date = self.issue_date?;
        Some(date.and_time(self.issue_time.unwrap_or_default()).and_utc())
    }
}

/// Why a document could not be read; these are the synchronous structure failures that end
/// in `rejectedDocuments`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StructureError {
    /// Not well-formed JSON or XML.
    #[error("{format} is not valid: {message}")]
    Malformed {
        /// `JSON` or `XML`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The root is not a UBL `Invoice`.
    #[error("The document has no Invoice root element")]
    NoInvoiceRoot,
    /// A mandatory element is missing or empty.
    #[error("{path} is mandatory")]
    Missing {
        /// Where, e.g. `Invoice.ID`.
        path: &'static str,
    },
    /// An element has an unusable value.
    #[error("{path} has an invalid value `{value}`")]
    Invalid {
        /// Where.
        path: &'static str,
        /// What was found.
        value: String,
    },
}

/// One flattened element.
#[derive(Debug, Clone)]
struct Entry {
    path: Vec<String>,
    value: String,
    attrs: Vec<(String, String)>,
}

impl Entry {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the facts from a document's bytes.
pub fn extract(format: DocumentFormat, bytes: &[u8]) -> Result<DocumentFacts, StructureError> {
    let entries = match format {
        DocumentFormat::Json => flatten_json(bytes)?,
        DocumentFormat::Xml => flatten_xml(bytes)?,
    };
    facts_from(&entries)
}

fn flatten_json(bytes: &[u8]) -> Result<Vec<Entry>, StructureError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StructureError::Malformed {
            format: "JSON",
            message: e.to_string(),
        })?;
    let invoice = value
        .get("Invoice")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .and_then(|v| v.as_object())
        .ok_or(StructureError::NoInvoiceRoot)?;
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk_json(invoice, &mut path, &mut out);
    Ok(out)
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn walk_json(
    obj: &serde_json::Map<String, serde_json::Value>,
    path: &mut Vec<String>,
    out: &mut Vec<Entry>,
) {
    // Deep nesting is bounded by serde_json's recursion limit (128) on parse.
    for (key, value) in obj {
        let Some(items) = value.as_array() else {
            continue;
        };
        path.push(key.clone());
        for item in items {
            if let Some(map) = item.as_object() {
                let value = map.get("_").and_then(scalar).unwrap_or_default();
                let attrs = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "_")
                    .filter_map(|(k, v)| scalar(v).map(|s| (k.clone(), s)))
                    .collect();
                out.push(Entry {
                    path: path.clone(),
                    value,
                    attrs,
                });
                walk_json(map, path, out);
            }
        }
        path.pop();
    }
}

/// Deepest XML nesting accepted.
const MAX_XML_DEPTH: usize = 64;

/// An open XML element: local name, attributes, text so far.
type Open = (String, Vec<(String, String)>, String);

fn flatten_xml(bytes: &[u8]) -> Result<Vec<Entry>, StructureError> {
    let malformed = |message: String| StructureError::Malformed {
        format: "XML",
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut out = Vec::new();
    let mut saw_root = false;
    let version = quick_xml::XmlVersion::Implicit1_0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("{e} at byte {}", reader.buffer_position())))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_owned();
                if stack.is_empty() {
                    if saw_root || name != "Invoice" {
                        return Err(StructureError::NoInvoiceRoot);
                    }
                    saw_root = true;
                }
                let mut attrs = Vec::new();
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| malformed(e.to_string()))?;
                    let key = attr.key.local_name().as_ref().to_owned();
                    let value = attr
                        .normalized_value(version)
                        .map_err(|e| malformed(e.to_string()))?
                        .into_owned();
                    attrs.push((key, value));
                }
                // UBL documents nest a dozen levels deep; far deeper is hostile input.
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(malformed(format!(
                        "elements are nested deeper than {MAX_XML_DEPTH} levels"
                    )));
                }
                stack.push((name, attrs, String::new()));
                if matches!(event, Event::Empty(_)) {
                    close_xml(&mut stack, &mut out);
                }
            }
            Event::End(_) => close_xml(&mut stack, &mut out),
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&t.xml_content(version));
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&c.xml_content(version));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| malformed(format!("unknown entity &{};", &*r)))?
                        .to_owned(),
                };
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(StructureError::NoInvoiceRoot);
    }
    if !stack.is_empty() {
        return Err(malformed("unexpected end of document".to_owned()));
    }
    Ok(out)
}

fn close_xml(stack: &mut Vec<Open>, out: &mut Vec<Entry>) {
    let Some((name, attrs, value)) = stack.pop() else {
        return;
    };
    if stack.is_empty() {
        // The Invoice root itself.
        return;
    }
    // The path is relative to the Invoice root, like the JSON walk's.
    let mut path: Vec<String> = stack.iter().skip(1).map(|(n, _, _)| n.clone()).collect();
    path.push(name);
    out.push(Entry {
        path,
        value: value.trim().to_owned(),
        attrs,
    });
}

fn find<'a>(entries: &'a [Entry], path: &[&str]) -> impl Iterator<Item = &'a Entry> {
    let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
    entries.iter().filter(move |e| e.path == path)
}

fn first_value(entries: &[Entry], path: &[&str]) -> Option<String> {
    find(entries, path)
        .next()
        .map(|e| e.value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn decimal(entries: &[Entry], path: &[&str]) -> Option<Decimal> {
    first_value(entries, path).and_then(|v| v.parse().ok())
}

fn party(entries: &[Entry], role: &str) -> PartyFacts {
    let ids: Vec<&Entry> = find(entries, &[role, "Party", "PartyIdentification", "ID"]).collect();
    let tin = ids
        .iter()
        .find(|e| e.attr("schemeID") == Some("TIN"))
        .map(|e| e.value.trim().to_owned())
        .filter(|v| !v.is_empty());
    let id = ids.iter().find_map(|e| {
        let scheme = e.attr("schemeID")?;
        matches!(scheme, "BRN" | "NRIC" | "PASSPORT" | "ARMY")
            .then(|| (scheme.to_owned(), e.value.trim().to_owned()))
    });
    PartyFacts {
        tin,
        name: first_value(
            entries,
            &[role, "Party", "PartyLegalEntity", "RegistrationName"],
        ),
        id,
    }
}

fn facts_from(entries: &[Entry]) -> Result<DocumentFacts, StructureError> {
    let internal_id =
        first_value(entries, &["ID"]).ok_or(StructureError::Missing { path: "Invoice.ID" })?;
    let type_entry = find(entries, &["InvoiceTypeCode"])
        .next()
        .ok_or(StructureError::Missing {
            path: "Invoice.InvoiceTypeCode",
        })?;
    let type_code = type_entry.value.trim().to_owned();
    if !matches!(
        type_code.as_str(),
        "01" | "02" | "03" | "04" | "11" | "12" | "13" | "14"
    ) {
        return Err(StructureError::Invalid {
            path: "Invoice.InvoiceTypeCode",
            value: type_code,
        });
    }
    let version = type_entry
        .attr("listVersionID")
        .map(str::trim)
        .ok_or(StructureError::Missing {
            path: "Invoice.InvoiceTypeCode.listVersionID",
        })?
        .to_owned();
    if !matches!(version.as_str(), "1.0" | "1.1" | "1.2" | "1.3") {
        return Err(StructureError::Invalid {
            path: "Invoice.InvoiceTypeCode.listVersionID",
            value: version,
        });
    }
    let issue_date = match first_value(entries, &["IssueDate"]) {
        None => None,
        Some(v) => Some(NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| {
            StructureError::Invalid {
                path: "Invoice.IssueDate",
                value: v,
            }
        })?),
    };
    let issue_time = match first_value(entries, &["IssueTime"]) {
        None => None,
        Some(v) => Some(
            NaiveTime::parse_from_str(v.trim_end_matches('Z'), "%H:%M:%S").map_err(|_| {
                StructureError::Invalid {
                    path: "Invoice.IssueTime",
                    value: v,
                }
            })?,
        ),
    };
    let billing_references = find(entries, &["BillingReference", "InvoiceDocumentReference"])
        .enumerate()
        .map(|(i, _)| {
            let nth = |leaf: &str| {
                find(
                    entries,
                    &["BillingReference", "InvoiceDocumentReference", leaf],
                )
                .nth(i)
                .map(|e| e.value.trim().to_owned())
                .filter(|v| !v.is_empty())
            };
            BillingRef {
                uuid: nth("UUID"),
                internal_id: nth("ID"),
            }
        })
        .collect();
    let facts = DocumentFacts {
        internal_id,
        type_code,
        version,
        issue_date,
        issue_time,
        currency: first_value(entries, &["DocumentCurrencyCode"]),
        has_exchange_rate: first_value(entries, &["TaxExchangeRate", "CalculationRate"]).is_some(),
        supplier: party(entries, "AccountingSupplierParty"),
        buyer: party(entries, "AccountingCustomerParty"),
        totals: Totals {
            line_extension: decimal(entries, &["LegalMonetaryTotal", "LineExtensionAmount"]),
            tax_exclusive: decimal(entries, &["LegalMonetaryTotal", "TaxExclusiveAmount"]),
            tax_inclusive: decimal(entries, &["LegalMonetaryTotal", "TaxInclusiveAmount"]),
            allowance_total: decimal(entries, &["LegalMonetaryTotal", "AllowanceTotalAmount"]),
            payable: decimal(entries, &["LegalMonetaryTotal", "PayableAmount"]),
        },
        billing_references,
        has_signature: find(entries, &["UBLExtensions"]).next().is_some()
            || find(entries, &["Signature"]).next().is_some(),
    };
    if facts.issuer().tin.is_none() {
        return Err(StructureError::Missing {
            path: if facts.is_self_billed() {
                "Invoice.AccountingCustomerParty.Party.PartyIdentification.ID[@schemeID='TIN']"
            } else {
                "Invoice.AccountingSupplierParty.Party.PartyIdentification.ID[@schemeID='TIN']"
            },
        });
    }
    Ok(facts)
}

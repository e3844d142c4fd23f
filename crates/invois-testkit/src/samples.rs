//! Adapting a document (a project fixture or one of LHDN's samples, see [`crate::corpus`])
//! to a sandbox and a clock, so that it passes the sandbox's taxpayer and date checks, and
//! building submission bodies by hand.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Sets a JSON document's ID, issue date/time, supplier TIN and buyer TIN (also as the
/// shipping recipient's TIN, whose sample placeholder is not a valid TIN).
pub fn adapt_json(
    doc: &mut Value,
    internal_id: &str,
    issued: DateTime<Utc>,
    supplier_tin: &str,
    buyer_tin: &str,
) {
    let Some(invoice) = doc.get_mut("Invoice").and_then(|i| i.get_mut(0)) else {
        return;
    };
    invoice["ID"] = json!([{ "_": internal_id }]);
    invoice["IssueDate"] = json!([{ "_": issued.format("%Y-%m-%d").to_string() }]);
    invoice["IssueTime"] = json!([{ "_": issued.format("%H:%M:%SZ").to_string() }]);
    for (role, tin) in [
        ("AccountingSupplierParty", supplier_tin),
        ("AccountingCustomerParty", buyer_tin),
    ] {
        if let Some(ids) = invoice
            .get_mut(role)
            .and_then(|r| r.get_mut(0))
            .and_then(|r| r.get_mut("Party"))
            .and_then(|p| p.get_mut(0))
            .and_then(|p| p.get_mut("PartyIdentification"))
            .and_then(|p| p.as_array_mut())
        {
            for id in ids {
                if let Some(first) = id.get_mut("ID").and_then(|i| i.get_mut(0))
                    && first.get("schemeID").and_then(|s| s.as_str()) == Some("TIN")
                {
                    first["_"] = json!(tin);
                }
            }
        }
    }
    // The samples' shipping recipient carries the placeholder `Recipient's TIN`, which fails
    // the sandbox's core-field TIN form: deliver to the buyer.
    if let Some(ids) = invoice
        .get_mut("Delivery")
        .and_then(|d| d.get_mut(0))
        .and_then(|d| d.get_mut("DeliveryParty"))
        .and_then(|p| p.get_mut(0))
        .and_then(|p| p.get_mut("PartyIdentification"))
        .and_then(|p| p.as_array_mut())
    {
        for id in ids {
            if let Some(first) = id.get_mut("ID").and_then(|i| i.get_mut(0))
                && first.get("schemeID").and_then(|s| s.as_str()) == Some("TIN")
            {
                first["_"] = json!(buyer_tin);
            }
        }
    }
}

/// Sets the `InvoiceDocumentReference/UUID` of every billing reference of a JSON note.
pub fn set_json_reference(doc: &mut Value, original_uuid: &str) {
    if let Some(refs) = doc
        .get_mut("Invoice")
        .and_then(|i| i.get_mut(0))
        .and_then(|i| i.get_mut("BillingReference"))
        .and_then(|b| b.as_array_mut())
    {
        for r in refs {
            if let Some(idr) = r
                .get_mut("InvoiceDocumentReference")
                .and_then(|d| d.get_mut(0))
            {
                idr["UUID"] = json!([{ "_": original_uuid }]);
            }
        }
    }
}

/// Sets an XML document's ID, issue date/time and party TINs (the samples' placeholders
/// `Supplier's TIN` and `Buyer's TIN`).
pub fn adapt_xml(
    xml: &str,
    internal_id: &str,
    issued: DateTime<Utc>,
    supplier_tin: &str,
    buyer_tin: &str,
) -> String {
    let mut out = replace_first_element(xml, "cbc:ID", internal_id);
    out = replace_first_element(
        &out,
        "cbc:IssueDate",
        &issued.format("%Y-%m-%d").to_string(),
    );
    out = replace_first_element(
        &out,
        "cbc:IssueTime",
        &issued.format("%H:%M:%SZ").to_string(),
    );
    // `Recipient's TIN` (the shipping recipient) fails the core-field TIN form: the buyer.
    out.replace("Supplier's TIN", supplier_tin)
        .replace("Buyer's TIN", buyer_tin)
        .replace("Recipient's TIN", buyer_tin)
}

fn replace_first_element(xml: &str, tag: &str, value: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let Some(start) = xml.find(&open) else {
        return xml.to_owned();
    };
    let from = start + open.len();
    let Some(len) = xml[from..].find(&close) else {
        return xml.to_owned();
    };
    format!("{}{value}{}", &xml[..from], &xml[from + len..])
}

/// One entry of a submission body: Base64 document, lowercase hex SHA-256, code number.
pub fn document_entry(format: &str, bytes: &[u8], code_number: &str) -> Value {
    json!({
        "format": format,
        "document": STANDARD.encode(bytes),
        "documentHash": hex::encode(Sha256::digest(bytes)),
        "codeNumber": code_number,
    })
}

/// `count` copies of the v1.0 sample invoice, internal ids `{prefix}-0000` upwards, issued at
/// `issued` by `supplier_tin` to `buyer_tin`, each as an entry of the gateway's ERP API
/// (`{"format":"json","document":"<minified JSON>"}`) beside its internal id.
pub fn gateway_entries(
    prefix: &str,
    count: usize,
    issued: DateTime<Utc>,
    supplier_tin: &str,
    buyer_tin: &str,
) -> Vec<(String, Value)> {
    let sample = crate::fixture_json(crate::Version::V1_0, crate::Kind::Invoice);
    (0..count)
        .map(|i| {
            let id = format!("{prefix}-{i:04}");
            let mut doc = sample.clone();
            adapt_json(&mut doc, &id, issued, supplier_tin, buyer_tin);
            let text = String::from_utf8(minified(&doc)).unwrap_or_default();
            (id, json!({ "format": "json", "document": text }))
        })
        .collect()
}

/// Minified JSON bytes of a document.
pub fn minified(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap_or_default()
}

/// A submission body.
pub fn submission(entries: Vec<Value>) -> Value {
    json!({ "documents": entries })
}

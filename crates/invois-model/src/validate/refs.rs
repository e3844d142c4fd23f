//! Currency (exchange rate, currencyID) and references to original documents.

use invois_api::DocumentStatus;
use invois_api::validator_errors as lhdn;
use rust_decimal::Decimal;

use super::{Category, Findings, Node, Severity, ValidationContext};
use crate::document::{Document, decimal};
use crate::rules::Rule;

pub(super) fn check_currency(
    doc: &Document,
    root: &Node<'_>,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    const CUR: Category = Category::Currency;
    let Some(currency) = doc.currency() else {
        return;
    };
    let tax_currency = root
        .kid("TaxCurrencyCode")
        .and_then(|n| n.text().map(str::to_owned));
    if currency != "MYR" {
        match root.kid("TaxExchangeRate") {
            None => {
                out.push_mut(
                "CUR001",
                CUR,
                Severity::Error,
                &root.missing("TaxExchangeRate"),
                format!("a document in {currency} needs TaxExchangeRate (SourceCurrencyCode {currency}, TargetCurrencyCode MYR, CalculationRate)"),
                Some(currency),
            )
            .dated(Rule::TaxExchangeRate, ctx);
            }
            Some(x) => {
                match x.kid("SourceCurrencyCode") {
                    Some(s) if s.text() == Some(currency) => {}
                    Some(s) => out.error(
                        "CUR002",
                        CUR,
                        &s,
                        format!("SourceCurrencyCode must be the document currency {currency}"),
                    ),
                    None => out.push(
                        "CUR002",
                        CUR,
                        Severity::Error,
                        &x.missing("SourceCurrencyCode"),
                        "TaxExchangeRate needs SourceCurrencyCode",
                        None,
                    ),
                }
                match x.kid("TargetCurrencyCode") {
                    Some(t) if t.text() == Some("MYR") => {}
                    Some(t) => out.error("CUR002", CUR, &t, "TargetCurrencyCode must be MYR"),
                    None => out.push(
                        "CUR002",
                        CUR,
                        Severity::Error,
                        &x.missing("TargetCurrencyCode"),
                        "TaxExchangeRate needs TargetCurrencyCode",
                        None,
                    ),
                }
                match x.kid("CalculationRate") {
                    Some(r) if decimal(r.text()).is_some_and(|d| d > Decimal::ZERO) => {}
                    Some(r) => out.error(
                        "CUR002",
                        CUR,
                        &r,
                        "CalculationRate must be a positive decimal",
                    ),
                    None => out.push(
                        "CUR002",
                        CUR,
                        Severity::Error,
                        &x.missing("CalculationRate"),
                        "TaxExchangeRate needs CalculationRate",
                        None,
                    ),
                }
            }
        }
    }
    // Every amount is in the document currency; tax amounts may be in the tax currency.
    let mut stack = vec![root.clone()];
    while let Some(n) = stack.pop() {
        for (i, c) in n.el.children.iter().enumerate() {
            if c.name == "UBLExtensions" || c.name == "Signature" {
                continue;
            }
            if let Some(id) = c.attr_value("currencyID") {
                let ok = id == currency
                    || (c.name == "TaxAmount" && tax_currency.as_deref() == Some(id));
                if !ok {
                    let same: Vec<Node<'_>> = n.kids(&c.name);
                    let pos = n.el.children[..i]
                        .iter()
                        .filter(|x| x.name == c.name)
                        .count();
                    if let Some(node) = same.get(pos) {
                        let f = out.push_mut(
                            "CUR003",
                            CUR,
                            Severity::Error,
                            &node.attr_node("currencyID"),
                            format!(
                                "amounts are in the document currency {currency}{}",
                                tax_currency
                                    .as_deref()
                                    .map(|t| format!(" (tax amounts may be in {t})"))
                                    .unwrap_or_default()
                            ),
                            Some(id),
                        );
                        // A tax amount, when there is a tax currency, breaks LHDN's DC501;
                        // any other amount its DC502.
                        if c.name == "TaxAmount" && tax_currency.is_some() {
                            f.published(&lhdn::DC501, &[]);
                        } else {
                            f.published(&lhdn::DC502, &[currency]);
                        }
                    }
                }
            }
        }
        // Only aggregates go on the stack: a leaf has no children to look at, and making a
        // node for each of them was most of this walk's cost.
        stack.extend(
            n.el.children
                .iter()
                .filter(|c| !c.children.is_empty())
                .map(|c| c.name.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .flat_map(|name| n.kids(name)),
        );
    }
}

/// LHDN uuids: 26 upper-case letters and digits.
pub fn uuid_ok(u: &str) -> bool {
    u.len() == 26
        && u.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

pub(super) fn check_references(
    doc: &Document,
    root: &Node<'_>,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    const R: Category = Category::References;
    let Some(doc_type) = doc.document_type() else {
        return;
    };
    let refs: Vec<Node<'_>> = root
        .kids("BillingReference")
        .into_iter()
        .filter_map(|b| b.kid("InvoiceDocumentReference"))
        .collect();
    if !doc_type.is_note() {
        return;
    }
    if refs.is_empty() {
        out.push(
            "R001",
            R,
            Severity::Error,
            &root.missing("BillingReference"),
            format!("a {} must reference its original(s) in BillingReference/InvoiceDocumentReference (UUID and ID)", doc_type.description()),
            None,
        );
    }
    for r in &refs {
        let uuid = r.kid("UUID");
        if r.kid("ID").is_none() {
            out.push(
                "R002",
                R,
                Severity::Error,
                &r.missing("ID"),
                "the reference needs the original's internal number (cbc:ID)",
                None,
            );
        }
        let Some(uuid) = uuid else {
            out.push(
                "R002",
                R,
                Severity::Error,
                &r.missing("UUID"),
                "the reference needs the original's LHDN uuid (cbc:UUID)",
                None,
            );
            continue;
        };
        let u = uuid.text().unwrap_or("");
        if !uuid_ok(u) {
            out.error(
                "R003",
                R,
                &uuid,
                "an LHDN uuid is 26 upper-case letters and digits",
            );
            continue;
        }
        if let Some(lookup) = &ctx.references {
            match lookup.lookup(u) {
                None => {
                    out.error("R005", R, &uuid, "the referenced original is not known");
                }
                Some(orig) => {
                    if orig.status != DocumentStatus::Valid {
                        out.error_mut(
                            "R005",
                            R,
                            &uuid,
                            format!(
                                "the referenced original must be Valid; it is {}",
                                orig.status.as_str()
                            ),
                        )
                        .published(&lhdn::DR303, &[u, orig.status.as_str()]);
                    }
                    if orig.document_type.is_self_billed() != doc_type.is_self_billed() {
                        let rule = if doc_type.is_self_billed() {
                            "a self-billed note may only reference self-billed originals"
                        } else {
                            "a note may only reference normal (not self-billed) originals"
                        };
                        out.error("R004", R, &uuid, rule);
                    }
                }
            }
        }
    }
}

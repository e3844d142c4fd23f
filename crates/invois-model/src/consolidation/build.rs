//! Receipts into consolidated e-invoices, with the model's builders.
//!
//! Lines follow SG45 3.6.3: one line per receipt ([`LineMethod::PerReceipt`]), or one line
//! per run of continuous receipt numbers ([`LineMethod::Ranges`]: `R-1110 - R-1112`, a gap
//! starts a new line). Every line is quantity 1 of the run's amount, classification `004`.
//! A run also ends where the tax (type, rate) changes, and where the tax charged receipt by
//! receipt would stray more than a sen from the run's amount times its rate, so each line's
//! tax is exactly what was collected and still agrees with its rate.
//!
//! The lines are then cut into documents within [`SplitLimits`]: at most 1,000 lines and
//! 300 KB less room for a signature, each document measured as written (minified JSON).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{CLASSIFICATION, Month, general_public};
use crate::codes::DocumentType;
use crate::model::{BuildError, Invoice, Line, Party, Period};
use crate::validate::TOLERANCE;

/// One receipt, as consolidation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The receipt number (serially numbered by the supplier).
    pub number: String,
    /// The amount excluding tax, MYR.
    pub amount: Decimal,
    /// Tax type (`01`-`06`, `E`).
    pub tax_type: String,
    /// Tax rate, percent.
    pub tax_rate: Decimal,
    /// The tax charged on the receipt, MYR.
    pub tax_amount: Decimal,
    /// The exemption reason (tax type `E`).
    pub exemption_reason: Option<String>,
}

/// How receipts become lines (SG45 3.6.3 (a) and (b)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineMethod {
    /// One line per receipt.
    PerReceipt,
    /// One line per run of continuous receipt numbers.
    #[default]
    Ranges,
}

/// What one document may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitLimits {
    /// Bytes of the written document (before any signature).
    pub max_bytes: usize,
    /// Lines.
    pub max_lines: usize,
}

/// Room left in a document for the signature a 1.1 document gets when it is prepared (the
/// signature block with its certificate is a few kilobytes; this is generous).
pub const SIGNATURE_ROOM: usize = 24 * 1024;

impl Default for SplitLimits {
    fn default() -> SplitLimits {
        SplitLimits {
            max_bytes: invois_api::submission::MAX_DOCUMENT_BYTES - SIGNATURE_ROOM,
            max_lines: super::rules::MAX_LINES_PER_DOCUMENT,
        }
    }
}

/// What the consolidated e-invoices of one month are built from, besides the receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolidationSpec {
    /// The supplier.
    pub supplier: Party,
    /// The month consolidated (written as the invoice period).
    pub month: Month,
    /// The issue date and time (the time of issuance, SG45 Ex. 3).
    pub issued_at: DateTime<Utc>,
    /// Document numbers are `{id_prefix}-001`, `-002`, ...
    pub id_prefix: String,
    /// Document version (`1.0`; `1.1` is signed when prepared).
    pub version: String,
    /// One line per receipt or per run.
    pub method: LineMethod,
    /// Per-document limits.
    pub limits: SplitLimits,
}

/// One line of a consolidated document: the receipts it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSpan {
    /// The line's description: the receipt number, or `first - last`.
    pub description: String,
    /// Indexes into the receipts given to [`consolidate`], in number order.
    pub receipts: Vec<usize>,
    /// The line's amount excluding tax.
    pub net: Decimal,
    /// The line's tax.
    pub tax: Decimal,
}

/// One consolidated e-invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDocument {
    /// Its number (`cbc:ID`).
    pub internal_id: String,
    /// The typed document.
    pub invoice: Invoice,
    /// It written as minified UBL JSON (what is stored and measured).
    pub json: String,
    /// Its lines, in order.
    pub lines: Vec<LineSpan>,
}

/// A receipt number split into the text before its trailing digits and their value, so that
/// `R-0999` and `R-1000` are continuous and sort in order.
fn number_key(number: &str) -> (&str, Option<u128>) {
    let digits = number.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (prefix, tail) = number.split_at(number.len() - digits);
    (prefix, tail.parse().ok())
}

fn continues(prev: &str, next: &str) -> bool {
    match (number_key(prev), number_key(next)) {
        ((p, Some(a)), (q, Some(b))) => p == q && a.checked_add(1) == Some(b),
        _ => false,
    }
}

fn same_tax(a: &Receipt, b: &Receipt) -> bool {
    a.tax_type == b.tax_type && a.tax_rate == b.tax_rate && a.exemption_reason == b.exemption_reason
}

/// Whether a run's summed tax stays within a sen of its amount times its rate.
fn agrees_with_rate(r: &Receipt, net: Decimal, tax: Decimal) -> bool {
    if r.tax_type == "E" {
        return true;
    }
    (tax - net * r.tax_rate / Decimal::ONE_HUNDRED).abs() <= TOLERANCE
}

/// The receipts as lines: indexes in receipt-number order, grouped by `method`.
pub fn lines(receipts: &[Receipt], method: LineMethod) -> Vec<LineSpan> {
    let mut order: Vec<usize> = (0..receipts.len()).collect();
    order.sort_by(|&a, &b| {
        let (na, nb) = (&receipts[a].number, &receipts[b].number);
        number_key(na).cmp(&number_key(nb)).then_with(|| na.cmp(nb))
    });
    let mut spans: Vec<LineSpan> = Vec::new();
    for i in order {
        let r = &receipts[i];
        if method == LineMethod::Ranges
            && let Some(span) = spans.last_mut()
        {
            let last = &receipts[span.receipts[span.receipts.len() - 1]];
            let (net, tax) = (span.net + r.amount, span.tax + r.tax_amount);
            if continues(&last.number, &r.number)
                && same_tax(last, r)
                && agrees_with_rate(r, net, tax)
            {
                span.receipts.push(i);
                span.net = net;
                span.tax = tax;
                continue;
            }
        }
        spans.push(LineSpan {
            description: String::new(),
            receipts: vec![i],
            net: r.amount,
            tax: r.tax_amount,
        });
    }
    for span in &mut spans {
        let first = &receipts[span.receipts[0]].number;
        let last = &receipts[span.receipts[span.receipts.len() - 1]].number;
        span.description = if span.receipts.len() == 1 {
            first.clone()
        } else {
            format!("{first} - {last}")
        };
    }
    spans
}

fn line(span: &LineSpan, sample: &Receipt) -> Line {
    let line = Line::new(
        CLASSIFICATION,
        span.description.clone(),
        Decimal::ONE,
        "C62",
        span.net,
    );
    match (&sample.exemption_reason, sample.tax_type.as_str()) {
        (Some(reason), "E") => line.exempt(reason.clone()),
        _ => line.tax_percent_charged(sample.tax_type.clone(), sample.tax_rate, span.tax),
    }
}

fn document(
    spec: &ConsolidationSpec,
    seq: usize,
    spans: &[LineSpan],
    receipts: &[Receipt],
) -> Result<BuiltDocument, BuildError> {
    let internal_id = format!("{}-{seq:03}", spec.id_prefix);
    let month = spec.month;
    let mut builder = Invoice::builder(DocumentType::Invoice, &internal_id, spec.issued_at)
        .version(spec.version.clone())
        .supplier(spec.supplier.clone())
        .buyer(general_public())
        .period(Period {
            start: month.first_day().to_string(),
            end: month.last_day().to_string(),
            description: "Monthly".to_owned(),
        });
    for span in spans {
        builder = builder.line(line(span, &receipts[span.receipts[0]]));
    }
    let invoice = builder.build()?;
    let json = invoice.to_document().to_json_string();
    Ok(BuiltDocument {
        internal_id,
        invoice,
        json,
        lines: spans.to_vec(),
    })
}

/// The consolidated e-invoices of `receipts` (all of one supplier and month, already found
/// consolidable), numbered from 1, each within `spec.limits`. No receipts, no documents.
pub fn consolidate(
    receipts: &[Receipt],
    spec: &ConsolidationSpec,
) -> Result<Vec<BuiltDocument>, BuildError> {
    let spans = lines(receipts, spec.method);
    let max_lines = spec.limits.max_lines.max(1);
    let mut per_document = max_lines;
    let mut out = Vec::new();
    let mut start = 0;
    while start < spans.len() {
        let mut end = (start + per_document).min(spans.len());
        loop {
            let built = document(spec, out.len() + 1, &spans[start..end], receipts)?;
            let size = built.json.len();
            if size <= spec.limits.max_bytes || end - start == 1 {
                out.push(built);
                break;
            }
            // Too big: as many lines as fit at this document's bytes per line, less 2 % for
            // lines longer than these; later documents start from that count.
            let fits = (end - start) * spec.limits.max_bytes / size * 98 / 100;
            per_document = fits.clamp(1, max_lines);
            end = start + per_document.min(end - start - 1);
        }
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(number: &str, cents: i64, rate: i64) -> Receipt {
        let amount = Decimal::new(cents, 2);
        let tax = (amount * Decimal::new(rate, 0) / Decimal::ONE_HUNDRED).round_dp(2);
        Receipt {
            number: number.to_owned(),
            amount,
            tax_type: if rate == 0 { "06" } else { "02" }.to_owned(),
            tax_rate: Decimal::new(rate, 0),
            tax_amount: tax,
            exemption_reason: None,
        }
    }

    #[test]
    fn runs_follow_the_numbers_and_end_at_gaps_and_tax_changes() {
        let receipts = [
            receipt("1112", 100, 0),
            receipt("1110", 100, 0),
            receipt("1111", 100, 0),
            receipt("1114", 100, 0),
            receipt("1116", 100, 0),
            receipt("1117", 100, 8),
            receipt("A-0999", 100, 0),
            receipt("A-1000", 100, 0),
            receipt("no digits", 100, 0),
        ];
        let spans = lines(&receipts, LineMethod::Ranges);
        let names: Vec<&str> = spans.iter().map(|s| s.description.as_str()).collect();
        assert_eq!(
            names,
            [
                "1110 - 1112",
                "1114",
                "1116",
                "1117",
                "A-0999 - A-1000",
                "no digits"
            ]
        );
        assert_eq!(spans[0].net, Decimal::new(300, 2));
        let per: Vec<LineSpan> = lines(&receipts, LineMethod::PerReceipt);
        assert_eq!(per.len(), receipts.len());
    }

    #[test]
    fn a_run_ends_before_its_charged_tax_strays_from_its_rate() {
        // 8 % of 0.06 is 0.0048, charged as 0.00 each time: the run may not drift a sen.
        let receipts: Vec<Receipt> = (1..=10).map(|n| receipt(&format!("{n}"), 6, 8)).collect();
        let spans = lines(&receipts, LineMethod::Ranges);
        assert!(spans.len() > 1, "{spans:?}");
        for s in &spans {
            let computed = s.net * Decimal::new(8, 0) / Decimal::ONE_HUNDRED;
            assert!((s.tax - computed).abs() <= TOLERANCE, "{s:?}");
        }
        let total: usize = spans.iter().map(|s| s.receipts.len()).sum();
        assert_eq!(total, 10);
    }
}

//! The mathematical mappings (§6.3), with decimals and one sen of rounding tolerance.

use rust_decimal::Decimal;

use super::{Category, Findings, Node, Severity};
use crate::document::decimal;

const A: Category = Category::Arithmetic;

/// Allowed difference between a stated amount and its computed value.
pub const TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// A number at a node; reports A011 when present but not a decimal.
fn num(n: &Node<'_>, out: &mut Findings) -> Option<Decimal> {
    let text = n.text()?;
    let d = decimal(Some(text));
    if d.is_none() {
        out.push(
            "A011",
            A,
            Severity::Error,
            n,
            format!("`{}` must be a decimal number", n.el.name),
            Some(text),
        );
    }
    d
}

fn get<'a>(parent: &Node<'a>, path: &[&str], out: &mut Findings) -> Option<(Node<'a>, Decimal)> {
    let n = parent.at(path)?;
    let d = num(&n, out)?;
    Some((n, d))
}

fn sum(nodes: &[Node<'_>], out: &mut Findings) -> Decimal {
    nodes.iter().filter_map(|n| num(n, out)).sum()
}

fn expect(
    at: &Node<'_>,
    stated: Decimal,
    computed: Decimal,
    code: &'static str,
    rule: &str,
    out: &mut Findings,
) {
    if (stated - computed).abs() > TOLERANCE {
        out.push(
            code,
            A,
            Severity::Error,
            at,
            format!("{rule}: expected {computed}, found {stated}"),
            Some(&stated.to_string()),
        );
    }
}

/// Sum of allowance (`false`) or charge (`true`) amounts among `AllowanceCharge` children.
fn allowances(parent: &Node<'_>, charge: bool, out: &mut Findings) -> Decimal {
    let nodes: Vec<Node<'_>> = parent
        .kids("AllowanceCharge")
        .into_iter()
        .filter(|ac| {
            ac.kid("ChargeIndicator")
                .and_then(|c| c.text().map(|t| t == "true"))
                == Some(charge)
        })
        .filter_map(|ac| ac.kid("Amount"))
        .collect();
    sum(&nodes, out)
}

/// Converts between the document and tax currencies.
#[derive(Clone, Copy)]
struct Rates<'a> {
    currency: Option<&'a str>,
    rate: Option<Decimal>,
}

impl Rates<'_> {
    /// `value` stated at `n`, in the document currency.
    fn in_doc(&self, n: &Node<'_>, value: Decimal) -> Decimal {
        match (n.attr("currencyID"), self.currency, self.rate) {
            (Some(c), Some(doc), Some(rate)) if c != doc && rate != Decimal::ZERO => value / rate,
            _ => value,
        }
    }
    /// `value` in the document currency, expressed in the currency stated at `n`.
    fn as_at(&self, n: &Node<'_>, value: Decimal) -> Decimal {
        match (n.attr("currencyID"), self.currency, self.rate) {
            (Some(c), Some(doc), Some(rate)) if c != doc => value * rate,
            _ => value,
        }
    }
}

fn tax_total(t: &Node<'_>, rates: Rates<'_>, out: &mut Findings) {
    let subs = t.kids("TaxSubtotal");
    if let Some((n, stated)) = get(t, &["TaxAmount"], out) {
        let parts: Vec<Node<'_>> = subs.iter().filter_map(|s| s.kid("TaxAmount")).collect();
        if !parts.is_empty() {
            expect(
                &n,
                stated,
                sum(&parts, out),
                if t.xpath().contains("InvoiceLine") {
                    "A003"
                } else {
                    "A008"
                },
                "the tax total is the sum of its TaxSubtotal/TaxAmount",
                out,
            );
        }
    }
    for s in &subs {
        let exempt = s.at(&["TaxCategory", "ID"]).and_then(|n| n.text()) == Some("E");
        if exempt {
            continue;
        }
        // Fixed-rate taxes: amount per unit x number of units.
        if let (Some((_, per)), Some((_, units)), Some((n, tax))) = (
            get(s, &["PerUnitAmount"], out),
            get(s, &["BaseUnitMeasure"], out),
            get(s, &["TaxAmount"], out),
        ) {
            expect(
                &n,
                tax,
                rates.as_at(&n, per * units),
                "A004",
                "the tax amount is PerUnitAmount x BaseUnitMeasure",
                out,
            );
            continue;
        }
        if let (Some((_, taxable)), Some((_, pct)), Some((n, tax))) = (
            get(s, &["TaxableAmount"], out),
            get(s, &["TaxCategory", "Percent"], out).or_else(|| get(s, &["Percent"], out)),
            get(s, &["TaxAmount"], out),
        ) {
            expect(
                &n,
                tax,
                rates.as_at(&n, taxable * pct / Decimal::ONE_HUNDRED),
                "A004",
                "the tax amount is TaxableAmount x Percent / 100",
                out,
            );
        }
    }
}

pub(super) fn check(root: &Node<'_>, out: &mut Findings) {
    let rates = Rates {
        currency: root.kid("DocumentCurrencyCode").and_then(|n| n.text()),
        rate: root
            .at(&["TaxExchangeRate", "CalculationRate"])
            .and_then(|n| decimal(n.text())),
    };
    let mut lines_total = Decimal::ZERO;
    let lines = root.kids("InvoiceLine");
    for line in &lines {
        if let Some(ext) = check_line(line, rates, out) {
            lines_total += ext;
        }
    }
    for t in root.kids("TaxTotal") {
        tax_total(&t, rates, out);
    }
    if let Some(lmt) = root.kid("LegalMonetaryTotal") {
        let lines_total = (!lines.is_empty()).then_some(lines_total);
        monetary_total(root, &lmt, lines_total, rates, out);
    }
}

/// One line's subtotal (A001), total excluding tax (A002) and taxes; returns its stated
/// LineExtensionAmount, which the document's must add up to.
fn check_line(line: &Node<'_>, rates: Rates<'_>, out: &mut Findings) -> Option<Decimal> {
    let qty = line.kid("InvoicedQuantity").and_then(|q| num(&q, out));
    let price = get(line, &["Price", "PriceAmount"], out).map(|(_, d)| d);
    let subtotal = get(line, &["ItemPriceExtension", "Amount"], out);
    if let (Some(q), Some(p), Some((n, s))) = (qty, price, &subtotal) {
        expect(
            n,
            *s,
            p * q,
            "A001",
            "the line subtotal (ItemPriceExtension/Amount) is unit price x quantity",
            out,
        );
    }
    let line_ext = get(line, &["LineExtensionAmount"], out);
    if let (Some((n, ext)), Some((_, s))) = (&line_ext, &subtotal) {
        let computed = *s - allowances(line, false, out) + allowances(line, true, out);
        expect(
            n,
            *ext,
            computed,
            "A002",
            "the line total excluding tax is subtotal - line discounts + line charges",
            out,
        );
    }
    for t in line.kids("TaxTotal") {
        tax_total(&t, rates, out);
    }
    line_ext.map(|(_, ext)| ext)
}

/// `LegalMonetaryTotal`: each amount against the ones it is computed from (A005-A010).
/// `lines_total` is the sum of the lines' LineExtensionAmount, `None` without lines.
///
/// Every amount is read once, in this order, because reading one that is not a decimal
/// reports A011 there.
fn monetary_total(
    root: &Node<'_>,
    lmt: &Node<'_>,
    lines_total: Option<Decimal>,
    rates: Rates<'_>,
    out: &mut Findings,
) {
    let field = |name: &str, out: &mut Findings| get(lmt, &[name], out);
    let line_ext = field("LineExtensionAmount", out);
    if let (Some((n, v)), Some(lines_total)) = (&line_ext, lines_total) {
        expect(
            n,
            *v,
            lines_total,
            "A005",
            "LineExtensionAmount is the sum of the lines' LineExtensionAmount",
            out,
        );
    }
    let (allowance_total, charge_total) = allowance_charge_totals(root, lmt, out);
    let tax_exclusive = field("TaxExclusiveAmount", out);
    if let (Some((_, le)), Some((n, te))) = (&line_ext, &tax_exclusive) {
        let a = allowance_total.unwrap_or(Decimal::ZERO);
        let c = charge_total.unwrap_or(Decimal::ZERO);
        expect(
            n,
            *te,
            *le - a + c,
            "A006",
            "TaxExclusiveAmount is LineExtensionAmount - AllowanceTotalAmount + ChargeTotalAmount",
            out,
        );
    }
    let tax = root
        .kids("TaxTotal")
        .first()
        .and_then(|t| get(t, &["TaxAmount"], out))
        .map(|(n, d)| rates.in_doc(&n, d));
    let tax_inclusive = field("TaxInclusiveAmount", out);
    if let (Some((_, te)), Some(tax), Some((n, ti))) = (&tax_exclusive, tax, &tax_inclusive) {
        expect(
            n,
            *ti,
            *te + tax,
            "A009",
            "TaxInclusiveAmount is TaxExclusiveAmount + the total tax",
            out,
        );
    }
    let prepaid = sum(&root.all(&["PrepaidPayment", "PaidAmount"]), out);
    let rounding = field("PayableRoundingAmount", out).map_or(Decimal::ZERO, |x| x.1);
    if let (Some((_, ti)), Some((n, p))) = (&tax_inclusive, field("PayableAmount", out)) {
        expect(
            &n,
            p,
            *ti - prepaid + rounding,
            "A010",
            "PayableAmount is TaxInclusiveAmount - prepaid amounts + PayableRoundingAmount",
            out,
        );
    }
}

/// AllowanceTotalAmount and ChargeTotalAmount against the document-level allowances and
/// charges (A007), when there are any; returns the two stated totals.
fn allowance_charge_totals(
    root: &Node<'_>,
    lmt: &Node<'_>,
    out: &mut Findings,
) -> (Option<Decimal>, Option<Decimal>) {
    let doc_allow = allowances(root, false, out);
    let doc_charge = allowances(root, true, out);
    let allowance_total = get(lmt, &["AllowanceTotalAmount"], out);
    let charge_total = get(lmt, &["ChargeTotalAmount"], out);
    if !root.kids("AllowanceCharge").is_empty() {
        if let Some((n, v)) = &allowance_total {
            expect(
                n,
                *v,
                doc_allow,
                "A007",
                "AllowanceTotalAmount is the sum of the document-level discounts",
                out,
            );
        }
        if let Some((n, v)) = &charge_total {
            expect(
                n,
                *v,
                doc_charge,
                "A007",
                "ChargeTotalAmount is the sum of the document-level charges",
                out,
            );
        }
    }
    (
        allowance_total.map(|(_, v)| v),
        charge_total.map(|(_, v)| v),
    )
}

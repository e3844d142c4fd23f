//! The copy as HTML: one self-contained page (styles inline, QR code as SVG), laid out for A4
//! when printed. maud escapes every value.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::content::{CANCELLED_NOTE, Content, Field, PartyView, STATEMENT};
use crate::qr::QrGrid;

/// Print and screen styles. The table header repeats on every printed page by itself
/// (`thead`), and a line is never split across pages.
const STYLE: &str = r#"
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans Condensed", "Arial Narrow", Arial, sans-serif; font-size: 9pt;
  color: #1a1a1a; margin: 0 auto; max-width: 190mm; padding: 8mm 0; }
h1 { font-size: 16pt; margin: 0; text-align: right; letter-spacing: 0.04em; }
.kind { text-align: right; color: #555; margin-bottom: 2mm; }
.top { display: flex; justify-content: space-between; gap: 8mm; }
.top > div { flex: 1; }
.supplier-name { font-size: 13pt; font-weight: bold; margin-bottom: 1mm; }
.party-name { font-weight: bold; font-size: 10pt; }
.label { color: #555; }
.role { text-transform: uppercase; color: #555; font-size: 7.5pt; letter-spacing: 0.06em;
  border-bottom: 0.5pt solid #999; margin: 4mm 0 1mm; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.5mm 3mm; margin: 0; }
dt { color: #555; } dd { margin: 0; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; margin-top: 4mm; }
th { background: #ececec; font-weight: bold; text-align: left; padding: 1mm; font-size: 7.5pt; }
td { padding: 1mm; vertical-align: top; border-bottom: 0.5pt solid #ccc; font-size: 8pt; }
tr { page-break-inside: avoid; }
.num { text-align: right; white-space: nowrap; }
.note { color: #555; font-size: 7pt; }
.summary { display: flex; gap: 8mm; margin-top: 4mm; page-break-inside: avoid; }
.summary > div { flex: 1; }
.totals td { border: none; padding: 0.6mm 1mm; }
.totals .strong td { font-weight: bold; font-size: 10pt; border-top: 0.8pt solid #1a1a1a; }
.validation { display: flex; gap: 5mm; margin-top: 6mm; padding-top: 3mm;
  border-top: 0.8pt solid #1a1a1a; page-break-inside: avoid; }
.validation svg { width: 32mm; height: 32mm; flex: none; }
.link { font-size: 7.5pt; overflow-wrap: anywhere; }
.statement { color: #555; font-size: 7.5pt; margin-top: 2mm; }
.cancelled { border: 1.5pt solid #b00020; color: #b00020; font-weight: bold; padding: 2mm;
  margin-bottom: 3mm; text-align: center; }
"#;

/// The whole page.
pub(crate) fn page(c: &Content, qr: &QrGrid) -> String {
    let number = c.header.first().map_or(String::new(), |f| f.value.clone());
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (c.title) " " (number) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if c.cancelled {
                    div.cancelled { (CANCELLED_NOTE) }
                }
                (top(c))
                (parties(c))
                (lines(c))
                (summary(c))
                (validation(c, qr))
            }
        }
    };
    markup.into_string()
}

fn fields(list: &[Field]) -> Markup {
    html! {
        dl {
            @for f in list {
                dt { (f.label) } dd { (f.value) }
            }
        }
    }
}

fn top(c: &Content) -> Markup {
    let s = &c.supplier;
    html! {
        div.top {
            div {
                div.supplier-name { (s.name) }
                @for line in &s.address { div { (line) } }
                @for f in &s.contact { div { span.label { (f.label) " " } (f.value) } }
                div.role { "Supplier" }
                (fields(&s.ids))
            }
            div {
                h1 { (c.title) }
                div.kind { (c.kind) }
                (fields(&c.header))
            }
        }
    }
}

fn party(p: &PartyView) -> Markup {
    html! {
        div.role { (p.role) }
        div.party-name { (p.name) }
        (fields(&p.ids))
        @for line in &p.address { div { (line) } }
        @for f in &p.contact { div { span.label { (f.label) " " } (f.value) } }
    }
}

fn parties(c: &Content) -> Markup {
    html! {
        div.top {
            div { (party(&c.buyer)) }
            div {
                div.role { "Terms" }
                (fields(&c.terms))
            }
        }
    }
}

fn lines(c: &Content) -> Markup {
    html! {
        table.lines {
            thead {
                tr {
                    th { "No." } th { "Class." } th { "Description" } th.num { "Quantity" }
                    th.num { "Unit price" } th.num { "Discount" } th.num { "Tax rate" }
                    th.num { "Tax" } th.num { "Excl. tax" } th.num { "Incl. tax" }
                }
            }
            tbody {
                @for l in &c.lines {
                    tr {
                        td { (l.number) }
                        td { (l.classification) }
                        td {
                            (l.description)
                            @for n in &l.notes { div.note { (n) } }
                        }
                        td.num { (l.quantity) }
                        td.num { (l.unit_price) }
                        td.num { (l.discount) }
                        td.num { (l.tax_rate) }
                        td.num { (l.tax_amount) }
                        td.num { (l.excluding_tax) }
                        td.num { (l.including_tax) }
                    }
                }
            }
        }
    }
}

fn summary(c: &Content) -> Markup {
    html! {
        div.summary {
            div {
                div.role { "Tax summary" }
                table {
                    thead {
                        tr { th { "Tax type" } th.num { "Rate" } th.num { "Taxable" } th.num { "Tax" } }
                    }
                    tbody {
                        @for t in &c.taxes {
                            tr {
                                td {
                                    (t.tax_type)
                                    @if let Some(e) = &t.exemption { div.note { (e) } }
                                }
                                td.num { (t.rate) }
                                td.num { (t.taxable) }
                                td.num { (t.amount) }
                            }
                        }
                    }
                }
            }
            div {
                div.role { "Totals (" (c.currency) ")" }
                table.totals {
                    @for t in &c.totals {
                        tr class=[t.strong.then_some("strong")] {
                            td { (t.label) }
                            td.num { (t.currency) " " (t.amount) }
                        }
                    }
                }
            }
        }
    }
}

fn validation(c: &Content, qr: &QrGrid) -> Markup {
    let w = qr.width();
    html! {
        div.validation {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (w) " " (w) }
                shape-rendering="crispEdges" role="img"
                aria-label={ "QR code of the validation link " (c.validation.link) } {
                rect width=(w) height=(w) fill="#fff" {}
                path d=(qr.svg_path()) fill="#000" {}
            }
            div {
                div.party-name { "Validated by LHDN MyInvois" }
                dl {
                    dt { "Unique identifier no." } dd { (c.validation.uuid) }
                    dt { "Date and time of validation" } dd { (c.validation.validated) }
                }
                div.link {
                    span.label { "Validation link " }
                    a href=(c.validation.link) { (c.validation.link) }
                }
                div.statement { (STATEMENT) }
            }
        }
    }
}

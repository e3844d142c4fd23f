//! The copy's parts, top to bottom: supplier and document header, buyer and terms, the lines
//! (header row repeated on each page), tax summary and totals, and the validation panel with
//! the QR code. Each part that must not be split checks its height first and moves to a new
//! page when it does not fit.

use super::layout::{Align, CONTENT_WIDTH, Ink, MARGIN, Pager, Style};
use crate::content::{CANCELLED_NOTE, Content, Field, LineView, PartyView, STATEMENT};

const TEXT: Style = Style::new(8.0);
const LABEL: Style = Style::new(7.5).grey();
const NOTE: Style = Style::new(6.8).grey();
const ROLE: Style = Style::new(7.0).bold().grey();
/// Space between parts.
const GAP: f32 = 10.0;
/// Padding inside a table cell.
const PAD_X: f32 = 3.0;
const PAD_Y: f32 = 2.5;

/// The right-hand column of the top parts starts here.
const RIGHT_X: f32 = MARGIN + 290.0;
const RIGHT_WIDTH: f32 = MARGIN + CONTENT_WIDTH - RIGHT_X;
const LEFT_WIDTH: f32 = 270.0;

/// Lays the whole copy out.
pub(crate) fn all(p: &mut Pager<'_>, c: &Content) {
    if c.cancelled {
        cancelled(p);
    }
    top(p, c);
    parties(p, c);
    lines(p, &c.lines);
    summary(p, c);
    validation(p, c);
}

fn cancelled(p: &mut Pager<'_>) {
    let style = Style::new(9.0).bold().ink(Ink::Red);
    let top = p.y;
    p.rect(MARGIN, top, CONTENT_WIDTH, 1.2, Ink::Red);
    let h = p.paragraph(
        MARGIN + 6.0,
        top + 5.0,
        CONTENT_WIDTH - 12.0,
        Align::Left,
        style,
        CANCELLED_NOTE,
    );
    p.rect(MARGIN, top + h + 9.0, CONTENT_WIDTH, 1.2, Ink::Red);
    p.y = top + h + 9.0 + GAP;
}

/// Label-value rows; returns their height.
fn fields(
    p: &mut Pager<'_>,
    x: f32,
    top: f32,
    width: f32,
    label_width: f32,
    list: &[Field],
) -> f32 {
    let mut y = top;
    for f in list {
        let label = p.paragraph(x, y, label_width - 4.0, Align::Left, LABEL, f.label);
        let value = p.paragraph(
            x + label_width,
            y,
            width - label_width,
            Align::Left,
            TEXT,
            &f.value,
        );
        y += label.max(value) + 1.0;
    }
    y - top
}

/// Lines of text, one after another; returns their height.
fn stack(p: &mut Pager<'_>, x: f32, top: f32, width: f32, style: Style, lines: &[String]) -> f32 {
    let mut y = top;
    for l in lines {
        y += p.paragraph(x, y, width, Align::Left, style, l);
    }
    y - top
}

fn contact(list: &[Field]) -> Vec<String> {
    list.iter()
        .map(|f| format!("{} {}", f.label, f.value))
        .collect()
}

fn top(p: &mut Pager<'_>, c: &Content) {
    let start = p.y;
    let s = &c.supplier;
    let mut y = start;
    y += p.paragraph(
        MARGIN,
        y,
        LEFT_WIDTH,
        Align::Left,
        Style::new(12.5).bold(),
        &s.name,
    );
    y += 2.0;
    y += stack(p, MARGIN, y, LEFT_WIDTH, TEXT, &s.address);
    y += stack(p, MARGIN, y, LEFT_WIDTH, TEXT, &contact(&s.contact));
    y += 4.0;
    y += fields(p, MARGIN, y, LEFT_WIDTH, 100.0, &s.ids);
    let left = y;

    let mut y = start;
    y += p.paragraph(
        RIGHT_X,
        y,
        RIGHT_WIDTH,
        Align::Right,
        Style::new(15.0).bold(),
        &c.title,
    );
    y += p.paragraph(RIGHT_X, y, RIGHT_WIDTH, Align::Right, LABEL, &c.kind);
    y += 6.0;
    y += fields(p, RIGHT_X, y, RIGHT_WIDTH, 86.0, &c.header);
    p.y = left.max(y) + GAP;
}

/// A role heading (`BUYER`) with a rule under it; returns its height.
fn role(p: &mut Pager<'_>, x: f32, top: f32, width: f32, text: &str) -> f32 {
    p.line(x, top, width, Align::Left, ROLE, &text.to_uppercase());
    let h = ROLE.line_height();
    p.rect(x, top + h, width, 0.5, Ink::Rule);
    h + 3.0
}

fn party(p: &mut Pager<'_>, x: f32, top: f32, width: f32, party: &PartyView) -> f32 {
    let mut y = top + role(p, x, top, width, party.role);
    y += p.paragraph(
        x,
        y,
        width,
        Align::Left,
        Style::new(9.5).bold(),
        &party.name,
    );
    y += 1.0;
    y += fields(p, x, y, width, 100.0, &party.ids);
    y += stack(p, x, y, width, TEXT, &party.address);
    y += stack(p, x, y, width, TEXT, &contact(&party.contact));
    y - top
}

fn parties(p: &mut Pager<'_>, c: &Content) {
    let start = p.y;
    let left = party(p, MARGIN, start, LEFT_WIDTH, &c.buyer);
    let mut y = start + role(p, RIGHT_X, start, RIGHT_WIDTH, "Terms");
    y += fields(p, RIGHT_X, y, RIGHT_WIDTH, 86.0, &c.terms);
    p.y = (start + left).max(y) + GAP;
}

/// A column of the lines table.
struct Col {
    title: &'static str,
    width: f32,
    align: Align,
}

const fn col(title: &'static str, width: f32, align: Align) -> Col {
    Col {
        title,
        width,
        align,
    }
}

/// The description takes what the other nine leave of the content width.
const COLUMNS: [Col; 10] = [
    // Room for a three-digit line number ("001", as LHDN's samples number lines).
    col("No.", 22.0, Align::Left),
    col("Class.", 24.0, Align::Left),
    col("Description", CONTENT_WIDTH - 390.0, Align::Left),
    col("Quantity", 40.0, Align::Right),
    col("Unit price", 50.0, Align::Right),
    col("Discount", 42.0, Align::Right),
    col("Tax rate", 44.0, Align::Right),
    col("Tax", 54.0, Align::Right),
    col("Excl. tax", 56.0, Align::Right),
    col("Incl. tax", 58.0, Align::Right),
];

const HEAD: Style = Style::new(7.2).bold();

fn table_head(p: &mut Pager<'_>) {
    let h = HEAD.line_height() + 2.0 * PAD_Y;
    p.rect(MARGIN, p.y, CONTENT_WIDTH, h, Ink::Shade);
    let mut x = MARGIN;
    for c in &COLUMNS {
        p.line(
            x + PAD_X,
            p.y + PAD_Y,
            c.width - 2.0 * PAD_X,
            c.align,
            HEAD,
            c.title,
        );
        x += c.width;
    }
    p.y += h;
}

/// A line's cells, in column order.
fn cells(l: &LineView) -> [&str; 10] {
    [
        &l.number,
        &l.classification,
        &l.description,
        &l.quantity,
        &l.unit_price,
        &l.discount,
        &l.tax_rate,
        &l.tax_amount,
        &l.excluding_tax,
        &l.including_tax,
    ]
}

fn row_height(p: &Pager<'_>, l: &LineView) -> f32 {
    let mut tallest: f32 = 0.0;
    for (c, text) in COLUMNS.iter().zip(cells(l)) {
        tallest = tallest.max(p.measure(c.width - 2.0 * PAD_X, TEXT, text));
    }
    let notes: f32 = l
        .notes
        .iter()
        .map(|n| p.measure(COLUMNS[2].width - 2.0 * PAD_X, NOTE, n))
        .sum();
    let description = p.measure(COLUMNS[2].width - 2.0 * PAD_X, TEXT, &l.description);
    tallest.max(description + notes) + 2.0 * PAD_Y
}

fn lines(p: &mut Pager<'_>, lines: &[LineView]) {
    p.keep(60.0);
    table_head(p);
    for l in lines {
        let h = row_height(p, l);
        if p.keep(h) {
            table_head(p);
        }
        let top = p.y + PAD_Y;
        let mut x = MARGIN;
        for (i, (c, text)) in COLUMNS.iter().zip(cells(l)).enumerate() {
            let w = c.width - 2.0 * PAD_X;
            let used = p.paragraph(x + PAD_X, top, w, c.align, TEXT, text);
            if i == 2 {
                stack(p, x + PAD_X, top + used, w, NOTE, &l.notes);
            }
            x += c.width;
        }
        p.y += h;
        p.rect(MARGIN, p.y - 0.5, CONTENT_WIDTH, 0.5, Ink::Rule);
    }
    p.y += GAP;
}

const TAX_COLUMNS: [Col; 4] = [
    col("Tax type", 120.0, Align::Left),
    col("Rate", 46.0, Align::Right),
    col("Taxable", 60.0, Align::Right),
    col("Tax", 54.0, Align::Right),
];
const TOTALS_WIDTH: f32 = 215.0;

fn summary_height(p: &Pager<'_>, c: &Content) -> f32 {
    let taxes: f32 = c
        .taxes
        .iter()
        .map(|t| {
            let text = match &t.exemption {
                Some(e) => format!("{} {e}", t.tax_type),
                None => t.tax_type.clone(),
            };
            p.measure(TAX_COLUMNS[0].width - 2.0 * PAD_X, TEXT, &text) + 2.0 * PAD_Y + 6.0
        })
        .sum();
    let totals = c.totals.len() as f32 * (TEXT.line_height() + 3.0) + 12.0;
    20.0 + taxes.max(totals)
}

fn summary(p: &mut Pager<'_>, c: &Content) {
    let h = summary_height(p, c);
    p.keep(h);
    let start = p.y;
    let width: f32 = TAX_COLUMNS.iter().map(|c| c.width).sum();
    let mut y = start + role(p, MARGIN, start, width, "Tax summary");
    let mut x = MARGIN;
    for col in &TAX_COLUMNS {
        p.line(
            x + PAD_X,
            y,
            col.width - 2.0 * PAD_X,
            col.align,
            HEAD,
            col.title,
        );
        x += col.width;
    }
    y += HEAD.line_height() + 2.0;
    for t in &c.taxes {
        let cells = [&t.tax_type, &t.rate, &t.taxable, &t.amount];
        let mut x = MARGIN;
        let mut tallest: f32 = 0.0;
        for (i, (col, text)) in TAX_COLUMNS.iter().zip(cells).enumerate() {
            let w = col.width - 2.0 * PAD_X;
            let mut used = p.paragraph(x + PAD_X, y + PAD_Y, w, col.align, TEXT, text);
            if let (0, Some(e)) = (i, &t.exemption) {
                used += p.paragraph(x + PAD_X, y + PAD_Y + used, w, Align::Left, NOTE, e);
            }
            tallest = tallest.max(used);
            x += col.width;
        }
        y += tallest + 2.0 * PAD_Y;
        p.rect(MARGIN, y - 0.5, width, 0.5, Ink::Rule);
    }
    let x = MARGIN + CONTENT_WIDTH - TOTALS_WIDTH;
    let heading = format!("Totals ({})", c.currency);
    let mut ty = start + role(p, x, start, TOTALS_WIDTH, &heading);
    for t in &c.totals {
        let style = if t.strong {
            ty += 3.0;
            p.rect(x, ty - 1.5, TOTALS_WIDTH, 0.8, Ink::Black);
            Style::new(9.5).bold()
        } else {
            TEXT
        };
        p.line(x, ty, TOTALS_WIDTH, Align::Left, style, t.label);
        let amount = format!("{} {}", t.currency, t.amount);
        p.line(x, ty, TOTALS_WIDTH, Align::Right, style, &amount);
        ty += style.line_height() + 3.0;
    }
    p.y = y.max(ty) + GAP;
}

/// The QR code's side: about 34 mm, which phones read from arm's length.
const QR_SIDE: f32 = 96.0;

fn validation(p: &mut Pager<'_>, c: &Content) {
    let x = MARGIN + QR_SIDE + 14.0;
    let width = MARGIN + CONTENT_WIDTH - x;
    let v = &c.validation;
    let text_height = 14.0
        + 2.0 * (TEXT.line_height() + 1.0)
        + p.measure(width, TEXT, &v.link)
        + LABEL.line_height()
        + p.measure(width, NOTE, STATEMENT)
        + 8.0;
    p.keep(QR_SIDE.max(text_height) + 8.0);
    let top = p.y;
    p.rule(top, 0.8, Ink::Black);
    let top = top + 8.0;
    p.qr(MARGIN, top, QR_SIDE);
    let mut y = top;
    y += p.paragraph(
        x,
        y,
        width,
        Align::Left,
        Style::new(9.5).bold(),
        "Validated by LHDN MyInvois",
    );
    y += 3.0;
    let list = [
        Field {
            label: "Unique identifier no.",
            value: v.uuid.clone(),
        },
        Field {
            label: "Date and time of validation",
            value: v.validated.clone(),
        },
    ];
    y += fields(p, x, y, width, 112.0, &list);
    y += p.paragraph(x, y, width, Align::Left, LABEL, "Validation link");
    y += p.paragraph(x, y, width, Align::Left, TEXT, &v.link);
    y += 4.0;
    y += p.paragraph(x, y, width, Align::Left, NOTE, STATEMENT);
    p.y = y.max(top + QR_SIDE) + GAP;
}

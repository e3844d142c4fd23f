//! Page layout: the copy placed on A4 pages as a list of drawing operations per page. Laying
//! out first and drawing after lets every footer say "page 1 of N".
//!
//! Coordinates are PDF points from the page's top-left corner, y growing downwards.

use super::fonts::{Face, Fonts};

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.28;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;
/// Left and right margin (about 12.7 mm).
pub(crate) const MARGIN: f32 = 36.0;
const TOP: f32 = 36.0;
/// Content ends here; the footer sits below.
const BOTTOM: f32 = PAGE_HEIGHT - 54.0;
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

/// Line height as a multiple of the font size.
const LEADING: f32 = 1.28;

/// Ink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ink {
    Black,
    /// Labels and notes.
    Grey,
    /// Rules between rows.
    Rule,
    /// Table header backgrounds.
    Shade,
    /// The cancelled mark.
    Red,
}

/// One drawing operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// Text on one line; `y` is its baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        ink: Ink,
        text: String,
    },
    /// A filled rectangle.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        ink: Ink,
    },
    /// The QR code, `side` points square, top-left at (x, y).
    Qr { x: f32, y: f32, side: f32 },
}

/// How text is set: size, weight, ink.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) size: f32,
    pub(crate) bold: bool,
    pub(crate) ink: Ink,
}

impl Style {
    pub(crate) const fn new(size: f32) -> Style {
        Style {
            size,
            bold: false,
            ink: Ink::Black,
        }
    }
    pub(crate) const fn bold(self) -> Style {
        Style { bold: true, ..self }
    }
    pub(crate) const fn grey(self) -> Style {
        Style {
            ink: Ink::Grey,
            ..self
        }
    }
    pub(crate) const fn ink(self, ink: Ink) -> Style {
        Style { ink, ..self }
    }
    pub(crate) fn line_height(self) -> f32 {
        self.size * LEADING
    }
}

/// Where text sits in its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// Pages being filled, top to bottom.
pub(crate) struct Pager<'f> {
    pub(crate) fonts: &'f Fonts,
    pub(crate) pages: Vec<Vec<Op>>,
    /// The top of the free space on the current page.
    pub(crate) y: f32,
}

impl<'f> Pager<'f> {
    pub(crate) fn new(fonts: &'f Fonts) -> Pager<'f> {
        Pager {
            fonts,
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    pub(crate) fn face(&self, style: Style) -> &'f Face {
        if style.bold {
            &self.fonts.bold
        } else {
            &self.fonts.regular
        }
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    /// Whether `height` more points fit on this page.
    pub(crate) fn fits(&self, height: f32) -> bool {
        self.y + height <= BOTTOM
    }

    /// Starts a new page.
    pub(crate) fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` fits here. Returns whether it did.
    pub(crate) fn keep(&mut self, height: f32) -> bool {
        if self.fits(height) {
            false
        } else {
            self.new_page();
            true
        }
    }

    /// One line of text with its top at `top`, in a box from `x`, `width` wide.
    pub(crate) fn line(
        &mut self,
        x: f32,
        top: f32,
        width: f32,
        align: Align,
        style: Style,
        text: &str,
    ) {
        if text.is_empty() {
            return;
        }
        let x = match align {
            Align::Left => x,
            Align::Right => x + width - self.face(style).width(text, style.size),
        };
        // A baseline one size below the line's top centres DejaVu's capitals and digits
        // (0.73 em high) in a line of 1.28 em.
        self.push(Op::Text {
            x,
            y: top + style.size,
            size: style.size,
            bold: style.bold,
            ink: style.ink,
            text: text.to_owned(),
        });
    }

    /// `text` wrapped into a box `width` wide from (`x`, `top`); returns its height.
    pub(crate) fn paragraph(
        &mut self,
        x: f32,
        top: f32,
        width: f32,
        align: Align,
        style: Style,
        text: &str,
    ) -> f32 {
        let lines = self.face(style).wrap(text, style.size, width);
        for (i, l) in lines.iter().enumerate() {
            self.line(
                x,
                top + i as f32 * style.line_height(),
                width,
                align,
                style,
                l,
            );
        }
        lines.len() as f32 * style.line_height()
    }

    /// The height `text` takes wrapped to `width`.
    pub(crate) fn measure(&self, width: f32, style: Style, text: &str) -> f32 {
        self.face(style).wrap(text, style.size, width).len() as f32 * style.line_height()
    }

    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, ink: Ink) {
        self.push(Op::Rect { x, y, w, h, ink });
    }

    /// A horizontal rule across the content width at `y`.
    pub(crate) fn rule(&mut self, y: f32, thickness: f32, ink: Ink) {
        self.rect(MARGIN, y, CONTENT_WIDTH, thickness, ink);
    }

    pub(crate) fn qr(&mut self, x: f32, y: f32, side: f32) {
        self.push(Op::Qr { x, y, side });
    }

    /// Adds the footer (and the cancelled mark) to every page, now that their number is
    /// known, and returns the pages.
    pub(crate) fn finish(mut self, left: &str, cancelled: bool) -> Vec<Vec<Op>> {
        let total = self.pages.len();
        let small = Style::new(7.0).grey();
        for i in 0..total {
            let mut footer = Pager {
                fonts: self.fonts,
                pages: vec![Vec::new()],
                y: 0.0,
            };
            let y = PAGE_HEIGHT - 40.0;
            footer.rule(y - 4.0, 0.5, Ink::Rule);
            footer.line(MARGIN, y, CONTENT_WIDTH * 0.8, Align::Left, small, left);
            let page = format!("Page {} of {total}", i + 1);
            footer.line(MARGIN, y, CONTENT_WIDTH, Align::Right, small, &page);
            if cancelled {
                let mark = Style::new(9.0).bold().ink(Ink::Red);
                footer.line(MARGIN, 14.0, CONTENT_WIDTH, Align::Right, mark, "CANCELLED");
            }
            let ops = footer.pages.pop().unwrap_or_default();
            if let Some(page) = self.pages.get_mut(i) {
                page.extend(ops);
            }
        }
        self.pages
    }
}

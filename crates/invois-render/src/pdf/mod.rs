//! The copy as a PDF, written with krilla: laid out into pages first ([`layout`],
//! [`sections`]), then drawn. Text is real text in an embedded, subset font, so it can be
//! searched and copied; the QR code is a greyscale image drawn without smoothing.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::{BitsPerComponent, CustomImage, Image, ImageColorspace};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use crate::RenderError;
use crate::content::Content;
use crate::qr::QrGrid;

mod fonts;
mod layout;
mod sections;

use fonts::Fonts;
use layout::{Ink, Op, PAGE_HEIGHT, PAGE_WIDTH, Pager};

/// Pixels per QR module in the image. Enough that a viewer that smooths scaled images
/// still shows sharp modules; the image stays a few kilobytes.
const QR_SCALE: usize = 4;

/// Lays out and writes the PDF.
pub(crate) fn document(content: &Content, qr: &QrGrid) -> Result<Vec<u8>, RenderError> {
    let fonts = fonts::fonts()?;
    let mut pager = Pager::new(fonts);
    sections::all(&mut pager, content);
    let number = content
        .header
        .first()
        .map_or(String::new(), |f| f.value.clone());
    let footer = format!(
        "{} {number} \u{b7} Unique identifier no. {}",
        content.title, content.validation.uuid
    );
    let pages = pager.finish(&footer, content.cancelled);

    let mut pdf = Document::new_with(SerializeSettings {
        // No tag tree is written, so marking content for one would only add bytes.
        enable_tagging: false,
        ..SerializeSettings::default()
    });
    pdf.set_metadata(
        Metadata::new()
            .title(format!("{} {number}", content.title))
            .creator("invois".to_owned()),
    );
    let image = qr_image(qr)?;
    for ops in &pages {
        let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
            .ok_or_else(|| RenderError::Pdf("bad page size".to_owned()))?;
        let mut page = pdf.start_page_with(settings);
        let mut surface = page.surface();
        for op in ops {
            draw(&mut surface, fonts, &image, op);
        }
        surface.finish();
        page.finish();
    }
    pdf.finish().map_err(|e| RenderError::Pdf(format!("{e:?}")))
}

fn colour(ink: Ink) -> rgb::Color {
    match ink {
        Ink::Black => rgb::Color::new(26, 26, 26),
        Ink::Grey => rgb::Color::new(85, 85, 85),
        Ink::Rule => rgb::Color::new(190, 190, 190),
        Ink::Shade => rgb::Color::new(236, 236, 236),
        Ink::Red => rgb::Color::new(176, 0, 32),
    }
}

fn fill(surface: &mut Surface<'_>, ink: Ink) {
    surface.set_fill(Some(Fill {
        paint: colour(ink).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }));
}

fn draw(surface: &mut Surface<'_>, fonts: &Fonts, qr: &Image, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            bold,
            ink,
            text,
        } => {
            let face = if *bold { &fonts.bold } else { &fonts.regular };
            fill(surface, *ink);
            let glyphs = face.glyphs(text);
            surface.draw_glyphs(
                Point::from_xy(*x, *y),
                &glyphs,
                face.font(),
                text,
                *size,
                false,
            );
        }
        Op::Rect { x, y, w, h, ink } => {
            let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                return;
            };
            let mut path = PathBuilder::new();
            path.push_rect(rect);
            if let Some(path) = path.finish() {
                fill(surface, *ink);
                surface.draw_path(&path);
            }
        }
        Op::Qr { x, y, side } => {
            let Some(size) = Size::from_wh(*side, *side) else {
                return;
            };
            surface.push_transform(&Transform::from_translate(*x, *y));
            surface.draw_image(qr.clone(), size);
            surface.pop();
        }
    }
}

/// The QR code's bitmap as krilla takes a custom image: 8-bit grey, no alpha.
#[derive(Clone, Hash)]
struct QrBitmap {
    side: u32,
    pixels: Vec<u8>,
}

impl CustomImage for QrBitmap {
    fn color_channel(&self) -> &[u8] {
        &self.pixels
    }
    fn alpha_channel(&self) -> Option<&[u8]> {
        None
    }
    fn bits_per_component(&self) -> BitsPerComponent {
        BitsPerComponent::Eight
    }
    fn size(&self) -> (u32, u32) {
        (self.side, self.side)
    }
    fn icc_profile(&self) -> Option<&[u8]> {
        None
    }
    fn color_space(&self) -> ImageColorspace {
        ImageColorspace::Luma
    }
}

fn qr_image(qr: &QrGrid) -> Result<Image, RenderError> {
    let (side, pixels) = qr.bitmap(QR_SCALE);
    let bitmap = QrBitmap { side, pixels };
    // `interpolate: false`: modules must stay square, never blurred into each other.
    Image::from_custom(bitmap, false)
        .map_err(|e| RenderError::Pdf(format!("the QR code image: {e}")))
}

//! The PDF's one typeface, DejaVu Sans Condensed in two weights, compiled in (see
//! `fonts/LICENSE`): a copy must look the same on every machine, and the server that renders
//! it may have no fonts at all. Condensed, because ten columns of amounts share an A4 width.
//!
//! Text is measured and drawn from the same glyph advances (no kerning, no ligatures), so a
//! right-aligned amount ends exactly at its column's edge.

use std::sync::{Arc, OnceLock};

use krilla::text::{Font, GlyphId as KrillaGlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, GlyphId, MetadataProvider};

use crate::RenderError;

static REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSansCondensed.ttf");
static BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSansCondensed-Bold.ttf");

/// One weight: the bytes for measuring, the krilla font for drawing.
pub(crate) struct Face {
    data: &'static [u8],
    font: Font,
    units_per_em: f32,
}

/// Both weights.
pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

/// The fonts, read once per process: parsing and hashing a font costs more than laying out
/// a page.
pub(crate) fn fonts() -> Result<&'static Fonts, RenderError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: Face::new(REGULAR)?,
                bold: Face::new(BOLD)?,
            })
        })
        .as_ref()
        .ok_or_else(|| RenderError::Pdf("the embedded font could not be read".to_owned()))
}

impl Face {
    fn new(data: &'static [u8]) -> Option<Face> {
        let shared: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(data);
        let font = Font::new(shared.into(), 0)?;
        let metrics = FontRef::new(data)
            .ok()?
            .metrics(Size::unscaled(), LocationRef::default());
        Some(Face {
            data,
            font,
            units_per_em: f32::from(metrics.units_per_em),
        })
    }

    /// The krilla font, for drawing.
    pub(crate) fn font(&self) -> Font {
        self.font.clone()
    }

    /// Each character's glyph and advance (in ems). A character the font lacks becomes the
    /// font's "missing" glyph, still mapped to the character so that copied text is right.
    fn each(&self, text: &str, mut f: impl FnMut(usize, char, GlyphId, f32)) {
        let Ok(font) = FontRef::new(self.data) else {
            return;
        };
        let charmap = font.charmap();
        let metrics = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        for (i, c) in text.char_indices() {
            let glyph = charmap.map(c).unwrap_or(GlyphId::NOTDEF);
            let advance = metrics.advance_width(glyph).unwrap_or(0.0) / self.units_per_em;
            f(i, c, glyph, advance);
        }
    }

    /// The width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        let mut ems = 0.0;
        self.each(text, |_, _, _, advance| ems += advance);
        ems * size
    }

    /// The glyphs krilla draws for `text`, each tied to its characters (for copying and
    /// searching the PDF's text).
    pub(crate) fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        let mut out = Vec::with_capacity(text.len());
        self.each(text, |i, c, glyph, advance| {
            out.push(KrillaGlyph::new(
                KrillaGlyphId::new(glyph.to_u32()),
                advance,
                0.0,
                0.0,
                0.0,
                i..i + c.len_utf8(),
                None,
            ));
        });
        out
    }

    /// `text` broken into lines no wider than `width` at `size`: at spaces where it can,
    /// inside a word only when the word alone is too wide (a long e-mail address or link).
    pub(crate) fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                if self.width(word, size) <= width {
                    line = word.to_owned();
                } else {
                    let mut pieces = self.split_word(word, size, width);
                    line = pieces.pop().unwrap_or_default();
                    lines.extend(pieces);
                }
            }
            lines.push(line);
        }
        lines
    }

    /// A word too wide for one line, cut between characters.
    fn split_word(&self, word: &str, size: f32, width: f32) -> Vec<String> {
        let mut pieces = Vec::new();
        let mut piece = String::new();
        let mut used = 0.0;
        self.each(word, |_, c, _, advance| {
            let w = advance * size;
            if used + w > width && !piece.is_empty() {
                pieces.push(std::mem::take(&mut piece));
                used = 0.0;
            }
            piece.push(c);
            used += w;
        });
        pieces.push(piece);
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_within_the_width() {
        let face = &fonts().unwrap().regular;
        let text = "Installation service for the new laptops, on site in Petaling Jaya";
        let lines = face.wrap(text, 8.0, 80.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines.iter().all(|l| face.width(l, 8.0) <= 80.0),
            "{lines:?}"
        );
        assert_eq!(lines.join(" "), text);
        let link = "https://myinvois.hasil.gov.my/F9D425P6DS7D8IU8ENCQEA5AQ1/share/YQH73576FY9";
        let cut = face.wrap(link, 8.0, 100.0);
        assert_eq!(cut.concat(), link);
        assert!(cut.iter().all(|l| face.width(l, 8.0) <= 100.0), "{cut:?}");
    }

    #[test]
    fn bold_is_wider_than_regular() {
        let f = fonts().unwrap();
        assert!(f.bold.width("Total payable", 10.0) > f.regular.width("Total payable", 10.0));
        assert!(f.regular.width("", 10.0) == 0.0);
    }
}

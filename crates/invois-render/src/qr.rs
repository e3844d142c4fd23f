//! The QR code of the validation link: encoded once, then drawn as a bitmap in the PDF and as
//! an SVG path in the HTML, both from the same module grid.

use qrcode::{Color, EcLevel, QrCode};

use crate::RenderError;

/// The light border every QR reader needs, in modules (the standard asks for four).
pub const QUIET_ZONE: usize = 4;

/// A QR code's dark and light modules, quiet zone included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrGrid {
    /// Modules per side, quiet zone included.
    width: usize,
    /// Row-major, `true` for dark.
    dark: Vec<bool>,
}

impl QrGrid {
    /// Encodes `text`. Level M (15 % of the code may be damaged and it still reads) keeps a
    /// link of about a hundred characters at a size a phone reads from paper.
    pub fn encode(text: &str) -> Result<QrGrid, RenderError> {
        let code =
            QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| {
                RenderError::Qr {
                    chars: text.chars().count(),
                    reason: e.to_string(),
                }
            })?;
        let inner = code.width();
        let width = inner + 2 * QUIET_ZONE;
        let mut dark = vec![false; width * width];
        for (i, color) in code.to_colors().into_iter().enumerate() {
            let (x, y) = (i % inner + QUIET_ZONE, i / inner + QUIET_ZONE);
            dark[y * width + x] = color == Color::Dark;
        }
        Ok(QrGrid { width, dark })
    }

    /// Modules per side, quiet zone included.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module at column `x`, row `y` is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark.get(y * self.width + x).copied().unwrap_or(false)
    }

    /// An 8-bit greyscale bitmap, `scale` pixels per module: black on white. Several pixels a
    /// module keep the edges sharp even where a viewer smooths a scaled image.
    pub fn bitmap(&self, scale: usize) -> (u32, Vec<u8>) {
        let side = self.width * scale;
        let mut pixels = Vec::with_capacity(side * side);
        for py in 0..side {
            for px in 0..side {
                pixels.push(if self.is_dark(px / scale, py / scale) {
                    0
                } else {
                    255
                });
            }
        }
        (u32::try_from(side).unwrap_or(u32::MAX), pixels)
    }

    /// An SVG path of the dark modules in a `0 0 width width` view box, one rectangle per
    /// horizontal run.
    pub fn svg_path(&self) -> String {
        let mut d = String::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    d.push_str(&format!("M{start} {y}h{}v1h-{}z", x - start, x - start));
                } else {
                    x += 1;
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_encodes_with_its_quiet_zone() {
        let link =
            "https://myinvois.hasil.gov.my/F9D425P6DS7D8IU8ENCQEA5AQ1/share/YQH73576FY9VR57B";
        let grid = QrGrid::encode(link).unwrap();
        // Finder pattern: the top-left module inside the quiet zone is dark, the zone is light.
        assert!(grid.is_dark(QUIET_ZONE, QUIET_ZONE));
        assert!(!grid.is_dark(0, 0));
        let (side, pixels) = grid.bitmap(3);
        assert_eq!(side as usize, grid.width() * 3);
        assert_eq!(pixels.len(), (side * side) as usize);
        assert!(grid.svg_path().starts_with('M'));
    }

    #[test]
    fn text_too_long_for_any_qr_code_is_an_error() {
        let err = QrGrid::encode(&"x".repeat(5000)).unwrap_err();
        assert!(matches!(err, RenderError::Qr { chars: 5000, .. }), "{err}");
    }
}

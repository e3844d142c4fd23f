//! invois-render's integration tests: the PDF read back (its text with pdf-extract, its QR
//! image with lopdf, decoded with rqrr) and the HTML, for the project's fixtures and, when
//! switched on, LHDN's samples.
//!
//! One test binary for the crate (each file a module) so that a test run links once.

mod common;

mod html;
mod pdf;

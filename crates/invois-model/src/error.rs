//! Errors of reading a document or a code directory.

/// A document could not be read at all (as opposed to a readable document with findings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not UTF-8.
    #[error("the document is not valid UTF-8: {0}")]
    Utf8(String),
    /// The bytes look like neither JSON nor XML.
    #[error("the document is neither JSON (starts with `{{`) nor XML (starts with `<`)")]
    UnknownFormat,
    /// JSON syntax error.
    #[error("JSON syntax error: {0}")]
    Json(String),
    /// XML syntax error.
    #[error("XML error at byte {position}: {message}")]
    Xml {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What went wrong.
        message: String,
    },
    /// Well-formed, but not shaped like a MyInvois document (for example a JSON element that is
    /// not an array of objects).
    #[error("{path}: {message}")]
    Shape {
        /// JSON path of the offending member.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The root element is not `Invoice`.
    #[error("the root element is `{0}`, expected `Invoice`")]
    NotAnInvoice(String),
}

/// A code directory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodesError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not the expected code-table JSON (an array of objects with a `Code` key).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

//! The one document-format enum: MyInvois' `JSON`/`XML`, used by the model, the signer, the
//! client, the sandbox and the gateway alike.

use serde::{Deserialize, Serialize};

/// A document's format: UBL JSON (MyInvois' §6.2 mapping) or UBL 2.1 XML.
///
/// Serde writes MyInvois' spelling (`JSON`, `XML`); [`lowercase`] is the gateway API's and
/// the signature report's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Format {
    /// UBL JSON.
    #[serde(rename = "JSON")]
    Json,
    /// UBL XML.
    #[serde(rename = "XML")]
    Xml,
}

/// A format name that is neither `json` nor `xml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}` (expected json or xml)")]
pub struct UnknownFormat(pub String);

impl Format {
    /// Detects the format from the first non-blank byte after any BOM: `{` JSON, `<` XML.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace())? {
            b'{' => Some(Format::Json),
            b'<' => Some(Format::Xml),
            _ => None,
        }
    }

    /// MyInvois' name: `JSON` or `XML`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Xml => "XML",
        }
    }

    /// `json` or `xml`: the file extension, and the gateway's spelling (API and store).
    pub fn as_lowercase(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
        }
    }

    /// Parses exactly `json` or `xml` (the stored spelling).
    pub fn from_lowercase(text: &str) -> Option<Format> {
        match text {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    /// Any case of `json` or `xml`, as a user types it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::from_lowercase(&s.to_ascii_lowercase()).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Serde `with` module for the lowercase spelling (`json`, `xml`).
pub mod lowercase {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Format;

    /// Writes `json` or `xml`.
    pub fn serialize<S: Serializer>(format: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(format.as_lowercase())
    }

    /// Reads `json` or `xml`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Format::from_lowercase(&text)
            .ok_or_else(|| serde::de::Error::unknown_variant(&text, &["json", "xml"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(serde_json::to_string(&Format::Json).unwrap(), "\"JSON\"");
        assert_eq!(
            serde_json::from_str::<Format>("\"XML\"").unwrap(),
            Format::Xml
        );
        assert_eq!("Json".parse::<Format>().unwrap(), Format::Json);
        assert_eq!(
            "yaml".parse::<Format>().unwrap_err().to_string(),
            "unknown format `yaml` (expected json or xml)"
        );
        assert_eq!(Format::detect(b"\xEF\xBB\xBF  <a/>"), Some(Format::Xml));
        assert_eq!(Format::detect(b" x"), None);
    }
}

//! The MyInvois UBL JSON form (§6.2): `_D`/`_A`/`_B` namespace keys, every element an array of
//! objects, a leaf's value under `"_"`, attributes as sibling string keys.

use serde_json::{Map, Number, Value as J};

use crate::error::ParseError;
use crate::tree::{Element, Ns, Value, ValueKind};

/// The namespace keys written on a document that did not come from JSON.
pub(crate) fn default_header() -> Vec<(String, String)> {
    vec![
        ("_D".to_owned(), crate::tree::NS_INVOICE.to_owned()),
        ("_A".to_owned(), crate::tree::NS_CAC.to_owned()),
        ("_B".to_owned(), crate::tree::NS_CBC.to_owned()),
    ]
}

/// Reads a JSON document into its header keys and the `Invoice` root element.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Vec<(String, String)>, Element), ParseError> {
    let value: J = serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))?;
    let J::Object(top) = value else {
        return Err(shape("$", "the document must be a JSON object"));
    };
    let mut header = Vec::new();
    let mut root = None;
    for (key, v) in top {
        match v {
            J::String(s) if key.starts_with('_') => header.push((key, s)),
            J::Array(items) if root.is_none() => {
                let path = format!("$.{key}");
                let [item] = <[J; 1]>::try_from(items)
                    .map_err(|_| shape(&path, "the root element must be an array of one object"))?;
                let mut el = Element::new(Ns::Invoice, key);
                fill(&mut el, item, &format!("{path}[0]"))?;
                root = Some(el);
            }
            _ => return Err(shape(&format!("$.{key}"), "unexpected top-level member")),
        }
    }
    let root = root.ok_or_else(|| shape("$", "no root element (such as \"Invoice\")"))?;
    Ok((header, root))
}

/// The ASCII subset of XML NCNames: every UBL element and attribute name fits, and anything else
/// could not be written as XML.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn shape(path: &str, message: &str) -> ParseError {
    ParseError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn fill(el: &mut Element, item: J, path: &str) -> Result<(), ParseError> {
    let J::Object(map) = item else {
        return Err(shape(path, "each element must be an object"));
    };
    for (key, v) in map {
        if key == "_" {
            el.value = Some(match v {
                J::String(s) => Value::string(s),
                // `arbitrary_precision` keeps the digits exactly as written.
                J::Number(n) => Value::number(n.to_string()),
                J::Bool(b) => Value::boolean(b),
                _ => {
                    return Err(shape(
                        &format!("{path}._"),
                        "a value must be a string, number or boolean",
                    ));
                }
            });
            continue;
        }
        if !is_xml_name(&key) {
            return Err(shape(
                &format!("{path}.{key}"),
                "member names must be XML names (letters, digits, `_`, `-`, `.`; not starting with a digit)",
            ));
        }
        match v {
            J::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let mut child = Element::new(Ns::Cbc, key.clone());
                    fill(&mut child, item, &format!("{path}.{key}[{i}]"))?;
                    el.children.push(child);
                }
            }
            J::String(s) => el.attrs.push((key, s)),
            _ => {
                return Err(shape(
                    &format!("{path}.{key}"),
                    "a member must be an array (element) or a string (attribute)",
                ));
            }
        }
    }
    Ok(())
}

/// Writes a document minified, the way serde_json writes it (so a minified original and its
/// round-trip are byte-identical).
pub(crate) fn write(header: &[(String, String)], root: &Element) -> String {
    let mut top = Map::new();
    for (k, v) in header {
        top.insert(k.clone(), J::String(v.clone()));
    }
    top.insert(root.name.clone(), J::Array(vec![object(root)]));
    // Serialising a `Value` cannot fail (string keys only).
    serde_json::to_string(&J::Object(top)).unwrap_or_default()
}

fn object(el: &Element) -> J {
    let mut map = Map::new();
    if let Some(v) = &el.value {
        map.insert("_".to_owned(), value(v));
    }
    for (k, v) in &el.attrs {
        map.insert(k.clone(), J::String(v.clone()));
    }
    // Repeated names form one array at the place of their first occurrence.
    for child in &el.children {
        let entry = map
            .entry(child.name.clone())
            .or_insert_with(|| J::Array(Vec::new()));
        if let J::Array(items) = entry {
            items.push(object(child));
        }
    }
    J::Object(map)
}

fn value(v: &Value) -> J {
    match v.kind {
        ValueKind::String => J::String(v.text.clone()),
        ValueKind::Bool => J::Bool(v.text == "true"),
        // A text that is not a JSON number (possible after XML input) stays a string; structure
        // validation reports it.
        ValueKind::Number => v
            .text
            .parse::<Number>()
            .map(J::Number)
            .unwrap_or_else(|_| J::String(v.text.clone())),
    }
}

//! UBL XML: read into the element tree (namespaces resolved, prefixes and declarations kept),
//! write minified, and a canonical form for comparing two XML documents.

use quick_xml::Reader;
use quick_xml::escape::{escape, partial_escape};
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::error::ParseError;
use crate::schema::{self, K};
use crate::tree::{Element, Ns, Value, ValueKind};

/// Deepest element nesting accepted.
pub(crate) const MAX_DEPTH: usize = 100;

/// What the XML reader keeps besides the root element.
pub(crate) struct Parsed {
    pub(crate) decl: Option<String>,
    pub(crate) root: Element,
}

struct Open {
    el: Element,
    text: String,
    scope_len: usize,
    type_name: Option<&'static str>,
}

fn err(reader_pos: u64, message: impl Into<String>) -> ParseError {
    ParseError::Xml {
        position: reader_pos,
        message: message.into(),
    }
}

/// Reads an XML document. DTDs are refused (no entity expansion from untrusted input).
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::Utf8(e.to_string()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut scope: Vec<(String, String)> = vec![(
        "xml".to_owned(),
        "http://www.w3.org/XML/1998/namespace".to_owned(),
    )];
    let mut stack: Vec<Open> = Vec::new();
    let mut decl = None;
    let mut root = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| err(pos, e.to_string()))?;
        match event {
            Event::Decl(d) => decl = Some(format!("<?{}?>", &*d)),
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(err(pos, "content after the root element"));
            }
            Event::Start(start) => {
                // The tree is processed recursively later; bound the depth so hostile input
                // cannot exhaust the stack (UBL documents nest about 15 levels).
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        pos,
                        format!("elements nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let open = open_element(&start, &mut scope, stack.last(), pos)?;
                stack.push(open);
            }
            Event::Empty(start) => {
                let open = open_element(&start, &mut scope, stack.last(), pos)?;
                close(open, &mut stack, &mut scope, &mut root, pos)?;
            }
            Event::End(_) => {
                let open = stack.pop().ok_or_else(|| err(pos, "unbalanced end tag"))?;
                close(open, &mut stack, &mut scope, &mut root, pos)?;
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content(), pos)?,
            Event::CData(t) => push_text(&mut stack, &t.into_inner(), pos)?,
            Event::GeneralRef(r) => push_text(&mut stack, &resolve_ref(&r, pos)?, pos)?,
            Event::DocType(_) => return Err(err(pos, "a DOCTYPE is not allowed")),
            // Comments and processing instructions carry no document data.
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err(reader.buffer_position(), "unexpected end of document"));
    }
    let root = root.ok_or_else(|| err(0, "no root element"))?;
    Ok(Parsed { decl, root })
}

fn resolve_ref(r: &BytesRef<'_>, pos: u64) -> Result<String, ParseError> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| err(pos, e.to_string()))? {
        return Ok(c.to_string());
    }
    let name = r.xml10_content();
    Ok(match name.as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => return Err(err(pos, format!("unknown entity &{other};"))),
    }
    .to_owned())
}

fn push_text(stack: &mut [Open], text: &str, pos: u64) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(err(pos, "text outside the root element")),
    }
}

fn open_element(
    start: &BytesStart<'_>,
    scope: &mut Vec<(String, String)>,
    parent: Option<&Open>,
    pos: u64,
) -> Result<Open, ParseError> {
    let scope_len = scope.len();
    let qname = start.name().as_ref().to_owned();
    let mut el = Element::new(Ns::Invoice, String::new());
    for attr in start.attributes() {
        let attr = attr.map_err(|e| err(pos, e.to_string()))?;
        let key = attr.key.as_ref().to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| err(pos, e.to_string()))?
            .into_owned();
        if key == "xmlns" {
            scope.push((String::new(), value.clone()));
            el.ns_decls.push((String::new(), value));
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            scope.push((p.to_owned(), value.clone()));
            el.ns_decls.push((p.to_owned(), value));
        } else {
            el.attrs.push((key, value));
        }
    }
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (p.to_owned(), l.to_owned()),
        None => (String::new(), qname.clone()),
    };
    let uri = scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| u.clone())
        .or_else(|| prefix.is_empty().then(String::new))
        .ok_or_else(|| {
            err(
                pos,
                format!("undeclared namespace prefix `{prefix}` on <{qname}>"),
            )
        })?;
    el.ns = Ns::from_uri(&uri);
    el.prefix = Some(prefix);
    el.name = local;
    let type_name = match parent {
        None => Some("Invoice"),
        Some(p) => p.type_name.and_then(|t| schema::child_type(t, &el.name)),
    };
    Ok(Open {
        el,
        text: String::new(),
        scope_len,
        type_name,
    })
}

fn close(
    open: Open,
    stack: &mut [Open],
    scope: &mut Vec<(String, String)>,
    root: &mut Option<Element>,
    pos: u64,
) -> Result<(), ParseError> {
    let Open {
        mut el,
        text,
        scope_len,
        type_name,
    } = open;
    scope.truncate(scope_len);
    let parent_type = stack.last().and_then(|p| p.type_name);
    if el.children.is_empty() {
        // A modelled aggregate holds no value even when written `<cac:X/>`.
        if !(type_name.is_some() && text.trim().is_empty()) {
            let kind = match schema::leaf_kind(parent_type, &el.name) {
                Some(k) if k.is_numeric() && is_json_number(&text) => ValueKind::Number,
                Some(K::Indicator) if text == "true" || text == "false" => ValueKind::Bool,
                _ => ValueKind::String,
            };
            el.value = Some(Value { text, kind });
        }
    } else if !text.trim().is_empty() {
        return Err(err(pos, format!("<{}> mixes text and elements", el.name)));
    }
    match stack.last_mut() {
        Some(parent) => parent.el.children.push(el),
        None => *root = Some(el),
    }
    Ok(())
}

/// The JSON number grammar (RFC 8259).
pub(crate) fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Writes the element tree as minified XML. Elements read from XML keep their prefix and
/// declarations; others get the standard prefix, declared where not already in scope.
pub(crate) fn write(decl: Option<&str>, root: &Element) -> String {
    let mut out = String::with_capacity(16 * 1024);
    if let Some(d) = decl {
        out.push_str(d);
    }
    let mut scope: Vec<(String, String)> = Vec::new();
    write_el(&mut out, root, &mut scope);
    out
}

fn write_el(out: &mut String, el: &Element, scope: &mut Vec<(String, String)>) {
    let scope_len = scope.len();
    let prefix = el
        .prefix
        .clone()
        .unwrap_or_else(|| el.ns.standard_prefix().to_owned());
    let mut decls = el.ns_decls.clone();
    scope.extend(decls.iter().cloned());
    let in_scope = scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| u.as_str());
    if in_scope != Some(el.ns.uri())
        && !(in_scope.is_none() && prefix.is_empty() && el.ns.uri().is_empty())
    {
        decls.push((prefix.clone(), el.ns.uri().to_owned()));
        scope.push((prefix.clone(), el.ns.uri().to_owned()));
    }
    out.push('<');
    let qname = if prefix.is_empty() {
        el.name.clone()
    } else {
        format!("{prefix}:{}", el.name)
    };
    out.push_str(&qname);
    for (p, uri) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        out.push_str(&escape(uri.as_str()));
        out.push('"');
    }
    for (k, v) in &el.attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        out.push_str(&escape(v.as_str()));
        out.push('"');
    }
    let text = el.value.as_ref().map(|v| v.text.as_str()).unwrap_or("");
    if el.children.is_empty() && text.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        out.push_str(&partial_escape(text));
        for child in &el.children {
            write_el(out, child, scope);
        }
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
    }
    scope.truncate(scope_len);
}

/// A canonical text form of an XML document for comparing two documents: every element as
/// `{namespace-uri}local-name`, attributes (namespace declarations excluded) sorted by name,
/// character data with entities resolved, whitespace-only text between elements removed,
/// empty elements written as start+end, comments, processing instructions and the XML
/// declaration removed. Prefixes and where namespaces are declared do not matter.
/// This is a comparison form, not W3C C14N.
pub fn canonicalize(bytes: &[u8]) -> Result<String, ParseError> {
    use quick_xml::NsReader;
    use quick_xml::name::ResolveResult;
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::Utf8(e.to_string()))?;
    let mut reader = NsReader::from_str(text);
    let mut out = String::new();
    let mut names: Vec<String> = Vec::new();
    let mut pending = String::new();
    let flush = |out: &mut String, pending: &mut String| {
        if !pending.trim().is_empty() {
            out.push_str(&partial_escape(pending.as_str()));
        }
        pending.clear();
    };
    loop {
        let pos = reader.buffer_position();
        let (res, event) = reader
            .read_resolved_event()
            .map_err(|e| err(pos, e.to_string()))?;
        let name = |res: &ResolveResult<'_>, local: &str| {
            let uri = match res {
                ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
                _ => String::new(),
            };
            format!("{{{uri}}}{local}")
        };
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                flush(&mut out, &mut pending);
                let n = name(&res, s.local_name().as_ref());
                let mut attrs = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| err(pos, e.to_string()))?;
                    let k = a.key.as_ref().to_owned();
                    if k == "xmlns" || k.starts_with("xmlns:") {
                        continue;
                    }
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| err(pos, e.to_string()))?
                        .into_owned();
                    attrs.push((k, v));
                }
                attrs.sort();
                out.push('<');
                out.push_str(&n);
                for (k, v) in attrs {
                    out.push_str(&format!(" {k}=\"{}\"", escape(v.as_str())));
                }
                out.push('>');
                if matches!(event, Event::Empty(_)) {
                    out.push_str(&format!("</{n}>"));
                } else {
                    names.push(n);
                }
            }
            Event::End(_) => {
                flush(&mut out, &mut pending);
                if let Some(n) = names.pop() {
                    out.push_str(&format!("</{n}>"));
                }
            }
            Event::Text(t) => pending.push_str(&t.xml10_content()),
            Event::CData(t) => pending.push_str(&t.into_inner()),
            Event::GeneralRef(r) => pending.push_str(&resolve_ref(&r, pos)?),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

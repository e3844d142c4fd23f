//! A minimal XML tree and the two canonicalisations MyInvois signatures need.
//!
//! Why our own: the document digest of an XML document is the SHA-256 of the inclusive C14N of
//! the document with `UBLExtensions` and `cac:Signature` removed and with every whitespace-only
//! text node dropped (§9.3 [VER]: the validator evidently normalises inter-element whitespace).
//! No maintained pure-Rust crate does C14N with that pre-processing, and the subset needed here
//! is small: no DTD entities, no comments in the output, namespaces and attributes sorted.
//!
//! The tree keeps what canonicalisation and re-serialisation need: qualified names as written,
//! namespace declarations as written, resolved namespace URIs, attribute values after XML
//! attribute-value normalisation, and text after end-of-line normalisation and entity expansion.

use std::collections::BTreeMap;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// Maximum element depth accepted: documents are shallow (UBL is ~15 levels); a cap keeps a
/// hostile document from exhausting the stack in the recursive walkers below.
const MAX_DEPTH: usize = 256;

/// A namespace declaration as written: `None` prefix is the default namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NsDecl {
    pub(crate) prefix: Option<String>,
    pub(crate) uri: String,
}

/// An attribute (namespace declarations are kept apart in [`NsDecl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) prefix: Option<String>,
    pub(crate) local: String,
    /// Namespace URI of a prefixed attribute; unprefixed attributes have none.
    pub(crate) ns: Option<String>,
    pub(crate) value: String,
}

impl Attr {
    fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

/// One node of the tree. Comments are not kept: C14N without comments drops them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
    /// Processing instruction, target and data as written (`<?target data?>`).
    Pi(String),
}

/// An element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) prefix: Option<String>,
    pub(crate) local: String,
    /// Resolved namespace URI (`None` when in no namespace).
    pub(crate) ns: Option<String>,
    pub(crate) ns_decls: Vec<NsDecl>,
    pub(crate) attrs: Vec<Attr>,
    pub(crate) children: Vec<Node>,
}

impl Element {
    pub(crate) fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }

    /// True when this element has the given namespace and local name.
    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    pub(crate) fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// First child element with this local name (namespace not checked: UBL local names
    /// are unique among siblings, and callers check the namespace where it matters).
    pub(crate) fn child(&self, local: &str) -> Option<&Element> {
        self.child_elements().find(|e| e.local == local)
    }

    /// Follow a path of local names through first children.
    pub(crate) fn path(&self, locals: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for l in locals {
            cur = cur.child(l)?;
        }
        Some(cur)
    }

    pub(crate) fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.prefix.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Concatenated text content of the direct text children.
    pub(crate) fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Depth-first search for all descendants (and self) matching the predicate.
    pub(crate) fn find_all<'a>(
        &'a self,
        pred: &dyn Fn(&Element) -> bool,
        out: &mut Vec<&'a Element>,
    ) {
        if pred(self) {
            out.push(self);
        }
        for c in self.child_elements() {
            c.find_all(pred, out);
        }
    }
}

/// A parsed document: the root element plus processing instructions around it are dropped
/// (MyInvois documents have none; C14N would print them with line breaks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) root: Element,
}

/// Why a document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError(pub(crate) String);

type Scope = Vec<BTreeMap<Option<String>, String>>;

fn lookup(scope: &Scope, prefix: Option<&str>) -> Option<String> {
    let key = prefix.map(str::to_owned);
    for frame in scope.iter().rev() {
        if let Some(uri) = frame.get(&key) {
            return if uri.is_empty() {
                None
            } else {
                Some(uri.clone())
            };
        }
    }
    match prefix {
        Some("xml") => Some("http://www.w3.org/XML/1998/namespace".to_owned()),
        _ => None,
    }
}

fn split_qname(q: &str) -> (Option<String>, String) {
    match q.split_once(':') {
        Some((p, l)) => (Some(p.to_owned()), l.to_owned()),
        None => (None, q.to_owned()),
    }
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "lt" => Some("<"),
        "gt" => Some(">"),
        "amp" => Some("&"),
        "apos" => Some("'"),
        "quot" => Some("\""),
        _ => None,
    }
}

fn start_element(e: &BytesStart<'_>, scope: &mut Scope) -> Result<Element, ParseError> {
    let name = e.name();
    let qname: &str = name.as_ref();
    let qname = qname.to_owned();
    let mut ns_decls = Vec::new();
    let mut raw_attrs = Vec::new();
    let mut frame = BTreeMap::new();
    for a in e.attributes() {
        let a = a.map_err(|err| ParseError(format!("bad attribute in <{qname}>: {err}")))?;
        let key: &str = a.key.as_ref();
        let key = key.to_owned();
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| ParseError(format!("bad value of attribute {key} in <{qname}>: {err}")))?
            .into_owned();
        if key == "xmlns" {
            frame.insert(None, value.clone());
            ns_decls.push(NsDecl {
                prefix: None,
                uri: value,
            });
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            frame.insert(Some(p.to_owned()), value.clone());
            ns_decls.push(NsDecl {
                prefix: Some(p.to_owned()),
                uri: value,
            });
        } else {
            raw_attrs.push((key, value));
        }
    }
    scope.push(frame);
    let (prefix, local) = split_qname(&qname);
    let ns = lookup(scope, prefix.as_deref());
    if prefix.is_some() && ns.is_none() {
        return Err(ParseError(format!(
            "undeclared namespace prefix in <{qname}>"
        )));
    }
    let mut attrs = Vec::with_capacity(raw_attrs.len());
    for (key, value) in raw_attrs {
        let (prefix, local) = split_qname(&key);
        let ns = match &prefix {
            Some(p) => Some(lookup(scope, Some(p)).ok_or_else(|| {
                ParseError(format!(
                    "undeclared namespace prefix in attribute {key} of <{qname}>"
                ))
            })?),
            None => None,
        };
        attrs.push(Attr {
            prefix,
            local,
            ns,
            value,
        });
    }
    Ok(Element {
        prefix,
        local,
        ns,
        ns_decls,
        attrs,
        children: Vec::new(),
    })
}

/// Parse a document. DTDs with custom entities are not supported (MyInvois documents never
/// use them, and expanding them is a known denial-of-service vector).
pub(crate) fn parse(bytes: &[u8]) -> Result<Document, ParseError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ParseError("document is not UTF-8".to_owned()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut scope: Scope = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;

    fn push_text(stack: &mut [Element], s: &str) {
        if let Some(top) = stack.last_mut() {
            if let Some(Node::Text(t)) = top.children.last_mut() {
                t.push_str(s);
            } else {
                top.children.push(Node::Text(s.to_owned()));
            }
        }
        // Text outside the root element is whitespace (anything else is rejected by the
        // reader as malformed) and is not part of the canonical form.
    }

    loop {
        let ev = reader.read_event().map_err(|err| {
            ParseError(format!(
                "XML syntax error at byte {}: {err}",
                reader.error_position()
            ))
        })?;
        match ev {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(ParseError("content after the root element".to_owned()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError("elements nested too deeply".to_owned()));
                }
                let el = start_element(&e, &mut scope)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                if root.is_some() {
                    return Err(ParseError("content after the root element".to_owned()));
                }
                let el = start_element(&e, &mut scope)?;
                scope.pop();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                scope.pop();
                let el = stack
                    .pop()
                    .ok_or_else(|| ParseError("unbalanced end tag".to_owned()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                if stack.is_empty() && !s.trim().is_empty() {
                    return Err(ParseError("text outside the root element".to_owned()));
                }
                push_text(&mut stack, &s);
            }
            Event::CData(c) => {
                let raw: &str = c.as_ref();
                let s = raw.replace("\r\n", "\n").replace('\r', "\n");
                push_text(&mut stack, &s);
            }
            Event::GeneralRef(r) => {
                let s: String = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            return Err(ParseError(format!(
                                "invalid character reference &{};",
                                &*r
                            )));
                        }
                    }
                } else {
                    predefined_entity(&r)
                        .ok_or_else(|| ParseError(format!("undefined entity &{};", &*r)))?
                        .to_owned()
                };
                push_text(&mut stack, &s);
            }
            Event::PI(p) => {
                let raw: &str = p.as_ref();
                let s = raw.to_owned();
                if let Some(top) = stack.last_mut() {
                    top.children.push(Node::Pi(s));
                }
            }
            Event::DocType(_) => {
                return Err(ParseError(
                    "DOCTYPE declarations are not accepted".to_owned(),
                ));
            }
            Event::Comment(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ParseError(
            "unexpected end of document: unclosed elements".to_owned(),
        ));
    }
    let root = root.ok_or_else(|| ParseError("no root element".to_owned()))?;
    Ok(Document { root })
}

/// Drop every whitespace-only text node (the "minify" step MyInvois applies before hashing).
pub(crate) fn strip_whitespace(el: &mut Element) {
    el.children.retain(|n| match n {
        Node::Text(t) => !t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')),
        _ => true,
    });
    for n in &mut el.children {
        if let Node::Element(e) = n {
            strip_whitespace(e);
        }
    }
}

/// Remove every descendant element matching the predicate (the enveloped-signature transform).
pub(crate) fn remove_elements(el: &mut Element, pred: &dyn Fn(&Element) -> bool) {
    el.children.retain(|n| match n {
        Node::Element(e) => !pred(e),
        _ => true,
    });
    for n in &mut el.children {
        if let Node::Element(e) = n {
            remove_elements(e, pred);
        }
    }
}

fn escape_text(s: &str, out: &mut String) {
    crate::xmlscan::escaped(s, crate::xmlscan::text_escape, |p| out.push_str(p));
}

fn escape_attr(s: &str, out: &mut String) {
    crate::xmlscan::escaped(s, crate::xmlscan::attr_escape, |p| out.push_str(p));
}

/// Rendered namespace context: prefix (None = default) -> URI as output by an ancestor.
type Rendered = BTreeMap<Option<String>, String>;

/// How a start tag and an empty element are written. C14N fixes all three choices; the
/// non-canonical PropsDigest forms signers use (see `xml::props_forms`) differ from exclusive
/// C14N in them only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Namespace declarations after the attributes, as a serialiser that adds them when it
    /// writes the tag does; C14N puts them first.
    pub(crate) declarations_last: bool,
    /// Attributes in document order; C14N sorts them.
    pub(crate) attributes_as_written: bool,
    /// An element without children written `<a x="1" />`; C14N writes `<a x="1"></a>`.
    pub(crate) empty_self_closing: bool,
}

impl Layout {
    /// Canonical XML's own.
    pub(crate) const C14N: Layout = Layout {
        declarations_last: false,
        attributes_as_written: false,
        empty_self_closing: false,
    };
}

fn write_ns_and_attrs(
    el: &Element,
    decls: &[(Option<String>, String)],
    layout: Layout,
    out: &mut String,
) {
    // Namespace nodes: default namespace first, then by prefix (C14N §2.2).
    let mut decls = decls.to_vec();
    decls.sort_by(|a, b| a.0.cmp(&b.0));
    let write_decls = |out: &mut String| {
        for (p, uri) in &decls {
            match p {
                None => out.push_str(" xmlns=\""),
                Some(p) => {
                    out.push_str(" xmlns:");
                    out.push_str(p);
                    out.push_str("=\"");
                }
            }
            escape_attr(uri, out);
            out.push('"');
        }
    };
    if !layout.declarations_last {
        write_decls(out);
    }
    // Attributes by (namespace URI, local name); unqualified ones have the empty URI, so first.
    let mut attrs: Vec<&Attr> = el.attrs.iter().collect();
    if !layout.attributes_as_written {
        attrs.sort_by(|a, b| {
            (a.ns.as_deref().unwrap_or(""), a.local.as_str())
                .cmp(&(b.ns.as_deref().unwrap_or(""), b.local.as_str()))
        });
    }
    for a in attrs {
        out.push(' ');
        out.push_str(&a.qname());
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    if layout.declarations_last {
        write_decls(out);
    }
}

/// Inclusive C14N 1.0 (without comments) of `el` and its subtree, where `in_scope` are the
/// namespace bindings in scope at `el` and `rendered` those already output by ancestors.
fn c14n_inclusive(el: &Element, in_scope: &Rendered, rendered: &Rendered, out: &mut String) {
    let mut scope = in_scope.clone();
    for d in &el.ns_decls {
        scope.insert(d.prefix.clone(), d.uri.clone());
    }
    let mut decls = Vec::new();
    for (p, uri) in &scope {
        let already = rendered.get(p);
        if p.is_none() && uri.is_empty() {
            // xmlns="" is output only to undo a non-empty default from an output ancestor.
            if already.is_some_and(|u| !u.is_empty()) {
                decls.push((None, String::new()));
            }
            continue;
        }
        if already != Some(uri) {
            decls.push((p.clone(), uri.clone()));
        }
    }
    let mut now_rendered = rendered.clone();
    for (p, u) in &decls {
        now_rendered.insert(p.clone(), u.clone());
    }
    let q = el.qname();
    out.push('<');
    out.push_str(&q);
    write_ns_and_attrs(el, &decls, Layout::C14N, out);
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(c) => c14n_inclusive(c, &scope, &now_rendered, out),
            Node::Text(t) => escape_text(t, out),
            Node::Pi(p) => {
                out.push_str("<?");
                out.push_str(p);
                out.push_str("?>");
            }
        }
    }
    out.push_str("</");
    out.push_str(&q);
    out.push('>');
}

/// Inclusive C14N of a whole document (the root has no namespace context).
pub(crate) fn c14n_document(root: &Element) -> String {
    let mut out = String::new();
    c14n_inclusive(root, &Rendered::new(), &Rendered::new(), &mut out);
    out
}

/// Inclusive C14N of a subtree given the namespace bindings in scope at its parent.
pub(crate) fn c14n_subtree(el: &Element, in_scope: &Rendered) -> String {
    let mut out = String::new();
    c14n_inclusive(el, in_scope, &Rendered::new(), &mut out);
    out
}

/// Exclusive C14N (no InclusiveNamespaces prefix list) of a subtree: each element declares
/// only the prefixes it visibly uses that no output ancestor declared with the same URI.
pub(crate) fn exc_c14n_subtree(el: &Element, in_scope: &Rendered) -> String {
    visibly_used_subtree(el, in_scope, Layout::C14N)
}

/// A subtree with exclusive C14N's namespace declarations (each element declares the prefixes
/// it visibly uses that no output ancestor declared), written with `layout`.
pub(crate) fn visibly_used_subtree(el: &Element, in_scope: &Rendered, layout: Layout) -> String {
    fn walk(
        el: &Element,
        in_scope: &Rendered,
        rendered: &Rendered,
        layout: Layout,
        out: &mut String,
    ) {
        let mut scope = in_scope.clone();
        for d in &el.ns_decls {
            scope.insert(d.prefix.clone(), d.uri.clone());
        }
        let mut used: Vec<Option<String>> = vec![el.prefix.clone()];
        for a in &el.attrs {
            if a.prefix.is_some() && a.prefix.as_deref() != Some("xml") {
                used.push(a.prefix.clone());
            }
        }
        let mut decls = Vec::new();
        for p in used {
            let uri = scope.get(&p).cloned().unwrap_or_default();
            if p.is_none() && uri.is_empty() && rendered.get(&None).is_none_or(|u| u.is_empty()) {
                continue;
            }
            if rendered.get(&p) != Some(&uri) && !decls.iter().any(|(q, _)| q == &p) {
                decls.push((p, uri));
            }
        }
        let mut now_rendered = rendered.clone();
        for (p, u) in &decls {
            now_rendered.insert(p.clone(), u.clone());
        }
        let q = el.qname();
        out.push('<');
        out.push_str(&q);
        write_ns_and_attrs(el, &decls, layout, out);
        if layout.empty_self_closing && el.children.is_empty() {
            out.push_str(" />");
            return;
        }
        out.push('>');
        for n in &el.children {
            match n {
                Node::Element(c) => walk(c, &scope, &now_rendered, layout, out),
                Node::Text(t) => escape_text(t, out),
                Node::Pi(p) => {
                    out.push_str("<?");
                    out.push_str(p);
                    out.push_str("?>");
                }
            }
        }
        out.push_str("</");
        out.push_str(&q);
        out.push('>');
    }
    let mut out = String::new();
    walk(el, in_scope, &Rendered::new(), layout, &mut out);
    out
}

/// The namespace bindings in scope at (not including) the element reached by `chain`, a list
/// of ancestors from the root down to the parent.
pub(crate) fn scope_of(chain: &[&Element]) -> Rendered {
    let mut s = Rendered::new();
    for e in chain {
        for d in &e.ns_decls {
            s.insert(d.prefix.clone(), d.uri.clone());
        }
    }
    s
}

/// Serialise the tree as written (original qualified names, declarations and attribute order),
/// without an XML declaration and without added whitespace: the minified output form.
pub(crate) fn serialize(el: &Element, out: &mut String) {
    let q = el.qname();
    out.push('<');
    out.push_str(&q);
    for d in &el.ns_decls {
        match &d.prefix {
            None => out.push_str(" xmlns=\""),
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
                out.push_str("=\"");
            }
        }
        escape_attr(&d.uri, out);
        out.push('"');
    }
    for a in &el.attrs {
        out.push(' ');
        out.push_str(&a.qname());
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(c) => serialize(c, out),
            Node::Text(t) => escape_text(t, out),
            Node::Pi(p) => {
                out.push_str("<?");
                out.push_str(p);
                out.push_str("?>");
            }
        }
    }
    out.push_str("</");
    out.push_str(&q);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c14n_sorts_attributes_expands_empty_and_escapes() {
        let doc = parse(br#"<?xml version="1.0"?><a xmlns:z="urn:z" xmlns="urn:d" b="2" a="1&amp;&lt;"><z:c/>x &gt; y</a>"#)
            .unwrap();
        assert_eq!(
            c14n_document(&doc.root),
            r#"<a xmlns="urn:d" xmlns:z="urn:z" a="1&amp;&lt;" b="2"><z:c></z:c>x &gt; y</a>"#
        );
    }

    #[test]
    fn c14n_drops_redundant_declarations_and_whitespace_nodes() {
        let mut doc = parse(
            b"<a xmlns:p=\"urn:p\">\n  <p:b xmlns:p=\"urn:p\">\n</p:b>\n  <c> t </c>\n</a>\n",
        )
        .unwrap();
        strip_whitespace(&mut doc.root);
        assert_eq!(
            c14n_document(&doc.root),
            "<a xmlns:p=\"urn:p\"><p:b></p:b><c> t </c></a>"
        );
    }

    #[test]
    fn exclusive_c14n_declares_visibly_used_prefixes_only() {
        let doc = parse(
            br#"<r xmlns:x="urn:x" xmlns:d="urn:d"><x:s Id="1"><d:v>1</d:v><d:w/></x:s></r>"#,
        )
        .unwrap();
        let s = doc.root.child("s").unwrap();
        let scope = scope_of(&[&doc.root]);
        assert_eq!(
            exc_c14n_subtree(s, &scope),
            r#"<x:s xmlns:x="urn:x" Id="1"><d:v xmlns:d="urn:d">1</d:v><d:w xmlns:d="urn:d"></d:w></x:s>"#
        );
        assert_eq!(
            c14n_subtree(s, &scope),
            r#"<x:s xmlns:d="urn:d" xmlns:x="urn:x" Id="1"><d:v>1</d:v><d:w></d:w></x:s>"#
        );
    }

    #[test]
    fn layouts_move_declarations_keep_attribute_order_and_close_empty_elements() {
        let doc =
            parse(br#"<r xmlns:x="urn:x" xmlns:d="urn:d"><x:s b="2" a="1"><d:w z="1"/></x:s></r>"#)
                .unwrap();
        let s = doc.root.child("s").unwrap();
        let scope = scope_of(&[&doc.root]);
        let written = |declarations_last, attributes_as_written, empty_self_closing| {
            visibly_used_subtree(
                s,
                &scope,
                Layout {
                    declarations_last,
                    attributes_as_written,
                    empty_self_closing,
                },
            )
        };
        assert_eq!(
            written(false, false, false),
            r#"<x:s xmlns:x="urn:x" a="1" b="2"><d:w xmlns:d="urn:d" z="1"></d:w></x:s>"#
        );
        assert_eq!(
            written(true, true, false),
            r#"<x:s b="2" a="1" xmlns:x="urn:x"><d:w z="1" xmlns:d="urn:d"></d:w></x:s>"#
        );
        assert_eq!(
            written(true, true, true),
            r#"<x:s b="2" a="1" xmlns:x="urn:x"><d:w z="1" xmlns:d="urn:d" /></x:s>"#
        );
    }

    #[test]
    fn rejects_doctype_and_undefined_entities() {
        assert!(parse(b"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>").is_err());
        assert!(parse(b"<a>&e;</a>").is_err());
        assert!(parse(b"<a><b></a>").is_err());
    }
}

//! The MyInvois UBL JSON form (§6.2): `_D`/`_A`/`_B` namespace keys, every element an array of
//! objects, a leaf's value under `"_"`, attributes as sibling string keys.
//!
//! Reading streams the bytes through serde visitors straight into the element tree (no
//! `serde_json::Value` in between), so the reader sees every member of every object, including
//! a key written twice. `serde_json::Value` keeps only the last of two equal keys; other JSON
//! readers keep the first, or reject the document, so a repeated key means different things to
//! different readers. The reader records each repeat ([`DuplicateKey`]) and validation reports
//! it (`S008`); the tree keeps the elements of both occurrences (in document order) and the
//! first occurrence of an attribute or a value.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Number, Value as J};

use crate::error::ParseError;
use crate::tree::{Element, Ns, Value, ValueKind, all_distinct};

/// The key serde_json's `arbitrary_precision` feature (on in this workspace) uses to pass a
/// number to `visit_map` as a one-member map. Matching it tells a number written where an
/// object belongs from an object, so the error says "must be an object"; were serde_json to
/// rename it, such a number would be refused with a less precise message, never accepted.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The namespace keys written on a document that did not come from JSON.
pub(crate) fn default_header() -> Vec<(String, String)> {
    vec![
        ("_D".to_owned(), crate::tree::NS_INVOICE.to_owned()),
        ("_A".to_owned(), crate::tree::NS_CAC.to_owned()),
        ("_B".to_owned(), crate::tree::NS_CBC.to_owned()),
    ]
}

/// A member key written more than once in one JSON object: the second (or later) occurrence,
/// and the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    /// The object holding the key: `None` for the top-level object, else the element steps
    /// from the root (`(name, index among the children of that name)`; empty for the root).
    pub(crate) object: Option<Vec<(String, usize)>>,
    /// The key.
    pub(crate) key: String,
    /// Which occurrence `again` is: 2 for the second, 3 for the third...
    pub(crate) times: usize,
    /// The first occurrence.
    pub(crate) first: Occurrence,
    /// This occurrence.
    pub(crate) again: Occurrence,
}

/// One occurrence of a member: its position among the object's members and what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Occurrence {
    /// 1-based position among the members of its object.
    pub(crate) member: usize,
    /// What the member held.
    pub(crate) held: Held,
}

/// What a member held, as the tree keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Elements: `count` children of the key's name, from index `start` among them.
    Elements {
        /// Index of the first of them among the children of that name.
        start: usize,
        /// How many.
        count: usize,
    },
    /// An attribute (a string member).
    Attribute,
    /// The element's value (`"_"`).
    Value,
    /// A top-level namespace key (`_D`, `_A`, ...).
    Header,
    /// The root element (`Invoice`).
    Root,
}

/// A document read from JSON.
pub(crate) struct Parsed {
    /// The top-level namespace keys, in order.
    pub(crate) header: Vec<(String, String)>,
    /// The root element.
    pub(crate) root: Element,
    /// Keys written more than once in one object, in document order.
    pub(crate) duplicates: Vec<DuplicateKey>,
}

/// Reads a JSON document into its header keys, the `Invoice` root element and the repeated
/// keys.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let mut reader = Reader::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let top = de
        .deserialize_any(TopVisitor { r: &mut reader })
        .and_then(|top| de.end().map(|()| top));
    let (header, root) = match top {
        Ok(top) => top,
        // A shape error aborts reading through a serde error; report the shape error itself.
        Err(e) => {
            return Err(reader
                .shape
                .take()
                .unwrap_or_else(|| ParseError::Json(e.to_string())));
        }
    };
    let root = root.ok_or_else(|| shape("$", "no root element (such as \"Invoice\")"))?;
    Ok(Parsed {
        header,
        root,
        duplicates: reader.duplicates,
    })
}

/// The state shared by the visitors of one document.
#[derive(Default)]
struct Reader {
    /// The first shape error; reading stops there.
    shape: Option<ParseError>,
    /// Repeated keys found so far.
    duplicates: Vec<DuplicateKey>,
    /// The root element's name, once known (for paths).
    root_name: String,
    /// Element steps from the root to the element being read. Paths are built from them only
    /// when an error needs one, so reading a valid document formats no path at all.
    steps: Vec<(String, usize)>,
}

impl Reader {
    /// Records a shape error and returns the serde error that stops reading.
    fn fail<E: de::Error>(&mut self, path: &str, message: &str) -> E {
        self.shape.get_or_insert_with(|| shape(path, message));
        E::custom(message)
    }

    /// The JSON path of the element being read (`$.Invoice[0].X[1]`).
    fn path(&self) -> String {
        let mut p = format!("$.{}[0]", self.root_name);
        for (name, i) in &self.steps {
            // Writing to a String cannot fail.
            let _ = write!(p, ".{name}[{i}]");
        }
        p
    }
}

/// The members of one object seen so far: key, first occurrence, how many times.
type Seen<'de> = Vec<(Cow<'de, str>, Occurrence, usize)>;

/// A member name, borrowed from the document when it has no escape (nearly always), so that
/// reading a member allocates nothing for its name: a 100-line invoice has some 4,000.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Notes member `key` (its `member`-th) holding `held`; records a [`DuplicateKey`] when the
/// object had it already. Returns whether it is a repeat.
/// `top_level`: the object is the document itself, not an element.
fn note<'de>(
    r: &mut Reader,
    seen: &mut Seen<'de>,
    top_level: bool,
    key: Cow<'de, str>,
    again: Occurrence,
) -> bool {
    match seen.iter_mut().find(|(k, ..)| *k == key) {
        Some((_, first, times)) => {
            *times += 1;
            r.duplicates.push(DuplicateKey {
                object: (!top_level).then(|| r.steps.clone()),
                key: key.into_owned(),
                times: *times,
                first: *first,
                again,
            });
            true
        }
        None => {
            seen.push((key, again, 1));
            false
        }
    }
}

/// Rejects, with a shape error, every kind of JSON value a visitor does not expect. `$msg` is
/// the message; `$at` computes the path from the visitor (`self`).
macro_rules! refuse_other_values {
    ($at:expr, $msg:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            let at = $at(&self);
            Err(self.r.fail(&at, $msg))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            let at = $at(&self);
            Err(self.r.fail(&at, $msg))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            let at = $at(&self);
            Err(self.r.fail(&at, $msg))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            let at = $at(&self);
            Err(self.r.fail(&at, $msg))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            let at = $at(&self);
            Err(self.r.fail(&at, $msg))
        }
    };
}

/// The top-level object: namespace keys and the root element.
struct TopVisitor<'r> {
    r: &'r mut Reader,
}

type Top = (Vec<(String, String)>, Option<Element>);

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    refuse_other_values!(
        |_: &Self| "$".to_owned(),
        "the document must be a JSON object"
    );

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Top, E> {
        Err(self.r.fail("$", "the document must be a JSON object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Top, A::Error> {
        Err(self.r.fail("$", "the document must be a JSON object"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let r = self.r;
        let mut header = Vec::new();
        let mut root: Option<Element> = None;
        let mut seen = Seen::new();
        let mut member = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if member == 0 && key == NUMBER_TOKEN {
                return Err(r.fail("$", "the document must be a JSON object"));
            }
            member += 1;
            // A repeat of the root's key is read (so its shape is checked) and dropped: there
            // is one root.
            let role = match &root {
                None => RootRole::First,
                Some(el) if el.name == key => RootRole::Repeat,
                Some(_) => RootRole::Refused,
            };
            let value = map.next_value_seed(TopMemberSeed {
                r: &mut *r,
                key: &key,
                role,
            })?;
            let held = match &value {
                TopMember::Header(_) => Held::Header,
                TopMember::Root(_) => Held::Root,
            };
            // A clone of a borrowed name is a pointer and a length.
            let repeat = note(r, &mut seen, true, key.clone(), Occurrence { member, held });
            match value {
                TopMember::Header(s) if !repeat => header.push((key.into_owned(), s)),
                TopMember::Root(el) if root.is_none() => root = Some(el),
                _ => {}
            }
        }
        Ok((header, root))
    }
}

/// A top-level member's value.
enum TopMember {
    Header(String),
    Root(Element),
}

/// Whether an array member of the top-level object may be the root element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RootRole {
    /// No root yet: this is it.
    First,
    /// A repeat of the root's key: read, then dropped.
    Repeat,
    /// Another array next to the root.
    Refused,
}

struct TopMemberSeed<'r, 'k> {
    r: &'r mut Reader,
    key: &'k str,
    role: RootRole,
}

impl<'de> DeserializeSeed<'de> for TopMemberSeed<'_, '_> {
    type Value = TopMember;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<TopMember, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopMemberSeed<'_, '_> {
    type Value = TopMember;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a namespace string or the root element array")
    }

    refuse_other_values!(
        |s: &Self| format!("$.{}", s.key),
        "unexpected top-level member"
    );

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<TopMember, A::Error> {
        Err(self
            .r
            .fail(&format!("$.{}", self.key), "unexpected top-level member"))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<TopMember, E> {
        if self.key.starts_with('_') {
            Ok(TopMember::Header(s.to_owned()))
        } else {
            Err(self
                .r
                .fail(&format!("$.{}", self.key), "unexpected top-level member"))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopMember, A::Error> {
        let r = self.r;
        let path = format!("$.{}", self.key);
        if self.role == RootRole::Refused {
            return Err(r.fail(&path, "unexpected top-level member"));
        }
        let one = "the root element must be an array of one object";
        let mut el = Element::new(Ns::Invoice, self.key);
        r.root_name = self.key.to_owned();
        r.steps.clear();
        // Repeated keys inside a dropped second root would name elements of the kept one.
        let kept = r.duplicates.len();
        if seq
            .next_element_seed(ElementSeed {
                r: &mut *r,
                el: &mut el,
            })?
            .is_none()
            || seq.next_element::<IgnoredAny>()?.is_some()
        {
            return Err(r.fail(&path, one));
        }
        if self.role == RootRole::Repeat {
            r.duplicates.truncate(kept);
        }
        Ok(TopMember::Root(el))
    }
}

/// One element object: reads its members into `el`.
struct ElementSeed<'r, 'e> {
    r: &'r mut Reader,
    el: &'e mut Element,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

const NOT_AN_OBJECT: &str = "each element must be an object";

impl<'de> Visitor<'de> for ElementSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an element object")
    }

    refuse_other_values!(|s: &Self| s.r.path(), NOT_AN_OBJECT);

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        let at = self.r.path();
        Err(self.r.fail(&at, NOT_AN_OBJECT))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        let at = self.r.path();
        Err(self.r.fail(&at, NOT_AN_OBJECT))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (r, el) = (self.r, self.el);
        let mut seen = Seen::new();
        let mut member = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if member == 0 && key == NUMBER_TOKEN {
                let at = r.path();
                return Err(r.fail(&at, NOT_AN_OBJECT));
            }
            member += 1;
            let held = if key == "_" {
                let value = match map.next_value::<J>()? {
                    J::String(s) => Value::string(s),
                    // `arbitrary_precision` keeps the digits exactly as written.
                    J::Number(n) => Value::number(n.to_string()),
                    J::Bool(b) => Value::boolean(b),
                    _ => {
                        let at = format!("{}._", r.path());
                        return Err(r.fail(&at, "a value must be a string, number or boolean"));
                    }
                };
                // The first value stays; a repeat is reported.
                if el.value.is_none() {
                    el.value = Some(value);
                }
                Held::Value
            } else {
                if !is_xml_name(&key) {
                    let at = format!("{}.{key}", r.path());
                    return Err(r.fail(
                        &at,
                        "member names must be XML names (letters, digits, `_`, `-`, `.`; not starting with a digit)",
                    ));
                }
                map.next_value_seed(MemberSeed {
                    r: &mut *r,
                    el: &mut *el,
                    key: &key,
                })?
            };
            note(r, &mut seen, false, key, Occurrence { member, held });
        }
        Ok(())
    }
}

/// The value of a member other than `"_"`: an array of child elements or an attribute string.
struct MemberSeed<'r, 'e, 'k> {
    r: &'r mut Reader,
    el: &'e mut Element,
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for MemberSeed<'_, '_, '_> {
    type Value = Held;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Held, D::Error> {
        d.deserialize_any(self)
    }
}

const NOT_A_MEMBER: &str = "a member must be an array (element) or a string (attribute)";

impl<'de> Visitor<'de> for MemberSeed<'_, '_, '_> {
    type Value = Held;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of element objects or an attribute string")
    }

    refuse_other_values!(|s: &Self| format!("{}.{}", s.r.path(), s.key), NOT_A_MEMBER);

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Held, A::Error> {
        let at = format!("{}.{}", self.r.path(), self.key);
        Err(self.r.fail(&at, NOT_A_MEMBER))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Held, E> {
        // The first value of an attribute stays; a repeat is reported.
        if self.el.attr_value(self.key).is_none() {
            self.el.attrs.push((self.key.to_owned(), s.to_owned()));
        }
        Ok(Held::Attribute)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Held, A::Error> {
        let (r, el, key) = (self.r, self.el, self.key);
        // Indexes count the children of this name already read, so that after a repeated key
        // the paths name the elements of the tree (the repeat's follow the first's).
        let start = el.children.iter().filter(|c| c.name == key).count();
        let mut count = 0;
        // One step per array, its index moved along, so reading allocates no path per element.
        r.steps.push((key.to_owned(), start));
        loop {
            if let Some(step) = r.steps.last_mut() {
                step.1 = start + count;
            }
            // Named once read: the end of the array is only known by trying to read one more.
            let mut child = Element::new(Ns::Cbc, String::new());
            if seq
                .next_element_seed(ElementSeed {
                    r: &mut *r,
                    el: &mut child,
                })?
                .is_none()
            {
                break;
            }
            child.name = key.to_owned();
            el.children.push(child);
            count += 1;
        }
        r.steps.pop();
        Ok(Held::Elements { start, count })
    }
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

/// Writes a document minified, the way serde_json writes it (so a minified original and its
/// round-trip are byte-identical).
///
/// Straight into the output: going through a `serde_json::Value` cost five times the XML
/// writer (an order-preserving map per element, every name and text cloned, all of it freed
/// again). An element whose members would not map one to one onto JSON keys (a key used
/// twice, or a child name that comes back after another name) is written through that
/// `Value` instead, so the odd shapes keep the exact meaning they always had.
pub(crate) fn write(header: &[(String, String)], root: &Element) -> String {
    let top_keys = header.iter().map(|(k, _)| k.as_str());
    if !all_distinct(top_keys.chain([root.name.as_str()]), header.len() + 1) {
        return write_through_value(header, root);
    }
    let mut out = String::with_capacity(16 * 1024);
    out.push('{');
    for (k, v) in header {
        write_str(&mut out, k);
        out.push(':');
        write_str(&mut out, v);
        out.push(',');
    }
    write_str(&mut out, &root.name);
    out.push_str(":[");
    write_element(&mut out, root);
    out.push_str("]}");
    out
}

fn write_element(out: &mut String, el: &Element) {
    if !one_key_per_member(el) {
        write_value(out, &object(el));
        return;
    }
    out.push('{');
    let mut first = true;
    let mut key = |out: &mut String, name: &str| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        write_str(out, name);
        out.push(':');
    };
    if let Some(v) = &el.value {
        key(out, "_");
        write_leaf(out, v);
    }
    for (k, v) in &el.attrs {
        key(out, k);
        write_str(out, v);
    }
    for run in el.children.chunk_by(|a, b| a.name == b.name) {
        key(out, &run[0].name);
        out.push('[');
        for (i, child) in run.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_element(out, child);
        }
        out.push(']');
    }
    out.push('}');
}

/// Whether every member of `el` (its value, attributes, runs of equally named children) has
/// a key of its own, so writing them in order is what the `Value` route would write.
fn one_key_per_member(el: &Element) -> bool {
    let value_key = el.value.as_ref().map(|_| "_");
    let attr_keys = el.attrs.iter().map(|(k, _)| k.as_str());
    let run_keys = el
        .children
        .chunk_by(|a, b| a.name == b.name)
        .map(|run| run[0].name.as_str());
    let keys = value_key.into_iter().chain(attr_keys).chain(run_keys);
    all_distinct(keys, 1 + el.attrs.len() + el.children.len())
}

fn write_leaf(out: &mut String, v: &Value) {
    match v.kind {
        ValueKind::String => write_str(out, &v.text),
        ValueKind::Bool => out.push_str(if v.text == "true" { "true" } else { "false" }),
        // With `arbitrary_precision` a number keeps its digits; serde_json still writes its
        // exponent its own way (`1E5` as `1e+5`), so it is written by serde_json. A text that
        // is not a JSON number stays a string, as `value` below decides.
        ValueKind::Number => match v.text.parse::<Number>() {
            // Infallible: writing to a String.
            Ok(n) => _ = write!(out, "{n}"),
            Err(_) => write_str(out, &v.text),
        },
    }
}

/// A JSON string as serde_json escapes it: `"` and `\`, the five short control escapes, any
/// other control character as `\u00XX` (lower-case hex); everything else as it is.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            // Infallible: writing to a String.
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_value(out: &mut String, value: &J) {
    // Serialising a `Value` cannot fail (string keys only).
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// The whole document through a `Value`: what [`write`] does for a header whose keys repeat
/// or name the root, and what it did for every document before it wrote directly.
fn write_through_value(header: &[(String, String)], root: &Element) -> String {
    let mut top = Map::new();
    for (k, v) in header {
        top.insert(k.clone(), J::String(v.clone()));
    }
    top.insert(root.name.clone(), J::Array(vec![object(root)]));
    let mut out = String::new();
    write_value(&mut out, &J::Object(top));
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's output, checked against what it wrote before it wrote directly: every
    /// element through a `Value`.
    fn same_as_through_value(header: &[(String, String)], root: &Element) -> String {
        let direct = write(header, root);
        assert_eq!(direct, write_through_value(header, root));
        // And it is JSON a reader takes back.
        serde_json::from_str::<J>(&direct).unwrap();
        direct
    }

    fn leaf(name: &str, value: Value) -> Element {
        let mut e = Element::new(Ns::Cbc, name);
        e.value = Some(value);
        e
    }

    #[test]
    fn writes_what_the_value_route_wrote_for_plain_and_odd_shapes() {
        let header = default_header();
        let plain = Element::cac(
            "Invoice",
            vec![
                leaf("ID", Value::string("INV-1")),
                leaf("Amount", Value::number("1.10")).attr("currencyID", "MYR"),
                Element::cac("Line", vec![leaf("Qty", Value::number("1"))]),
                Element::cac("Line", vec![leaf("Qty", Value::number("2e3"))]),
                leaf("Flag", Value::boolean(true)),
                Element::cac("Empty", vec![]),
            ],
        );
        let json = same_as_through_value(&header, &plain);
        assert!(
            json.contains(r#""Amount":[{"_":1.10,"currencyID":"MYR"}]"#),
            "{json}"
        );
        assert!(json.contains(r#""Line":[{"Qty":[{"_":1}]},{"Qty":[{"_":2e+3}]}]"#));

        // Each of these makes two members share a key, which the map resolves.
        let odd = [
            // an attribute named like the value's key
            leaf("A", Value::string("v")).attr("_", "attr"),
            // the same attribute twice
            Element::new(Ns::Cbc, "A").attr("k", "1").attr("k", "2"),
            // a child named like an attribute
            Element::cac("A", vec![leaf("k", Value::string("child"))]).attr("k", "attr"),
            // a child name that comes back after another one
            Element::cac(
                "A",
                vec![
                    leaf("x", Value::string("1")),
                    leaf("y", Value::string("2")),
                    leaf("x", Value::string("3")),
                ],
            ),
        ];
        for el in odd {
            let root = Element::cac("Invoice", vec![el.clone(), el]);
            same_as_through_value(&header, &root);
        }
    }

    #[test]
    fn escapes_strings_and_keeps_numbers_as_serde_json_does() {
        let mut text: String = (0u8..0x80).map(char::from).collect();
        text.push_str("é€😀\u{2028}");
        let numbers = [
            "0",
            "-0",
            "1.0",
            "0.10",
            "1e5",
            "1E+05",
            "-1.5e-3",
            "01",
            "1.",
            ".5",
            "+1",
            " 1",
            "1 ",
            "",
            "abc",
            "NaN",
            "1e",
            "123456789012345678901234567890.123",
        ];
        let mut children = vec![leaf(&text, Value::string(text.clone()))];
        children.extend(numbers.iter().map(|n| leaf("N", Value::number(*n))));
        children.push(leaf("B", Value::boolean(false)));
        let root = Element::cac("Invoice", children).attr("q\"\\", "\u{1}\u{1f}");
        let json = same_as_through_value(&[("_D".to_owned(), text.clone())], &root);
        assert!(json.contains(r#"\u0000\u0001"#) && json.contains(r#"\b\t\n\u000b\f\r"#));
        assert!(
            json.contains(r#"{"_":1.0}"#) && json.contains(r#"{"_":"01"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"_":1e+5}"#) && json.contains(r#"{"_":1e+05}"#),
            "{json}"
        );
    }

    #[test]
    fn a_header_key_used_twice_or_named_like_the_root_is_written_as_before() {
        let root = Element::cac("Invoice", vec![leaf("ID", Value::string("1"))]);
        for header in [
            vec![
                ("_D".to_owned(), "a".to_owned()),
                ("_D".to_owned(), "b".to_owned()),
            ],
            vec![("Invoice".to_owned(), "x".to_owned())],
        ] {
            same_as_through_value(&header, &root);
        }
    }

    #[test]
    fn escaped_member_names_read_as_their_text_and_repeat_plain_ones() {
        // `\u0049D` is `ID`: read through the owned path, it names the same element, and
        // next to a plain `ID` it is a repeat.
        let once = br#"{"_D":"x","Invoice":[{"\u0049D":[{"_":"A"}],"cur\u0072ency":"MYR"}]}"#;
        let parsed = parse(once).unwrap();
        assert_eq!(parsed.root.children[0].name, "ID");
        assert_eq!(
            parsed.root.attrs,
            vec![("currency".to_owned(), "MYR".to_owned())]
        );
        assert!(parsed.duplicates.is_empty());
        let twice = br#"{"_D":"x","Invoice":[{"ID":[{"_":"A"}],"\u0049D":[{"_":"B"}]}]}"#;
        let parsed = parse(twice).unwrap();
        assert_eq!(parsed.duplicates.len(), 1);
        assert_eq!(parsed.duplicates[0].key, "ID");
        assert_eq!(parsed.duplicates[0].times, 2);
    }

    #[test]
    fn many_distinct_children_are_checked_with_a_set() {
        let mut children: Vec<Element> = (0..200)
            .map(|i| leaf(&format!("C{i}"), Value::string(i.to_string())))
            .collect();
        let root = Element::cac("Invoice", children.clone());
        let json = same_as_through_value(&default_header(), &root);
        assert!(json.contains(r#""C199":[{"_":"199"}]"#));
        // The first name again at the end: grouped with its first occurrence.
        children.push(leaf("C0", Value::string("again")));
        let root = Element::cac("Invoice", children);
        let json = same_as_through_value(&default_header(), &root);
        assert!(json.contains(r#""C0":[{"_":"0"},{"_":"again"}]"#), "{json}");
    }
}

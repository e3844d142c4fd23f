//! The order-preserving element tree both codecs map to. It keeps everything a document holds
//! (names, namespaces, attributes, values with their JSON kind, child order), so a document can
//! be read and written back without loss, and so nothing unknown is silently dropped.

/// The namespaces of a MyInvois UBL document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ns {
    /// `urn:oasis:names:specification:ubl:schema:xsd:Invoice-2` (the root).
    Invoice,
    /// `...:CommonAggregateComponents-2` (`cac:`).
    Cac,
    /// `...:CommonBasicComponents-2` (`cbc:`).
    Cbc,
    /// `...:CommonExtensionComponents-2` (`ext:`).
    Ext,
    /// `...:CommonSignatureComponents-2` (`sig:`).
    Sig,
    /// `...:SignatureAggregateComponents-2` (`sac:`).
    Sac,
    /// `...:SignatureBasicComponents-2` (`sbc:`).
    Sbc,
    /// `http://www.w3.org/2000/09/xmldsig#` (`ds:`).
    Ds,
    /// `http://uri.etsi.org/01903/v1.3.2#` (`xades:`).
    Xades,
    /// Any other namespace URI (or none, as the empty string).
    Other(String),
}

pub(crate) const NS_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
pub(crate) const NS_CAC: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
pub(crate) const NS_CBC: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
pub(crate) const NS_EXT: &str =
    "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2";
const NS_SIG: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2";
const NS_SAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2";
const NS_SBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";

impl Ns {
    /// The namespace URI.
    pub fn uri(&self) -> &str {
        match self {
            Ns::Invoice => NS_INVOICE,
            Ns::Cac => NS_CAC,
            Ns::Cbc => NS_CBC,
            Ns::Ext => NS_EXT,
            Ns::Sig => NS_SIG,
            Ns::Sac => NS_SAC,
            Ns::Sbc => NS_SBC,
            Ns::Ds => NS_DS,
            Ns::Xades => NS_XADES,
            Ns::Other(uri) => uri,
        }
    }

    /// The namespace for a URI.
    pub fn from_uri(uri: &str) -> Ns {
        match uri {
            NS_INVOICE => Ns::Invoice,
            NS_CAC => Ns::Cac,
            NS_CBC => Ns::Cbc,
            NS_EXT => Ns::Ext,
            NS_SIG => Ns::Sig,
            NS_SAC => Ns::Sac,
            NS_SBC => Ns::Sbc,
            NS_DS => Ns::Ds,
            NS_XADES => Ns::Xades,
            other => Ns::Other(other.to_owned()),
        }
    }

    /// The prefix invois writes for this namespace (the official samples' choice: the root and
    /// `UBLExtensions` use the default namespace).
    pub fn standard_prefix(&self) -> &str {
        match self {
            Ns::Invoice | Ns::Ext | Ns::Other(_) => "",
            Ns::Cac => "cac",
            Ns::Cbc => "cbc",
            Ns::Sig => "sig",
            Ns::Sac => "sac",
            Ns::Sbc => "sbc",
            Ns::Ds => "ds",
            Ns::Xades => "xades",
        }
    }

    /// The prefix used in XPaths of findings.
    pub fn xpath_prefix(&self) -> &str {
        match self {
            Ns::Invoice => "",
            Ns::Ext => "ext",
            other => other.standard_prefix(),
        }
    }
}

/// How a value is written in JSON (XML holds them all as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A JSON string.
    String,
    /// A JSON number; the text is kept exactly as written (`1.0` stays `1.0`).
    Number,
    /// A JSON boolean (`true`/`false`).
    Bool,
}

/// A leaf value: its exact text and its JSON kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The exact text (for numbers: the digits as written).
    pub text: String,
    /// The JSON kind.
    pub kind: ValueKind,
}

impl Value {
    /// A string value.
    pub fn string(text: impl Into<String>) -> Self {
        Value {
            text: text.into(),
            kind: ValueKind::String,
        }
    }
    /// A number value; `text` must be a JSON number.
    pub fn number(text: impl Into<String>) -> Self {
        Value {
            text: text.into(),
            kind: ValueKind::Number,
        }
    }
    /// A boolean value.
    pub fn boolean(b: bool) -> Self {
        Value {
            text: if b { "true" } else { "false" }.to_owned(),
            kind: ValueKind::Bool,
        }
    }
}

/// One element: name, namespace, attributes, an optional value, and children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name (`TaxAmount`).
    pub name: String,
    /// Namespace.
    pub ns: Ns,
    /// The XML prefix this element was read with; `None` when built or read from JSON (the
    /// standard prefix is then written).
    pub prefix: Option<String>,
    /// Namespace declarations this element carried in XML (`("", uri)` for `xmlns=`), kept so
    /// a parsed XML document is written back with the same declarations.
    pub ns_decls: Vec<(String, String)>,
    /// Attributes in order (`currencyID`, `schemeID`, ...).
    pub attrs: Vec<(String, String)>,
    /// The value of a leaf (`"_"` in JSON); `None` for aggregates.
    pub value: Option<Value>,
    /// Children in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// A new element without value or children.
    pub fn new(ns: Ns, name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ns,
            prefix: None,
            ns_decls: Vec::new(),
            attrs: Vec::new(),
            value: None,
            children: Vec::new(),
        }
    }

    /// A `cbc:` leaf with a string value.
    pub fn cbc(name: impl Into<String>, text: impl Into<String>) -> Self {
        let mut e = Element::new(Ns::Cbc, name);
        e.value = Some(Value::string(text));
        e
    }

    /// A `cac:` aggregate with the given children.
    pub fn cac(name: impl Into<String>, children: Vec<Element>) -> Self {
        let mut e = Element::new(Ns::Cac, name);
        e.children = children;
        e
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.push((name.into(), value.into()));
        self
    }

    /// The children as runs of equal names, when every name forms one run (`A A B C C`, not
    /// `A B A`): UBL's own shape, where grouping by name is document order. `None` otherwise.
    pub fn child_runs(&self) -> Option<impl Iterator<Item = &[Element]>> {
        let runs = || {
            self.children
                .chunk_by(|a: &Element, b: &Element| a.name == b.name)
        };
        all_distinct(runs().map(|run| run[0].name.as_str()), self.children.len()).then(runs)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a path of child names (first match at each step).
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The value text of the element at `path`.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(Element::text)
    }

    /// This element's value text.
    pub fn text(&self) -> Option<&str> {
        self.value.as_ref().map(|v| v.text.as_str())
    }

    /// The value of attribute `name`.
    pub fn attr_value(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The mutable first child named `name`.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// Counts this element and its descendants.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Element::count).sum::<usize>()
    }
}

/// Where two documents first differ in meaning, as a JSON path (`$.Invoice[0].InvoiceLine[1]
/// .Price[0].PriceAmount[0]`), or `None` when they say the same thing. What only changes the
/// writing is ignored: JSON or XML, key order, whitespace, namespace prefixes and
/// declarations, attribute order, and a value's JSON kind (XML has none). Idempotency uses
/// this: the same document re-serialised by an ERP is the same document.
pub fn first_difference(a: &Element, b: &Element) -> Option<String> {
    difference_at(a, b, &format!("$.{}[0]", a.name))
}

fn difference_at(a: &Element, b: &Element, path: &str) -> Option<String> {
    if a.name != b.name {
        return Some(path.to_owned());
    }
    if a.value.as_ref().map(|v| v.text.as_str()) != b.value.as_ref().map(|v| v.text.as_str()) {
        return Some(format!("{path}._"));
    }
    let mut attrs_a: Vec<_> = a.attrs.iter().collect();
    let mut attrs_b: Vec<_> = b.attrs.iter().collect();
    attrs_a.sort();
    attrs_b.sort();
    if attrs_a != attrs_b {
        let differing = attrs_a
            .iter()
            .zip(attrs_b.iter())
            .find(|(x, y)| x != y)
            .map(|(x, _)| x.0.as_str())
            .or_else(|| attrs_a.get(attrs_b.len()).map(|x| x.0.as_str()))
            .or_else(|| attrs_b.get(attrs_a.len()).map(|x| x.0.as_str()))
            .unwrap_or_default();
        return Some(format!("{path}.{differing}"));
    }
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, ca) in a.children.iter().enumerate() {
        let n = seen.entry(ca.name.as_str()).or_default();
        let child_path = format!("{path}.{}[{n}]", ca.name);
        *n += 1;
        match b.children.get(i) {
            Some(cb) => {
                if let Some(d) = difference_at(ca, cb, &child_path) {
                    return Some(d);
                }
            }
            None => return Some(child_path),
        }
    }
    b.children.get(a.children.len()).map(|cb| {
        let n = a.children.iter().filter(|c| c.name == cb.name).count();
        format!("{path}.{}[{n}]", cb.name)
    })
}

/// Whether no string repeats in `items` (at most `len` of them). A handful is compared
/// pairwise, with nothing allocated; more go through a set, so that a hostile element with
/// thousands of names cannot make it quadratic.
pub(crate) fn all_distinct<'k>(items: impl Iterator<Item = &'k str> + Clone, len: usize) -> bool {
    if len <= 48 {
        items
            .clone()
            .enumerate()
            .all(|(i, k)| items.clone().take(i).all(|earlier| earlier != k))
    } else {
        let mut seen = std::collections::HashSet::new();
        items.into_iter().all(|k| seen.insert(k))
    }
}

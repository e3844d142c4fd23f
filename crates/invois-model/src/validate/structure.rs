//! Structure: repeated JSON keys, known elements, UBL order and cardinality, value types.

use super::path::Path;
use super::{Category, Findings, Node, Severity, ValidationContext};
use crate::document::{Document, Format};
use crate::json::{DuplicateKey, Held};
use crate::rules::Rule;
use crate::schema::{self, Child, K};
use crate::tree::{Ns, ValueKind};

const C: Category = Category::Structure;

pub(super) fn check(doc: &Document, root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    duplicate_keys(doc, root, out);
    walk(root, doc.source_format(), ctx, out);
    if let Some(v) = doc.version()
        && !crate::codes::version_is_signed(v)
    {
        for name in ["UBLExtensions", "Signature"] {
            if let Some(n) = root.kid(name) {
                // The JSON schema of 1.0 rejects these (`NoAdditionalPropertiesAllowed`);
                // for XML it is not documented.
                let severity = if doc.source_format() == Format::Json {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                out.push("S007", C, severity, &n, format!("a version {v} document must not carry `{name}` (only 1.1 and 1.3 are signed)"), None);
            }
        }
    }
}

/// `S008`: a key written more than once in one JSON object, as the reader recorded it. The
/// finding's paths are the repeat's; its rule names both occurrences. Two occurrences share a
/// JSON path (JSON has no way to tell them apart), so each is also named by its position among
/// the object's members and by its XPath in the tree, which keeps the elements of both.
pub(super) fn duplicate_keys(doc: &Document, root: &Node<'_>, out: &mut Findings) {
    for d in doc.duplicate_key_records() {
        duplicate_key(d, root, out);
    }
}

fn duplicate_key(d: &DuplicateKey, root: &Node<'_>, out: &mut Findings) {
    // The object holding the key: the top level (`$`) or an element of the tree.
    let object = d.object.as_ref().map(|steps| {
        let mut node = root.clone();
        for (name, i) in steps {
            // The reader's steps name elements of this tree; stop short rather than panic
            // should the tree have been changed since.
            match node.kids(name).into_iter().nth(*i) {
                Some(kid) => node = kid,
                None => break,
            }
        }
        node
    });
    let object_json = object.as_ref().map_or_else(|| "$".to_owned(), Node::json);
    let member_json = format!("{object_json}.{}", d.key);
    let xpath = |held: Held| match (&object, held) {
        (Some(n), Held::Elements { start, count }) if count > 0 => n
            .kids(&d.key)
            .into_iter()
            .nth(start)
            .map_or_else(|| n.missing(&d.key).xpath(), |k| k.xpath()),
        (Some(n), Held::Elements { .. }) => n.missing(&d.key).xpath(),
        (Some(n), Held::Attribute) => n.attr_node(&d.key).xpath(),
        (Some(n), Held::Value) => format!("{}/text()", n.xpath()),
        // Top-level members: namespace keys belong to the root element, and a repeated root
        // key is a second root.
        (None, _) | (Some(_), Held::Header | Held::Root) => root.xpath(),
    };
    let (first_xpath, again_xpath) = (xpath(d.first.held), xpath(d.again.held));
    let times = match d.times {
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    };
    let at = Node {
        el: object.as_ref().map_or(root.el, |n| n.el),
        path: Path::given(member_json.clone(), again_xpath.clone()),
        type_name: None,
    };
    out.push(
        "S008",
        C,
        Severity::Error,
        &at,
        format!(
            "member \"{key}\" appears {times} in {object_json}: first at {member_json} (member #{m1}, {first_xpath}), again at {member_json} (member #{m2}, {again_xpath}); JSON readers keep the first, the last or both, so the document has no single meaning",
            key = d.key,
            m1 = d.first.member,
            m2 = d.again.member,
        ),
        Some(&d.key),
    );
}

fn walk(node: &Node<'_>, format: Format, ctx: &ValidationContext, out: &mut Findings) {
    let Some(type_name) = node.type_name else {
        return;
    };
    let Some(seq) = schema::sequence(type_name) else {
        return;
    };
    if node.el.value.is_some() {
        out.error(
            "S006",
            C,
            node,
            format!("`{}` is an aggregate and cannot hold a value", node.el.name),
        );
    }
    let mut last_index = 0usize;
    let mut counts = vec![0usize; seq.len()];
    // The children are checked grouped by name, in the order of each name's first
    // occurrence. In UBL's shape (each name one run) that is document order, and the runs
    // give each child its place without searching the siblings for every name.
    let groups: Vec<Vec<Node<'_>>> = match node.el.child_runs() {
        Some(runs) => runs.map(|run| node.run_nodes(run)).collect(),
        None => {
            let mut seen: Vec<&str> = Vec::new();
            let mut groups = Vec::new();
            for child in &node.el.children {
                if !seen.contains(&child.name.as_str()) {
                    seen.push(&child.name);
                    groups.push(node.kids(&child.name));
                }
            }
            groups
        }
    };
    for kid in groups.iter().flatten() {
        let mut order = Order {
            last_index: &mut last_index,
            counts: &mut counts,
        };
        check_child(node, kid, type_name, format, ctx, &mut order, out);
    }
    for (i, e) in seq.iter().enumerate() {
        if e.2 > 0 && counts[i] == 0 {
            out.push(
                "S003",
                C,
                Severity::Error,
                &node.missing(e.0),
                format!("`{}` requires `{}` (UBL 2.1)", node.el.name, e.0),
                None,
            );
        }
        if !e.3 && counts[i] > 1 {
            out.push(
                "S004",
                C,
                Severity::Error,
                &node.kids(e.0)[1],
                format!("`{}` may appear only once in `{}`", e.0, node.el.name),
                None,
            );
        }
    }
}

/// Where the walk of one parent's children is in its UBL sequence.
struct Order<'a> {
    last_index: &'a mut usize,
    counts: &'a mut [usize],
}

fn check_child(
    parent: &Node<'_>,
    kid: &Node<'_>,
    type_name: &str,
    format: Format,
    ctx: &ValidationContext,
    order: &mut Order<'_>,
    out: &mut Findings,
) {
    let Order { last_index, counts } = order;
    let name = kid.el.name.as_str();
    let Some(slot) = schema::slot(type_name, name) else {
        out.push(
            "S001",
            C,
            Severity::Error,
            kid,
            format!(
                "`{name}` is not an element of `{}` in UBL 2.1 (unknown element)",
                parent.el.name
            ),
            kid.text(),
        );
        return;
    };
    counts[slot.index] += 1;
    // Order is an XML schema (xsd:sequence) rule; JSON objects are unordered, and the official
    // JSON samples do not follow the UBL order (UBLExtensions/Signature last, §6.2).
    if format == Format::Xml {
        if slot.index < **last_index {
            out.push_mut("S002", C, Severity::Error, kid, format!("`{name}` is out of UBL 2.1 order in `{}`: it must come before elements it follows here", parent.el.name), None)
                .published(&invois_api::validator_errors::INVALID_CHILD_ELEMENT, &[]);
        } else {
            **last_index = slot.index;
        }
    }
    let expected_ns = match slot.entry.1 {
        Child::L(_) => Ns::Cbc,
        Child::X => Ns::Ext,
        _ => Ns::Cac,
    };
    if kid.el.ns != expected_ns {
        out.push(
            "S001",
            C,
            Severity::Error,
            kid,
            format!("`{name}` must be in namespace {}", expected_ns.uri()),
            None,
        );
    }
    match slot.entry.1 {
        Child::L(kind) => check_leaf(kid, kind, format, ctx, out),
        Child::A(_) => walk(kid, format, ctx, out),
        Child::O | Child::X => {}
    }
}

fn check_leaf(
    node: &Node<'_>,
    kind: K,
    format: Format,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    if !node.el.children.is_empty() {
        out.error(
            "S006",
            C,
            node,
            format!(
                "`{}` is a basic element and cannot have child elements",
                node.el.name
            ),
        );
        return;
    }
    let Some(value) = &node.el.value else {
        out.push(
            "S005",
            C,
            Severity::Error,
            node,
            format!("`{}` must have a value", node.el.name),
            None,
        );
        return;
    };
    let text = value.text.as_str();
    let bad = |out: &mut Findings, what: &str, dated: Option<Rule>| {
        let f = out.push_mut(
            "S005",
            C,
            Severity::Error,
            node,
            format!("`{}` must be {what}", node.el.name),
            Some(text),
        );
        if let Some(rule) = dated {
            f.dated(rule, ctx);
        }
    };
    if kind.is_numeric() {
        if format == Format::Json && value.kind != ValueKind::Number {
            bad(out, "a JSON number", None);
        } else if !is_plain_decimal(text) {
            // A number in scientific notation was accepted until the rule of 30 Apr 2026;
            // anything else that is not a number never was.
            let scientific =
                text.contains(['e', 'E']) && text.parse::<f64>().is_ok_and(f64::is_finite);
            let dated = scientific.then_some(Rule::PlainAmounts);
            bad(out, "a decimal number without exponent", dated);
        }
    } else if kind == K::Indicator {
        if (format == Format::Json && value.kind != ValueKind::Bool)
            || !(text == "true" || text == "false")
        {
            bad(out, "a boolean (true or false)", None);
        }
    } else if format == Format::Json && value.kind != ValueKind::String {
        bad(out, "a JSON string", None);
    } else if kind == K::Date
        && (text.len() != 10 || chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err())
    {
        bad(out, "a date YYYY-MM-DD", Some(Rule::DateFormat));
    } else if kind == K::Time && !is_time(text) {
        bad(out, "a time HH:MM:SS with an optional Z or offset", None);
    }
}

/// `-?digits(.digits)?`: what MyInvois accepts in amounts (no exponent, 30 Apr 2026).
pub(crate) fn is_plain_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn is_time(s: &str) -> bool {
    let (Some(hms), Some(zone)) = (s.get(..8), s.get(8..)) else {
        return false;
    };
    let time_ok = chrono::NaiveTime::parse_from_str(hms, "%H:%M:%S").is_ok() && hms.len() == 8;
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && chrono::NaiveTime::parse_from_str(&format!("{}:00", &zone[1..]), "%H:%M:%S")
                .is_ok());
    time_ok && zone_ok
}

//! What the UBL 2.1 schema says about element names: which children an aggregate may have, in
//! which order, how often, and what kind of value a leaf holds. Also the namespace each element
//! belongs to, which the JSON form does not carry and the XML form needs.

mod ubl21;

use std::sync::OnceLock;

/// The UBL value type of a basic (leaf) element (the `udt:*Type` it derives from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K {
    /// A monetary amount with `@currencyID`; a JSON number.
    Amount,
    /// Binary content (base64 text).
    BinaryObject,
    /// A code from a list.
    Code,
    /// `YYYY-MM-DD`.
    Date,
    /// An identifier.
    Identifier,
    /// `true`/`false`; a JSON boolean.
    Indicator,
    /// A measure with `@unitCode`; a JSON number.
    Measure,
    /// A name.
    Name,
    /// A decimal number; a JSON number.
    Numeric,
    /// A percentage; a JSON number.
    Percent,
    /// A quantity with `@unitCode`; a JSON number.
    Quantity,
    /// A rate; a JSON number.
    Rate,
    /// Free text.
    Text,
    /// `HH:MM:SS` with an optional zone.
    Time,
}

impl K {
    /// Whether the JSON form holds this value as a number.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            K::Amount | K::Measure | K::Numeric | K::Percent | K::Quantity | K::Rate
        )
    }
}

/// What a child element of an aggregate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    /// A basic component (`cbc:`) holding a value.
    L(K),
    /// An aggregate (`cac:`) whose type is in the table.
    A(&'static str),
    /// An aggregate (`cac:`) whose content is not checked.
    O,
    /// `ext:UBLExtensions` (the signature container).
    X,
}

/// One entry of an xsd sequence: name, kind, minOccurs, unbounded.
#[derive(Debug, Clone, Copy)]
pub struct E(pub &'static str, pub Child, pub u8, pub bool);

/// A child slot found in a parent type.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Position in the parent's xsd sequence.
    pub index: usize,
    /// The entry itself.
    pub entry: E,
}

/// The maps of the schema's names hash with foldhash's fixed-seed hasher: validation looks up
/// a slot for every element it visits, several times. SipHash (the standard map's default,
/// resistant to chosen keys) made validation about 4% slower than FNV, and FNV, a byte at a
/// time, was still a quarter of a 100-line invoice's validation; foldhash takes eight bytes a
/// step (0.81 -> 0.68 ms). Chosen keys are no concern here: the maps hold only the schema's
/// names, fixed at build time; a name from a document is only ever looked up.
type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

struct Tables {
    types: Map<&'static str, &'static [E]>,
    slots: Map<(&'static str, &'static str), Slot>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut types = Map::default();
        let mut slots = Map::default();
        for (name, entries) in ubl21::TYPES {
            types.insert(*name, *entries);
            for (index, entry) in entries.iter().enumerate() {
                slots.insert(
                    (*name, entry.0),
                    Slot {
                        index,
                        entry: *entry,
                    },
                );
            }
        }
        Tables { types, slots }
    })
}

/// The xsd sequence of an aggregate type (`"Invoice"`, `"Party"`, ...), if modelled.
pub fn sequence(type_name: &str) -> Option<&'static [E]> {
    tables().types.get(type_name).copied()
}

/// The slot of child `name` in aggregate type `type_name`.
pub fn slot(type_name: &str, name: &str) -> Option<Slot> {
    tables().slots.get(&(type_name, name)).copied()
}

/// The value kind of a leaf, from its parent type when known, else from the UBL naming
/// convention (representation terms are the last word of every UBL basic component name).
pub fn leaf_kind(parent_type: Option<&str>, name: &str) -> Option<K> {
    if let Some(Slot {
        entry: E(_, Child::L(k), _, _),
        ..
    }) = parent_type.and_then(|t| slot(t, name))
    {
        return Some(k);
    }
    kind_from_name(name)
}

/// The representation term of a UBL name (`TaxAmount` -> Amount).
pub fn kind_from_name(name: &str) -> Option<K> {
    const TERMS: &[(&str, K)] = &[
        ("Amount", K::Amount),
        ("Quantity", K::Quantity),
        ("Measure", K::Measure),
        ("Numeric", K::Numeric),
        ("Percent", K::Percent),
        ("Rate", K::Rate),
        ("Indicator", K::Indicator),
        ("Date", K::Date),
        ("Time", K::Time),
        ("Code", K::Code),
        ("ID", K::Identifier),
    ];
    TERMS
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|(_, k)| *k)
}

/// The aggregate type of child `name` of `parent_type`, when the table models it.
pub fn child_type(parent_type: &str, name: &str) -> Option<&'static str> {
    match slot(parent_type, name)?.entry.1 {
        Child::A(t) => Some(t),
        _ => None,
    }
}

//! Where a node is: its JSON path and its XPath, rendered only when a finding asks.
//!
//! Validation builds a node for every element it visits but reports on few of them; rendering
//! both paths eagerly for each node (two `format!`s) was three quarters of the cost of
//! building nodes. A [`Path`] is instead a shared chain of steps back to the root: making a
//! child's path is one small allocation, and the strings are written out by [`Path::json`] and
//! [`Path::xpath`] when a finding is pushed.

use std::fmt::Write as _;
use std::rc::Rc;

/// A node's place in the document, as steps back to the root (cheap to clone).
#[derive(Clone)]
pub(crate) struct Path<'a>(Rc<Step<'a>>);

enum Step<'a> {
    /// The root element: `$.Invoice[0]`, `/Invoice`.
    Root { name: &'a str },
    /// The `index`th of the `of` children named `name`: `.name[index]`,
    /// `/prefix:name[index + 1]` (no position when it is the only one).
    Child {
        parent: Path<'a>,
        name: &'a str,
        prefix: &'a str,
        index: usize,
        of: usize,
    },
    /// A child that is not there (for "missing" findings): `.name`, `/prefix:name`.
    Missing {
        parent: Path<'a>,
        name: Box<str>,
        prefix: &'static str,
    },
    /// An attribute: `.name`, `/@name`.
    Attribute { parent: Path<'a>, name: Box<str> },
    /// Paths given as they are.
    Given { json: String, xpath: String },
}

impl<'a> Path<'a> {
    pub(crate) fn root(name: &'a str) -> Self {
        Path(Rc::new(Step::Root { name }))
    }

    /// Child `index` of the `of` children named `name`, in namespace `prefix` (`""` for none).
    pub(crate) fn child(&self, name: &'a str, prefix: &'a str, index: usize, of: usize) -> Self {
        Path(Rc::new(Step::Child {
            parent: self.clone(),
            name,
            prefix,
            index,
            of,
        }))
    }

    pub(crate) fn missing(&self, name: &str, prefix: &'static str) -> Self {
        Path(Rc::new(Step::Missing {
            parent: self.clone(),
            name: name.into(),
            prefix,
        }))
    }

    pub(crate) fn attribute(&self, name: &str) -> Self {
        Path(Rc::new(Step::Attribute {
            parent: self.clone(),
            name: name.into(),
        }))
    }

    pub(crate) fn given(json: String, xpath: String) -> Self {
        Path(Rc::new(Step::Given { json, xpath }))
    }

    /// The JSON path (`$.Invoice[0].AccountingSupplierParty[0].Party[0]`).
    pub(crate) fn json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// The XPath (`/Invoice/cac:AccountingSupplierParty/cac:Party`).
    pub(crate) fn xpath(&self) -> String {
        let mut out = String::new();
        self.write_xpath(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match &*self.0 {
            Step::Root { name } => {
                let _ = write!(out, "$.{name}[0]");
            }
            Step::Child {
                parent,
                name,
                index,
                ..
            } => {
                parent.write_json(out);
                let _ = write!(out, ".{name}[{index}]");
            }
            Step::Missing { parent, name, .. } | Step::Attribute { parent, name } => {
                parent.write_json(out);
                out.push('.');
                out.push_str(name);
            }
            Step::Given { json, .. } => out.push_str(json),
        }
    }

    fn write_xpath(&self, out: &mut String) {
        match &*self.0 {
            Step::Root { name } => {
                out.push('/');
                out.push_str(name);
            }
            Step::Child {
                parent,
                name,
                prefix,
                index,
                of,
            } => {
                parent.write_xpath(out);
                out.push('/');
                if !prefix.is_empty() {
                    out.push_str(prefix);
                    out.push(':');
                }
                out.push_str(name);
                if *of > 1 {
                    let _ = write!(out, "[{}]", index + 1);
                }
            }
            Step::Missing {
                parent,
                name,
                prefix,
            } => {
                parent.write_xpath(out);
                let _ = write!(out, "/{prefix}:{name}");
            }
            Step::Attribute { parent, name } => {
                parent.write_xpath(out);
                out.push_str("/@");
                out.push_str(name);
            }
            Step::Given { xpath, .. } => out.push_str(xpath),
        }
    }
}

//! Local validation: every finding, not just the first, each with a stable code, a category, a
//! severity, the JSON path and the XPath, the rule in plain English, and the offending value.
//!
//! Categories follow the MyInvois validators (§7): [`Category::Structure`] findings are what
//! the submission step rejects synchronously (`rejectedDocuments`); the others are what the
//! asynchronous validation steps report.
//!
//! Codes (stable; new ones are only ever added):
//!
//! | Code | Rule |
//! | --- | --- |
//! | S001 | element not in the UBL 2.1 sequence of its parent (unknown element) |
//! | S002 | element out of UBL 2.1 sequence order |
//! | S003 | element required by UBL 2.1 missing |
//! | S004 | element repeated more often than UBL 2.1 allows |
//! | S005 | value of the wrong type (amount, quantity, date, time, indicator) |
//! | S006 | leaf with children, or aggregate with a value |
//! | S007 | signature block in a 1.0/1.2 document |
//! | S008 | JSON key written more than once in one object |
//! | CF001 | mandatory MyInvois field missing |
//! | CF002 | value longer (or shorter) than allowed |
//! | CF003 | telephone form |
//! | CF004 | e-mail form |
//! | CF005 | TIN form |
//! | CF006 | general TIN (EI000...) used where it is not allowed |
//! | CF007 | SST registration form |
//! | CF008 | tourism tax (TTX) registration form |
//! | CF009 | state code 17 outside consolidated or foreign transactions |
//! | CF010 | issue date and time in the future |
//! | CF011 | issue date and time more than 72 hours ago |
//! | CF012 | unknown document version (`listVersionID`) |
//! | CF013 | signature missing in a 1.1/1.3 document |
//! | CF014 | Malaysian postal code form |
//! | CF015 | tax scheme must be `OTH` (`UN/ECE 5153`, agency `6`) |
//! | CF016 | tax exemption (`E`) without exemption reason |
//! | CF017 | date must be `YYYY-MM-DD`; issue time `HH:MM:SSZ` |
//! | CF018 | signature without its signing time (`xades:SigningTime`) |
//! | C000 | code table not loaded: membership not checked (info) |
//! | C001 | code not in its code table |
//! | C002 | code of the wrong form (when its table is not loaded) |
//! | C003 | Malaysian state code (01-16) with a country other than MYS |
//! | A001 | line subtotal != unit price x quantity |
//! | A002 | line amount != subtotal - line discounts + line charges |
//! | A003 | line tax total != sum of its tax subtotals |
//! | A004 | tax amount != taxable amount x percent |
//! | A005 | LineExtensionAmount != sum of line amounts |
//! | A006 | TaxExclusiveAmount != LineExtensionAmount - AllowanceTotalAmount + ChargeTotalAmount |
//! | A007 | AllowanceTotalAmount / ChargeTotalAmount != sum of document allowances / charges |
//! | A008 | document tax total != sum of its tax subtotals |
//! | A009 | TaxInclusiveAmount != TaxExclusiveAmount + tax total |
//! | A010 | PayableAmount != TaxInclusiveAmount - prepaid + rounding |
//! | A011 | amount not a decimal number |
//! | CUR001 | TaxExchangeRate missing for a non-MYR document |
//! | CUR002 | TaxExchangeRate inconsistent (source, target, rate) |
//! | CUR003 | `currencyID` differs from the document (or tax) currency |
//! | R001 | note without a reference to its original |
//! | R002 | reference without UUID or internal ID |
//! | R003 | reference UUID not of the LHDN form (26 letters and digits) |
//! | R004 | self-billed note referencing a normal original, or the reverse |
//! | R005 | referenced original unknown or not valid |
//!
//! Arithmetic uses decimals and allows one sen (0.01) of rounding difference.
//!
//! **LHDN's codes.** Where LHDN publishes a code for the rule a finding breaks
//! (`invois_api::validator_errors`), the finding carries it in [`Finding::lhdn_code`] and
//! LHDN's text, placeholders filled, in [`Finding::lhdn_message`]: CF013 is DS301, CF018
//! DS303, C001 CV302, C003 CV316, CUR003 DC501 (tax amounts) or DC502, CF002 on a supplier or
//! buyer address line CF345/CF346, CF001 on the currency CF378, CF008 on the supplier CF407,
//! CF006 for the foreign-buyer TIN as supplier ERR208, R005 on an original that is not valid
//! DR303, and S002 the Structure page's `Invalid child element` (whose code LHDN prints as
//! `null`). [`Finding::validator`] says which of LHDN's validators reports a finding.
//!
//! **Dated rules.** A rule of [`crate::rules::RULES`] that is not yet in force in the
//! context's environment on the context's day is reported as a warning saying from when it
//! applies, so nothing is refused before MyInvois refuses it, and nothing comes as a surprise
//! after.

mod arithmetic;
mod fields;
mod path;
mod refs;
mod structure;

pub use arithmetic::TOLERANCE;
pub use fields::{
    FOREIGN_BUYER_TIN, FOREIGN_SUPPLIER_TIN, GENERAL_PUBLIC_TIN, GOVERNMENT_TIN, email_ok,
    phone_ok, sst_ok, tin_ok, ttx_ok,
};
pub use refs::uuid_ok;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use invois_api::validator_errors::{PublishedError, Validator};

use crate::codes::{CodeTables, DocumentType};
use crate::document::Document;
use crate::rules::{Environment, Rule};
use crate::schema::{self, Child};
use crate::tree::Element;

use self::path::Path;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// MyInvois would reject the document.
    Error,
    /// Likely a mistake, or a rule MyInvois is not documented to enforce.
    Warning,
    /// Something the validation could not check.
    Info,
}

/// Which validator a finding belongs to (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Shape of the document (synchronous rejection at submission).
    Structure,
    /// Mandatory fields and their forms.
    CoreFields,
    /// Code-table membership.
    Codes,
    /// The mathematical mappings.
    Arithmetic,
    /// Currency and exchange rate.
    Currency,
    /// References to original documents.
    References,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Structure => "structure",
            Category::CoreFields => "core-fields",
            Category::Codes => "codes",
            Category::Arithmetic => "arithmetic",
            Category::Currency => "currency",
            Category::References => "references",
        })
    }
}

/// One problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable code (see the module documentation).
    pub code: &'static str,
    /// Validator.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Where, as a JSON path into the MyInvois JSON form (`$.Invoice[0].ID[0]`).
    pub json_path: String,
    /// Where, as an XPath into the XML form (`/Invoice/cbc:ID`).
    pub xpath: String,
    /// The rule, in plain English.
    pub rule: String,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// LHDN's published code for this rule (`invois_api::validator_errors`), when it has one.
    pub lhdn_code: Option<&'static str>,
    /// LHDN's text for this rule with its placeholders filled, when LHDN publishes one
    /// (also for the Structure page's row, whose code is `null`).
    pub lhdn_message: Option<String>,
}

impl Finding {
    /// Marks the finding as the rule LHDN publishes as `published`, its text filled with
    /// `args`.
    pub(crate) fn published(&mut self, published: &PublishedError, args: &[&str]) -> &mut Self {
        self.lhdn_code = published.code;
        self.lhdn_message = Some(published.message(args));
        self
    }

    /// Downgrades the finding to a warning when `rule` is not in force in the context's
    /// environment on its day, saying from when it is.
    pub(crate) fn dated(&mut self, rule: Rule, ctx: &ValidationContext) -> &mut Self {
        if !ctx.in_force(rule) {
            let row = crate::rules::rule(rule);
            let from = row
                .from_in(ctx.environment)
                .map_or_else(|| "a date not announced yet".to_owned(), |d| d.to_string());
            self.severity = Severity::Warning;
            self.rule = format!(
                "{} (not refused yet: MyInvois {} applies this from {from}, {})",
                self.rule, ctx.environment, row.source
            );
        }
        self
    }

    /// The LHDN validator that reports this finding: the one whose page lists its LHDN code,
    /// else the one of its category. The issue-time window is the Taxpayer validator's
    /// (LHDN's FAQ names it there), a missing signature the Signature validator's.
    pub fn validator(&self) -> Validator {
        if let Some(p) = self
            .lhdn_code
            .and_then(invois_api::validator_errors::published_error)
        {
            return p.validator;
        }
        match (self.category, self.code) {
            (_, "CF010" | "CF011") => Validator::Taxpayer,
            (_, "CF013" | "CF018") => Validator::Signature,
            (Category::Structure, _) => Validator::Structure,
            (Category::CoreFields | Category::Arithmetic, _) => Validator::CoreFields,
            (Category::Codes, _) => Validator::Code,
            (Category::Currency, _) => Validator::Currency,
            (Category::References, _) => Validator::ReferencedDocuments,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} [{}] {}: {}",
            self.severity, self.code, self.category, self.xpath, self.rule
        )?;
        if let Some(v) = &self.value {
            write!(f, " (value: {v:?})")?;
        }
        if let Some(code) = self.lhdn_code {
            write!(f, " [LHDN {code}]")?;
        }
        Ok(())
    }
}

/// All findings of one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Findings in document order within each validator.
    pub findings: Vec<Finding>,
}

impl Report {
    /// No error-severity finding.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The error-severity findings.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The findings of one category.
    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.category == category)
    }

    /// Whether any finding has this code.
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// The findings with this code.
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code == code)
    }
}

/// What validation knows about an original document referenced by a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferencedDocument {
    /// Its type.
    pub document_type: DocumentType,
    /// Its current status: only a `Valid` original may be referenced.
    pub status: DocumentStatus,
}

/// Looks up originals by LHDN uuid (the sandbox implements it over its store).
pub trait ReferenceLookup: Send + Sync {
    /// The original with this uuid, if known.
    fn lookup(&self, uuid: &str) -> Option<ReferencedDocument>;
}

/// What validation may depend on besides the document: the time and the environment (which
/// decide the dated rules in force), the loaded code tables, and optionally a way to look up
/// referenced originals.
#[derive(Clone)]
pub struct ValidationContext {
    /// "Now" for the 72-hour and future checks and for the dated rules (injectable for tests
    /// and the sandbox clock).
    pub now: DateTime<Utc>,
    /// Which MyInvois the document is for: LHDN's sandbox applies new rules before
    /// production.
    pub environment: Environment,
    /// Loaded large code tables; an empty set means membership is not checked.
    pub codes: Arc<CodeTables>,
    /// Originals lookup for reference checks R004/R005; `None` skips them.
    pub references: Option<Arc<dyn ReferenceLookup>>,
}

impl fmt::Debug for ValidationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidationContext")
            .field("now", &self.now)
            .field("environment", &self.environment)
            .field("codes", &self.codes)
            .field("references", &self.references.is_some())
            .finish()
    }
}

impl ValidationContext {
    /// A context at `now` in production, with no large code table and no reference lookup.
    pub fn at(now: DateTime<Utc>) -> Self {
        ValidationContext {
            now,
            environment: Environment::Production,
            codes: Arc::new(CodeTables::empty()),
            references: None,
        }
    }

    /// For this environment.
    pub fn in_environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Whether a dated rule applies in this environment at this time.
    pub fn in_force(&self, rule: Rule) -> bool {
        crate::rules::in_force(rule, self.environment, self.now)
    }

    /// With these code tables.
    pub fn with_codes(mut self, codes: Arc<CodeTables>) -> Self {
        self.codes = codes;
        self
    }

    /// With a reference lookup.
    pub fn with_references(mut self, lookup: Arc<dyn ReferenceLookup>) -> Self {
        self.references = Some(lookup);
        self
    }
}

/// Validates a document: structure, core fields, codes, arithmetic, currency, references.
pub fn validate(doc: &Document, ctx: &ValidationContext) -> Report {
    let mut out = Findings::default();
    let root = Node::root(doc.root());
    structure::check(doc, &root, ctx, &mut out);
    fields::check(doc, &root, ctx, &mut out);
    arithmetic::check(&root, &mut out);
    refs::check_currency(doc, &root, ctx, &mut out);
    refs::check_references(doc, &root, ctx, &mut out);
    out.finish_skipped();
    Report { findings: out.list }
}

/// Only the [`Category::Structure`] findings: what the submission step refuses synchronously.
/// The same findings as [`validate`] reports for that category, without the cost of the
/// other categories (the sandbox runs it on every submitted document). `ctx` decides the
/// dated structure rules (date and number forms).
pub fn validate_structure(doc: &Document, ctx: &ValidationContext) -> Report {
    let mut out = Findings::default();
    let root = Node::root(doc.root());
    structure::check(doc, &root, ctx, &mut out);
    Report { findings: out.list }
}

/// The `S008` findings alone: JSON keys written more than once in one object.
pub(crate) fn duplicate_keys(doc: &Document) -> Vec<Finding> {
    let mut out = Findings::default();
    structure::duplicate_keys(doc, &Node::root(doc.root()), &mut out);
    out.list
}

/// Collects findings; remembers code tables whose membership checks were skipped.
#[derive(Default)]
pub(crate) struct Findings {
    list: Vec<Finding>,
    skipped: Vec<(crate::codes::Table, usize)>,
}

impl Findings {
    pub(crate) fn push(
        &mut self,
        code: &'static str,
        category: Category,
        severity: Severity,
        at: &Node<'_>,
        rule: impl Into<String>,
        value: Option<&str>,
    ) {
        self.push_mut(code, category, severity, at, rule, value);
    }

    /// [`Findings::push`], returning the finding to mark it [`Finding::published`] or
    /// [`Finding::dated`].
    pub(crate) fn push_mut(
        &mut self,
        code: &'static str,
        category: Category,
        severity: Severity,
        at: &Node<'_>,
        rule: impl Into<String>,
        value: Option<&str>,
    ) -> &mut Finding {
        self.list.push(Finding {
            code,
            category,
            severity,
            json_path: at.json(),
            xpath: at.xpath(),
            rule: rule.into(),
            value: value.map(str::to_owned),
            lhdn_code: None,
            lhdn_message: None,
        });
        let last = self.list.len() - 1;
        &mut self.list[last]
    }

    /// An error at a node, with the node's own value.
    pub(crate) fn error(
        &mut self,
        code: &'static str,
        category: Category,
        at: &Node<'_>,
        rule: impl Into<String>,
    ) {
        self.error_mut(code, category, at, rule);
    }

    /// [`Findings::error`], returning the finding.
    pub(crate) fn error_mut(
        &mut self,
        code: &'static str,
        category: Category,
        at: &Node<'_>,
        rule: impl Into<String>,
    ) -> &mut Finding {
        let value = at.text().map(str::to_owned);
        self.push_mut(code, category, Severity::Error, at, rule, value.as_deref())
    }

    pub(crate) fn skipped(&mut self, table: crate::codes::Table) {
        match self.skipped.iter_mut().find(|(t, _)| *t == table) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((table, 1)),
        }
    }

    fn finish_skipped(&mut self) {
        for (table, n) in std::mem::take(&mut self.skipped) {
            self.list.push(Finding {
                code: "C000",
                category: Category::Codes,
                severity: Severity::Info,
                json_path: "$".to_owned(),
                xpath: "/Invoice".to_owned(),
                rule: format!(
                    "code table `{}` ({}) is not loaded: membership of {n} code(s) was not checked, only their form (run `invois codes sync` or `invois codes import DIR`)",
                    table.name(),
                    table.file_name()
                ),
                value: None,
                lhdn_code: None,
                lhdn_message: None,
            });
        }
    }
}

/// An element with its place in the document (JSON path and XPath, rendered on demand: see
/// [`Path`]) and (when modelled) UBL type.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    pub(crate) el: &'a Element,
    pub(crate) path: Path<'a>,
    pub(crate) type_name: Option<&'static str>,
}

impl<'a> Node<'a> {
    fn root(el: &'a Element) -> Self {
        Node {
            el,
            path: Path::root(&el.name),
            type_name: Some("Invoice"),
        }
    }

    /// Where the node is, as a JSON path into the MyInvois JSON form.
    pub(crate) fn json(&self) -> String {
        self.path.json()
    }

    /// Where the node is, as an XPath into the XML form.
    pub(crate) fn xpath(&self) -> String {
        self.path.xpath()
    }

    fn prefix_for(&self, name: &str) -> &'static str {
        match self
            .type_name
            .and_then(|t| schema::slot(t, name))
            .map(|s| s.entry.1)
        {
            Some(Child::L(_)) => "cbc",
            Some(Child::X) => "ext",
            Some(_) => "cac",
            None => "cbc",
        }
    }

    fn child_node(&self, el: &'a Element, index: usize, of: usize) -> Node<'a> {
        Node {
            el,
            path: self.path.child(&el.name, el.ns.xpath_prefix(), index, of),
            type_name: self.type_name.and_then(|t| schema::child_type(t, &el.name)),
        }
    }

    /// All children named `name`.
    pub(crate) fn kids(&self, name: &str) -> Vec<Node<'a>> {
        let named = || self.el.children.iter().filter(|c| c.name == name);
        self.numbered(named(), named().count())
    }

    /// The nodes of one run of equally named children, when the run is all of them
    /// ([`Element::child_runs`]).
    pub(crate) fn run_nodes(&self, run: &'a [Element]) -> Vec<Node<'a>> {
        self.numbered(run.iter(), run.len())
    }

    /// Nodes for `of` equally named children, each with its place among them.
    fn numbered(&self, els: impl Iterator<Item = &'a Element>, of: usize) -> Vec<Node<'a>> {
        els.enumerate()
            .map(|(i, e)| self.child_node(e, i, of))
            .collect()
    }

    /// The first child named `name`; only its node is made (validation asks for one child
    /// far more often than for all of them).
    pub(crate) fn kid(&self, name: &str) -> Option<Node<'a>> {
        let mut named = self.el.children.iter().filter(|c| c.name == name);
        let first = named.next()?;
        Some(self.child_node(first, 0, 1 + named.count()))
    }

    /// The node at a path of names (first match each step).
    pub(crate) fn at(&self, path: &[&str]) -> Option<Node<'a>> {
        let mut n = self.clone();
        for name in path {
            n = n.kid(name)?;
        }
        Some(n)
    }

    /// A node standing for the missing child `name`, or a missing path `A/B` (for "missing"
    /// findings): paths without indexes, prefixes from the schema.
    pub(crate) fn missing(&self, name: &str) -> Node<'a> {
        let mut node = self.clone();
        for part in name.split('/') {
            node = Node {
                el: self.el,
                path: node.path.missing(part, node.prefix_for(part)),
                type_name: node.type_name.and_then(|t| schema::child_type(t, part)),
            };
        }
        node
    }

    /// A node standing for attribute `name` of this element.
    pub(crate) fn attr_node(&self, name: &str) -> Node<'a> {
        Node {
            el: self.el,
            path: self.path.attribute(name),
            type_name: None,
        }
    }

    pub(crate) fn text(&self) -> Option<&'a str> {
        self.el.text()
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&'a str> {
        self.el.attr_value(name)
    }

    /// Children of every element of the given name at this path (all matches at each step).
    pub(crate) fn all(&self, path: &[&str]) -> Vec<Node<'a>> {
        let mut level = vec![self.clone()];
        for name in path {
            level = level.iter().flat_map(|n| n.kids(name)).collect();
        }
        level
    }
}

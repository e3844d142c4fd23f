//! Code tables (§8). LHDN's 9 tables are data the binary embeds ([`CodeTables::embedded`]),
//! generated from LHDN's JSON files into `crates/invois-model/data/codes/` (one
//! `code<TAB>description` file per table). Regenerate them from the workspace root with:
//!
//! ```text
//! cargo run -p invois-model --example generate-code-tables -- "$INVOIS_LHDN_SAMPLES/../codes"
//! ```
//!
//! A code directory (`invois codes sync|import`) holding a newer official file replaces that
//! table ([`CodeTables::overlay_dir`]). Typed enums that code matches on ([`DocumentType`]) stay
//! Rust; a test checks that they agree with the data.

mod data;
mod load;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use data::{REGENERATE_COMMAND, data_file_name, generate, render_tsv};
pub use load::import_dir;

/// The 8 e-invoice types (`cbc:InvoiceTypeCode`, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocumentType {
    /// `01`
    Invoice,
    /// `02`
    CreditNote,
    /// `03`
    DebitNote,
    /// `04`
    RefundNote,
    /// `11`
    SelfBilledInvoice,
    /// `12`
    SelfBilledCreditNote,
    /// `13`
    SelfBilledDebitNote,
    /// `14`
    SelfBilledRefundNote,
}

impl DocumentType {
    /// All 8, in code order.
    pub const ALL: [DocumentType; 8] = [
        DocumentType::Invoice,
        DocumentType::CreditNote,
        DocumentType::DebitNote,
        DocumentType::RefundNote,
        DocumentType::SelfBilledInvoice,
        DocumentType::SelfBilledCreditNote,
        DocumentType::SelfBilledDebitNote,
        DocumentType::SelfBilledRefundNote,
    ];

    /// The code (`01`).
    pub fn code(self) -> &'static str {
        match self {
            DocumentType::Invoice => "01",
            DocumentType::CreditNote => "02",
            DocumentType::DebitNote => "03",
            DocumentType::RefundNote => "04",
            DocumentType::SelfBilledInvoice => "11",
            DocumentType::SelfBilledCreditNote => "12",
            DocumentType::SelfBilledDebitNote => "13",
            DocumentType::SelfBilledRefundNote => "14",
        }
    }

    /// The official description (`EInvoiceTypes.json`, embedded).
    pub fn description(self) -> &'static str {
        data::EMBEDDED
            .get(Table::DocumentTypes, self.code())
            // The unit test `document_types_agree_with_the_data` keeps this branch unreachable.
            .unwrap_or(self.code())
    }

    /// Issued by the buyer (`11`-`14`).
    pub fn is_self_billed(self) -> bool {
        matches!(
            self,
            DocumentType::SelfBilledInvoice
                | DocumentType::SelfBilledCreditNote
                | DocumentType::SelfBilledDebitNote
                | DocumentType::SelfBilledRefundNote
        )
    }

    /// A credit, debit or refund note, which must reference its original(s).
    pub fn is_note(self) -> bool {
        !matches!(
            self,
            DocumentType::Invoice | DocumentType::SelfBilledInvoice
        )
    }
}

impl FromStr for DocumentType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentType::ALL
            .into_iter()
            .find(|t| t.code() == s)
            .ok_or_else(|| format!("`{s}` is not an e-invoice type code (01-04, 11-14)"))
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Document versions (`@listVersionID`).
pub const VERSIONS: [&str; 4] = ["1.0", "1.1", "1.2", "1.3"];

/// A document's issue date and time may be at most this old when it is validated (CF011) or
/// submitted (the Taxpayer validator's TP004); MyInvois' other windows are in
/// `invois_api::windows`.
pub const ISSUE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(72);

/// Whether a version requires a signature (1.1 and 1.3).
pub fn version_is_signed(version: &str) -> bool {
    matches!(version, "1.1" | "1.3")
}

/// Party identification schemes besides `TIN`: one of these is mandatory, with its max length.
pub const ID_TYPES: [(&str, usize); 4] =
    [("NRIC", 12), ("BRN", 20), ("PASSPORT", 12), ("ARMY", 12)];

/// Every code table, small and large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// e-Invoice types.
    DocumentTypes,
    /// Tax types.
    TaxTypes,
    /// States.
    States,
    /// Payment modes.
    PaymentModes,
    /// Classification codes.
    Classifications,
    /// MSIC 2008 sub-categories.
    Msic,
    /// Units of measure, UN/ECE Rec 20 + 21.
    Units,
    /// Countries, ISO 3166-1 alpha-3.
    Countries,
    /// Currencies, ISO 4217.
    Currencies,
}

impl Table {
    /// All tables.
    pub const ALL: [Table; 9] = [
        Table::DocumentTypes,
        Table::TaxTypes,
        Table::States,
        Table::PaymentModes,
        Table::Classifications,
        Table::Msic,
        Table::Units,
        Table::Countries,
        Table::Currencies,
    ];

    /// The short name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Table::DocumentTypes => "types",
            Table::TaxTypes => "tax",
            Table::States => "states",
            Table::PaymentModes => "payment",
            Table::Classifications => "class",
            Table::Msic => "msic",
            Table::Units => "units",
            Table::Countries => "countries",
            Table::Currencies => "currencies",
        }
    }

    /// The official file name (§8).
    pub fn file_name(self) -> &'static str {
        match self {
            Table::DocumentTypes => "EInvoiceTypes.json",
            Table::TaxTypes => "TaxTypes.json",
            Table::States => "StateCodes.json",
            Table::PaymentModes => "PaymentMethods.json",
            Table::Classifications => "ClassificationCodes.json",
            Table::Msic => "MSICSubCategoryCodes.json",
            Table::Units => "UnitTypes.json",
            Table::Countries => "CountryCodes.json",
            Table::Currencies => "CurrencyCodes.json",
        }
    }

    /// Whether validation can do without the table, checking its codes for form only (MSIC,
    /// units, countries, currencies; see [`CodeTables::empty`]). The small tables are always
    /// there, as their codes have no form to fall back on.
    pub fn is_large(self) -> bool {
        matches!(
            self,
            Table::Msic | Table::Units | Table::Countries | Table::Currencies
        )
    }
}

impl FromStr for Table {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.to_ascii_lowercase();
        Table::ALL
            .into_iter()
            .find(|t| t.name() == s || t.file_name().to_ascii_lowercase() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Table::ALL.iter().map(|t| t.name()).collect();
                format!("unknown code table `{s}` (one of: {})", names.join(", "))
            })
    }
}

/// The rows of one table (code -> description), shared between copies of a [`CodeTables`].
type Rows = BTreeMap<String, String>;

/// The code tables validation checks against (code -> description per table). A table that is
/// absent is not loaded: validation then checks only the form of its codes and says so.
///
/// Cloning is cheap: the rows are shared, so every command and test can start from
/// [`CodeTables::embedded`] without copying its 3,800 rows.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CodeTables {
    tables: BTreeMap<Table, Arc<Rows>>,
}

impl fmt::Debug for CodeTables {
    // Row counts, not rows: the context of every validation prints this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.tables.iter().map(|(t, rows)| (t.name(), rows.len())))
            .finish()
    }
}

impl CodeTables {
    /// All 9 official tables, as generated into `crates/invois-model/data/codes/` and compiled
    /// in. Parsed on the first call only.
    pub fn embedded() -> Self {
        data::EMBEDDED.clone()
    }

    /// The small tables only (embedded): the large ones are not loaded, so validation checks
    /// their codes for form only and says so (`C000`/`C002`).
    pub fn empty() -> Self {
        let mut tables = CodeTables::default();
        for (table, rows) in &data::EMBEDDED.tables {
            if !table.is_large() {
                tables.insert_shared(*table, Arc::clone(rows));
            }
        }
        tables
    }

    /// The embedded tables, each replaced by the code directory's when `dir` holds its official
    /// file (as `invois codes sync|import` write them). A missing directory replaces nothing.
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, crate::CodesError> {
        let mut tables = CodeTables::embedded();
        tables.overlay_dir(dir)?;
        Ok(tables)
    }

    /// Replaces, table by table, the tables whose official file is in `dir`; returns the tables
    /// replaced (none when `dir` does not exist). A broken file is an error and changes nothing.
    pub fn overlay_dir(&mut self, dir: &std::path::Path) -> Result<Vec<Table>, crate::CodesError> {
        load::overlay_dir(self, dir)
    }

    /// Reads one official code-table JSON file's content.
    pub fn parse_table(bytes: &[u8], origin: &str) -> Result<Rows, crate::CodesError> {
        load::parse_table(bytes, origin)
    }

    /// Sets a table's rows.
    pub fn insert(&mut self, table: Table, rows: Rows) {
        self.insert_shared(table, Arc::new(rows));
    }

    fn insert_shared(&mut self, table: Table, rows: Arc<Rows>) {
        self.tables.insert(table, rows);
    }

    /// Whether a table is loaded.
    pub fn is_loaded(&self, table: Table) -> bool {
        self.tables.contains_key(&table)
    }

    /// The number of codes in `table`; `None` when it is not loaded.
    pub fn count(&self, table: Table) -> Option<usize> {
        self.tables.get(&table).map(|rows| rows.len())
    }

    /// Whether `code` is in `table`; `None` when the table is not loaded.
    pub fn contains(&self, table: Table, code: &str) -> Option<bool> {
        self.tables.get(&table).map(|rows| rows.contains_key(code))
    }

    /// The description of `code` in `table`.
    pub fn get(&self, table: Table, code: &str) -> Option<&str> {
        self.tables.get(&table)?.get(code).map(String::as_str)
    }

    /// The rows of `table` whose code or description contains `query` (case-insensitive);
    /// `None` when the table is not loaded.
    pub fn search(&self, table: Table, query: Option<&str>) -> Option<Vec<(String, String)>> {
        let q = query.map(str::to_lowercase);
        Some(
            self.tables
                .get(&table)?
                .iter()
                .filter(|(c, d)| {
                    q.as_ref().is_none_or(|q| {
                        c.to_lowercase().contains(q) || d.to_lowercase().contains(q)
                    })
                })
                .map(|(c, d)| (c.clone(), d.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_types_agree_with_the_data() {
        let embedded = CodeTables::embedded();
        let from_enum: Rows = DocumentType::ALL
            .iter()
            .map(|t| (t.code().to_owned(), t.description().to_owned()))
            .collect();
        let rows: Rows = embedded
            .search(Table::DocumentTypes, None)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(from_enum, rows);
        // `description` falls back to the code: make sure it did not.
        assert_eq!(
            DocumentType::SelfBilledRefundNote.description(),
            "Self-billed Refund Note"
        );
        for t in DocumentType::ALL {
            assert_eq!(t.code().parse::<DocumentType>(), Ok(t));
        }
    }

    #[test]
    fn empty_keeps_the_small_tables_only() {
        let empty = CodeTables::empty();
        for table in Table::ALL {
            assert_eq!(
                empty.is_loaded(table),
                !table.is_large(),
                "{}",
                table.name()
            );
        }
        assert_eq!(empty.contains(Table::States, "99"), Some(false));
        assert_eq!(empty.contains(Table::Msic, "46510"), None);
    }

    #[test]
    fn debug_prints_counts_not_rows() {
        let text = format!("{:?}", CodeTables::embedded());
        assert!(text.contains("\"msic\": 1174"), "{text}");
        assert!(!text.contains("MALAYSIA"), "{text}");
    }
}

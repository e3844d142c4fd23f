//! Code tables (§8). The small tables are facts written here as Rust; the large ones (MSIC,
//! units, countries, currencies) are loaded from a code directory ([`CodeTables`]).

mod load;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use load::{LARGE_TABLE_FILES, import_dir};

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

    /// The official description.
    pub fn description(self) -> &'static str {
        match self {
            DocumentType::Invoice => "Invoice",
            DocumentType::CreditNote => "Credit Note",
            DocumentType::DebitNote => "Debit Note",
            DocumentType::RefundNote => "Refund Note",
            DocumentType::SelfBilledInvoice => "Self-billed Invoice",
            DocumentType::SelfBilledCreditNote => "Self-billed Credit Note",
            DocumentType::SelfBilledDebitNote => "Self-billed Debit Note",
            DocumentType::SelfBilledRefundNote => "Self-billed Refund Note",
        }
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

/// Whether a version requires a signature (1.1 and 1.3).
pub fn version_is_signed(version: &str) -> bool {
    matches!(version, "1.1" | "1.3")
}

/// Party identification schemes besides `TIN`: one of these is mandatory, with its max length.
pub const ID_TYPES: [(&str, usize); 4] =
    [("NRIC", 12), ("BRN", 20), ("PASSPORT", 12), ("ARMY", 12)];

/// Tax types (`TaxCategory/cbc:ID`).
pub const TAX_TYPES: &[(&str, &str)] = &[
    ("01", "Sales Tax"),
    ("02", "Service Tax"),
    ("03", "Tourism Tax"),
    ("04", "High-Value Goods Tax"),
    ("05", "Sales Tax on Low Value Goods"),
    ("06", "Not Applicable"),
    ("E", "Tax exemption (where applicable)"),
];

/// State codes (`cbc:CountrySubentityCode`). `17` is only for consolidated e-invoices and
/// foreign transactions.
pub const STATES: &[(&str, &str)] = &[
    ("01", "Johor"),
    ("02", "Kedah"),
    ("03", "Kelantan"),
    ("04", "Melaka"),
    ("05", "Negeri Sembilan"),
    ("06", "Pahang"),
    ("07", "Pulau Pinang"),
    ("08", "Perak"),
    ("09", "Perlis"),
    ("10", "Selangor"),
    ("11", "Terengganu"),
    ("12", "Sabah"),
    ("13", "Sarawak"),
    ("14", "Wilayah Persekutuan Kuala Lumpur"),
    ("15", "Wilayah Persekutuan Labuan"),
    ("16", "Wilayah Persekutuan Putrajaya"),
    ("17", "Not Applicable"),
];

/// Payment modes (`cac:PaymentMeans/cbc:PaymentMeansCode`).
pub const PAYMENT_MODES: &[(&str, &str)] = &[
    ("01", "Cash"),
    ("02", "Cheque"),
    ("03", "Bank Transfer"),
    ("04", "Credit Card"),
    ("05", "Debit Card"),
    ("06", "e-Wallet / Digital Wallet"),
    ("07", "Digital Bank"),
    ("08", "Others"),
];

/// Classification codes (`cac:CommodityClassification/cbc:ItemClassificationCode[@listID=CLASS]`).
pub const CLASSIFICATIONS: &[(&str, &str)] = &[
    ("001", "Breastfeeding equipment"),
    ("002", "Child care centres and kindergartens fees"),
    ("003", "Computer, smartphone or tablet"),
    ("004", "Consolidated e-Invoice"),
    (
        "005",
        "Construction materials (as specified under Fourth Schedule of the Lembaga Pembangunan Industri Pembinaan Malaysia Act 1994)",
    ),
    ("006", "Disbursement"),
    ("007", "Donation"),
    ("008", "e-Commerce - e-Invoice to buyer / purchaser"),
    (
        "009",
        "e-Commerce - Self-billed e-Invoice to seller, logistics, etc.",
    ),
    ("010", "Education fees"),
    ("011", "Goods on consignment (Consignor)"),
    ("012", "Goods on consignment (Consignee)"),
    ("013", "Gym membership"),
    ("014", "Insurance - Education and medical benefits"),
    ("015", "Insurance - Takaful or life insurance"),
    ("016", "Interest and financing expenses"),
    ("017", "Internet subscription"),
    ("018", "Land and building"),
    (
        "019",
        "Medical examination for learning disabilities and early intervention or rehabilitation treatments of learning disabilities",
    ),
    ("020", "Medical examination or vaccination expenses"),
    ("021", "Medical expenses for serious diseases"),
    ("022", "Others"),
    (
        "023",
        "Petroleum operations (as defined in Petroleum (Income Tax) Act 1967)",
    ),
    (
        "024",
        "Private retirement scheme or deferred annuity scheme",
    ),
    ("025", "Motor vehicle"),
    (
        "026",
        "Subscription of books / journals / magazines / newspapers / other similar publications",
    ),
    ("027", "Reimbursement"),
    ("028", "Rental of motor vehicle"),
    (
        "029",
        "EV charging facilities (Installation, rental, sale / purchase or subscription fees)",
    ),
    ("030", "Repair and maintenance"),
    ("031", "Research and development"),
    ("032", "Foreign income"),
    ("033", "Self-billed - Betting and gaming"),
    ("034", "Self-billed - Importation of goods"),
    ("035", "Self-billed - Importation of services"),
    ("036", "Self-billed - Others"),
    (
        "037",
        "Self-billed - Monetary payment to agents, dealers or distributors",
    ),
    (
        "038",
        "Sports equipment, rental / entry fees for sports facilities, registration in sports competition or sports training fees imposed by associations / sports clubs / companies registered with the Sports Commissioner or Companies Commission of Malaysia and carrying out sports activities as listed under the Sports Development Act 1997",
    ),
    ("039", "Supporting equipment for disabled person"),
    ("040", "Voluntary contribution to approved provident fund"),
    ("041", "Dental examination or treatment"),
    ("042", "Fertility treatment"),
    (
        "043",
        "Treatment and home care nursing, daycare centres and residential care centers",
    ),
    ("044", "Vouchers, gift cards, loyalty points, etc"),
    (
        "045",
        "Self-billed - Non-monetary payment to agents, dealers or distributors",
    ),
];

/// Every code table, small and large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// e-Invoice types (Rust facts).
    DocumentTypes,
    /// Tax types (Rust facts).
    TaxTypes,
    /// States (Rust facts).
    States,
    /// Payment modes (Rust facts).
    PaymentModes,
    /// Classification codes (Rust facts).
    Classifications,
    /// MSIC 2008 sub-categories (loaded).
    Msic,
    /// Units of measure, UN/ECE Rec 20 + 21 (loaded).
    Units,
    /// Countries, ISO 3166-1 alpha-3 (loaded).
    Countries,
    /// Currencies, ISO 4217 (loaded).
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

    /// Whether the table is loaded from a code directory rather than built in.
    pub fn is_large(self) -> bool {
        matches!(
            self,
            Table::Msic | Table::Units | Table::Countries | Table::Currencies
        )
    }

    /// The built-in rows of a small table (empty for large tables).
    pub fn builtin(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Table::DocumentTypes => DocumentType::ALL
                .iter()
                .map(|t| (t.code(), t.description()))
                .collect(),
            Table::TaxTypes => TAX_TYPES.to_vec(),
            Table::States => STATES.to_vec(),
            Table::PaymentModes => PAYMENT_MODES.to_vec(),
            Table::Classifications => CLASSIFICATIONS.to_vec(),
            _ => Vec::new(),
        }
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

/// Whether a code is in a built-in table. `None` for large tables.
pub fn builtin_contains(table: Table, code: &str) -> Option<bool> {
    (!table.is_large()).then(|| table.builtin().iter().any(|(c, _)| *c == code))
}

/// The large code tables that were loaded (code -> description). A table that is absent is not
/// loaded: validation then checks only the format of its codes and says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeTables {
    tables: BTreeMap<Table, BTreeMap<String, String>>,
}

impl CodeTables {
    /// No table loaded.
    pub fn empty() -> Self {
        CodeTables::default()
    }

    /// Loads the large tables present in a code directory (see [`LARGE_TABLE_FILES`]).
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, crate::CodesError> {
        load::load_dir(dir)
    }

    /// Reads one official code-table JSON file's content.
    pub fn parse_table(
        bytes: &[u8],
        origin: &str,
    ) -> Result<BTreeMap<String, String>, crate::CodesError> {
        load::parse_table(bytes, origin)
    }

    /// Sets a table's rows.
    pub fn insert(&mut self, table: Table, rows: BTreeMap<String, String>) {
        self.tables.insert(table, rows);
    }

    /// Whether a large table is loaded (small tables always are).
    pub fn is_loaded(&self, table: Table) -> bool {
        !table.is_large() || self.tables.contains_key(&table)
    }

    /// Whether `code` is in `table`; `None` when the table is not loaded.
    pub fn contains(&self, table: Table, code: &str) -> Option<bool> {
        if !table.is_large() {
            return builtin_contains(table, code);
        }
        self.tables.get(&table).map(|rows| rows.contains_key(code))
    }

    /// The rows of `table` whose code or description contains `query` (case-insensitive);
    /// `None` when a large table is not loaded.
    pub fn search(&self, table: Table, query: Option<&str>) -> Option<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = if table.is_large() {
            self.tables
                .get(&table)?
                .iter()
                .map(|(c, d)| (c.clone(), d.clone()))
                .collect()
        } else {
            table
                .builtin()
                .into_iter()
                .map(|(c, d)| (c.to_owned(), d.to_owned()))
                .collect()
        };
        let q = query.map(str::to_lowercase);
        Some(
            rows.into_iter()
                .filter(|(c, d)| {
                    q.as_ref().is_none_or(|q| {
                        c.to_lowercase().contains(q) || d.to_lowercase().contains(q)
                    })
                })
                .collect(),
        )
    }
}

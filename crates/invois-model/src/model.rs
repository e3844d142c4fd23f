//! A typed model of the 8 document types and builders that make a valid document in a few lines.
//! Money and quantities are [`Decimal`]s. Totals, line subtotals and taxes are computed by
//! [`InvoiceBuilder::build`], so a built document satisfies the mathematical mappings.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use invois_model::model::{Address, Invoice, Line, Party};
//! use invois_model::{DocumentType, ValidationContext, validate};
//! use rust_decimal::Decimal;
//!
//! let now = Utc.with_ymd_and_hms(2026, 1, 15, 8, 0, 0).unwrap();
//! let address = Address::new("Lot 66, Jalan Perniagaan", "Kuala Lumpur", "14", "MYS").postal_zone("50480");
//! let invoice = Invoice::builder(DocumentType::Invoice, "INV-0001", now)
//!     .supplier(Party::new("Supplier Sdn Bhd", "C2584563200", "BRN", "202001234567", address.clone(), "+60123456789").msic("46510", "Wholesale of computer hardware"))
//!     .buyer(Party::new("Buyer Sdn Bhd", "C2584563210", "BRN", "202001234568", address, "+60123456780"))
//!     .line(Line::new("022", "Laptop", Decimal::new(2, 0), "C62", Decimal::new(150000, 2)).tax_percent("02", Decimal::new(8, 0)))
//!     .build()
//!     .unwrap();
//! let doc = invoice.to_document();
//! assert!(validate(&doc, &ValidationContext::at(now)).is_valid());
//! assert_eq!(doc.totals().payable, Some(Decimal::new(324000, 2)));
//! ```

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::codes::DocumentType;
use crate::document::Document;
use crate::tree::{Element, Ns, Value};

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Address lines (1 to 3, each at most 150 characters).
    pub lines: Vec<String>,
    /// Postal code.
    pub postal_zone: Option<String>,
    /// City.
    pub city: String,
    /// State code (`01`-`17`).
    pub state: String,
    /// Country, ISO 3166-1 alpha-3.
    pub country: String,
}

impl Address {
    /// An address with one line.
    pub fn new(
        line: impl Into<String>,
        city: impl Into<String>,
        state: impl Into<String>,
        country: impl Into<String>,
    ) -> Self {
        Address {
            lines: vec![line.into()],
            postal_zone: None,
            city: city.into(),
            state: state.into(),
            country: country.into(),
        }
    }
    /// With a postal code.
    pub fn postal_zone(mut self, zone: impl Into<String>) -> Self {
        self.postal_zone = Some(zone.into());
        self
    }
    /// With another address line.
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }
}

/// A supplier, buyer or delivery recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Registration name.
    pub name: String,
    /// TIN.
    pub tin: String,
    /// `NRIC`, `BRN`, `PASSPORT` or `ARMY`.
    pub id_scheme: String,
    /// The number in that scheme.
    pub id: String,
    /// SST registration (`NA` when not registered).
    pub sst: Option<String>,
    /// Tourism tax registration.
    pub ttx: Option<String>,
    /// MSIC code and business activity description (supplier).
    pub msic: Option<(String, String)>,
    /// CertEX registration (supplier, `AdditionalAccountID`).
    pub certex: Option<String>,
    /// Address.
    pub address: Address,
    /// Contact number.
    pub phone: String,
    /// E-mail.
    pub email: Option<String>,
}

impl Party {
    /// A party with the mandatory fields.
    pub fn new(
        name: impl Into<String>,
        tin: impl Into<String>,
        id_scheme: impl Into<String>,
        id: impl Into<String>,
        address: Address,
        phone: impl Into<String>,
    ) -> Self {
        Party {
            name: name.into(),
            tin: tin.into(),
            id_scheme: id_scheme.into(),
            id: id.into(),
            sst: None,
            ttx: None,
            msic: None,
            certex: None,
            address,
            phone: phone.into(),
            email: None,
        }
    }
    /// With an MSIC code and activity description.
    pub fn msic(mut self, code: impl Into<String>, description: impl Into<String>) -> Self {
        self.msic = Some((code.into(), description.into()));
        self
    }
    /// With an SST registration.
    pub fn sst(mut self, sst: impl Into<String>) -> Self {
        self.sst = Some(sst.into());
        self
    }
    /// With a tourism tax registration.
    pub fn ttx(mut self, ttx: impl Into<String>) -> Self {
        self.ttx = Some(ttx.into());
        self
    }
    /// With an e-mail address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

/// A discount (`charge == false`) or a fee (`charge == true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowanceCharge {
    /// Fee (true) or discount (false).
    pub charge: bool,
    /// Reason.
    pub reason: String,
    /// Amount.
    pub amount: Decimal,
}

/// One tax on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTax {
    /// Tax type (`01`-`06`, `E`).
    pub tax_type: String,
    /// Percentage rate (percentage taxes).
    pub percent: Option<Decimal>,
    /// Fixed amount per unit with its unit (fixed-rate taxes).
    pub per_unit: Option<(Decimal, String)>,
    /// Exemption reason (tax type `E`).
    pub exemption_reason: Option<String>,
    /// The tax as already charged, written as is instead of being computed from the rate:
    /// a consolidated line sums receipts whose tax was rounded receipt by receipt, and must
    /// declare what was collected, not a recomputation.
    pub amount: Option<Decimal>,
}

/// An invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Classification code (`CLASS`, 3 digits).
    pub classification: String,
    /// Description.
    pub description: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit of measure (UN/ECE Rec 20).
    pub unit: String,
    /// Unit price.
    pub unit_price: Decimal,
    /// Line discounts and charges.
    pub allowance_charges: Vec<AllowanceCharge>,
    /// Taxes (at least one; `06` Not Applicable at 0 % if none is given).
    pub taxes: Vec<LineTax>,
    /// Country of origin.
    pub origin_country: Option<String>,
    /// Tariff code (`PTC`).
    pub tariff: Option<String>,
}

impl Line {
    /// A line with the mandatory fields.
    pub fn new(
        classification: impl Into<String>,
        description: impl Into<String>,
        quantity: Decimal,
        unit: impl Into<String>,
        unit_price: Decimal,
    ) -> Self {
        Line {
            classification: classification.into(),
            description: description.into(),
            quantity,
            unit: unit.into(),
            unit_price,
            allowance_charges: Vec::new(),
            taxes: Vec::new(),
            origin_country: None,
            tariff: None,
        }
    }
    /// With a percentage tax.
    pub fn tax_percent(mut self, tax_type: impl Into<String>, percent: Decimal) -> Self {
        self.taxes.push(LineTax {
            tax_type: tax_type.into(),
            percent: Some(percent),
            per_unit: None,
            exemption_reason: None,
            amount: None,
        });
        self
    }
    /// With a fixed tax per unit.
    pub fn tax_per_unit(mut self, tax_type: impl Into<String>, amount: Decimal) -> Self {
        let unit = self.unit.clone();
        self.taxes.push(LineTax {
            tax_type: tax_type.into(),
            percent: None,
            per_unit: Some((amount, unit)),
            exemption_reason: None,
            amount: None,
        });
        self
    }
    /// With a percentage tax whose amount was already charged (see [`LineTax::amount`]).
    pub fn tax_percent_charged(
        mut self,
        tax_type: impl Into<String>,
        percent: Decimal,
        amount: Decimal,
    ) -> Self {
        self.taxes.push(LineTax {
            tax_type: tax_type.into(),
            percent: Some(percent),
            per_unit: None,
            exemption_reason: None,
            amount: Some(amount),
        });
        self
    }
    /// Exempt from tax, with the reason.
    pub fn exempt(mut self, reason: impl Into<String>) -> Self {
        self.taxes.push(LineTax {
            tax_type: "E".to_owned(),
            percent: Some(Decimal::ZERO),
            per_unit: None,
            exemption_reason: Some(reason.into()),
            amount: None,
        });
        self
    }
    /// With a discount.
    pub fn discount(mut self, reason: impl Into<String>, amount: Decimal) -> Self {
        self.allowance_charges.push(AllowanceCharge {
            charge: false,
            reason: reason.into(),
            amount,
        });
        self
    }
    /// With a charge.
    pub fn charge(mut self, reason: impl Into<String>, amount: Decimal) -> Self {
        self.allowance_charges.push(AllowanceCharge {
            charge: true,
            reason: reason.into(),
            amount,
        });
        self
    }
}

/// A reference to an original document (notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRef {
    /// LHDN uuid.
    pub uuid: String,
    /// Internal number.
    pub id: String,
}

/// Payment information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Payment mode (`01`-`08`).
    pub mode: String,
    /// Payee bank account.
    pub account: Option<String>,
    /// Payment terms.
    pub terms: Option<String>,
}

/// A prepayment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepayment {
    /// Reference.
    pub id: String,
    /// Amount paid.
    pub amount: Decimal,
    /// When.
    pub paid_at: DateTime<Utc>,
}

/// Billing period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Start date `YYYY-MM-DD`.
    pub start: String,
    /// End date `YYYY-MM-DD`.
    pub end: String,
    /// Frequency (`Monthly`...).
    pub description: String,
}

/// Delivery (shipping recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The recipient.
    pub recipient: Party,
    /// Freight charge or discount, if any.
    pub freight: Option<AllowanceCharge>,
}

/// Additional document references (customs, FTA, K2, Incoterms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalReference {
    /// Reference number.
    pub id: String,
    /// `CustomsImportForm`, `FreeTradeAgreement`, `K2`, or `None` for Incoterms.
    pub document_type: Option<String>,
    /// Description (FTA).
    pub description: Option<String>,
}

/// Any of the 8 document types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Type.
    pub document_type: DocumentType,
    /// Version `1.0`-`1.3`.
    pub version: String,
    /// Internal number.
    pub id: String,
    /// Issue date and time (UTC).
    pub issued_at: DateTime<Utc>,
    /// Document currency.
    pub currency: String,
    /// Tax currency (MYR when the document currency is foreign).
    pub tax_currency: Option<String>,
    /// Exchange rate to MYR (required when the currency is not MYR).
    pub exchange_rate: Option<Decimal>,
    /// Billing period.
    pub period: Option<Period>,
    /// Originals (notes).
    pub originals: Vec<OriginalRef>,
    /// Bill reference number.
    pub bill_reference: Option<String>,
    /// Customs, FTA, K2, Incoterms.
    pub additional_references: Vec<AdditionalReference>,
    /// Supplier.
    pub supplier: Party,
    /// Buyer.
    pub buyer: Party,
    /// Delivery.
    pub delivery: Option<Delivery>,
    /// Payment.
    pub payment: Option<Payment>,
    /// Prepayment.
    pub prepayment: Option<Prepayment>,
    /// Document-level discounts and charges.
    pub allowance_charges: Vec<AllowanceCharge>,
    /// Rounding added to the payable amount.
    pub rounding: Option<Decimal>,
    /// Lines.
    pub lines: Vec<Line>,
}

/// Why a builder could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A mandatory part was not given.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A note without a reference to its original.
    #[error("a {0} must reference its original document (reference)")]
    NoOriginal(&'static str),
    /// Unknown version.
    #[error("version {0} is not 1.0, 1.1, 1.2 or 1.3")]
    Version(String),
}

/// Builds an [`Invoice`].
#[derive(Debug, Clone)]
pub struct InvoiceBuilder {
    inner: Invoice,
    supplier: Option<Party>,
    buyer: Option<Party>,
}

impl Invoice {
    /// Starts a document of `document_type` (version 1.0, MYR).
    pub fn builder(
        document_type: DocumentType,
        id: impl Into<String>,
        issued_at: DateTime<Utc>,
    ) -> InvoiceBuilder {
        let placeholder = Party::new("", "", "", "", Address::new("", "", "", ""), "");
        InvoiceBuilder {
            inner: Invoice {
                document_type,
                version: "1.0".to_owned(),
                id: id.into(),
                issued_at,
                currency: "MYR".to_owned(),
                tax_currency: None,
                exchange_rate: None,
                period: None,
                originals: Vec::new(),
                bill_reference: None,
                additional_references: Vec::new(),
                supplier: placeholder.clone(),
                buyer: placeholder,
                delivery: None,
                payment: None,
                prepayment: None,
                allowance_charges: Vec::new(),
                rounding: None,
                lines: Vec::new(),
            },
            supplier: None,
            buyer: None,
        }
    }
}

impl InvoiceBuilder {
    /// Version (`1.0` default; `1.1`/`1.3` documents must then be signed).
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.inner.version = v.into();
        self
    }
    /// The supplier.
    pub fn supplier(mut self, p: Party) -> Self {
        self.supplier = Some(p);
        self
    }
    /// The buyer.
    pub fn buyer(mut self, p: Party) -> Self {
        self.buyer = Some(p);
        self
    }
    /// Adds a line.
    pub fn line(mut self, l: Line) -> Self {
        self.inner.lines.push(l);
        self
    }
    /// A foreign currency with its exchange rate to MYR.
    pub fn currency(mut self, code: impl Into<String>, rate_to_myr: Decimal) -> Self {
        self.inner.currency = code.into();
        self.inner.tax_currency = Some("MYR".to_owned());
        self.inner.exchange_rate = Some(rate_to_myr);
        self
    }
    /// References an original (notes).
    pub fn original(mut self, uuid: impl Into<String>, id: impl Into<String>) -> Self {
        self.inner.originals.push(OriginalRef {
            uuid: uuid.into(),
            id: id.into(),
        });
        self
    }
    /// The billing period.
    pub fn period(mut self, p: Period) -> Self {
        self.inner.period = Some(p);
        self
    }
    /// The bill reference number.
    pub fn bill_reference(mut self, r: impl Into<String>) -> Self {
        self.inner.bill_reference = Some(r.into());
        self
    }
    /// Adds an additional document reference.
    pub fn additional_reference(mut self, r: AdditionalReference) -> Self {
        self.inner.additional_references.push(r);
        self
    }
    /// Delivery information.
    pub fn delivery(mut self, d: Delivery) -> Self {
        self.inner.delivery = Some(d);
        self
    }
    /// Payment information.
    pub fn payment(mut self, p: Payment) -> Self {
        self.inner.payment = Some(p);
        self
    }
    /// A prepayment.
    pub fn prepayment(mut self, p: Prepayment) -> Self {
        self.inner.prepayment = Some(p);
        self
    }
    /// A document-level discount.
    pub fn discount(mut self, reason: impl Into<String>, amount: Decimal) -> Self {
        self.inner.allowance_charges.push(AllowanceCharge {
            charge: false,
            reason: reason.into(),
            amount,
        });
        self
    }
    /// A document-level charge.
    pub fn charge(mut self, reason: impl Into<String>, amount: Decimal) -> Self {
        self.inner.allowance_charges.push(AllowanceCharge {
            charge: true,
            reason: reason.into(),
            amount,
        });
        self
    }
    /// Rounding added to the payable amount.
    pub fn rounding(mut self, amount: Decimal) -> Self {
        self.inner.rounding = Some(amount);
        self
    }
    /// The document, or what is missing.
    pub fn build(self) -> Result<Invoice, BuildError> {
        let mut inv = self.inner;
        inv.supplier = self.supplier.ok_or(BuildError::Missing("the supplier"))?;
        inv.buyer = self.buyer.ok_or(BuildError::Missing("the buyer"))?;
        if inv.lines.is_empty() {
            return Err(BuildError::Missing("at least one line"));
        }
        if !crate::codes::VERSIONS.contains(&inv.version.as_str()) {
            return Err(BuildError::Version(inv.version));
        }
        if inv.document_type.is_note() && inv.originals.is_empty() {
            return Err(BuildError::NoOriginal(inv.document_type.description()));
        }
        Ok(inv)
    }
}

// ---- writing the tree ----

fn money(d: Decimal) -> String {
    format!(
        "{:.2}",
        d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    )
}

fn number(d: Decimal) -> String {
    d.normalize().to_string()
}

fn leaf(name: &str, text: impl Into<String>) -> Element {
    Element::cbc(name, text)
}

fn num_leaf(name: &str, text: String) -> Element {
    let mut e = Element::new(Ns::Cbc, name);
    e.value = Some(Value::number(text));
    e
}

fn amount(name: &str, d: Decimal, currency: &str) -> Element {
    num_leaf(name, money(d)).attr("currencyID", currency)
}

fn agg(name: &str, children: Vec<Element>) -> Element {
    Element::cac(name, children)
}

fn party_id(scheme: &str, value: &str) -> Element {
    agg(
        "PartyIdentification",
        vec![leaf("ID", value).attr("schemeID", scheme)],
    )
}

fn address(a: &Address, name: &str) -> Element {
    let mut c = vec![leaf("CityName", &a.city)];
    if let Some(z) = &a.postal_zone {
        c.push(leaf("PostalZone", z));
    }
    c.push(leaf("CountrySubentityCode", &a.state));
    for l in &a.lines {
        c.push(agg("AddressLine", vec![leaf("Line", l)]));
    }
    c.push(agg(
        "Country",
        vec![
            leaf("IdentificationCode", &a.country)
                .attr("listID", "ISO3166-1")
                .attr("listAgencyID", "6"),
        ],
    ));
    agg(name, c)
}

fn party(p: &Party, supplier: bool) -> Element {
    let mut c = Vec::new();
    if let Some((code, desc)) = p.msic.as_ref().filter(|_| supplier) {
        c.push(leaf("IndustryClassificationCode", code).attr("name", desc));
    }
    c.push(party_id("TIN", &p.tin));
    c.push(party_id(&p.id_scheme, &p.id));
    c.push(party_id("SST", p.sst.as_deref().unwrap_or("NA")));
    c.push(party_id("TTX", p.ttx.as_deref().unwrap_or("NA")));
    c.push(address(&p.address, "PostalAddress"));
    c.push(agg(
        "PartyLegalEntity",
        vec![leaf("RegistrationName", &p.name)],
    ));
    let mut contact = vec![leaf("Telephone", &p.phone)];
    if let Some(e) = &p.email {
        contact.push(leaf("ElectronicMail", e));
    }
    c.push(agg("Contact", contact));
    agg("Party", c)
}

fn allowance_charge(a: &AllowanceCharge, currency: &str, name: &str) -> Element {
    let mut ind = Element::new(Ns::Cbc, "ChargeIndicator");
    ind.value = Some(Value::boolean(a.charge));
    agg(
        name,
        vec![
            ind,
            leaf("AllowanceChargeReason", &a.reason),
            amount("Amount", a.amount, currency),
        ],
    )
}

fn tax_scheme() -> Element {
    agg(
        "TaxScheme",
        vec![
            leaf("ID", "OTH")
                .attr("schemeID", "UN/ECE 5153")
                .attr("schemeAgencyID", "6"),
        ],
    )
}

/// The computed amounts of a line.
struct LineAmounts {
    subtotal: Decimal,
    net: Decimal,
    taxes: Vec<(Decimal, Decimal)>, // (taxable, tax) per LineTax
}

fn compute(line: &Line) -> LineAmounts {
    let subtotal = line.unit_price * line.quantity;
    let net = line.allowance_charges.iter().fold(subtotal, |acc, a| {
        if a.charge {
            acc + a.amount
        } else {
            acc - a.amount
        }
    });
    let taxes = line
        .taxes
        .iter()
        .map(|t| {
            let tax = match (&t.percent, &t.per_unit) {
                _ if t.amount.is_some() => t.amount.unwrap_or_default(),
                (_, Some((per, _))) => *per * line.quantity,
                (Some(p), None) if t.tax_type != "E" => net * *p / Decimal::ONE_HUNDRED,
                _ => Decimal::ZERO,
            };
            // Rounded by the caller, after conversion to the tax currency.
            (net, tax)
        })
        .collect();
    LineAmounts {
        subtotal,
        net,
        taxes,
    }
}

fn default_tax() -> LineTax {
    LineTax {
        tax_type: "06".to_owned(),
        percent: Some(Decimal::ZERO),
        per_unit: None,
        exemption_reason: None,
        amount: None,
    }
}

fn subtotal_el(
    t: &LineTax,
    taxable: Decimal,
    tax: Decimal,
    currency: &str,
    tax_currency: &str,
    qty: Option<Decimal>,
) -> Element {
    let mut c = vec![
        amount("TaxableAmount", taxable, currency),
        amount("TaxAmount", tax, tax_currency),
    ];
    if let (Some((per, unit)), Some(q)) = (&t.per_unit, qty) {
        c.push(num_leaf("BaseUnitMeasure", number(q)).attr("unitCode", unit));
        c.push(amount("PerUnitAmount", *per, currency));
    } else if let Some(p) = t.percent {
        c.push(num_leaf("Percent", number(p)));
    }
    let mut cat = vec![leaf("ID", &t.tax_type)];
    if let Some(r) = &t.exemption_reason {
        cat.push(leaf("TaxExemptionReason", r));
    }
    cat.push(tax_scheme());
    c.push(agg("TaxCategory", cat));
    agg("TaxSubtotal", c)
}

/// The currencies a document's amounts are written in.
struct Currencies<'a> {
    /// The document currency: every amount but the tax amounts.
    doc: &'a str,
    /// The tax currency: tax amounts are stated in MYR for foreign-currency documents (as the
    /// official sample), converted at `rate`.
    tax: &'a str,
    rate: Decimal,
}

impl Currencies<'_> {
    /// An amount in the document currency, in the tax currency (unrounded).
    fn to_tax(&self, d: Decimal) -> Decimal {
        if self.tax != self.doc {
            d * self.rate
        } else {
            d
        }
    }
}

/// Tax per distinct tax (type, rate, exemption reason): the tax, its taxable amount in the
/// document currency and its tax amount in the tax currency, in order of first appearance.
type TaxesByType = Vec<(LineTax, Decimal, Decimal)>;

/// The invoice lines as elements, with what the document-level totals need from them.
#[derive(Default)]
struct Lines {
    elements: Vec<Element>,
    /// The sum of the lines' net amounts.
    total: Decimal,
    by_type: TaxesByType,
}

impl Invoice {
    /// The document tree (UBL order, standard namespaces).
    pub fn to_document(&self) -> Document {
        let cur = self.currency.as_str();
        let currencies = Currencies {
            doc: cur,
            tax: self.tax_currency.as_deref().unwrap_or(cur),
            rate: self.exchange_rate.unwrap_or(Decimal::ONE),
        };
        let mut root = Element::new(Ns::Invoice, "Invoice");
        let c = &mut root.children;
        self.push_header(c);
        self.push_references(c);
        self.push_parties(c);
        self.push_payment(c);
        // Lines are computed first because the document totals come from them, but written
        // last, after the totals, as UBL orders them.
        let lines = self.invoice_lines(&currencies);
        let (tax_total, total_tax) = tax_total(&lines.by_type, &currencies);
        c.push(tax_total);
        c.push(self.legal_monetary_total(lines.total, total_tax, &currencies));
        c.extend(lines.elements);
        Document::from_root(root)
    }

    /// ID, dates, type and version, currencies and the invoice period.
    fn push_header(&self, c: &mut Vec<Element>) {
        c.push(leaf("ID", &self.id));
        c.push(leaf(
            "IssueDate",
            self.issued_at.format("%Y-%m-%d").to_string(),
        ));
        c.push(leaf(
            "IssueTime",
            self.issued_at.format("%H:%M:%SZ").to_string(),
        ));
        c.push(
            leaf("InvoiceTypeCode", self.document_type.code()).attr("listVersionID", &self.version),
        );
        c.push(leaf("DocumentCurrencyCode", &self.currency));
        if let Some(t) = &self.tax_currency {
            c.push(leaf("TaxCurrencyCode", t));
        }
        if let Some(p) = &self.period {
            c.push(agg(
                "InvoicePeriod",
                vec![
                    leaf("StartDate", &p.start),
                    leaf("EndDate", &p.end),
                    leaf("Description", &p.description),
                ],
            ));
        }
    }

    /// The originals a note refers to, the bill reference and the additional references.
    fn push_references(&self, c: &mut Vec<Element>) {
        for o in &self.originals {
            c.push(agg(
                "BillingReference",
                vec![agg(
                    "InvoiceDocumentReference",
                    vec![leaf("ID", &o.id), leaf("UUID", &o.uuid)],
                )],
            ));
        }
        if let Some(b) = &self.bill_reference {
            c.push(agg(
                "BillingReference",
                vec![agg("AdditionalDocumentReference", vec![leaf("ID", b)])],
            ));
        }
        for r in &self.additional_references {
            let mut e = vec![leaf("ID", &r.id)];
            if let Some(t) = &r.document_type {
                e.push(leaf("DocumentType", t));
            }
            if let Some(d) = &r.description {
                e.push(leaf("DocumentDescription", d));
            }
            c.push(agg("AdditionalDocumentReference", e));
        }
    }

    /// Supplier, buyer and delivery (recipient and freight).
    fn push_parties(&self, c: &mut Vec<Element>) {
        let mut supplier = vec![party(&self.supplier, true)];
        if let Some(x) = &self.supplier.certex {
            supplier.insert(
                0,
                leaf("AdditionalAccountID", x).attr("schemeAgencyName", "CertEX"),
            );
        }
        c.push(agg("AccountingSupplierParty", supplier));
        c.push(agg(
            "AccountingCustomerParty",
            vec![party(&self.buyer, false)],
        ));
        if let Some(d) = &self.delivery {
            let p = &d.recipient;
            let mut e = vec![agg(
                "DeliveryParty",
                vec![
                    party_id("TIN", &p.tin),
                    party_id(&p.id_scheme, &p.id),
                    address(&p.address, "PostalAddress"),
                    agg("PartyLegalEntity", vec![leaf("RegistrationName", &p.name)]),
                ],
            )];
            if let Some(f) = &d.freight {
                e.push(agg(
                    "Shipment",
                    vec![
                        leaf("ID", "1"),
                        allowance_charge(f, &self.currency, "FreightAllowanceCharge"),
                    ],
                ));
            }
            c.push(agg("Delivery", e));
        }
    }

    /// Payment means and terms, prepayment, document-level allowances and charges, and the
    /// exchange rate of a foreign-currency document.
    fn push_payment(&self, c: &mut Vec<Element>) {
        let cur = self.currency.as_str();
        if let Some(p) = &self.payment {
            let mut e = vec![leaf("PaymentMeansCode", &p.mode)];
            if let Some(a) = &p.account {
                e.push(agg("PayeeFinancialAccount", vec![leaf("ID", a)]));
            }
            c.push(agg("PaymentMeans", e));
            if let Some(t) = &p.terms {
                c.push(agg("PaymentTerms", vec![leaf("Note", t)]));
            }
        }
        if let Some(p) = &self.prepayment {
            c.push(agg(
                "PrepaidPayment",
                vec![
                    leaf("ID", &p.id),
                    amount("PaidAmount", p.amount, cur),
                    leaf("PaidDate", p.paid_at.format("%Y-%m-%d").to_string()),
                    leaf("PaidTime", p.paid_at.format("%H:%M:%SZ").to_string()),
                ],
            ));
        }
        for a in &self.allowance_charges {
            c.push(allowance_charge(a, cur, "AllowanceCharge"));
        }
        if let (Some(r), true) = (self.exchange_rate, cur != "MYR") {
            c.push(agg(
                "TaxExchangeRate",
                vec![
                    leaf("SourceCurrencyCode", cur),
                    leaf("TargetCurrencyCode", "MYR"),
                    num_leaf("CalculationRate", number(r)),
                ],
            ));
        }
    }

    /// Every `InvoiceLine`, with the net total and the taxes by type they add up to.
    fn invoice_lines(&self, currencies: &Currencies<'_>) -> Lines {
        let mut lines = Lines::default();
        for (i, l) in self.lines.iter().enumerate() {
            let a = compute(l);
            lines.total += a.net;
            let tax_total = line_tax_total(l, &a, currencies, &mut lines.by_type);
            lines
                .elements
                .push(invoice_line(i, l, &a, currencies.doc, tax_total));
        }
        lines
    }

    /// `LegalMonetaryTotal`, from the lines' net total and the tax total (in the tax
    /// currency).
    fn legal_monetary_total(
        &self,
        line_total: Decimal,
        total_tax: Decimal,
        currencies: &Currencies<'_>,
    ) -> Element {
        let cur = currencies.doc;
        let allow: Decimal = self
            .allowance_charges
            .iter()
            .filter(|a| !a.charge)
            .map(|a| a.amount)
            .sum();
        let charge: Decimal = self
            .allowance_charges
            .iter()
            .filter(|a| a.charge)
            .map(|a| a.amount)
            .sum();
        let exclusive = line_total - allow + charge;
        // Tax is in the tax currency; the inclusive total is in the document currency.
        let tax_doc = if currencies.tax != cur && currencies.rate != Decimal::ZERO {
            (total_tax / currencies.rate).round_dp(2)
        } else {
            total_tax
        };
        let inclusive = exclusive + tax_doc;
        let prepaid = self.prepayment.as_ref().map_or(Decimal::ZERO, |p| p.amount);
        let rounding = self.rounding.unwrap_or(Decimal::ZERO);
        let mut lmt = vec![
            amount("LineExtensionAmount", line_total, cur),
            amount("TaxExclusiveAmount", exclusive, cur),
            amount("TaxInclusiveAmount", inclusive, cur),
        ];
        if !self.allowance_charges.is_empty() {
            lmt.push(amount("AllowanceTotalAmount", allow, cur));
            lmt.push(amount("ChargeTotalAmount", charge, cur));
        }
        if let Some(r) = self.rounding {
            lmt.push(amount("PayableRoundingAmount", r, cur));
        }
        lmt.push(amount("PayableAmount", inclusive - prepaid + rounding, cur));
        agg("LegalMonetaryTotal", lmt)
    }
}

/// A line's `TaxTotal`: one subtotal per tax (tax type 06 at 0% when the line has none), each
/// tax converted to the tax currency and rounded there; each is also added to `by_type`.
fn line_tax_total(
    l: &Line,
    a: &LineAmounts,
    currencies: &Currencies<'_>,
    by_type: &mut TaxesByType,
) -> Element {
    let default = [default_tax()];
    let taxes: &[LineTax] = if l.taxes.is_empty() {
        &default
    } else {
        &l.taxes
    };
    let amounts: Vec<(Decimal, Decimal)> = if l.taxes.is_empty() {
        vec![(a.net, Decimal::ZERO)]
    } else {
        a.taxes.clone()
    };
    let mut subs = Vec::new();
    let mut line_tax = Decimal::ZERO;
    for (t, (taxable, tax)) in taxes.iter().zip(&amounts) {
        let tax_in_tax_cur = currencies
            .to_tax(*tax)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        line_tax += tax_in_tax_cur;
        subs.push(subtotal_el(
            t,
            *taxable,
            tax_in_tax_cur,
            currencies.doc,
            currencies.tax,
            Some(l.quantity),
        ));
        add_by_type(by_type, t, *taxable, tax_in_tax_cur);
    }
    let mut tt = vec![amount("TaxAmount", line_tax, currencies.tax)];
    tt.extend(subs);
    agg("TaxTotal", tt)
}

/// Add one line tax to the subtotal of its type, rate and exemption reason.
fn add_by_type(by_type: &mut TaxesByType, t: &LineTax, taxable: Decimal, tax: Decimal) {
    match by_type.iter_mut().find(|(bt, _, _)| {
        bt.tax_type == t.tax_type
            && bt.percent == t.percent
            && bt.exemption_reason == t.exemption_reason
    }) {
        Some((_, tb, tx)) => {
            *tb += taxable;
            *tx += tax;
        }
        None => by_type.push((t.clone(), taxable, tax)),
    }
}

/// One `InvoiceLine` (numbered from 1), around its already built `TaxTotal`.
fn invoice_line(i: usize, l: &Line, a: &LineAmounts, cur: &str, tax_total: Element) -> Element {
    let mut e = vec![
        leaf("ID", (i + 1).to_string()),
        num_leaf("InvoicedQuantity", number(l.quantity)).attr("unitCode", &l.unit),
        amount("LineExtensionAmount", a.net, cur),
    ];
    for ac in &l.allowance_charges {
        e.push(allowance_charge(ac, cur, "AllowanceCharge"));
    }
    e.push(tax_total);
    let mut item = vec![leaf("Description", &l.description)];
    if let Some(o) = &l.origin_country {
        item.push(agg("OriginCountry", vec![leaf("IdentificationCode", o)]));
    }
    item.push(agg(
        "CommodityClassification",
        vec![leaf("ItemClassificationCode", &l.classification).attr("listID", "CLASS")],
    ));
    if let Some(t) = &l.tariff {
        item.push(agg(
            "CommodityClassification",
            vec![leaf("ItemClassificationCode", t).attr("listID", "PTC")],
        ));
    }
    e.push(agg("Item", item));
    e.push(agg("Price", vec![amount("PriceAmount", l.unit_price, cur)]));
    e.push(agg(
        "ItemPriceExtension",
        vec![amount("Amount", a.subtotal, cur)],
    ));
    agg("InvoiceLine", e)
}

/// The document `TaxTotal` (one subtotal per tax type, fixed-rate details dropped) and the
/// total tax, in the tax currency.
fn tax_total(by_type: &TaxesByType, currencies: &Currencies<'_>) -> (Element, Decimal) {
    let total_tax: Decimal = by_type.iter().map(|(_, _, t)| *t).sum();
    let mut tt = vec![amount("TaxAmount", total_tax, currencies.tax)];
    for (t, taxable, tax) in by_type {
        let mut t = t.clone();
        t.per_unit = None;
        tt.push(subtotal_el(
            &t,
            *taxable,
            *tax,
            currencies.doc,
            currencies.tax,
            None,
        ));
    }
    (agg("TaxTotal", tt), total_tax)
}

/// A filled, valid example document of a type (version `1.0` or `1.2` validate clean; `1.1`
/// and `1.3` need a signature before they do), with the internal id `<type>-0001` and, for a
/// note, a placeholder original. [`example_with`] chooses the ids.
pub fn example(
    document_type: DocumentType,
    version: &str,
    now: DateTime<Utc>,
) -> Result<Document, BuildError> {
    example_with(document_type, version, now, &ExampleIds::default())
}

/// The ids an [`example_with`] document carries; `None` keeps the fixed defaults of
/// [`example`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExampleIds {
    /// The document's internal id (`cbc:ID`); default `<type>-0001`.
    pub id: Option<String>,
    /// For a note: the original's internal id
    /// (`BillingReference/InvoiceDocumentReference/ID`); default `01-0001` (`11-0001` for a
    /// self-billed note).
    pub original_id: Option<String>,
    /// For a note: the original's LHDN uuid. When `original_id` is given without it, the
    /// uuid is left empty, for a gateway to fill from the original it stored (it cannot be
    /// known before MyInvois validated the original); otherwise a placeholder.
    pub original_uuid: Option<String>,
}

/// [`example`] with the internal id and (for a note) the original's ids chosen, so that
/// examples made one after another neither collide nor reference a made-up original. Used by
/// `invois new`.
pub fn example_with(
    document_type: DocumentType,
    version: &str,
    now: DateTime<Utc>,
    ids: &ExampleIds,
) -> Result<Document, BuildError> {
    let kl = Address::new("Lot 66, Bangunan Merdeka", "Kuala Lumpur", "14", "MYS")
        .postal_zone("50480")
        .line("Persiaran Jaya");
    let pj =
        Address::new("No. 8, Jalan Kenari 5", "Petaling Jaya", "10", "MYS").postal_zone("47100");
    // The sandbox's demo supplier and buyer (TIN and BRN), so that an example goes straight
    // through `invois gateway` or `invois submit` on the built-in sandbox.
    let supplier = Party::new(
        "Syarikat Pembekal Sdn. Bhd.",
        "C25845632020",
        "BRN",
        "202001234567",
        kl,
        "+60123456789",
    )
    .msic(
        "46510",
        "Wholesale of computer hardware, software and peripherals",
    )
    .sst("W10-1808-32000001")
    .email("billing@pembekal.example.my");
    let buyer = Party::new(
        "Pelanggan Bhd.",
        "C10987654320",
        "BRN",
        "201901234567",
        pj,
        "+60387654321",
    )
    .email("ap@pelanggan.example.my");
    let id = ids
        .id
        .clone()
        .unwrap_or_else(|| format!("{}-0001", document_type.code()));
    let mut b = Invoice::builder(document_type, id, now)
        .version(version)
        .supplier(supplier)
        .buyer(buyer)
        .line(
            Line::new(
                "003",
                "Laptop 14-inch",
                Decimal::new(2, 0),
                "C62",
                Decimal::new(350000, 2),
            )
            .tax_percent("01", Decimal::new(10, 0))
            .discount("Promotion", Decimal::new(10000, 2)),
        )
        .line(
            Line::new(
                "022",
                "Installation service",
                Decimal::new(3, 0),
                "HUR",
                Decimal::new(12000, 2),
            )
            .tax_percent("02", Decimal::new(8, 0)),
        )
        .payment(Payment {
            mode: "03".to_owned(),
            account: Some("1234567890123".to_owned()),
            terms: Some("Payment within 30 days".to_owned()),
        });
    if document_type.is_note() {
        let original_id = ids.original_id.clone().unwrap_or_else(|| {
            format!(
                "{}-0001",
                if document_type.is_self_billed() {
                    "11"
                } else {
                    "01"
                }
            )
        });
        let original_uuid = match (&ids.original_uuid, &ids.original_id) {
            (Some(uuid), _) => uuid.clone(),
            // A real original named by id: its uuid is whatever MyInvois gave it.
            (None, Some(_)) => String::new(),
            (None, None) => "F9D425P6DS7D8IU8ENCQEA5AQ1".to_owned(),
        };
        b = b.original(original_uuid, original_id);
    }
    Ok(b.build()?.to_document())
}

// ---- reading the tree ----

/// Why a document could not be read into the typed model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A field the typed model needs is absent.
    #[error("{0} is missing")]
    Missing(String),
    /// A field holds a value of the wrong form (number, date, code).
    #[error("{path}: `{value}` is not {expected}")]
    Invalid {
        /// Where.
        path: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

fn need<'a>(el: &'a Element, path: &[&str]) -> Result<&'a str, ReadError> {
    el.text_at(path)
        .ok_or_else(|| ReadError::Missing(path.join("/")))
}

fn opt(el: &Element, path: &[&str]) -> Option<String> {
    el.text_at(path).map(str::to_owned)
}

fn dec(el: &Element, path: &[&str]) -> Result<Decimal, ReadError> {
    let t = need(el, path)?;
    crate::document::decimal(Some(t)).ok_or_else(|| ReadError::Invalid {
        path: path.join("/"),
        value: t.to_owned(),
        expected: "a decimal number",
    })
}

fn opt_dec(el: &Element, path: &[&str]) -> Result<Option<Decimal>, ReadError> {
    if el.at(path).is_none() {
        Ok(None)
    } else {
        dec(el, path).map(Some)
    }
}

fn instant(el: &Element, date: &str, time: &str) -> Result<DateTime<Utc>, ReadError> {
    let (d, t) = (need(el, &[date])?, need(el, &[time])?);
    crate::document::parse_issue(d, t).ok_or_else(|| ReadError::Invalid {
        path: format!("{date}+{time}"),
        value: format!("{d} {t}"),
        expected: "a date YYYY-MM-DD and a time HH:MM:SSZ",
    })
}

fn read_address(a: &Element) -> Address {
    Address {
        lines: a
            .children_named("AddressLine")
            .filter_map(|l| l.text_at(&["Line"]))
            .map(str::to_owned)
            .collect(),
        postal_zone: opt(a, &["PostalZone"]),
        city: opt(a, &["CityName"]).unwrap_or_default(),
        state: opt(a, &["CountrySubentityCode"]).unwrap_or_default(),
        country: opt(a, &["Country", "IdentificationCode"]).unwrap_or_default(),
    }
}

fn read_party(p: &Element) -> Party {
    let id = |s: &str| crate::document::party_id(p, s).map(str::to_owned);
    let (id_scheme, id_value) = crate::codes::ID_TYPES
        .iter()
        .find_map(|(s, _)| id(s).map(|v| ((*s).to_owned(), v)))
        .unwrap_or_default();
    Party {
        name: opt(p, &["PartyLegalEntity", "RegistrationName"]).unwrap_or_default(),
        tin: id("TIN").unwrap_or_default(),
        id_scheme,
        id: id_value,
        sst: id("SST"),
        ttx: id("TTX"),
        msic: p.child("IndustryClassificationCode").map(|m| {
            (
                m.text().unwrap_or("").to_owned(),
                m.attr_value("name").unwrap_or("").to_owned(),
            )
        }),
        certex: None,
        address: p
            .child("PostalAddress")
            .map(read_address)
            .unwrap_or_else(|| Address::new("", "", "", "")),
        phone: opt(p, &["Contact", "Telephone"]).unwrap_or_default(),
        email: opt(p, &["Contact", "ElectronicMail"]),
    }
}

fn read_ac(a: &Element) -> Result<AllowanceCharge, ReadError> {
    Ok(AllowanceCharge {
        charge: a.text_at(&["ChargeIndicator"]) == Some("true"),
        reason: opt(a, &["AllowanceChargeReason"]).unwrap_or_default(),
        amount: dec(a, &["Amount"])?,
    })
}

fn read_line(l: &Element) -> Result<Line, ReadError> {
    let classes: Vec<&Element> = l
        .at(&["Item"])
        .map(|i| {
            i.children_named("CommodityClassification")
                .filter_map(|c| c.child("ItemClassificationCode"))
                .collect()
        })
        .unwrap_or_default();
    let class = |id: &str| {
        classes
            .iter()
            .find(|c| c.attr_value("listID") == Some(id))
            .and_then(|c| c.text())
            .map(str::to_owned)
    };
    let quantity_el = l.child("InvoicedQuantity");
    let mut taxes = Vec::new();
    for t in l
        .children_named("TaxTotal")
        .flat_map(|t| t.children_named("TaxSubtotal"))
    {
        let per_unit = match (t.child("PerUnitAmount"), t.child("BaseUnitMeasure")) {
            (Some(_), Some(m)) => Some((
                dec(t, &["PerUnitAmount"])?,
                m.attr_value("unitCode").unwrap_or("").to_owned(),
            )),
            _ => None,
        };
        taxes.push(LineTax {
            tax_type: opt(t, &["TaxCategory", "ID"]).unwrap_or_default(),
            percent: if per_unit.is_some() {
                None
            } else {
                opt_dec(t, &["Percent"])?.or(opt_dec(t, &["TaxCategory", "Percent"])?)
            },
            per_unit,
            exemption_reason: opt(t, &["TaxCategory", "TaxExemptionReason"]),
            amount: None,
        });
    }
    Ok(Line {
        classification: class("CLASS").unwrap_or_default(),
        description: opt(l, &["Item", "Description"]).unwrap_or_default(),
        quantity: if quantity_el.is_some() {
            dec(l, &["InvoicedQuantity"])?
        } else {
            Decimal::ONE
        },
        unit: quantity_el
            .and_then(|q| q.attr_value("unitCode"))
            .unwrap_or("")
            .to_owned(),
        unit_price: dec(l, &["Price", "PriceAmount"])?,
        allowance_charges: l
            .children_named("AllowanceCharge")
            .map(read_ac)
            .collect::<Result<_, _>>()?,
        taxes,
        origin_country: opt(l, &["Item", "OriginCountry", "IdentificationCode"]),
        tariff: class("PTC"),
    })
}

impl Invoice {
    /// Reads a document into the typed model. Computed amounts (totals, line subtotals and
    /// taxes) are not read: [`Invoice::to_document`] computes them again. Fields outside the
    /// model stay in the [`Document`] tree.
    pub fn from_document(doc: &Document) -> Result<Invoice, ReadError> {
        let r = doc.root();
        let code = need(r, &["InvoiceTypeCode"])?;
        let document_type = code.parse().map_err(|_| ReadError::Invalid {
            path: "InvoiceTypeCode".to_owned(),
            value: code.to_owned(),
            expected: "an e-invoice type code",
        })?;
        let supplier_el = r
            .at(&["AccountingSupplierParty", "Party"])
            .ok_or_else(|| ReadError::Missing("AccountingSupplierParty/Party".to_owned()))?;
        let buyer_el = r
            .at(&["AccountingCustomerParty", "Party"])
            .ok_or_else(|| ReadError::Missing("AccountingCustomerParty/Party".to_owned()))?;
        let mut supplier = read_party(supplier_el);
        supplier.certex = r
            .child("AccountingSupplierParty")
            .and_then(|s| opt(s, &["AdditionalAccountID"]));
        let payment = r.child("PaymentMeans").map(|p| Payment {
            mode: opt(p, &["PaymentMeansCode"]).unwrap_or_default(),
            account: opt(p, &["PayeeFinancialAccount", "ID"]),
            terms: opt(r, &["PaymentTerms", "Note"]),
        });
        let prepayment = match r.child("PrepaidPayment") {
            Some(p) => Some(Prepayment {
                id: opt(p, &["ID"]).unwrap_or_default(),
                amount: dec(p, &["PaidAmount"])?,
                paid_at: instant(p, "PaidDate", "PaidTime")?,
            }),
            None => None,
        };
        let delivery = match r.child("Delivery") {
            Some(d) => Some(Delivery {
                recipient: d
                    .child("DeliveryParty")
                    .map(read_party)
                    .ok_or_else(|| ReadError::Missing("Delivery/DeliveryParty".to_owned()))?,
                freight: d
                    .at(&["Shipment", "FreightAllowanceCharge"])
                    .map(read_ac)
                    .transpose()?,
            }),
            None => None,
        };
        Ok(Invoice {
            document_type,
            version: doc.version().unwrap_or("1.0").to_owned(),
            id: need(r, &["ID"])?.to_owned(),
            issued_at: instant(r, "IssueDate", "IssueTime")?,
            currency: need(r, &["DocumentCurrencyCode"])?.to_owned(),
            tax_currency: opt(r, &["TaxCurrencyCode"]),
            exchange_rate: opt_dec(r, &["TaxExchangeRate", "CalculationRate"])?,
            period: r.child("InvoicePeriod").map(|p| Period {
                start: opt(p, &["StartDate"]).unwrap_or_default(),
                end: opt(p, &["EndDate"]).unwrap_or_default(),
                description: opt(p, &["Description"]).unwrap_or_default(),
            }),
            originals: doc
                .billing_references()
                .into_iter()
                .map(|b| OriginalRef {
                    uuid: b.uuid.unwrap_or_default(),
                    id: b.id.unwrap_or_default(),
                })
                .collect(),
            bill_reference: r
                .children_named("BillingReference")
                .find_map(|b| b.text_at(&["AdditionalDocumentReference", "ID"]))
                .map(str::to_owned),
            additional_references: r
                .children_named("AdditionalDocumentReference")
                .map(|a| AdditionalReference {
                    id: opt(a, &["ID"]).unwrap_or_default(),
                    document_type: opt(a, &["DocumentType"]),
                    description: opt(a, &["DocumentDescription"]),
                })
                .collect(),
            supplier,
            buyer: read_party(buyer_el),
            delivery,
            payment,
            prepayment,
            allowance_charges: r
                .children_named("AllowanceCharge")
                .map(read_ac)
                .collect::<Result<_, _>>()?,
            rounding: opt_dec(r, &["LegalMonetaryTotal", "PayableRoundingAmount"])?,
            lines: r
                .children_named("InvoiceLine")
                .map(read_line)
                .collect::<Result<_, _>>()?,
        })
    }
}

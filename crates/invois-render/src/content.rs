//! What the copy shows, read once from the document and written as display strings, so the
//! HTML and the PDF cannot disagree about a single figure.
//!
//! Amounts are the ones in the validated document, never recomputed: the copy has to match
//! what MyInvois holds, even where a document's arithmetic is off by a sen.

use std::str::FromStr;

use invois_model::model::{Address, Invoice, Line, LineTax, Party};
use invois_model::tree::Element;
use invois_model::{CodeTables, Table};
use rust_decimal::Decimal;

use crate::format::{local_time, money, percent, price, quantity, rate};
use crate::{RenderError, Status, ValidatedDocument};

/// A label and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) label: &'static str,
    pub(crate) value: String,
}

fn field(label: &'static str, value: impl Into<String>) -> Field {
    Field {
        label,
        value: value.into(),
    }
}

/// The supplier or the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartyView {
    /// `Supplier` or `Buyer`.
    pub(crate) role: &'static str,
    pub(crate) name: String,
    /// TIN, registration or identity number, SST, tourism tax, MSIC.
    pub(crate) ids: Vec<Field>,
    pub(crate) address: Vec<String>,
    /// Telephone and e-mail.
    pub(crate) contact: Vec<Field>,
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineView {
    pub(crate) number: String,
    pub(crate) classification: String,
    pub(crate) description: String,
    /// Smaller text under the description: taxes by name, exemption, discount and charge
    /// reasons, origin, tariff code.
    pub(crate) notes: Vec<String>,
    pub(crate) quantity: String,
    pub(crate) unit_price: String,
    pub(crate) discount: String,
    pub(crate) tax_rate: String,
    pub(crate) tax_amount: String,
    pub(crate) excluding_tax: String,
    pub(crate) including_tax: String,
}

/// One row of the tax summary (per tax type, as the document totals them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaxView {
    pub(crate) tax_type: String,
    pub(crate) rate: String,
    pub(crate) taxable: String,
    pub(crate) amount: String,
    pub(crate) exemption: Option<String>,
}

/// One row of the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TotalRow {
    pub(crate) label: &'static str,
    /// The amount's own currency: the document's, or MYR for a tax stated in ringgit.
    pub(crate) currency: String,
    pub(crate) amount: String,
    /// The amount the buyer pays, set apart.
    pub(crate) strong: bool,
}

/// What MyInvois gave the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidationView {
    pub(crate) uuid: String,
    pub(crate) validated: String,
    pub(crate) link: String,
}

/// Everything the copy prints, in display form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    /// The type in capitals: `INVOICE`, `CREDIT NOTE`.
    pub(crate) title: String,
    /// Type code and name, and version: `01 Invoice, version 1.0`.
    pub(crate) kind: String,
    /// The header fields: number, UUID, issue time, original references.
    pub(crate) header: Vec<Field>,
    pub(crate) supplier: PartyView,
    pub(crate) buyer: PartyView,
    /// Currency, exchange rate, period, payment, references, delivery.
    pub(crate) terms: Vec<Field>,
    pub(crate) lines: Vec<LineView>,
    pub(crate) taxes: Vec<TaxView>,
    pub(crate) totals: Vec<TotalRow>,
    /// The document currency (amounts are in it).
    pub(crate) currency: String,
    pub(crate) validation: ValidationView,
    pub(crate) cancelled: bool,
}

/// The sentence that says what this paper is (LHDN asks that a copy be recognisable as a
/// representation of the e-invoice, not the e-invoice itself).
pub(crate) const STATEMENT: &str = "This is a printed representation of an e-invoice that the \
     Inland Revenue Board of Malaysia (LHDN) validated through MyInvois. Scan the QR code or \
     open the validation link to confirm it and see its current status.";

/// What a cancelled copy says about itself.
pub(crate) const CANCELLED_NOTE: &str = "CANCELLED: the supplier cancelled this e-invoice in \
     MyInvois after it was validated. It no longer stands as an e-invoice.";

impl Content {
    pub(crate) fn of(doc: &ValidatedDocument) -> Result<Content, RenderError> {
        let invoice = Invoice::from_document(&doc.document)?;
        let root = doc.document.root();
        let codes = CodeTables::embedded();
        let currency = invoice.currency.clone();
        let type_name = codes
            .get(Table::DocumentTypes, invoice.document_type.code())
            .unwrap_or(invoice.document_type.description())
            .to_owned();
        let mut header = vec![
            field("e-Invoice no.", invoice.id.clone()),
            field("Unique identifier no.", doc.uuid.clone()),
            field("Issued", local_time(invoice.issued_at)),
        ];
        header.push(field(
            "Original e-invoice ref.",
            if invoice.originals.is_empty() {
                "Not applicable".to_owned()
            } else {
                invoice
                    .originals
                    .iter()
                    .map(|o| match o.uuid.as_str() {
                        "" => o.id.clone(),
                        uuid => format!("{} ({uuid})", o.id),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ));
        Ok(Content {
            title: type_name.to_uppercase(),
            kind: format!(
                "e-Invoice type {} {type_name}, version {}",
                invoice.document_type.code(),
                invoice.version
            ),
            header,
            supplier: party_view("Supplier", &invoice.supplier, &codes),
            buyer: party_view("Buyer", &invoice.buyer, &codes),
            terms: terms(&invoice, root, &codes),
            lines: line_views(&invoice.lines, root, &currency, &codes),
            taxes: tax_views(root, &invoice.lines, &currency, &codes),
            totals: totals(root, &currency),
            currency,
            validation: ValidationView {
                uuid: doc.uuid.clone(),
                validated: local_time(doc.validated_at),
                link: doc.validation_link.clone(),
            },
            cancelled: doc.status == Status::Cancelled,
        })
    }
}

fn party_view(role: &'static str, party: &Party, codes: &CodeTables) -> PartyView {
    let mut ids = vec![field("TIN", party.tin.clone())];
    if !party.id.is_empty() {
        let label = match party.id_scheme.as_str() {
            "BRN" => "Registration no. (BRN)",
            "NRIC" => "NRIC no.",
            "PASSPORT" => "Passport no.",
            "ARMY" => "Army no.",
            _ => "Identification no.",
        };
        ids.push(field(label, party.id.clone()));
    }
    if let Some(sst) = &party.sst {
        ids.push(field("SST registration no.", sst.clone()));
    }
    if let Some(ttx) = party.ttx.as_ref().filter(|t| *t != "NA") {
        ids.push(field("Tourism tax registration no.", ttx.clone()));
    }
    if let Some((code, activity)) = &party.msic {
        let activity = if activity.is_empty() {
            codes.get(Table::Msic, code).unwrap_or("")
        } else {
            activity
        };
        ids.push(field("MSIC code", joined(code, activity)));
    }
    let mut contact = Vec::new();
    if !party.phone.is_empty() && party.phone != "NA" {
        contact.push(field("Tel.", party.phone.clone()));
    }
    if let Some(email) = &party.email {
        contact.push(field("E-mail", email.clone()));
    }
    PartyView {
        role,
        name: party.name.clone(),
        ids,
        address: address_lines(&party.address, codes),
        contact,
    }
}

/// `code description`, or the code alone.
fn joined(code: &str, description: &str) -> String {
    if description.is_empty() {
        code.to_owned()
    } else {
        format!("{code} {description}")
    }
}

fn address_lines(address: &Address, codes: &CodeTables) -> Vec<String> {
    let mut out: Vec<String> = address
        .lines
        .iter()
        .filter(|l| !l.is_empty() && *l != "NA")
        .cloned()
        .collect();
    let town = [address.postal_zone.as_deref().unwrap_or(""), &address.city]
        .into_iter()
        .filter(|s| !s.is_empty() && *s != "NA")
        .collect::<Vec<_>>()
        .join(" ");
    if !town.is_empty() {
        out.push(town);
    }
    let state = codes
        .get(Table::States, &address.state)
        .filter(|s| !s.eq_ignore_ascii_case("Not Applicable"));
    let country = codes
        .get(Table::Countries, &address.country)
        .unwrap_or(&address.country);
    let region = [state.unwrap_or(""), country]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if !region.is_empty() {
        out.push(region);
    }
    out
}

fn terms(invoice: &Invoice, root: &Element, codes: &CodeTables) -> Vec<Field> {
    let mut out = Vec::new();
    let currency_name = codes
        .get(Table::Currencies, &invoice.currency)
        .unwrap_or("");
    out.push(field(
        "Currency",
        if currency_name.is_empty() {
            invoice.currency.clone()
        } else {
            format!("{} ({currency_name})", invoice.currency)
        },
    ));
    if let Some(r) = invoice.exchange_rate.filter(|_| invoice.currency != "MYR") {
        let target = root
            .text_at(&["TaxExchangeRate", "TargetCurrencyCode"])
            .unwrap_or("MYR");
        out.push(field(
            "Exchange rate",
            format!("1 {} = {} {target}", invoice.currency, rate(r)),
        ));
    }
    if let Some(p) = &invoice.period {
        let mut text = format!("{} to {}", p.start, p.end);
        if !p.description.is_empty() {
            text.push_str(&format!(" ({})", p.description));
        }
        out.push(field("Billing period", text));
    }
    if let Some(p) = &invoice.payment {
        if !p.mode.is_empty() {
            let name = codes.get(Table::PaymentModes, &p.mode).unwrap_or("");
            out.push(field("Payment mode", joined(&p.mode, name)));
        }
        if let Some(account) = &p.account {
            out.push(field("Supplier's bank account", account.clone()));
        }
        if let Some(t) = &p.terms {
            out.push(field("Payment terms", t.clone()));
        }
    }
    if let Some(p) = &invoice.prepayment {
        out.push(field(
            "Prepayment",
            format!(
                "{} {} on {} (ref. {})",
                invoice.currency,
                money(p.amount),
                local_time(p.paid_at),
                p.id
            ),
        ));
    }
    if let Some(r) = &invoice.bill_reference {
        out.push(field("Bill reference no.", r.clone()));
    }
    for r in &invoice.additional_references {
        let label = match r.document_type.as_deref() {
            Some("CustomsImportForm") => "Customs form no. (K1)",
            Some("K2") => "Customs form no. (K2)",
            Some("FreeTradeAgreement") => "Free trade agreement",
            None => "Incoterms",
            Some(_) => "Reference",
        };
        let value = match &r.description {
            Some(d) if !d.is_empty() => format!("{} ({d})", r.id),
            _ => r.id.clone(),
        };
        out.push(field(label, value));
    }
    if let Some(d) = &invoice.delivery {
        let mut to = vec![d.recipient.name.clone()];
        to.extend(address_lines(&d.recipient.address, codes));
        out.push(field("Shipping recipient", to.join(", ")));
    }
    out
}

/// A decimal amount at `path` under `el`, as the document writes it.
fn amount(el: &Element, path: &[&str]) -> Option<Decimal> {
    let text = el.text_at(path)?.trim();
    Decimal::from_str(text).ok()
}

/// The `currencyID` of the amount at `path`, when it names one.
fn currency_of<'a>(el: &'a Element, path: &[&str]) -> Option<&'a str> {
    el.at(path)?
        .attr_value("currencyID")
        .filter(|c| !c.is_empty())
}

/// An amount in a column of the document's currency: the bare figure, or the figure with
/// its currency when the document states it in another (a foreign-currency invoice gives
/// its taxes in ringgit).
fn money_at(el: &Element, path: &[&str], document_currency: &str) -> Option<String> {
    let value = amount(el, path)?;
    Some(match currency_of(el, path) {
        Some(c) if c != document_currency => format!("{c} {}", money(value)),
        _ => money(value),
    })
}

/// Whether the amount at `path` is in the document's currency (or names none).
fn in_currency(el: &Element, path: &[&str], document_currency: &str) -> bool {
    currency_of(el, path).is_none_or(|c| c == document_currency)
}

fn line_views(lines: &[Line], root: &Element, currency: &str, codes: &CodeTables) -> Vec<LineView> {
    lines
        .iter()
        .zip(root.children_named("InvoiceLine"))
        .enumerate()
        .map(|(i, (line, el))| line_view(i, line, el, currency, codes))
        .collect()
}

fn line_view(
    index: usize,
    line: &Line,
    el: &Element,
    currency: &str,
    codes: &CodeTables,
) -> LineView {
    let mut notes: Vec<String> = line.taxes.iter().map(|t| tax_note(t, codes)).collect();
    let mut discount = Decimal::ZERO;
    // A zero discount or charge (documents carry them as placeholders) says nothing.
    for ac in line
        .allowance_charges
        .iter()
        .filter(|ac| !ac.amount.is_zero())
    {
        let kind = if ac.charge { "Charge" } else { "Discount" };
        if !ac.charge {
            discount += ac.amount;
        }
        notes.push(if ac.reason.is_empty() {
            format!("{kind} {}", money(ac.amount))
        } else {
            format!("{kind} ({}) {}", ac.reason, money(ac.amount))
        });
    }
    if let Some(origin) = &line.origin_country {
        let name = codes.get(Table::Countries, origin).unwrap_or(origin);
        notes.push(format!("Origin: {name}"));
    }
    if let Some(tariff) = &line.tariff {
        notes.push(format!("Tariff code: {tariff}"));
    }
    const EXCLUDING: &[&str] = &["LineExtensionAmount"];
    const TAX: &[&str] = &["TaxTotal", "TaxAmount"];
    // A sum only of amounts in one currency: a tax stated in ringgit on a dollar line has no
    // total including tax in the document, and the copy does not invent one.
    let including = match (amount(el, EXCLUDING), amount(el, TAX)) {
        (Some(excluding), tax)
            if in_currency(el, EXCLUDING, currency) && in_currency(el, TAX, currency) =>
        {
            money(excluding + tax.unwrap_or_default())
        }
        _ => String::new(),
    };
    let unit = codes.get(Table::Units, &line.unit).unwrap_or("");
    LineView {
        number: el
            .text_at(&["ID"])
            .map_or_else(|| (index + 1).to_string(), str::to_owned),
        classification: line.classification.clone(),
        description: line.description.clone(),
        notes,
        // "one" (C62) says nothing a bare number does not.
        quantity: match unit {
            "" | "one" => quantity(line.quantity),
            unit => format!("{} {unit}", quantity(line.quantity)),
        },
        unit_price: price(line.unit_price),
        discount: money(discount),
        tax_rate: line
            .taxes
            .iter()
            .map(|t| tax_rate(t, codes))
            .collect::<Vec<_>>()
            .join(" + "),
        tax_amount: money_at(el, TAX, currency).unwrap_or_default(),
        excluding_tax: money_at(el, EXCLUDING, currency).unwrap_or_default(),
        including_tax: including,
    }
}

/// The tax's rate as a column shows it: `10%`, `10.00/day`, `Exempt`.
fn tax_rate(t: &LineTax, codes: &CodeTables) -> String {
    if t.tax_type == "E" {
        return "Exempt".to_owned();
    }
    match (&t.per_unit, t.percent) {
        (Some((amount, unit)), _) => {
            // A unit's name when it is short ("day"), else the plain word: the column is
            // narrow.
            let name = codes
                .get(Table::Units, unit)
                .filter(|n| n.len() <= 6 && *n != "one")
                .unwrap_or("unit");
            format!("{}/{name}", money(*amount))
        }
        (None, Some(p)) => percent(p),
        (None, None) => String::new(),
    }
}

/// The tax by name, under the line's description.
fn tax_note(t: &LineTax, codes: &CodeTables) -> String {
    let name = codes.get(Table::TaxTypes, &t.tax_type).unwrap_or("Tax");
    match &t.exemption_reason {
        Some(reason) if !reason.is_empty() => format!("{name}: {reason}"),
        _ => format!("{name} {}", tax_rate(t, codes)),
    }
}

fn tax_views(root: &Element, lines: &[Line], currency: &str, codes: &CodeTables) -> Vec<TaxView> {
    root.children_named("TaxTotal")
        .flat_map(|t| t.children_named("TaxSubtotal"))
        .map(|s| {
            let code = s.text_at(&["TaxCategory", "ID"]).unwrap_or("");
            let name = codes.get(Table::TaxTypes, code).unwrap_or("");
            // A document-level subtotal seldom repeats the rate; the lines of that type
            // give it then.
            let stated = amount(s, &["Percent"]).or_else(|| amount(s, &["TaxCategory", "Percent"]));
            let rate = match stated {
                _ if code == "E" => "Exempt".to_owned(),
                Some(p) => percent(p),
                None => {
                    let mut rates: Vec<String> = lines
                        .iter()
                        .flat_map(|l| &l.taxes)
                        .filter(|t| t.tax_type == code)
                        .map(|t| tax_rate(t, codes))
                        .collect();
                    rates.sort();
                    rates.dedup();
                    rates.join(", ")
                }
            };
            TaxView {
                tax_type: joined(code, name),
                rate,
                taxable: money_at(s, &["TaxableAmount"], currency).unwrap_or_default(),
                amount: money_at(s, &["TaxAmount"], currency).unwrap_or_default(),
                exemption: s
                    .text_at(&["TaxCategory", "TaxExemptionReason"])
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
            }
        })
        .collect()
}

fn totals(root: &Element, currency: &str) -> Vec<TotalRow> {
    const TOTAL: &str = "LegalMonetaryTotal";
    let mut rows = Vec::new();
    // (label, path, shown negated, shown only when not zero, the amount payable)
    let wanted: [(&'static str, &[&str], bool, bool, bool); 9] = [
        (
            "Subtotal",
            &[TOTAL, "LineExtensionAmount"],
            false,
            false,
            false,
        ),
        (
            "Discount",
            &[TOTAL, "AllowanceTotalAmount"],
            true,
            true,
            false,
        ),
        ("Charges", &[TOTAL, "ChargeTotalAmount"], false, true, false),
        (
            "Total excluding tax",
            &[TOTAL, "TaxExclusiveAmount"],
            false,
            false,
            false,
        ),
        (
            "Tax amount",
            &["TaxTotal", "TaxAmount"],
            false,
            false,
            false,
        ),
        (
            "Total including tax",
            &[TOTAL, "TaxInclusiveAmount"],
            false,
            false,
            false,
        ),
        (
            "Prepaid",
            &["PrepaidPayment", "PaidAmount"],
            true,
            true,
            false,
        ),
        (
            "Rounding",
            &[TOTAL, "PayableRoundingAmount"],
            false,
            true,
            false,
        ),
        (
            "Total payable",
            &[TOTAL, "PayableAmount"],
            false,
            false,
            true,
        ),
    ];
    for (label, path, negated, unless_zero, strong) in wanted {
        let Some(value) = amount(root, path) else {
            continue;
        };
        if unless_zero && value.is_zero() {
            continue;
        }
        rows.push(TotalRow {
            label,
            currency: currency_of(root, path).unwrap_or(currency).to_owned(),
            amount: money(if negated { -value } else { value }),
            strong,
        });
    }
    rows
}

//! Core fields (§6.3): mandatory fields, lengths, forms of phone, e-mail, TIN, SST, TTX, state
//! 17, issue time window; and code-table membership.

use invois_api::validator_errors as lhdn;

use super::{Category, Finding, Findings, Node, Severity, ValidationContext};
use crate::codes::{self, DocumentType, Table};
use crate::document::{Document, parse_issue};
use crate::rules::Rule;

const CF: Category = Category::CoreFields;

/// The general TINs (e-Invoice Specific Guideline, Appendix 1).
pub const GENERAL_PUBLIC_TIN: &str = "EI00000000010";
/// Foreign buyer / shipping recipient.
pub const FOREIGN_BUYER_TIN: &str = "EI00000000020";
/// Foreign supplier (self-billed).
pub const FOREIGN_SUPPLIER_TIN: &str = "EI00000000030";
/// Government buyers.
pub const GOVERNMENT_TIN: &str = "EI00000000040";

pub(super) fn check(doc: &Document, root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    let doc_type = doc.document_type();
    header(doc, root, ctx, out);
    let consolidated = root
        .all(&[
            "InvoiceLine",
            "Item",
            "CommodityClassification",
            "ItemClassificationCode",
        ])
        .iter()
        .any(|n| n.attr("listID") == Some("CLASS") && n.text() == Some("004"));
    let self_billed = doc_type.is_some_and(DocumentType::is_self_billed);
    match root.at(&["AccountingSupplierParty", "Party"]) {
        Some(p) => party(&p, Role::Supplier, self_billed, consolidated, ctx, out),
        None => missing(
            root,
            &["AccountingSupplierParty", "Party"],
            "the supplier",
            out,
        ),
    }
    match root.at(&["AccountingCustomerParty", "Party"]) {
        Some(p) => party(&p, Role::Buyer, self_billed, consolidated, ctx, out),
        None => missing(
            root,
            &["AccountingCustomerParty", "Party"],
            "the buyer",
            out,
        ),
    }
    if let Some(supplier) = root.kid("AccountingSupplierParty") {
        for a in supplier.kids("AdditionalAccountID") {
            dated_max_len(
                &a,
                Rule::CertExLength,
                "the CertEX registration (AdditionalAccountID)",
                ctx,
                out,
            );
        }
    }
    for delivery in root.kids("Delivery") {
        for p in delivery.kids("DeliveryParty") {
            if let Some(a) = p.kid("PostalAddress") {
                address(&a, &p, AddressOf::Shipping, consolidated, ctx, out);
            }
            for n in p.all(&["PartyLegalEntity", "RegistrationName"]) {
                max_len(&n, 300, "the recipient's name", out);
            }
            if let Some(tin) = p
                .kids("PartyIdentification")
                .iter()
                .filter_map(|i| i.kid("ID"))
                .find(|i| i.attr("schemeID") == Some("TIN"))
            {
                tin_form(&tin, out);
            }
        }
    }
    totals_and_taxes(root, ctx, out);
    lines(root, ctx, out);
    others(root, ctx, out);
}

fn header(doc: &Document, root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    match root.kid("ID") {
        Some(id) => {
            dated_max_len(
                &id,
                Rule::InvoiceNumberLength,
                "the invoice number (cbc:ID)",
                ctx,
                out,
            );
            nonempty(&id, "the invoice number (cbc:ID)", out);
        }
        None => missing(root, &["ID"], "the invoice number", out),
    }
    issue_date_time(root, ctx, out);
    document_type_and_version(root, ctx, out);
    let _ = doc;
    match root.kid("DocumentCurrencyCode") {
        Some(c) => code(&c, Table::Currencies, ctx, out),
        None => {
            if let Some(f) = missing_at(
                root,
                &["DocumentCurrencyCode"],
                "the document currency",
                out,
            ) {
                f.published(&lhdn::CF378, &[]);
            }
        }
    }
    if let Some(c) = root.kid("TaxCurrencyCode") {
        code(&c, Table::Currencies, ctx, out);
    }
    for p in root.kids("InvoicePeriod") {
        for d in p.kids("Description") {
            dated_max_len(
                &d,
                Rule::BillingFrequencyLength,
                "the billing frequency (InvoicePeriod/Description)",
                ctx,
                out,
            );
        }
    }
}

/// IssueDate and IssueTime present, the time in UTC (CF017), and the two together neither
/// in the future (CF010) nor older than 72 hours (CF011).
fn issue_date_time(root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    let date = root.kid("IssueDate");
    let time = root.kid("IssueTime");
    if date.is_none() {
        missing(root, &["IssueDate"], "the issue date", out);
    }
    match &time {
        None => missing(root, &["IssueTime"], "the issue time", out),
        Some(t) if !t.text().is_some_and(|v| v.ends_with('Z')) => {
            out.push(
                "CF017",
                CF,
                Severity::Warning,
                t,
                "the issue time is UTC and written HH:MM:SSZ",
                t.text(),
            );
        }
        Some(_) => {}
    }
    if let (Some(d), Some(t)) = (&date, &time)
        && let Some(at) = d.text().zip(t.text()).and_then(|(d, t)| parse_issue(d, t))
    {
        if at > ctx.now {
            out.push(
                "CF010",
                CF,
                Severity::Error,
                d,
                format!(
                    "the issue date and time ({at}) must not be in the future (now {})",
                    ctx.now
                ),
                d.text(),
            );
        } else if ctx.now - at > crate::codes::ISSUE_WINDOW {
            out.push(
                "CF011",
                CF,
                Severity::Error,
                d,
                format!(
                    "the issue date and time ({at}) must be within the last {} hours (now {})",
                    crate::codes::ISSUE_WINDOW.num_hours(),
                    ctx.now
                ),
                d.text(),
            );
        }
    }
}

/// InvoiceTypeCode from its code table, with a known version (CF001, CF012); a signed
/// version must carry the signature parts (CF013).
fn document_type_and_version(root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    match root.kid("InvoiceTypeCode") {
        None => missing(root, &["InvoiceTypeCode"], "the e-invoice type code", out),
        Some(t) => {
            code(&t, Table::DocumentTypes, ctx, out);
            match t.attr("listVersionID") {
                None => out.push(
                    "CF001",
                    CF,
                    Severity::Error,
                    &t.attr_node("listVersionID"),
                    "the document version (InvoiceTypeCode/@listVersionID) is mandatory",
                    None,
                ),
                Some(v) if !codes::VERSIONS.contains(&v) => {
                    out.push(
                        "CF012",
                        CF,
                        Severity::Error,
                        &t.attr_node("listVersionID"),
                        "the version must be 1.0, 1.1, 1.2 or 1.3",
                        Some(v),
                    );
                }
                Some(v) if codes::version_is_signed(v) => signature_parts(root, v, out),
                Some(_) => {}
            }
        }
    }
}

/// A signed version carries the signature (CF013, LHDN's DS301) with its signing time (CF018,
/// DS303). Only their presence is checked here; `invois-sign` verifies the signature.
fn signature_parts(root: &Node<'_>, version: &str, out: &mut Findings) {
    for name in ["UBLExtensions", "Signature"] {
        if root.kid(name).is_none() {
            out.push_mut(
                "CF013",
                CF,
                Severity::Error,
                &root.missing(name),
                format!("a version {version} document must be signed (`{name}` missing)"),
                None,
            )
            .published(&lhdn::DS301, &[]);
        }
    }
    let Some(extensions) = root.kid("UBLExtensions") else {
        return;
    };
    // The XAdES block sits deep in the extension; its path is the signature's business, so
    // the elements are looked for anywhere below it.
    if let Some(signature) = descendant(&extensions, "Signature")
        && descendant(&signature, "SigningTime")
            .and_then(|t| t.text())
            .is_none_or(|t| t.trim().is_empty())
    {
        out.push_mut(
            "CF018",
            CF,
            Severity::Error,
            &signature.missing("Object/QualifyingProperties/SignedProperties/SignedSignatureProperties/SigningTime"),
            "the signature must carry its signing time (xades:SigningTime)",
            None,
        )
        .published(&lhdn::DS303, &[]);
    }
}

/// The first element named `name` below `node`, depth first.
fn descendant<'a>(node: &Node<'a>, name: &str) -> Option<Node<'a>> {
    let mut names: Vec<&str> = node.el.children.iter().map(|c| c.name.as_str()).collect();
    names.dedup();
    for child_name in names {
        for kid in node.kids(child_name) {
            if kid.el.name == name {
                return Some(kid);
            }
            if let Some(found) = descendant(&kid, name) {
                return Some(found);
            }
        }
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Supplier,
    Buyer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Supplier => "supplier",
            Role::Buyer => "buyer",
        }
    }
}

fn party(
    p: &Node<'_>,
    role: Role,
    self_billed: bool,
    consolidated: bool,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    let who = role.name();
    match p.at(&["PartyLegalEntity", "RegistrationName"]) {
        Some(n) => {
            max_len(&n, 300, &format!("the {who}'s name"), out);
            nonempty(&n, &format!("the {who}'s name"), out);
        }
        None => missing(
            p,
            &["PartyLegalEntity", "RegistrationName"],
            &format!("the {who}'s name"),
            out,
        ),
    }
    let ids: Vec<Node<'_>> = p
        .kids("PartyIdentification")
        .iter()
        .filter_map(|i| i.kid("ID"))
        .collect();
    let scheme = |s: &str| ids.iter().find(|i| i.attr("schemeID") == Some(s)).cloned();
    match scheme("TIN") {
        Some(tin) => {
            tin_form(&tin, out);
            general_tin(&tin, role, self_billed, out);
        }
        None => out.push(
            "CF001",
            CF,
            Severity::Error,
            &p.missing("PartyIdentification"),
            format!("the {who}'s TIN (PartyIdentification/ID[@schemeID='TIN']) is mandatory"),
            None,
        ),
    }
    let registration: Vec<_> = codes::ID_TYPES
        .iter()
        .filter_map(|(s, max)| scheme(s).map(|n| (n, *s, *max)))
        .collect();
    if registration.is_empty() {
        out.push(
            "CF001",
            CF,
            Severity::Error,
            &p.missing("PartyIdentification"),
            format!("the {who} needs one identification of scheme NRIC, BRN, PASSPORT or ARMY"),
            None,
        );
    }
    for (n, s, max) in registration {
        max_len(&n, max, &format!("the {who}'s {s}"), out);
    }
    for n in &ids {
        match n.attr("schemeID") {
            Some("SST") => sst(n, out),
            Some("TTX") => ttx(n, role, out),
            Some("TIN" | "NRIC" | "BRN" | "PASSPORT" | "ARMY") => {}
            other => out.push("CF001", CF, Severity::Error, &n.attr_node("schemeID"), "PartyIdentification/ID/@schemeID must be TIN, NRIC, BRN, PASSPORT, ARMY, SST or TTX", other),
        }
    }
    if role == Role::Supplier {
        match p.kid("IndustryClassificationCode") {
            Some(m) => {
                code(&m, Table::Msic, ctx, out);
                match m.attr("name") {
                    None => out.push("CF001", CF, Severity::Error, &m.attr_node("name"), "the supplier's business activity description (IndustryClassificationCode/@name) is mandatory", None),
                    Some(d) => {
                        let max = char_limit(Rule::ActivityDescriptionLength);
                        if d.chars().count() > max {
                            out.push_mut("CF002", CF, Severity::Error, &m.attr_node("name"), format!("the business activity description is at most {max} characters"), Some(d))
                                .dated(Rule::ActivityDescriptionLength, ctx);
                        }
                    }
                }
            }
            None => missing(
                p,
                &["IndustryClassificationCode"],
                "the supplier's MSIC code",
                out,
            ),
        }
    }
    let of = match role {
        Role::Supplier => AddressOf::Supplier,
        Role::Buyer => AddressOf::Buyer,
    };
    match p.kid("PostalAddress") {
        Some(a) => address(&a, p, of, consolidated, ctx, out),
        None => missing(p, &["PostalAddress"], &format!("the {who}'s address"), out),
    }
    match p.at(&["Contact", "Telephone"]) {
        Some(t) => {
            let general = scheme("TIN")
                .and_then(|n| n.text())
                .is_some_and(|v| v.starts_with("EI000000000"));
            phone(&t, general, out);
        }
        None => missing(
            p,
            &["Contact", "Telephone"],
            &format!("the {who}'s contact number"),
            out,
        ),
    }
    for e in p.all(&["Contact", "ElectronicMail"]) {
        email(&e, out);
    }
}

/// Whose address: the supplier's and buyer's lines have LHDN codes of their own; the
/// shipping recipient's postcode has dated limits of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AddressOf {
    Supplier,
    Buyer,
    Shipping,
}

/// LHDN's code for an address line too long, by whose address it is.
fn line_code(of: AddressOf) -> Option<&'static lhdn::PublishedError> {
    match of {
        AddressOf::Supplier => Some(&lhdn::CF345),
        AddressOf::Buyer => Some(&lhdn::CF346),
        AddressOf::Shipping => None,
    }
}

fn address(
    a: &Node<'_>,
    party: &Node<'_>,
    of: AddressOf,
    consolidated: bool,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    address_lines(a, of, out);
    match a.kid("CityName") {
        Some(c) => max_len(&c, 50, "the city name", out),
        None => missing(a, &["CityName"], "the city name", out),
    }
    let country = a.at(&["Country", "IdentificationCode"]);
    match &country {
        Some(c) => code(c, Table::Countries, ctx, out),
        None => missing(
            a,
            &["Country", "IdentificationCode"],
            "the country code",
            out,
        ),
    }
    // An address without a country is read as Malaysian: the stricter reading.
    let malaysian = country
        .as_ref()
        .and_then(Node::text)
        .is_none_or(|c| c == "MYS");
    if let Some(z) = a.kid("PostalZone") {
        postal_zone(&z, of, malaysian, ctx, out);
    }
    match a.kid("CountrySubentityCode") {
        None => missing(a, &["CountrySubentityCode"], "the state code", out),
        Some(s) => {
            state(&s, malaysian, ctx, out);
            if s.text() == Some("17") {
                let tin = party
                    .kids("PartyIdentification")
                    .iter()
                    .filter_map(|i| i.kid("ID"))
                    .find(|i| i.attr("schemeID") == Some("TIN"))
                    .and_then(|n| n.text());
                let foreign =
                    !malaysian || matches!(tin, Some(FOREIGN_BUYER_TIN | FOREIGN_SUPPLIER_TIN));
                if !consolidated && !foreign {
                    out.error_mut("CF009", CF, &s, "state code 17 (Not Applicable) is only for consolidated e-invoices (classification 004) or foreign addresses")
                        .dated(Rule::StateCode17, ctx);
                }
            }
        }
    }
}

/// Line 0 mandatory, at most three lines of at most 150 characters (CF345/CF346 for the
/// supplier and buyer: LHDN counts lines from 0).
fn address_lines(a: &Node<'_>, of: AddressOf, out: &mut Findings) {
    const MAX: usize = 150;
    let lines = a.kids("AddressLine");
    if lines.is_empty() {
        missing(a, &["AddressLine", "Line"], "the first address line", out);
    }
    for (number, line) in lines.iter().enumerate() {
        for l in line.kids("Line") {
            let Some(text) = l.text() else { continue };
            let count = text.chars().count();
            if count > MAX {
                let f = out.error_mut(
                    "CF002",
                    CF,
                    &l,
                    format!("an address line is at most {MAX} characters"),
                );
                if let Some(p) = line_code(of) {
                    f.published(
                        p,
                        &[
                            text,
                            &number.to_string(),
                            &MAX.to_string(),
                            &count.to_string(),
                        ],
                    );
                }
            }
        }
    }
    if lines.len() > 3 {
        out.push(
            "CF002",
            CF,
            Severity::Error,
            &lines[3],
            "at most 3 address lines",
            None,
        );
    }
}

/// A Malaysian postcode is at most 5 digits, any other at most 50 characters (FAQ); for the
/// shipping recipient these limits are dated (3 Jul 2026).
fn postal_zone(
    z: &Node<'_>,
    of: AddressOf,
    malaysian: bool,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    let v = z.text().unwrap_or("");
    // The FAQ's limits for every address, which the release note of 3 Jul 2026 sets for the
    // shipping recipient's: one figure each, read from the table.
    let rule = if malaysian {
        Rule::ShippingPostcodeMalaysia
    } else {
        Rule::ShippingPostcodeForeign
    };
    let max = char_limit(rule);
    let f = if malaysian && (v.chars().count() > max || !v.bytes().all(|b| b.is_ascii_digit())) {
        out.error_mut(
            "CF014",
            CF,
            z,
            "a Malaysian postal code is at most 5 digits",
        )
    } else if v.chars().count() > max {
        out.error_mut(
            "CF002",
            CF,
            z,
            format!("the postal code is at most {max} characters"),
        )
    } else {
        return;
    };
    if of == AddressOf::Shipping {
        f.dated(rule, ctx);
    }
}

/// A Malaysian state is a code of the state table; a state elsewhere is free text of limited
/// length (3 Jul 2026), and never one of Malaysia's codes 01-16 (C003, LHDN's CV316).
fn state(s: &Node<'_>, malaysian: bool, ctx: &ValidationContext, out: &mut Findings) {
    let v = s.text().unwrap_or("");
    if malaysian {
        code(s, Table::States, ctx, out);
        return;
    }
    let malaysian_code = v.len() == 2 && v.parse::<u8>().is_ok_and(|n| (1..=16).contains(&n));
    if malaysian_code {
        out.push_mut(
            "C003",
            Category::Codes,
            Severity::Error,
            s,
            "state codes 01-16 are Malaysian states: the country must be MYS",
            Some(v),
        )
        .published(&lhdn::CV316, &[v]);
    } else {
        dated_max_len(
            s,
            Rule::ForeignStateLength,
            "a state outside Malaysia",
            ctx,
            out,
        );
    }
}

fn totals_and_taxes(root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    match root.kid("LegalMonetaryTotal") {
        Some(t) => {
            for name in ["TaxExclusiveAmount", "TaxInclusiveAmount", "PayableAmount"] {
                if t.kid(name).is_none() {
                    missing(&t, &[name], &format!("the total {name}"), out);
                }
            }
        }
        None => missing(
            root,
            &["LegalMonetaryTotal"],
            "the legal monetary total",
            out,
        ),
    }
    let totals = root.kids("TaxTotal");
    if totals.is_empty() {
        missing(root, &["TaxTotal"], "the document tax total", out);
    }
    for t in &totals {
        tax_total(t, ctx, out);
    }
}

fn tax_total(t: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    if t.kid("TaxAmount").is_none() {
        missing(t, &["TaxAmount"], "the tax amount", out);
    }
    let subs = t.kids("TaxSubtotal");
    if subs.is_empty() {
        missing(t, &["TaxSubtotal"], "at least one tax subtotal", out);
    }
    for s in &subs {
        for name in ["TaxableAmount", "TaxAmount"] {
            if s.kid(name).is_none() {
                missing(s, &[name], &format!("the subtotal's {name}"), out);
            }
        }
        let Some(cat) = s.kid("TaxCategory") else {
            missing(s, &["TaxCategory"], "the tax category", out);
            continue;
        };
        match cat.kid("ID") {
            Some(id) => {
                code(&id, Table::TaxTypes, ctx, out);
                if id.text() == Some("E") {
                    match cat.kid("TaxExemptionReason") {
                        Some(r) => max_len(&r, 300, "the tax exemption reason", out),
                        None => out.push(
                            "CF016",
                            CF,
                            Severity::Error,
                            &cat.missing("TaxExemptionReason"),
                            "tax type E (exemption) requires TaxExemptionReason",
                            None,
                        ),
                    }
                }
            }
            None => missing(&cat, &["ID"], "the tax type", out),
        }
        match cat.at(&["TaxScheme", "ID"]) {
            Some(id) => {
                if id.text() != Some("OTH")
                    || id.attr("schemeID") != Some("UN/ECE 5153")
                    || id.attr("schemeAgencyID") != Some("6")
                {
                    out.error("CF015", CF, &id, "TaxScheme/ID must be `OTH` with schemeID `UN/ECE 5153` and schemeAgencyID `6`");
                }
            }
            None => missing(&cat, &["TaxScheme", "ID"], "the tax scheme", out),
        }
        if let Some(m) = s.kid("BaseUnitMeasure") {
            unit(&m, ctx, out);
        }
    }
}

fn lines(root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    for line in root.kids("InvoiceLine") {
        let classes = line.all(&["Item", "CommodityClassification", "ItemClassificationCode"]);
        let mut has_class = false;
        for c in &classes {
            match c.attr("listID") {
                Some("CLASS") => {
                    has_class = true;
                    code(c, Table::Classifications, ctx, out);
                }
                Some("PTC") => max_len(c, 12, "the tariff code (PTC)", out),
                _ => {}
            }
        }
        if !has_class {
            out.push("CF001", CF, Severity::Error, &line.missing("Item"), "each line needs a classification code (Item/CommodityClassification/ItemClassificationCode[@listID='CLASS'])", None);
        }
        match line.at(&["Item", "Description"]) {
            Some(d) => max_len(&d, 300, "the item description", out),
            None => missing(&line, &["Item", "Description"], "the item description", out),
        }
        if line.at(&["Price", "PriceAmount"]).is_none() {
            missing(&line, &["Price", "PriceAmount"], "the unit price", out);
        }
        if line.at(&["ItemPriceExtension", "Amount"]).is_none() {
            missing(
                &line,
                &["ItemPriceExtension", "Amount"],
                "the line subtotal",
                out,
            );
        }
        if line.kid("LineExtensionAmount").is_none() {
            missing(
                &line,
                &["LineExtensionAmount"],
                "the line total excluding tax",
                out,
            );
        }
        let taxes = line.kids("TaxTotal");
        if taxes.is_empty() {
            missing(&line, &["TaxTotal"], "the line tax total", out);
        }
        for t in &taxes {
            tax_total(t, ctx, out);
        }
        if let Some(q) = line.kid("InvoicedQuantity") {
            unit(&q, ctx, out);
        }
        for c in line.all(&["Item", "OriginCountry", "IdentificationCode"]) {
            code(&c, Table::Countries, ctx, out);
        }
    }
}

fn others(root: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    for pm in root.kids("PaymentMeans") {
        if let Some(c) = pm.kid("PaymentMeansCode") {
            code(&c, Table::PaymentModes, ctx, out);
        }
        for a in pm.all(&["PayeeFinancialAccount", "ID"]) {
            dated_max_len(
                &a,
                Rule::BankAccountLength,
                "the payee bank account",
                ctx,
                out,
            );
        }
    }
    for n in root.all(&["PaymentTerms", "Note"]) {
        dated_max_len(&n, Rule::PaymentTermsLength, "the payment terms", ctx, out);
    }
    for id in root.all(&["PrepaidPayment", "ID"]) {
        dated_max_len(
            &id,
            Rule::PrepaymentReferenceLength,
            "the prepayment reference",
            ctx,
            out,
        );
    }
    for id in root.all(&["BillingReference", "AdditionalDocumentReference", "ID"]) {
        max_len(&id, 150, "the bill reference number", out);
    }
    for r in root.kids("AdditionalDocumentReference") {
        let Some(id) = r.kid("ID") else { continue };
        match r.kid("DocumentType").and_then(|t| t.text()) {
            Some("CustomsImportForm") | Some("K2") => {
                max_len(&id, 1000, "the customs form reference", out)
            }
            Some("FreeTradeAgreement") => {}
            None => dated_max_len(&id, Rule::IncotermsLength, "the Incoterms code", ctx, out),
            Some(_) => {}
        }
    }
}

// ---- field forms ----

fn missing(parent: &Node<'_>, path: &[&str], what: &str, out: &mut Findings) {
    missing_at(parent, path, what, out);
}

/// CF001 for the first missing element of `path`, reported at the deepest existing ancestor;
/// the finding, if one was made.
fn missing_at<'f>(
    parent: &Node<'_>,
    path: &[&str],
    what: &str,
    out: &'f mut Findings,
) -> Option<&'f mut Finding> {
    let mut node = parent.clone();
    for (i, name) in path.iter().enumerate() {
        match node.kid(name) {
            Some(n) => node = n,
            None => {
                let full = path[i..].join("/");
                return Some(out.push_mut(
                    "CF001",
                    CF,
                    Severity::Error,
                    &node.missing(&full),
                    format!("{what} ({full}) is mandatory"),
                    None,
                ));
            }
        }
    }
    None
}

fn nonempty(n: &Node<'_>, what: &str, out: &mut Findings) {
    if n.text().is_none_or(|t| t.trim().is_empty()) {
        out.error("CF001", CF, n, format!("{what} must not be empty"));
    }
}

fn max_len(n: &Node<'_>, max: usize, what: &str, out: &mut Findings) {
    max_len_at(n, max, what, out);
}

fn max_len_at<'f>(
    n: &Node<'_>,
    max: usize,
    what: &str,
    out: &'f mut Findings,
) -> Option<&'f mut Finding> {
    let t = n.text()?;
    (t.chars().count() > max).then(|| {
        out.error_mut(
            "CF002",
            CF,
            n,
            format!("{what} is at most {max} characters"),
        )
    })
}

/// The character limit a dated rule of [`crate::rules::RULES`] sets.
fn char_limit(rule: Rule) -> usize {
    match crate::rules::rule(rule).limit {
        crate::rules::Limit::Chars(n) => n,
        // Every rule this is asked about sets characters (a test reads them all).
        _ => usize::MAX,
    }
}

/// CF002 for a dated length rule: an error once the rule is in force, a warning before.
fn dated_max_len(
    n: &Node<'_>,
    rule: Rule,
    what: &str,
    ctx: &ValidationContext,
    out: &mut Findings,
) {
    if let Some(f) = max_len_at(n, char_limit(rule), what, out) {
        f.dated(rule, ctx);
    }
}

/// 8-20 characters, digits with an optional leading `+`, no spaces.
pub fn phone_ok(t: &str) -> bool {
    let digits = t.strip_prefix('+').unwrap_or(t);
    (8..=20).contains(&t.chars().count())
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn phone(n: &Node<'_>, general_tin: bool, out: &mut Findings) {
    let t = n.text().unwrap_or("");
    // "NA" stands in for the unknown number of a party identified by a general TIN
    // (consolidated / general public, foreign parties).
    if !(phone_ok(t) || (general_tin && t == "NA")) {
        out.error("CF003", CF, n, "a contact number is 8 to 20 characters: digits with an optional leading +, no spaces or other signs");
    }
}

/// One address, no spaces, at most 320 characters (RFC 5321 limits).
pub fn email_ok(t: &str) -> bool {
    let Some((local, domain)) = t.split_once('@') else {
        return false;
    };
    t.chars().count() <= 320
        && !t.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

fn email(n: &Node<'_>, out: &mut Findings) {
    if !email_ok(n.text().unwrap_or("")) {
        out.error("CF004", CF, n, "an e-mail address is one address (name@domain), without spaces, at most 320 characters");
    }
}

const NON_INDIVIDUAL: [&str; 13] = [
    "CS", "FA", "PT", "TA", "TC", "TN", "TR", "TP", "LE", "C", "D", "F", "J",
];

/// A TIN: `IG` + digits (individuals), a non-individual prefix + digits ending in 0 (no
/// leading zeros after the prefix), or a general TIN; at most 14 characters.
pub fn tin_ok(t: &str) -> bool {
    if [
        GENERAL_PUBLIC_TIN,
        FOREIGN_BUYER_TIN,
        FOREIGN_SUPPLIER_TIN,
        GOVERNMENT_TIN,
    ]
    .contains(&t)
    {
        return true;
    }
    if t.len() > 14 {
        return false;
    }
    let digits_ok =
        |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0');
    if let Some(d) = t.strip_prefix("IG") {
        return digits_ok(d);
    }
    NON_INDIVIDUAL.iter().any(|p| {
        t.strip_prefix(p)
            .is_some_and(|d| digits_ok(d) && d.ends_with('0'))
    })
}

fn tin_form(n: &Node<'_>, out: &mut Findings) {
    if !tin_ok(n.text().unwrap_or("")) {
        out.error(
            "CF005",
            CF,
            n,
            "a TIN is IG + digits (individual), or C, CS, D, F, FA, PT, TA, TC, TN, TR, TP, J or LE + digits ending in 0 without leading zeros, at most 14 characters, or a general TIN EI000000000X0",
        );
    }
}

fn general_tin(n: &Node<'_>, role: Role, self_billed: bool, out: &mut Findings) {
    let t = n.text().unwrap_or("");
    let rule = match (t, role) {
        (GENERAL_PUBLIC_TIN | FOREIGN_BUYER_TIN | GOVERNMENT_TIN, Role::Supplier) => Some(format!(
            "{t} is a general TIN for buyers; it cannot identify the supplier"
        )),
        (FOREIGN_SUPPLIER_TIN, Role::Buyer) => {
            Some(format!("{t} (foreign supplier) cannot identify the buyer"))
        }
        (FOREIGN_SUPPLIER_TIN, Role::Supplier) if !self_billed => Some(format!(
            "{t} (foreign supplier) is only used in self-billed documents"
        )),
        _ => None,
    };
    if let Some(rule) = rule {
        let f = out.error_mut("CF006", CF, n, rule);
        if role == Role::Supplier && t == FOREIGN_BUYER_TIN {
            f.published(&lhdn::ERR208, &[]);
        }
    }
}

/// `NA`, or up to two SST numbers separated by `;`, letters, digits and `-`, at most 35 chars.
pub fn sst_ok(t: &str) -> bool {
    t == "NA"
        || (t.chars().count() <= 35
            && t.split(';').count() <= 2
            && t.split(';')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')))
}

fn sst(n: &Node<'_>, out: &mut Findings) {
    if !sst_ok(n.text().unwrap_or("")) {
        out.error("CF007", CF, n, "the SST registration is NA or at most two numbers separated by `;` (letters, digits, `-`), at most 35 characters");
    }
}

/// `NA`, or letters, digits and `-`, at most 17 characters.
pub fn ttx_ok(t: &str) -> bool {
    t == "NA"
        || (!t.is_empty()
            && t.chars().count() <= 17
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn ttx(n: &Node<'_>, role: Role, out: &mut Findings) {
    let value = n.text().unwrap_or("");
    if !ttx_ok(value) {
        let f = out.error_mut(
            "CF008",
            CF,
            n,
            "the tourism tax registration is NA or letters, digits and `-`, at most 17 characters",
        );
        // LHDN publishes the supplier's (the tourism tax is the supplier's to charge).
        if role == Role::Supplier {
            f.published(&lhdn::CF407, &[value]);
        }
    }
}

fn unit(n: &Node<'_>, ctx: &ValidationContext, out: &mut Findings) {
    match n.attr("unitCode") {
        Some(u) => {
            if let Some(f) = code_value(&n.attr_node("unitCode"), u, Table::Units, ctx, out) {
                f.dated(Rule::UnitCodeInTable, ctx);
            }
        }
        None => out.push(
            "CF001",
            CF,
            Severity::Error,
            &n.attr_node("unitCode"),
            "a quantity or measure needs @unitCode",
            None,
        ),
    }
}

// ---- codes ----

fn code(n: &Node<'_>, table: Table, ctx: &ValidationContext, out: &mut Findings) {
    code_value(n, n.text().unwrap_or(""), table, ctx, out);
}

/// C001 (LHDN's CV302) for a code not in its table; C002 for one of the wrong form when the
/// table is not loaded. Returns the finding, if one was made.
fn code_value<'f>(
    n: &Node<'_>,
    value: &str,
    table: Table,
    ctx: &ValidationContext,
    out: &'f mut Findings,
) -> Option<&'f mut Finding> {
    match ctx.codes.contains(table, value) {
        Some(true) => None,
        Some(false) => {
            // LHDN's CodeType names are not published; the table's file name is the nearest.
            let code_type = table.file_name().trim_end_matches(".json");
            let f = out.push_mut(
                "C001",
                Category::Codes,
                Severity::Error,
                n,
                format!(
                    "`{value}` is not in the {} code table ({})",
                    table.name(),
                    table.file_name()
                ),
                Some(value),
            );
            Some(f.published(&lhdn::CV302, &[value, code_type]))
        }
        None => {
            out.skipped(table);
            let form_ok = match table {
                Table::Msic => value.len() == 5 && value.bytes().all(|b| b.is_ascii_digit()),
                Table::Countries | Table::Currencies => {
                    value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())
                }
                Table::Units => {
                    (2..=3).contains(&value.len())
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                }
                _ => true,
            };
            if !form_ok {
                let form = match table {
                    Table::Msic => "5 digits",
                    Table::Units => "2 or 3 upper-case letters or digits",
                    _ => "3 upper-case letters",
                };
                return Some(out.push_mut(
                    "C002",
                    Category::Codes,
                    Severity::Error,
                    n,
                    format!("a {} code is {form}", table.name()),
                    Some(value),
                ));
            }
            None
        }
    }
}

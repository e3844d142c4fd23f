//! Receipts as the ERP sends them: JSON ([`ReceiptInput`]) or CSV ([`parse_csv`], the same
//! fields as columns), checked into [`NewReceipt`]s.
//!
//! CSV: UTF-8, comma-separated, a header row naming the columns (any order; unknown columns
//! are refused), fields quoted with `"` when they hold commas, quotes or line breaks
//! (RFC 4180). Required columns: `issuer_tin`, `number`, `issued_at`, `amount`; optional:
//! `tax_type`, `tax_rate`, `tax_amount`, `exemption_reason`, `description`,
//! `classification`, `branch`, `activity`, `diplomatic`. An empty field is an absent one.

use chrono::{DateTime, Utc};
use invois_model::consolidation::Activity;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::store::NewReceipt;

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// A field is missing or wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The CSV text itself is malformed.
    #[error("CSV line {line}: {message}")]
    Csv {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn field(field: &str, message: impl Into<String>) -> ReceiptError {
    ReceiptError::Field {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// One receipt as posted (JSON; CSV columns have the same names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptInput {
    /// The supplier's TIN.
    pub issuer_tin: String,
    /// The receipt number, unique per issuer (serially numbered receipts make ranges).
    pub number: String,
    /// When the sale was made, RFC 3339 (its Malaysian date decides the month).
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: DateTime<Utc>,
    /// Amount excluding tax, MYR, at most 2 decimals (a string or a number).
    #[schema(value_type = String, example = "25.00")]
    pub amount: Decimal,
    /// Tax type `01`-`06` or `E` (default `06`, not applicable).
    #[serde(default)]
    pub tax_type: Option<String>,
    /// Tax rate in percent (default 0).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub tax_rate: Option<Decimal>,
    /// Tax charged (default: amount x rate, rounded to the sen).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub tax_amount: Option<Decimal>,
    /// Why it is exempt (tax type `E`).
    #[serde(default)]
    pub exemption_reason: Option<String>,
    /// What was sold (for an individual e-invoice).
    #[serde(default)]
    pub description: Option<String>,
    /// Classification for an individual e-invoice (default `022`, others).
    #[serde(default)]
    pub classification: Option<String>,
    /// Branch or location: each gets its own consolidated e-invoices.
    #[serde(default)]
    pub branch: Option<String>,
    /// The kind of sale when the consolidation rules name it: motor_vehicle, flight_ticket,
    /// construction_contract, betting_payout, agent_payment, electricity, telecom_postpaid,
    /// internet_subscription, electronic_device, luxury_goods, construction_materials.
    #[serde(default)]
    pub activity: Option<String>,
    /// A sale to a foreign diplomatic office.
    #[serde(default)]
    pub diplomatic: bool,
}

const TAX_TYPES: [&str; 7] = ["01", "02", "03", "04", "05", "06", "E"];

fn text(name: &str, value: &str, max: usize) -> Result<String, ReceiptError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(field(name, "is empty"));
    }
    if value.chars().count() > max {
        return Err(field(name, format!("is longer than {max} characters")));
    }
    Ok(value.to_owned())
}

fn optional(name: &str, value: Option<String>, max: usize) -> Result<Option<String>, ReceiptError> {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(v) => text(name, &v, max).map(Some),
        None => Ok(None),
    }
}

fn money(name: &str, d: Decimal) -> Result<Decimal, ReceiptError> {
    if d.is_sign_negative() {
        return Err(field(name, "is negative (post refunds as credit notes)"));
    }
    if d.normalize().scale() > 2 {
        return Err(field(name, format!("{d} has more than 2 decimals")));
    }
    Ok(d)
}

impl ReceiptInput {
    /// The receipt, checked.
    pub fn into_new(self) -> Result<NewReceipt, ReceiptError> {
        let amount = money("amount", self.amount)?;
        let tax_type = self.tax_type.filter(|t| !t.is_empty());
        let tax_type = tax_type.unwrap_or_else(|| "06".to_owned());
        if !TAX_TYPES.contains(&tax_type.as_str()) {
            return Err(field("tax_type", format!("{tax_type} is not 01-06 or E")));
        }
        let tax_rate = self.tax_rate.unwrap_or_default();
        if tax_rate.is_sign_negative() || tax_rate > Decimal::ONE_HUNDRED {
            return Err(field("tax_rate", format!("{tax_rate} is not a percentage")));
        }
        let computed = (amount * tax_rate / Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let tax_amount = money("tax_amount", self.tax_amount.unwrap_or(computed))?;
        let exemption_reason = optional("exemption_reason", self.exemption_reason, 300)?;
        if tax_type == "E" && exemption_reason.is_none() {
            return Err(field(
                "exemption_reason",
                "tax type E needs an exemption reason",
            ));
        }
        let activity = match self.activity.filter(|a| !a.trim().is_empty()) {
            Some(a) => Some(Activity::parse(a.trim()).ok_or_else(|| {
                let all: Vec<&str> = Activity::ALL.iter().map(|a| a.as_str()).collect();
                field("activity", format!("{a} is not one of {}", all.join(", ")))
            })?),
            None => None,
        };
        let branch = optional("branch", self.branch, 20)?;
        if branch
            .as_deref()
            .is_some_and(|b| !b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(field(
                "branch",
                "only letters, digits and - (it names documents)",
            ));
        }
        Ok(NewReceipt {
            issuer_tin: text("issuer_tin", &self.issuer_tin, 20)?,
            number: text("number", &self.number, 50)?,
            issued_at: self.issued_at,
            amount,
            tax_type,
            tax_rate,
            tax_amount,
            exemption_reason,
            description: optional("description", self.description, 300)?,
            classification: optional("classification", self.classification, 3)?,
            branch,
            activity,
            diplomatic: self.diplomatic,
        })
    }
}

/// The columns a CSV may have.
pub const CSV_COLUMNS: [&str; 13] = [
    "issuer_tin",
    "number",
    "issued_at",
    "amount",
    "tax_type",
    "tax_rate",
    "tax_amount",
    "exemption_reason",
    "description",
    "classification",
    "branch",
    "activity",
    "diplomatic",
];

/// Splits CSV text into records of fields (RFC 4180), each with its 1-based line.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, ReceiptError> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field_text = String::new();
    let (mut quoted, mut line, mut start, mut any) = (false, 1usize, 1usize, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field_text.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                line += usize::from(c == '\n');
                field_text.push(c);
            }
            (false, '"') if field_text.is_empty() => {
                quoted = true;
                any = true;
            }
            (false, ',') => {
                record.push(std::mem::take(&mut field_text));
                any = true;
            }
            (false, '\r') => {}
            (false, '\n') => {
                if any || !field_text.is_empty() {
                    record.push(std::mem::take(&mut field_text));
                    out.push((start, std::mem::take(&mut record)));
                }
                any = false;
                line += 1;
                start = line;
            }
            (false, c) => {
                field_text.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(ReceiptError::Csv {
            line: start,
            message: "a quoted field is not closed".to_owned(),
        });
    }
    if any || !field_text.is_empty() {
        record.push(field_text);
        out.push((start, record));
    }
    Ok(out)
}

/// One CSV data row's receipt (or why it is not one), with its line number.
pub type CsvRow = (usize, Result<NewReceipt, ReceiptError>);

/// Reads CSV text into receipts, one result per data row with its line number. A header that
/// is missing a required column or names an unknown one fails the whole text.
pub fn parse_csv(text: &str) -> Result<Vec<CsvRow>, ReceiptError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = records(text)?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(ReceiptError::Csv {
            line: 1,
            message: "empty: the first line names the columns".to_owned(),
        });
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if let Some(bad) = header.iter().find(|h| !CSV_COLUMNS.contains(&h.as_str())) {
        return Err(ReceiptError::Csv {
            line: 1,
            message: format!(
                "unknown column `{bad}`; columns are {}",
                CSV_COLUMNS.join(", ")
            ),
        });
    }
    for required in &CSV_COLUMNS[..4] {
        if !header.iter().any(|h| h == required) {
            return Err(ReceiptError::Csv {
                line: 1,
                message: format!("the required column `{required}` is missing"),
            });
        }
    }
    Ok(rows
        .map(|(line, fields)| {
            let result = if fields.len() != header.len() {
                Err(ReceiptError::Csv {
                    line,
                    message: format!("{} fields, the header has {}", fields.len(), header.len()),
                })
            } else {
                csv_receipt(&header, fields)
            };
            (line, result)
        })
        .collect())
}

fn csv_receipt(header: &[String], fields: Vec<String>) -> Result<NewReceipt, ReceiptError> {
    let mut map = serde_json::Map::new();
    for (name, value) in header.iter().zip(fields) {
        let value = value.trim().to_owned();
        if value.is_empty() {
            continue;
        }
        let json = if name == "diplomatic" {
            match value.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => serde_json::Value::Bool(true),
                "false" | "no" | "0" => serde_json::Value::Bool(false),
                _ => return Err(field("diplomatic", format!("{value} is not true or false"))),
            }
        } else {
            serde_json::Value::String(value)
        };
        map.insert(name.clone(), json);
    }
    let input: ReceiptInput = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| field("row", e.to_string()))?;
    input.into_new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_receipts_with_quotes_and_defaults() {
        let text = "number,issuer_tin,issued_at,amount,description,tax_rate,tax_type\n\
                    R-1,C1,2026-03-02T10:00:00+08:00,10.50,\"Nasi lemak, \"\"special\"\"\",,\n\
                    \n\
                    R-2,C1,2026-03-02T11:00:00Z,100,\"two\nlines\",8,02\n\
                    R-3,C1,not a time,1,,,\n\
                    R-4,C1,2026-03-02T11:00:00Z,1.234,,,\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 4);
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(
            first.description.as_deref(),
            Some("Nasi lemak, \"special\"")
        );
        assert_eq!(first.tax_type, "06");
        assert_eq!(first.tax_amount, Decimal::ZERO);
        let second = rows[1].1.as_ref().unwrap();
        assert_eq!(rows[1].0, 4);
        assert_eq!(second.tax_amount, Decimal::new(800, 2));
        assert_eq!(second.description.as_deref(), Some("two\nlines"));
        assert_eq!(rows[2].0, 6);
        assert!(rows[2].1.is_err());
        assert!(
            rows[3]
                .1
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("2 decimals")
        );
    }

    #[test]
    fn csv_headers_are_checked() {
        assert!(parse_csv("number,issuer_tin,issued_at\n").is_err());
        assert!(parse_csv("number,issuer_tin,issued_at,amount,colour\n").is_err());
        assert!(parse_csv("").is_err());
        assert!(parse_csv("number,issuer_tin,issued_at,amount\n\"R-1,C1,x,1\n").is_err());
    }
}

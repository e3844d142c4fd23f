//! What the gateway writes into the documents it builds for an issuer: the supplier's
//! details, and how it consolidates (line method, version, relaxation period). A buyer's
//! details for an individual e-invoice take the same shape.

use chrono::NaiveDate;
use invois_model::consolidation::{LineMethod, Phase, Relaxation};
use invois_model::model::{Address, Party};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDetails {
    /// Address lines, 1 to 3.
    pub lines: Vec<String>,
    /// City.
    pub city: String,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_zone: Option<String>,
    /// State code (`01`-`17`).
    pub state: String,
    /// Country, ISO 3166-1 alpha-3 (default `MYS`).
    #[serde(default = "malaysia")]
    pub country: String,
}

fn malaysia() -> String {
    "MYS".to_owned()
}

/// A supplier or buyer, as written into a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyDetails {
    /// Registration name.
    pub name: String,
    /// TIN.
    pub tin: String,
    /// `BRN`, `NRIC`, `PASSPORT` or `ARMY`.
    pub id_scheme: String,
    /// The number in that scheme.
    pub id: String,
    /// SST registration (`NA` when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sst: Option<String>,
    /// Tourism tax registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttx: Option<String>,
    /// MSIC code (supplier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msic_code: Option<String>,
    /// Business activity description (supplier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msic_description: Option<String>,
    /// Address.
    pub address: AddressDetails,
    /// Contact number.
    pub phone: String,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl PartyDetails {
    /// The model's party.
    pub fn to_party(&self) -> Party {
        let a = &self.address;
        let mut address = Address::new(
            a.lines.first().cloned().unwrap_or_default(),
            a.city.clone(),
            a.state.clone(),
            a.country.clone(),
        );
        for line in a.lines.iter().skip(1) {
            address = address.line(line.clone());
        }
        if let Some(z) = &a.postal_zone {
            address = address.postal_zone(z.clone());
        }
        let mut party = Party::new(
            self.name.clone(),
            self.tin.clone(),
            self.id_scheme.clone(),
            self.id.clone(),
            address,
            self.phone.clone(),
        );
        if let (Some(code), Some(desc)) = (&self.msic_code, &self.msic_description) {
            party = party.msic(code.clone(), desc.clone());
        }
        if let Some(s) = &self.sst {
            party = party.sst(s.clone());
        }
        if let Some(t) = &self.ttx {
            party = party.ttx(t.clone());
        }
        if let Some(e) = &self.email {
            party = party.email(e.clone());
        }
        party
    }
}

/// How receipts become lines: `ranges` (one line per run of continuous receipt numbers, the
/// default) or `per_receipt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineMethodName {
    /// One line per run of continuous numbers.
    #[default]
    Ranges,
    /// One line per receipt.
    PerReceipt,
}

impl From<LineMethodName> for LineMethod {
    fn from(m: LineMethodName) -> LineMethod {
        match m {
            LineMethodName::Ranges => LineMethod::Ranges,
            LineMethodName::PerReceipt => LineMethod::PerReceipt,
        }
    }
}

fn version_1_0() -> String {
    "1.0".to_owned()
}

/// An issuer's details for the documents the gateway builds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerProfile {
    /// The supplier, as written into consolidated and individual e-invoices.
    pub supplier: PartyDetails,
    /// How receipts become lines.
    #[serde(default)]
    pub line_method: LineMethodName,
    /// Document version: `1.0` (default) or `1.1` (signed by the gateway's certificate).
    #[serde(default = "version_1_0")]
    pub version: String,
    /// The implementation phase (1-5) whose interim relaxation period the issuer adopts;
    /// absent: none. Inside it the single-transaction limit and the excluded activities
    /// are lifted (SG45 16.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relaxation_phase: Option<u8>,
    /// Another last day for that period (phases 4 and 5 have disputed end dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub relaxation_until: Option<NaiveDate>,
}

impl IssuerProfile {
    /// The relaxation period the issuer adopts, if any.
    pub fn relaxation(&self) -> Option<Relaxation> {
        let period = Relaxation::of_phase(Phase::from_number(self.relaxation_phase?)?);
        Some(match self.relaxation_until {
            Some(until) => period.ending(until),
            None => period,
        })
    }

    /// What is wrong with the profile, if anything.
    pub fn problem(&self, issuer_tin: &str) -> Option<String> {
        if self.supplier.tin != issuer_tin {
            return Some(format!(
                "supplier.tin is {} but the profile is for {issuer_tin}",
                self.supplier.tin
            ));
        }
        if self
            .relaxation_phase
            .is_some_and(|p| Phase::from_number(p).is_none())
        {
            return Some("relaxation_phase is 1 to 5".to_owned());
        }
        if !invois_model::codes::VERSIONS.contains(&self.version.as_str()) {
            return Some(format!(
                "version {} is not 1.0, 1.1, 1.2 or 1.3",
                self.version
            ));
        }
        if self.supplier.address.lines.is_empty() {
            return Some("supplier.address.lines needs at least one line".to_owned());
        }
        None
    }
}

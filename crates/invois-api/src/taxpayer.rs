//! Taxpayer APIs: Validate TIN, Search TIN and QR code info (README §4.2).

use serde::{Deserialize, Serialize};

/// Identification types used by the taxpayer and document APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdType {
    /// Malaysian identity card.
    #[serde(rename = "NRIC")]
    Nric,
    /// Passport.
    #[serde(rename = "PASSPORT")]
    Passport,
    /// Business registration number.
    #[serde(rename = "BRN")]
    Brn,
    /// Army number.
    #[serde(rename = "ARMY")]
    Army,
}

impl IdType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            IdType::Nric => "NRIC",
            IdType::Passport => "PASSPORT",
            IdType::Brn => "BRN",
            IdType::Army => "ARMY",
        }
    }
}

/// `GET /api/v1.0/taxpayer/validate/{tin}` query; both members mandatory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateTinQuery {
    /// ID type.
    pub id_type: IdType,
    /// ID value.
    pub id_value: String,
}

/// `GET /api/v1.0/taxpayer/search/tin` query: `taxpayerName`, or `idType`+`idValue`, or all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchTinQuery {
    /// ID type (with `idValue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_type: Option<IdType>,
    /// ID value (with `idType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_value: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxpayer_name: Option<String>,
    /// `1` individual/IG TIN, `2` non-individual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<u8>,
}

/// Search TIN's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchTinResponse {
    /// The one matching TIN.
    pub tin: String,
}

/// `GET /api/v1.0/taxpayers/qrcodeinfo/{qrCodeText}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QrCodeInfo {
    /// TIN.
    pub tin: String,
    /// Name.
    pub name: String,
    /// ID type.
    pub id_type: String,
    /// ID number.
    pub id_number: String,
    /// SST number.
    #[serde(default)]
    pub sst: Option<String>,
    /// E-mails, semicolon-separated.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub contact_number: Option<String>,
    /// Tourism tax number.
    #[serde(default)]
    pub ttx: Option<String>,
    /// Business activity (Malay).
    #[serde(default, rename = "businessActivityDescriptionBM")]
    pub business_activity_description_bm: Option<String>,
    /// Business activity (English).
    #[serde(default, rename = "businessActivityDescriptionEN")]
    pub business_activity_description_en: Option<String>,
    /// MSIC code.
    #[serde(default)]
    pub msic: Option<String>,
    /// Address line 0.
    #[serde(default)]
    pub address_line0: Option<String>,
    /// Address line 1.
    #[serde(default)]
    pub address_line1: Option<String>,
    /// Address line 2.
    #[serde(default)]
    pub address_line2: Option<String>,
    /// Postcode.
    #[serde(default)]
    pub postal_zone: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State.
    #[serde(default)]
    pub state: Option<String>,
    /// Country.
    #[serde(default)]
    pub country: Option<String>,
    /// When the QR was generated.
    #[serde(default)]
    pub generated_timestamp: Option<String>,
}

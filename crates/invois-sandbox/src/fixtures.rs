//! Who exists in the sandbox: taxpayers, their ERP clients, and intermediaries.
//!
//! A fixture file is JSON:
//!
//! ```json
//! {
//!   "taxpayers": [
//!     {
//!       "tin": "C25845632020",
//!       "name": "Demo Supplier Sdn. Bhd.",
//!       "id_type": "BRN",
//!       "id_value": "202001234567",
//!       "sst": "W10-1808-32000001",
//!       "email": "accounts@supplier.example",
//!       "contact_number": "+60312345678",
//!       "msic": "46510",
//!       "business_activity": "Wholesale of computer hardware",
//!       "address": { "line0": "Lot 66", "postal_zone": "50480", "city": "Kuala Lumpur",
//!                    "state": "14", "country": "MYS" },
//!       "qr_code_text": "4e1bc907-25b7-45b1-9620-2d671a6f9cae",
//!       "clients": [ { "client_id": "…", "client_secret": "…" } ]
//!     }
//!   ],
//!   "intermediaries": [
//!     { "tin": "C30000000010", "rob": "202101000001", "name": "Demo Tax Agent",
//!       "client_id": "…", "client_secret": "…", "represents": ["C25845632020"] }
//!   ]
//! }
//! ```
//!
//! A taxpayer may also name the interim relaxation period it adopts for its consolidated
//! e-invoices: `"relaxation_phase": 4` and, for the disputed ends, `"relaxation_until":
//! "2026-12-31"`.
//!
//! Every member except `tin`, `name`, `id_type`, `id_value` (taxpayers) and `tin`, `name`,
//! `client_id`, `client_secret` (intermediaries) is optional. Unknown members are refused so a
//! typo does not silently drop a field.

use std::fmt;
use std::path::Path;

use invois_api::taxpayer::IdType;
use serde::{Deserialize, Serialize};

/// The whole fixture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Taxpayers, each with its ERP clients.
    #[serde(default)]
    pub taxpayers: Vec<Taxpayer>,
    /// Intermediaries, each with the taxpayers it represents.
    #[serde(default)]
    pub intermediaries: Vec<Intermediary>,
    /// Whether this is the built-in demo fixture (its secrets may be printed). Never read from
    /// a file.
    #[serde(skip)]
    pub is_demo: bool,
}

/// A taxpayer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxpayer {
    /// TIN, e.g. `C25845632020`.
    pub tin: String,
    /// Registered name.
    pub name: String,
    /// ID type of `id_value`.
    pub id_type: IdType,
    /// BRN, NRIC, passport or army number.
    pub id_value: String,
    /// SST registration number.
    #[serde(default)]
    pub sst: Option<String>,
    /// Tourism tax number.
    #[serde(default)]
    pub ttx: Option<String>,
    /// E-mail(s), semicolon-separated.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub contact_number: Option<String>,
    /// MSIC code.
    #[serde(default)]
    pub msic: Option<String>,
    /// Business activity description (English; reused for Malay).
    #[serde(default)]
    pub business_activity: Option<String>,
    /// Address (for QR code info).
    #[serde(default)]
    pub address: Option<Address>,
    /// The GUID the taxpayer's MyTax QR code decodes to.
    #[serde(default)]
    pub qr_code_text: Option<String>,
    /// ERP systems registered by this taxpayer.
    #[serde(default)]
    pub clients: Vec<ClientCredentials>,
    /// The implementation phase (1-5) whose interim relaxation period this taxpayer adopts
    /// (adopting one is optional, FAQ26 Q106, so MyInvois would know it from the taxpayer,
    /// not from the document). Inside the period its consolidated e-invoices may hold what
    /// Table 3.6 otherwise excludes: single transactions above RM10,000, the named
    /// activities. Absent: none adopted.
    #[serde(default)]
    pub relaxation_phase: Option<u8>,
    /// Another last day for that period: the ends of phases 4 and 5 are disputed.
    #[serde(default)]
    pub relaxation_until: Option<chrono::NaiveDate>,
}

impl Taxpayer {
    /// The relaxation period the taxpayer adopts, if any (`None` also for a phase outside
    /// 1-5, which [`Fixtures::check`] refuses).
    pub fn relaxation(&self) -> Option<invois_model::consolidation::Relaxation> {
        let phase = invois_model::consolidation::Phase::from_number(self.relaxation_phase?)?;
        let period = invois_model::consolidation::Relaxation::of_phase(phase);
        Some(self.relaxation_until.map_or(period, |d| period.ending(d)))
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Line 0.
    #[serde(default)]
    pub line0: Option<String>,
    /// Line 1.
    #[serde(default)]
    pub line1: Option<String>,
    /// Line 2.
    #[serde(default)]
    pub line2: Option<String>,
    /// Postcode.
    #[serde(default)]
    pub postal_zone: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State code or name.
    #[serde(default)]
    pub state: Option<String>,
    /// Country code.
    #[serde(default)]
    pub country: Option<String>,
}

/// An ERP client id and secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// An intermediary (tax agent, service provider) with its own ERP client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intermediary {
    /// The intermediary's TIN.
    pub tin: String,
    /// The intermediary's ROB/registration number.
    #[serde(default)]
    pub rob: Option<String>,
    /// Name.
    pub name: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// TINs of the taxpayers it represents.
    #[serde(default)]
    pub represents: Vec<String>,
}

impl fmt::Debug for Intermediary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intermediary")
            .field("tin", &self.tin)
            .field("rob", &self.rob)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("represents", &self.represents)
            .finish()
    }
}

/// Why a fixture file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The file could not be read.
    #[error("cannot read fixture file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The JSON is malformed or has unknown members.
    #[error("fixture file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The content is inconsistent.
    #[error("fixture is inconsistent: {0}")]
    Inconsistent(String),
}

/// General TINs every taxpayer may use as a buyer or supplier (README §6.3).
pub const GENERAL_TINS: [&str; 4] = [
    "EI00000000010",
    "EI00000000020",
    "EI00000000030",
    "EI00000000040",
];

impl Fixtures {
    /// Reads a fixture file.
    pub fn from_file(path: &Path) -> Result<Fixtures, FixtureError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            path: display.clone(),
            source,
        })?;
        Fixtures::from_json(&text).map_err(|e| match e {
            FixtureError::Parse { source, .. } => FixtureError::Parse {
                path: display,
                source,
            },
            other => other,
        })
    }

    /// Parses fixture JSON.
    pub fn from_json(text: &str) -> Result<Fixtures, FixtureError> {
        let fixtures: Fixtures =
            serde_json::from_str(text).map_err(|source| FixtureError::Parse {
                path: "(inline)".to_owned(),
                source,
            })?;
        fixtures.check()?;
        Ok(fixtures)
    }

    /// Checks that client ids are unique and represented taxpayers exist.
    pub fn check(&self) -> Result<(), FixtureError> {
        let mut ids = std::collections::HashSet::new();
        let all_ids = self
            .taxpayers
            .iter()
            .flat_map(|t| t.clients.iter().map(|c| c.client_id.as_str()))
            .chain(self.intermediaries.iter().map(|i| i.client_id.as_str()));
        for id in all_ids {
            if !ids.insert(id) {
                return Err(FixtureError::Inconsistent(format!(
                    "client id `{id}` appears twice"
                )));
            }
        }
        for t in &self.taxpayers {
            let phase_ok = t.relaxation_phase.is_none_or(|n| (1..=5).contains(&n));
            if !phase_ok || (t.relaxation_until.is_some() && t.relaxation_phase.is_none()) {
                return Err(FixtureError::Inconsistent(format!(
                    "taxpayer {}: relaxation_phase is 1 to 5, and relaxation_until needs it",
                    t.tin
                )));
            }
        }
        for i in &self.intermediaries {
            for tin in &i.represents {
                if self.taxpayer(tin).is_none() {
                    return Err(FixtureError::Inconsistent(format!(
                        "intermediary {} represents unknown taxpayer {tin}",
                        i.tin
                    )));
                }
            }
        }
        Ok(())
    }

    /// The taxpayer with this TIN.
    pub fn taxpayer(&self, tin: &str) -> Option<&Taxpayer> {
        self.taxpayers
            .iter()
            .find(|t| t.tin.eq_ignore_ascii_case(tin))
    }

    /// Whether `tin` is a fixture taxpayer or one of the general TINs.
    pub fn tin_known(&self, tin: &str) -> bool {
        GENERAL_TINS.contains(&tin) || self.taxpayer(tin).is_some()
    }

    /// The built-in demo fixture: two taxpayers (a supplier and a buyer) with one ERP client
    /// each, and an intermediary representing the supplier. Its secrets are public demo
    /// values.
    pub fn demo() -> Fixtures {
        Fixtures {
            taxpayers: vec![
                Taxpayer {
                    tin: "C25845632020".to_owned(),
                    name: "Demo Supplier Sdn. Bhd.".to_owned(),
                    id_type: IdType::Brn,
                    id_value: "202001234567".to_owned(),
                    sst: Some("W10-1808-32000001".to_owned()),
                    ttx: None,
                    email: Some("accounts@supplier.example".to_owned()),
                    contact_number: Some("+60312345678".to_owned()),
                    msic: Some("46510".to_owned()),
                    business_activity: Some(
                        "Wholesale of computer hardware, software and peripherals".to_owned(),
                    ),
                    address: Some(Address {
                        line0: Some("Lot 66, Bangunan Merdeka".to_owned()),
                        line1: Some("Persiaran Jaya".to_owned()),
                        line2: None,
                        postal_zone: Some("50480".to_owned()),
                        city: Some("Kuala Lumpur".to_owned()),
                        state: Some("14".to_owned()),
                        country: Some("MYS".to_owned()),
                    }),
                    qr_code_text: Some("4e1bc907-25b7-45b1-9620-2d671a6f9cae".to_owned()),
                    clients: vec![ClientCredentials {
                        client_id: "7c3f9a2e-1b4d-4e8a-9f60-5d2c8b1a0e11".to_owned(),
                        client_secret: "demo-supplier-secret-5d2c8b1a".to_owned(),
                    }],
                    relaxation_phase: None,
                    relaxation_until: None,
                },
                Taxpayer {
                    tin: "C10987654320".to_owned(),
                    name: "Demo Buyer Berhad".to_owned(),
                    id_type: IdType::Brn,
                    id_value: "201901234567".to_owned(),
                    sst: None,
                    ttx: None,
                    email: Some("ap@buyer.example".to_owned()),
                    contact_number: Some("+60387654321".to_owned()),
                    msic: Some("62010".to_owned()),
                    business_activity: Some("Computer programming activities".to_owned()),
                    address: Some(Address {
                        line0: Some("Level 10, Menara Demo".to_owned()),
                        line1: None,
                        line2: None,
                        postal_zone: Some("47800".to_owned()),
                        city: Some("Petaling Jaya".to_owned()),
                        state: Some("10".to_owned()),
                        country: Some("MYS".to_owned()),
                    }),
                    qr_code_text: Some("a81d3b55-0c2e-4f7b-8e4a-6f1b2c3d4e5f".to_owned()),
                    clients: vec![ClientCredentials {
                        client_id: "2a6e4c1d-8f3b-4a9e-b7d2-0c5e9f8a7b22".to_owned(),
                        client_secret: "demo-buyer-secret-0c5e9f8a".to_owned(),
                    }],
                    relaxation_phase: None,
                    relaxation_until: None,
                },
            ],
            intermediaries: vec![Intermediary {
                tin: "C30000000010".to_owned(),
                rob: Some("202101000001".to_owned()),
                name: "Demo Tax Agent Sdn. Bhd.".to_owned(),
                client_id: "9b1e7d3c-5a2f-4c8e-a6b4-3d9f1e2c5a33".to_owned(),
                client_secret: "demo-intermediary-secret-3d9f1e2c".to_owned(),
                represents: vec!["C25845632020".to_owned()],
            }],
            is_demo: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_consistent_and_round_trips() {
        let demo = Fixtures::demo();
        demo.check().unwrap();
        let json = serde_json::to_string(&demo).unwrap();
        let back = Fixtures::from_json(&json).unwrap();
        assert_eq!(back.taxpayers, demo.taxpayers);
        assert!(!back.is_demo, "a file is never the demo");
    }

    #[test]
    fn unknown_members_and_dangling_representation_are_refused() {
        assert!(Fixtures::from_json(r#"{"taxpayer":[]}"#).is_err());
        let dangling = r#"{"intermediaries":[{"tin":"C1","name":"I","client_id":"a","client_secret":"b","represents":["C9"]}]}"#;
        assert!(matches!(
            Fixtures::from_json(dangling),
            Err(FixtureError::Inconsistent(_))
        ));
    }

    #[test]
    fn a_relaxation_phase_is_1_to_5_and_its_end_needs_it() {
        let with = |extra: &str| {
            Fixtures::from_json(&format!(
                r#"{{"taxpayers":[{{"tin":"C1","name":"T","id_type":"BRN","id_value":"1"{extra}}}]}}"#
            ))
        };
        let four = with(r#","relaxation_phase":4,"relaxation_until":"2026-12-31""#).unwrap();
        let period = four.taxpayers[0].relaxation().unwrap();
        assert_eq!(period.until.to_string(), "2026-12-31");
        assert_eq!(period.from.to_string(), "2026-01-01");
        assert!(with("").unwrap().taxpayers[0].relaxation().is_none());
        assert!(with(r#","relaxation_phase":6"#).is_err());
        assert!(with(r#","relaxation_until":"2026-12-31""#).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let demo = Fixtures::demo();
        let s = format!("{demo:?}");
        assert!(!s.contains("demo-supplier-secret"), "{s}");
        assert!(!s.contains("demo-intermediary-secret"), "{s}");
    }
}

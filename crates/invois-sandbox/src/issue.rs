//! The sandbox as a supplier: [`Sandbox::issue_to`] files a document from one fixture
//! taxpayer to another, as if the supplier's ERP had submitted it, and validates it at once.
//!
//! A buyer's integration (finding received documents, rejecting one within 72 hours) needs
//! documents issued *to* it. Submitting them through the API would need the supplier's
//! credentials and the validation delay in every test; this hook does neither, but the
//! document goes through the same validators and leaves the same traces (a submission the
//! supplier can read, `Document validated` for the supplier, `Document received` for the
//! buyer), so the buyer's side sees exactly what a real supplier's document would make.

use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use invois_api::submission::DocumentFormat;
use invois_model::model::{Address, Invoice, Line, Party};
use invois_model::{DocumentType, Format};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::fixtures::Taxpayer;
use crate::store::{DocumentRecord, SubmissionRecord, random_id};
use crate::validate::{STRUCTURE_STEP, validate_document};
use crate::{Caller, Sandbox};

/// What to issue (every member optional): see [`Sandbox::issue_to`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    /// The supplier's TIN: a fixture taxpayer. Default: the first fixture taxpayer other than
    /// the buyer.
    #[serde(default)]
    pub supplier_tin: Option<String>,
    /// The supplier's number for the document. Default: `SBX-` and ten random characters.
    #[serde(default)]
    pub internal_id: Option<String>,
    /// The single line's unit price in MYR, before 6 % service tax. Default: 100.00.
    #[serde(default)]
    pub unit_price: Option<Decimal>,
}

/// A document [`Sandbox::issue_to`] filed, valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedDocument {
    /// Its MyInvois uuid.
    pub uuid: String,
    /// Its long id (for the validation link).
    pub long_id: String,
    /// The submission it was filed under.
    pub submission_uid: String,
    /// The supplier's number for it.
    pub internal_id: String,
    /// The supplier.
    pub supplier_tin: String,
    /// The buyer.
    pub buyer_tin: String,
    /// When it became valid (the sandbox's clock): the buyer may reject it for 72 hours.
    pub validated_at: DateTime<Utc>,
}

/// Why [`Sandbox::issue_to`] issued nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The buyer is not a fixture taxpayer (only they can log in to see it).
    #[error("buyer {0} is not a taxpayer of this sandbox's fixture")]
    UnknownBuyer(String),
    /// The named supplier is not a fixture taxpayer.
    #[error("supplier {0} is not a taxpayer of this sandbox's fixture")]
    UnknownSupplier(String),
    /// No supplier was named and the fixture has no taxpayer besides the buyer.
    #[error("the fixture has no taxpayer other than buyer {0} to issue from")]
    NoSupplier(String),
    /// The supplier and the buyer are the same taxpayer.
    #[error("{0} cannot issue a document to itself")]
    SameParty(String),
    /// The document could not be built (a fixture value the model refuses).
    #[error("the document could not be built: {0}")]
    Build(String),
    /// The sandbox's own validators found the document invalid.
    #[error("the document {uuid} is {status} after validation: {steps}")]
    NotValid {
        /// The stored document.
        uuid: String,
        /// Its status.
        status: DocumentStatus,
        /// The failing steps' errors.
        steps: String,
    },
}

impl Sandbox {
    /// Files a valid invoice from a supplier to `buyer_tin`, both fixture taxpayers, and
    /// validates it at once on the sandbox's clock: the buyer finds it with Search Documents
    /// (direction `Received`), gets a `Document received` notification, and may reject it
    /// for 72 hours from now. The supplier sees it as its own submission.
    pub fn issue_to(&self, buyer_tin: &str, issue: &Issue) -> Result<IssuedDocument, IssueError> {
        let fixtures = self.fixtures();
        let buyer = fixtures
            .taxpayer(buyer_tin.trim())
            .ok_or_else(|| IssueError::UnknownBuyer(buyer_tin.to_owned()))?;
        let supplier = match &issue.supplier_tin {
            Some(tin) => fixtures
                .taxpayer(tin.trim())
                .ok_or_else(|| IssueError::UnknownSupplier(tin.clone()))?,
            None => fixtures
                .taxpayers
                .iter()
                .find(|t| !t.tin.eq_ignore_ascii_case(&buyer.tin))
                .ok_or_else(|| IssueError::NoSupplier(buyer.tin.clone()))?,
        };
        if supplier.tin.eq_ignore_ascii_case(&buyer.tin) {
            return Err(IssueError::SameParty(buyer.tin.clone()));
        }
        let internal_id = issue
            .internal_id
            .clone()
            .unwrap_or_else(|| format!("SBX-{}", random_id(10)));
        let now = self.clock().now();
        let price = issue.unit_price.unwrap_or(Decimal::new(10_000, 2));
        let raw = invoice(supplier, buyer, &internal_id, price, now)?;
        let context = self.inner.config.validation_context(now);
        let facts = crate::facts::extract(DocumentFormat::Json, raw.as_bytes(), &context)
            .map_err(|e| IssueError::Build(e.to_string()))?;
        let caller = Caller {
            client_id: supplier.clients.first().map_or_else(
                || format!("sandbox-{}", supplier.tin),
                |c| c.client_id.clone(),
            ),
            tin: supplier.tin.clone(),
            on_behalf_of: None,
            intermediary_tin: None,
        };
        let (uuid, submission_uid) = (random_id(26), random_id(26));
        {
            let mut store = self.inner.store.lock();
            store.insert_document(DocumentRecord {
                uuid: uuid.clone(),
                submission_uid: submission_uid.clone(),
                long_id: None,
                format: DocumentFormat::Json,
                raw,
                code_number: internal_id.clone(),
                facts,
                status: DocumentStatus::Submitted,
                received: now,
                validated: None,
                cancelled: None,
                reject_requested: None,
                status_reason: None,
                submitter: caller.clone(),
                steps: vec![invois_api::documents::ValidationStep {
                    name: STRUCTURE_STEP.to_owned(),
                    status: DocumentStatus::Valid,
                    error: None,
                }],
            });
            store.submissions.insert(
                submission_uid.clone(),
                SubmissionRecord {
                    uid: submission_uid.clone(),
                    received: now,
                    submitter: caller,
                    documents: vec![uuid.clone()],
                },
            );
        }
        let config = &self.inner.config;
        validate_document(self, config, fixtures, &uuid);
        self.issued(&uuid, &submission_uid, &internal_id, supplier, buyer)
    }

    /// The outcome of validating an issued document.
    fn issued(
        &self,
        uuid: &str,
        submission_uid: &str,
        internal_id: &str,
        supplier: &Taxpayer,
        buyer: &Taxpayer,
    ) -> Result<IssuedDocument, IssueError> {
        let store = self.inner.store.lock();
        let doc = store.document(uuid).ok_or_else(|| IssueError::NotValid {
            uuid: uuid.to_owned(),
            status: DocumentStatus::Invalid,
            steps: "the document vanished (a reset)".to_owned(),
        })?;
        match (doc.status, &doc.long_id, doc.validated) {
            (DocumentStatus::Valid, Some(long_id), Some(validated_at)) => Ok(IssuedDocument {
                uuid: uuid.to_owned(),
                long_id: long_id.clone(),
                submission_uid: submission_uid.to_owned(),
                internal_id: internal_id.to_owned(),
                supplier_tin: supplier.tin.clone(),
                buyer_tin: buyer.tin.clone(),
                validated_at,
            }),
            _ => Err(IssueError::NotValid {
                uuid: uuid.to_owned(),
                status: doc.status,
                steps: doc
                    .steps
                    .iter()
                    .filter_map(|s| s.error.as_ref())
                    .filter_map(|e| e.error.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }
}

/// A fixture taxpayer as a document party.
fn party(t: &Taxpayer) -> Party {
    let a = t.address.clone().unwrap_or_default();
    let mut address = Address::new(
        a.line0.unwrap_or_else(|| "-".to_owned()),
        a.city.unwrap_or_else(|| "Kuala Lumpur".to_owned()),
        a.state.unwrap_or_else(|| "14".to_owned()),
        a.country.unwrap_or_else(|| "MYS".to_owned()),
    );
    if let Some(zone) = a.postal_zone {
        address = address.postal_zone(zone);
    }
    let mut p = Party::new(
        &t.name,
        &t.tin,
        t.id_type.as_str(),
        &t.id_value,
        address,
        t.contact_number.clone().unwrap_or_else(|| "NA".to_owned()),
    );
    if let Some(sst) = &t.sst {
        p = p.sst(sst);
    }
    if let Some(email) = &t.email {
        p = p.email(email);
    }
    p
}

/// A one-line version 1.0 invoice (unsigned, as 1.0 allows), minified JSON.
fn invoice(
    supplier: &Taxpayer,
    buyer: &Taxpayer,
    internal_id: &str,
    unit_price: Decimal,
    now: DateTime<Utc>,
) -> Result<String, IssueError> {
    let msic = supplier.msic.clone().unwrap_or_else(|| "00000".to_owned());
    let activity = supplier
        .business_activity
        .clone()
        .unwrap_or_else(|| "NOT APPLICABLE".to_owned());
    let invoice = Invoice::builder(DocumentType::Invoice, internal_id, now)
        .supplier(party(supplier).msic(msic, activity))
        .buyer(party(buyer))
        .line(
            Line::new(
                "022",
                "Consulting services",
                Decimal::ONE,
                "HUR",
                unit_price,
            )
            .tax_percent("02", Decimal::new(6, 0)),
        )
        .build()
        .map_err(|e| IssueError::Build(e.to_string()))?;
    Ok(invoice.to_document().to_string_as(Format::Json))
}

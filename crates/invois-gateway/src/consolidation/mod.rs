//! Monthly consolidated e-invoices (business rules §1), built from the receipts the ERP posts
//! and sent through the normal pipeline.
//!
//! - Receipts arrive through `POST /v1/receipts` (JSON or CSV, [`input`]) and wait, `open`,
//!   in their Malaysian month.
//! - Once the month has closed (and [`ConsolidationConfig::after_close`] has passed, for
//!   receipts the ERP posts late), the pipeline's consolidation loop ([`Consolidator::run_once`])
//!   or `POST /v1/consolidations` builds the month ([`Consolidator::consolidate`]): each
//!   receipt is asked the dated rules ([`invois_model::consolidation::may_consolidate`]); the
//!   ones that may not be consolidated are excluded and reported; the others become
//!   consolidated e-invoices (General Public buyer, classification `004`, lines per receipt
//!   or per run, split within the limits) stored through [`Intake`], so the pipeline
//!   prepares, signs, submits and polls each exactly once.
//! - The consolidation is made before any receipt is assigned, and its documents' issue
//!   instant is fixed then: building again after a crash writes the same documents, which
//!   intake takes as repeats.
//! - A buyer's request for an individual e-invoice ([`Consolidator::individual`]) takes an
//!   open (or excluded) receipt out of its month and issues it its own e-invoice; once the
//!   receipt is in a consolidated e-invoice the request is refused (SG45 3.6.8: a request
//!   after the month, once it is consolidated, may be refused; no procedure exists to take a
//!   receipt back out of a validated consolidated e-invoice).
//! - The deadline (the 7th day after the month) is on every consolidation's status. As it
//!   nears for a month not yet at MyInvois (built or not), the loop warns in the log, sends a
//!   webhook once per month and status, and keeps gauges of months pending ([`deadline`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use invois_clock::Clock;
use invois_model::consolidation::{
    self as rules, BuiltDocument, ConsolidationSpec, Month, Receipt, SplitLimits, Transaction,
};
use invois_model::model::{BuildError, Invoice, Line};
use invois_model::{DocumentType, Format};

use crate::clients::ClientPool;
use crate::intake::{Intake, IntakeError};
use crate::metrics::Metrics;
use crate::store::{
    ConsolidatedDocument, ConsolidationRecord, ConsolidationState, ConsolidationSummary,
    DocumentId, DocumentState, ExcludedReceipt, ReceiptFilter, ReceiptRecord, ReceiptState, Store,
    StoreError,
};

pub mod deadline;
pub mod input;
pub mod profile;

pub use deadline::{
    DeadlinePayload, EVENT_DEADLINE_NEAR, EVENT_DEADLINE_PASSED, PendingDocument, PendingMonth,
};
pub use input::{ReceiptError, ReceiptInput, parse_csv};
pub use profile::{AddressDetails, IssuerProfile, LineMethodName, PartyDetails};

/// What can go wrong consolidating or issuing an individual e-invoice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsolidationError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The issuer has no supplier details to write into documents.
    #[error(
        "no supplier details for {0}: store them first (PUT /v1/issuers/{0}), so the gateway \
         can write the supplier into the documents it builds"
    )]
    NoProfile(String),
    /// The month has not closed yet.
    #[error("{month} closes at {closes_at} (midnight in Malaysia); it can be consolidated after")]
    MonthOpen {
        /// The month.
        month: Month,
        /// When it closes.
        closes_at: DateTime<Utc>,
    },
    /// No such receipt.
    #[error("no receipt {number} of {issuer_tin}")]
    NoReceipt {
        /// Issuer.
        issuer_tin: String,
        /// Number.
        number: String,
    },
    /// The receipt is already in a consolidated e-invoice.
    #[error(
        "receipt {number} is in the consolidated e-invoice of {month} (consolidation \
         {consolidation_id}{document}): the rules let a supplier refuse a request made after \
         the month once it is consolidated, and give no way to take a receipt back out of a \
         consolidated e-invoice (SG45 3.6.8). To honour it anyway, adjust the consolidated \
         e-invoice with a credit note for the receipt and then issue the individual e-invoice \
         yourself"
    )]
    AlreadyConsolidated {
        /// The receipt.
        number: String,
        /// Its month.
        month: Month,
        /// The consolidation.
        consolidation_id: i64,
        /// `, document N` when known.
        document: String,
    },
    /// A document could not be built.
    #[error("cannot build the document: {0}")]
    Build(#[from] BuildError),
    /// Intake refused a built document (a bug, or a clash with an ERP document number).
    #[error("storing {internal_id}: {source}")]
    Intake {
        /// The document number.
        internal_id: String,
        /// Why.
        source: IntakeError,
    },
    /// The stored profile does not read back.
    #[error("the stored profile of {0} is unreadable: {1}")]
    BadProfile(String, String),
}

/// When and how the month-end loop consolidates.
#[derive(Debug, Clone)]
pub struct ConsolidationConfig {
    /// Whether the pipeline runs the month-end loop.
    pub enabled: bool,
    /// How long after a month closes it is consolidated (receipts posted late still join).
    pub after_close: Duration,
    /// How long before the deadline a month not yet submitted is warned about.
    pub warn_before: Duration,
    /// How often the loop looks.
    pub every: Duration,
    /// Per-document limits.
    pub limits: SplitLimits,
}

impl Default for ConsolidationConfig {
    fn default() -> ConsolidationConfig {
        ConsolidationConfig {
            enabled: true,
            after_close: Duration::from_secs(3600),
            warn_before: Duration::from_secs(2 * 24 * 3600),
            every: Duration::from_secs(60),
            limits: SplitLimits::default(),
        }
    }
}

/// How a month stands against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Every document has reached MyInvois (submitted or further).
    Submitted,
    /// Not yet, and the deadline is more than the warning time away.
    OnTime,
    /// Not yet, and the deadline is near.
    DueSoon,
    /// Not yet, and the deadline has passed.
    Overdue,
}

impl DeadlineState {
    /// The name the API, webhooks and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Submitted => "submitted",
            DeadlineState::OnTime => "on_time",
            DeadlineState::DueSoon => "due_soon",
            DeadlineState::Overdue => "overdue",
        }
    }
}

/// What [`Consolidator::consolidate`] did.
#[derive(Debug, Clone)]
pub struct Consolidated {
    /// The consolidation.
    pub record: ConsolidationRecord,
    /// Whether this call built it (false: it was built before).
    pub created: bool,
    /// The receipts it excluded.
    pub excluded: Vec<ReceiptRecord>,
}

/// Builds consolidations and individual e-invoices. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Consolidator {
    store: Arc<Store>,
    intake: Intake,
    clock: Clock,
    config: ConsolidationConfig,
    metrics: Option<Metrics>,
    unbuilt_warned: WarnedDays,
}

/// The day each (issuer, month) that cannot be built was last warned about: the loop runs
/// every minute, and one warning a day is enough (the deadline webhook and gauges carry the
/// alert).
#[derive(Debug, Clone, Default)]
struct WarnedDays(Arc<std::sync::Mutex<std::collections::HashMap<(String, Month), NaiveDate>>>);

impl WarnedDays {
    /// True the first time `key` is seen on `day`, false after that until another day.
    fn first_today(&self, key: (String, Month), day: NaiveDate) -> bool {
        // A poisoned lock only means a panic elsewhere; the map is still usable.
        let mut days = self.0.lock().unwrap_or_else(|e| e.into_inner());
        days.insert(key, day) != Some(day)
    }
}

impl Consolidator {
    /// A consolidator storing documents through an intake into `store` routed by `clients`,
    /// on the clients' clock (the time MyInvois checks issue instants against).
    pub fn new(store: Arc<Store>, clients: &ClientPool, config: ConsolidationConfig) -> Self {
        Consolidator {
            intake: Intake::new(Arc::clone(&store), clients),
            clock: clients.base().clock().clone(),
            store,
            config,
            metrics: None,
            unbuilt_warned: WarnedDays::default(),
        }
    }

    /// Also sets the deadline gauges ([`Metrics::consolidation_deadlines`]) on each pass of
    /// the month-end loop.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ConsolidationConfig {
        &self.config
    }

    /// The issuer's stored profile.
    pub async fn profile(&self, issuer_tin: &str) -> Result<IssuerProfile, ConsolidationError> {
        let text = self
            .store
            .consolidations()
            .issuer_profile(issuer_tin)
            .await?
            .ok_or_else(|| ConsolidationError::NoProfile(issuer_tin.to_owned()))?;
        serde_json::from_str(&text)
            .map_err(|e| ConsolidationError::BadProfile(issuer_tin.to_owned(), e.to_string()))
    }

    /// Builds (or returns, when built before) the consolidation of an issuer's month.
    #[tracing::instrument(skip(self), fields(issuer.tin = issuer_tin, month = %month))]
    pub async fn consolidate(
        &self,
        issuer_tin: &str,
        month: Month,
        origin: &str,
    ) -> Result<Consolidated, ConsolidationError> {
        let now = self.clock.now();
        if now < month.closes_at() {
            return Err(ConsolidationError::MonthOpen {
                month,
                closes_at: month.closes_at(),
            });
        }
        let profile = self.profile(issuer_tin).await?;
        let (record, made) = self
            .store
            .consolidations()
            .begin(issuer_tin, month, origin, now)
            .await?;
        if record.state == ConsolidationState::Stored {
            let excluded = self.excluded(record.id).await?;
            return Ok(Consolidated {
                record,
                created: false,
                excluded,
            });
        }
        self.assign(&record, &profile).await?;
        let receipts = self
            .store
            .receipts()
            .list_all(&ReceiptFilter {
                consolidation_id: Some(record.id),
                state: Some(ReceiptState::Consolidated),
                ..ReceiptFilter::default()
            })
            .await?;
        let (summary, documents) = self.build_and_store(&record, &profile, receipts).await?;
        let record = self
            .store
            .consolidations()
            .finish(record.id, &summary, &documents)
            .await?;
        tracing::info!(
            consolidation.id = record.id,
            documents = summary.documents.len(),
            receipts = summary.receipts,
            excluded = summary.excluded,
            "consolidated {month} of {issuer_tin}: {} documents",
            summary.documents.len()
        );
        let excluded = self.excluded(record.id).await?;
        Ok(Consolidated {
            record,
            created: made,
            excluded,
        })
    }

    async fn excluded(&self, id: i64) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.store
            .receipts()
            .list_all(&ReceiptFilter {
                consolidation_id: Some(id),
                state: Some(ReceiptState::Excluded),
                ..ReceiptFilter::default()
            })
            .await
    }

    /// Asks every open receipt of the month the rules and assigns it.
    async fn assign(
        &self,
        record: &ConsolidationRecord,
        profile: &IssuerProfile,
    ) -> Result<(), ConsolidationError> {
        let open = self
            .store
            .receipts()
            .list_all(&ReceiptFilter {
                issuer_tin: Some(record.issuer_tin.clone()),
                month: Some(record.month),
                state: Some(ReceiptState::Open),
                ..ReceiptFilter::default()
            })
            .await?;
        let relaxation = profile.relaxation();
        let mut excluded = Vec::new();
        let mut included = Vec::with_capacity(open.len());
        for r in &open {
            let tx = Transaction {
                date: rules::malaysian_date(r.receipt.issued_at),
                value: r.receipt.amount + r.receipt.tax_amount,
                activity: r.receipt.activity,
                diplomatic: r.receipt.diplomatic,
            };
            match rules::may_consolidate(&tx, relaxation.as_ref()) {
                Ok(()) => included.push(r.id),
                Err(e) => excluded.push(ExcludedReceipt {
                    id: r.id,
                    rule: e.rule.name(),
                    reason: format!("{} ({})", e.reason, e.source),
                }),
            }
        }
        self.store
            .consolidations()
            .assign(record.id, &excluded, &included)
            .await?;
        Ok(())
    }

    /// Builds the documents (per branch) and stores each through intake.
    async fn build_and_store(
        &self,
        record: &ConsolidationRecord,
        profile: &IssuerProfile,
        receipts: Vec<ReceiptRecord>,
    ) -> Result<(ConsolidationSummary, Vec<(DocumentId, Vec<i64>)>), ConsolidationError> {
        let mut by_branch: BTreeMap<Option<String>, Vec<ReceiptRecord>> = BTreeMap::new();
        for r in receipts {
            by_branch
                .entry(r.receipt.branch.clone())
                .or_default()
                .push(r);
        }
        let mut summary = ConsolidationSummary {
            excluded: self.excluded(record.id).await?.len() as u64,
            ..ConsolidationSummary::default()
        };
        let mut documents = Vec::new();
        for (branch, receipts) in by_branch {
            let spec = self.spec(record, profile, branch.as_deref());
            let built = build_blocking(&receipts, spec).await?;
            for doc in built {
                let ids: Vec<i64> = doc
                    .lines
                    .iter()
                    .flat_map(|l| l.receipts.iter().map(|&i| receipts[i].id))
                    .collect();
                let inserted = self
                    .intake
                    .submit(doc.json.as_bytes(), Some(Format::Json))
                    .await
                    .map_err(|source| ConsolidationError::Intake {
                        internal_id: doc.internal_id.clone(),
                        source,
                    })?;
                summary.receipts += ids.len() as u64;
                summary.documents.push(ConsolidatedDocument {
                    document_id: inserted.document.id.0,
                    internal_id: doc.internal_id.clone(),
                    branch: branch.clone(),
                    lines: doc.lines.len() as u64,
                    receipts: ids.len() as u64,
                    net: doc.lines.iter().map(|l| l.net).sum(),
                    tax: doc.lines.iter().map(|l| l.tax).sum(),
                    bytes: doc.json.len() as u64,
                });
                documents.push((inserted.document.id, ids));
            }
        }
        Ok((summary, documents))
    }

    fn spec(
        &self,
        record: &ConsolidationRecord,
        profile: &IssuerProfile,
        branch: Option<&str>,
    ) -> ConsolidationSpec {
        let month = record.month.compact();
        ConsolidationSpec {
            supplier: profile.supplier.to_party(),
            month: record.month,
            issued_at: record.issued_at,
            id_prefix: match branch {
                Some(b) => format!("CONS-{month}-{b}"),
                None => format!("CONS-{month}"),
            },
            version: profile.version.clone(),
            method: profile.line_method.into(),
            limits: self.config.limits,
        }
    }

    /// Issues the individual e-invoice a buyer asked for: the receipt leaves its month's
    /// consolidation (while it is still open) and gets its own document, stored through
    /// intake. Asking again returns the same document.
    #[tracing::instrument(skip(self, buyer), fields(issuer.tin = issuer_tin, receipt = number))]
    pub async fn individual(
        &self,
        issuer_tin: &str,
        number: &str,
        buyer: &PartyDetails,
    ) -> Result<(ReceiptRecord, crate::store::Inserted), ConsolidationError> {
        let profile = self.profile(issuer_tin).await?;
        let receipts = self.store.receipts();
        let no_receipt = || ConsolidationError::NoReceipt {
            issuer_tin: issuer_tin.to_owned(),
            number: number.to_owned(),
        };
        let receipt = receipts
            .get(issuer_tin, number)
            .await?
            .ok_or_else(no_receipt)?;
        let taken = match receipt.state {
            ReceiptState::Individual => receipt,
            ReceiptState::Consolidated => return Err(already(&receipt)),
            ReceiptState::Open | ReceiptState::Excluded => {
                match receipts.take_individual(receipt.id).await? {
                    Some(taken) => taken,
                    // A consolidation took it between the read and the update.
                    None => {
                        let now = receipts
                            .get(issuer_tin, number)
                            .await?
                            .ok_or_else(no_receipt)?;
                        return Err(already(&now));
                    }
                }
            }
        };
        let invoice = individual_invoice(&taken, &profile, buyer, self.clock.now())?;
        let json = invoice.to_document().to_json_string();
        let inserted = self
            .intake
            .submit(json.as_bytes(), Some(Format::Json))
            .await
            .map_err(|source| ConsolidationError::Intake {
                internal_id: invoice.id.clone(),
                source,
            })?;
        receipts
            .set_individual_document(taken.id, inserted.document.id)
            .await?;
        let record = receipts
            .get(issuer_tin, number)
            .await?
            .ok_or_else(no_receipt)?;
        Ok((record, inserted))
    }

    /// One pass of the month-end loop: consolidates every closed month that has open
    /// receipts and no consolidation, then watches the deadlines of the months not yet at
    /// MyInvois ([`Consolidator::pending_months`]): gauges, a webhook once per month and
    /// status, and a log warning. Returns how many months it consolidated.
    pub async fn run_once(&self) -> Result<usize, ConsolidationError> {
        let now = self.clock.now();
        let settled = now - chrono::Duration::from_std(self.config.after_close).unwrap_or_default();
        let due = self
            .store
            .receipts()
            .due_months(Month::of_instant(settled))
            .await?;
        let mut done = 0;
        for (issuer, month) in due {
            match self.consolidate(&issuer, month, "month_end").await {
                Ok(_) => done += 1,
                Err(ConsolidationError::NoProfile(_)) => {
                    self.warn_unbuilt(&issuer, month, now);
                }
                Err(e) => return Err(e),
            }
        }
        self.watch_deadlines(now).await?;
        Ok(done)
    }

    fn warn_unbuilt(&self, issuer: &str, month: Month, now: DateTime<Utc>) {
        if !self
            .unbuilt_warned
            .first_today((issuer.to_owned(), month), now.date_naive())
        {
            return;
        }
        tracing::warn!(
            issuer.tin = issuer,
            month = %month,
            deadline = %month.deadline(),
            "{month} of {issuer} has receipts but cannot be consolidated: no supplier details \
             (PUT /v1/issuers/{issuer}); due by {}, {}",
            month.deadline(),
            self.remaining(month, now)
        );
    }

    fn remaining(&self, month: Month, now: DateTime<Utc>) -> String {
        let left = month.deadline_passes_at() - now;
        if left <= chrono::Duration::zero() {
            "overdue".to_owned()
        } else {
            format!("{} hours left", left.num_hours())
        }
    }

    /// Every closed month whose consolidated e-invoices have not all reached MyInvois, with
    /// its deadline state at `now`: months with receipts waiting that are not built yet
    /// (first), then built ones with documents still on their way, newest month first.
    pub async fn pending_months(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingMonth>, ConsolidationError> {
        let mut out = Vec::new();
        let waiting = self
            .store
            .receipts()
            .due_months(Month::of_instant(now))
            .await?;
        for (issuer, month) in waiting {
            let reason = match self.profile(&issuer).await {
                Err(ConsolidationError::NoProfile(_)) => format!(
                    "not consolidated: no supplier details for {issuer} (PUT /v1/issuers/{issuer})"
                ),
                _ => "not consolidated yet: the month-end loop builds it once receipts posted \
                      late have had time to arrive"
                    .to_owned(),
            };
            out.push(PendingMonth {
                state: self.time_state(month, now),
                issuer_tin: issuer,
                month,
                consolidation_id: None,
                documents: Vec::new(),
                reason,
                warned_at: None,
            });
        }
        for record in self.store.consolidations().list(None, 1_000).await? {
            let (state, documents) = self.standing(&record, now).await?;
            if state == DeadlineState::Submitted {
                continue;
            }
            let total = record.summary.as_ref().map_or(0, |s| s.documents.len());
            let reason = if record.state == ConsolidationState::Building {
                "being built".to_owned()
            } else {
                format!(
                    "{} of {total} consolidated e-invoices not yet at MyInvois",
                    documents.len()
                )
            };
            out.push(PendingMonth {
                issuer_tin: record.issuer_tin.clone(),
                month: record.month,
                consolidation_id: Some(record.id),
                state,
                documents,
                reason,
                warned_at: record.warned_at,
            });
        }
        Ok(out)
    }

    /// Sets the gauges, announces each month's near or passed deadline once (a webhook
    /// queued in the outbox with the record that it was sent), and warns in the log once a
    /// day about built months not yet submitted as the deadline nears.
    async fn watch_deadlines(&self, now: DateTime<Utc>) -> Result<(), ConsolidationError> {
        let pending = self.pending_months(now).await?;
        if let Some(metrics) = &self.metrics {
            metrics.consolidation_deadlines(&pending, now);
        }
        for month in &pending {
            let Some(event) = deadline::deadline_event(month.state) else {
                continue;
            };
            let announce = deadline::deadline_announcement(event, month, now);
            let announced = self
                .store
                .consolidations()
                .announce_deadline(&month.issuer_tin, month.month, event, &announce)
                .await?;
            if announced {
                tracing::info!(
                    issuer.tin = %month.issuer_tin,
                    month = %month.month,
                    event,
                    "announced {event} for {} of {}",
                    month.month,
                    month.issuer_tin
                );
            }
            let Some(id) = month.consolidation_id else {
                continue;
            };
            if month
                .warned_at
                .is_some_and(|w| now - w < chrono::Duration::days(1))
            {
                continue;
            }
            tracing::warn!(
                consolidation.id = id,
                issuer.tin = %month.issuer_tin,
                month = %month.month,
                deadline = %month.month.deadline(),
                "the consolidated e-invoices of {} for {} are not all submitted ({}); due by \
                 {}, {}",
                month.issuer_tin,
                month.month,
                month.reason,
                month.month.deadline(),
                self.remaining(month.month, now)
            );
            self.store.consolidations().mark_warned(id).await?;
        }
        Ok(())
    }

    /// How a consolidation stands against its deadline at `now`.
    pub async fn deadline_state(
        &self,
        record: &ConsolidationRecord,
        now: DateTime<Utc>,
    ) -> Result<DeadlineState, ConsolidationError> {
        Ok(self.standing(record, now).await?.0)
    }

    /// How a consolidation stands, and its documents not yet at MyInvois.
    async fn standing(
        &self,
        record: &ConsolidationRecord,
        now: DateTime<Utc>,
    ) -> Result<(DeadlineState, Vec<PendingDocument>), ConsolidationError> {
        let mut pending = Vec::new();
        for doc in record.summary.iter().flat_map(|s| &s.documents) {
            let state = self
                .store
                .documents()
                .get(DocumentId(doc.document_id))
                .await?
                .state;
            let reached = matches!(
                state,
                DocumentState::Submitted | DocumentState::Valid | DocumentState::Cancelled
            );
            if !reached {
                pending.push(PendingDocument {
                    document_id: doc.document_id,
                    internal_id: doc.internal_id.clone(),
                    state: state.as_str().to_owned(),
                });
            }
        }
        let submitted = record.state == ConsolidationState::Stored && pending.is_empty();
        let state = if submitted {
            DeadlineState::Submitted
        } else {
            self.time_state(record.month, now)
        };
        Ok((state, pending))
    }

    /// How a month not yet submitted stands at `now`, by the clock alone.
    fn time_state(&self, month: Month, now: DateTime<Utc>) -> DeadlineState {
        let passes = month.deadline_passes_at();
        let warn = chrono::Duration::from_std(self.config.warn_before).unwrap_or_default();
        if now >= passes {
            DeadlineState::Overdue
        } else if now >= passes - warn {
            DeadlineState::DueSoon
        } else {
            DeadlineState::OnTime
        }
    }

    /// The clock consolidation reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

fn already(receipt: &ReceiptRecord) -> ConsolidationError {
    ConsolidationError::AlreadyConsolidated {
        number: receipt.receipt.number.clone(),
        month: receipt.month,
        consolidation_id: receipt.consolidation_id.unwrap_or_default(),
        document: receipt
            .document_id
            .map(|d| format!(", document {d}"))
            .unwrap_or_default(),
    }
}

/// The receipts as the model's, then the documents, on the blocking pool (a month of
/// receipts is CPU work).
async fn build_blocking(
    receipts: &[ReceiptRecord],
    spec: ConsolidationSpec,
) -> Result<Vec<BuiltDocument>, ConsolidationError> {
    let model: Vec<Receipt> = receipts
        .iter()
        .map(|r| Receipt {
            number: r.receipt.number.clone(),
            amount: r.receipt.amount,
            tax_type: r.receipt.tax_type.clone(),
            tax_rate: r.receipt.tax_rate,
            tax_amount: r.receipt.tax_amount,
            exemption_reason: r.receipt.exemption_reason.clone(),
        })
        .collect();
    let built = tokio::task::spawn_blocking(move || rules::consolidate(&model, &spec)).await;
    match built {
        Ok(result) => Ok(result?),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The individual e-invoice of one receipt: `IND-{number}`, issued now, to `buyer`.
fn individual_invoice(
    receipt: &ReceiptRecord,
    profile: &IssuerProfile,
    buyer: &PartyDetails,
    now: DateTime<Utc>,
) -> Result<Invoice, BuildError> {
    let r = &receipt.receipt;
    let line = Line::new(
        r.classification.clone().unwrap_or_else(|| "022".to_owned()),
        r.description
            .clone()
            .unwrap_or_else(|| format!("Receipt {}", r.number)),
        rust_decimal::Decimal::ONE,
        "C62",
        r.amount,
    );
    let line = match (&r.exemption_reason, r.tax_type.as_str()) {
        (Some(reason), "E") => line.exempt(reason.clone()),
        _ => line.tax_percent_charged(r.tax_type.clone(), r.tax_rate, r.tax_amount),
    };
    Invoice::builder(DocumentType::Invoice, format!("IND-{}", r.number), now)
        .version(profile.version.clone())
        .supplier(profile.supplier.to_party())
        .buyer(buyer.to_party())
        .bill_reference(r.number.clone())
        .line(line)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbuilt_month_is_warned_about_once_a_day() {
        let warned = WarnedDays::default();
        let march = Month::parse("2026-03").unwrap();
        let april = Month::parse("2026-04").unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 4, d).unwrap();
        let key = |tin: &str, m| (tin.to_owned(), m);
        assert!(warned.first_today(key("C1", march), day(2)));
        assert!(!warned.first_today(key("C1", march), day(2)));
        // Another month or issuer is its own warning.
        assert!(warned.first_today(key("C1", april), day(2)));
        assert!(warned.first_today(key("C2", march), day(2)));
        // The next day it is warned about again, once.
        assert!(warned.first_today(key("C1", march), day(3)));
        assert!(!warned.first_today(key("C1", march), day(3)));
    }
}

//! Receipts (B2C sales whose buyers asked for no e-invoice), the issuers' supplier details,
//! and the monthly consolidations that turn receipts into consolidated e-invoices (see
//! [`crate::consolidation`]).
//!
//! A receipt is keyed by (issuer TIN, receipt number): the same receipt again is a repeat,
//! the same number with other content a conflict. It moves once, by a guarded update:
//!
//! ```text
//! open ──> consolidated   (assigned to its month's consolidation)
//!   │ └──> excluded       (a rule keeps it out of the consolidation; reported)
//!   └────> individual     (the buyer asked for its own e-invoice)
//! excluded ──> individual
//! ```
//!
//! A consolidation row exists once per issuer and month and is made before any receipt is
//! assigned to it, so a receipt posted for a month already being consolidated is refused
//! rather than silently left out.

use chrono::{DateTime, NaiveDate, Utc};
use invois_clock::Clock;
use invois_model::consolidation::{Activity, Month};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::convert::{ROWS_PER_STATEMENT, clamp_limit, corrupt, now, truncate};
use super::dialect::{Conn, Sql};
use super::outbox::enqueue_sql;
use super::types::{DocumentId, NewWebhook};
use super::{Db, StoreError, sha256_hex};

/// Where a receipt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    /// Waiting for its month's consolidation.
    Open,
    /// In a consolidated e-invoice.
    Consolidated,
    /// Kept out of the consolidation by a rule (it needs its own e-invoice).
    Excluded,
    /// Taken out of the month for its own e-invoice, at the buyer's request.
    Individual,
}

impl ReceiptState {
    /// Every state.
    pub const ALL: [ReceiptState; 4] = [
        ReceiptState::Open,
        ReceiptState::Consolidated,
        ReceiptState::Excluded,
        ReceiptState::Individual,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptState::Open => "open",
            ReceiptState::Consolidated => "consolidated",
            ReceiptState::Excluded => "excluded",
            ReceiptState::Individual => "individual",
        }
    }

    /// The state of a stored name.
    pub fn parse(s: &str) -> Option<ReceiptState> {
        ReceiptState::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A receipt as the ERP posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// The supplier's TIN.
    pub issuer_tin: String,
    /// The receipt number (unique per issuer).
    pub number: String,
    /// When the sale was made.
    pub issued_at: DateTime<Utc>,
    /// Amount excluding tax, MYR.
    pub amount: Decimal,
    /// Tax type (`01`-`06`, `E`).
    pub tax_type: String,
    /// Tax rate, percent.
    pub tax_rate: Decimal,
    /// Tax charged, MYR.
    pub tax_amount: Decimal,
    /// Exemption reason (tax type `E`).
    pub exemption_reason: Option<String>,
    /// What was sold (used on an individual e-invoice).
    pub description: Option<String>,
    /// Classification for an individual e-invoice (consolidated lines are always `004`).
    pub classification: Option<String>,
    /// Branch or location: each gets its own consolidated e-invoices (SG45 3.6.3 (c)).
    pub branch: Option<String>,
    /// The kind of sale, when it is one the rules name.
    pub activity: Option<Activity>,
    /// A sale to a foreign diplomatic office.
    pub diplomatic: bool,
}

impl NewReceipt {
    /// The Malaysian month it belongs to.
    pub fn month(&self) -> Month {
        Month::of_instant(self.issued_at)
    }

    /// A hash of what was posted, to tell a repeat from a conflicting receipt.
    fn content_hash(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{}",
            self.issuer_tin,
            self.number,
            truncate(self.issued_at).to_rfc3339(),
            self.amount.normalize(),
            self.tax_type,
            self.tax_rate.normalize(),
            self.tax_amount.normalize(),
            self.exemption_reason,
            self.description,
            self.classification,
            self.branch,
            self.activity.map(Activity::as_str),
            self.diplomatic
        );
        sha256_hex(text.as_bytes())
    }
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// Row id.
    pub id: i64,
    /// What was posted.
    pub receipt: NewReceipt,
    /// Its month.
    pub month: Month,
    /// Where it is.
    pub state: ReceiptState,
    /// The consolidation that took it (consolidated or excluded).
    pub consolidation_id: Option<i64>,
    /// The consolidated e-invoice it is in, or its own e-invoice.
    pub document_id: Option<DocumentId>,
    /// The rule that excluded it, by name.
    pub exclusion_rule: Option<String>,
    /// Why, in words.
    pub exclusion_reason: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What [`Receipts::insert_many`] did with one receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptInserted {
    /// The stored receipt.
    pub record: ReceiptRecord,
    /// False when the same receipt was stored before.
    pub created: bool,
}

const RECEIPT_COLS: &str = "id, issuer_tin, number, month, issued_at, amount, tax_type, \
     tax_rate, tax_amount, exemption_reason, description, classification, branch, activity, \
     diplomatic, content_sha256, state, consolidation_id, document_id, exclusion_rule, \
     exclusion_reason, created_at, updated_at";

/// A `receipts` row.
#[derive(sqlx::FromRow)]
struct ReceiptRow {
    id: i64,
    issuer_tin: String,
    number: String,
    month: String,
    issued_at: DateTime<Utc>,
    amount: String,
    tax_type: String,
    tax_rate: String,
    tax_amount: String,
    exemption_reason: Option<String>,
    description: Option<String>,
    classification: Option<String>,
    branch: String,
    activity: Option<String>,
    diplomatic: i64,
    content_sha256: String,
    state: String,
    consolidation_id: Option<i64>,
    document_id: Option<i64>,
    exclusion_rule: Option<String>,
    exclusion_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn decimal(what: &str, text: &str) -> Result<Decimal, StoreError> {
    text.parse().map_err(|_| corrupt(what, text))
}

impl TryFrom<ReceiptRow> for ReceiptRecord {
    type Error = StoreError;

    fn try_from(row: ReceiptRow) -> Result<ReceiptRecord, StoreError> {
        let activity = match row.activity {
            Some(a) => Some(Activity::parse(&a).ok_or_else(|| corrupt("receipt activity", &a))?),
            None => None,
        };
        Ok(ReceiptRecord {
            id: row.id,
            month: Month::parse(&row.month).ok_or_else(|| corrupt("receipt month", &row.month))?,
            state: ReceiptState::parse(&row.state)
                .ok_or_else(|| corrupt("receipt state", &row.state))?,
            receipt: NewReceipt {
                issuer_tin: row.issuer_tin,
                number: row.number,
                issued_at: row.issued_at,
                amount: decimal("receipt amount", &row.amount)?,
                tax_type: row.tax_type,
                tax_rate: decimal("receipt tax rate", &row.tax_rate)?,
                tax_amount: decimal("receipt tax amount", &row.tax_amount)?,
                exemption_reason: row.exemption_reason,
                description: row.description,
                classification: row.classification,
                branch: Some(row.branch).filter(|b| !b.is_empty()),
                activity,
                diplomatic: row.diplomatic != 0,
            },
            consolidation_id: row.consolidation_id,
            document_id: row.document_id.map(DocumentId),
            exclusion_rule: row.exclusion_rule,
            exclusion_reason: row.exclusion_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn records(rows: Vec<ReceiptRow>) -> Result<Vec<ReceiptRecord>, StoreError> {
    rows.into_iter().map(ReceiptRecord::try_from).collect()
}

/// Which receipts to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptFilter {
    /// Only this issuer's.
    pub issuer_tin: Option<String>,
    /// Only this month's.
    pub month: Option<Month>,
    /// Only in this state.
    pub state: Option<ReceiptState>,
    /// Only those of this consolidation.
    pub consolidation_id: Option<i64>,
    /// Ids greater than this (keyset paging).
    pub after: Option<i64>,
    /// Page size (0: 100; at most 10,000).
    pub limit: u32,
}

/// The receipts repository.
#[derive(Debug, Clone, Copy)]
pub struct Receipts<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

/// Columns bound per inserted receipt.
const INSERT_COLS: &str = "issuer_tin, number, month, issued_at, amount, tax_type, tax_rate, \
     tax_amount, exemption_reason, description, classification, branch, activity, diplomatic, \
     content_sha256, state, created_at, updated_at";

/// Receipts per multi-row insert (18 binds each).
const RECEIPTS_PER_INSERT: usize = 500;

impl Receipts<'_> {
    /// Stores receipts, each idempotently by (issuer TIN, number), in one transaction: one
    /// result per receipt, in order. A receipt whose number was stored with other content,
    /// or whose month is already being consolidated, is a [`StoreError::Conflict`].
    #[tracing::instrument(skip_all, fields(receipts = new.len()))]
    pub async fn insert_many(
        &self,
        new: &[NewReceipt],
    ) -> Result<Vec<Result<ReceiptInserted, StoreError>>, StoreError> {
        let now = now(self.clock);
        let hashes: Vec<String> = new.iter().map(NewReceipt::content_hash).collect();
        let mut tx = self.db.begin().await?;
        let closed = closed_months(&mut tx.conn(), new).await?;
        let mut created = std::collections::HashSet::new();
        let open: Vec<usize> = (0..new.len())
            .filter(|&i| !closed.contains(&(new[i].issuer_tin.clone(), new[i].month())))
            .collect();
        for chunk in open.chunks(RECEIPTS_PER_INSERT) {
            let mut sql = Sql::new(format!("INSERT INTO receipts ({INSERT_COLS}) VALUES "));
            for (n, &i) in chunk.iter().enumerate() {
                if n > 0 {
                    sql.push(", ");
                }
                push_receipt(&mut sql, &new[i], &hashes[i], now);
            }
            sql.push(" ON CONFLICT (issuer_tin, number) DO NOTHING RETURNING issuer_tin, number");
            let rows: Vec<(String, String)> = tx.conn().fetch_all(sql).await?;
            created.extend(rows);
        }
        let stored = by_number(&mut tx.conn(), new).await?;
        tx.commit().await?;
        Ok(new
            .iter()
            .zip(&hashes)
            .map(|(r, hash)| {
                let key = (r.issuer_tin.clone(), r.number.clone());
                match stored.get(&key) {
                    Some((record, stored_hash)) if stored_hash == hash => Ok(ReceiptInserted {
                        record: record.clone(),
                        created: created.contains(&key),
                    }),
                    Some(_) => Err(StoreError::Conflict(format!(
                        "receipt {} of {} was posted before with other content; a receipt \
                         number is used once",
                        r.number, r.issuer_tin
                    ))),
                    None => Err(StoreError::Conflict(format!(
                        "{} of {} is already consolidated, so receipt {} cannot join it; \
                         issue it its own e-invoice",
                        r.month(),
                        r.issuer_tin,
                        r.number
                    ))),
                }
            })
            .collect())
    }

    /// One receipt by issuer and number.
    pub async fn get(
        &self,
        issuer_tin: &str,
        number: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {RECEIPT_COLS} FROM receipts WHERE issuer_tin = $1 AND number = $2"
        ))
        .bind(issuer_tin)
        .bind(number);
        let row: Option<ReceiptRow> = self.db.reader().fetch_optional(sql).await?;
        row.map(ReceiptRecord::try_from).transpose()
    }

    /// Receipts in id order.
    pub async fn list(&self, filter: &ReceiptFilter) -> Result<Vec<ReceiptRecord>, StoreError> {
        let mut sql = Sql::new(format!("SELECT {RECEIPT_COLS} FROM receipts WHERE id > "));
        sql.push_bind(filter.after.unwrap_or(0));
        if let Some(tin) = &filter.issuer_tin {
            sql.push(" AND issuer_tin = ").push_bind(tin.as_str());
        }
        if let Some(month) = filter.month {
            sql.push(" AND month = ").push_bind(month.to_string());
        }
        if let Some(state) = filter.state {
            sql.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(c) = filter.consolidation_id {
            sql.push(" AND consolidation_id = ").push_bind(c);
        }
        sql.push(" ORDER BY id LIMIT ")
            .push_bind(clamp_limit(filter.limit, 100, 10_000));
        records(self.db.reader().fetch_all(sql).await?)
    }

    /// Every receipt of a filter, page by page.
    pub async fn list_all(&self, filter: &ReceiptFilter) -> Result<Vec<ReceiptRecord>, StoreError> {
        let mut filter = ReceiptFilter {
            limit: 10_000,
            ..filter.clone()
        };
        let mut out = Vec::new();
        loop {
            let page = self.list(&filter).await?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            filter.after = Some(last.id);
            out.extend(page);
        }
    }

    /// The (issuer, month) pairs with open receipts, months before `before`, that have no
    /// consolidation yet: what the month-end loop builds.
    pub async fn due_months(&self, before: Month) -> Result<Vec<(String, Month)>, StoreError> {
        let sql = Sql::new(
            "SELECT DISTINCT r.issuer_tin, r.month FROM receipts r WHERE r.state = 'open' \
             AND r.month < $1 AND NOT EXISTS (SELECT 1 FROM consolidations c \
             WHERE c.issuer_tin = r.issuer_tin AND c.month = r.month) \
             ORDER BY r.month, r.issuer_tin",
        )
        .bind(before.to_string());
        let rows: Vec<(String, String)> = self.db.reader().fetch_all(sql).await?;
        rows.into_iter()
            .map(|(tin, m)| {
                Month::parse(&m)
                    .map(|m| (tin, m))
                    .ok_or_else(|| corrupt("receipt month", &m))
            })
            .collect()
    }

    /// How many receipts are open (not yet consolidated or taken out), per issuer and month,
    /// newest month first: what the dashboard shows as pending.
    pub async fn open_by_month(&self) -> Result<Vec<(String, Month, u64)>, StoreError> {
        let sql = Sql::new(
            "SELECT issuer_tin, month, COUNT(*) FROM receipts WHERE state = 'open' \
             GROUP BY issuer_tin, month ORDER BY month DESC, issuer_tin",
        );
        let rows: Vec<(String, String, i64)> = self.db.reader().fetch_all(sql).await?;
        rows.into_iter()
            .map(|(tin, m, n)| {
                Month::parse(&m)
                    .map(|m| (tin, m, u64::try_from(n).unwrap_or(0)))
                    .ok_or_else(|| corrupt("receipt month", &m))
            })
            .collect()
    }

    /// Takes an open or excluded receipt out of consolidation for its own e-invoice. `None`
    /// when it is in neither state any more (a consolidation took it first).
    pub async fn take_individual(&self, id: i64) -> Result<Option<ReceiptRecord>, StoreError> {
        let sql = Sql::new(format!(
            "UPDATE receipts SET state = 'individual', updated_at = $1 WHERE id = $2 \
             AND state IN ('open', 'excluded') RETURNING {RECEIPT_COLS}"
        ))
        .bind(now(self.clock))
        .bind(id);
        let row: Option<ReceiptRow> = self.db.writer().fetch_optional(sql).await?;
        row.map(ReceiptRecord::try_from).transpose()
    }

    /// Records the individual e-invoice of a receipt taken out with
    /// [`Receipts::take_individual`].
    pub async fn set_individual_document(
        &self,
        id: i64,
        document: DocumentId,
    ) -> Result<(), StoreError> {
        let sql = Sql::new(
            "UPDATE receipts SET document_id = $1, updated_at = $2 WHERE id = $3 \
             AND state = 'individual'",
        )
        .bind(document.0)
        .bind(now(self.clock))
        .bind(id);
        self.db.writer().execute(sql).await?;
        Ok(())
    }
}

fn push_receipt<'a>(sql: &mut Sql<'a>, r: &'a NewReceipt, hash: &'a str, now: DateTime<Utc>) {
    sql.push("(")
        .push_bind(r.issuer_tin.as_str())
        .push(", ")
        .push_bind(r.number.as_str())
        .push(", ")
        .push_bind(r.month().to_string())
        .push(", ")
        .push_bind(truncate(r.issued_at))
        .push(", ")
        .push_bind(r.amount.to_string())
        .push(", ")
        .push_bind(r.tax_type.as_str())
        .push(", ")
        .push_bind(r.tax_rate.to_string())
        .push(", ")
        .push_bind(r.tax_amount.to_string())
        .push(", ")
        .push_bind(&r.exemption_reason)
        .push(", ")
        .push_bind(&r.description)
        .push(", ")
        .push_bind(&r.classification)
        .push(", ")
        .push_bind(r.branch.clone().unwrap_or_default())
        .push(", ")
        .push_bind(r.activity.map(Activity::as_str))
        .push(", ")
        .push_bind(i64::from(r.diplomatic))
        .push(", ")
        .push_bind(hash)
        .push(", 'open', ")
        .push_bind(now)
        .push(", ")
        .push_bind(now)
        .push(")");
}

/// The (issuer, month) pairs of `new` that already have a consolidation.
async fn closed_months(
    conn: &mut Conn<'_>,
    new: &[NewReceipt],
) -> Result<std::collections::HashSet<(String, Month)>, StoreError> {
    let mut issuers: Vec<&str> = new.iter().map(|r| r.issuer_tin.as_str()).collect();
    issuers.sort_unstable();
    issuers.dedup();
    let mut out = std::collections::HashSet::new();
    for chunk in issuers.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new("SELECT issuer_tin, month FROM consolidations WHERE issuer_tin IN ");
        sql.push_list(chunk.iter().copied());
        let rows: Vec<(String, String)> = conn.fetch_all(sql).await?;
        for (tin, month) in rows {
            if let Some(m) = Month::parse(&month) {
                out.insert((tin, m));
            }
        }
    }
    Ok(out)
}

type Stored = std::collections::HashMap<(String, String), (ReceiptRecord, String)>;

/// The stored receipts under the keys of `new`, with their content hashes.
async fn by_number(conn: &mut Conn<'_>, new: &[NewReceipt]) -> Result<Stored, StoreError> {
    let mut out = Stored::new();
    let mut by_issuer: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for r in new {
        by_issuer
            .entry(r.issuer_tin.as_str())
            .or_default()
            .push(r.number.as_str());
    }
    for (tin, numbers) in by_issuer {
        for chunk in numbers.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(format!(
                "SELECT {RECEIPT_COLS} FROM receipts WHERE issuer_tin = "
            ));
            sql.push_bind(tin).push(" AND number IN ");
            sql.push_list(chunk.iter().copied());
            let rows: Vec<ReceiptRow> = conn.fetch_all(sql).await?;
            for row in rows {
                let hash = row.content_sha256.clone();
                let record = ReceiptRecord::try_from(row)?;
                let key = (
                    record.receipt.issuer_tin.clone(),
                    record.receipt.number.clone(),
                );
                out.insert(key, (record, hash));
            }
        }
    }
    Ok(out)
}

/// Where a consolidation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsolidationState {
    /// Made; receipts being assigned and documents built.
    Building,
    /// Its documents are stored and on their way through the pipeline.
    Stored,
}

impl ConsolidationState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsolidationState::Building => "building",
            ConsolidationState::Stored => "stored",
        }
    }
}

/// One consolidated e-invoice of a consolidation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsolidatedDocument {
    /// The stored document's id (`GET /v1/documents/{id}`).
    pub document_id: i64,
    /// Its number (`cbc:ID`).
    pub internal_id: String,
    /// The branch it covers, if receipts name branches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Its lines.
    pub lines: u64,
    /// The receipts in it.
    pub receipts: u64,
    /// Amount excluding tax.
    #[schema(value_type = String)]
    pub net: Decimal,
    /// Tax.
    #[schema(value_type = String)]
    pub tax: Decimal,
    /// Its size as stored, bytes.
    pub bytes: u64,
}

/// What a consolidation built.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConsolidationSummary {
    /// The documents, in order.
    pub documents: Vec<ConsolidatedDocument>,
    /// Receipts consolidated.
    pub receipts: u64,
    /// Receipts excluded.
    pub excluded: u64,
}

/// A stored consolidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolidationRecord {
    /// Row id.
    pub id: i64,
    /// The supplier.
    pub issuer_tin: String,
    /// The month.
    pub month: Month,
    /// Where it is.
    pub state: ConsolidationState,
    /// `month_end` or `on_demand`.
    pub origin: String,
    /// The documents' issue instant.
    pub issued_at: DateTime<Utc>,
    /// The last day to submit on.
    pub deadline: NaiveDate,
    /// What was built, once stored.
    pub summary: Option<ConsolidationSummary>,
    /// When a deadline warning was last given.
    pub warned_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const CONSOLIDATION_COLS: &str = "id, issuer_tin, month, state, origin, issued_at, deadline, \
     summary, warned_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ConsolidationRow {
    id: i64,
    issuer_tin: String,
    month: String,
    state: String,
    origin: String,
    issued_at: DateTime<Utc>,
    deadline: String,
    summary: Option<String>,
    warned_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ConsolidationRow> for ConsolidationRecord {
    type Error = StoreError;

    fn try_from(row: ConsolidationRow) -> Result<ConsolidationRecord, StoreError> {
        let summary = match row.summary {
            Some(s) => Some(
                serde_json::from_str(&s)
                    .map_err(|e| corrupt("consolidation summary", &e.to_string()))?,
            ),
            None => None,
        };
        Ok(ConsolidationRecord {
            id: row.id,
            month: Month::parse(&row.month)
                .ok_or_else(|| corrupt("consolidation month", &row.month))?,
            state: match row.state.as_str() {
                "building" => ConsolidationState::Building,
                "stored" => ConsolidationState::Stored,
                other => return Err(corrupt("consolidation state", other)),
            },
            deadline: NaiveDate::parse_from_str(&row.deadline, "%Y-%m-%d")
                .map_err(|_| corrupt("consolidation deadline", &row.deadline))?,
            issuer_tin: row.issuer_tin,
            origin: row.origin,
            issued_at: row.issued_at,
            summary,
            warned_at: row.warned_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// An instant without its fraction: the documents' IssueTime is whole seconds, so the
/// stored instant rebuilds exactly the same documents.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(0)
}

/// An exclusion to record: the receipt and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedReceipt {
    /// The receipt's row id.
    pub id: i64,
    /// The rule's name.
    pub rule: String,
    /// Why.
    pub reason: String,
}

/// The consolidations repository.
#[derive(Debug, Clone, Copy)]
pub struct Consolidations<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl Consolidations<'_> {
    /// The consolidation of an issuer's month, made now if there is none (`origin` says who
    /// asked; its documents are issued at `issued_at`). The bool is whether it was made by
    /// this call.
    pub async fn begin(
        &self,
        issuer_tin: &str,
        month: Month,
        origin: &str,
        issued_at: DateTime<Utc>,
    ) -> Result<(ConsolidationRecord, bool), StoreError> {
        let now = now(self.clock);
        let sql = Sql::new(format!(
            "INSERT INTO consolidations (issuer_tin, month, state, origin, issued_at, deadline, \
             created_at, updated_at) VALUES ($1, $2, 'building', $3, $4, $5, $6, $6) \
             ON CONFLICT (issuer_tin, month) DO NOTHING RETURNING {CONSOLIDATION_COLS}"
        ))
        .bind(issuer_tin)
        .bind(month.to_string())
        .bind(origin)
        .bind(whole_seconds(issued_at))
        .bind(month.deadline().to_string())
        .bind(now);
        let made: Option<ConsolidationRow> = self.db.writer().fetch_optional(sql).await?;
        if let Some(row) = made {
            return Ok((row.try_into()?, true));
        }
        let existing = self.find(issuer_tin, month).await?.ok_or_else(|| {
            StoreError::Conflict("the consolidation was made and removed concurrently".to_owned())
        })?;
        Ok((existing, false))
    }

    /// The consolidation of an issuer's month.
    pub async fn find(
        &self,
        issuer_tin: &str,
        month: Month,
    ) -> Result<Option<ConsolidationRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {CONSOLIDATION_COLS} FROM consolidations WHERE issuer_tin = $1 AND month = $2"
        ))
        .bind(issuer_tin)
        .bind(month.to_string());
        let row: Option<ConsolidationRow> = self.db.writer().fetch_optional(sql).await?;
        row.map(ConsolidationRecord::try_from).transpose()
    }

    /// One consolidation.
    pub async fn get(&self, id: i64) -> Result<ConsolidationRecord, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {CONSOLIDATION_COLS} FROM consolidations WHERE id = $1"
        ))
        .bind(id);
        let row: Option<ConsolidationRow> = self.db.reader().fetch_optional(sql).await?;
        row.ok_or_else(|| StoreError::NotFound(format!("consolidation {id}")))?
            .try_into()
    }

    /// Consolidations, newest month first (optionally one issuer's).
    pub async fn list(
        &self,
        issuer_tin: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ConsolidationRecord>, StoreError> {
        let mut sql = Sql::new(format!("SELECT {CONSOLIDATION_COLS} FROM consolidations"));
        if let Some(tin) = issuer_tin {
            sql.push(" WHERE issuer_tin = ").push_bind(tin);
        }
        sql.push(" ORDER BY month DESC, id DESC LIMIT ")
            .push_bind(clamp_limit(limit, 100, 1_000));
        let rows: Vec<ConsolidationRow> = self.db.reader().fetch_all(sql).await?;
        rows.into_iter()
            .map(ConsolidationRecord::try_from)
            .collect()
    }

    /// Assigns receipts to a consolidation in one transaction: `excluded` are marked
    /// excluded with their rule, `included` consolidated. Only receipts still open move;
    /// the ids of the included ones that moved are returned.
    #[tracing::instrument(skip_all, fields(consolidation.id = id))]
    pub async fn assign(
        &self,
        id: i64,
        excluded: &[ExcludedReceipt],
        included: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        for e in excluded {
            let sql = Sql::new(
                "UPDATE receipts SET state = 'excluded', consolidation_id = $1, \
                 exclusion_rule = $2, exclusion_reason = $3, updated_at = $4 \
                 WHERE id = $5 AND state = 'open'",
            )
            .bind(id)
            .bind(e.rule.as_str())
            .bind(e.reason.as_str())
            .bind(now)
            .bind(e.id);
            tx.conn().execute(sql).await?;
        }
        let mut moved = Vec::with_capacity(included.len());
        for chunk in included.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(
                "UPDATE receipts SET state = 'consolidated', consolidation_id = $1, \
                 updated_at = $2 WHERE state = 'open' AND id IN ",
            )
            .bind(id)
            .bind(now);
            sql.push_list(chunk.iter().copied());
            sql.push(" RETURNING id");
            let rows: Vec<(i64,)> = tx.conn().fetch_all(sql).await?;
            moved.extend(rows.into_iter().map(|(i,)| i));
        }
        tx.commit().await?;
        moved.sort_unstable();
        Ok(moved)
    }

    /// Records what a consolidation built: each document's receipts get its id, and the
    /// consolidation is `stored` with its summary. `documents` pairs each document with the
    /// receipt ids in it.
    #[tracing::instrument(skip_all, fields(consolidation.id = id))]
    pub async fn finish(
        &self,
        id: i64,
        summary: &ConsolidationSummary,
        documents: &[(DocumentId, Vec<i64>)],
    ) -> Result<ConsolidationRecord, StoreError> {
        let now = now(self.clock);
        let text = serde_json::to_string(summary)
            .map_err(|e| StoreError::Corrupt(format!("consolidation summary: {e}")))?;
        let mut tx = self.db.begin().await?;
        for (document, receipts) in documents {
            for chunk in receipts.chunks(ROWS_PER_STATEMENT) {
                let mut sql = Sql::new(
                    "UPDATE receipts SET document_id = $1, updated_at = $2 \
                     WHERE consolidation_id = $3 AND state = 'consolidated' AND id IN ",
                )
                .bind(document.0)
                .bind(now)
                .bind(id);
                sql.push_list(chunk.iter().copied());
                tx.conn().execute(sql).await?;
            }
        }
        let sql = Sql::new(format!(
            "UPDATE consolidations SET state = 'stored', summary = $1, updated_at = $2 \
             WHERE id = $3 RETURNING {CONSOLIDATION_COLS}"
        ))
        .bind(text)
        .bind(now)
        .bind(id);
        let row: ConsolidationRow = tx.conn().fetch_one(sql).await?;
        tx.commit().await?;
        row.try_into()
    }

    /// Notes that a deadline warning was given now.
    pub async fn mark_warned(&self, id: i64) -> Result<(), StoreError> {
        let sql = Sql::new("UPDATE consolidations SET warned_at = $1 WHERE id = $2")
            .bind(now(self.clock))
            .bind(id);
        self.db.writer().execute(sql).await?;
        Ok(())
    }

    /// Announces a month's deadline `event` once: the (issuer, month, event) row and the
    /// webhook delivery `announce` are written in one transaction, and the insert decides
    /// (`ON CONFLICT DO NOTHING`), so two instances seeing the same deadline announce it
    /// once. Returns whether this call announced it.
    #[tracing::instrument(skip(self, announce))]
    pub async fn announce_deadline(
        &self,
        issuer_tin: &str,
        month: Month,
        event: &str,
        announce: &NewWebhook,
    ) -> Result<bool, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let insert = Sql::new(
            "INSERT INTO consolidation_deadline_events (issuer_tin, month, event, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (issuer_tin, month, event) DO NOTHING",
        )
        .bind(issuer_tin)
        .bind(month.to_string())
        .bind(event)
        .bind(now);
        let new = tx.conn().execute(insert).await? > 0;
        if new {
            tx.conn().execute(enqueue_sql(announce, now)).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// The supplier details stored for an issuer (JSON text, read by
    /// [`crate::consolidation`]).
    pub async fn issuer_profile(&self, issuer_tin: &str) -> Result<Option<String>, StoreError> {
        let sql =
            Sql::new("SELECT profile FROM receipt_issuers WHERE issuer_tin = $1").bind(issuer_tin);
        let row: Option<(String,)> = self.db.reader().fetch_optional(sql).await?;
        Ok(row.map(|(p,)| p))
    }

    /// Stores (or replaces) an issuer's supplier details.
    pub async fn put_issuer_profile(
        &self,
        issuer_tin: &str,
        profile: &str,
    ) -> Result<(), StoreError> {
        let now = now(self.clock);
        let sql = Sql::new(
            "INSERT INTO receipt_issuers (issuer_tin, profile, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (issuer_tin) DO UPDATE \
             SET profile = excluded.profile, updated_at = excluded.updated_at",
        )
        .bind(issuer_tin)
        .bind(profile)
        .bind(now);
        self.db.writer().execute(sql).await?;
        Ok(())
    }
}

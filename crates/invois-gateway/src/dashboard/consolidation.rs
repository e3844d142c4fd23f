//! The month's consolidation, per taxpayer: receipts still waiting, each consolidation with
//! its consolidated e-invoices and their states, the receipts the rules excluded and why,
//! and the deadline (the 7th day after the month) with how it stands.
//!
//! "Consolidate now" does what `POST /v1/consolidations` does
//! ([`crate::consolidation::Consolidator::consolidate`], on demand), for a closed month.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use invois_model::consolidation::Month;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{flash, unavailable};
use super::{DASH, DashboardState, layout, remaining, state_cell, time};
use crate::consolidation::{ConsolidationError, DeadlineState};
use crate::http::ApiError;
use crate::store::{
    ApiKeyRecord, ConsolidationRecord, DocumentId, DocumentState, ReceiptFilter, ReceiptRecord,
    ReceiptState, StoreError,
};

/// Consolidations shown (newest month first): two years of one taxpayer.
const SHOWN: u32 = 24;

/// A message carried back after an action.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    done: Option<String>,
    error: Option<String>,
}

/// A month whose receipts wait, open, for consolidation.
struct Waiting {
    issuer_tin: String,
    month: Month,
    receipts: u64,
    /// Once the month has closed: how it stands against its deadline, and what holds it
    /// back, as the consolidation module judges pending months.
    pending: Option<(DeadlineState, String)>,
}

/// A consolidation with what the page shows of it.
struct Shown {
    record: ConsolidationRecord,
    deadline: DeadlineState,
    documents: Vec<(crate::store::ConsolidatedDocument, Option<DocumentState>)>,
    excluded: Vec<ReceiptRecord>,
}

/// `GET /dashboard/consolidations`.
pub(super) async fn page(
    State(state): State<DashboardState>,
    Extension(key): Extension<ApiKeyRecord>,
    Query(query): Query<PageQuery>,
) -> Result<Markup, Response> {
    let now = state.api.clock.now();
    let (waiting, shown) = match read(&state, now).await {
        Ok(read) => read,
        Err(ConsolidationError::Store(e)) => return Err(unavailable(e)),
        Err(other) => {
            tracing::error!(error = %other, "dashboard could not read the consolidations");
            let page = layout("Unavailable", html! { p.flash.bad { (other.to_string()) } });
            return Err((StatusCode::INTERNAL_SERVER_ERROR, page).into_response());
        }
    };
    let may_write = key.scope.may_write();
    Ok(layout(
        "Consolidation",
        html! {
            (flash(query.done.as_deref(), query.error.as_deref()))
            p {
                "Receipts with no e-invoice of their own are consolidated per month into \
                 e-invoices to the General Public, to be submitted by the 7th day after the \
                 month ends."
            }
            @if !may_write {
                p { span.ro { "read-only key" } " You can look, not act: no actions are offered." }
            }
            h2 { "Receipts waiting" }
            (waiting_table(&waiting, now, may_write))
            h2 { "Consolidations" }
            @if shown.is_empty() { p { "None yet." } }
            @for s in &shown {
                (consolidation(s, now))
            }
        },
    ))
}

async fn read(
    state: &DashboardState,
    now: DateTime<Utc>,
) -> Result<(Vec<Waiting>, Vec<Shown>), ConsolidationError> {
    let store = &state.api.store;
    let mut pending: HashMap<(String, Month), (DeadlineState, String)> = state
        .api
        .consolidator
        .pending_months(now)
        .await?
        .into_iter()
        .filter(|p| p.consolidation_id.is_none())
        .map(|p| ((p.issuer_tin, p.month), (p.state, p.reason)))
        .collect();
    let waiting = store
        .receipts()
        .open_by_month()
        .await?
        .into_iter()
        .map(|(issuer_tin, month, receipts)| Waiting {
            pending: pending.remove(&(issuer_tin.clone(), month)),
            issuer_tin,
            month,
            receipts,
        })
        .collect();
    let mut shown = Vec::new();
    for record in store.consolidations().list(None, SHOWN).await? {
        let deadline = state.api.consolidator.deadline_state(&record, now).await?;
        let mut documents = Vec::new();
        for doc in record.summary.iter().flat_map(|s| &s.documents) {
            let current = match store.documents().get(DocumentId(doc.document_id)).await {
                Ok(d) => Some(d.state),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            documents.push((doc.clone(), current));
        }
        let excluded = store
            .receipts()
            .list_all(&ReceiptFilter {
                consolidation_id: Some(record.id),
                state: Some(ReceiptState::Excluded),
                ..ReceiptFilter::default()
            })
            .await?;
        shown.push(Shown {
            record,
            deadline,
            documents,
            excluded,
        });
    }
    Ok((waiting, shown))
}

fn waiting_table(waiting: &[Waiting], now: DateTime<Utc>, may_write: bool) -> Markup {
    html! {
        table.waiting {
            colgroup {
                col style="width:18%"; col style="width:10%"; col style="width:12%";
                col style="width:35%"; col style="width:25%";
            }
            tr {
                th { "issuer" } th { "month" } th.n { "open receipts" } th { "deadline" }
                th { "consolidation" }
            }
            @if waiting.is_empty() {
                tr { td colspan="5" { "no receipts waiting" } }
            }
            @for w in waiting {
                tr {
                    td { (w.issuer_tin) }
                    td { (w.month.to_string()) }
                    td.n { (w.receipts) }
                    td.deadline {
                        (deadline(w.month, w.pending.as_ref().map(|p| p.0), now))
                    }
                    td {
                        @if now < w.month.closes_at() {
                            "the month closes at " (time(w.month.closes_at()))
                        } @else if let Some((_, reason)) = &w.pending {
                            small { (reason) }
                        }
                        @if now >= w.month.closes_at() && may_write {
                            form.act method="post" action="/dashboard/consolidations" {
                                input type="hidden" name="issuer_tin" value=(w.issuer_tin);
                                input type="hidden" name="month" value=(w.month.to_string());
                                button type="submit" { "Consolidate now" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The deadline day, how the month stands against it (once it has closed), and the time
/// left.
fn deadline(month: Month, stands: Option<DeadlineState>, now: DateTime<Utc>) -> Markup {
    let passes = month.deadline_passes_at();
    let badge = stands.map(|s| match s {
        DeadlineState::Submitted => ("submitted", "ok"),
        DeadlineState::OnTime => ("on time", ""),
        DeadlineState::DueSoon => ("due soon", "warn"),
        DeadlineState::Overdue => ("overdue", "bad"),
    });
    html! {
        "submit by " (month.deadline().format("%Y-%m-%d").to_string())
        @if let Some((label, class)) = badge {
            " " span class={ "s " (class) } { (label) }
        }
        @if stands != Some(DeadlineState::Submitted) {
            " "
            @if now < passes {
                (remaining(passes, now)) " left"
            } @else {
                "passed " (remaining(now, passes)) " ago"
            }
        }
    }
}

fn consolidation(s: &Shown, now: DateTime<Utc>) -> Markup {
    let r = &s.record;
    let summary = r.summary.clone().unwrap_or_default();
    html! {
        section.consolidation {
            h3 { (r.issuer_tin) " · " (r.month.to_string()) }
            table.facts {
                tr { th { "state" } (state_cell(r.state.as_str())) }
                tr { th { "made" } td { (r.origin.replace('_', " ")) ", " (time(r.created_at)) } }
                tr { th { "deadline" } td.deadline { (deadline(r.month, Some(s.deadline), now)) } }
                tr { th { "receipts" } td { (summary.receipts) " consolidated, " (summary.excluded) " excluded" } }
            }
            table.documents {
                colgroup {
                    col style="width:30%"; col style="width:14%"; col style="width:10%";
                    col style="width:10%"; col style="width:12%"; col style="width:10%";
                    col style="width:14%";
                }
                tr {
                    th { "consolidated e-invoice" } th { "branch" } th.n { "receipts" }
                    th.n { "lines" } th.n { "net (MYR)" } th.n { "tax" } th { "state" }
                }
                @if s.documents.is_empty() { tr { td colspan="7" { "none" } } }
                @for (d, current) in &s.documents {
                    tr {
                        td { a href={ "/dashboard/documents/" (d.document_id) } { (d.internal_id) } }
                        td { (super::opt(d.branch.as_deref())) }
                        td.n { (d.receipts) }
                        td.n { (d.lines) }
                        td.n { (d.net.to_string()) }
                        td.n { (d.tax.to_string()) }
                        @match current {
                            Some(state) => (state_cell(state.as_str())),
                            None => td { (DASH) },
                        }
                    }
                }
            }
            @if !s.excluded.is_empty() {
                h4 { "Excluded: each needs an e-invoice of its own" }
                (excluded_table(&s.excluded))
            }
        }
    }
}

fn excluded_table(excluded: &[ReceiptRecord]) -> Markup {
    html! {
        table.excluded {
            colgroup {
                col style="width:16%"; col style="width:12%"; col style="width:24%";
                col style="width:48%";
            }
            tr { th { "receipt" } th.n { "amount (MYR)" } th { "rule" } th { "why" } }
            @for r in excluded {
                tr {
                    td { (r.receipt.number) }
                    td.n { (r.receipt.amount.to_string()) }
                    td { code { (super::opt(r.exclusion_rule.as_deref())) } }
                    td { (super::opt(r.exclusion_reason.as_deref())) }
                }
            }
        }
    }
}

/// The consolidate form.
#[derive(Debug, Deserialize)]
pub(super) struct ConsolidateForm {
    issuer_tin: String,
    month: String,
}

/// `POST /dashboard/consolidations`: consolidates a closed month now.
pub(super) async fn consolidate(
    State(state): State<DashboardState>,
    Form(form): Form<ConsolidateForm>,
) -> Response {
    let outcome: Result<String, ApiError> = async {
        let month = Month::parse(form.month.trim()).ok_or_else(|| {
            ApiError::bad_request("month", format!("`{}` is not a month: YYYY-MM", form.month))
        })?;
        let done = state
            .api
            .consolidator
            .consolidate(form.issuer_tin.trim(), month, "on_demand")
            .await?;
        let summary = done.record.summary.unwrap_or_default();
        Ok(format!(
            "{month} of {} consolidated: {} receipts in {} e-invoice(s), {} excluded",
            done.record.issuer_tin,
            summary.receipts,
            summary.documents.len(),
            summary.excluded
        ))
    }
    .await;
    let (name, message) = match outcome {
        Ok(done) => ("done", done),
        Err(e) => ("error", e.message),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, &message)
        .finish();
    Redirect::to(&format!("/dashboard/consolidations?{query}")).into_response()
}

//! The received documents: what suppliers issued to the gateway's taxpayers, each with its
//! rejection deadline, and the accept and reject forms while they are allowed.
//!
//! The forms go through the same functions as `POST /v1/received/{uuid}/reject` and
//! `.../accept` ([`crate::http::received`]), and are offered by the same rules that refuse
//! them there, so the page offers exactly what the API would do.

use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{flash, unavailable};
use super::{DASH, DashboardState, layout, link, opt, remaining, time};
use crate::http::ApiError;
use crate::http::received::{
    accept_document, acceptance_refused, check_reason, check_uuid, reject_document,
    rejection_refused,
};
use crate::store::{ApiKeyRecord, Decision, DecisionFilter, ReceivedFilter, ReceivedRecord};

/// Rows per page.
const PAGE: u32 = 100;

/// The page's query: which documents, and a message carried back after an action.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReceivedQuery {
    /// `open`: only those still awaiting a decision and rejectable; `pending`: undecided.
    show: Option<String>,
    after: Option<i64>,
    done: Option<String>,
    error: Option<String>,
}

/// `GET /dashboard/received`.
pub(super) async fn page(
    State(state): State<DashboardState>,
    Extension(key): Extension<ApiKeyRecord>,
    Query(query): Query<ReceivedQuery>,
) -> Result<Markup, Response> {
    let show = query.show.as_deref().unwrap_or("all");
    let filter = ReceivedFilter {
        open: show == "open",
        decision: (show == "pending").then_some(DecisionFilter::Pending),
        after: query.after,
        limit: PAGE,
        ..ReceivedFilter::default()
    };
    let page = state
        .api
        .store
        .received()
        .list(&filter)
        .await
        .map_err(unavailable)?;
    let now = state.api.clock.now();
    let portal = state.api.clients.base().environment().portal().to_owned();
    Ok(layout(
        "Received documents",
        html! {
            (flash(query.done.as_deref(), query.error.as_deref()))
            p {
                "Documents suppliers issued to this gateway's taxpayers. A valid one can be \
                 rejected at MyInvois within "
                (invois_api::windows::REJECTION_WINDOW.num_hours())
                " hours of its validation; after that, only the supplier can correct it (a \
                 credit note)."
            }
            @if !key.scope.may_write() {
                p { span.ro { "read-only key" } " You can look, not act: no actions are offered." }
            }
            form.filters method="get" action="/dashboard/received" {
                select name="show" {
                    @for (value, label) in [("all", "all"), ("pending", "undecided"),
                                            ("open", "still rejectable")] {
                        option value=(value) selected[show == value] { (label) }
                    }
                }
                button type="submit" { "Show" }
            }
            (table(&page.items, now, &portal, key.scope.may_write()))
            @if let Some(next) = page.next {
                p { a href={ "/dashboard/received?show=" (show) "&after=" (next) } { "Next page →" } }
            }
        },
    ))
}

fn table(items: &[ReceivedRecord], now: DateTime<Utc>, portal: &str, may_write: bool) -> Markup {
    html! {
        table.received {
            colgroup {
                col style="width:20%"; col style="width:17%"; col style="width:10%";
                col style="width:12%"; col style="width:19%"; col style="width:22%";
            }
            tr {
                th { "supplier" } th { "document" } th.n { "amount (MYR)" } th { "status" }
                th { "rejection deadline" } th { "decision" }
            }
            @if items.is_empty() {
                tr { td colspan="6" { "no received documents" } }
            }
            @for r in items {
                (row(r, now, portal, may_write))
            }
        }
    }
}

fn row(r: &ReceivedRecord, now: DateTime<Utc>, portal: &str, may_write: bool) -> Markup {
    let d = &r.document;
    let status = d.status.as_str().to_ascii_lowercase();
    let validation = d
        .long_id
        .as_deref()
        .filter(|_| status == "valid")
        .map(|long_id| invois_api::ids::validation_link(portal, &d.uuid, long_id));
    html! {
        tr {
            td { (opt(d.issuer_name.as_deref())) br; small { (d.issuer_tin) } }
            td {
                (d.internal_id) " " small { (d.type_name) } br;
                small { (link(validation.as_deref().or(Some(&d.uuid)))) }
            }
            td.n { (opt(d.total.as_deref())) }
            (super::state_cell(&status))
            td.deadline { (deadline(r, now)) }
            td { (decision(r, now, may_write)) }
        }
    }
}

/// The deadline, and how long is left or since when it has passed (while it still matters:
/// the document is valid and undecided).
fn deadline(r: &ReceivedRecord, now: DateTime<Utc>) -> Markup {
    let undecided = r.decision.is_none() && r.document.status == DocumentStatus::Valid;
    match r.reject_deadline {
        None => html! { (DASH) },
        Some(at) if !undecided => html! { (time(at)) },
        Some(at) => html! {
            (time(at)) br;
            @if now <= at {
                span class={ "s " (if at - now < chrono::Duration::hours(12) { "warn" } else { "ok" }) } {
                    (remaining(at, now)) " left"
                }
            } @else {
                span.s.bad { "passed " (remaining(now, at)) " ago" }
            }
        },
    }
}

/// The decision taken, or the forms for those still allowed.
fn decision(r: &ReceivedRecord, now: DateTime<Utc>, may_write: bool) -> Markup {
    let uuid = &r.document.uuid;
    let may_reject = may_write && rejection_refused(r, now).is_none();
    let may_accept =
        may_write && r.decision != Some(Decision::Accepted) && acceptance_refused(r).is_none();
    html! {
        @match r.decision {
            Some(d) => {
                span class={ "s " (if d == Decision::Accepted { "ok" } else { "bad" }) } { (d.as_str()) }
                @if let Some(at) = r.decided_at { " " small { (time(at)) } }
                @if let Some(reason) = &r.decision_reason { br; small { (reason) } }
            },
            None => { "undecided" }
        }
        @if may_accept {
            form.act method="post" action={ "/dashboard/received/" (uuid) "/accept" } {
                button type="submit" { "Accept" }
            }
        }
        @if may_reject {
            form.act method="post" action={ "/dashboard/received/" (uuid) "/reject" } {
                input name="reason" required maxlength="300" placeholder="reason for rejecting";
                button type="submit" { "Reject" }
            }
        }
    }
}

/// Back to the list with a message.
fn back(outcome: Result<String, ApiError>) -> Response {
    let (name, message) = match outcome {
        Ok(done) => ("done", done),
        Err(e) => ("error", e.message),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, &message)
        .finish();
    Redirect::to(&format!("/dashboard/received?{query}")).into_response()
}

/// The reject form.
#[derive(Debug, Deserialize)]
pub(super) struct RejectForm {
    reason: String,
}

/// `POST /dashboard/received/{uuid}/reject`.
pub(super) async fn reject(
    State(state): State<DashboardState>,
    Path(uuid): Path<String>,
    Form(form): Form<RejectForm>,
) -> Response {
    let outcome = async {
        let uuid = check_uuid(&uuid)?;
        let reason = check_reason(&form.reason)?;
        let record = reject_document(&state.api, &uuid, &reason).await?;
        Ok(format!(
            "{} of {} rejected at MyInvois",
            record.document.internal_id, record.document.issuer_tin
        ))
    };
    back(outcome.await)
}

/// `POST /dashboard/received/{uuid}/accept`.
pub(super) async fn accept(
    State(state): State<DashboardState>,
    Path(uuid): Path<String>,
) -> Response {
    let outcome = async {
        let uuid = check_uuid(&uuid)?;
        let record = accept_document(&state.api, &uuid).await?;
        Ok(format!(
            "{} of {} accepted",
            record.document.internal_id, record.document.issuer_tin
        ))
    };
    back(outcome.await)
}

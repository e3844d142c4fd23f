//! The dashboard's pages besides the overview: the document search, one document with its
//! history, errors, links and actions, and the sign-in form.
//!
//! Actions are plain HTML forms posted back to the dashboard, which takes them through the
//! same functions as the ERP API ([`crate::http::actions`]), so a button offers exactly what
//! the document's `next_steps` allow, and does exactly what the API would.

use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::{DashboardState, layout, link, opt, state_cell, time};
use crate::document_errors::DocumentError;
use crate::http::{ApiError, actions};
use crate::next_steps::{Action, next_steps};
use crate::notes::{NoteKind, NoteRequest};
use crate::store::{
    ApiKeyRecord, DocumentFilter, DocumentId, DocumentRecord, DocumentState, StoreError,
};

/// Rows per page of the document search.
const PAGE: u32 = 50;

/// The search form's fields, all optional text (checked here, so a bad one is shown).
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
    state: Option<String>,
    issuer_tin: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<i64>,
}

impl SearchQuery {
    fn filter(&self) -> Result<DocumentFilter, String> {
        fn text(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|t| !t.is_empty())
        }
        let state = match text(&self.state) {
            None => None,
            Some(s) => Some(DocumentState::parse(s).ok_or_else(|| format!("no state {s:?}"))?),
        };
        let day = |v: &Option<String>, what: &str| -> Result<Option<DateTime<Utc>>, String> {
            text(v)
                .map(|t| {
                    NaiveDate::parse_from_str(t, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                        .map_err(|_| format!("{what} must be a date, YYYY-MM-DD"))
                })
                .transpose()
        };
        let q = text(&self.q).map(str::to_owned);
        // A MyInvois uuid is 26 letters and digits; anything else is an internal id.
        let is_uuid = q
            .as_deref()
            .is_some_and(|q| q.len() == 26 && q.chars().all(|c| c.is_ascii_alphanumeric()));
        Ok(DocumentFilter {
            state,
            issuer_tin: text(&self.issuer_tin).map(str::to_owned),
            received_from: day(&self.from, "from")?,
            received_before: day(&self.to, "to")?.map(|d| d + chrono::Duration::days(1)),
            internal_id: q.clone().filter(|_| !is_uuid),
            uuid: q.filter(|_| is_uuid),
            after: self.after.map(DocumentId),
            limit: PAGE,
        })
    }

    /// This search's query string with `after` replaced.
    fn with_after(&self, after: DocumentId) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &self.q),
            ("state", &self.state),
            ("issuer_tin", &self.issuer_tin),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                url.append_pair(name, v);
            }
        }
        url.append_pair("after", &after.0.to_string());
        url.finish()
    }
}

/// `GET /dashboard/documents`: the search form and one page of results.
pub(super) async fn documents(
    State(state): State<DashboardState>,
    Query(query): Query<SearchQuery>,
) -> Result<Markup, Response> {
    let filter = match query.filter() {
        Ok(f) => f,
        Err(problem) => {
            return Ok(layout(
                "Documents",
                html! {
                    (search_form(&query))
                    p.flash.bad { (problem) }
                },
            ));
        }
    };
    let page = state
        .api
        .store
        .documents()
        .list(&filter)
        .await
        .map_err(unavailable)?;
    let now = state.api.clock.now();
    Ok(layout(
        "Documents",
        html! {
            (search_form(&query))
            (documents_table(&page.items, now))
            @if let Some(next) = page.next {
                p { a href={ "/dashboard/documents?" (query.with_after(next)) } { "Next page →" } }
            }
        },
    ))
}

fn search_form(q: &SearchQuery) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters method="get" action="/dashboard/documents" {
            input type="search" name="q" placeholder="internal id or uuid" value=(value(&q.q));
            select name="state" {
                option value="" { "any state" }
                @for s in DocumentState::ALL {
                    option value=(s.as_str()) selected[q.state.as_deref() == Some(s.as_str())] {
                        (s.as_str())
                    }
                }
            }
            input name="issuer_tin" placeholder="issuer TIN" value=(value(&q.issuer_tin));
            label { "from " input type="date" name="from" value=(value(&q.from)); }
            label { "to " input type="date" name="to" value=(value(&q.to)); }
            button type="submit" { "Search" }
        }
    }
}

/// The documents table (also on the overview).
pub(super) fn documents_table(documents: &[DocumentRecord], now: DateTime<Utc>) -> Markup {
    html! {
        table.documents {
            colgroup {
                col style="width:5%"; col style="width:14%"; col style="width:5%";
                col style="width:16%"; col style="width:11%"; col style="width:20%";
                col style="width:17%"; col style="width:12%";
            }
            tr {
                th { "id" } th { "internal id" } th { "type" } th { "issuer" } th { "state" }
                th { "errors" } th { "next steps" } th { "updated" }
            }
            @if documents.is_empty() {
                tr { td colspan="8" { "no documents" } }
            }
            @for d in documents {
                tr {
                    td { a href={ "/dashboard/documents/" (d.id.0) } { (d.id.0) } }
                    td { a href={ "/dashboard/documents/" (d.id.0) } { (d.internal_id) } }
                    td { (d.type_code) }
                    td { (d.issuer_tin) }
                    (state_cell(d.state.as_str()))
                    td { (super::errors_summary(d).unwrap_or_default()) }
                    td {
                        @for s in next_steps(d, now) { span.step { (s.action.name()) } " " }
                    }
                    td { (time(d.updated_at)) }
                }
            }
        }
    }
}

/// `GET /dashboard/documents/{id}`: one document, its history, errors, links and actions.
pub(super) async fn document(
    State(state): State<DashboardState>,
    Extension(key): Extension<ApiKeyRecord>,
    Path(id): Path<i64>,
    Query(flash): Query<Flash>,
) -> Result<Markup, Response> {
    let store = &state.api.store;
    let doc = match store.documents().get(DocumentId(id)).await {
        Ok(doc) => doc,
        Err(StoreError::NotFound(_)) => return Err(not_found(id)),
        Err(e) => return Err(unavailable(e)),
    };
    let events = store
        .documents()
        .events(doc.id)
        .await
        .map_err(unavailable)?;
    let now = state.api.clock.now();
    let title = format!("Document {} · {}", doc.id, doc.internal_id);
    Ok(layout(
        &title,
        html! {
            (self::flash(flash.done.as_deref(), flash.error.as_deref()))
            (facts(&doc))
            h2 { "Errors" }
            (errors_table(&DocumentError::of(&doc)))
            h2 { "What can be done" }
            (action_forms(&doc, now, key.scope.may_write()))
            h2 { "History" }
            table.events {
                tr { th { "state" } th { "at" } }
                tr { (state_cell("received")) td { (time(doc.created_at)) } }
                @for e in &events {
                    tr { (state_cell(e.state.as_str())) td { (time(e.created_at)) } }
                }
            }
        },
    ))
}

fn facts(doc: &DocumentRecord) -> Markup {
    html! {
        table.facts {
            tr { th { "state" } (state_cell(doc.state.as_str())) }
            tr { th { "issuer TIN" } td { (doc.issuer_tin) } }
            tr { th { "type" } td { (doc.type_code) } }
            tr { th { "internal id" } td { (doc.internal_id) } }
            tr { th { "version" } td { (doc.version) } }
            tr { th { "format" } td { (doc.format.as_lowercase()) } }
            tr { th { "uuid" } td { (opt(doc.uuid.as_deref())) } }
            tr { th { "validation link" } td { (link(doc.validation_link.as_deref())) } }
            @if matches!(doc.state, DocumentState::Valid | DocumentState::Cancelled) {
                tr { th { "buyer's copy" } td {
                    a href={ "/dashboard/documents/" (doc.id.0) "/pdf" } { "PDF" }
                } }
            }
            tr { th { "received" } td { (time(doc.created_at)) } }
        }
    }
}

fn errors_table(errors: &[DocumentError]) -> Markup {
    html! {
        @if errors.is_empty() {
            p { "None." }
        } @else {
            table.errors {
                colgroup {
                    col style="width:14%"; col style="width:10%"; col style="width:10%";
                    col style="width:30%"; col style="width:36%";
                }
                tr { th { "stage" } th { "code" } th { "LHDN code" } th { "field" } th { "message" } }
                @for e in errors {
                    tr {
                        td { (stage_name(e)) }
                        td { code { (e.code) } }
                        td { (opt(e.lhdn_code.as_deref())) }
                        td { code { (opt(e.field.as_deref())) } }
                        td { (e.message) }
                    }
                }
            }
        }
    }
}

fn stage_name(e: &DocumentError) -> String {
    serde_json::to_value(e.stage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One form per step the document allows (none for a read-only key: it may only look).
fn action_forms(doc: &DocumentRecord, now: DateTime<Utc>, may_write: bool) -> Markup {
    let base = format!("/dashboard/documents/{}", doc.id.0);
    let steps = next_steps(doc, now);
    let notes = steps.iter().any(|s| {
        matches!(
            s.action,
            Action::CreditNote | Action::DebitNote | Action::RefundNote
        )
    });
    html! {
        ul.steps {
            @for s in &steps {
                li { b { (s.action.name()) }
                    @if let Some(until) = &s.until { " (until " (until) ")" }
                    @if let Some(href) = &s.href { " — API: " code { (s.method.unwrap_or("")) " " (href) } }
                }
            }
        }
        @if !may_write && !steps.is_empty() {
            p { span.ro { "read-only key" } " The steps are for a key with full access." }
        }
        @if may_write {
            @for s in &steps {
                @match s.action {
                    Action::Retry => form method="post" action={ (base) "/retry" } {
                        button type="submit" { "Send again" }
                    },
                    Action::Cancel => form method="post" action={ (base) "/cancel" } {
                        input name="reason" required maxlength="300" placeholder="reason";
                        button type="submit" { "Cancel at MyInvois" }
                    },
                    _ => {}
                }
            }
            @if notes {
                form method="post" action={ (base) "/notes" } {
                    select name="kind" {
                        option value="credit_note" { "credit note" }
                        option value="debit_note" { "debit note" }
                        option value="refund_note" { "refund note" }
                    }
                    input name="internal_id" required placeholder="note's internal id";
                    button type="submit" { "Issue note" }
                }
            }
        }
    }
}

/// A message carried back to the document page after an action.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Flash {
    done: Option<String>,
    error: Option<String>,
}

/// The message an action left, if any.
pub(super) fn flash(done: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = done { p.flash.ok { (message) } }
        @if let Some(message) = error { p.flash.bad { (message) } }
    }
}

fn back(id: i64, outcome: Result<String, ApiError>) -> Response {
    let (name, message) = match outcome {
        Ok(done) => ("done", done),
        Err(e) => ("error", e.message),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, &message)
        .finish();
    Redirect::to(&format!("/dashboard/documents/{id}?{query}")).into_response()
}

/// `POST /dashboard/documents/{id}/retry`.
pub(super) async fn retry(State(state): State<DashboardState>, Path(id): Path<i64>) -> Response {
    let outcome = actions::retry_document(&state.api, DocumentId(id))
        .await
        .map(|_| "sent back to be prepared and submitted again".to_owned());
    back(id, outcome)
}

/// The cancel form.
#[derive(Debug, Deserialize)]
pub(super) struct CancelForm {
    reason: String,
}

/// `POST /dashboard/documents/{id}/cancel`.
pub(super) async fn cancel(
    State(state): State<DashboardState>,
    Path(id): Path<i64>,
    Form(form): Form<CancelForm>,
) -> Response {
    let outcome = crate::http::documents::cancel_document(&state.api, DocumentId(id), &form.reason)
        .await
        .map(|_| "cancelled at MyInvois".to_owned());
    back(id, outcome)
}

/// The note form.
#[derive(Debug, Deserialize)]
pub(super) struct NoteForm {
    kind: NoteKind,
    internal_id: String,
}

/// `POST /dashboard/documents/{id}/notes`.
pub(super) async fn note(
    State(state): State<DashboardState>,
    Path(id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> Response {
    let request = NoteRequest {
        kind: form.kind,
        internal_id: form.internal_id,
        lines: Vec::new(),
    };
    let outcome = actions::create_note_for(&state.api, DocumentId(id), &request)
        .await
        .map(|inserted| {
            format!(
                "note {} stored as document {}; it is on its way to MyInvois",
                inserted.document.internal_id, inserted.document.id
            )
        });
    back(id, outcome)
}

/// `GET /dashboard/login`.
pub(super) async fn login_form(Query(flash): Query<Flash>) -> Markup {
    super::bare_layout(
        "Sign in",
        html! {
            @if let Some(message) = &flash.error { p.flash.bad { (message) } }
            form.login method="post" action="/dashboard/login" {
                label { "API key " input type="password" name="key" required autocomplete="off"; }
                button type="submit" { "Sign in" }
            }
            p { small { "Any API key of this gateway (see invois gateway keys)." } }
        },
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub(super) struct LoginForm {
    key: String,
}

/// `POST /dashboard/login`: a live key signs the browser in.
pub(super) async fn login(
    State(state): State<DashboardState>,
    Form(form): Form<LoginForm>,
) -> Response {
    match state.api.store.api_keys().verify(form.key.trim()).await {
        Ok(Some(key)) => {
            let cookie =
                super::session::set_cookie(&state.sessions.issue(&key, state.api.clock.now()));
            ([(header::SET_COOKIE, cookie)], Redirect::to("/dashboard")).into_response()
        }
        Ok(None) => {
            Redirect::to("/dashboard/login?error=That+key+is+unknown+or+revoked.").into_response()
        }
        Err(e) => unavailable(e),
    }
}

/// `POST /dashboard/logout`.
pub(super) async fn logout(_headers: HeaderMap) -> Response {
    (
        [(header::SET_COOKIE, super::session::clear_cookie())],
        Redirect::to("/dashboard/login"),
    )
        .into_response()
}

pub(super) fn not_found(id: i64) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout("Not found", html! { p { "No document " (id) "." } }),
    )
        .into_response()
}

pub(super) fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "dashboard could not read the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        layout(
            "Unavailable",
            html! { p.flash.bad { "The dashboard could not read the store; see the gateway log." } },
        ),
    )
        .into_response()
}

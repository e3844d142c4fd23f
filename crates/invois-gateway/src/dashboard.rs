//! The operator dashboard, behind the same API keys as the ERP API.
//!
//! - the overview: a red banner while MyInvois' refusal of a login halts sending (see
//!   [`crate::login`]), counts by state, a chart of status changes per day and one of
//!   rate-budget use by endpoint, and the recent documents, submissions and webhooks;
//! - the document search ([`pages::documents`]) and a page per document with its history,
//!   its typed errors, its validation link and buyer's copy, and a form for each step its
//!   `next_steps` allow ([`pages::document`]);
//! - the received documents with their rejection deadlines, and accept / reject while allowed
//!   ([`received`]); the month's consolidation per taxpayer, with its deadline ([`consolidation`]).
//!
//! A read-only API key sees every page but no action: the forms are left out, and a post is
//! refused as the API refuses it (`403 read_only_key`).
//!
//! Self-contained HTML: no external assets and no script; the charts are inline SVG. Every
//! page is a `maud` template, so everything shown that came from an ERP or from MyInvois is
//! HTML-escaped by construction; only the stylesheet and a dash are inserted unescaped.
//! Links are shown as links only when they are `http(s)`. No secrets and no document bodies
//! are shown. Tables lay out to the window's width (never wider than 1280 pixels' worth).

mod charts;
mod consolidation;
mod pages;
mod received;
mod session;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use session::Sessions;

use crate::http::ApiState;
use crate::metrics::Metrics;
use crate::store::{
    ApiKeyRecord, DocumentRecord, DocumentState, LoginHaltRecord, Store, StoreError,
    SubmissionFilter, SubmissionRecord, WebhookFilter, WebhookLogEntry, WebhookState,
};

/// Rows per table on the overview.
const RECENT: u32 = 25;

/// Days the status chart covers.
const CHART_DAYS: i64 = 14;

/// Shown for an absent value.
const DASH: PreEscaped<&str> = PreEscaped("&ndash;");

/// The pages' only style: inline, so a page needs nothing else. Tables take the window's
/// width with fixed layout and wrap long values, so none scrolls sideways.
const STYLE: &str = concat!(
    "body{font:14px system-ui,sans-serif;margin:1em auto;max-width:1240px;padding:0 1em;",
    "color:#222}",
    "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}",
    "nav{display:flex;gap:1.2em;align-items:center;border-bottom:1px solid #ddd;",
    "padding-bottom:.5em}nav form{margin-left:auto}",
    "table{border-collapse:collapse;width:100%;table-layout:fixed}",
    "th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #ddd;",
    "vertical-align:top;overflow-wrap:anywhere}",
    "th{background:#f4f4f4}.n{text-align:right;font-variant-numeric:tabular-nums}",
    ".s{padding:0 .4em;border-radius:3px;background:#eee}",
    ".ok{background:#d8f3dc}.bad{background:#ffd6d6}.warn{background:#fff1c2}",
    ".cards{display:flex;flex-wrap:wrap;gap:.6em}",
    ".card{border:1px solid #ddd;border-radius:4px;padding:.4em .8em;min-width:7em}",
    ".card b{display:block;font-size:1.4em}",
    "code{font-size:.9em}.step{padding:0 .3em;border:1px solid #ccc;border-radius:3px}",
    "svg.chart{max-width:100%;height:auto}",
    "form.filters,form.login{display:flex;flex-wrap:wrap;gap:.5em;align-items:center}",
    ".flash{padding:.5em 1em;border-radius:4px}",
    "table.facts th{width:12em}",
    "td input{max-width:100%;box-sizing:border-box}form.act{margin:.3em 0}",
    ".ro{padding:0 .4em;border-radius:3px;background:#fff1c2}",
    "section.consolidation table{margin-bottom:.8em}",
    ".halt{background:#ffd6d6;border:2px solid #b00020;border-radius:4px;",
    "padding:.6em 1em;margin:1em 0}.halt h2{margin:0 0 .4em;color:#b00020}",
);

/// What the pages share.
#[derive(Clone)]
pub struct DashboardState {
    api: ApiState,
    sessions: Arc<Sessions>,
    metrics: Metrics,
}

/// `GET /` (a redirect), the sign-in form, and every dashboard page behind a session.
pub fn routes(api: ApiState, metrics: Metrics) -> Router {
    let state = DashboardState {
        api,
        sessions: Arc::new(Sessions::new()),
        metrics,
    };
    let signed_in = Router::new()
        .route("/dashboard", get(overview))
        .route("/dashboard/documents", get(pages::documents))
        .route("/dashboard/documents/{id}", get(pages::document))
        .route("/dashboard/documents/{id}/retry", post(pages::retry))
        .route("/dashboard/documents/{id}/cancel", post(pages::cancel))
        .route("/dashboard/documents/{id}/notes", post(pages::note))
        .route("/dashboard/documents/{id}/pdf", get(buyers_copy))
        .route("/dashboard/received", get(received::page))
        .route("/dashboard/received/{uuid}/accept", post(received::accept))
        .route("/dashboard/received/{uuid}/reject", post(received::reject))
        .route(
            "/dashboard/consolidations",
            get(consolidation::page).post(consolidation::consolidate),
        )
        .route("/dashboard/logout", post(pages::logout))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route(
            "/dashboard/login",
            get(pages::login_form).post(pages::login),
        )
        .merge(signed_in)
        .with_state(state)
}

/// Lets a request through only with a session of a live API key, or with the key itself as
/// `Authorization: Bearer` (as the API takes it, for scripts); otherwise to the sign-in form.
/// The key's record goes into the request's extensions (pages hide the actions of a
/// read-only key), and a read-only key's posts are refused as the API refuses them, except
/// signing out.
async fn require_session(
    State(state): State<DashboardState>,
    mut request: Request,
    next: Next,
) -> Response {
    // The headers only: a request's body is not `Sync`, so the request cannot be borrowed
    // across the store's await.
    let headers = request.headers().clone();
    let key = match session_key(&state, &headers).await {
        Ok(Some(key)) => key,
        Ok(None) => return Redirect::to("/dashboard/login").into_response(),
        Err(e) => return pages::unavailable(e),
    };
    let path = request.uri().path();
    if path != "/dashboard/logout"
        && let Some(refusal) = crate::http::refuse_write(&key, request.method(), path)
    {
        return refusal.into_response();
    }
    request.extensions_mut().insert(key);
    next.run(request).await
}

/// The live key a request presents: as a bearer key, or through its session cookie.
async fn session_key(
    state: &DashboardState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(key) = bearer {
        return state.api.store.api_keys().verify(key.trim()).await;
    }
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::from_header);
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let now = state.api.clock.now();
    state.sessions.key(&state.api.store, cookie, now).await
}

/// `GET /dashboard/documents/{id}/pdf`: the buyer's copy, as the API serves it (the session
/// stands in for the API key).
async fn buyers_copy(
    State(state): State<DashboardState>,
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    match crate::http::printable::pdf(State(state.api), path).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// What the overview shows, read from the store in one place.
struct View {
    halts: Vec<LoginHaltRecord>,
    documents_by_state: BTreeMap<DocumentState, u64>,
    hooks_by_state: BTreeMap<WebhookState, u64>,
    changes: BTreeMap<chrono::NaiveDate, BTreeMap<DocumentState, u64>>,
    submissions: Vec<SubmissionRecord>,
    documents: Vec<DocumentRecord>,
    hooks: Vec<WebhookLogEntry>,
}

impl View {
    async fn read(store: &Store, now: DateTime<Utc>) -> Result<View, StoreError> {
        Ok(View {
            halts: store.login_halts().list().await?,
            documents_by_state: store.documents().count_by_state().await?,
            hooks_by_state: store.outbox().count_by_state().await?,
            changes: store
                .documents()
                .changes_by_day(now - chrono::Duration::days(CHART_DAYS))
                .await?,
            submissions: store
                .submissions()
                .list(&SubmissionFilter {
                    limit: RECENT,
                    ..SubmissionFilter::default()
                })
                .await?,
            documents: store.documents().recent(RECENT).await?,
            hooks: store
                .outbox()
                .list(&WebhookFilter {
                    limit: RECENT,
                    ..WebhookFilter::default()
                })
                .await?,
        })
    }
}

/// `GET /dashboard`.
async fn overview(State(state): State<DashboardState>) -> Result<Markup, Response> {
    let now = state.api.clock.now();
    let v = View::read(&state.api.store, now)
        .await
        .map_err(pages::unavailable)?;
    Ok(layout(
        "Overview",
        html! {
            @for halt in &v.halts {
                (halt_banner(halt))
            }
            h2 { "Documents by state" }
            div.cards {
                @for state in DocumentState::ALL {
                    (card(state.as_str(), v.documents_by_state.get(state)))
                }
            }
            h2 { "Status changes per day" }
            (charts::states_by_day(&v.changes))
            h2 { "Rate budget use by endpoint (granted / waited)" }
            (charts::budget_by_class(&state.metrics.budget_use()))
            h2 { "Recent documents" }
            (pages::documents_table(&v.documents, now))
            (submissions_table(&v.submissions))
            h2 { "Webhook deliveries by state" }
            div.cards {
                @for state in WebhookState::ALL {
                    (card(state.as_str(), v.hooks_by_state.get(state)))
                }
            }
            (hooks_table(&v.hooks))
        },
    ))
}

/// A signed-in page: the navigation, then `content`.
fn layout(title: &str, content: Markup) -> Markup {
    bare_layout(
        title,
        html! {
            nav {
                b { "invois gateway" }
                a href="/dashboard" { "Overview" }
                a href="/dashboard/documents" { "Documents" }
                a href="/dashboard/received" { "Received" }
                a href="/dashboard/consolidations" { "Consolidation" }
                form method="post" action="/dashboard/logout" {
                    button type="submit" { "Sign out" }
                }
            }
            (content)
        },
    )
}

/// A page with no navigation (the sign-in form).
fn bare_layout(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · invois gateway" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                (content)
            }
        }
    }
}

/// Sending is halted: LHDN's answer, the fix, how to resume. Escaped like everything else.
fn halt_banner(halt: &LoginHaltRecord) -> Markup {
    let view = crate::login::LoginHaltView::of(halt);
    html! {
        div.halt role="alert" {
            h2 { "Sending halted: MyInvois refused the login of client id " (view.client_id) }
            p {
                "HTTP " (view.status)
                @if let Some(code) = &view.code { " " code { (code) } }
                @if let Some(text) = &view.description { ": " (text) }
                @if let Some(id) = &view.correlation_id { " (correlationId " code { (id) } ")" }
                ", " (view.refusals) " refusal(s) since " (time(view.halted_at)) "."
            }
            p { b { "Fix: " } (view.fix) "." }
            p {
                "Then restart with the new credentials, or resume with "
                code { "POST " (crate::login::resume_path(&view.client_id)) }
                "; otherwise one login is tried again at " (time(view.retry_at)) "."
            }
        }
    }
}

fn card(state: &str, n: Option<&u64>) -> Markup {
    html! {
        div class={ "card " (state_class(state)) } { b { (n.copied().unwrap_or(0)) } (state) }
    }
}

fn opt(text: Option<&str>) -> Markup {
    html! {
        @match text {
            Some(t) => (t),
            None => (DASH),
        }
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// From `from` to `to`, coarsely: `2 d 5 h`, `5 h 12 min`, `12 min` (never negative).
fn remaining(to: DateTime<Utc>, from: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max).collect();
        out.push('…');
        out
    }
}

fn link(url: Option<&str>) -> Markup {
    match url {
        // Only web links become links: an `href` of `javascript:` must never be clickable.
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            html! { a href=(u) rel="noopener noreferrer" { (u) } }
        }
        other => opt(other),
    }
}

fn state_class(state: &str) -> &'static str {
    match state {
        "valid" | "delivered" | "accepted" => "ok",
        "invalid" | "rejected_locally" | "failed" | "dead" | "refused" => "bad",
        "outcome_unknown" | "duplicate" | "cancelled" => "warn",
        _ => "",
    }
}

fn state_cell(state: &str) -> Markup {
    html! { td { span class={ "s " (state_class(state)) } { (state) } } }
}

fn submissions_table(submissions: &[SubmissionRecord]) -> Markup {
    html! {
        h2 { "Recent submissions" }
        table {
            tr {
                th { "id" } th { "state" } th { "submissionUid" } th.n { "documents" }
                th { "client" } th { "created" } th { "updated" } th { "polls" }
                th { "last error" }
            }
            @for s in submissions {
                tr {
                    td { (s.id) }
                    (state_cell(s.state.as_str()))
                    td { code { (opt(s.submission_uid.as_deref())) } }
                    td.n { (s.document_count) }
                    td {
                        (s.client_id)
                        @if let Some(obo) = &s.on_behalf_of { " for " (obo) }
                    }
                    td { (time(s.created_at)) }
                    td { (time(s.updated_at)) }
                    td.n { (s.polls) }
                    td { (opt(s.last_error.as_deref().map(|e| clip(e, 160)).as_deref())) }
                }
            }
            @if submissions.is_empty() {
                tr { td colspan="9" { "none yet" } }
            }
        }
    }
}

fn errors_summary(doc: &DocumentRecord) -> Option<String> {
    let errors = crate::document_errors::DocumentError::of(doc);
    let text = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    (!text.is_empty()).then(|| clip(&text, 200))
}

fn hooks_table(hooks: &[WebhookLogEntry]) -> Markup {
    html! {
        h2 { "Recent webhook deliveries" }
        table {
            tr {
                th { "id" } th { "event" } th { "document" } th { "state" }
                th.n { "attempts" } th { "next attempt" } th { "replay of" }
                th { "last error" }
            }
            @for h in hooks {
                @let d = &h.delivery;
                tr {
                    td { (d.id) }
                    td { (d.event) }
                    td { @match d.document_id { Some(id) => (id), None => (DASH) } }
                    (state_cell(d.state.as_str()))
                    td.n { (d.attempts) "/" (d.max_attempts) }
                    td {
                        @if d.state == WebhookState::Pending {
                            (time(d.next_attempt_at))
                        } @else {
                            (DASH)
                        }
                    }
                    td { @match h.replay_of { Some(id) => (id), None => (DASH) } }
                    td { (opt(d.last_error.as_deref().map(|e| clip(e, 160)).as_deref())) }
                }
            }
            @if hooks.is_empty() {
                tr { td colspan="8" { "none yet" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_in_content_and_attributes() {
        let hostile = "<script>alert('x')</script> & \"q\"";
        let cell = html! { td title=(hostile) { (hostile) } }.into_string();
        assert_eq!(
            cell,
            "<td title=\"&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;q&quot;\">\
             &lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;q&quot;</td>"
        );
        let missing = opt(None).into_string();
        assert_eq!(missing, "&ndash;");
    }

    #[test]
    fn only_web_links_are_links() {
        let web = link(Some("https://myinvois.example/v/1")).into_string();
        assert!(web.starts_with("<a href="), "{web}");
        let js = link(Some("javascript:alert(1)")).into_string();
        assert!(!js.contains("<a"), "{js}");
        let quoted = link(Some("https://x.example/\"><script>")).into_string();
        assert!(!quoted.contains("<script>"), "{quoted}");
        assert!(quoted.contains("&quot;&gt;&lt;script&gt;"), "{quoted}");
    }

    #[test]
    fn time_left_is_coarse_and_never_negative() {
        let at = Utc::now();
        let later = |m: i64| at + chrono::Duration::minutes(m);
        assert_eq!(remaining(later(12), at), "12 min");
        assert_eq!(remaining(later(5 * 60 + 12), at), "5 h 12 min");
        assert_eq!(remaining(later(72 * 60 - 1), at), "2 d 23 h");
        assert_eq!(remaining(at, later(5)), "0 min");
    }

    #[test]
    fn clip_cuts_on_characters() {
        assert_eq!(clip("héllo", 10), "héllo");
        assert_eq!(clip("héllo", 2), "hé…");
    }
}

//! A one-page operator dashboard: counts by state, recent submissions, recent documents and
//! recent webhook deliveries; above them, a red banner while MyInvois' refusal of the login
//! halts sending (see [`crate::login`]).
//!
//! One self-contained HTML page: no external assets, no script (it refreshes itself every
//! five seconds with a `<meta http-equiv="refresh">`). The page is a `maud` template, so
//! everything shown that came from an ERP or from MyInvois is HTML-escaped by construction:
//! only the page's own stylesheet and dash are inserted unescaped. Links are shown as links
//! only when they are `http(s)`. No secrets and no document bodies are shown.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::store::{
    DocumentRecord, DocumentState, LoginHaltRecord, Store, StoreError, SubmissionFilter,
    SubmissionRecord, WebhookFilter, WebhookLogEntry, WebhookState,
};

/// Rows per table.
const RECENT: u32 = 25;

/// Shown for an absent value.
const DASH: PreEscaped<&str> = PreEscaped("&ndash;");

/// The page's only style: inline, so the page needs nothing else.
const STYLE: &str = concat!(
    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}",
    "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}",
    "table{border-collapse:collapse;width:100%}",
    "th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;",
    "vertical-align:top}",
    "th{background:#f4f4f4}.n{text-align:right;font-variant-numeric:tabular-nums}",
    ".s{padding:0 .4em;border-radius:3px;background:#eee}",
    ".ok{background:#d8f3dc}.bad{background:#ffd6d6}.warn{background:#fff1c2}",
    ".cards{display:flex;flex-wrap:wrap;gap:.6em}",
    ".card{border:1px solid #ddd;border-radius:4px;padding:.4em .8em;min-width:7em}",
    ".card b{display:block;font-size:1.4em}",
    "code{font-size:.9em}",
    ".halt{background:#ffd6d6;border:2px solid #b00020;border-radius:4px;",
    "padding:.6em 1em;margin:1em 0}.halt h2{margin:0 0 .4em;color:#b00020}",
);

/// `GET /dashboard` (the page) and `GET /` (a redirect to it).
pub fn routes(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(page))
        .with_state(store)
}

async fn page(State(store): State<Arc<Store>>) -> Response {
    match render(&store).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard could not read the store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the dashboard could not read the store; see the gateway log",
            )
                .into_response()
        }
    }
}

/// What the page shows, read from the store in one place.
struct View {
    halts: Vec<LoginHaltRecord>,
    documents_by_state: BTreeMap<DocumentState, u64>,
    hooks_by_state: BTreeMap<WebhookState, u64>,
    submissions: Vec<SubmissionRecord>,
    documents: Vec<DocumentRecord>,
    hooks: Vec<WebhookLogEntry>,
}

impl View {
    async fn read(store: &Store) -> Result<View, StoreError> {
        Ok(View {
            halts: store.login_halts().list().await?,
            documents_by_state: store.documents().count_by_state().await?,
            hooks_by_state: store.outbox().count_by_state().await?,
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

/// The page, from the store's current contents.
pub async fn render(store: &Store) -> Result<String, StoreError> {
    let view = View::read(store).await?;
    Ok(page_markup(&view).into_string())
}

fn page_markup(v: &View) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="5";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "invois gateway" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "invois gateway" }
                @for halt in &v.halts {
                    (halt_banner(halt))
                }
                h2 { "Documents by state" }
                div.cards {
                    @for state in DocumentState::ALL {
                        (card(state.as_str(), v.documents_by_state.get(state)))
                    }
                }
                h2 { "Webhook deliveries by state" }
                div.cards {
                    @for state in WebhookState::ALL {
                        (card(state.as_str(), v.hooks_by_state.get(state)))
                    }
                }
                (submissions_table(&v.submissions))
                (documents_table(&v.documents))
                (hooks_table(&v.hooks))
                p { small { "Refreshes every 5 seconds." } }
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

fn documents_table(documents: &[DocumentRecord]) -> Markup {
    html! {
        h2 { "Recent documents" }
        table {
            tr {
                th { "id" } th { "issuer" } th { "type" } th { "internal id" }
                th.n { "version" } th { "state" } th { "uuid" } th { "validation link" }
                th { "errors" } th { "updated" }
            }
            @for d in documents {
                tr {
                    td { (d.id) }
                    td { (d.issuer_tin) }
                    td { (d.type_code) }
                    td { (d.internal_id) }
                    td.n { (d.version) }
                    (state_cell(d.state.as_str()))
                    td { code { (opt(d.uuid.as_deref())) } }
                    td {
                        (link(d.validation_link.as_deref()))
                        // The buyer's copy, from the API (it needs the API key).
                        @if d.validation_link.is_some()
                            && matches!(d.state, DocumentState::Valid | DocumentState::Cancelled)
                        {
                            " " a href={ "/v1/documents/" (d.id) "/pdf" } { "PDF" }
                        }
                    }
                    td { (opt(errors_summary(d).as_deref())) }
                    td { (time(d.updated_at)) }
                }
            }
            @if documents.is_empty() {
                tr { td colspan="10" { "none yet" } }
            }
        }
    }
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
    fn clip_cuts_on_characters() {
        assert_eq!(clip("héllo", 10), "héllo");
        assert_eq!(clip("héllo", 2), "hé…");
    }
}

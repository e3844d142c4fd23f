//! A one-page operator dashboard: counts by state, recent submissions, recent documents and
//! recent webhook deliveries.
//!
//! One self-contained HTML page: no external assets, no script (it refreshes itself every
//! five seconds with a `<meta http-equiv="refresh">`). Everything shown that came from an ERP
//! or from MyInvois is HTML-escaped; links are shown as links only when they are `http(s)`.
//! No secrets and no document bodies are shown.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::store::{
    DocumentRecord, DocumentState, Store, StoreError, SubmissionFilter, SubmissionRecord,
    WebhookFilter, WebhookLogEntry, WebhookState,
};

/// Rows per table.
const RECENT: u32 = 25;

/// `GET /dashboard` (the page) and `GET /` (a redirect to it).
pub fn routes(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(page))
        .with_state(store)
}

async fn page(State(store): State<Arc<dyn Store>>) -> Response {
    match render(&*store).await {
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

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn opt(text: Option<&str>) -> String {
    text.map(escape).unwrap_or_else(|| "&ndash;".to_owned())
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

fn link(url: Option<&str>) -> String {
    match url {
        // Only web links become links: an `href` of `javascript:` must never be clickable.
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            let u = escape(u);
            format!("<a href=\"{u}\" rel=\"noopener noreferrer\">{u}</a>")
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

fn state_cell(state: &str) -> String {
    format!(
        "<td><span class=\"s {}\">{}</span></td>",
        state_class(state),
        escape(state)
    )
}

/// The page, from the store's current contents.
pub async fn render(store: &dyn Store) -> Result<String, StoreError> {
    let counts = store.count_documents_by_state().await?;
    let hooks_by_state = store.count_webhooks_by_state().await?;
    let submissions = store
        .list_submissions(&SubmissionFilter {
            limit: RECENT,
            ..SubmissionFilter::default()
        })
        .await?;
    let documents = store.recent_documents(RECENT).await?;
    let hooks = store
        .list_webhook_deliveries(&WebhookFilter {
            limit: RECENT,
            ..WebhookFilter::default()
        })
        .await?;

    let mut html = String::with_capacity(16 * 1024);
    html.push_str(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"refresh\" content=\"5\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>invois gateway</title><style>",
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
        "</style></head><body>\n<h1>invois gateway</h1>\n"
    ));

    html.push_str("<h2>Documents by state</h2>\n<div class=\"cards\">");
    for state in DocumentState::ALL {
        let n = counts.get(state).copied().unwrap_or(0);
        let _ = write!(
            html,
            "<div class=\"card {}\"><b>{n}</b>{}</div>",
            state_class(state.as_str()),
            escape(state.as_str())
        );
    }
    html.push_str("</div>\n<h2>Webhook deliveries by state</h2>\n<div class=\"cards\">");
    for state in WebhookState::ALL {
        let n = hooks_by_state.get(state).copied().unwrap_or(0);
        let _ = write!(
            html,
            "<div class=\"card {}\"><b>{n}</b>{}</div>",
            state_class(state.as_str()),
            escape(state.as_str())
        );
    }
    html.push_str("</div>\n");

    submissions_table(&mut html, &submissions);
    documents_table(&mut html, &documents);
    hooks_table(&mut html, &hooks);

    html.push_str("<p><small>Refreshes every 5 seconds.</small></p>\n</body></html>\n");
    Ok(html)
}

fn submissions_table(html: &mut String, submissions: &[SubmissionRecord]) {
    html.push_str(concat!(
        "<h2>Recent submissions</h2>\n<table><tr><th>id</th><th>state</th>",
        "<th>submissionUid</th><th class=\"n\">documents</th><th>client</th>",
        "<th>created</th><th>updated</th><th>polls</th><th>last error</th></tr>\n"
    ));
    for s in submissions {
        let client = match &s.on_behalf_of {
            Some(obo) => format!("{} for {}", escape(&s.client_id), escape(obo)),
            None => escape(&s.client_id),
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td>{}<td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            s.id,
            state_cell(s.state.as_str()),
            opt(s.submission_uid.as_deref()),
            s.document_count,
            client,
            time(s.created_at),
            time(s.updated_at),
            s.polls,
            opt(s.last_error.as_deref().map(|e| clip(e, 160)).as_deref()),
        );
    }
    if submissions.is_empty() {
        html.push_str("<tr><td colspan=\"9\">none yet</td></tr>\n");
    }
    html.push_str("</table>\n");
}

fn errors_summary(doc: &DocumentRecord) -> Option<String> {
    let errors = doc
        .errors
        .as_ref()
        .map(|e| clip(&e.to_string(), 200))
        .or_else(|| doc.last_error.as_deref().map(|e| clip(e, 200)));
    errors.filter(|e| !e.is_empty())
}

fn documents_table(html: &mut String, documents: &[DocumentRecord]) {
    html.push_str(concat!(
        "<h2>Recent documents</h2>\n<table><tr><th>id</th><th>issuer</th><th>type</th>",
        "<th>internal id</th><th class=\"n\">version</th><th>state</th><th>uuid</th>",
        "<th>validation link</th><th>errors</th><th>updated</th></tr>\n"
    ));
    for d in documents {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>{}\
             <td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.id,
            escape(&d.issuer_tin),
            escape(&d.type_code),
            escape(&d.internal_id),
            d.version,
            state_cell(d.state.as_str()),
            opt(d.uuid.as_deref()),
            link(d.validation_link.as_deref()),
            opt(errors_summary(d).as_deref()),
            time(d.updated_at),
        );
    }
    if documents.is_empty() {
        html.push_str("<tr><td colspan=\"10\">none yet</td></tr>\n");
    }
    html.push_str("</table>\n");
}

fn hooks_table(html: &mut String, hooks: &[WebhookLogEntry]) {
    html.push_str(concat!(
        "<h2>Recent webhook deliveries</h2>\n<table><tr><th>id</th><th>event</th>",
        "<th>document</th><th>state</th><th class=\"n\">attempts</th><th>next attempt</th>",
        "<th>replay of</th><th>last error</th></tr>\n"
    ));
    for h in hooks {
        let d = &h.delivery;
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td class=\"n\">{}/{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            d.id,
            escape(&d.event),
            d.document_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "&ndash;".to_owned()),
            state_cell(d.state.as_str()),
            d.attempts,
            d.max_attempts,
            if d.state == WebhookState::Pending {
                time(d.next_attempt_at)
            } else {
                "&ndash;".to_owned()
            },
            h.replay_of
                .map(|id| id.to_string())
                .unwrap_or_else(|| "&ndash;".to_owned()),
            opt(d.last_error.as_deref().map(|e| clip(e, 160)).as_deref()),
        );
    }
    if hooks.is_empty() {
        html.push_str("<tr><td colspan=\"8\">none yet</td></tr>\n");
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn only_web_links_are_links() {
        assert!(link(Some("https://myinvois.example/v/1")).starts_with("<a href="));
        let js = link(Some("javascript:alert(1)"));
        assert!(!js.contains("<a"), "{js}");
        let quoted = link(Some("https://x.example/\"><script>"));
        assert!(!quoted.contains("<script>"), "{quoted}");
        assert!(quoted.contains("&quot;&gt;&lt;script&gt;"), "{quoted}");
    }

    #[test]
    fn clip_cuts_on_characters() {
        assert_eq!(clip("héllo", 10), "héllo");
        assert_eq!(clip("héllo", 2), "hé…");
    }
}

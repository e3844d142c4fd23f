//! The validation portal page (README §10): `GET /{uuid}/share/{longId}`, what a validation
//! link and the QR code on a printed e-invoice open. Anyone holding the link sees the
//! document's public summary, without a token; a link to a document that is not valid, or
//! with a `longId` that is not the document's, finds nothing.
//!
//! MyInvois serves this page from its portal host, not the API host. The sandbox serves it on
//! its own listener, so a client whose portal base is the sandbox's base URL (what
//! `invois-client` does for a custom API base) prints links that open something real. LHDN
//! does not document the page's layout; it shows what the published guidelines say a link
//! lets anyone check (the e-invoice exists, and its status) and the fields the official
//! visual-representation examples print beside the QR code.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use invois_api::DocumentStatus;
use rust_decimal::Decimal;

use crate::Sandbox;
use crate::facts::PartyFacts;
use crate::report::render::escape;
use crate::store::DocumentRecord;

/// The route, in axum's syntax; `invois_api::ids::validation_link` builds its URLs.
pub(crate) const ROUTE: &str = "/{uuid}/share/{long_id}";

/// `GET /{uuid}/share/{longId}`.
pub(crate) async fn share(
    State(sandbox): State<Sandbox>,
    Path((uuid, long_id)): Path<(String, String)>,
) -> Response {
    let store = sandbox.inner.store.lock();
    let page = store
        .document(&uuid)
        .filter(|d| d.long_id.as_deref() == Some(long_id.as_str()))
        .filter(|d| matches!(d.status, DocumentStatus::Valid | DocumentStatus::Cancelled))
        .map(summary_page);
    match page {
        Some(html) => html_response(StatusCode::OK, html),
        None => html_response(StatusCode::NOT_FOUND, not_found_page()),
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

const STYLE: &str = "body{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}\
.banner{background:#fff3cd;border:1px solid #e0c46c;padding:.5rem .75rem;margin-bottom:1rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}\
th{width:16rem;font-weight:600}.valid{color:#176f2c}.cancelled{color:#a12622}";

/// Says whose page this is: a sandbox's, so that nobody takes it for LHDN's.
const BANNER: &str = "<div class=\"banner\">invois sandbox: this document was validated by a \
     local MyInvois sandbox, not by LHDN. It is not a tax document.</div>";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{STYLE}</style>\
         </head><body>{BANNER}{body}</body></html>\n"
    )
}

fn not_found_page() -> String {
    page(
        "e-Invoice not found",
        "<h1>e-Invoice not found</h1><p>No valid e-Invoice has this validation link. Check the \
         link or QR code: the document may not be validated yet, or may have been refused.</p>",
    )
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

fn amount(value: Option<Decimal>, currency: Option<&str>) -> String {
    match (value, currency) {
        (Some(v), Some(c)) => format!("{c} {v}"),
        (Some(v), None) => v.to_string(),
        (None, _) => "-".to_owned(),
    }
}

fn party(p: &PartyFacts) -> String {
    let name = p.name.as_deref().unwrap_or("-");
    match &p.tin {
        Some(tin) => format!("{} (TIN {})", escape(name), escape(tin)),
        None => escape(name),
    }
}

/// The public summary of a valid or cancelled document.
fn summary_page(d: &DocumentRecord) -> String {
    let f = &d.facts;
    let (status, class) = match d.status {
        DocumentStatus::Cancelled => ("Cancelled", "cancelled"),
        _ => ("Valid", "valid"),
    };
    let currency = f.currency.as_deref();
    let mut rows = vec![
        (
            "Status",
            format!("<strong class=\"{class}\">{status}</strong>"),
        ),
        ("Unique Identifier No.", escape(&d.uuid)),
        (
            "e-Invoice type",
            format!("{} - {}", escape(&f.type_code), escape(d.type_name())),
        ),
        ("e-Invoice version", escape(&f.version)),
        ("e-Invoice code", escape(&f.internal_id)),
        ("Supplier", party(&f.supplier)),
        ("Buyer", party(&f.buyer)),
        ("Date and time of issue", escape(&time(f.issued_at()))),
        ("Date and time of validation", escape(&time(d.validated))),
        (
            "Total excluding tax",
            escape(&amount(f.totals.tax_exclusive, currency)),
        ),
        (
            "Total including tax",
            escape(&amount(f.totals.tax_inclusive, currency)),
        ),
        (
            "Total payable amount",
            escape(&amount(f.totals.payable, currency)),
        ),
    ];
    if d.status == DocumentStatus::Cancelled {
        rows.push(("Date and time of cancellation", escape(&time(d.cancelled))));
    }
    if let Some(at) = d.reject_requested {
        rows.push(("Rejection requested by the buyer", escape(&time(Some(at)))));
    }
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{v}</td></tr>"))
        .collect();
    page(
        &format!("e-Invoice {}", escape(&d.uuid)),
        &format!("<h1>e-Invoice</h1><table>{table}</table>"),
    )
}

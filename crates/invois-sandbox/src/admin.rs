//! The admin API, served on its own listener and only when asked for:
//!
//! | Method | Path | Body / effect |
//! | --- | --- | --- |
//! | `GET` | `/admin/clock` | `{"now": "...", "scale": 60.0}` |
//! | `POST` | `/admin/clock/advance` | `{"seconds": 3600}`: moves the clock forward |
//! | `GET` | `/admin/faults` | the current [`Faults`] |
//! | `PUT` | `/admin/faults` | a [`Faults`] object (missing members = off) |
//! | `DELETE` | `/admin/faults` | turns every fault off |
//! | `POST` | `/admin/reset` | forgets documents, submissions, tokens, rate windows, counters |
//! | `GET` | `/admin/stats` | counts and per-client counters (blocked logins, 429s) |
//! | `GET` | `/admin/report?clientId=` | the integration [`crate::report::Report`] (JSON) |
//! | `GET` | `/admin/report.html?clientId=` | the same as one self-contained HTML page |
//! | `POST` | `/admin/issue` | `{"buyer_tin": "...", "supplier_tin"?, "internal_id"?, "unit_price"?}`: a valid document from a supplier to that buyer ([`Sandbox::issue_to`]) |

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::extract::ApiJson;
use crate::issue::{Issue, IssueError, IssuedDocument};
use crate::{Faults, Sandbox, SandboxStats};

#[derive(Debug, Serialize)]
struct ClockState {
    now: String,
    scale: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

pub(crate) fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/admin/clock", get(clock))
        .route("/admin/clock/advance", post(advance))
        .route(
            "/admin/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/admin/reset", post(reset))
        .route("/admin/stats", get(stats))
        .route("/admin/report", get(crate::report::admin_json))
        .route("/admin/report.html", get(crate::report::admin_html))
        .route("/admin/issue", post(issue))
        .fallback(crate::middleware::not_found)
        .method_not_allowed_fallback(crate::middleware::method_not_allowed)
        .with_state(sandbox)
}

/// `POST /admin/issue`'s body: the buyer, and what [`Issue`] may choose.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueRequest {
    buyer_tin: String,
    #[serde(default)]
    supplier_tin: Option<String>,
    #[serde(default)]
    internal_id: Option<String>,
    #[serde(default)]
    unit_price: Option<rust_decimal::Decimal>,
}

fn clock_state(sandbox: &Sandbox) -> ClockState {
    ClockState {
        now: sandbox
            .clock()
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        scale: sandbox.clock().scale(),
    }
}

async fn clock(State(sandbox): State<Sandbox>) -> axum::Json<ClockState> {
    axum::Json(clock_state(&sandbox))
}

async fn advance(
    State(sandbox): State<Sandbox>,
    ApiJson(body): ApiJson<Advance>,
) -> Result<axum::Json<ClockState>, AppError> {
    // Ten years is plenty and keeps chrono's arithmetic far from overflow.
    if body.seconds > 10 * 365 * 24 * 3600 {
        return Err(AppError::bad_argument(
            "seconds",
            "at most ten years at a time",
        ));
    }
    sandbox.clock().advance(Duration::from_secs(body.seconds));
    Ok(axum::Json(clock_state(&sandbox)))
}

async fn get_faults(State(sandbox): State<Sandbox>) -> axum::Json<Faults> {
    axum::Json(sandbox.faults())
}

async fn put_faults(
    State(sandbox): State<Sandbox>,
    ApiJson(faults): ApiJson<Faults>,
) -> Result<axum::Json<Faults>, AppError> {
    for (rate, name) in [
        (faults.error_rate, "error_rate"),
        (faults.drop_rate, "drop_rate"),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(AppError::bad_argument(name, "must be between 0 and 1"));
        }
    }
    if faults.max_submission_documents == Some(0) {
        return Err(AppError::bad_argument(
            "max_submission_documents",
            "must be at least 1",
        ));
    }
    if faults.latency_ms > 60_000 {
        return Err(AppError::bad_argument("latency_ms", "at most 60000"));
    }
    sandbox.set_faults(faults.clone());
    Ok(axum::Json(faults))
}

async fn clear_faults(State(sandbox): State<Sandbox>) -> StatusCode {
    sandbox.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}

async fn reset(State(sandbox): State<Sandbox>) -> impl IntoResponse {
    sandbox.reset();
    StatusCode::NO_CONTENT
}

async fn stats(State(sandbox): State<Sandbox>) -> axum::Json<SandboxStats> {
    axum::Json(sandbox.stats())
}

async fn issue(
    State(sandbox): State<Sandbox>,
    ApiJson(body): ApiJson<IssueRequest>,
) -> Result<(StatusCode, axum::Json<IssuedDocument>), AppError> {
    let request = Issue {
        supplier_tin: body.supplier_tin,
        internal_id: body.internal_id,
        unit_price: body.unit_price,
    };
    // Validation is CPU work: on the blocking pool, like a submission's.
    let buyer = body.buyer_tin;
    let issued = tokio::task::spawn_blocking(move || sandbox.issue_to(&buyer, &request))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "issuing a document panicked");
            AppError::Internal
        })?;
    match issued {
        Ok(doc) => Ok((StatusCode::CREATED, axum::Json(doc))),
        Err(e @ (IssueError::UnknownBuyer(_) | IssueError::SameParty(_))) => {
            Err(AppError::bad_argument("buyer_tin", e.to_string()))
        }
        Err(e @ (IssueError::UnknownSupplier(_) | IssueError::NoSupplier(_))) => {
            Err(AppError::bad_argument("supplier_tin", e.to_string()))
        }
        // The document the fixture makes is refused by the sandbox's own validators.
        Err(e) => Err(AppError::bad_argument("document", e.to_string())),
    }
}

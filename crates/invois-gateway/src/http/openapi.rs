//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the request and response types, so that it cannot drift from what the code serves.

use std::sync::LazyLock;

use utoipa::openapi::content::Content;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem, Paths};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::consolidation::DeadlinePayload;
use crate::received_webhooks::ReceivedPayload;
use crate::webhooks::{LoginPayload, WebhookPayload};

/// The name of the bearer API-key scheme every `/v1` operation requires.
const API_KEY: &str = "apiKey";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "invois gateway ERP API",
        version = "1",
        description = "Hand documents to the gateway, which submits each to MyInvois exactly \
            once, and read their status. Every /v1 route needs `Authorization: Bearer <API key>`. \
            Every error, on every route, is {\"error\": {\"code\", \"message\", \"field\"?}}. \
            Field names are snake_case everywhere, webhook payloads included (their old \
            camelCase names are sent too, deprecated, for one release). Submissions are \
            idempotent by issuer TIN + type code + internal id (read from the document): the \
            same document again returns the stored one with `created: false`; the same key with \
            different content is 409 `conflict`, whose message says what is possible in the \
            latest version's state: a corrected new version (only once the latest version is \
            invalid or rejected_locally), waiting for the final status (received, prepared, \
            batched, submitted), cancellation within 72 hours of validation or a credit, debit \
            or refund note (valid), or a new internal id (cancelled, failed)."
    ),
    paths(
        super::documents::submit,
        super::documents::list,
        super::documents::get_by_id,
        super::documents::get_by_key,
        super::documents::new_version,
        super::documents::versions,
        super::documents::cancel,
        super::printable::pdf,
        super::printable::html,
        super::actions::retry,
        super::actions::create_note,
        super::submissions::list,
        super::received::list,
        super::received::get,
        super::received::reject,
        super::received::accept,
        super::clients::resume,
        super::receipts::post_receipts,
        super::receipts::list_receipts,
        super::receipts::individual,
        super::receipts::put_issuer,
        super::receipts::get_issuer,
        super::receipts::consolidate,
        super::receipts::list_consolidations,
        super::receipts::get_consolidation,
        super::health,
        super::ready,
        super::serve_openapi,
        crate::webhooks::list_deliveries,
        crate::webhooks::replay_delivery,
    ),
    components(schemas(WebhookPayload, ReceivedPayload, LoginPayload, DeadlinePayload)),
    modifiers(&Conventions),
    tags(
        (name = "documents", description = "Submit, correct, read, list and cancel documents, \
            and fetch the buyer's copy (PDF or HTML) of a validated one."),
        (name = "submissions", description = "The gateway's submission attempts."),
        (name = "received", description = "Documents other taxpayers issued to the gateway's \
            taxpayer: each with its 72-hour rejection deadline, rejected at MyInvois or accepted \
            (recorded in the gateway only: MyInvois has no acceptance call)."),
        (name = "receipts", description = "B2C receipts for the monthly consolidated \
            e-invoices: post them (JSON or CSV), store the issuer's supplier details, build a \
            closed month (or let the month-end loop do it), follow its deadline and exclusions, \
            and issue a receipt its own e-invoice when its buyer asks."),
        (name = "webhooks", description = "The webhook delivery log and replay."),
        (name = "operations", description = "Liveness, readiness and this description."),
    )
)]
struct ApiDoc;

/// What every operation shares, applied in one place rather than repeated per handler:
/// `/v1` operations need the API key and may answer 401 and 503 in the error envelope, and
/// their writes 403 to a read-only key; the others need nothing. Also describes the webhook the gateway sends.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key created with the gateway (stored hashed)."))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let keyed = path.starts_with("/v1/");
            for op in operations(item) {
                if keyed {
                    op.security = Some(vec![SecurityRequirement::new(
                        API_KEY,
                        Vec::<String>::new(),
                    )]);
                    add_error(op, "401", "A missing, unknown or revoked API key.");
                    add_error(
                        op,
                        "503",
                        "The gateway's database failed (`store_unavailable`).",
                    );
                } else {
                    // An explicit empty list: this operation needs no key.
                    op.security = Some(Vec::new());
                }
            }
            if keyed {
                // Every write refuses a read-only key (see `http::refuse_write`).
                for op in [&mut item.post, &mut item.put]
                    .into_iter()
                    .filter_map(Option::as_mut)
                {
                    add_error(
                        op,
                        "403",
                        "The API key is read-only (`read_only_key`): it may only read.",
                    );
                }
            }
        }
        doc.webhooks = Some(webhooks());
    }
}

/// Every operation of a path item this API uses.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.put]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// Adds an error response in the envelope, unless the operation describes that status itself.
fn add_error(op: &mut Operation, status: &str, description: &str) {
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(error_ref())))
        .build();
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert(RefOr::T(response));
}

fn error_ref() -> Ref {
    Ref::from_schema_name("Error")
}

/// The webhooks the gateway POSTs to the ERP: every document status change, every new,
/// rejected or cancelled received document, a login halted or resumed, and a month's
/// consolidation deadline near or passed.
fn webhooks() -> Paths {
    let mut paths = Paths::new();
    paths.paths.insert(
        "documentStatusChanged".to_owned(),
        webhook(
            "documentStatusChanged",
            "A document's status changed",
            "`document.<state>` (X-Invois-Event) for rejected_locally, submitted, invalid, \
             valid, cancelled and failed: a snapshot of the document. Signed: \
             `X-Invois-Signature` is `sha256=` and the hex HMAC-SHA256 of \
             `<X-Invois-Timestamp>.<body>`. Deduplicate by `event_id`.",
            "WebhookPayload",
        ),
    );
    paths.paths.insert(
        "receivedDocumentEvent".to_owned(),
        webhook(
            "receivedDocumentEvent",
            "A received document is new, rejected or cancelled",
            "`received.new`, `received.rejected` or `received.cancelled` (X-Invois-Event): a \
             snapshot of a document another taxpayer issued to the gateway's taxpayer, with its \
             rejection deadline. Signed like every delivery. Deduplicate by \
             `received_event_id` (a sequence apart from document events' `event_id`).",
            "ReceivedPayload",
        ),
    );
    paths.paths.insert(
        "clientLoginChanged".to_owned(),
        webhook(
            "clientLoginChanged",
            "MyInvois refused the login for good and sending halted, or it resumed",
            "`client.login_halted` (with LHDN's answer, the fix and the ways to resume) or \
             `client.login_resumed` (X-Invois-Event). Signed like every delivery. Deduplicate \
             by `X-Invois-Delivery`.",
            "LoginPayload",
        ),
    );
    paths.paths.insert(
        "consolidationDeadline".to_owned(),
        webhook(
            "consolidationDeadline",
            "A month's consolidated e-invoices near or passed their deadline unsubmitted",
            "`consolidation.deadline_near` (within the warning time of the 7th day after the \
             month) or `consolidation.deadline_passed` (X-Invois-Event), each sent once per \
             issuer and month while its consolidated e-invoices have not all reached MyInvois. \
             Signed like every delivery. Deduplicate by `event`, `issuer_tin` and `month`, or \
             by `X-Invois-Delivery`.",
            "DeadlinePayload",
        ),
    );
    paths
}

/// One webhook: a POST of `schema` that any 2xx acknowledges.
fn webhook(id: &str, summary: &str, description: &str, schema: &str) -> PathItem {
    let body = RequestBodyBuilder::new()
        .description(Some(description))
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build();
    let op = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
        .request_body(Some(body))
        .response(
            "2XX",
            ResponseBuilder::new()
                .description("Acknowledged; anything else is retried with backoff.")
                .build(),
        )
        .build();
    PathItem::new(HttpMethod::Post, op)
}

/// The OpenAPI document of the ERP API and the webhook log.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// [`openapi`] as JSON, generated once.
pub fn openapi_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        // A document of strings, maps and numbers: serializing it cannot fail.
        openapi().to_pretty_json().unwrap_or_default()
    });
    &JSON
}

/// Every (method, path template) the gateway's API serves: the ERP API's and the webhook
/// log's. [`openapi`] describes exactly these (a test checks both ways).
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    let mut routes = super::routes();
    routes.extend(crate::webhooks::route_list());
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The router's routes and the document's operations, both ways.
    #[test]
    fn the_document_describes_exactly_the_served_routes() {
        let doc: serde_json::Value = serde_json::from_str(openapi_json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut described: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let mut served: Vec<(String, String)> = served_routes()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        described.sort();
        served.sort();
        assert_eq!(described, served, "OpenAPI operations vs served routes");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let text = openapi_json();
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "unresolved schema {name}");
        }
    }

    #[test]
    fn webhook_payload_is_described_with_both_spellings() {
        let doc: serde_json::Value = serde_json::from_str(openapi_json()).unwrap();
        let text = doc["components"]["schemas"].to_string();
        for name in ["event_id", "eventId", "occurred_at", "occurredAt"] {
            assert!(text.contains(&format!("\"{name}\"")), "{name} in {text}");
        }
        assert!(doc["webhooks"]["documentStatusChanged"]["post"].is_object());
    }

    /// Every event the gateway sends, named in docs/webhooks.md and in the document's
    /// `webhooks` (issue 14, item 7): a new event cannot ship undocumented.
    #[test]
    fn every_webhook_event_is_documented() {
        use crate::store::{DocumentState, ReceivedEventKind};
        // The states whose changes the store records as events (`emit_events`).
        let mut events: Vec<String> = [
            DocumentState::RejectedLocally,
            DocumentState::Submitted,
            DocumentState::Invalid,
            DocumentState::Valid,
            DocumentState::Cancelled,
            DocumentState::Failed,
        ]
        .into_iter()
        .map(crate::webhooks::event_name)
        .collect();
        for kind in [
            ReceivedEventKind::Received,
            ReceivedEventKind::Rejected,
            ReceivedEventKind::Cancelled,
        ] {
            events.push(crate::received_webhooks::received_event_name(kind).to_owned());
        }
        for name in [
            crate::webhooks::EVENT_LOGIN_HALTED,
            crate::webhooks::EVENT_LOGIN_RESUMED,
            crate::consolidation::EVENT_DEADLINE_NEAR,
            crate::consolidation::EVENT_DEADLINE_PASSED,
        ] {
            events.push(name.to_owned());
        }
        let docs = include_str!("../../../../docs/webhooks.md");
        let doc: serde_json::Value = serde_json::from_str(openapi_json()).unwrap();
        let hooks = doc["webhooks"].to_string();
        for event in &events {
            assert!(
                docs.contains(&format!("`{event}`")),
                "{event} in docs/webhooks.md"
            );
            let (family, _) = event.split_once('.').unwrap();
            // Document events are described as `document.<state>` with the states listed.
            let described = hooks.contains(event.as_str())
                || (family == "document" && hooks.contains("document.<state>"));
            assert!(described, "{event} in the OpenAPI webhooks");
        }
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["DeadlinePayload"].is_object());
        assert!(doc["webhooks"]["consolidationDeadline"]["post"].is_object());
    }

    /// The login events and the resume route are described with their types (issue 16).
    #[test]
    fn login_halts_are_described() {
        let doc: serde_json::Value = serde_json::from_str(openapi_json()).unwrap();
        assert!(doc["webhooks"]["clientLoginChanged"]["post"].is_object());
        let schemas = &doc["components"]["schemas"];
        for name in ["LoginPayload", "LoginHaltView", "ClientLogin"] {
            assert!(schemas[name].is_object(), "{name}");
        }
        let resume = &doc["paths"]["/v1/clients/{client_id}/resume"]["post"];
        for status in ["200", "404", "409", "502", "401"] {
            assert!(resume["responses"][status].is_object(), "{status}");
        }
    }
}

//! A recording test double of MyInvois: an axum server on 127.0.0.1:0 whose answers each
//! test scripts, and which records every request (method, path, query, headers, body, and
//! the time on the shared clock) for exact assertions.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use invois_client::{Client, ClientBuilder, Clock, RetryPolicy};
use parking_lot::Mutex;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: DateTime<Utc>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    pub fn query_param(&self, key: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

pub enum Reply {
    Json(u16, serde_json::Value),
    Raw(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Answer after sleeping this long (real time).
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn ok(v: serde_json::Value) -> Reply {
        Reply::Json(200, v)
    }

    pub fn with_headers(status: u16, headers: Vec<(&'static str, String)>, body: &str) -> Reply {
        Reply::Raw(status, headers, body.as_bytes().to_vec())
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

#[derive(Clone)]
pub struct Double {
    pub base: String,
    pub clock: Clock,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

pub fn token_reply(n: usize) -> Reply {
    Reply::ok(serde_json::json!({
        "access_token": format!("token-{n}"),
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "InvoicingAPI"
    }))
}

impl Double {
    /// Starts a double whose `/connect/token` issues `token-N` (N = 1, 2, ...) and whose other
    /// routes call `api(request, index of this request among non-token requests)`.
    pub async fn start(
        clock: Clock,
        api: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Double {
        Double::start_with(clock, |_, n| token_reply(n), api).await
    }

    pub async fn start_with(
        clock: Clock,
        token: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
        api: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Double {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let token: Arc<Handler> = Arc::new(token);
        let api: Arc<Handler> = Arc::new(api);
        let (rq, c) = (requests.clone(), clock.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (rq, c, token, api) = (rq.clone(), c.clone(), token.clone(), api.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let rec = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    headers: parts.headers,
                    body,
                    at: c.now(),
                };
                let (reply, n) = {
                    let mut all = rq.lock();
                    let is_token = rec.path.ends_with("/connect/token");
                    let n = all
                        .iter()
                        .filter(|r| r.path.ends_with("/connect/token") == is_token)
                        .count()
                        + 1;
                    all.push(rec.clone());
                    (
                        if is_token {
                            token(&rec, n)
                        } else {
                            api(&rec, n)
                        },
                        n,
                    )
                };
                let _ = n;
                render(reply).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Double {
            base: format!("http://{addr}"),
            clock,
            requests,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().clone()
    }

    pub fn token_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/connect/token"))
            .collect()
    }

    pub fn api_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !r.path.ends_with("/connect/token"))
            .collect()
    }

    pub fn builder(&self) -> ClientBuilder {
        Client::builder()
            .api_base(self.base.clone())
            .credentials("9e21b10c-client", "s3cret-value-xyz")
            .clock(self.clock.clone())
            .retry_policy(RetryPolicy {
                base_delay: Duration::from_millis(100),
                ..RetryPolicy::default()
            })
    }

    pub fn client(&self) -> Client {
        self.builder().build().unwrap()
    }
}

fn render(reply: Reply) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> {
    Box::pin(async move {
        match reply {
            Reply::Json(status, v) => (
                StatusCode::from_u16(status).unwrap(),
                [
                    ("content-type", "application/json"),
                    ("correlationId", "TEST:0001"),
                ],
                v.to_string(),
            )
                .into_response(),
            Reply::Raw(status, headers, body) => {
                let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (k, v) in headers {
                    resp.headers_mut()
                        .insert(k, HeaderValue::from_str(&v).unwrap());
                }
                resp
            }
            Reply::Slow(d, inner) => {
                tokio::time::sleep(d).await;
                render(*inner).await
            }
        }
    })
}

pub fn doc_summary(
    uuid: &str,
    internal: &str,
    status: &str,
    long_id: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "uuid": uuid, "submissionUid": "SUB00000000000000000000001", "longId": long_id,
        "internalId": internal, "typeName": "Invoice", "typeVersionName": "1.1",
        "issuerTin": "C1234567890", "issuerName": "Supplier", "receiverId": "C2", "receiverName": "Buyer",
        "dateTimeIssued": "2025-01-01T00:00:00Z", "dateTimeReceived": "2025-01-01T00:00:01Z",
        "dateTimeValidated": null, "totalExcludingTax": 100.00, "totalDiscount": 0,
        "totalNetAmount": 100.00, "totalPayableAmount": 106.00, "status": status,
        "cancelDateTime": null, "rejectRequestDateTime": null, "documentStatusReason": null,
        "createdByUserId": "C1234567890:9e21b10c"
    })
}

pub fn listed_doc(uuid: &str, received: &str) -> serde_json::Value {
    serde_json::json!({
        "uuid": uuid, "submissionUid": "SUB00000000000000000000001", "longId": null,
        "internalId": format!("INV-{uuid}"), "typeName": "Invoice", "typeVersionName": "1.1",
        "issuerTin": "C1", "issuerName": "A", "receiverId": "C2", "receiverName": "B",
        "dateTimeIssued": received, "dateTimeReceived": received, "dateTimeValidated": null,
        "totalSales": 1.0, "totalDiscount": 0, "netAmount": 1.0, "total": 1.06,
        "status": "Valid", "supplierTIN": "C1", "supplierName": "A", "buyerTIN": "C2", "buyerName": "B"
    })
}

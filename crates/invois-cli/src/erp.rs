//! What the ERP-action commands (`invois documents`, `received`, `receipts`, `clients`,
//! `webhooks`) share: a running gateway's ERP API, called over HTTP with an API key, its JSON
//! answer printed as it came.
//!
//! These commands are thin on purpose: the gateway decides (what a document allows, the 72-hour
//! windows, the consolidation rules), so the command line and an ERP always get the same
//! answer. An answer in the error envelope is shown as `CODE: message` (with the field, if it
//! names one) and exits 1; a gateway that cannot be reached, or answers 5xx, exits 2.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the gateway is, and the API key to call it with.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Conn {
    /// The gateway's base URL (as `invois gateway --listen` serves it).
    #[arg(
        long,
        env = "INVOIS_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    gateway: url::Url,
    /// The environment variable holding the API key (never on the command line, where `ps`
    /// and shell history would show it). `invois gateway --create-api-key NAME` makes one.
    #[arg(long, default_value = "INVOIS_API_KEY", global = true)]
    api_key_env: String,
}

/// A request to the ERP API.
pub(crate) struct Request {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    body: Option<Body>,
}

enum Body {
    Json(Value),
    Text(String, &'static str),
}

impl Request {
    /// `method` on the path made of `segments` (each percent-encoded as one segment).
    pub(crate) fn new<S: AsRef<str>>(method: Method, segments: &[S]) -> Request {
        Request {
            method,
            segments: segments.iter().map(|s| s.as_ref().to_owned()).collect(),
            query: Vec::new(),
            body: None,
        }
    }

    /// `GET` on `segments`.
    pub(crate) fn get<S: AsRef<str>>(segments: &[S]) -> Request {
        Request::new(Method::GET, segments)
    }

    /// `POST` on `segments`.
    pub(crate) fn post<S: AsRef<str>>(segments: &[S]) -> Request {
        Request::new(Method::POST, segments)
    }

    /// Adds `name=value` to the query when `value` is given.
    pub(crate) fn query(mut self, name: &str, value: Option<impl ToString>) -> Request {
        if let Some(v) = value {
            self.query.push((name.to_owned(), v.to_string()));
        }
        self
    }

    /// A JSON body.
    pub(crate) fn json(mut self, body: Value) -> Request {
        self.body = Some(Body::Json(body));
        self
    }

    /// A body sent as is, with its content type (`text/csv`, `application/xml`, ...).
    pub(crate) fn raw(mut self, text: String, content_type: &'static str) -> Request {
        self.body = Some(Body::Text(text, content_type));
        self
    }
}

/// The gateway's answer: its status and JSON body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Conn {
    fn url(&self, request: &Request) -> anyhow::Result<url::Url> {
        let mut url = self.gateway.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| anyhow::anyhow!("--gateway {} cannot take a path", self.gateway))?;
            path.pop_if_empty();
            for segment in &request.segments {
                path.push(segment);
            }
        }
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        Ok(url)
    }

    /// Sends `request`; any answer the gateway gives (2xx or its error envelope) is `Ok`.
    pub(crate) async fn send(&self, request: Request) -> anyhow::Result<Answer> {
        let key = std::env::var(&self.api_key_env).with_context(|| {
            format!(
                "no API key: set the environment variable {} (create a key with `invois gateway \
                 --create-api-key NAME`)",
                self.api_key_env
            )
        })?;
        let url = self.url(&request)?;
        let mut builder = reqwest::Client::new()
            .request(request.method.clone(), url.clone())
            .bearer_auth(key.trim());
        builder = match request.body {
            Some(Body::Json(v)) => builder.json(&v),
            Some(Body::Text(text, content_type)) => {
                builder.header("content-type", content_type).body(text)
            }
            None => builder,
        };
        let response = builder
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.gateway))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .context("reading the gateway's answer")?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} {} answered {status} with something not JSON: {}",
                    request.method,
                    url.path(),
                    text.chars().take(200).collect::<String>()
                )
            })?
        };
        Ok(Answer { status, body })
    }

    /// Sends `request` and prints the answer: the JSON body on stdout when it succeeded
    /// (exit 0), the error on stderr otherwise (exit 1 for a refusal, 2 for a gateway fault).
    pub(crate) async fn run(&self, request: Request) -> anyhow::Result<ExitCode> {
        let answer = self.send(request).await?;
        finish(&answer)
    }
}

/// Prints `answer` as [`Conn::run`] does.
pub(crate) fn finish(answer: &Answer) -> anyhow::Result<ExitCode> {
    if answer.status.is_success() {
        outln!("{}", serde_json::to_string_pretty(&answer.body)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let error = &answer.body["error"];
    let code = error["code"].as_str().unwrap_or("error");
    let message = error["message"].as_str().unwrap_or("");
    let field = error["field"]
        .as_str()
        .map(|f| format!(" (field {f})"))
        .unwrap_or_default();
    if answer.status.is_server_error() {
        bail!("the gateway failed ({}): {code}: {message}", answer.status);
    }
    eprintln!("{code}: {message}{field}");
    Ok(ExitCode::from(1))
}

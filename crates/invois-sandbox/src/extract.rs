//! Extractors whose rejections are [`AppError`]s, so malformed input gets the MyInvois envelope
//! and never axum's plain-text rejection.

use axum::body::{Body, HttpBody as _};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::identity::Caller;

/// A query string decoded into `T`. Empty values (`pageNo=`) count as absent, as they do for
/// forms that leave a field blank. Unknown parameters are ignored, as MyInvois (ASP.NET
/// model binding) ignores them: it answers Get All Document Types called with `pageNo` and
/// `pageSize`, and LHDN documents no refusal of an unknown parameter. Malformed values of
/// known ones are a `400 BadArgument` naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Decodes a query string (see [`ApiQuery`]).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, v)| !k.is_empty() && !v.trim().is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // The query types refuse unknown fields (so a name misspelt in this crate shows); a
    // caller's unknown parameter is dropped and the rest decoded again, one name per round.
    loop {
        match decode_pairs(&pairs) {
            Err(Undecoded::Unknown(name)) => pairs.retain(|(k, _)| *k != name),
            Err(Undecoded::Invalid(e)) => return Err(e),
            Ok(value) => return Ok(value),
        }
    }
}

/// Why a query did not decode.
enum Undecoded {
    /// A parameter the query type does not know (present in the query).
    Unknown(String),
    /// A malformed value, or a missing one.
    Invalid(AppError),
}

fn decode_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, Undecoded> {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let message = err.inner().to_string();
        if message.starts_with("unknown field")
            && let Some(name) = backticked(&message).filter(|n| pairs.iter().any(|(k, _)| k == n))
        {
            return Undecoded::Unknown(name);
        }
        let path = err.path().to_string();
        let target = if path != "." && !path.is_empty() {
            path
        } else {
            backticked(&message).unwrap_or_else(|| "query".to_owned())
        };
        Undecoded::Invalid(AppError::bad_argument(
            target.clone(),
            format!("Invalid parameter `{target}`: {message}"),
        ))
    })
}

/// The first `` `name` `` in a serde message (the unknown or missing field).
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// The authenticated caller, put in the request by the API middleware.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| AppError::Unauthorized("No valid access token".to_owned()))
    }
}

/// A JSON body decoded into `T` (at most [`ApiJson::LIMIT`] bytes); anything malformed is a
/// `400 BadRequest` naming the JSON path.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    /// Largest body accepted by JSON endpoints other than Submit Documents.
    pub const LIMIT: usize = 64 * 1024;
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let body = match read_body(req.into_body(), Self::LIMIT).await {
            BodyRead::Complete(b) => b,
            BodyRead::TooLarge { .. } => {
                return Err(AppError::MaximumSizeExceeded {
                    target: "body".to_owned(),
                    message: format!("The request body exceeds {} bytes", Self::LIMIT),
                });
            }
            BodyRead::Failed => return Err(AppError::BadRequest("Unreadable body".to_owned())),
        };
        let mut de = serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(&mut de)
            .map(ApiJson)
            .map_err(|err| {
                let path = err.path().to_string();
                AppError::BadArgument {
                    target: if path == "." { "body".to_owned() } else { path },
                    message: format!("Invalid request body: {}", err.inner()),
                }
            })
    }
}

/// Outcome of reading a body with a limit.
#[derive(Debug)]
pub enum BodyRead {
    /// The whole body.
    Complete(Bytes),
    /// Over the limit: refused after reading at most the limit and one more frame, or none
    /// of it when `Content-Length` says so. The rest is never read into memory; the
    /// connection's lingering close (`invois-serve`) lets the client read the answer.
    TooLarge {
        /// Bytes announced or seen (at least limit + 1).
        seen: u64,
    },
    /// The connection failed mid-body.
    Failed,
}

/// Reads `body` up to `limit` bytes.
pub async fn read_body(mut body: Body, limit: usize) -> BodyRead {
    let limit = limit as u64;
    // A Content-Length over the limit is refused before a byte of the body is read.
    let announced = body.size_hint().lower();
    if announced > limit {
        return BodyRead::TooLarge { seen: announced };
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Failed;
        };
        if let Ok(data) = frame.into_data() {
            let seen = buf.len() as u64 + data.len() as u64;
            if seen > limit {
                return BodyRead::TooLarge { seen };
            }
            buf.extend_from_slice(&data);
        }
    }
    BodyRead::Complete(buf.freeze())
}

/// Path parameters; a malformed one is a `400 BadArgument`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| {
                AppError::bad_argument("path", format!("Invalid path parameter: {}", e.body_text()))
            })
    }
}

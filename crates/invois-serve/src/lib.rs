#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use tokio::net::TcpListener;

mod conn;
mod head;
#[cfg(feature = "test-util")]
pub mod test_util;

/// Why a request was refused before it reached the router. Each server turns it into a
/// response in its own error envelope; [`Rejection::status`] is the status to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The request line (method, target, version) is over [`Limits::request_line_bytes`]:
    /// `414 URI Too Long`.
    RequestLineTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The header fields are over [`Limits::header_bytes`] in all:
    /// `431 Request Header Fields Too Large`.
    HeadersTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// There are more than [`Limits::headers`] header fields:
    /// `431 Request Header Fields Too Large`.
    TooManyHeaders {
        /// The limit, in header fields.
        limit: usize,
    },
    /// A part of the head breaks HTTP/1.1's syntax, for example a control character in a
    /// header value, or a `Content-Length` that is not a number: `400 Bad Request`. The text
    /// names the part (`header value`, `method`, `Content-Length`, ...), never its bytes,
    /// which may be a credential.
    Malformed(&'static str),
}

impl Rejection {
    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::RequestLineTooLong { .. } => StatusCode::URI_TOO_LONG,
            Rejection::HeadersTooLarge { .. } | Rejection::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::RequestLineTooLong { limit } => write!(
                f,
                "The request line is longer than {limit} bytes; shorten the path or query"
            ),
            Rejection::HeadersTooLarge { limit } => {
                write!(
                    f,
                    "The request headers are larger than {limit} bytes in all"
                )
            }
            Rejection::TooManyHeaders { limit } => {
                write!(f, "The request has more than {limit} header fields")
            }
            Rejection::Malformed(part) => {
                write!(f, "The request is not valid HTTP/1.1: malformed {part}")
            }
        }
    }
}

/// How large a request head may be. The defaults are those of ASP.NET Kestrel, the server
/// MyInvois runs on: 8 KB for the request line, 32 KB of header fields, 100 fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest request line (method, target, version, line ending), in bytes.
    pub request_line_bytes: usize,
    /// The most header bytes (every field line, up to the blank line that ends the head).
    pub header_bytes: usize,
    /// The most header fields.
    pub headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            request_line_bytes: 8 * 1024,
            header_bytes: 32 * 1024,
            headers: 100,
        }
    }
}

impl Limits {
    /// hyper's own bounds, which these must stay within: a head hyper refused itself would
    /// get its bare answer. 100 fields, a 408 KB read buffer and a 64 KB target.
    const HYPER_HEADERS: usize = 100;
    const HYPER_HEAD_BYTES: usize = 8192 + 4096 * 100;
    const HYPER_TARGET_BYTES: usize = u16::MAX as usize - 1;

    /// These limits, each lowered to hyper's where it is over.
    fn within_hyper(self) -> Limits {
        let request_line_bytes = self.request_line_bytes.min(Self::HYPER_TARGET_BYTES);
        Limits {
            request_line_bytes,
            header_bytes: self
                .header_bytes
                .min(Self::HYPER_HEAD_BYTES - request_line_bytes),
            headers: self.headers.min(Self::HYPER_HEADERS),
        }
    }

    /// The largest head: request line and header fields.
    fn head_bytes(&self) -> usize {
        self.request_line_bytes + self.header_bytes
    }
}

/// Builds a server's answer to a refused request (in its error envelope).
type Reject = Arc<dyn Fn(Rejection) -> Response + Send + Sync>;

/// A router served with checked request heads. See the crate documentation.
#[derive(Clone)]
pub struct Server {
    router: Router,
    reject: Reject,
    limits: Limits,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `router`; a request refused before routing is answered with `reject`'s
    /// response, which should carry [`Rejection::status`] and the server's error envelope.
    /// `Connection: close` is added to it.
    pub fn new(
        router: Router,
        reject: impl Fn(Rejection) -> Response + Send + Sync + 'static,
    ) -> Server {
        Server {
            router,
            reject: Arc::new(reject),
            limits: Limits::default(),
        }
    }

    /// Other limits than the defaults (each kept within hyper's own).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Server {
        self.limits = limits.within_hyper();
        self
    }

    /// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish,
    /// as `axum::serve(..).with_graceful_shutdown(..)` does. Handlers can extract
    /// `ConnectInfo<SocketAddr>`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = conn::GuardedListener {
            inner: listener,
            limits: self.limits,
        };
        let make = conn::MakeConnection {
            router: self.router,
            reject: self.reject,
        };
        axum::serve(listener, make)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A new correlation id, shaped as MyInvois' are (ASP.NET's `TraceIdentifier`): 13 letters
/// and digits naming this process, `:`, and the process's request count in 8 hex digits,
/// e.g. `0HNDA9M25MBJ0:00000025`. Both servers put one on every response, refusals
/// included, so a failed call can be found in their logs.
pub fn correlation_id() -> String {
    static PREFIX: LazyLock<String> = LazyLock::new(|| {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = rand::rng();
        (0..13)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    });
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
    format!("{}:{:08X}", *PREFIX, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stay_within_hypers() {
        let wide = Limits {
            request_line_bytes: 1 << 20,
            header_bytes: 1 << 20,
            headers: 1000,
        }
        .within_hyper();
        assert_eq!(wide.headers, 100);
        assert_eq!(wide.request_line_bytes, 65534);
        assert!(wide.head_bytes() <= Limits::HYPER_HEAD_BYTES);
        assert_eq!(Limits::default().within_hyper(), Limits::default());
    }

    #[test]
    fn correlation_ids_differ_and_keep_their_shape() {
        let a = correlation_id();
        let b = correlation_id();
        assert_ne!(a, b);
        let (prefix, seq) = a.split_once(':').expect("a colon");
        assert_eq!((prefix.len(), seq.len()), (13, 8));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ':')
        );
    }
}

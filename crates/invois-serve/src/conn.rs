//! One connection: the socket wrapper hyper reads through ([`Guarded`]), the listener that
//! hands those out to `axum::serve` ([`GuardedListener`]), and the per-connection service
//! that answers a refused request with the server's own envelope ([`Connection`]).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tower::{Service, ServiceExt};

use crate::head::{AtEof, Inspector, Refusal};
use crate::{Limits, Rejection};

/// How long a connection closed in the middle of a request keeps reading (and discarding)
/// after its answer, so that the client reads the answer before the socket is gone. A wall
/// clock bound on a socket, not a business wait, so it does not read the invois clock.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// How many bytes it discards at most while lingering when it does not know how many are to
/// come (a chunked body, a refused head): enough for a client that reads while it writes to
/// see the answer, small beside the bodies that get refused.
const LINGER_BYTES: usize = 1024 * 1024;

/// How many bytes it discards at most when the head declared a `Content-Length`: the rest of
/// that body, up to this. A client that writes its whole body before it reads (as reqwest can,
/// when its writer wins the race with its reader) then never meets a reset while a refused
/// body of any size a server here accepts (the gateway's cap is 6 MB) is still in flight.
const LINGER_BYTES_DECLARED: usize = 64 * 1024 * 1024;

/// The most read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// The answer to the refused request, which the socket side sets and the service side takes.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    refusal: OnceLock<Refusal>,
    requests: AtomicU64,
}

/// The socket as hyper sees it: every request head checked first (see `head`), and a
/// lingering close when the client may still be sending.
#[derive(Debug)]
pub(crate) struct Guarded {
    inner: TcpStream,
    inspector: Inspector,
    /// Checked bytes hyper has not read yet.
    ready: BytesMut,
    scratch: Box<[u8]>,
    shared: Arc<Shared>,
    linger: Option<Linger>,
}

#[derive(Debug)]
struct Linger {
    write_closed: bool,
    discarded: usize,
    /// The most it discards (see [`LINGER_BYTES`]).
    budget: usize,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(inner: TcpStream, limits: Limits) -> Guarded {
        Guarded {
            inner,
            inspector: Inspector::new(limits),
            ready: BytesMut::new(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            shared: Arc::default(),
            linger: None,
        }
    }

    /// Reads what the client sent after the answer, until it closes, a reset, or the linger
    /// bounds; nothing read is kept.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let linger = self.linger.get_or_insert_with(|| Linger {
            write_closed: false,
            discarded: 0,
            budget: self.inspector.body_left().map_or(LINGER_BYTES, |left| {
                usize::try_from(left).map_or(LINGER_BYTES_DECLARED, |left| {
                    left.clamp(LINGER_BYTES, LINGER_BYTES_DECLARED)
                })
            }),
            deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
        });
        if !linger.write_closed {
            // The FIN tells the client the answer is complete.
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            linger.write_closed = true;
        }
        while linger.discarded < linger.budget && linger.deadline.as_mut().poll(cx).is_pending() {
            let mut buf = ReadBuf::new(&mut self.scratch[..]);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    linger.discarded += buf.filled().len();
                }
                // The client closed or reset: nothing left to protect.
                Poll::Ready(_) => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            let want = buf.remaining().clamp(1, this.scratch.len());
            let mut read = ReadBuf::new(&mut this.scratch[..want]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let input = read.filled();
            if input.is_empty() {
                return match this.inspector.at_eof() {
                    AtEof::Pass => Poll::Ready(Ok(())),
                    // hyper is woken again by the stand-in's answer, and then closes.
                    AtEof::Hold => Poll::Pending,
                };
            }
            if let Some(refusal) = this.inspector.feed(input, &mut this.ready) {
                let _ = this.shared.refusal.set(refusal);
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_some() || this.inspector.mid_message() {
            this.poll_linger(cx)
        } else {
            Pin::new(&mut this.inner).poll_shutdown(cx)
        }
    }
}

/// A TCP listener whose connections are [`Guarded`].
#[derive(Debug)]
pub(crate) struct GuardedListener {
    pub(crate) inner: TcpListener,
    pub(crate) limits: Limits,
}

impl Listener for GuardedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        // axum's own accept loop: it logs and backs off on errors such as too many open files.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (Guarded::new(stream, self.limits), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Makes one [`Connection`] per accepted socket.
#[derive(Clone)]
pub(crate) struct MakeConnection {
    pub(crate) router: Router,
    pub(crate) reject: crate::Reject,
}

impl Service<IncomingStream<'_, GuardedListener>> for MakeConnection {
    type Response = Connection;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, GuardedListener>) -> Self::Future {
        std::future::ready(Ok(Connection {
            router: self.router.clone(),
            reject: self.reject.clone(),
            shared: stream.io().shared.clone(),
            remote: *stream.remote_addr(),
        }))
    }
}

/// One connection's service: the router, except for the stand-in of a refused request.
#[derive(Clone)]
pub(crate) struct Connection {
    router: Router,
    reject: crate::Reject,
    shared: Arc<Shared>,
    remote: SocketAddr,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // hyper serves an HTTP/1 connection's requests one at a time, in order, so the n-th
        // call is the n-th head the inspector let through; the stand-in is known by its
        // number, which a client cannot forge.
        let n = self.shared.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(refusal) = self.shared.refusal.get().filter(|r| r.request == n) {
            let response = refuse(&self.reject, refusal.rejection, self.remote);
            return Box::pin(std::future::ready(Ok(response)));
        }
        // What `into_make_service_with_connect_info::<SocketAddr>` gives handlers.
        request.extensions_mut().insert(ConnectInfo(self.remote));
        Box::pin(self.router.clone().oneshot(request))
    }
}

fn refuse(reject: &crate::Reject, rejection: Rejection, remote: SocketAddr) -> Response {
    tracing::debug!(
        client.addr = %remote,
        status = rejection.status().as_u16(),
        "request refused before routing: {rejection}"
    );
    let mut response = reject(rejection);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

//! A raw HTTP/1 client for tests (feature `test-util`): it sends bytes no well-behaved client
//! would (a 1 MB header, a control character in `Authorization`) and reads the answers off
//! the socket as they come.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};

/// One response as read off the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A connection that writes in the background while the test reads, as a client streaming a
/// large request does: a server may answer before it has read everything.
#[derive(Debug)]
pub struct RawConnection {
    reader: OwnedReadHalf,
    buf: BytesMut,
    writes: mpsc::UnboundedSender<Write>,
}

/// Bytes to write, and who to tell when they are.
type Write = (Vec<u8>, Option<oneshot::Sender<io::Result<()>>>);

impl RawConnection {
    /// Connects to `addr` and starts sending `bytes`.
    pub async fn open(addr: SocketAddr, bytes: Vec<u8>) -> io::Result<RawConnection> {
        let (reader, mut writer) = TcpStream::connect(addr).await?.into_split();
        let (writes, mut queue) = mpsc::unbounded_channel::<Write>();
        tokio::spawn(async move {
            while let Some((bytes, done)) = queue.recv().await {
                // The server may close before taking it all; that is what some tests check.
                let written = writer.write_all(&bytes).await;
                let failed = written.is_err();
                if let Some(done) = done {
                    let _ = done.send(written);
                }
                if failed {
                    return;
                }
            }
        });
        let connection = RawConnection {
            reader,
            buf: BytesMut::new(),
            writes,
        };
        connection.send(bytes);
        Ok(connection)
    }

    /// Sends more bytes after those already queued.
    pub fn send(&self, bytes: Vec<u8>) {
        let _ = self.writes.send((bytes, None));
    }

    /// Sends more bytes after those already queued, and waits until they are written (into
    /// the socket's buffer): an error means the server has closed the connection.
    pub async fn write(&self, bytes: Vec<u8>) -> io::Result<()> {
        let (done, written) = oneshot::channel();
        self.writes
            .send((bytes, Some(done)))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        written
            .await
            .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::BrokenPipe)))
    }

    /// Reads the next response.
    pub async fn response(&mut self) -> io::Result<RawResponse> {
        loop {
            if let Some(response) = self.parse()? {
                return Ok(response);
            }
            let n = self.reader.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the connection closed before a complete response ({} bytes)",
                        self.buf.len()
                    ),
                ));
            }
        }
    }

    /// Whether the server closes the connection now: `true` on end of input (or a reset),
    /// `false` if more bytes come.
    pub async fn closes(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        match self.reader.read_buf(&mut self.buf).await {
            Ok(n) => n == 0,
            Err(_) => true,
        }
    }

    fn parse(&mut self) -> io::Result<Option<RawResponse>> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        let status = response.code.unwrap_or(0);
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        if self.buf.len() < head_len + length {
            return Ok(None);
        }
        self.buf.advance(head_len);
        let body = self.buf.split_to(length).to_vec();
        Ok(Some(RawResponse {
            status,
            headers,
            body,
        }))
    }
}

/// Sends `request` on a new connection and reads one response.
pub async fn exchange(addr: SocketAddr, request: Vec<u8>) -> io::Result<RawResponse> {
    RawConnection::open(addr, request).await?.response().await
}

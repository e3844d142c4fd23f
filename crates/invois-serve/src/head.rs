//! Follows the bytes a client sends on one HTTP/1 connection, request by request, the way hyper
//! will read them, and checks every request head against the [`Limits`] before hyper sees it.
//!
//! The [`Inspector`] is pure (bytes in, bytes out): the connection wrapper in `conn` feeds it
//! what the socket gives and hands hyper what it lets through. A head that passes goes through
//! unchanged. A head that fails is replaced by [`STAND_IN`], a minimal request that asks to
//! close the connection, and everything after it is thrown away; the service then answers that
//! stand-in with the server's own refusal ([`crate::Rejection`]).
//!
//! To find where the next head starts, the inspector also follows each body's framing
//! (`Content-Length` or chunked), with the same rules hyper applies
//! (`hyper::proto::h1::role::Server::parse` and the chunked decoder). Where it cannot follow
//! (an upgrade, HTTP/2, a chunked body hyper would refuse too) it stops checking and passes
//! the rest of the connection through untouched: hyper then answers or closes as it always
//! did, and the inspector never refuses a request hyper would have served.

use axum::http::{Method, Uri};
use bytes::BytesMut;

use crate::{Limits, Rejection};

/// The first bytes of an HTTP/2 connection with prior knowledge (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What hyper reads in place of a refused request: no body, and the connection closes after
/// the answer, so nothing the client sent after it is ever parsed.
pub(crate) const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n";

/// hyper refuses a `Content-Length` above this (`DecodedLength::MAX_LEN`).
const MAX_CONTENT_LENGTH: u64 = u64::MAX - 2;

/// A refused request: which one on the connection (0 for the first) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// How many requests hyper saw on this connection before the stand-in.
    pub(crate) request: u64,
    /// Why.
    pub(crate) rejection: Rejection,
}

/// The state of one connection's byte stream.
#[derive(Debug)]
pub(crate) struct Inspector {
    limits: Limits,
    state: State,
    /// The head being read, not yet given to hyper.
    head: BytesMut,
    /// How far `head` has been searched for the blank line that ends it.
    scanned: usize,
    /// The length of the request line (with its line ending) once it is complete.
    line_len: Option<usize>,
    /// Heads given to hyper so far.
    heads: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The connection's first bytes: an HTTP/1 head, or the HTTP/2 preface.
    Preface,
    /// Between requests, or inside a head.
    Head,
    /// Inside a body with this many bytes to come.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunked),
    /// No longer followed: every byte goes to hyper as it is. `linger` is set when hyper is
    /// likely to close with input unread (it refuses the body the inspector gave up on).
    Opaque { linger: bool },
    /// A head was refused: the rest of the input is thrown away.
    Refused,
}

/// Where a chunked body is, in the terms of hyper's `ChunkedState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunked {
    step: Step,
    /// The current chunk's size while it is read, then the bytes of it still to come.
    size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

/// What the connection should tell hyper when the client closes its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtEof {
    /// Pass the end of input on.
    Pass,
    /// Keep it back: hyper is to answer the stand-in first, and an end of input would make it
    /// drop that answer (without half-close support it treats EOF mid-request as an abort).
    Hold,
}

impl Inspector {
    /// A new connection's inspector.
    pub(crate) fn new(limits: Limits) -> Inspector {
        Inspector {
            limits,
            state: State::Preface,
            head: BytesMut::new(),
            scanned: 0,
            line_len: None,
            heads: 0,
        }
    }

    /// Takes `input` (the next bytes from the client) and appends to `out` what hyper may
    /// read. Returns the refusal when a head fails its checks; `out` then ends with
    /// [`STAND_IN`].
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut BytesMut) -> Option<Refusal> {
        while !input.is_empty() {
            match self.state {
                State::Opaque { .. } => {
                    out.extend_from_slice(input);
                    return None;
                }
                State::Refused => return None,
                State::Length(left) => {
                    let take = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Length(left)
                    };
                }
                State::Chunked(chunked) => {
                    let used = self.chunked(chunked, input);
                    out.extend_from_slice(&input[..used]);
                    input = &input[used..];
                }
                State::Preface | State::Head => {
                    let (used, refusal) = self.head(input, out);
                    input = &input[used..];
                    if refusal.is_some() {
                        return refusal;
                    }
                }
            }
        }
        None
    }

    /// What to do with the end of the client's input.
    pub(crate) fn at_eof(&self) -> AtEof {
        if self.state == State::Refused {
            AtEof::Hold
        } else {
            AtEof::Pass
        }
    }

    /// Whether the client is likely still sending when the server closes: in the middle of a
    /// head or a body, or after a refused head. Closing a socket with unread input makes the
    /// kernel send a reset, which can destroy the answer before the client reads it, so then
    /// the connection lingers (see `conn`).
    pub(crate) fn mid_message(&self) -> bool {
        match self.state {
            State::Preface | State::Head => !self.head.is_empty(),
            State::Length(_) | State::Chunked(_) | State::Refused => true,
            State::Opaque { linger } => linger,
        }
    }

    /// How many bytes of the current body the client has still to send, when its head
    /// declared a `Content-Length`.
    pub(crate) fn body_left(&self) -> Option<u64> {
        match self.state {
            State::Length(left) => Some(left),
            _ => None,
        }
    }

    /// Reads head bytes from `input`; returns how many were used.
    fn head(&mut self, input: &[u8], out: &mut BytesMut) -> (usize, Option<Refusal>) {
        let mut skipped = 0;
        if self.head.is_empty() {
            // Empty lines before a request line are allowed (RFC 9112 §2.2), and hyper and
            // httparse skip them; dropping them here keeps them out of the limits.
            skipped = input
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if skipped == input.len() {
                return (skipped, None);
            }
        }
        let input = &input[skipped..];
        // Never hold more than one byte over the limits: that byte is what trips them.
        let room = self.limits.head_bytes() + 1 - self.head.len();
        let take = room.min(input.len());
        let before = self.head.len();
        self.head.extend_from_slice(&input[..take]);

        if self.state == State::Preface {
            let n = self.head.len().min(H2_PREFACE.len());
            if self.head[..n] == H2_PREFACE[..n] {
                if n < H2_PREFACE.len() {
                    return (skipped + take, None);
                }
                // HTTP/2 with prior knowledge: hyper's HTTP/2 server has its own limits,
                // answered in HTTP/2 frames, not in a response this crate could write.
                out.extend_from_slice(&self.head);
                self.head.clear();
                self.state = State::Opaque { linger: false };
                return (skipped + take, None);
            }
            self.state = State::Head;
        }

        match self.find_end() {
            Some(end) => {
                // The blank line ends within the bytes just added: give back what follows it.
                let used = end - before;
                let refusal = self.finish_head(end, out);
                (skipped + used, refusal)
            }
            None => {
                let rejection = match self.line_len {
                    None if self.head.len() > self.limits.request_line_bytes => {
                        Some(Rejection::RequestLineTooLong {
                            limit: self.limits.request_line_bytes,
                        })
                    }
                    Some(line) if line > self.limits.request_line_bytes => {
                        Some(Rejection::RequestLineTooLong {
                            limit: self.limits.request_line_bytes,
                        })
                    }
                    Some(line) if self.head.len() - line > self.limits.header_bytes => {
                        Some(Rejection::HeadersTooLarge {
                            limit: self.limits.header_bytes,
                        })
                    }
                    _ => None,
                };
                (skipped + take, rejection.map(|r| self.refuse(r, out)))
            }
        }
    }

    /// The end of the head (just past its blank line), if it has arrived. Notes the request
    /// line's length on the way. Each byte is looked at about once, however the head is split
    /// across reads.
    fn find_end(&mut self) -> Option<usize> {
        let head = &self.head[..];
        let mut at = self.scanned;
        while let Some(p) = head[at..].iter().position(|b| *b == b'\n') {
            let nl = at + p;
            if self.line_len.is_none() {
                self.line_len = Some(nl + 1);
            }
            match (head.get(nl + 1), head.get(nl + 2)) {
                (Some(b'\n'), _) => return Some(nl + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
                // Not known yet whether a blank line follows: look here again next time.
                (None, _) | (Some(b'\r'), None) => {
                    self.scanned = nl;
                    return None;
                }
                _ => at = nl + 1,
            }
        }
        self.scanned = head.len();
        None
    }

    /// Checks the complete head `self.head[..end]` and gives it to hyper, or refuses it.
    fn finish_head(&mut self, end: usize, out: &mut BytesMut) -> Option<Refusal> {
        self.head.truncate(end);
        let line = self.line_len.unwrap_or(end);
        let checked = if line > self.limits.request_line_bytes {
            Err(Rejection::RequestLineTooLong {
                limit: self.limits.request_line_bytes,
            })
        } else if end - line > self.limits.header_bytes {
            Err(Rejection::HeadersTooLarge {
                limit: self.limits.header_bytes,
            })
        } else {
            check(&self.head, self.limits.headers)
        };
        match checked {
            Ok(next) => {
                out.extend_from_slice(&self.head);
                self.reset_head();
                self.heads += 1;
                self.state = next;
                None
            }
            Err(rejection) => Some(self.refuse(rejection, out)),
        }
    }

    fn refuse(&mut self, rejection: Rejection, out: &mut BytesMut) -> Refusal {
        self.reset_head();
        self.state = State::Refused;
        out.extend_from_slice(STAND_IN);
        let refusal = Refusal {
            request: self.heads,
            rejection,
        };
        self.heads += 1;
        refusal
    }

    fn reset_head(&mut self) {
        self.head.clear();
        self.scanned = 0;
        self.line_len = None;
    }

    /// Follows a chunked body through `input`; returns how many bytes belong to it (all of
    /// `input` unless the body ends inside it).
    fn chunked(&mut self, mut c: Chunked, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() {
            if c.step == Step::Data {
                let take =
                    usize::try_from(c.size).map_or(input.len() - i, |s| s.min(input.len() - i));
                i += take;
                c.size -= take as u64;
                if c.size == 0 {
                    c.step = Step::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            let next = match (c.step, b) {
                (Step::Start, _) => hex(b).map(|v| {
                    c.size = v;
                    Step::Size
                }),
                (Step::Size, b'\t' | b' ') => Some(Step::SizeLws),
                (Step::Size, b';') => Some(Step::Extension),
                (Step::Size, b'\r') => Some(Step::SizeLf),
                (Step::Size, _) => hex(b)
                    .and_then(|v| c.size.checked_mul(16)?.checked_add(v))
                    .map(|size| {
                        c.size = size;
                        Step::Size
                    }),
                (Step::SizeLws, b'\t' | b' ') => Some(Step::SizeLws),
                (Step::SizeLws, b';') => Some(Step::Extension),
                (Step::SizeLws, b'\r') => Some(Step::SizeLf),
                (Step::Extension, b'\r') => Some(Step::SizeLf),
                (Step::Extension, b'\n') => None,
                (Step::Extension, _) => Some(Step::Extension),
                (Step::SizeLf, b'\n') if c.size == 0 => Some(Step::EndCr),
                (Step::SizeLf, b'\n') => Some(Step::Data),
                (Step::DataCr, b'\r') => Some(Step::DataLf),
                (Step::DataLf, b'\n') => Some(Step::Start),
                (Step::Trailer, b'\r') => Some(Step::TrailerLf),
                (Step::Trailer, _) => Some(Step::Trailer),
                (Step::TrailerLf, b'\n') => Some(Step::EndCr),
                (Step::EndCr, b'\r') => Some(Step::EndLf),
                (Step::EndCr, _) => Some(Step::Trailer),
                (Step::EndLf, b'\n') => {
                    self.state = State::Head;
                    return i;
                }
                _ => None,
            };
            match next {
                Some(step) => c.step = step,
                None => {
                    // hyper refuses this body and closes; pass the rest through to it.
                    self.state = State::Opaque { linger: true };
                    return input.len();
                }
            }
        }
        self.state = State::Chunked(c);
        i
    }
}

fn hex(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

/// Checks a complete head the way hyper will parse it, and says how its body is framed.
fn check(head: &[u8], max_headers: usize) -> Result<State, Rejection> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Rejection::Malformed("request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Rejection::TooManyHeaders { limit: max_headers });
        }
        Err(e) => return Err(Rejection::Malformed(malformed_part(e, &request))),
    }
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Rejection::Malformed("request line"));
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| Rejection::Malformed("method"))?;
    // hyper builds an `http::Uri` from the target; what that refuses, hyper answers bare.
    Uri::try_from(target.as_bytes()).map_err(|_| Rejection::Malformed("request target"))?;
    let http11 = version == 1;

    // RFC 9112 §6.3, in hyper's order: a chunked Transfer-Encoding wins over Content-Length;
    // Transfer-Encoding on HTTP/1.0, a last coding other than chunked, a Content-Length that
    // is not digits, and two different ones are refused.
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut content_length: Option<u64> = None;
    let mut upgrade = method == Method::CONNECT;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(Rejection::Malformed("Transfer-Encoding on HTTP/1.0"));
            }
            transfer_encoding = true;
            content_length = None;
            chunked = last_coding_is_chunked(header.value);
        } else if name.eq_ignore_ascii_case("content-length") {
            if transfer_encoding {
                continue;
            }
            let n = digits(header.value)
                .filter(|n| *n <= MAX_CONTENT_LENGTH)
                .ok_or(Rejection::Malformed("Content-Length"))?;
            if content_length.is_some_and(|prev| prev != n) {
                return Err(Rejection::Malformed("Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("upgrade") && http11 {
            upgrade = true;
        }
    }
    if transfer_encoding && !chunked {
        return Err(Rejection::Malformed("Transfer-Encoding"));
    }
    Ok(if upgrade {
        // If the server agreed to switch protocols, what follows would not be HTTP/1; neither
        // server does, but rather than guess, stop following this connection.
        State::Opaque { linger: false }
    } else if chunked {
        State::Chunked(Chunked {
            step: Step::Start,
            size: 0,
        })
    } else {
        match content_length {
            Some(n) if n > 0 => State::Length(n),
            _ => State::Head,
        }
    })
}

/// Which part of the head httparse found wrong, in words for the error message (never the
/// offending bytes: they may be a credential).
fn malformed_part(e: httparse::Error, request: &httparse::Request<'_, '_>) -> &'static str {
    match e {
        httparse::Error::HeaderName => "header name",
        httparse::Error::HeaderValue => "header value",
        httparse::Error::NewLine => "line ending",
        httparse::Error::Version => "HTTP version",
        httparse::Error::Token if request.method.is_none() => "method",
        httparse::Error::Token => "request target",
        _ => "request line",
    }
}

/// hyper's `is_chunked_`: the value must be visible ASCII and its last coding `chunked`.
fn last_coding_is_chunked(value: &[u8]) -> bool {
    if !value
        .iter()
        .all(|b| *b == b'\t' || (0x20..0x7f).contains(b))
    {
        return false;
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// hyper's `from_digits`: ASCII digits only, no sign, no spaces, no overflow.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    /// Feeds `input` in pieces of `step` bytes; returns what hyper reads and any refusal.
    fn run(input: &[u8], step: usize) -> (Vec<u8>, Option<Refusal>, Inspector) {
        let mut inspector = Inspector::new(limits());
        let mut out = BytesMut::new();
        let mut refusal = None;
        for piece in input.chunks(step) {
            if let Some(r) = inspector.feed(piece, &mut out) {
                refusal = Some(r);
            }
        }
        (out.to_vec(), refusal, inspector)
    }

    /// The same result however the input is split.
    fn run_all_ways(input: &[u8]) -> (Vec<u8>, Option<Refusal>) {
        let (out, refusal, _) = run(input, input.len().max(1));
        for step in [1, 2, 3, 7, 64] {
            let (o, r, _) = run(input, step);
            assert_eq!(
                (&o, &r),
                (&out, &refusal),
                "split every {step} bytes: {:?}",
                String::from_utf8_lossy(input)
            );
        }
        (out, refusal)
    }

    fn refused(input: &[u8]) -> Refusal {
        let (out, refusal) = run_all_ways(input);
        let refusal = refusal.expect("refused");
        assert!(out.ends_with(STAND_IN));
        refusal
    }

    #[test]
    fn good_requests_pass_unchanged_with_their_bodies() {
        let input: &[u8] = b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
            POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n\
            GET /d HTTP/1.0\nHost: x\n\n";
        let (out, refusal) = run_all_ways(input);
        assert_eq!(refusal, None);
        // Only the leading empty line is dropped, as hyper would skip it.
        assert_eq!(out, &input[2..]);
        let (_, _, inspector) = run(input, 5);
        assert_eq!(inspector.heads, 4);
        assert!(!inspector.mid_message());
    }

    #[test]
    fn a_body_that_looks_like_a_bad_head_is_a_body() {
        let input: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nGET \x01 bad\r\n";
        let (out, refusal) = run_all_ways(input);
        assert_eq!(refusal, None);
        assert_eq!(out, input);
    }

    #[test]
    fn a_long_request_line_is_414() {
        let mut input = b"GET /".to_vec();
        input.extend(vec![b'a'; 100_000]);
        input.extend(b" HTTP/1.1\r\n\r\n");
        let r = refused(&input);
        assert_eq!(r.request, 0);
        assert_eq!(r.rejection.status(), 414);
        // Also when the line is complete but still too long.
        let mut input = b"GET /".to_vec();
        input.extend(vec![b'a'; limits().request_line_bytes]);
        input.extend(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(refused(&input).rejection.status(), 414);
    }

    #[test]
    fn a_large_header_or_too_many_are_431() {
        let mut input = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        input.extend(vec![b'a'; 1024 * 1024]);
        input.extend(b"\r\n\r\n");
        assert_eq!(
            refused(&input).rejection,
            Rejection::HeadersTooLarge {
                limit: limits().header_bytes
            }
        );
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..500 {
            input.extend(format!("X-H{i}: v\r\n").as_bytes());
        }
        input.extend(b"\r\n");
        assert_eq!(
            refused(&input).rejection,
            Rejection::TooManyHeaders {
                limit: limits().headers
            }
        );
    }

    #[test]
    fn bad_bytes_are_400_naming_the_part_not_the_value() {
        for (input, part) in [
            (
                &b"GET / HTTP/1.1\r\nAuthorization: Bearer se\x01cret\r\n\r\n"[..],
                "header value",
            ),
            (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "header name"),
            (b"G(T / HTTP/1.1\r\n\r\n", "method"),
            (b"GET / HTTP/9.9\r\n\r\n", "HTTP version"),
            (b"GET /\x7f HTTP/1.1\r\n\r\n", "request target"),
            (
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                "Content-Length",
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "Content-Length",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                "Transfer-Encoding",
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "Transfer-Encoding on HTTP/1.0",
            ),
        ] {
            assert_eq!(
                refused(input).rejection,
                Rejection::Malformed(part),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_bad_head_after_good_ones_is_refused_in_its_turn() {
        let input: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
            GET / HTTP/1.1\r\n\r\n\
            GET / HTTP/1.1\r\nX: \x00\r\n\r\n\
            GET / HTTP/1.1\r\n\r\n";
        let (out, refusal) = run_all_ways(input);
        let refusal = refusal.expect("refused");
        assert_eq!(refusal.request, 2);
        let mut expected =
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n".to_vec();
        expected.extend(STAND_IN);
        // Whatever followed the refused head is dropped.
        assert_eq!(out, expected);
        let (_, _, inspector) = run(input, 9);
        assert_eq!(inspector.at_eof(), AtEof::Hold);
        assert!(inspector.mid_message());
    }

    #[test]
    fn a_chunked_body_hyper_would_refuse_stops_the_checks() {
        let input: &[u8] =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nGET / HTTP/1.1\r\nX: \x00\r\n\r\n";
        let (out, refusal) = run_all_ways(input);
        assert_eq!(refusal, None);
        assert_eq!(out, input);
    }

    #[test]
    fn http2_prior_knowledge_and_upgrades_pass_through() {
        let mut input = H2_PREFACE.to_vec();
        input.extend(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00 any frames");
        let (out, refusal) = run_all_ways(&input);
        assert_eq!((out, refusal), (input, None));
        let input: &[u8] = b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n\x00\x01 not http";
        assert_eq!(run_all_ways(input), (input.to_vec(), None));
    }

    #[test]
    fn a_head_cut_short_or_a_body_under_way_is_mid_message() {
        let (_, _, inspector) = run(b"GET / HTTP/1.1\r\nHost", 4);
        assert!(inspector.mid_message());
        assert_eq!(inspector.at_eof(), AtEof::Pass);
        let (_, _, inspector) = run(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 4);
        assert!(inspector.mid_message());
        let (_, _, inspector) = run(b"GET / HTTP/1.1\r\n\r\n", 4);
        assert!(!inspector.mid_message());
    }

    #[test]
    fn memory_stays_within_the_limits_however_much_is_sent() {
        let mut inspector = Inspector::new(limits());
        let mut out = BytesMut::new();
        assert_eq!(inspector.feed(b"GET / HTTP/1.1\r\nX: ", &mut out), None);
        let big = vec![b'a'; 64 * 1024];
        let mut refusal = None;
        for _ in 0..64 {
            refusal = refusal.or(inspector.feed(&big, &mut out));
            assert!(inspector.head.len() <= limits().head_bytes() + 1);
        }
        assert!(refusal.is_some());
        assert_eq!(&out[..], STAND_IN);
    }
}

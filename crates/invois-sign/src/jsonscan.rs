//! One pass over a UBL JSON document that writes its canonical form directly.
//!
//! The canonical form (see `json.rs`) is defined by serde_json: the document parsed into a
//! `Value` (members in order, numbers as written) and written back minified, less
//! `Invoice[0].UBLExtensions` and `Invoice[0].Signature`. Building that `Value` allocated a map
//! or a vector for every node of the document, which cost more than everything else in signing
//! but the RSA operation. This scanner writes the same bytes while it reads, and notes where
//! each member of `Invoice[0]` sits, so that verification parses only the few members it reads.
//!
//! It answers only when it is certain to agree with serde_json, and gives up (`None`) otherwise:
//! the caller then takes the `Value` path, which also produces the error message for a document
//! that is not valid JSON. It gives up on input that is not UTF-8, on nesting deeper than
//! serde_json accepts, on a repeated member name (serde_json keeps the first position and the
//! last value), on a member name with an escape, on a lone UTF-16 surrogate, and on anything
//! that is not JSON. What it writes for the rest follows serde_json's writer:
//! strings re-escaped (`"` `\` and control characters only, `\/` unescaped, `\u` escapes
//! decoded), numbers as written but for the exponent (`1E5` is written `1e+5`).

/// serde_json refuses documents nested deeper than 128 arrays and objects.
const MAX_DEPTH: usize = 120;

/// The canonical bytes of a document, and where `Invoice[0]` and its members are.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    /// The canonical form: minified, without `Invoice[0].UBLExtensions` and `.Signature`.
    pub(crate) canonical: Vec<u8>,
    /// Offset in `canonical` of the `}` that closes `Invoice[0]`: where a signer inserts
    /// `UBLExtensions` and `Signature`, as the last members.
    pub(crate) invoice_end: usize,
    /// Whether `Invoice[0]` keeps any member in the canonical form (then an inserted member
    /// needs a comma before it).
    pub(crate) invoice_has_members: bool,
    /// Every member of `Invoice[0]`, in order: its name and where its value is written.
    pub(crate) members: Vec<(&'a str, Written)>,
    /// The values of the enveloped members (`UBLExtensions`, `Signature`), written minified
    /// like the rest but kept apart from the canonical form.
    pub(crate) enveloped: Vec<u8>,
}

/// Where a member's minified value is: in `canonical`, or (an enveloped member) in `enveloped`.
#[derive(Debug, Clone)]
pub(crate) enum Written {
    Canonical(std::ops::Range<usize>),
    Enveloped(std::ops::Range<usize>),
}

impl Scanned<'_> {
    /// The value of `Invoice[0]`'s member `name`, minified: the bytes serde_json writes for it.
    pub(crate) fn member(&self, name: &str) -> Option<&[u8]> {
        let (_, at) = self.members.iter().find(|(k, _)| *k == name)?;
        Some(match at {
            Written::Canonical(r) => &self.canonical[r.clone()],
            Written::Enveloped(r) => &self.enveloped[r.clone()],
        })
    }
}

/// Where the scanner is, for the members that canonicalisation treats apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    Elsewhere,
    /// The top-level object.
    Top,
    /// The array under the top-level `Invoice`.
    InvoiceArray,
    /// `Invoice[0]`.
    Invoice,
}

struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    invoice_end: Option<usize>,
    invoice_has_members: bool,
    members: Vec<(&'a str, Written)>,
    enveloped: Vec<u8>,
    /// The member names of every object being read, innermost last (one stack for all, so
    /// that an object costs no allocation of its own).
    keys: Vec<&'a [u8]>,
}

/// Scan `bytes` (a byte-order mark first is skipped). `None`: use serde_json (see the module doc).
pub(crate) fn scan(bytes: &[u8]) -> Option<Scanned<'_>> {
    let input = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde_json reads bytes but refuses invalid UTF-8 in strings, and any non-ASCII byte
    // outside one is a syntax error: one check up front covers both.
    std::str::from_utf8(input).ok()?;
    let mut s = Scanner {
        input,
        pos: 0,
        out: Vec::with_capacity(input.len()),
        invoice_end: None,
        invoice_has_members: false,
        members: Vec::new(),
        enveloped: Vec::new(),
        keys: Vec::new(),
    };
    s.skip_ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.value(0, At::Top)?;
    s.skip_ws();
    if s.pos != s.input.len() {
        return None;
    }
    Some(Scanned {
        invoice_end: s.invoice_end?,
        invoice_has_members: s.invoice_has_members,
        members: s.members,
        enveloped: s.enveloped,
        canonical: s.out,
    })
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == b).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize, at: At) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'{' => self.object(depth + 1, at),
            b'[' => self.array(depth + 1, at),
            b'"' => {
                self.pos += 1;
                self.string()
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.input.get(self.pos..end)? == word).then_some(())?;
        self.out.extend_from_slice(word);
        self.pos = end;
        Some(())
    }

    fn object(&mut self, depth: usize, at: At) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.out.push(b'{');
        let first_key = self.keys.len();
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return self.close_object(at, false);
        }
        let mut written = false;
        loop {
            self.expect(b'"')?;
            let key = self.key()?;
            if self.keys[first_key..].contains(&key) {
                return None;
            }
            self.keys.push(key);
            self.expect(b':')?;
            let mark = self.out.len();
            if written {
                self.out.push(b',');
            }
            self.out.push(b'"');
            self.out.extend_from_slice(key);
            self.out.extend_from_slice(b"\":");
            let child = match (at, key) {
                (At::Top, b"Invoice") => At::InvoiceArray,
                _ => At::Elsewhere,
            };
            let value_at = self.out.len();
            self.value(depth, child)?;
            let enveloped = at == At::Invoice && matches!(key, b"UBLExtensions" | b"Signature");
            if at == At::Invoice {
                let name = std::str::from_utf8(key).ok()?;
                let value = if enveloped {
                    let from = self.enveloped.len();
                    self.enveloped.extend_from_slice(&self.out[value_at..]);
                    Written::Enveloped(from..self.enveloped.len())
                } else {
                    Written::Canonical(value_at..self.out.len())
                };
                self.members.push((name, value));
            }
            if enveloped {
                // The enveloped parts: read (the document must be valid), kept apart (for
                // verification) but not written.
                self.out.truncate(mark);
            } else {
                written = true;
            }
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    self.keys.truncate(first_key);
                    return self.close_object(at, written);
                }
                _ => return None,
            }
        }
    }

    fn close_object(&mut self, at: At, written: bool) -> Option<()> {
        if at == At::Invoice {
            self.invoice_end = Some(self.out.len());
            self.invoice_has_members = written;
        }
        self.out.push(b'}');
        Some(())
    }

    fn array(&mut self, depth: usize, at: At) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.out.push(b'[');
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            self.out.push(b']');
            return Some(());
        }
        let mut first = true;
        loop {
            if !first {
                self.out.push(b',');
            }
            self.skip_ws();
            // Only an object as the first element is Invoice[0]; anything else there is left
            // to serde_json's path, which reports it.
            let child = if at == At::InvoiceArray && first && self.peek()? == b'{' {
                At::Invoice
            } else {
                At::Elsewhere
            };
            self.value(depth, child)?;
            first = false;
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    self.out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A member name after its opening quote: plain text only (no escape, no control
    /// character), so that names compare as written.
    fn key(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
        let key = &self.input[start..self.pos];
        self.pos += 1;
        Some(key)
    }

    /// A string after its opening quote, written as serde_json writes it.
    fn string(&mut self) -> Option<()> {
        self.out.push(b'"');
        loop {
            let start = self.pos;
            while let Some(&b) = self.input.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            self.out.extend_from_slice(&self.input[start..self.pos]);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    self.out.push(b'"');
                    return Some(());
                }
                b'\\' => self.escape()?,
                _ => return None,
            }
        }
    }

    fn escape(&mut self) -> Option<()> {
        let e = *self.input.get(self.pos + 1)?;
        self.pos += 2;
        match e {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.out.extend_from_slice(&[b'\\', e]);
            }
            b'/' => self.out.push(b'/'),
            b'u' => {
                let mut code = self.hex4()?;
                if (0xD800..0xDC00).contains(&code) {
                    // A UTF-16 pair: the low half must follow at once. A lone half is left to
                    // serde_json, which refuses it.
                    if self.input.get(self.pos..self.pos + 2)? != b"\\u" {
                        return None;
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                self.write_char(char::from_u32(code)?);
            }
            _ => return None,
        }
        Some(())
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Option<u32> {
        let hex = self.input.get(self.pos..self.pos + 4)?;
        let mut code = 0;
        for &h in hex {
            code = code * 16 + char::from(h).to_digit(16)?;
        }
        self.pos += 4;
        Some(code)
    }

    /// A decoded character, escaped as serde_json's writer escapes it.
    fn write_char(&mut self, c: char) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match c {
            '"' => self.out.extend_from_slice(b"\\\""),
            '\\' => self.out.extend_from_slice(b"\\\\"),
            '\u{8}' => self.out.extend_from_slice(b"\\b"),
            '\u{c}' => self.out.extend_from_slice(b"\\f"),
            '\n' => self.out.extend_from_slice(b"\\n"),
            '\r' => self.out.extend_from_slice(b"\\r"),
            '\t' => self.out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                self.out.extend_from_slice(b"\\u00");
                self.out.push(HEX[usize::from(b >> 4)]);
                self.out.push(HEX[usize::from(b & 0xf)]);
            }
            c => {
                let mut buf = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }

    /// A number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, written as serde_json's
    /// arbitrary-precision numbers are: as read, with the exponent as `e` and a sign.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        self.out.extend_from_slice(&self.input[start..self.pos]);
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            self.out.push(b'e');
            match self.peek()? {
                s @ (b'+' | b'-') => {
                    self.out.push(s);
                    self.pos += 1;
                }
                _ => self.out.push(b'+'),
            }
            let digits = self.pos;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
            self.out.extend_from_slice(&self.input[digits..self.pos]);
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

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

/// What `sign_json` adds to the canonical form, and more: `UBLExtensions` with the base64 of
/// the certificate, and `Signature`.
const SIGNATURE_ROOM: usize = 16 * 1024;

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
    /// Input before this offset is accounted for in `out` (written, or left out on purpose).
    /// The bytes from here to `pos` are their own canonical form and are copied in one piece
    /// when the output next differs from the input (skipped whitespace, a rewritten escape or
    /// exponent, the enveloped members), or at the end: a minified document is copied in a
    /// few long runs instead of token by token.
    copied: usize,
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
    // outside one is a syntax error. The scanner reads only ASCII outside strings (and in
    // member names), and checks each run of non-ASCII bytes inside a string where it meets
    // it: a pass over the whole document first cost 2-3% of verifying it.
    let mut s = Scanner {
        input,
        pos: 0,
        copied: 0,
        // Room for the signature block a signer splices in (a few KB), so that it moves
        // only the document's last bytes instead of copying it all to a larger buffer.
        out: Vec::with_capacity(input.len() + SIGNATURE_ROOM),
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
    s.flush();
    Some(Scanned {
        invoice_end: s.invoice_end?,
        invoice_has_members: s.invoice_has_members,
        members: s.members,
        enveloped: s.enveloped,
        canonical: s.out,
    })
}

/// Where a scalar at `from` that is its own canonical form ends: a string without an escape
/// or a control character, a number without an exponent, a literal. `None` for anything else
/// (which may still be valid, and is then read the general way).
fn plain_scalar_end(b: &[u8], from: usize) -> Option<usize> {
    let digits = |mut p: usize| {
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        p
    };
    match *b.get(from)? {
        b'"' => {
            let end = string_run_end(b, from + 1);
            (*b.get(end)? == b'"').then_some(end + 1)
        }
        b'-' | b'0'..=b'9' => {
            let mut p = from + usize::from(b[from] == b'-');
            p = match *b.get(p)? {
                // No digit after a leading zero.
                b'0' => p + 1,
                b'1'..=b'9' => digits(p + 1),
                _ => return None,
            };
            if b.get(p) == Some(&b'.') {
                let frac = digits(p + 1);
                if frac == p + 1 {
                    return None;
                }
                p = frac;
            }
            // A digit after a leading zero, or an exponent: the general path.
            match b.get(p) {
                Some(c) if c.is_ascii_digit() || matches!(c, b'e' | b'E' | b'.') => None,
                _ => Some(p),
            }
        }
        c => {
            let word: &[u8] = match c {
                b't' => b"true",
                b'f' => b"false",
                b'n' => b"null",
                _ => return None,
            };
            (b.get(from..from + word.len())? == word).then_some(from + word.len())
        }
    }
}

/// A member of `Invoice[0]` that the canonical form leaves out.
fn is_enveloped(name: &[u8]) -> bool {
    matches!(name, b"UBLExtensions" | b"Signature")
}

/// The offset of the first byte of `b` from `from` on that ends a run of plain string
/// content: a quote, a backslash, a control character or a byte outside ASCII (or `b.len()`).
/// Eight bytes at a time: strings are most of a document. Non-ASCII bytes stop the run so
/// that [`Scanner::string`] checks their UTF-8 there, instead of the whole document first.
fn string_run_end(b: &[u8], mut from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte that is zero (the lowest such bit is exact; borrows can
    // only mark bytes above a true hit, and only the lowest is used).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    while let Some(chunk) = b.get(from..from + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20: the same borrow trick against 0x20.
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
            // Bytes past ASCII: their own high bit.
            | (w & HIGH);
        if hits != 0 {
            return from + (hits.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while let Some(&c) = b.get(from) {
        if c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c) {
            break;
        }
        from += 1;
    }
    from
}

/// The end of the run of non-ASCII bytes at `from`, if it is UTF-8. An ASCII byte is never
/// part of a longer character, so a text is UTF-8 exactly when each such run is.
fn utf8_run_end(b: &[u8], from: usize) -> Option<usize> {
    let end = b[from..]
        .iter()
        .position(u8::is_ascii)
        .map_or(b.len(), |n| from + n);
    std::str::from_utf8(&b[from..end]).ok()?;
    Some(end)
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Write the input from `copied` to `pos`, unchanged.
    fn flush(&mut self) {
        self.out
            .extend_from_slice(&self.input[self.copied..self.pos]);
        self.copied = self.pos;
    }

    /// The length `out` will have once flushed.
    fn out_len(&self) -> usize {
        self.out.len() + self.pos - self.copied
    }

    fn skip_ws(&mut self) {
        if !matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            return;
        }
        self.flush();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        self.copied = self.pos;
    }

    fn value(&mut self, depth: usize, at: At) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'{' => self.object(depth + 1, at),
            b'[' if at == At::Elsewhere && depth + 2 <= MAX_DEPTH && self.leaf() => Some(()),
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

    /// Most values of a UBL document are a leaf written minified: `[{"_":"text"}]`, or
    /// `[{"_":12.50,"currencyID":"MYR"}]` with a few attributes. Read whole when it is its
    /// own canonical form (strings without an escape, a number without an exponent, no
    /// whitespace, no repeated name), in a few comparisons instead of an array, an object and
    /// each member read a token at a time. Whether it was; otherwise nothing is read, and the
    /// general path reads the value (and refuses it, if it must).
    #[inline]
    fn leaf(&mut self) -> bool {
        const OPEN: &[u8] = br#"[{"_":"#;
        /// More attributes than this are left to the general path.
        const MAX_ATTRS: usize = 4;
        let b = self.input;
        if b.get(self.pos..self.pos + OPEN.len()) != Some(OPEN) {
            return false;
        }
        let Some(mut p) = plain_scalar_end(b, self.pos + OPEN.len()) else {
            return false;
        };
        let mut names: [&[u8]; MAX_ATTRS] = [b"_"; MAX_ATTRS];
        let mut n = 0;
        loop {
            match b.get(p..p + 2) {
                Some(b"}]") => {
                    self.pos = p + 2;
                    return true;
                }
                Some(b",\"") if n + 1 < MAX_ATTRS => {}
                _ => return false,
            }
            // `,"name":"value"`: a plain name not seen in this object, a plain string.
            let name_end = string_run_end(b, p + 2);
            if b.get(name_end..name_end + 3) != Some(br#"":""#) {
                return false;
            }
            let name = &b[p + 2..name_end];
            if names[..=n]
                .iter()
                .any(|k| k.len() == name.len() && *k == name)
            {
                return false;
            }
            n += 1;
            names[n] = name;
            let value_end = string_run_end(b, name_end + 3);
            if b.get(value_end) != Some(&b'"') {
                return false;
            }
            p = value_end + 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.input.get(self.pos..end)? == word).then_some(())?;
        self.pos = end;
        Some(())
    }

    fn object(&mut self, depth: usize, at: At) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let first_key = self.keys.len();
        self.skip_ws();
        if self.peek()? == b'}' {
            return self.close_object(at, false);
        }
        // Only `Invoice[0]` writes its members itself (its commas included): it leaves the
        // enveloped ones out and notes where the others are. Elsewhere the input is copied.
        let invoice = at == At::Invoice;
        let mut written = false;
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
            // Where a member of `Invoice[0]` starts in `out`, its comma included.
            let mark = if invoice {
                self.flush();
                let mark = self.out.len();
                if written {
                    self.out.push(b',');
                }
                mark
            } else {
                0
            };
            self.pos += 1;
            let key = self.key()?;
            // Most objects have a member or two: a loop, not a call to `contains` per name.
            if self.keys[first_key..]
                .iter()
                .any(|k| k.len() == key.len() && *k == key)
            {
                return None;
            }
            self.keys.push(key);
            self.skip_ws();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.skip_ws();
            let child = match (at, key) {
                (At::Top, b"Invoice") => At::InvoiceArray,
                _ => At::Elsewhere,
            };
            let value_at = self.out_len();
            self.value(depth, child)?;
            if invoice {
                self.flush();
                written |= self.invoice_member(key, mark, value_at)?;
            }
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    if invoice {
                        self.flush();
                        self.pos += 1;
                        self.copied = self.pos;
                    } else {
                        self.pos += 1;
                    }
                }
                b'}' => {
                    self.keys.truncate(first_key);
                    return self.close_object(at, written);
                }
                _ => return None,
            }
        }
    }

    /// Note a member of `Invoice[0]` just read (flushed: `out` ends with its value, written
    /// from `value_at` on, after its name from `mark`); an enveloped one is kept apart and
    /// taken out of the canonical form. Whether it stays in the canonical form.
    fn invoice_member(&mut self, key: &'a [u8], mark: usize, value_at: usize) -> Option<bool> {
        let name = std::str::from_utf8(key).ok()?;
        let enveloped = is_enveloped(key);
        let value = if enveloped {
            let from = self.enveloped.len();
            self.enveloped.extend_from_slice(&self.out[value_at..]);
            // The enveloped parts: read (the document must be valid), kept apart (for
            // verification) but not written.
            self.out.truncate(mark);
            Written::Enveloped(from..self.enveloped.len())
        } else {
            Written::Canonical(value_at..self.out.len())
        };
        self.members.push((name, value));
        Some(!enveloped)
    }

    /// At the `}` that closes an object.
    #[inline]
    fn close_object(&mut self, at: At, written: bool) -> Option<()> {
        if at == At::Invoice {
            self.flush();
            self.invoice_end = Some(self.out.len());
            self.invoice_has_members = written;
        }
        self.pos += 1;
        Some(())
    }

    fn array(&mut self, depth: usize, at: At) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        let mut first = true;
        loop {
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
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A member name after its opening quote: plain text only (no escape, no control
    /// character, UTF-8), so that names compare as written.
    fn key(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        loop {
            self.pos = string_run_end(self.input, self.pos);
            match self.peek()? {
                b'"' => break,
                0x80.. => self.pos = utf8_run_end(self.input, self.pos)?,
                _ => return None,
            }
        }
        let key = &self.input[start..self.pos];
        self.pos += 1;
        Some(key)
    }

    /// A string after its opening quote, written as serde_json writes it.
    fn string(&mut self) -> Option<()> {
        loop {
            self.pos = string_run_end(self.input, self.pos);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => self.escape()?,
                0x80.. => self.pos = utf8_run_end(self.input, self.pos)?,
                _ => return None,
            }
        }
    }

    /// An escape at `pos`. The ones serde_json writes as they are read stay in the run being
    /// copied; the others are written decoded and re-escaped.
    fn escape(&mut self) -> Option<()> {
        let e = *self.input.get(self.pos + 1)?;
        match e {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
            b'/' => {
                self.flush();
                self.pos += 2;
                self.copied = self.pos;
                self.out.push(b'/');
            }
            b'u' => {
                self.flush();
                self.pos += 2;
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
                self.copied = self.pos;
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
        if let Some(b'e' | b'E') = self.peek() {
            self.flush();
            self.pos += 1;
            self.out.push(b'e');
            match self.peek()? {
                s @ (b'+' | b'-') => {
                    self.out.push(s);
                    self.pos += 1;
                }
                _ => self.out.push(b'+'),
            }
            self.copied = self.pos;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

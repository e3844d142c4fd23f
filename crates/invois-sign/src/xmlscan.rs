//! One pass over a UBL XML document that writes its canonical form (and, for signing, its
//! minified form) while it reads.
//!
//! The definitions live in `xmldom` and `xml`: the document digest is over the inclusive C14N
//! of the tree with whitespace-only text dropped and every `ext:UBLExtensions` and
//! `cac:Signature` removed; the signer writes the tree back as written (declarations and
//! attributes in their order), minified, without the root's enveloped parts. Building that tree
//! (a string for every name, a map for every scope) cost several times the RSA operation, and
//! verification parsed it twice. This scanner writes the same bytes directly, and notes where
//! each child of the root is, so that verification builds a tree of only the few it reads.
//!
//! It answers only for the plain XML invoices are written in, and gives up (`None`) on
//! anything else, which the tree then handles (and reports when malformed): a DOCTYPE, comments,
//! CDATA, processing instructions but the XML declaration, entities but the five predefined and
//! character references, a carriage return or raw tab or line feed inside an attribute value,
//! a character reference to a control character, a name that is not plain ASCII, a repeated
//! attribute, an undeclared prefix, a mismatched end tag, nesting past the tree's limit, or
//! anything that is not well-formed.

use std::borrow::Cow;
use std::ops::Range;

use crate::xml::{NS_CAC, NS_EXT};
use crate::xmlsig::{Opened, Read, Start};

/// The tree's depth limit (`xmldom`).
const MAX_DEPTH: usize = 256;
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// A child element of the root: where it is in the input, and its local name.
#[derive(Debug)]
pub(crate) struct Child<'a> {
    pub(crate) range: Range<usize>,
    pub(crate) local: &'a str,
}

/// What one pass gives.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    /// The input, byte-order mark removed.
    pub(crate) input: &'a str,
    /// Inclusive C14N without the enveloped parts and whitespace-only text.
    pub(crate) canonical: Vec<u8>,
    /// The minified document without the root's enveloped children (when asked for).
    pub(crate) written: Vec<u8>,
    /// Offset in `written` just after the root's start tag.
    pub(crate) content_at: usize,
    /// Offset in `written` of the first `cac:AccountingSupplierParty` child of the root.
    pub(crate) supplier_at: Option<usize>,
    /// The root's start tag in the input, and its qualified name.
    pub(crate) root_tag: Range<usize>,
    pub(crate) root_qname: &'a str,
    pub(crate) root_local: &'a str,
    /// The root's own namespace declarations.
    pub(crate) root_decls: Vec<(Option<&'a str>, Cow<'a, str>)>,
    /// The root's child elements, in order.
    pub(crate) children: Vec<Child<'a>>,
    /// What verification reads (when asked for).
    pub(crate) read: Option<Read<'a>>,
}

/// An open element.
struct Open<'a> {
    qname: &'a str,
    /// Left out of the canonical form (an enveloped part or inside one).
    removed: bool,
    /// Left out of the minified form (an enveloped child of the root or inside one).
    unwritten: bool,
    /// How many namespace declarations were in scope before this element's.
    scope_len: usize,
    /// Where it started in the input.
    start: usize,
    local: &'a str,
    /// What the verification reader keeps of it.
    read: Opened,
}

/// An attribute as read: qualified name and value (references expanded).
pub(crate) struct RawAttr<'a> {
    pub(crate) qname: &'a str,
    pub(crate) value: Cow<'a, str>,
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    write: bool,
    out: Scanned<'a>,
    /// Input before these offsets is accounted for in the canonical and the minified form
    /// (written, or left out on purpose). The input from there to where the scanner is is
    /// its own form, and is copied in one piece when the form next differs from the input (a
    /// start tag to rewrite, an empty-element tag, text to re-escape, whitespace between tags,
    /// an enveloped part), or at the end: a minified document is copied in long runs instead
    /// of a tag and a text at a time.
    c_copied: usize,
    w_copied: usize,
    /// Namespace declarations in scope, innermost last.
    scope: Vec<(Option<&'a str>, Cow<'a, str>)>,
    stack: Vec<Open<'a>>,
    /// A buffer for text with references expanded.
    text: String,
    /// The attributes of the start tag being read.
    attrs: Vec<RawAttr<'a>>,
    /// Their canonical order: (namespace URI, local name, index).
    order: Vec<(Option<Cow<'a, str>>, &'a str, usize)>,
}

/// Scan `bytes`. `write`: also produce the minified form. `None`: use the tree (module doc).
pub(crate) fn scan(bytes: &[u8], write: bool) -> Option<Scanned<'_>> {
    scan_with(bytes, write, false)
}

/// Scan `bytes` for verification: the canonical form and what `xmlsig` reads.
pub(crate) fn scan_reading(bytes: &[u8]) -> Option<Scanned<'_>> {
    scan_with(bytes, false, true)
}

fn scan_with(bytes: &[u8], write: bool, read: bool) -> Option<Scanned<'_>> {
    let s = std::str::from_utf8(bytes).ok()?;
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let mut sc = Scanner {
        s,
        b: s.as_bytes(),
        pos: 0,
        write,
        out: Scanned {
            input: s,
            canonical: Vec::with_capacity(s.len()),
            written: Vec::with_capacity(if write { s.len() } else { 0 }),
            content_at: 0,
            supplier_at: None,
            root_tag: 0..0,
            root_qname: "",
            root_local: "",
            root_decls: Vec::new(),
            children: Vec::new(),
            read: read.then(Read::default),
        },
        c_copied: 0,
        w_copied: 0,
        scope: Vec::new(),
        stack: Vec::new(),
        text: String::new(),
        attrs: Vec::new(),
        order: Vec::new(),
    };
    sc.prolog()?;
    sc.content()?;
    // The root's end tag: the rest of both forms.
    sc.c_flush(sc.pos);
    sc.w_flush(sc.pos);
    sc.skip_ws();
    (sc.pos == sc.b.len()).then_some(sc.out)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The bytes of a name the scanner reads (plain ASCII), by class: a table, one load a byte.
const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphabetic() || c == b'_' {
            t[b] = NAME_START | NAME_CHAR;
        } else if c.is_ascii_digit() || matches!(c, b'-' | b'.' | b':') {
            t[b] = NAME_CHAR;
        }
        b += 1;
    }
    t
};

fn is_name_start(b: u8) -> bool {
    NAME_CLASS[usize::from(b)] & NAME_START != 0
}

fn is_name_char(b: u8) -> bool {
    NAME_CLASS[usize::from(b)] & NAME_CHAR != 0
}

/// Every byte of a word at once (`ONES * c`), and each byte's high bit: the word-at-a-time
/// searches below classify eight bytes with a few operations on these.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// How long the run of name bytes at the start of `b` is, and how many colons it holds (0, 1,
/// or 2 for two and more: all a name needs to know, without the software popcount a portable
/// build would call).
///
/// Eight bytes at a time, each classified by range: element names are 10-30 bytes, and a
/// byte loop paid a table load and an exit branch the predictor cannot learn for each.
fn name_len(b: &[u8]) -> (usize, u32) {
    // The high bit of each byte of `w` (all below 0x80) from `lo` to `hi`: adding `0x80 - lo`
    // sets it from `lo` up, adding `0x7f - hi` from past `hi` up, and neither carries out of
    // a byte below 0x80.
    let in_range = |w: u64, lo: u8, hi: u8| {
        (w.wrapping_add(ONES * u64::from(0x80 - lo)) & !w.wrapping_add(ONES * u64::from(0x7f - hi)))
            & HIGH
    };
    let eq = |w: u64, c: u8| in_range(w, c, c);
    let (mut len, mut colons) = (0, 0);
    while let Some(chunk) = b.get(len..len + 8) {
        let raw = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // Non-ASCII bytes end a name: masked out before the ranges, which assume ASCII.
        let ascii = !raw & HIGH;
        let w = raw & !HIGH;
        let name = ascii
            & (in_range(w | (ONES * 0x20), b'a', b'z')
                | in_range(w, b'0', b':')
                | in_range(w, b'-', b'.')
                | eq(w, b'_'));
        let colon = ascii & eq(w, b':');
        if name != HIGH {
            let n = (!name & HIGH).trailing_zeros() / 8;
            let inside = if n == 0 { 0 } else { u64::MAX >> (64 - 8 * n) };
            return (len + n as usize, up_to_two(colons, colon & inside));
        }
        colons = up_to_two(colons, colon);
        len += 8;
    }
    while let Some(&c) = b.get(len) {
        if !is_name_char(c) {
            break;
        }
        colons = (colons + u32::from(c == b':')).min(2);
        len += 1;
    }
    (len, colons)
}

/// `count` plus the bits set in `bits`, at most 2.
fn up_to_two(count: u32, bits: u64) -> u32 {
    // Without a branch: one for any bit, one more for a second.
    let more = u32::from(bits != 0) + u32::from(bits & bits.wrapping_sub(1) != 0);
    (count + more).min(2)
}

/// The offset of the first byte of `b` from `from` on that ends a plain run of text: `<`, or
/// one that makes the text other than its own canonical form (`&`, `>`, a carriage return);
/// `b.len()` if none.
fn text_run_end(b: &[u8], from: usize) -> usize {
    first_of(b, from, [b'<', b'&', b'>', b'\r'])
}

/// The offset of the first byte of `b` from `from` on that ends a plain attribute value:
/// `quote`, or one that `attr_value` refuses or expands (`<`, `&`, a tab, a line feed, a
/// carriage return); `b.len()` if none.
fn attr_run_end(b: &[u8], from: usize, quote: u8) -> usize {
    first_of(b, from, [quote, b'<', b'&', b'\t', b'\n', b'\r'])
}

/// The offset of the first byte of `b` from `from` on that is one of `stops`; `b.len()` if
/// none. Eight bytes at a time: a byte loop's exit is a branch the predictor cannot learn.
fn first_of<const N: usize>(b: &[u8], mut from: usize, stops: [u8; N]) -> usize {
    // The high bit of each zero byte (the lowest is exact; a borrow can only mark bytes above
    // a true hit, and only the lowest is used).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    while let Some(chunk) = b.get(from..from + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let hits = stops
            .iter()
            .fold(0, |hits, &c| hits | zero(w ^ (ONES * u64::from(c))));
        if hits != 0 {
            return from + (hits.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while let Some(c) = b.get(from) {
        if stops.contains(c) {
            break;
        }
        from += 1;
    }
    from
}

/// `a == b` for slices of the same length (names), a word at a time: a byte loop exits at a
/// place the branch predictor cannot learn, and a call to memcmp costs more than the comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or([0; 4]));
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// `a.cmp(b)` a byte at a time, for the short names and URIs of one tag's attributes.
fn short_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .find(|(x, y)| x != y)
        .map_or_else(|| a.len().cmp(&b.len()), |(x, y)| x.cmp(y))
}

/// What C14N writes for a byte of a text node, where it is not the byte itself.
pub(crate) fn text_escape(b: u8) -> Option<&'static str> {
    Some(match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'\r' => "&#xD;",
        _ => return None,
    })
}

/// What C14N writes for a byte of an attribute value, where it is not the byte itself.
pub(crate) fn attr_escape(b: u8) -> Option<&'static str> {
    Some(match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'"' => "&quot;",
        b'\t' => "&#x9;",
        b'\n' => "&#xA;",
        b'\r' => "&#xD;",
        _ => return None,
    })
}

/// `s` escaped by `rep`, handed to `push` in pieces: runs of `s` and replacements. Every
/// escaped byte is ASCII, so each run is whole UTF-8. Shared with `xmldom`, so the scanner
/// and the tree write the same bytes.
pub(crate) fn escaped<'a>(
    s: &'a str,
    rep: fn(u8) -> Option<&'static str>,
    mut push: impl FnMut(&'a str),
) {
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        if let Some(r) = rep(b) {
            push(&s[from..i]);
            push(r);
            from = i + 1;
        }
    }
    push(&s[from..]);
}

/// `s` as C14N writes a text node.
pub(crate) fn escape_text(s: &str, out: &mut Vec<u8>) {
    escaped(s, text_escape, |p| out.extend_from_slice(p.as_bytes()));
}

/// `s` as C14N writes an attribute value.
fn escape_attr(s: &str, out: &mut Vec<u8>) {
    escaped(s, attr_escape, |p| out.extend_from_slice(p.as_bytes()));
}

pub(crate) fn write_decl(prefix: Option<&str>, uri: &str, out: &mut Vec<u8>) {
    match prefix {
        None => out.extend_from_slice(b" xmlns=\""),
        Some(p) => {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"=\"");
        }
    }
    escape_attr(uri, out);
    out.push(b'"');
}

pub(crate) fn write_attr(a: &RawAttr<'_>, out: &mut Vec<u8>) {
    out.push(b' ');
    out.extend_from_slice(a.qname.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_attr(&a.value, out);
    out.push(b'"');
}

fn split(qname: &str) -> (Option<&str>, &str) {
    // A byte loop: names are short, and `split_once(char)` searches through a call per name.
    match qname.bytes().position(|b| b == b':') {
        Some(i) => (Some(&qname[..i]), &qname[i + 1..]),
        None => (None, qname),
    }
}

/// The namespace URI bound to `prefix` in `scope` (innermost last).
fn lookup_in<'s, 'a>(
    scope: &'s [(Option<&'a str>, Cow<'a, str>)],
    prefix: Option<&str>,
) -> Option<&'s Cow<'a, str>> {
    // Prefixes are short: a byte loop beats a call to memcmp per declaration.
    let same = |p: Option<&str>| match (p, prefix) {
        (None, None) => true,
        (Some(a), Some(b)) => a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y),
        _ => false,
    };
    scope.iter().rev().find(|(p, _)| same(*p)).map(|(_, u)| u)
}

/// An element's namespace: `None` when its prefix is undeclared, `Some(None)` for no
/// namespace (unprefixed, no default). Borrowed from the scope: no copy per element.
fn element_ns<'s>(
    scope: &'s [(Option<&str>, Cow<'_, str>)],
    prefix: Option<&str>,
) -> Option<Option<&'s str>> {
    match prefix {
        Some("xml") => Some(Some(NS_XML)),
        Some(p) => lookup_in(scope, Some(p)).map(|u| Some(u.as_ref())),
        None => Some(
            lookup_in(scope, None)
                .map(AsRef::as_ref)
                .filter(|u| !u.is_empty()),
        ),
    }
}

/// One `&...;` reference at the start of `s`: its expansion and its length. Only the
/// predefined entities and character references to characters XML allows.
fn reference(s: &str) -> Option<(char, usize)> {
    let end = s.as_bytes().iter().take(12).position(|&b| b == b';')?;
    let name = &s[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let (digits, radix) = match name.strip_prefix("#x") {
                Some(hex) => (hex, 16),
                None => (name.strip_prefix('#')?, 10),
            };
            // from_str_radix would take a sign; XML takes digits only.
            if digits.is_empty() || !digits.bytes().all(|b| char::from(b).is_digit(radix)) {
                return None;
            }
            let code = u32::from_str_radix(digits, radix).ok()?;
            if (code < 0x20 && !matches!(code, 0x9 | 0xA | 0xD)) || matches!(code, 0xFFFE | 0xFFFF)
            {
                return None;
            }
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

impl<'a> Scanner<'a> {
    /// Copy the input's pending run into the canonical form, up to `to`.
    fn c_flush(&mut self, to: usize) {
        self.out
            .canonical
            .extend_from_slice(&self.b[self.c_copied..to]);
        self.c_copied = to;
    }

    /// Leave the input from `from` to `to` out of the canonical form (what comes before it is
    /// copied first); the caller writes what stands for it, if anything.
    fn c_skip(&mut self, from: usize, to: usize) {
        self.c_flush(from);
        self.c_copied = to;
    }

    /// [`Self::c_flush`] for the minified form, when it is written.
    fn w_flush(&mut self, to: usize) {
        if self.write {
            self.out
                .written
                .extend_from_slice(&self.b[self.w_copied..to]);
            self.w_copied = to;
        }
    }

    /// [`Self::c_skip`] for the minified form.
    fn w_skip(&mut self, from: usize, to: usize) {
        if self.write {
            self.w_flush(from);
            self.w_copied = to;
        }
    }

    fn skip_ws(&mut self) {
        while self.b.get(self.pos).is_some_and(|&b| is_ws(b)) {
            self.pos += 1;
        }
    }

    fn starts(&self, p: &str) -> bool {
        self.b[self.pos..].starts_with(p.as_bytes())
    }

    /// The XML declaration, if any, and whitespace up to the root.
    fn prolog(&mut self) -> Option<()> {
        if self.starts("<?xml version=\"1.0\"") || self.starts("<?xml version='1.0'") {
            let end = self.s[self.pos..].find("?>")?;
            self.pos += end + 2;
        }
        self.skip_ws();
        // Neither form has the prolog.
        (self.c_copied, self.w_copied) = (self.pos, self.pos);
        (self.b.get(self.pos) == Some(&b'<')).then_some(())
    }

    fn name(&mut self) -> Option<&'a str> {
        let rest = &self.b[self.pos..];
        if !is_name_start(*rest.first()?) {
            return None;
        }
        let (len, colons) = name_len(rest);
        // At most one colon, not at the end.
        if colons > 1 || rest[len - 1] == b':' {
            return None;
        }
        let name = &self.s[self.pos..self.pos + len];
        self.pos += len;
        Some(name)
    }

    /// Elements and text from the root's start tag to its end tag.
    fn content(&mut self) -> Option<()> {
        loop {
            let lt = if self.stack.is_empty() {
                // A byte search: `str::find(char)` checks each hit with a call to memcmp.
                let lt = self.pos + self.b[self.pos..].iter().position(|&b| b == b'<')?;
                if !self.s[self.pos..lt].bytes().all(is_ws) {
                    return None;
                }
                lt
            } else {
                self.text()?
            };
            self.pos = lt + 1;
            match *self.b.get(self.pos)? {
                b'/' => {
                    self.pos += 1;
                    self.end_tag(lt)?;
                    if self.stack.is_empty() {
                        return Some(());
                    }
                }
                b'!' | b'?' => return None,
                _ => {
                    if self.stack.is_empty() && !self.out.root_qname.is_empty() {
                        return None;
                    }
                    if self.start_tag(lt)? {
                        self.end_element(false, self.pos)?;
                        if self.stack.is_empty() {
                            return Some(());
                        }
                    }
                }
            }
        }
    }

    /// The text node from `pos` to the next tag, whose `<` it returns (comments, CDATA and
    /// processing instructions, which would join runs, are left to the tree); dropped when
    /// whitespace only. Most text is its own canonical form and stays in the run being copied.
    fn text(&mut self) -> Option<usize> {
        let start = self.pos;
        // Most text of a minified document is empty, a tag right after a tag: its `<` is one
        // load away. The word search would find it too, but the branch on what it found waits
        // for the whole search, and a mispredicted one then costs more.
        if self.b.get(start) == Some(&b'<') {
            return Some(start);
        }
        let stop = text_run_end(self.b, start);
        if *self.b.get(stop)? != b'<' {
            let lt = stop + self.b[stop..].iter().position(|&b| b == b'<')?;
            self.rewritten_text(lt)?;
            return Some(lt);
        }
        self.pos = stop;
        let raw = &self.s[start..stop];
        if raw.is_empty() {
            return Some(stop);
        }
        let top = self.stack.last()?;
        if raw.bytes().all(is_ws) {
            let (removed, unwritten) = (top.removed, top.unwritten);
            if !removed {
                self.c_skip(start, stop);
            }
            if !unwritten {
                self.w_skip(start, stop);
            }
            return Some(stop);
        }
        if let Some(read) = &mut self.out.read
            && top.read.reads_text()
        {
            read.text(&top.read, raw);
        }
        Some(stop)
    }

    /// A text node up to `end` that is not its own canonical form (references, `>`), or that
    /// the tree reads otherwise (a carriage return is normalised there; `]]>` is refused):
    /// expanded, and written escaped.
    // Out of line: rare, and the scan's loop keeps its registers without it.
    #[inline(never)]
    fn rewritten_text(&mut self, end: usize) -> Option<()> {
        let start = self.pos;
        let raw = &self.s[start..end];
        self.pos = end;
        let (mut refs, mut brackets) = (false, 0);
        for b in raw.bytes() {
            match b {
                b'&' => refs = true,
                b'\r' => return None,
                b'>' if brackets >= 2 => return None,
                _ => {}
            }
            brackets = if b == b']' { brackets + 1 } else { 0 };
        }
        let text: Cow<'_, str> = if refs {
            let mut t = std::mem::take(&mut self.text);
            t.clear();
            let mut rest = raw;
            while let Some(i) = rest.bytes().position(|b| b == b'&') {
                t.push_str(&rest[..i]);
                let (c, len) = reference(&rest[i..])?;
                t.push(c);
                rest = &rest[i + len..];
            }
            t.push_str(rest);
            Cow::Owned(t)
        } else {
            Cow::Borrowed(raw)
        };
        let top = self.stack.last()?;
        let (removed, unwritten) = (top.removed, top.unwritten);
        // Blank, once references are expanded (`&#32;`), is still blank: dropped.
        let blank = text.bytes().all(is_ws);
        if !removed {
            self.c_skip(start, end);
            if !blank {
                escape_text(&text, &mut self.out.canonical);
            }
        }
        if self.write && !unwritten {
            self.w_skip(start, end);
            if !blank {
                escape_text(&text, &mut self.out.written);
            }
        }
        if let (Some(read), Some(top)) = (&mut self.out.read, self.stack.last())
            && top.read.reads_text()
            && !blank
        {
            read.text(&top.read, &text);
        }
        if let Cow::Owned(t) = text {
            self.text = t;
        }
        Some(())
    }

    /// The namespace URI bound to `prefix` among the first `len` declarations in scope.
    fn lookup(&self, prefix: Option<&str>, len: usize) -> Option<&Cow<'a, str>> {
        lookup_in(&self.scope[..len], prefix)
    }

    /// The attributes of a start tag, into `self.attrs`. Returns whether the tag was empty,
    /// and whether it is written as C14N and the tree write a tag: one space before each
    /// attribute, `="`, no reference in a value, nothing before `>`.
    fn attributes(&mut self) -> Option<(bool, bool)> {
        self.attrs.clear();
        let mut plain = true;
        loop {
            let before = self.pos;
            self.skip_ws();
            match *self.b.get(self.pos)? {
                b'>' => {
                    self.pos += 1;
                    return Some((false, plain && before + 1 == self.pos));
                }
                b'/' => {
                    self.pos += 1;
                    (*self.b.get(self.pos)? == b'>').then_some(())?;
                    self.pos += 1;
                    return Some((true, false));
                }
                _ if before == self.pos => return None,
                _ => {}
            }
            plain &= before + 1 == self.pos && self.b[before] == b' ';
            let qname = self.name()?;
            plain &= self.b.get(self.pos..self.pos + 2) == Some(&b"=\""[..]);
            self.skip_ws();
            (*self.b.get(self.pos)? == b'=').then_some(())?;
            self.pos += 1;
            self.skip_ws();
            let quote = *self.b.get(self.pos)?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            self.pos += 1;
            // Most values hold nothing but their own form: one search finds their end.
            let stop = attr_run_end(self.b, self.pos, quote);
            let (end, value) = if self.b.get(stop) == Some(&quote) {
                (stop, Cow::Borrowed(&self.s[self.pos..stop]))
            } else {
                let end = self.pos + self.b[self.pos..].iter().position(|&b| b == quote)?;
                (end, self.attr_value(&self.s[self.pos..end])?)
            };
            plain &= matches!(value, Cow::Borrowed(_));
            self.pos = end + 1;
            if self.attrs.iter().any(|a| a.qname == qname) {
                return None;
            }
            self.attrs.push(RawAttr { qname, value });
        }
    }

    fn attr_value(&self, raw: &'a str) -> Option<Cow<'a, str>> {
        let mut refs = false;
        for b in raw.bytes() {
            match b {
                b'<' | b'\t' | b'\n' | b'\r' => return None,
                b'&' => refs = true,
                _ => {}
            }
        }
        if !refs {
            return Some(Cow::Borrowed(raw));
        }
        let mut v = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find('&') {
            v.push_str(&rest[..i]);
            let (c, len) = reference(&rest[i..])?;
            v.push(c);
            rest = &rest[i + len..];
        }
        v.push_str(rest);
        Some(Cow::Owned(v))
    }

    /// A start tag after its `<` (at `lt`). Returns whether it was an empty-element tag.
    fn start_tag(&mut self, lt: usize) -> Option<bool> {
        if self.stack.len() >= MAX_DEPTH {
            return None;
        }
        let qname = self.name()?;
        let (empty, plain) = self.attributes()?;
        let scope_len = self.scope.len();
        // Declarations go to the scope; `self.attrs` keeps the other attributes.
        for a in &self.attrs {
            match a.qname {
                "xmlns" => self.scope.push((None, a.value.clone())),
                q if q.starts_with("xmlns:") => {
                    let p = &q[6..];
                    if p == "xml" || p == "xmlns" || a.value.is_empty() {
                        return None;
                    }
                    self.scope.push((Some(p), a.value.clone()));
                }
                _ => {}
            }
        }
        if self.scope.len() > scope_len {
            self.attrs
                .retain(|a| a.qname != "xmlns" && !a.qname.starts_with("xmlns:"));
        }
        let (prefix, local) = split(qname);
        let ns = element_ns(&self.scope, prefix)?;
        let is = |l: &str, uri: &str| local == l && ns == Some(uri);
        let parent = self.stack.last();
        let (parent_removed, parent_unwritten) =
            parent.map_or((false, false), |p| (p.removed, p.unwritten));
        let removed = parent_removed || is("UBLExtensions", NS_EXT) || is("Signature", NS_CAC);
        let is_root = parent.is_none();
        let unwritten = parent_unwritten || (self.stack.len() == 1 && removed);
        let read = match &mut self.out.read {
            Some(_) if self.stack.last().is_some_and(|o| o.read.is_inert()) => Opened::OTHER,
            Some(r) => r.start(
                self.stack.last_mut().map(|o| &mut o.read),
                &Start {
                    qname,
                    prefix,
                    local,
                    ns,
                    attrs: &self.attrs,
                    scope: &self.scope,
                },
            ),
            None => Opened::OTHER,
        };
        let supplier = is("AccountingSupplierParty", NS_CAC);
        if self.write
            && !unwritten
            && self.stack.len() == 1
            && self.out.supplier_at.is_none()
            && supplier
        {
            self.w_flush(lt);
            self.out.supplier_at = Some(self.out.written.len());
        }
        if is_root {
            if local != "Invoice" {
                return None;
            }
            self.out.root_qname = qname;
            self.out.root_local = local;
            self.out.root_decls = self.scope[scope_len..].to_vec();
        }
        // A tag that is its own form stays in the run being copied; an enveloped part is left
        // out from its `<` on.
        let own_form = plain && self.scope.len() == scope_len;
        if removed {
            if !parent_removed {
                self.c_flush(lt);
            }
        } else if !(own_form && self.attrs.is_empty()) {
            // Not `<name>` as read, without declaration (`own_form`) or attribute.
            self.canonical_start(qname, scope_len, lt, own_form)?;
        }
        if unwritten {
            if !parent_unwritten {
                self.w_flush(lt);
            }
        } else if self.write && !own_form {
            self.w_skip(lt, self.pos);
            self.written_start(qname, scope_len);
        }
        if is_root {
            self.out.root_tag = lt..self.pos;
            self.w_flush(self.pos);
            self.out.content_at = self.out.written.len();
        }
        self.stack.push(Open {
            qname,
            removed,
            unwritten,
            scope_len,
            start: lt,
            local,
            read,
        });
        Some(empty)
    }

    /// The namespace of an attribute's `prefix` in the current scope (an unprefixed attribute
    /// has none; elements: `element_ns`). `None` when the prefix is undeclared.
    fn attr_ns(&self, prefix: Option<&str>) -> Option<Option<Cow<'a, str>>> {
        match prefix {
            Some("xml") => Some(Some(Cow::Borrowed(NS_XML))),
            Some(p) => self.lookup(Some(p), self.scope.len()).cloned().map(Some),
            None => Some(None),
        }
    }

    /// The C14N start tag (at `lt`, read up to `pos`): the declarations that differ from the
    /// parent's scope (by prefix, the default first), then the attributes by namespace URI and
    /// local name. Left in the run being copied when the tag as read is that (`own_form`: it
    /// is written plain and declares nothing), and its attributes are in that order.
    #[inline(never)]
    fn canonical_start(
        &mut self,
        qname: &str,
        parent_scope: usize,
        lt: usize,
        own_form: bool,
    ) -> Option<()> {
        let own = &self.scope[parent_scope..];
        let mut decls: Vec<&(Option<&str>, Cow<'_, str>)> = Vec::new();
        for d in own {
            let inherited = self.lookup(d.0, parent_scope);
            let needed = if d.0.is_none() && d.1.is_empty() {
                inherited.is_some_and(|u| !u.is_empty())
            } else {
                inherited != Some(&d.1)
            };
            if needed {
                decls.push(d);
            }
        }
        decls.sort_by(|a, b| a.0.cmp(&b.0));
        // The attributes' order: by (namespace URI, local name), stable like the tree's sort.
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        for (i, a) in self.attrs.iter().enumerate() {
            let (prefix, local) = split(a.qname);
            let ns = self.attr_ns(prefix)?;
            order.push((ns, local, i));
        }
        if order.len() > 1 {
            // Names are a few bytes: compared a byte at a time, where `str`'s order calls
            // memcmp twice a comparison (URI, then local name).
            order.sort_by(|a, b| {
                fn uri<'u>(o: &'u Option<Cow<'_, str>>) -> &'u [u8] {
                    o.as_deref().unwrap_or("").as_bytes()
                }
                short_cmp(uri(&a.0), uri(&b.0))
                    .then_with(|| short_cmp(a.1.as_bytes(), b.1.as_bytes()))
            });
        }
        if own_form && order.iter().enumerate().all(|(i, o)| o.2 == i) {
            self.order = order;
            return Some(());
        }
        // `c_skip`, on the fields: `decls` borrows the scope.
        let out = &mut self.out.canonical;
        out.extend_from_slice(&self.b[self.c_copied..lt]);
        self.c_copied = self.pos;
        out.push(b'<');
        out.extend_from_slice(qname.as_bytes());
        for (p, uri) in decls {
            write_decl(*p, uri, out);
        }
        for &(_, _, i) in &order {
            write_attr(&self.attrs[i], out);
        }
        out.push(b'>');
        self.order = order;
        Some(())
    }

    /// The start tag as the tree writes it: declarations, then attributes, as written.
    #[inline(never)]
    fn written_start(&mut self, qname: &str, parent_scope: usize) {
        let out = &mut self.out.written;
        out.push(b'<');
        out.extend_from_slice(qname.as_bytes());
        for (p, uri) in &self.scope[parent_scope..] {
            write_decl(*p, uri, out);
        }
        for a in &self.attrs {
            write_attr(a, out);
        }
        out.push(b'>');
    }

    /// An end tag after its `</` (at `lt`): the open element's name, then `>`.
    fn end_tag(&mut self, lt: usize) -> Option<()> {
        let qname = self.stack.last()?.qname;
        let after = self.pos + qname.len();
        let same = self
            .b
            .get(self.pos..after)
            .is_some_and(|b| same(b, qname.as_bytes()));
        if !same || self.b.get(after).is_some_and(|&b| is_name_char(b)) {
            return None;
        }
        self.pos = after;
        self.skip_ws();
        (*self.b.get(self.pos)? == b'>').then_some(())?;
        self.pos += 1;
        // `</name>` with nothing before `>` is its own form.
        self.end_element(self.pos == after + 1, lt)
    }

    /// Close the innermost element: its end tag was read from `from` to `pos`, and is its
    /// own form (`verbatim`); or its empty-element tag was (then `from` is `pos`).
    fn end_element(&mut self, verbatim: bool, from: usize) -> Option<()> {
        let open = self.stack.pop()?;
        let parent = self.stack.last();
        let (parent_removed, parent_unwritten) =
            parent.map_or((false, false), |p| (p.removed, p.unwritten));
        if open.removed {
            if !parent_removed {
                // The enveloped part ends: left out.
                self.c_copied = self.pos;
            }
        } else if !verbatim {
            self.c_skip(from, self.pos);
            let out = &mut self.out.canonical;
            out.extend_from_slice(b"</");
            out.extend_from_slice(open.qname.as_bytes());
            out.push(b'>');
        }
        if open.unwritten {
            if !parent_unwritten {
                self.w_copied = self.pos;
            }
        } else if self.write && !verbatim {
            self.w_skip(from, self.pos);
            let out = &mut self.out.written;
            out.extend_from_slice(b"</");
            out.extend_from_slice(open.qname.as_bytes());
            out.push(b'>');
        }
        if let Some(r) = &mut self.out.read {
            r.end(&open.read, open.qname);
        }
        self.scope.truncate(open.scope_len);
        if self.stack.len() == 1 {
            self.out.children.push(Child {
                range: open.start..self.pos,
                local: open.local,
            });
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_where_the_byte_loop_ends_them() {
        // Each byte value at each offset of names shorter and longer than a word, with a
        // colon or more inside: length and colons (to two) as a byte at a time counts them.
        let by_byte = |b: &[u8]| {
            let len = b.iter().take_while(|&&c| is_name_char(c)).count();
            let colons = b[..len].iter().filter(|&&c| c == b':').count();
            (len, colons.min(2) as u32)
        };
        for base in [
            "a",
            "cbc:ID",
            "cac:AccountingSupplierParty",
            "a:b:c-d.e_f9:Zz",
        ] {
            for tail in ["", " x=\"1\"", ">", "é"] {
                let name = format!("{base}{tail}");
                for at in 0..name.len() {
                    for c in 0..=255u8 {
                        let mut b = name.as_bytes().to_vec();
                        b[at] = c;
                        assert_eq!(name_len(&b), by_byte(&b), "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn attribute_runs_end_where_the_byte_loop_does() {
        // Each byte value at each offset (from each start), in inputs whose length is and is
        // not a multiple of eight, among plain bytes and multi-byte UTF-8.
        let bytes =
            |c: u8, quote: u8| matches!(c, b'<' | b'&' | b'\t' | b'\n' | b'\r') || c == quote;
        for fill in "aé€😀".as_bytes().chunks(1).map(|c| c[0]).take(3) {
            for quote in [b'"', b'\''] {
                for len in [1, 7, 8, 9, 16, 21] {
                    for at in 0..len {
                        for c in 0..=255u8 {
                            let mut b = vec![fill; len];
                            b[at] = c;
                            for from in [0, 1, 5, 8].into_iter().filter(|&f| f <= len) {
                                let expected =
                                    (from..len).find(|&i| bytes(b[i], quote)).unwrap_or(len);
                                assert_eq!(attr_run_end(&b, from, quote), expected, "{from} {b:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn same_is_equality_at_every_length_and_offset() {
        let a: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=a.len() {
            assert!(same(&a[..n], &a[..n]), "{n}");
            for at in 0..n {
                let mut b = a[..n].to_vec();
                b[at] ^= 0x20;
                assert!(!same(&a[..n], &b), "{n} {at}");
            }
            if n > 0 {
                assert!(!same(&a[..n], &a[..n - 1]), "{n}");
            }
        }
    }

    #[test]
    fn attribute_values_read_plain_or_expanded_are_the_same() {
        // A value with a reference or a refused byte at each offset of its word: the plain
        // search hands it to `attr_value`, which expands or refuses it as before.
        for at in 0..17 {
            let doc = |value: &str| {
                format!(
                    "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">\
                     <a b=\"{value}\" c='{value}'/></Invoice>"
                )
            };
            let pad = "x".repeat(at);
            let canonical = |value: &str| {
                let d = doc(value);
                let scanned = scan(d.as_bytes(), true).unwrap_or_else(|| panic!("{d}"));
                String::from_utf8_lossy(&scanned.canonical).into_owned()
            };
            let expected = format!("<a b=\"{pad}v\" c=\"{pad}v\"></a>");
            assert!(canonical(&format!("{pad}v")).contains(&expected), "{at}");
            let expected = format!("<a b=\"{pad}&amp;&lt;A\" c=\"{pad}&amp;&lt;A\"></a>");
            let refs = canonical(&format!("{pad}&amp;&lt;&#x41;"));
            assert!(refs.contains(&expected), "{refs}");
            for bad in ["<", "\t", "\n", "\r", "&bogus;"] {
                let d = doc(&format!("{pad}{bad}"));
                assert!(scan(d.as_bytes(), true).is_none(), "{d:?}");
            }
        }
    }

    #[test]
    fn end_tags_match_their_start_tags_at_every_name_length() {
        // Names of each length the word comparison splits differently, and one byte off at
        // each place: the end tag must match exactly.
        for len in 1..=30 {
            let name: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let doc = |end: &str| {
                format!(
                    "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">\
                     <{name}>v</{end}></Invoice>"
                )
            };
            let ok = doc(&name);
            let scanned = scan(ok.as_bytes(), true).unwrap_or_else(|| panic!("{ok}"));
            let expected = format!("<{name}>v</{name}>");
            assert!(
                String::from_utf8_lossy(&scanned.canonical).contains(&expected),
                "{ok}"
            );
            for at in 0..len {
                let mut wrong = name.clone().into_bytes();
                wrong[at] = b'Z';
                let bad = doc(&String::from_utf8_lossy(&wrong));
                assert!(scan(bad.as_bytes(), true).is_none(), "{bad}");
            }
            for bad in [doc(&format!("{name}x")), doc(&name[..len - 1])] {
                assert!(scan(bad.as_bytes(), true).is_none(), "{bad}");
            }
        }
    }
}

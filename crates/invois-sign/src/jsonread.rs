//! Reading a few values out of minified JSON without building a tree.
//!
//! Verification reads about thirty leaves of a JSON document: the type code, the issuer
//! party's identifiers and the signature block. Parsing the members that hold them into
//! `serde_json::Value`s (an ordered map per object, a `String` per string) cost a quarter of
//! verifying a one-line invoice. The scanner (`jsonscan`) has already checked the document and
//! written each member of `Invoice[0]` minified as serde_json writes it, so these bytes are
//! valid JSON with no whitespace, no repeated member name and no escape in a name: walking
//! them needs no more than finding where each value ends. Each accessor answers what the
//! same accessor of a `Value` parsed from the document answers (`get`, `as_array`, `as_str`),
//! and a value's bytes are what `serde_json::to_vec` writes for it.

use std::borrow::Cow;

/// One value, as serde_json writes it minified. Only ever built over the scanner's output.
///
/// The bytes start at the value and may run on past its end (to the end of the member that
/// holds it): walking down a path then skips only the siblings before each step, never the
/// value stepped into, and a value's end is found only when it is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Json<'a>(&'a [u8]);

/// Where the value starting at `pos` ends (exclusive). The input is valid minified JSON.
fn value_end(b: &[u8], pos: usize) -> usize {
    match b[pos] {
        b'"' => string_end(b, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = pos;
            loop {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        // A number or a literal runs to the next delimiter.
        _ => {
            let mut i = pos;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']') {
                i += 1;
            }
            i
        }
    }
}

/// Where the string starting (with its quote) at `pos` ends, after its closing quote.
fn string_end(b: &[u8], pos: usize) -> usize {
    let mut i = pos + 1;
    loop {
        // Eight bytes at a time to the next quote or backslash: the certificate and the
        // signature value are long strings, skipped on every walk past them.
        while let Some(chunk) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            if has_byte(w, b'"') || has_byte(w, b'\\') {
                break;
            }
            i += 8;
        }
        match b[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// Whether any byte of `w` is `byte` (the classic zero-byte test on `w ^ byte * 0x01..01`).
fn has_byte(w: u64, byte: u8) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let x = w ^ (LO * u64::from(byte));
    x.wrapping_sub(LO) & !x & HI != 0
}

/// The elements of an array, each found when the one before is passed.
struct Elements<'a> {
    b: &'a [u8],
    /// The start of the next element, or of the last one handed out when `pending`.
    pos: usize,
    pending: bool,
    done: bool,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Json<'a>;

    fn next(&mut self) -> Option<Json<'a>> {
        if self.done {
            return None;
        }
        if self.pending {
            let end = value_end(self.b, self.pos);
            if self.b[end] != b',' {
                self.done = true;
                return None;
            }
            self.pos = end + 1;
        }
        self.pending = true;
        Some(Json(&self.b[self.pos..]))
    }
}

/// One step of [`Json::visit_elements`]: the member of this name of an object, then every
/// element of the array there (`true`) or its first only (`false`).
pub(crate) type Step<'k> = (&'k str, bool);

/// [`Json::visit_elements`] from the object at `pos`; returns where it ends.
fn visit<'a>(b: &'a [u8], pos: usize, path: &[Step<'_>], f: &mut impl FnMut(Json<'a>)) -> usize {
    let Some((&(key, all), rest)) = path.split_first() else {
        f(Json(&b[pos..]));
        return value_end(b, pos);
    };
    if b[pos] != b'{' {
        return value_end(b, pos);
    }
    if b[pos + 1] == b'}' {
        return pos + 2;
    }
    let mut i = pos + 1;
    loop {
        let name_end = string_end(b, i);
        let value_at = name_end + 1;
        let end = if &b[i + 1..name_end - 1] == key.as_bytes() && b[value_at] == b'[' {
            visit_array(b, value_at, all, rest, f)
        } else {
            value_end(b, value_at)
        };
        if b[end] != b',' {
            return end + 1;
        }
        i = end + 1;
    }
}

/// The elements of the array at `pos` (all, or the first only) through `visit`; returns
/// where the array ends.
fn visit_array<'a>(
    b: &'a [u8],
    pos: usize,
    all: bool,
    path: &[Step<'_>],
    f: &mut impl FnMut(Json<'a>),
) -> usize {
    if b[pos + 1] == b']' {
        return pos + 2;
    }
    let mut i = pos + 1;
    let mut first = true;
    loop {
        let end = if first || all {
            visit(b, i, path, f)
        } else {
            value_end(b, i)
        };
        first = false;
        if b[end] != b',' {
            return end + 1;
        }
        i = end + 1;
    }
}

impl<'a> Json<'a> {
    /// Calls `f` with every value reached from the elements of this array along `path`, in
    /// document order, passing over each byte once (chaining `elements` and `array` would
    /// pass over an element again at every level to find where it ends). Nothing for a value
    /// that is not an array.
    pub(crate) fn visit_elements(self, path: &[Step<'_>], mut f: impl FnMut(Json<'a>)) {
        if self.0.first() == Some(&b'[') {
            visit_array(self.0, 0, true, path, &mut f);
        }
    }

    /// A value over bytes the scanner wrote (minified, valid, no repeated names).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Json(bytes)
    }

    /// The value as serde_json writes it.
    pub(crate) fn bytes(self) -> &'a [u8] {
        &self.0[..value_end(self.0, 0)]
    }

    /// The member named `key` of an object, and (with `find_all`) every member: calls `f` with
    /// each member's index in `keys` and its value, skipping only what lies before the last
    /// one wanted.
    fn scan_members(self, keys: &[&str], mut f: impl FnMut(usize, Json<'a>)) {
        let b = self.0;
        if b.first() != Some(&b'{') || b.get(1) == Some(&b'}') {
            return;
        }
        let mut left = keys.len();
        let mut pos = 1;
        while left > 0 {
            // `"name":value` then `,` or the closing `}`; names carry no escape.
            let name_end = string_end(b, pos);
            let name = &b[pos + 1..name_end - 1];
            let value_at = name_end + 1;
            if let Some(i) = keys.iter().position(|k| k.as_bytes() == name) {
                f(i, Json(&b[value_at..]));
                left -= 1;
                if left == 0 {
                    return;
                }
            }
            let end = value_end(b, value_at);
            if b[end] != b',' {
                return;
            }
            pos = end + 1;
        }
    }

    /// The member `key` of an object (`Value::get`).
    pub(crate) fn get(self, key: &str) -> Option<Json<'a>> {
        let mut out = None;
        self.scan_members(&[key], |_, v| out = Some(v));
        out
    }

    /// The members named in `keys`, in one pass over the object.
    pub(crate) fn fields<const N: usize>(self, keys: [&str; N]) -> [Option<Json<'a>>; N] {
        let mut out = [None; N];
        self.scan_members(&keys, |i, v| out[i] = Some(v));
        out
    }

    /// The elements of an array (`Value::as_array`); `None` for anything else.
    pub(crate) fn elements(self) -> Option<impl Iterator<Item = Json<'a>>> {
        let b = self.0;
        if b.first() != Some(&b'[') {
            return None;
        }
        Some(Elements {
            b,
            pos: 1,
            pending: false,
            done: b.get(1) == Some(&b']'),
        })
    }

    /// The elements of the array under `key`, none when it is missing or not an array.
    pub(crate) fn array(self, key: &str) -> impl Iterator<Item = Json<'a>> {
        self.get(key).and_then(Json::elements).into_iter().flatten()
    }

    /// The first element of the array under `key`.
    pub(crate) fn first(self, key: &str) -> Option<Json<'a>> {
        self.get(key)?.elements()?.next()
    }

    /// Through the first element of each array named in turn.
    pub(crate) fn walk(self, keys: &[&str]) -> Option<Json<'a>> {
        let mut cur = self;
        for k in keys {
            cur = cur.first(k)?;
        }
        Some(cur)
    }

    /// A string's text, unescaped (`Value::as_str`); `None` for anything else.
    pub(crate) fn as_str(self) -> Option<Cow<'a, str>> {
        if self.0.first() != Some(&b'"') {
            return None;
        }
        let b = self.bytes();
        let inner = &b[1..b.len() - 1];
        if inner.contains(&b'\\') {
            serde_json::from_slice::<String>(b).ok().map(Cow::Owned)
        } else {
            std::str::from_utf8(inner).ok().map(Cow::Borrowed)
        }
    }

    /// The member `key` if it is a string.
    pub(crate) fn str_attr(self, key: &str) -> Option<String> {
        self.get(key)?.as_str().map(Cow::into_owned)
    }

    /// The `_` of a leaf as text: a string as is, a number by its text (what serde_json's
    /// arbitrary-precision `Number` displays, which is what it writes), `true` or `false`.
    pub(crate) fn leaf_text(self) -> Option<String> {
        let v = self.get("_")?;
        match v.0.first()? {
            b'"' => v.as_str().map(Cow::into_owned),
            b'-' | b'0'..=b'9' | b't' | b'f' => {
                std::str::from_utf8(v.bytes()).ok().map(str::to_owned)
            }
            _ => None,
        }
    }

    /// The leaf text at the end of `keys`.
    pub(crate) fn text_at(self, keys: &[&str]) -> Option<String> {
        self.walk(keys)?.leaf_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every accessor against `Value`'s on the same document, written minified by serde_json.
    #[test]
    fn reads_what_a_value_reads() {
        let doc = r#"{"A":[{"_":"x\"y\\é\n","n":[1.50,-2e+5,true,null,{}]}],"B":[],"C":{},"D":"s","E":[[1],{"F":"}]"}],"G":[{"_":12.0},{"_":false},{"_":null},{"_":[1]}],"H":[{"_":"a","Algorithm":7}]}"#;
        let v: Value = serde_json::from_str(doc).unwrap();
        let written = serde_json::to_vec(&v).unwrap();
        assert_eq!(written, doc.as_bytes());
        let j = Json::new(&written);
        for key in ["A", "B", "C", "D", "E", "G", "H", "Z"] {
            assert_eq!(
                j.get(key).map(|x| x.bytes().to_vec()),
                v.get(key).map(|x| serde_json::to_vec(x).unwrap()),
                "{key}"
            );
            assert_eq!(
                j.get(key).and_then(Json::elements).map(|e| e.count()),
                v.get(key).and_then(Value::as_array).map(Vec::len),
                "{key}"
            );
        }
        assert_eq!(
            j.fields(["H", "A", "Q"])
                .map(|x| x.map(|x| x.bytes().len())),
            [
                Some(serde_json::to_vec(&v["H"]).unwrap().len()),
                Some(serde_json::to_vec(&v["A"]).unwrap().len()),
                None
            ]
        );
        assert_eq!(j.text_at(&["A"]).as_deref(), Some("x\"y\\é\n"));
        assert_eq!(j.get("D").unwrap().as_str().as_deref(), Some("s"));
        assert_eq!(j.get("E").unwrap().as_str(), None);
        let leaves: Vec<Option<String>> = j.array("G").map(Json::leaf_text).collect();
        assert_eq!(
            leaves,
            [Some("12.0".into()), Some("false".into()), None, None]
        );
        let h = j.first("H").unwrap();
        assert_eq!(h.str_attr("Algorithm"), None);
        assert_eq!(h.str_attr("_").as_deref(), Some("a"));
        assert_eq!(Json::new(b"[]").elements().map(|e| e.count()), Some(0));
        let mut seen = Vec::new();
        Json::new(br#"[{"A":[{"B":[1,{"C":2}],"Z":[3]},{"B":[4]}],"B":[5]},7,{"A":{}},{"A":[[],{"B":[8,9]}]}]"#)
            .visit_elements(&[("A", true), ("B", false)], |v| seen.push(v.bytes()));
        assert_eq!(seen, [b"1".as_slice(), b"4", b"8"]);
        assert_eq!(Json::new(b"{}").get("A").map(Json::bytes), None);
    }
}

//! A plain scan of a JSON object's top-level fields: no parse, no
//! allocation. For the common record (an object whose keys hold no
//! escapes, with nothing after it) it finds each field's raw value; the
//! rest is left to a full parse. It does not validate the values it passes
//! over, so it serves where every value is checked later anyway (the
//! Parquet encoder decodes each record whole) or where only a few values
//! matter (a fraction in an integer column).

use std::ops::ControlFlow;

/// Calls `field(key, raw value)` for each top-level field of the object
/// `value`, in document order, until it breaks (the rest of the value is
/// then not looked at). `None` when `value` cannot be scanned plainly: it
/// is not an object, a key holds an escape, or text follows the object.
pub(crate) fn for_each_field<'a>(
    value: &'a [u8],
    mut field: impl FnMut(&'a [u8], &'a [u8]) -> ControlFlow<()>,
) -> Option<()> {
    let mut at = skip_space(value, 0);
    if value.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_space(value, at + 1);
    if value.get(at) == Some(&b'}') {
        return nothing_after(value, at + 1);
    }
    loop {
        let (key, after_key) = plain_string(value, at)?;
        at = skip_space(value, after_key);
        if value.get(at) != Some(&b':') {
            return None;
        }
        let start = skip_space(value, at + 1);
        let end = value_end(value, start)?;
        if end == start {
            return None;
        }
        if field(key, &value[start..end]).is_break() {
            return Some(());
        }
        at = skip_space(value, end);
        match value.get(at) {
            Some(b',') => at = skip_space(value, at + 1),
            Some(b'}') => return nothing_after(value, at + 1),
            _ => return None,
        }
    }
}

fn nothing_after(value: &[u8], at: usize) -> Option<()> {
    (skip_space(value, at) == value.len()).then_some(())
}

/// The bytes that end a scalar value: a separator, a closing bracket, or
/// JSON whitespace (a table: one load per byte of the hot loop).
const ENDS_SCALAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = matches!(byte as u8, b',' | b'}' | b']') || is_json_space(byte as u8);
        byte += 1;
    }
    table
};

/// JSON's whitespace: space, tab, line feed, carriage return (not form
/// feed, which `u8::is_ascii_whitespace` counts).
const fn is_json_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(value: &[u8], mut at: usize) -> usize {
    while value.get(at).is_some_and(|c| is_json_space(*c)) {
        at += 1;
    }
    at
}

/// A string without escapes starting at `at`: its contents and the index
/// after its closing quote.
fn plain_string(value: &[u8], at: usize) -> Option<(&[u8], usize)> {
    if value.get(at) != Some(&b'"') {
        return None;
    }
    let rest = &value[at + 1..];
    let close = quote_or_escape(rest)?;
    (rest[close] == b'"').then(|| (&rest[..close], at + 1 + close + 1))
}

/// The first `"` or `\\` in `text`. Record strings are short (a ticker, a
/// date), where a plain loop beats `memchr2`'s setup; past 32 bytes it
/// hands over to `memchr2`.
fn quote_or_escape(text: &[u8]) -> Option<usize> {
    let head = text.len().min(32);
    match text[..head].iter().position(|c| matches!(c, b'"' | b'\\')) {
        Some(found) => Some(found),
        None => memchr::memchr2(b'"', b'\\', &text[head..]).map(|found| head + found),
    }
}

/// The end of the value starting at `at` (strings may hold escapes;
/// objects and arrays are skipped whole).
fn value_end(value: &[u8], at: usize) -> Option<usize> {
    match *value.get(at)? {
        b'"' => string_end(value, at),
        b'{' | b'[' => nested_end(value, at),
        _ => {
            let scalar = value[at..]
                .iter()
                .position(|c| ENDS_SCALAR[usize::from(*c)]);
            Some(at + scalar.unwrap_or(value.len() - at))
        }
    }
}

/// The index after the object or array starting at `at`.
fn nested_end(value: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    loop {
        match *value.get(i)? {
            b'"' => {
                i = string_end(value, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// The index after the string starting at `at`, escapes included.
fn string_end(value: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        let next = quote_or_escape(value.get(i..)?)? + i;
        if value[next] == b'"' {
            return Some(next + 1);
        }
        i = next + 2;
    }
}

/// True when `s` follows the JSON number grammar exactly.
pub(crate) fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "7", "2568.300049", "1e5", "-1.5E-3", "0.0"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "-", "007", "1.", ".5", "1,000", "+1", "1e", "NaN", " 1", "0x1f",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    fn scanned(value: &str) -> Option<Vec<(String, String)>> {
        let mut fields = Vec::new();
        for_each_field(value.as_bytes(), |k, v| {
            fields.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ));
            ControlFlow::Continue(())
        })?;
        Some(fields)
    }

    #[test]
    fn finds_each_top_level_field_and_leaves_the_unusual_to_the_parse() {
        let pairs = |p: &[(&str, &str)]| -> Option<Vec<(String, String)>> {
            Some(
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert_eq!(
            scanned(r#" { "a" : 1.5 , "b":{"c":[1,"}"]},"d":"x\"y" } "#),
            pairs(&[("a", "1.5"), ("b", r#"{"c":[1,"}"]}"#), ("d", r#""x\"y""#)])
        );
        assert_eq!(scanned("{}"), pairs(&[]));
        for unusual in [
            "[1]",
            r#"{"a\u0062":1}"#,
            r#"{"a":1} {"b":2}"#,
            r#"{"a":1"#,
            r#"{"a":,"b":1}"#,
            r#"{"a":"open}"#,
            r#"{"a" 1}"#,
            "",
        ] {
            assert_eq!(scanned(unusual), None, "{unusual}");
        }
    }
}

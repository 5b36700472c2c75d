//! A plain scan of a JSON object's top-level fields: no parse, no
//! allocation. For the common record (an object whose keys hold no
//! escapes, with nothing after it) it finds each field's raw value; the
//! rest is left to a full parse. [`for_each_field`] does not validate the
//! values it passes over, so it serves where every value is checked later
//! anyway (the Parquet encoder decodes each record whole) or where only a
//! few values matter; [`for_each_valid_field`] checks each value's grammar
//! in the same pass, for records whose values are copied through.

use std::ops::ControlFlow;

pub(crate) use super::known_keys::KnownKeys;

/// Calls `field(key, raw value)` for each top-level field of the object
/// `value`, in document order, until it breaks (the rest of the value is
/// then not looked at). `None` when `value` cannot be scanned plainly: it
/// is not an object, a key holds an escape, or text follows the object.
pub(crate) fn for_each_field<'a>(
    value: &'a [u8],
    field: impl FnMut(&'a [u8], &'a [u8]) -> ControlFlow<()>,
) -> Option<()> {
    walk_fields(value, value_end, None, field)
}

/// [`for_each_field`] checking each value's JSON grammar as it passes
/// (strings' escapes and control characters, numbers, literals; nested
/// values by serde_json): `None` also for a value that is not valid JSON.
/// Neither checks UTF-8: the caller checks the document once. `known`
/// holds the keys of the objects scanned before it (see [`KnownKeys`]).
pub(crate) fn for_each_valid_field<'a>(
    value: &'a [u8],
    known: &mut KnownKeys,
    field: impl FnMut(&'a [u8], &'a [u8]) -> ControlFlow<()>,
) -> Option<()> {
    walk_fields(value, valid_value_end, Some(known), field)
}

/// The top-level walk of both scans; `end_of` finds (and may check) the
/// value starting at an index.
fn walk_fields<'a>(
    value: &'a [u8],
    end_of: impl Fn(&[u8], usize) -> Option<usize>,
    mut known: Option<&mut KnownKeys>,
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
    for index in 0.. {
        // Compact JSON (what records nearly always are) has the colon, the
        // value, the comma and the next key right after each other: each
        // is tested for where it should be, whitespace skipped only when
        // it is not there.
        let (key, colon) = key_at(value, at, index, known.as_deref_mut())?;
        let start = match value.get(colon + 1) {
            Some(c) if *c > b' ' => colon + 1,
            _ => skip_space(value, colon + 1),
        };
        let end = end_of(value, start)?;
        if end == start {
            return None;
        }
        if field(key, &value[start..end]).is_break() {
            return Some(());
        }
        let comma = match value.get(end) {
            Some(b',') => end,
            Some(b'}') => return nothing_after(value, end + 1),
            _ => {
                let after = skip_space(value, end);
                match value.get(after) {
                    Some(b',') => after,
                    Some(b'}') => return nothing_after(value, after + 1),
                    _ => return None,
                }
            }
        };
        at = match value.get(comma + 1) {
            Some(b'"') => comma + 1,
            _ => skip_space(value, comma + 1),
        };
    }
    unreachable!("an object has fewer than usize::MAX fields")
}

/// The `index`th key of an object, starting at `at`, and the index of the
/// colon after it: from `known` when it is there, else read (and then
/// remembered). Inlined into the walk: a call per field cost more than
/// the reading it saves.
#[inline(always)]
fn key_at<'a>(
    value: &'a [u8],
    at: usize,
    index: usize,
    known: Option<&mut KnownKeys>,
) -> Option<(&'a [u8], usize)> {
    match known {
        Some(known) => match known.at(value, at, index) {
            Some(found) => Some(found),
            None => read_key_learning(value, at, index, known),
        },
        None => read_key(value, at).map(|(key, _, colon)| (key, colon)),
    }
}

/// The key starting at `at`: its text, the index after it and the index
/// of the colon after that.
fn read_key(value: &[u8], at: usize) -> Option<(&[u8], usize, usize)> {
    let (key, after_key) = plain_string(value, at)?;
    Some((key, after_key, expect(value, after_key, b':')?))
}

/// [`read_key`], remembering the key as the `index`th in `known`.
#[inline(never)]
fn read_key_learning<'a>(
    value: &'a [u8],
    at: usize,
    index: usize,
    known: &mut KnownKeys,
) -> Option<(&'a [u8], usize)> {
    let (key, after_key, colon) = read_key(value, at)?;
    // Only a key right before its colon is remembered.
    let bytes = match colon == after_key {
        true => &value[at..=colon],
        false => &[],
    };
    known.learn(index, bytes);
    Some((key, colon))
}

/// The index of `byte` at `at`, or after the JSON whitespace there.
fn expect(value: &[u8], at: usize, byte: u8) -> Option<usize> {
    if value.get(at) == Some(&byte) {
        return Some(at);
    }
    let at = skip_space(value, at);
    (value.get(at) == Some(&byte)).then_some(at)
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
    // Compact JSON has none: one test for the common case.
    while value
        .get(at)
        .is_some_and(|c| *c <= b' ' && is_json_space(*c))
    {
        at += 1;
    }
    at
}

/// A string without escapes or control characters starting at `at`: its
/// contents and the index after its closing quote.
pub(crate) fn plain_string(value: &[u8], at: usize) -> Option<(&[u8], usize)> {
    if value.get(at) != Some(&b'"') {
        return None;
    }
    let rest = &value[at + 1..];
    let close = string_stop(rest)?;
    (rest[close] == b'"').then(|| (&rest[..close], at + 1 + close + 1))
}

/// Eight bytes at a time: each byte of a word set to `byte`.
const fn lanes(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// `bytes` as text: checked eight bytes at a time for ASCII (what record
/// values nearly always are; std's `from_utf8` takes its word-wise path
/// only from an aligned address and costs about three times as much on a
/// typical record), by `from_utf8` otherwise.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().iter().fold(0, |high, b| high | b);
    let high = words.fold(0, |high, word| {
        high | u64::from_le_bytes(word.try_into().expect("eight bytes"))
    });
    if high & lanes(0x80) == 0 && tail < 0x80 {
        // SAFETY: every byte is below 0x80: ASCII, which is UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
}

/// The first byte of `text` a JSON string does not hold as itself: a
/// quote, the escape character or a control character. Eight bytes at a
/// time: a lane's high bit marks a zero byte of `word ^ lanes(c)` (or a
/// byte below 0x20); a borrow can mark lanes above the first marked one
/// too, never below it, so the lowest mark is the answer.
fn string_stop(text: &[u8]) -> Option<usize> {
    let (mut at, high) = (0, lanes(0x80));
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let below = |w: u64, n: u8| w.wrapping_sub(lanes(n)) & !w & high;
        let stops =
            below(word, 0x20) | below(word ^ lanes(b'"'), 1) | below(word ^ lanes(b'\\'), 1);
        if stops != 0 {
            return Some(at + (stops.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = text[at..]
        .iter()
        .position(|c| *c < 0x20 || matches!(c, b'"' | b'\\'));
    tail.map(|found| at + found)
}

/// The end of the valid JSON value starting at `at`.
#[inline(always)]
fn valid_value_end(value: &[u8], at: usize) -> Option<usize> {
    match *value.get(at)? {
        b'"' => valid_string_end(value, at),
        b'-' | b'0'..=b'9' => number_end(value, at),
        b't' => literal_end(value, at, b"true"),
        b'f' => literal_end(value, at, b"false"),
        b'n' => literal_end(value, at, b"null"),
        b'{' | b'[' => {
            let end = nested_end(value, at)?;
            let nested = serde_json::from_slice::<serde::de::IgnoredAny>(&value[at..end]);
            nested.is_ok().then_some(end)
        }
        _ => None,
    }
}

fn literal_end(value: &[u8], at: usize, literal: &[u8]) -> Option<usize> {
    value[at..]
        .starts_with(literal)
        .then_some(at + literal.len())
}

/// The index after the valid string starting at `at`: no control
/// characters, only JSON's escapes.
fn valid_string_end(value: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += string_stop(value.get(i..)?)?;
        match value[i] {
            b'"' => return Some(i + 1),
            b'\\' => i = escape_end(value, i + 1)?,
            _ => return None,
        }
    }
}

/// The index after the escape whose letter is at `at`.
fn escape_end(value: &[u8], at: usize) -> Option<usize> {
    match *value.get(at)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(at + 1),
        b'u' => {
            let hex = value.get(at + 1..at + 5)?;
            hex.iter().all(u8::is_ascii_hexdigit).then_some(at + 5)
        }
        _ => None,
    }
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
    is_plain_decimal(s) || number_end(s, 0) == Some(s.len())
}

/// A quick yes for the common number cell of 8 to 16 bytes: digits with
/// at most a leading minus and one point between digits, no leading zero
/// (false means only "not this quick"). The cell is read as its first and
/// last eight bytes; each lane is marked when it is not a digit, exactly
/// (the lane's top bit is cleared before the add, so nothing carries
/// between lanes).
fn is_plain_decimal(s: &[u8]) -> bool {
    let len = s.len();
    if !(8..=16).contains(&len) {
        return false;
    }
    let non_digits = |at: usize| {
        let word = u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes")) ^ lanes(b'0');
        let marks = ((word & lanes(0x7f)).wrapping_add(lanes(0x76)) | word) & lanes(0x80);
        // One bit per lane: the marks gathered into the top byte.
        (marks >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
    };
    let start = usize::from(s[0] == b'-');
    let mask = (non_digits(0) | non_digits(len - 8) << (len - 8)) & !(start as u64);
    let first = s.get(start).copied();
    let leading_zero = |int_len: usize| first == Some(b'0') && int_len > 1;
    match mask {
        0 => len > start && !leading_zero(len - start),
        _ if mask & (mask - 1) == 0 => {
            let point = mask.trailing_zeros() as usize;
            s[point] == b'.' && point > start && point + 1 < len && !leading_zero(point - start)
        }
        _ => false,
    }
}

/// True when `s` is exactly one valid JSON value, checked as
/// [`for_each_valid_field`] checks values (UTF-8 is the caller's).
pub(crate) fn is_json_value(s: &[u8]) -> bool {
    valid_value_end(s, 0) == Some(s.len())
}

/// The index after the JSON number starting at `at` (the longest prefix
/// that follows the grammar), `None` when none starts there.
#[inline(always)]
fn number_end(s: &[u8], mut at: usize) -> Option<usize> {
    if s.get(at) == Some(&b'-') {
        at += 1;
    }
    match *s.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at = digits_end(s, at + 1),
        _ => return None,
    }
    if s.get(at) == Some(&b'.') {
        let end = digits_end(s, at + 1);
        if end == at + 1 {
            return None;
        }
        at = end;
    }
    if matches!(s.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(s.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let end = digits_end(s, at);
        if end == at {
            return None;
        }
        at = end;
    }
    Some(at)
}

/// The index after the digits starting at `at`. Eight bytes at a time: a
/// digit is a byte `x` with `x ^ 0x30` at most 9; adding 0x76 sets the
/// lane's high bit for anything larger (a carry out of a lane follows a
/// non-digit, so the lowest mark is the first non-digit).
#[inline(always)]
pub(crate) fn digits_end(s: &[u8], mut at: usize) -> usize {
    while let Some(chunk) = s.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ lanes(b'0');
        let non_digits = (word.wrapping_add(lanes(0x76)) | word) & lanes(0x80);
        if non_digits != 0 {
            return at + (non_digits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while s.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_ascii_or_checked_utf8_at_any_length() {
        for len in 0..40 {
            let ascii = "a".repeat(len);
            assert_eq!(utf8(ascii.as_bytes()), Ok(ascii.as_str()));
            for at in 0..len {
                let mut bytes = ascii.clone().into_bytes();
                bytes[at] = 0xff;
                assert!(utf8(&bytes).is_err(), "0xff at {at} of {len}");
                let text = format!("{}é{}", &ascii[..at], &ascii[at..]);
                assert_eq!(utf8(text.as_bytes()), Ok(text.as_str()));
            }
        }
    }

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

    #[test]
    fn number_cells_take_the_quick_reading() {
        for cell in [
            "1997.948548",
            "213225670.0",
            "-0.12345678",
            "12345678",
            "1958.04912166",
        ] {
            assert!(is_plain_decimal(cell.as_bytes()), "{cell}");
        }
        for cell in [
            "01234567.8",
            "1234567.",
            "-.1234567",
            "1.2345e67",
            "12.34.567",
            "--1234567",
        ] {
            assert!(!is_plain_decimal(cell.as_bytes()), "{cell}");
        }
    }

    proptest::proptest! {
        /// The quick reading says yes only to what the grammar accepts.
        #[test]
        fn the_quick_reading_of_a_number_cell_agrees_with_the_grammar(
            cell in "-?[0-9.eE+-]{0,3}[0-9]{0,12}(\\.[0-9]{0,8})?[0-9.a-]{0,2}",
        ) {
            let bytes = cell.as_bytes();
            if is_plain_decimal(bytes) {
                proptest::prop_assert_eq!(number_end(bytes, 0), Some(bytes.len()), "{}", cell);
            }
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

    proptest::proptest! {
        /// The word-at-a-time searches find what a byte-by-byte loop finds.
        #[test]
        fn word_searches_match_the_plain_loops(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    b'0'..=b'9', proptest::strategy::Just(b'"'),
                    proptest::strategy::Just(b'\\'), proptest::num::u8::ANY,
                ],
                0..40,
            ),
            at in 0usize..40,
        ) {
            let stop = text.iter().position(|c| *c < 0x20 || matches!(c, b'"' | b'\\'));
            proptest::prop_assert_eq!(string_stop(&text), stop);
            let at = at.min(text.len());
            let digits = text[at..].iter().take_while(|c| c.is_ascii_digit()).count();
            proptest::prop_assert_eq!(digits_end(&text, at), at + digits);
        }

        /// Whitespace wherever JSON allows it between tokens (the scan
        /// looks for it only where the expected byte is not) leaves the
        /// fields as the compact text has them.
        #[test]
        fn whitespace_between_tokens_changes_no_field(
            gaps in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b' ', b'\t', b'\n', b'\r']),
                    0..3,
                ),
                14,
            ),
        ) {
            let tokens = [
                "{", r#""a""#, ":", "1.5", ",", r#""b""#, ":", "[1, 2]", ",", r#""c""#, ":",
                r#""x""#, "}",
            ];
            let mut text = Vec::new();
            for (gap, token) in gaps.iter().zip(tokens) {
                text.extend(gap);
                text.extend(token.as_bytes());
            }
            text.extend(&gaps[13]);
            let mut fields = Vec::new();
            let scanned = for_each_valid_field(&text, &mut KnownKeys::default(), |k, v| {
                fields.push((k.to_vec(), v.to_vec()));
                ControlFlow::Continue(())
            });
            let expected: Vec<(Vec<u8>, Vec<u8>)> =
                [("a", "1.5"), ("b", "[1, 2]"), ("c", r#""x""#)]
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect();
            proptest::prop_assert_eq!(scanned, Some(()));
            proptest::prop_assert_eq!(fields, expected);
        }
    }

    #[test]
    fn the_validating_scan_refuses_what_is_not_json() {
        let valid = |value: &str| {
            for_each_valid_field(value.as_bytes(), &mut KnownKeys::default(), |_, _| {
                ControlFlow::Continue(())
            })
            .is_some()
        };
        for ok in [
            r#"{"a":"x\"\\\/\b\f\n\r\t\u00e9y","b":-0.5e+3,"c":[1,{"d":null}],"e":true,"f":false}"#,
            r#" { "a" : 0 , "b" : "" } "#,
            "{}",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            r#"{"a":12x}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":"\q"}"#,
            r#"{"a":"\u12g4"}"#,
            "{\"a\":\"tab\tinside\"}",
            "{\"a\tb\":1}",
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":'x'}"#,
            r#"{"a":1,}"#,
            r#"{"a":1, }"#,
            r#"{"a":1,,"b":2}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":1 ,}"#,
            r#"{"a":1}x"#,
        ] {
            assert!(!valid(bad), "{bad}");
        }
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

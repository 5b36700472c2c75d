//! A plain scan of a JSON object's top-level fields: no parse, no
//! allocation. For the common record (an object whose keys hold no
//! escapes, with nothing after it) it finds each field's raw value; the
//! rest is left to a full parse. It does not validate the values it passes
//! over, so it serves where every value is checked later anyway (the
//! Parquet encoder decodes each record whole) or where only a few values
//! matter (a fraction in an integer column).

/// Calls `field(key, raw value)` for each top-level field of the object
/// `value`, in document order. `None` when `value` cannot be scanned
/// plainly: it is not an object, a key holds an escape, or text follows
/// the object.
pub(crate) fn for_each_field<'a>(
    value: &'a [u8],
    mut field: impl FnMut(&'a [u8], &'a [u8]),
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
        field(key, &value[start..end]);
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

fn skip_space(value: &[u8], mut at: usize) -> usize {
    while value.get(at).is_some_and(|c| c.is_ascii_whitespace()) {
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
    let close = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[close] == b'"').then(|| (&rest[..close], at + 1 + close + 1))
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
                .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace());
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
        let next = memchr::memchr2(b'"', b'\\', value.get(i..)?)? + i;
        if value[next] == b'"' {
            return Some(next + 1);
        }
        i = next + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(value: &str) -> Option<Vec<(String, String)>> {
        let mut fields = Vec::new();
        for_each_field(value.as_bytes(), |k, v| {
            fields.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
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

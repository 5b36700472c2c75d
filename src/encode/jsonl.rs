//! JSON Lines: one JSON value per line.

use bytes::{BufMut, BytesMut};

use super::{EncodeError, Encoder};
use crate::record::Record;

/// Writes each record value on its own line.
///
/// A single-line JSON value passes through byte for byte. A value that
/// spans lines (pretty-printed JSON) has its insignificant whitespace
/// removed, so that every object is one line. Values are expected to be
/// valid JSON; the lake sink checks this before records reach an encoder.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLinesEncoder;

impl JsonLinesEncoder {
    /// A JSON Lines encoder.
    pub fn new() -> Self {
        Self
    }
}

impl Encoder for JsonLinesEncoder {
    fn extension(&self) -> &str {
        "jsonl"
    }

    fn encode(&self, records: &[Record], out: &mut BytesMut) -> Result<(), EncodeError> {
        let total: usize = records.iter().map(|r| r.value.len() + 1).sum();
        out.reserve(total);
        for record in records {
            let value = &record.value[..];
            if memchr::memchr2(b'\n', b'\r', value).is_some() {
                compact_json(value, out);
            } else {
                out.put_slice(value);
            }
            out.put_u8(b'\n');
        }
        Ok(())
    }

    fn writes_lines_as_they_are(&self) -> bool {
        true
    }
}

/// Copies JSON text without whitespace outside strings. JSON strings cannot
/// hold raw line breaks, so the result is one line.
fn compact_json(value: &[u8], out: &mut BytesMut) {
    let (mut in_string, mut escaped) = (false, false);
    for &b in value {
        if in_string {
            out.put_u8(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.put_u8(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Position;

    fn encode(values: &[&str]) -> String {
        let records: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record::new(Position::new("t", 0, i as i64), v.to_string()))
            .collect();
        let mut out = BytesMut::new();
        JsonLinesEncoder.encode(&records, &mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn golden_passthrough_unicode_and_spaces_in_names() {
        let got = encode(&[
            r#"{"Index":"HSI","Adj Close":2568.300049,"Volume":0.0}"#,
            r#"{"name":"Zürich 日本","quote":"say \"hi\", ok","esc":"\u00e9"}"#,
        ]);
        assert_eq!(
            got,
            "{\"Index\":\"HSI\",\"Adj Close\":2568.300049,\"Volume\":0.0}\n\
             {\"name\":\"Zürich 日本\",\"quote\":\"say \\\"hi\\\", ok\",\"esc\":\"\\u00e9\"}\n"
        );
    }

    #[test]
    fn golden_multiline_values_become_one_line() {
        let got = encode(&["{\n  \"a b\": \"x y\\n\",\r\n  \"c\": [1, 2]\n}"]);
        assert_eq!(got, "{\"a b\":\"x y\\n\",\"c\":[1,2]}\n");
    }
}

//! CSV cells as JSON values: null, a number as written, or a string.

use bytes::{BufMut, BytesMut};

/// Writes a CSV cell as a JSON value: null, a number as written, or a string.
pub(super) fn write_cell(text: &str, out: &mut BytesMut) {
    if text.is_empty() {
        out.put_slice(b"null");
    } else if is_json_number(text.as_bytes()) {
        out.put_slice(text.as_bytes());
    } else if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.put_u8(b'"');
        out.put_slice(text.as_bytes());
        out.put_u8(b'"');
    } else {
        serde_json::to_writer(out.writer(), text).expect("writing to memory cannot fail");
    }
}

/// True when `s` follows the JSON number grammar exactly.
fn is_json_number(s: &[u8]) -> bool {
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

    fn cell(text: &str) -> String {
        let mut out = BytesMut::new();
        write_cell(text, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn cells_become_typed_json() {
        assert_eq!(cell(""), "null");
        assert_eq!(cell("2568.300049"), "2568.300049");
        assert_eq!(cell("000001.SS"), "\"000001.SS\"");
        assert_eq!(cell("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(cell("Zürich"), "\"Zürich\"");
    }
}

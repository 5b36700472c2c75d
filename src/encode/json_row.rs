//! The fast path of [`JsonColumns`](super::json_columns::JsonColumns): a
//! record written the way our own sources write them — compact, every
//! column once in schema order, nothing else — read straight into values
//! in one pass, without tokens, name lookups or a second parse of each
//! number.
//!
//! Anything else (whitespace, another order, a missing or extra field, an
//! escape, a number with an exponent, a number or date written as a
//! string) is not read here: the general path reads it, and makes the same
//! values of what this path accepts (a property test holds the two to it).

use super::json_values::{date_days, double};
use crate::schema::ColumnType;
use crate::time::parse_timestamp;
use crate::value::scan::{digits_end, plain_string, utf8};

/// One column's value in a record, before it is appended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cell<'a> {
    Null,
    Text(&'a str),
    Boolean(bool),
    Bigint(i64),
    Double(f64),
    /// Days since the epoch.
    Date(i32),
    /// Milliseconds since the epoch.
    Timestamp(i64),
}

/// The columns a record is expected to hold, in order.
pub(super) struct RowLayout {
    /// Each column's `"name":` after the byte before it (`{` or `,`);
    /// `None` for the whole layout when a name needs escaping: such
    /// records always take the general path.
    keys: Option<Vec<Vec<u8>>>,
    types: Vec<ColumnType>,
}

impl RowLayout {
    /// The layout of columns `(name, type)`.
    pub(super) fn new<'n>(columns: impl Iterator<Item = (&'n str, ColumnType)>) -> Self {
        let (names, types): (Vec<&str>, Vec<ColumnType>) = columns.unzip();
        let plain = |name: &&str| name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
        let keys = names.iter().all(plain).then(|| {
            let opener = |i| if i == 0 { '{' } else { ',' };
            let key = |(i, name)| format!("{}\"{name}\":", opener(i)).into_bytes();
            names.iter().enumerate().map(key).collect()
        });
        Self { keys, types }
    }

    /// Reads `value` into `cells` (one per column) when it has this
    /// layout; `false` (with `cells` in any state) when the general path
    /// must read it.
    pub(super) fn read<'a>(&self, value: &'a [u8], cells: &mut Vec<Cell<'a>>) -> bool {
        cells.clear();
        let (Some(keys), Ok(text)) = (&self.keys, utf8(value)) else {
            return false;
        };
        let mut at = 0;
        for (key, column_type) in keys.iter().zip(&self.types) {
            if !holds_at(value, at, key) {
                return false;
            }
            at += key.len();
            let Some((cell, end)) = cell_at(text, at, *column_type) else {
                return false;
            };
            cells.push(cell);
            at = end;
        }
        let closed = if keys.is_empty() { "{}" } else { "}" };
        text[at..] == *closed
    }
}

/// Whether `value` holds `expected` at `at`, compared eight bytes at a
/// time: keys are short, and a call to `memcmp` for each cost more than
/// the comparison.
fn holds_at(value: &[u8], at: usize, expected: &[u8]) -> bool {
    let Some(window) = value.get(at..at + expected.len()) else {
        return false;
    };
    let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
    let mut words = window.chunks_exact(8).zip(expected.chunks_exact(8));
    let tail = expected.len() / 8 * 8;
    let same_tail = || {
        window[tail..]
            .iter()
            .zip(&expected[tail..])
            .all(|(a, b)| a == b)
    };
    words.all(|(a, b)| word(a) == word(b)) && same_tail()
}

/// The value of `column_type` starting at `at`, and the index after it.
fn cell_at(text: &str, at: usize, column_type: ColumnType) -> Option<(Cell<'_>, usize)> {
    let bytes = text.as_bytes();
    if bytes[at..].starts_with(b"null") {
        return Some((Cell::Null, at + 4));
    }
    match column_type {
        ColumnType::String => string_at(text, at).map(|(s, end)| (Cell::Text(s), end)),
        ColumnType::Boolean => match &bytes[at..] {
            [b't', b'r', b'u', b'e', ..] => Some((Cell::Boolean(true), at + 4)),
            [b'f', b'a', b'l', b's', b'e', ..] => Some((Cell::Boolean(false), at + 5)),
            _ => None,
        },
        ColumnType::Bigint => {
            let (number, end) = decimal_at(bytes, at)?;
            Some((Cell::Bigint(number.whole()?), end))
        }
        ColumnType::Double => {
            let (number, end) = decimal_at(bytes, at)?;
            // Past the fast path's digits: the general path's parser.
            let value = number.double().or_else(|| double(&bytes[at..end]).ok()?)?;
            Some((Cell::Double(value), end))
        }
        ColumnType::Date => {
            let (date, end) = string_at(text, at)?;
            Some((Cell::Date(date_days(date)?), end))
        }
        ColumnType::Timestamp => {
            let (time, end) = string_at(text, at)?;
            Some((Cell::Timestamp(parse_timestamp(time)?), end))
        }
    }
}

/// A string without escapes or control characters at `at`: its contents
/// and the index after its closing quote.
fn string_at(text: &str, at: usize) -> Option<(&str, usize)> {
    let (contents, end) = plain_string(text.as_bytes(), at)?;
    Some((&text[at + 1..at + 1 + contents.len()], end))
}

/// A number written `-?int[.fraction]` (JSON's grammar without the
/// exponent), read as one integer of its digits.
struct Decimal {
    negative: bool,
    /// The digits, integer and fraction, as one number, when there are at
    /// most 18 of them (`None`: more).
    digits: Option<u64>,
    /// Digits after the point.
    scale: usize,
}

/// Exact powers of ten as doubles, as far as [`Decimal`]'s scale goes.
const POWERS_OF_TEN: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The same as integers (`u64::pow` is a loop).
const POWERS_OF_TEN_U64: [u64; 19] = {
    let mut powers = [1u64; 19];
    let mut k = 1;
    while k < 19 {
        powers[k] = powers[k - 1] * 10;
        k += 1;
    }
    powers
};

impl Decimal {
    /// The value when it converts exactly in one division: at most 15
    /// digits make an integer below 2^53 and the power of ten under them
    /// is exact, so the division's one rounding is correct (Clinger's fast
    /// path).
    fn double(&self) -> Option<f64> {
        let digits = self.digits.filter(|d| *d < 1 << 53)?;
        let magnitude = digits as f64 / POWERS_OF_TEN[self.scale];
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The value of a number without fraction.
    fn whole(&self) -> Option<i64> {
        if self.scale > 0 {
            return None;
        }
        let magnitude = i64::try_from(self.digits?).ok()?;
        Some(if self.negative { -magnitude } else { magnitude })
    }
}

/// The number at `at` and the index after it: `None` when there is none,
/// it breaks JSON's grammar or has an exponent.
fn decimal_at(bytes: &[u8], at: usize) -> Option<(Decimal, usize)> {
    let negative = bytes.get(at) == Some(&b'-');
    let start = at + usize::from(negative);
    let int_end = digits_end(bytes, start);
    if int_end == start || int_end - start > 1 && bytes[start] == b'0' {
        return None;
    }
    let (fraction, end) = match bytes.get(int_end) {
        Some(b'.') => {
            let end = digits_end(bytes, int_end + 1);
            (&bytes[int_end + 1..end], end)
        }
        _ => (&[][..], int_end),
    };
    let point = end > int_end;
    if point && fraction.is_empty() || matches!(bytes.get(end), Some(b'e' | b'E')) {
        return None;
    }
    let scale = fraction.len();
    let digits = (int_end - start + scale <= 18).then(|| {
        let int = digits_value(bytes, start, int_end - start);
        let fraction = digits_value(bytes, int_end + 1, scale);
        int * POWERS_OF_TEN_U64[scale] + fraction
    });
    let number = Decimal {
        negative,
        digits,
        scale,
    };
    Some((number, end))
}

/// The value of the `len` digits at `start` (at most 18).
fn digits_value(bytes: &[u8], start: usize, len: usize) -> u64 {
    match bytes.get(start..start + 8) {
        _ if len == 0 => 0,
        Some(word) if len <= 8 => eight_digits(word, len),
        _ => bytes[start..start + len]
            .iter()
            .fold(0, |number, digit| number * 10 + u64::from(digit - b'0')),
    }
}

/// The value of the first `len` (one to eight) digits of `word`, read at
/// once (fast_float's `parse_eight_digits_unrolled`): less '0' in every
/// byte (a byte past the digits may borrow, only from the bytes above
/// it), the digits shifted to the top with zeros (leading zeros) under
/// them, then pairs, fours and the halves combined by multiplication.
fn eight_digits(word: &[u8], len: usize) -> u64 {
    let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
    let digits = word.wrapping_sub(0x3030_3030_3030_3030) << (8 * (8 - len));
    let pairs = digits.wrapping_mul(10).wrapping_add(digits >> 8);
    let low = (pairs & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((pairs >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::value::scan::is_json_number;

    proptest! {
        #[test]
        fn numbers_are_read_as_the_standard_parser_reads_them(
            text in "-?[0-9]{0,19}(\\.[0-9]{0,19})?([eE][0-9])?",
        ) {
            let bytes = text.as_bytes();
            let read = decimal_at(bytes, 0).filter(|(_, end)| *end == bytes.len());
            if let Some((number, _)) = &read {
                prop_assert!(is_json_number(bytes), "{} is not JSON", text);
                if let Some(value) = number.double() {
                    let standard: f64 = text.parse().unwrap();
                    prop_assert_eq!(value.to_bits(), standard.to_bits(), "{}", text);
                }
                if let Some(whole) = number.whole() {
                    prop_assert_eq!(Ok(whole), text.parse::<i64>(), "{}", text);
                }
            }
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            let plain = !text.contains(['e', 'E']);
            if is_json_number(bytes) && plain && digits <= 15 {
                prop_assert!(read.is_some_and(|(n, _)| n.double().is_some()), "{}", text);
            }
        }
    }

    proptest! {
        #[test]
        fn eight_digits_at_once_are_their_value(
            digits in "[0-9]{1,8}",
            after in proptest::collection::vec(any::<u8>(), 8),
        ) {
            let mut word = digits.as_bytes().to_vec();
            word.extend_from_slice(&after[..8 - digits.len()]);
            prop_assert_eq!(eight_digits(&word, digits.len()), digits.parse::<u64>().unwrap());
        }
    }

    fn layout(columns: &[(&str, ColumnType)]) -> RowLayout {
        RowLayout::new(columns.iter().map(|(n, t)| (*n, *t)))
    }

    #[test]
    fn reads_records_in_layout_and_leaves_the_rest() {
        use ColumnType::*;
        let layout = layout(&[("Index", String), ("Date", Date), ("Close", Double)]);
        let mut cells = Vec::new();
        assert!(layout.read(
            br#"{"Index":"HSI","Date":"1970-01-02","Close":-2.5}"#,
            &mut cells
        ));
        assert_eq!(
            cells,
            [Cell::Text("HSI"), Cell::Date(1), Cell::Double(-2.5)]
        );
        assert!(layout.read(br#"{"Index":null,"Date":null,"Close":0}"#, &mut cells));
        assert_eq!(cells, [Cell::Null, Cell::Null, Cell::Double(0.0)]);
        for other in [
            r#"{"Index":"HSI","Close":1,"Date":"1970-01-02"}"#,
            r#"{"Index":"HSI","Date":"1970-01-02"}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":1,"x":1}"#,
            r#"{"Index":"HSI", "Date":"1970-01-02","Close":1}"#,
            r#"{"Index":"H\"SI","Date":"1970-01-02","Close":1}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":1e3}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":"1"}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":01}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":1.}"#,
            r#"{"Index":"HSI","Date":"soon","Close":1}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":1} "#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":1}{}"#,
            r#"{"Index":"HSI","Date":"1970-01-02","Close":nullx}"#,
        ] {
            assert!(!layout.read(other.as_bytes(), &mut cells), "{other}");
        }
    }
}

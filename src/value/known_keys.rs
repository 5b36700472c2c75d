//! The keys of the records scanned before, for the next record's scan
//! to meet in their places instead of reading them again.

/// The keys of the objects scanned before, by place: records of a stream
/// nearly always repeat the keys of the one before, in the same order. A
/// key found where the last object had the same bytes (its quotes and the
/// colon after it included) needs no scan of its own: those bytes were
/// read as a plain key before, and the same bytes read the same.
#[derive(Debug, Default)]
pub(crate) struct KnownKeys {
    keys: Vec<KnownKey>,
}

/// A key's bytes from its opening quote through the colon after it, at
/// most 16 (two words), with a mask of the bytes that count.
#[derive(Debug, Clone, Copy)]
struct KnownKey {
    words: [u64; 2],
    masks: [u64; 2],
    /// Bytes that count; 0 for a place whose key is not known.
    len: usize,
}

impl KnownKey {
    /// A place whose key is not known: it never matches.
    const UNKNOWN: Self = Self {
        words: [0; 2],
        masks: [0; 2],
        len: 0,
    };
}

impl KnownKeys {
    /// Places remembered: a wider object scans its further keys each time.
    const MAX_KEYS: usize = 64;

    /// The key at `at` and the index of its colon, when the `index`th key
    /// of the last object is there byte for byte.
    #[inline(always)]
    pub(super) fn at<'a>(
        &self,
        value: &'a [u8],
        at: usize,
        index: usize,
    ) -> Option<(&'a [u8], usize)> {
        let known = self.keys.get(index)?;
        let window = value.get(at..at + 16)?;
        let low = u64::from_le_bytes(window[..8].try_into().expect("eight bytes"));
        let high = u64::from_le_bytes(window[8..].try_into().expect("eight bytes"));
        let differs =
            ((low ^ known.words[0]) & known.masks[0]) | ((high ^ known.words[1]) & known.masks[1]);
        if known.len == 0 || differs != 0 {
            return None;
        }
        // Within the window: the key between its quotes, then the colon.
        Some((&window[1..known.len - 2], at + known.len - 1))
    }

    /// Remembers `key` (from its opening quote through its colon) as the
    /// `index`th key.
    pub(super) fn learn(&mut self, index: usize, key: &[u8]) {
        let known = match key.len() {
            len @ 3..=16 => {
                let mut bytes = [0; 16];
                bytes[..len].copy_from_slice(key);
                let word = |half: usize| {
                    u64::from_le_bytes(bytes[half * 8..half * 8 + 8].try_into().expect("eight"))
                };
                let mask = |half: usize| match len.saturating_sub(half * 8) {
                    0 => 0,
                    8.. => u64::MAX,
                    n => u64::MAX >> (64 - 8 * n),
                };
                KnownKey {
                    words: [word(0), word(1)],
                    masks: [mask(0), mask(1)],
                    len,
                }
            }
            _ => KnownKey::UNKNOWN,
        };
        match self.keys.get_mut(index) {
            Some(place) => *place = known,
            None if index < Self::MAX_KEYS => {
                self.keys.resize(index, KnownKey::UNKNOWN);
                self.keys.push(known);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;
    use crate::value::scan::for_each_valid_field;

    /// The fields of `value` by the validating scan, with `known` keys.
    fn validated(value: &[u8], known: &mut KnownKeys) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut fields = Vec::new();
        for_each_valid_field(value, known, |k, v| {
            fields.push((k.to_vec(), v.to_vec()));
            ControlFlow::Continue(())
        })?;
        Some(fields)
    }

    proptest::proptest! {
        /// Keys known from the objects before change no object's fields:
        /// whatever came before, each reads as it reads alone (keys of
        /// every length, escaped keys, whitespace before a colon, keys
        /// that only start like a known one).
        #[test]
        fn known_keys_read_every_object_as_it_reads_alone(
            objects in proptest::collection::vec(
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec![
                            r#""a""#, r#""ab""#, r#""Index""#, r#""Adj Close""#,
                            r#""twelve_bytes""#, r#""thirteen_byte""#, r#""a_much_longer_key""#,
                            r#""a\"b""#, r#""\u0041""#, r#""Index"#,
                        ]),
                        proptest::sample::select(vec![":", " :", ": "]),
                        proptest::sample::select(vec!["1", r#""x""#, "[1]", "1.5e3", "tru"]),
                    ),
                    0..5,
                ),
                1..6,
            ),
        ) {
            let mut known = KnownKeys::default();
            for fields in &objects {
                let body: Vec<String> = fields.iter().map(|(k, c, v)| format!("{k}{c}{v}")).collect();
                let text = format!("{{{}}}", body.join(","));
                let alone = validated(text.as_bytes(), &mut KnownKeys::default());
                proptest::prop_assert_eq!(validated(text.as_bytes(), &mut known), alone, "{}", text);
            }
        }
    }

    #[test]
    fn a_key_met_again_in_its_place_is_read_from_what_is_known() {
        let mut known = KnownKeys::default();
        let first = br#"{"Index":"HSI","Adj Close":1.5,"a_much_longer_key":2}"#;
        let fields = validated(first, &mut known).unwrap();
        assert_eq!(
            known.keys.iter().map(|k| k.len).collect::<Vec<_>>(),
            [8, 12, 0]
        );
        let next = br#"{"Index":"N225","Adj Close":2.5,"a_much_longer_key":3}"#;
        let at = b"{".len();
        assert_eq!(known.at(next, at, 0), Some((&b"Index"[..], at + 7)));
        assert_eq!(known.at(next, at, 1), None, "another place's key");
        assert_eq!(validated(next, &mut known).unwrap()[0].0, fields[0].0);
        let moved = br#"{"Adj Close":2.5,"Index":"N225"}"#;
        assert_eq!(known.at(moved, at, 0), None);
        assert_eq!(validated(moved, &mut known).unwrap()[0].0, b"Adj Close");
    }
}

//! Reading JSON record values without building a tree: one pass that borrows
//! the top-level field names and raw field values from the record's bytes.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;

use serde::Deserializer as _;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use smallvec::SmallVec;

mod known_keys;
pub(crate) mod scan;

/// The top-level fields of a JSON object, in document order, borrowed from
/// the bytes they were parsed from.
pub(crate) struct JsonFields<'a> {
    fields: Fields<'a>,
}

/// Kept fields: routing keeps one or two for every record, held in place
/// rather than allocated.
type Fields<'a> = SmallVec<[(Cow<'a, str>, Raw<'a>); 2]>;

/// One field's value as its JSON text, already checked to be valid JSON
/// (by the parse or the validating scan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// The JSON text.
    pub(crate) fn get(self) -> &'a str {
        self.0
    }
}

impl<'a> From<&'a RawValue> for Raw<'a> {
    fn from(raw: &'a RawValue) -> Self {
        Raw(raw.get())
    }
}

impl<'a> JsonFields<'a> {
    /// Parses `bytes` as one JSON object. The whole document is validated.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        Self::parse_keeping(bytes, |_| true)
    }

    /// Parses `bytes` as one JSON object and keeps only the fields `keep`
    /// names; the whole document is still validated. The other values are
    /// skipped without being borrowed, which routing a record by one or
    /// two fields does for every record.
    pub(crate) fn parse_keeping(
        bytes: &'a [u8],
        keep: impl Fn(&str) -> bool,
    ) -> Result<Self, String> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let fields = de
            .deserialize_map(FieldsVisitor(keep))
            .map_err(|e| format!("value is not a JSON object: {e}"))?;
        de.end()
            .map_err(|e| format!("trailing bytes after the JSON object: {e}"))?;
        Ok(Self {
            fields: SmallVec::from_vec(fields),
        })
    }

    /// [`parse_keeping`](Self::parse_keeping) for the common record at a
    /// fraction of its cost: the plain scan checking each value's grammar
    /// as it passes ([`scan::for_each_valid_field`]), the parse for a
    /// record the scan cannot read or finds invalid (the parse then names
    /// what is wrong). Stricter than the parse in one way: the whole value
    /// must be UTF-8, strings no field keeps too.
    /// `keep` is asked with each name's bytes until `wanted` distinct
    /// fields are kept (a later field of a kept name is passed over, as
    /// [`get`](Self::get) reads the first). `known` holds the keys of the
    /// records read before (see [`scan::KnownKeys`]).
    pub(crate) fn validate_keeping(
        bytes: &'a [u8],
        keep: impl Fn(&[u8]) -> bool,
        wanted: usize,
        known: &mut scan::KnownKeys,
    ) -> Result<Self, String> {
        let text = scan::utf8(bytes).map_err(|e| format!("value is not UTF-8: {e}"))?;
        match Self::scan_validating(text, &keep, wanted, known) {
            Some(fields) => Ok(fields),
            None => Self::parse_keeping(bytes, |name| keep(name.as_bytes())),
        }
    }

    /// The scan of [`validate_keeping`](Self::validate_keeping): `None`
    /// when it cannot read `text` or finds it invalid.
    fn scan_validating(
        text: &'a str,
        keep: impl Fn(&[u8]) -> bool,
        wanted: usize,
        known: &mut scan::KnownKeys,
    ) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut fields = Fields::new();
        scan::for_each_valid_field(bytes, known, |key, raw| {
            let kept = |(name, _): &(Cow<'a, str>, _)| name.as_bytes() == key;
            if fields.len() < wanted && keep(key) && !fields.iter().any(kept) {
                // Key and value are pieces of the UTF-8 text between ASCII
                // delimiters; the scan checked the value.
                let within = |piece: &[u8]| {
                    let start = piece.as_ptr() as usize - bytes.as_ptr() as usize;
                    &text[start..start + piece.len()]
                };
                fields.push((Cow::Borrowed(within(key)), Raw(within(raw))));
            }
            ControlFlow::Continue(())
        })?;
        Some(Self { fields })
    }

    /// [`parse_keeping`](Self::parse_keeping) by a plain scan
    /// ([`scan::for_each_field`]) that validates only the kept values: for
    /// records whose values are checked whole later. The scan stops once
    /// `wanted` distinct fields are kept (a later field of the same name is
    /// passed over, as [`get`](Self::get) reads the first). `None` when the
    /// record needs the parse (an unusual layout, or a kept value that is
    /// not valid JSON, which the parse then names).
    pub(crate) fn scan_keeping(
        bytes: &'a [u8],
        keep: impl Fn(&str) -> bool,
        wanted: usize,
    ) -> Option<Self> {
        let mut fields = Fields::new();
        let mut plain = true;
        scan::for_each_field(bytes, |key, raw| {
            let Ok(name) = scan::utf8(key) else {
                plain = false;
                return ControlFlow::Break(());
            };
            if keep(name) && !fields.iter().any(|(k, _)| k == name) {
                match scan::utf8(raw) {
                    Ok(text) if scan::is_json_value(raw) => {
                        fields.push((Cow::Borrowed(name), Raw(text)));
                    }
                    _ => plain = false,
                }
            }
            if !plain || fields.len() >= wanted {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        plain.then_some(Self { fields })
    }

    /// [`scan_keeping`](Self::scan_keeping), or the parse for a record the
    /// scan cannot read: the kept fields of a record whose value is checked
    /// whole later.
    pub(crate) fn scan_or_parse_keeping(
        bytes: &'a [u8],
        keep: impl Fn(&str) -> bool,
        wanted: usize,
    ) -> Result<Self, String> {
        match Self::scan_keeping(bytes, &keep, wanted) {
            Some(fields) => Ok(fields),
            None => Self::parse_keeping(bytes, keep),
        }
    }

    /// The raw value of the first field named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Raw<'a>> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// Field names and raw values in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Raw<'a>)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), *v))
    }
}

/// A scalar JSON value as plain text: strings unescaped, numbers and booleans
/// as written, `None` for null. Objects and arrays come back as their JSON text.
pub(crate) fn scalar_text(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match text.as_bytes().first() {
        // A valid string token: without escapes, its text is the value.
        Some(b'"') if !text.as_bytes().contains(&b'\\') => {
            Some(Cow::Borrowed(&text[1..text.len() - 1]))
        }
        // Escapes present: unescape into an owned string.
        Some(b'"') => Some(Cow::Owned(
            serde_json::from_str::<String>(text).unwrap_or_default(),
        )),
        Some(b'n') => None,
        _ => Some(Cow::Borrowed(text)),
    }
}

/// True for JSON objects and arrays.
pub(crate) fn is_container(raw: Raw<'_>) -> bool {
    matches!(raw.get().as_bytes().first(), Some(b'{' | b'['))
}

struct FieldsVisitor<F>(F);

impl<'de, F: Fn(&str) -> bool> Visitor<'de> for FieldsVisitor<F> {
    type Value = Vec<(Cow<'de, str>, Raw<'de>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        while let Some(FieldName(name)) = map.next_key()? {
            if self.0(&name) {
                let value: &'de RawValue = map.next_value()?;
                fields.push((name, value.into()));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(fields)
    }
}

/// A field name, borrowed from the input unless it contains escapes.
struct FieldName<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = FieldName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_fields_in_document_order() {
        let bytes = br#"{"b": 1, "a\u0020b": "x\"y", "n": null, "o": {"k": [1]}}"#;
        let f = JsonFields::parse(bytes).unwrap();
        let names: Vec<_> = f.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(names, ["b", "a b", "n", "o"]);
        assert_eq!(scalar_text(f.get("b").unwrap()).unwrap(), "1");
        assert_eq!(scalar_text(f.get("a b").unwrap()).unwrap(), "x\"y");
        assert_eq!(scalar_text(f.get("n").unwrap()), None);
        assert!(is_container(f.get("o").unwrap()));
        assert!(f.get("missing").is_none());
    }

    #[test]
    fn rejects_non_objects_and_trailing_garbage() {
        assert!(JsonFields::parse(b"[1,2]").is_err());
        assert!(JsonFields::parse(b"not json").is_err());
        assert!(JsonFields::parse(br#"{"a":1} x"#).is_err());
        assert!(JsonFields::parse(br#"{"a":1"#).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_bytes_are_an_object_or_an_error_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..256)
        ) {
            let _ = JsonFields::parse(&bytes);
        }

        #[test]
        fn keeping_some_fields_validates_the_same_documents(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            object in prop::collection::btree_map("[a-d]{1,2}", json_value(), 0..6),
        ) {
            let keep = |name: &str| name.starts_with('a');
            let object: Map<String, Value> = object.into_iter().collect();
            let written = serde_json::to_vec(&object).unwrap();
            for doc in [&bytes, &written] {
                let all = JsonFields::parse(doc);
                let kept = JsonFields::parse_keeping(doc, keep);
                prop_assert_eq!(all.is_ok(), kept.is_ok());
                if let (Ok(all), Ok(kept)) = (all, kept) {
                    let expected: Vec<_> = all.iter().filter(|(name, _)| keep(name))
                        .map(|(name, raw)| (name.to_string(), raw.get())).collect();
                    let got: Vec<_> = kept.iter()
                        .map(|(name, raw)| (name.to_string(), raw.get())).collect();
                    prop_assert_eq!(got, expected);
                }
            }
        }

        /// Where the plain scan reads a document the parse accepts, it
        /// keeps the same fields; every document serde_json writes without
        /// an escape in a key is read by the scan.
        #[test]
        fn the_scan_keeps_what_the_parse_keeps(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            object in prop::collection::btree_map("[a-d]{1,2}", json_value(), 0..6),
            pretty in any::<bool>(),
        ) {
            let keep = |name: &str| name.starts_with('a');
            let object: Map<String, Value> = object.into_iter().collect();
            let written = if pretty {
                serde_json::to_vec_pretty(&object).unwrap()
            } else {
                serde_json::to_vec(&object).unwrap()
            };
            prop_assert!(JsonFields::scan_keeping(&written, keep, usize::MAX).is_some());
            for doc in [&bytes, &written] {
                let parsed = JsonFields::parse_keeping(doc, keep);
                let scanned = JsonFields::scan_keeping(doc, keep, usize::MAX);
                if let (Ok(parsed), Some(scanned)) = (&parsed, scanned) {
                    let fields = |f: &JsonFields<'_>| -> Vec<(String, String)> {
                        f.iter().map(|(n, raw)| (n.to_string(), raw.get().to_string())).collect()
                    };
                    prop_assert_eq!(fields(&scanned), fields(parsed));
                }
                // Stopping at the first kept field still finds it.
                let first = JsonFields::scan_keeping(doc, |name| name == "a", 1);
                if let (Ok(parsed), Some(first)) = (&parsed, first) {
                    let a = |f: &JsonFields<'_>| f.get("a").map(|raw| raw.get().to_string());
                    prop_assert_eq!(a(&first), a(parsed));
                }
            }
        }

        /// The validating scan accepts what the parse accepts and keeps
        /// the same fields, with one difference: a value must be UTF-8
        /// throughout. It reads (without the parse) every document
        /// serde_json writes without an escape in a key.
        #[test]
        fn validating_accepts_what_the_parse_accepts(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            object in prop::collection::btree_map("[a-d]{1,2}", json_value(), 0..6),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let keep = |name: &[u8]| name.starts_with(b"a");
            let object: Map<String, Value> = object.into_iter().collect();
            let written = serde_json::to_vec(&object).unwrap();
            let text = std::str::from_utf8(&written).unwrap();
            let known = &mut scan::KnownKeys::default();
            prop_assert!(JsonFields::scan_validating(text, keep, usize::MAX, known).is_some());
            let mut changed = written.clone();
            changed[at.index(written.len())] = byte;
            // One set of known keys throughout: learnt from the written
            // document, met again in the changed one.
            for doc in [&written, &changed, &bytes, &written] {
                let fields = |f: &JsonFields<'_>| -> Vec<(String, String)> {
                    f.iter().map(|(n, raw)| (n.to_string(), raw.get().to_string())).collect()
                };
                let parsed = JsonFields::parse_keeping(doc, |name| keep(name.as_bytes()));
                let validated = JsonFields::validate_keeping(doc, keep, usize::MAX, known);
                if std::str::from_utf8(doc).is_err() {
                    prop_assert!(validated.is_err());
                    continue;
                }
                prop_assert_eq!(parsed.is_ok(), validated.is_ok(), "{:?}", String::from_utf8_lossy(doc));
                if let (Ok(parsed), Ok(validated)) = (&parsed, &validated) {
                    // The first of each name, as `get` reads them.
                    let mut firsts = fields(parsed);
                    let mut seen = std::collections::HashSet::new();
                    firsts.retain(|(name, _)| seen.insert(name.clone()));
                    prop_assert_eq!(fields(validated), firsts);
                }
                // Stopping at the first kept field still finds it.
                let first = JsonFields::validate_keeping(doc, |name| name == b"a", 1, known);
                if let (Ok(parsed), Ok(first)) = (&parsed, first) {
                    let a = |f: &JsonFields<'_>| f.get("a").map(|raw| raw.get().to_string());
                    prop_assert_eq!(a(&first), a(parsed));
                }
            }
        }

        #[test]
        fn fields_are_read_back_as_serde_json_wrote_them(
            object in prop::collection::btree_map(any::<String>(), json_value(), 0..8)
        ) {
            let object: Map<String, Value> = object.into_iter().collect();
            let bytes = serde_json::to_vec(&object).unwrap();
            let fields = JsonFields::parse(&bytes).unwrap();
            let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
            prop_assert_eq!(names, object.keys().map(String::as_str).collect::<Vec<_>>());
            for (name, value) in &object {
                let raw = fields.get(name).unwrap();
                prop_assert_eq!(raw.get(), serde_json::to_string(value).unwrap());
                prop_assert_eq!(is_container(raw), value.is_array() || value.is_object());
                match value {
                    Value::String(s) => {
                        let text = scalar_text(raw);
                        prop_assert_eq!(text.as_deref(), Some(s.as_str()));
                    }
                    Value::Null => prop_assert!(scalar_text(raw).is_none()),
                    _ => {}
                }
            }
        }
    }
}

//! Arrow's JSON decoder truncates `1.5` into an integer column; the
//! Parquet encoder refuses such a record instead. This finds them with one
//! plain scan of the record's top-level fields ([`crate::value::scan`]),
//! falling back to a full parse for the rare record it cannot scan plainly
//! (an escaped key, or text that is not one JSON object).

/// Refuses a record whose top-level field in `columns` holds a number with
/// a fraction or an exponent.
pub(super) fn check(value: &[u8], columns: &[&str]) -> Result<(), String> {
    match scan(value, columns) {
        Some(Ok(())) => Ok(()),
        Some(Err((name, text))) => Err(refusal(name, text)),
        None => check_parsed(value, columns),
    }
}

fn refusal(name: &str, text: &str) -> String {
    format!("{name} = {text} is not a whole number (bigint column)")
}

/// The full parse: every field of the record, then the columns.
fn check_parsed(value: &[u8], columns: &[&str]) -> Result<(), String> {
    let fields = crate::value::JsonFields::parse(value)?;
    for name in columns {
        if let Some(raw) = fields.get(name) {
            let text = raw.get();
            if is_number(text.as_bytes()) && has_fraction(text.as_bytes()) {
                return Err(refusal(name, text));
            }
        }
    }
    Ok(())
}

fn is_number(text: &[u8]) -> bool {
    text.first()
        .is_some_and(|c| *c == b'-' || c.is_ascii_digit())
}

fn has_fraction(text: &[u8]) -> bool {
    text.iter().any(|c| matches!(c, b'.' | b'e' | b'E'))
}

/// `Some(Err((column, number)))` for the first column holding a number
/// that is not whole, `Some(Ok(()))` when none does, `None` when the
/// record cannot be scanned plainly.
fn scan<'a>(value: &'a [u8], columns: &[&'a str]) -> Option<Result<(), (&'a str, &'a str)>> {
    let mut first = None;
    crate::value::scan::for_each_field(value, |key, token| {
        if first.is_none() && is_number(token) && has_fraction(token) {
            if let Some(name) = columns.iter().find(|c| c.as_bytes() == key) {
                first = std::str::from_utf8(token).ok().map(|text| (*name, text));
            }
        }
    })?;
    Some(first.map_or(Ok(()), Err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fractions_only_in_the_columns_at_the_top_level() {
        let cols = ["Volume", "n"];
        let cases: [(&str, Option<&str>); 12] = [
            (r#"{"Volume":7}"#, None),
            (r#"{"Volume":-7,"Close":1.5}"#, None),
            (r#"{"Volume":1.5}"#, Some("1.5")),
            (r#"{ "Volume" : 2e3 }"#, Some("2e3")),
            (r#"{"a":{"Volume":1.5},"Volume":3}"#, None),
            (r#"{"a":[1.5,{"n":2.5}],"n":-0.5}"#, Some("-0.5")),
            (r#"{"s":"\"Volume\":1.5","Volume":1}"#, None),
            (r#"{"Volume":"1.5"}"#, None),
            (r#"{"Volume":null,"n":true}"#, None),
            (r#"{}"#, None),
            (r#"{"Vol\u0075me":1.5}"#, Some("1.5")),
            (r#"{"x":"a\\","n":4.25}"#, Some("4.25")),
        ];
        for (record, fraction) in cases {
            let got = check(record.as_bytes(), &cols);
            match fraction {
                None => assert_eq!(got, Ok(()), "{record}"),
                Some(text) => {
                    let reason = got.clone().expect_err(record);
                    assert!(reason.contains(text), "{record}: {reason}");
                }
            }
            assert_eq!(
                got.is_ok(),
                check_parsed(record.as_bytes(), &cols).is_ok(),
                "{record}: the scan and the full parse agree"
            );
        }
    }

    #[test]
    fn text_that_is_not_an_object_is_left_to_the_parse() {
        assert!(check(b"[1.5]", &["Volume"]).is_err());
        assert!(check(b"{\"Volume\":1.5", &["Volume"]).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z\\\\\"{}:,\\[\\] .]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-zV]{1,3}|Volume", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The scan refuses exactly what the full parse refuses.
        #[test]
        fn the_scan_agrees_with_the_full_parse(
            fields in prop::collection::btree_map("[a-zV]{1,3}|Volume", json_value(), 0..5),
            spaced in any::<bool>(),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let text = if spaced {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                object.to_string()
            };
            let columns = ["Volume", "a"];
            prop_assert_eq!(
                check(text.as_bytes(), &columns).is_ok(),
                check_parsed(text.as_bytes(), &columns).is_ok(),
                "{}", text
            );
        }
    }
}

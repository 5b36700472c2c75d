//! The fast path (`encode::json_row`) held to the general one: both make
//! the same batches and errors of any record.

use proptest::prelude::*;

use super::*;

const TYPES: [(&str, ColumnType); 6] = [
    ("Index", ColumnType::String),
    ("Date", ColumnType::Date),
    ("Close", ColumnType::Double),
    ("Volume", ColumnType::Bigint),
    ("At", ColumnType::Timestamp),
    ("Up", ColumnType::Boolean),
];

/// A value of any kind, valid or not, as records hold them.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,18})(\\.[0-9]{1,8})?([eE]-?[0-9])?",
        "-?0[0-9]{1,3}|-?[0-9]\\.|-|\\.5",
        "\"[A-Za-z0-9 .:-]{0,10}\"",
        "\"[0-9]{4}-[01][0-9]-[0-3][0-9]([ T][0-2][0-9]:[0-5][0-9])?Z?\"",
        "\"(-?[0-9]{1,4}(\\.[0-9])?|\\\\u0041|\\\\n)\"",
        prop::sample::select(vec!["null", "true", "false", "nul", "[1]", "{}"])
            .prop_map(String::from),
    ]
}

/// Mostly a value of the column's type as our sources write it, so
/// that most records take the fast path; else any value.
fn token_for(column_type: ColumnType) -> BoxedStrategy<String> {
    let typed = match column_type {
        ColumnType::String => "\"[A-Za-z0-9 .:-]{0,10}\"|null".boxed(),
        ColumnType::Boolean => "true|false".boxed(),
        ColumnType::Bigint => "-?(0|[1-9][0-9]{0,18})".boxed(),
        ColumnType::Double => "-?(0|[1-9][0-9]{0,9})(\\.[0-9]{1,9})?".boxed(),
        ColumnType::Date => "\"(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]\"".boxed(),
        ColumnType::Timestamp => {
            "\"20[0-9]{2}-0[1-9]-[0-2][0-9][ T][0-2][0-9]:[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?Z?\""
                .boxed()
        }
    };
    prop_oneof![6 => typed, 1 => token()].boxed()
}

/// A record of the columns in order, compact; sometimes with a
/// column left out or moved, or with a space.
fn record() -> impl Strategy<Value = String> {
    let tokens: Vec<_> = TYPES.iter().map(|(_, t)| token_for(*t)).collect();
    (tokens, 0..TYPES.len() + 3, any::<bool>()).prop_map(|(tokens, change, spaced)| {
        let mut fields: Vec<String> = TYPES
            .iter()
            .zip(tokens)
            .map(|((name, _), token)| format!("\"{name}\":{token}"))
            .collect();
        match change {
            0 => drop(fields.remove(1)),
            1 => fields.swap(0, 2),
            2 => fields.push(r#""Extra":1"#.into()),
            _ => {}
        }
        let separator = if spaced { ", " } else { "," };
        format!("{{{}}}", fields.join(separator))
    })
}

proptest! {
    #[test]
    fn reads_every_record_as_the_general_path_does(record in record()) {
        let fast = read_by(&TYPES, &[&record], true);
        let general = read_by(&TYPES, &[&record], false);
        prop_assert_eq!(fast, general, "{}", record);
    }
}

#[test]
fn takes_the_records_our_sources_write() {
    let record = r#"{"Index":"HSI","Date":"1987-01-05","Close":2568.300049,"Volume":0,"At":"1987-01-05 10:00","Up":true}"#;
    let cells = &mut Vec::new();
    let layout = RowLayout::new(TYPES.iter().map(|(n, t)| (*n, *t)));
    assert!(layout.read(record.as_bytes(), cells));
    assert_eq!(read(&TYPES, &[record]), read_by(&TYPES, &[record], false));
}

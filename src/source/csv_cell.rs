//! CSV cells as JSON values, by their column's type: what a column's type
//! is (declared, or inferred from the first rows), and how a cell that
//! does not fit its type is refused.

use bytes::{BufMut, BytesMut};

use crate::schema::ColumnType;
use crate::time::parse_timestamp;
use crate::value::scan::is_json_number;

/// How a column's cells become JSON values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CellType {
    /// Each cell for itself: a number as written, else a string.
    Untyped,
    /// Every cell of the column has this type (a bigint column widens to
    /// double when a fraction comes).
    Typed(ColumnType),
}

/// The types of the columns of sample `rows`: each column the narrowest
/// type holding its non-empty cells (as the crawler types text); a column
/// with none is a string.
pub(super) fn infer<'a>(width: usize, rows: impl Iterator<Item = Vec<&'a str>>) -> Vec<CellType> {
    let mut seen: Vec<Option<ColumnType>> = vec![None; width];
    for row in rows {
        for (column, text) in seen.iter_mut().zip(row) {
            if let Some(t) = ColumnType::of_text(text) {
                *column = Some(column.map_or(t, |c| c.widen(t)));
            }
        }
    }
    seen.into_iter()
        .map(|t| CellType::Typed(t.unwrap_or(ColumnType::String)))
        .collect()
}

/// Writes a cell as the JSON value its column's type makes of it: null
/// when empty; an error saying what was expected when the text does not
/// fit (a word where a number or a date belongs). A bigint column that
/// meets a fraction (or a number past 64 bits) becomes a double column,
/// and a date column that meets a time of day a timestamp column: numbers
/// and times widen rather than reject. Returns the cell's time (epoch
/// milliseconds) when its column holds dates or timestamps, which the
/// record's time may be read from.
#[inline]
pub(super) fn write_typed_cell(
    text: &str,
    cell: &mut CellType,
    out: &mut BytesMut,
) -> Result<Option<i64>, String> {
    let column = match cell {
        _ if text.is_empty() => {
            out.put_slice(b"null");
            return Ok(None);
        }
        CellType::Untyped => {
            write_cell(text, out);
            return Ok(None);
        }
        CellType::Typed(column) => column,
    };
    let mut time = None;
    let fits = match *column {
        ColumnType::String => true,
        ColumnType::Boolean => text == "true" || text == "false",
        ColumnType::Bigint | ColumnType::Double => is_json_number(text.as_bytes()),
        ColumnType::Date | ColumnType::Timestamp => {
            time = parse_timestamp(text);
            time.is_some()
        }
    };
    if !fits {
        return Err(format!("{text:?} is not a {} value", column.sql_name()));
    }
    match *column {
        ColumnType::Bigint if text.parse::<i64>().is_err() => *column = ColumnType::Double,
        ColumnType::Date if text.len() > 10 => *column = ColumnType::Timestamp,
        _ => {}
    }
    match *column {
        ColumnType::String | ColumnType::Date | ColumnType::Timestamp => write_string(text, out),
        _ => out.put_slice(text.as_bytes()),
    }
    Ok(time)
}

/// Writes a CSV cell as a JSON value: null, a number as written, or a string.
pub(super) fn write_cell(text: &str, out: &mut BytesMut) {
    if text.is_empty() {
        out.put_slice(b"null");
    } else if is_json_number(text.as_bytes()) {
        out.put_slice(text.as_bytes());
    } else {
        write_string(text, out);
    }
}

fn write_string(text: &str, out: &mut BytesMut) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.put_u8(b'"');
        out.put_slice(text.as_bytes());
        out.put_u8(b'"');
    } else {
        serde_json::to_writer(out.writer(), text).expect("writing to memory cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str) -> String {
        let mut out = BytesMut::new();
        write_cell(text, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn typed(text: &str, cell: &mut CellType) -> Result<String, String> {
        let mut out = BytesMut::new();
        write_typed_cell(text, cell, &mut out)?;
        Ok(String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn typed_cells_widen_numbers_and_refuse_words() {
        use ColumnType::*;
        let mut close = CellType::Typed(Bigint);
        assert_eq!(typed("3", &mut close).unwrap(), "3");
        assert_eq!(typed("", &mut close).unwrap(), "null");
        assert_eq!(typed("1.5", &mut close).unwrap(), "1.5");
        assert_eq!(close, CellType::Typed(Double), "widened");
        let err = typed("x", &mut close).unwrap_err();
        assert!(err.contains("\"x\"") && err.contains("double"), "{err}");
        let mut index = CellType::Typed(String);
        assert_eq!(typed("1990", &mut index).unwrap(), "\"1990\"");
        let mut date = CellType::Typed(Date);
        assert_eq!(typed("1987-01-05", &mut date).unwrap(), "\"1987-01-05\"");
        assert!(typed("soon", &mut date).is_err());
        assert_eq!(
            typed("1987-01-05 10:00", &mut date).unwrap(),
            "\"1987-01-05 10:00\""
        );
        assert_eq!(date, CellType::Typed(Timestamp));
        let mut flag = CellType::Typed(Boolean);
        assert!(typed("yes", &mut flag).is_err());
        let mut any = CellType::Untyped;
        assert_eq!(typed("x", &mut any).unwrap(), "\"x\"");
    }

    #[test]
    fn inference_takes_the_narrowest_type_holding_every_sample_cell() {
        use ColumnType::*;
        let rows = [
            vec!["N225", "1965-01-05", "1257.7", "0", ""],
            vec!["000001.SS", "1965-01-06", "1263", "12", ""],
        ];
        assert_eq!(
            infer(5, rows.iter().map(|r| r.to_vec())),
            [String, Date, Double, Bigint, String].map(CellType::Typed)
        );
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

//! CSV with a header row.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::{EncodeError, Encoder};
use crate::record::Record;
use crate::value::{JsonFields, scalar_text};

/// Writes records as CSV rows under one header row.
///
/// Columns come from a declared list ([`CsvEncoder::with_columns`]) or, by
/// default, from the field names of the first record of each object, in
/// their order. Strings are written unescaped, numbers and booleans as they
/// appear in the JSON, null or a missing field as an empty cell, nested
/// objects and arrays as their JSON text. Cells are quoted only when they
/// must be (delimiter, quote or line break inside). A record with a field
/// that is not a column is rejected rather than silently truncated.
#[derive(Clone, Debug, Default)]
pub struct CsvEncoder {
    columns: Option<Vec<String>>,
}

impl CsvEncoder {
    /// Columns from the first record of each object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declared columns, in this order.
    pub fn with_columns<I, S>(columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            columns: Some(columns.into_iter().map(Into::into).collect()),
        }
    }
}

fn parse(index: usize, record: &Record) -> Result<JsonFields<'_>, EncodeError> {
    JsonFields::parse(&record.value).map_err(|reason| EncodeError { index, reason })
}

impl Encoder for CsvEncoder {
    fn extension(&self) -> &str {
        "csv"
    }

    fn encode(&self, records: &[Record], out: &mut BytesMut) -> Result<(), EncodeError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let columns: Cow<'_, [String]> = match &self.columns {
            Some(columns) => Cow::Borrowed(columns),
            None => Cow::Owned(parse(0, first)?.iter().map(|(k, _)| k.to_owned()).collect()),
        };
        let mut writer = csv::WriterBuilder::new().from_writer(out.writer());
        let csv_error = |index: usize, e: csv::Error| EncodeError {
            index,
            reason: e.to_string(),
        };
        writer
            .write_record(columns.iter())
            .map_err(|e| csv_error(0, e))?;
        let mut row: Vec<Cow<'_, str>> = Vec::with_capacity(columns.len());
        for (index, record) in records.iter().enumerate() {
            let fields = parse(index, record)?;
            if let Some((extra, _)) = fields.iter().find(|(k, _)| !columns.iter().any(|c| c == k)) {
                return Err(EncodeError {
                    index,
                    reason: format!("field {extra:?} is not one of the CSV columns {columns:?}"),
                });
            }
            row.clear();
            row.extend(columns.iter().map(|c| {
                fields
                    .get(c)
                    .and_then(scalar_text)
                    .unwrap_or(Cow::Borrowed(""))
            }));
            writer
                .write_record(row.iter().map(|c| c.as_bytes()))
                .map_err(|e| csv_error(index, e))?;
        }
        writer
            .flush()
            .map_err(|e| csv_error(records.len() - 1, e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Position;

    fn records(values: &[&str]) -> Vec<Record> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Record::new(Position::new("t", 0, i as i64), v.to_string()))
            .collect()
    }

    fn encode(encoder: &CsvEncoder, values: &[&str]) -> Result<String, EncodeError> {
        let mut out = BytesMut::new();
        encoder.encode(&records(values), &mut out)?;
        Ok(String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn golden_stock_rows_with_space_in_column_name() {
        let got = encode(
            &CsvEncoder::new(),
            &[
                r#"{"Index":"HSI","Date":"1986-12-31","Adj Close":2568.300049,"Volume":0.0}"#,
                r#"{"Index":"000001.SS","Date":"1997-07-02","Adj Close":1199.06,"Volume":0}"#,
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            "Index,Date,Adj Close,Volume\n\
             HSI,1986-12-31,2568.300049,0.0\n\
             000001.SS,1997-07-02,1199.06,0\n"
        );
    }

    #[test]
    fn golden_quoting_unicode_nulls_and_nesting() {
        let got = encode(
            &CsvEncoder::new(),
            &[
                r#"{"a":"x,y","b":"say \"hi\"","c":"Zürich 日本","d":null,"e":true}"#,
                r#"{"a":"line\nbreak","b":"","c":{"k":[1,2]},"e":false}"#,
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            "a,b,c,d,e\n\
             \"x,y\",\"say \"\"hi\"\"\",Zürich 日本,,true\n\
             \"line\nbreak\",,\"{\"\"k\"\":[1,2]}\",,false\n"
        );
    }

    #[test]
    fn declared_columns_set_the_order() {
        let encoder = CsvEncoder::with_columns(["Close", "Index"]);
        let got = encode(&encoder, &[r#"{"Index":"HSI","Close":1.5}"#]).unwrap();
        assert_eq!(got, "Close,Index\n1.5,HSI\n");
    }

    #[test]
    fn unknown_field_names_the_record() {
        let err = encode(&CsvEncoder::new(), &[r#"{"a":1}"#, r#"{"a":2,"b":3}"#]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.reason.contains("\"b\""), "{}", err.reason);
    }
}

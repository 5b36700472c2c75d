//! A Delta table's columns and how they grow: the table schema as our
//! [`Column`]s, and the new fields a group of records brings (additive
//! evolution: each becomes a nullable column through a metadata action in
//! the commit that first writes it).

use std::collections::BTreeMap;

use deltalake_core::kernel::{DataType, PrimitiveType, StructField, StructType};

use crate::error::{Error, Result};
use crate::schema::{Column, ColumnType};
use crate::time::{parse_date, parse_timestamp};
use crate::value::JsonFields;

/// A column as a (nullable) Delta column.
pub(super) fn struct_field(column: &Column) -> StructField {
    let primitive = match column.column_type {
        ColumnType::Boolean => PrimitiveType::Boolean,
        ColumnType::Bigint => PrimitiveType::Long,
        ColumnType::Double => PrimitiveType::Double,
        ColumnType::Date => PrimitiveType::Date,
        ColumnType::Timestamp => PrimitiveType::Timestamp,
        ColumnType::String => PrimitiveType::String,
    };
    StructField::new(&column.name, DataType::Primitive(primitive), true)
}

/// The table's columns in schema order; a column of a type this writer
/// cannot write (nested, decimal, timestamp without time zone, ...) is
/// [`Error::Config`].
pub(super) fn columns_of(schema: &StructType, table: &str) -> Result<Vec<Column>> {
    schema
        .fields()
        .map(|field| {
            let column_type = match field.data_type() {
                DataType::Primitive(PrimitiveType::Boolean) => ColumnType::Boolean,
                DataType::Primitive(
                    PrimitiveType::Long | PrimitiveType::Integer | PrimitiveType::Short,
                ) => ColumnType::Bigint,
                DataType::Primitive(PrimitiveType::Double | PrimitiveType::Float) => {
                    ColumnType::Double
                }
                DataType::Primitive(PrimitiveType::Date) => ColumnType::Date,
                DataType::Primitive(PrimitiveType::Timestamp) => ColumnType::Timestamp,
                DataType::Primitive(PrimitiveType::String) => ColumnType::String,
                other => {
                    return Err(Error::Config(format!(
                        "Delta table {table}: column {:?} is {other}, which streamlake cannot write",
                        field.name()
                    )));
                }
            };
            Ok(Column::new(field.name(), column_type))
        })
        .collect()
}

/// The top-level fields of record `values` that are not among `known`, typed
/// from their values (widened over the records; a field only ever null
/// waits for a value). Delta's column names ignore case: a field that
/// equals a known column or an earlier new field ignoring case only
/// becomes no column (the encoder refuses its record).
pub(super) fn new_columns<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    known: &[Column],
) -> Vec<Column> {
    // By lower-case name: the first spelling and the type.
    let mut seen: BTreeMap<String, (String, ColumnType)> = BTreeMap::new();
    let known_lower: Vec<String> = known.iter().map(|c| c.name.to_lowercase()).collect();
    for value in values {
        let is_new = |name: &str| !known.iter().any(|c| c.name == name);
        // A record that is not one object is refused by the encoder.
        let Ok(fields) = JsonFields::scan_or_parse_keeping(value, is_new, usize::MAX) else {
            continue;
        };
        for (name, raw) in fields.iter() {
            let Some(found) = ColumnType::of_json(raw) else {
                continue;
            };
            let lower = name.to_lowercase();
            if known_lower.contains(&lower) {
                continue;
            }
            let (spelling, column_type) = seen
                .entry(lower)
                .or_insert_with(|| (name.to_string(), found));
            if spelling == name {
                *column_type = column_type.widen(found);
            }
        }
    }
    seen.into_values()
        .map(|(name, column_type)| Column::new(name, column_type))
        .collect()
}

/// A partition column's value as the Delta log holds it (`None`: null),
/// from the scalar text of the record's field; a text that is not a value
/// of the column's type is refused, naming both. Every record rendered into
/// one partition path has the same text, so one check covers them all.
pub(super) fn partition_value(
    column: &Column,
    text: Option<&str>,
) -> std::result::Result<Option<String>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    let value = match column.column_type {
        ColumnType::String => Some(text.to_string()),
        ColumnType::Boolean => matches!(text, "true" | "false").then(|| text.to_string()),
        ColumnType::Bigint => text.parse::<i64>().ok().map(|n| n.to_string()),
        ColumnType::Double => text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(|x| x.to_string()),
        ColumnType::Date => parse_date(text).map(|_| text.to_string()),
        // The Delta protocol's form: `2024-01-05 10:00:00.000000`, in UTC.
        ColumnType::Timestamp => parse_timestamp(text)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
    };
    value.map(Some).ok_or_else(|| {
        format!(
            "partition column {}: {text:?} is not a {} value",
            column.name,
            column.column_type.sql_name()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Position, Record};

    #[test]
    fn new_fields_are_typed_from_their_values_and_known_ones_ignored() {
        let record = |value: &str| Record::new(Position::new("t", 0, 0), value.to_string());
        let records = [
            record(r#"{"Index":"HSI","Volume":7,"Note":null}"#),
            record(r#"{"Index":"NYA","Volume":7.5,"At":"2024-01-05T10:00:00"}"#),
        ];
        let known = [Column::new("Index", ColumnType::String)];
        let new = new_columns(records.iter().map(|r| &r.value[..]), &known);
        assert_eq!(
            new,
            [
                Column::new("At", ColumnType::Timestamp),
                Column::new("Volume", ColumnType::Double),
            ]
        );
    }

    #[test]
    fn partition_values_take_the_logs_form_and_refuse_what_does_not_fit() {
        let value = |t, text| partition_value(&Column::new("p", t), Some(text));
        assert_eq!(value(ColumnType::Bigint, "42"), Ok(Some("42".into())));
        assert_eq!(value(ColumnType::Double, "1.50"), Ok(Some("1.5".into())));
        assert_eq!(
            value(ColumnType::Date, "2024-01-05"),
            Ok(Some("2024-01-05".into()))
        );
        assert_eq!(
            value(ColumnType::Timestamp, "2024-01-05T10:00:00.25Z"),
            Ok(Some("2024-01-05 10:00:00.250000".into()))
        );
        assert_eq!(value(ColumnType::String, "HSI"), Ok(Some("HSI".into())));
        assert_eq!(
            value(ColumnType::Bigint, "abc"),
            Err(r#"partition column p: "abc" is not a bigint value"#.into())
        );
        assert!(value(ColumnType::Bigint, "1.5").is_err());
        assert!(value(ColumnType::Double, "NaN").is_err());
        assert!(value(ColumnType::Date, "2024-01-05T10:00").is_err());
        assert!(value(ColumnType::Boolean, "yes").is_err());
        let null = partition_value(&Column::new("p", ColumnType::Bigint), None);
        assert_eq!(null, Ok(None));
    }
}

//! A Delta table's columns and how they grow: the table schema as our
//! [`Column`]s, and the new fields a group of records brings (additive
//! evolution: each becomes a nullable column through a metadata action in
//! the commit that first writes it).

use std::collections::BTreeMap;

use deltalake_core::kernel::{DataType, PrimitiveType, StructField, StructType};

use crate::error::{Error, Result};
use crate::record::Record;
use crate::schema::{Column, ColumnType};
use crate::value::JsonFields;

/// A column as a (nullable) Delta column.
pub(super) fn struct_field(column: &Column) -> StructField {
    let primitive = match column.column_type {
        ColumnType::Boolean => PrimitiveType::Boolean,
        ColumnType::Bigint => PrimitiveType::Long,
        ColumnType::Double => PrimitiveType::Double,
        ColumnType::Date => PrimitiveType::Date,
        // Refused for declared columns, never inferred (see `new_columns`).
        ColumnType::Timestamp | ColumnType::String => PrimitiveType::String,
    };
    StructField::new(&column.name, DataType::Primitive(primitive), true)
}

/// The table's columns in schema order; a column of a type this writer
/// cannot write (nested, decimal, timestamp, ...) is [`Error::Config`].
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

/// The top-level fields of `records` that are not among `known`, typed
/// from their values (widened over the records; a field only ever null
/// waits for a value). Timestamps are kept as strings.
pub(super) fn new_columns<'a>(
    records: impl Iterator<Item = &'a Record>,
    known: &[Column],
) -> Vec<Column> {
    let mut seen: BTreeMap<String, ColumnType> = BTreeMap::new();
    for record in records {
        let is_new = |name: &str| !known.iter().any(|c| c.name == name);
        // A record that is not one object is refused by the encoder.
        let Ok(fields) = JsonFields::scan_or_parse_keeping(&record.value, is_new, usize::MAX)
        else {
            continue;
        };
        for (name, raw) in fields.iter() {
            let Some(found) = ColumnType::of_json(raw) else {
                continue;
            };
            let found = match found {
                ColumnType::Timestamp => ColumnType::String,
                other => other,
            };
            seen.entry(name.to_string())
                .and_modify(|t| *t = t.widen(found))
                .or_insert(found);
        }
    }
    seen.into_iter()
        .map(|(name, column_type)| Column::new(name, column_type))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Position;

    #[test]
    fn new_fields_are_typed_from_their_values_and_known_ones_ignored() {
        let record = |value: &str| Record::new(Position::new("t", 0, 0), value.to_string());
        let records = [
            record(r#"{"Index":"HSI","Volume":7,"Note":null}"#),
            record(r#"{"Index":"NYA","Volume":7.5,"At":"2024-01-05T10:00:00"}"#),
        ];
        let known = [Column::new("Index", ColumnType::String)];
        let new = new_columns(records.iter(), &known);
        assert_eq!(
            new,
            [
                Column::new("At", ColumnType::String),
                Column::new("Volume", ColumnType::Double),
            ]
        );
    }
}

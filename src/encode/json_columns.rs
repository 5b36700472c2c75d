//! One pass from records' JSON objects into Arrow columns, for the Parquet
//! encoder's flat schemas (the six [`ColumnType`]s).
//!
//! Each value is read by the plain top-level scan ([`crate::value::scan`]);
//! a record the scan cannot read (an escaped key, text after the object)
//! takes the full parse. Every token is validated as it is converted, and
//! fields outside the schema are validated and skipped, so a value that is
//! not exactly one JSON object is refused, as are a fraction in a `bigint`
//! column, text that is not a date in a `date` column, and a nested value
//! anywhere in the schema. Missing fields and `null` are nulls.
//!
//! This replaces arrow-json's decoder (a tape, then columns, then a second
//! pass of ours for whole numbers), which took over a third of the CPU of a
//! CSV → Parquet load. Tokens become values in [`super::json_values`].
//! Records laid out as our sources write them take a faster path still
//! ([`super::json_row`]).

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use serde::de::IgnoredAny;

use super::json_row::{Cell, RowLayout};
use super::json_values::{bigint, date, double, shown, string, timestamp};
use crate::schema::{Column, ColumnType};
use crate::value::JsonFields;
use crate::value::scan::for_each_field;

/// Arrow columns being filled, one record (JSON object) at a time.
pub(super) struct JsonColumns<'a> {
    schema: SchemaRef,
    columns: &'a [Column],
    builders: Vec<Builder>,
    /// The raw value of each column in the record being read.
    tokens: Vec<Option<&'a [u8]>>,
    /// Names (each with its lower case) a field outside `columns` must not
    /// equal ignoring case (a Delta table's columns: its names ignore case).
    case_variants_refused: &'a [(String, String)],
    /// The layout of the fast path (`None`: every record takes the
    /// general one), and the values it read of the current record.
    layout: Option<RowLayout>,
    cells: Vec<Cell<'a>>,
}

enum Builder {
    String(StringBuilder),
    Boolean(BooleanBuilder),
    Bigint(Int64Builder),
    Double(Float64Builder),
    Date(Date32Builder),
    Timestamp(TimestampMillisecondBuilder),
}

impl<'a> JsonColumns<'a> {
    /// Empty `columns` (their Arrow `schema`), with room for `rows`
    /// records.
    pub(super) fn new(schema: SchemaRef, columns: &'a [Column], rows: usize) -> Self {
        let builders = columns
            .iter()
            .map(|c| Builder::new(c.column_type, rows))
            .collect();
        Self {
            schema,
            columns,
            builders,
            tokens: vec![None; columns.len()],
            case_variants_refused: &[],
            layout: Some(RowLayout::new(
                columns.iter().map(|c| (c.name.as_str(), c.column_type)),
            )),
            cells: Vec::with_capacity(columns.len()),
        }
    }

    /// Every record takes the general path (to hold the fast one to it).
    #[cfg(test)]
    fn without_fast_path(mut self) -> Self {
        self.layout = None;
        self
    }

    /// Refuses a record with a field outside the columns whose name equals
    /// one of `names` (each paired with its lower case) ignoring case only.
    pub(super) fn refusing_case_variants_of(mut self, names: &'a [(String, String)]) -> Self {
        self.case_variants_refused = names;
        self
    }

    /// Appends the record `value` as one row. On error the columns are
    /// left uneven: the caller drops them.
    pub(super) fn push(&mut self, value: &'a [u8]) -> Result<(), String> {
        let laid_out = self.layout.as_ref();
        if laid_out.is_some_and(|layout| layout.read(value, &mut self.cells)) {
            for (builder, cell) in self.builders.iter_mut().zip(&self.cells) {
                builder.append_cell(*cell);
            }
            return Ok(());
        }
        self.tokens.fill(None);
        if !self.scan(value)? {
            self.tokens.fill(None);
            self.parse(value)?;
        }
        for (column, builder) in self.builders.iter_mut().enumerate() {
            let token = self.tokens[column].filter(|t| *t != b"null");
            builder
                .append(self.columns[column].column_type, token)
                .map_err(|why| format!("{}: {why}", self.columns[column].name))?;
        }
        Ok(())
    }

    /// The rows pushed, as one batch; a column whose schema type differs
    /// from its builder's (timestamps in another unit) is cast.
    pub(super) fn finish(mut self) -> Result<RecordBatch, String> {
        let fields = self.schema.fields();
        let columns = self
            .builders
            .iter_mut()
            .zip(fields)
            .map(|(builder, field)| {
                let array = builder.finish();
                if array.data_type() == field.data_type() {
                    Ok(array)
                } else {
                    arrow_cast::cast(&array, field.data_type()).map_err(|e| e.to_string())
                }
            });
        let columns = columns.collect::<Result<Vec<ArrayRef>, String>>()?;
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())
    }

    /// The plain scan: `Ok(false)` when the record needs the parse.
    fn scan(&mut self, value: &'a [u8]) -> Result<bool, String> {
        let mut outcome = Ok(());
        let mut next = 0;
        let scanned = for_each_field(value, |key, token| {
            let named = |c: &Column| c.name.as_bytes() == key;
            let column = self
                .columns
                .get(next)
                .is_some_and(named)
                .then_some(next)
                .or_else(|| self.columns.iter().position(named));
            outcome = match column {
                Some(column) => {
                    next = column + 1;
                    self.set(column, token)
                }
                None => self.other_field(key, token),
            };
            match outcome {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        outcome?;
        Ok(scanned.is_some())
    }

    /// The full parse, for a record the scan cannot read.
    fn parse(&mut self, value: &'a [u8]) -> Result<(), String> {
        let fields = JsonFields::parse(value)?;
        for (name, raw) in fields.iter() {
            match self.columns.iter().position(|c| c.name == name) {
                Some(column) => self.set(column, raw.get().as_bytes())?,
                None => self.refuse_case_variant(name)?,
            }
        }
        Ok(())
    }

    /// A field outside the columns: skipped, but it must be valid JSON and
    /// not a case variant of a name refused so.
    fn other_field(&self, key: &[u8], token: &[u8]) -> Result<(), String> {
        let key = std::str::from_utf8(key)
            .ok()
            .filter(|key| key.bytes().all(|b| b >= 0x20))
            .ok_or("a field name is not valid JSON text")?;
        self.refuse_case_variant(key)?;
        serde_json::from_slice::<IgnoredAny>(token)
            .map(drop)
            .map_err(|e| format!("field {key}: {e}"))
    }

    /// Lower-cases only a name that is none of the names itself (a Delta
    /// partition column is outside the data columns in every record).
    fn refuse_case_variant(&self, name: &str) -> Result<(), String> {
        let names = self.case_variants_refused;
        if names.is_empty() || names.iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        let lower = name.to_lowercase();
        match names.iter().find(|(_, l)| *l == lower) {
            Some((column, _)) => Err(format!(
                "field {name} differs from column {column} only in case (Delta column names \
                 ignore case)"
            )),
            None => Ok(()),
        }
    }

    fn set(&mut self, column: usize, token: &'a [u8]) -> Result<(), String> {
        if self.tokens[column].replace(token).is_some() {
            return Err(format!("field {} appears twice", self.columns[column].name));
        }
        Ok(())
    }
}

impl Builder {
    fn new(column_type: ColumnType, rows: usize) -> Self {
        match column_type {
            ColumnType::String => Self::String(StringBuilder::with_capacity(rows, rows * 8)),
            ColumnType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(rows)),
            ColumnType::Bigint => Self::Bigint(Int64Builder::with_capacity(rows)),
            ColumnType::Double => Self::Double(Float64Builder::with_capacity(rows)),
            ColumnType::Date => Self::Date(Date32Builder::with_capacity(rows)),
            ColumnType::Timestamp => {
                Self::Timestamp(TimestampMillisecondBuilder::with_capacity(rows))
            }
        }
    }

    /// Appends one value (`None`: null) converted from its JSON `token`.
    fn append(&mut self, column_type: ColumnType, token: Option<&[u8]>) -> Result<(), String> {
        let Some(token) = token else {
            self.append_null();
            return Ok(());
        };
        let refused = || format!("{} is not a {} value", shown(token), column_type.sql_name());
        match self {
            Self::String(b) => b.append_value(string(token)?.ok_or_else(refused)?),
            Self::Boolean(b) => b.append_value(match token {
                b"true" => true,
                b"false" => false,
                _ => return Err(refused()),
            }),
            Self::Bigint(b) => b.append_value(bigint(token)?.ok_or_else(refused)?),
            Self::Double(b) => b.append_value(double(token)?.ok_or_else(refused)?),
            Self::Date(b) => b.append_value(date(token)?.ok_or_else(refused)?),
            Self::Timestamp(b) => b.append_value(timestamp(token)?.ok_or_else(refused)?),
        }
        Ok(())
    }

    /// Appends a value the fast path read for this builder's column type.
    fn append_cell(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (builder, Cell::Null) => builder.append_null(),
            (Self::String(b), Cell::Text(text)) => b.append_value(text),
            (Self::Boolean(b), Cell::Boolean(value)) => b.append_value(value),
            (Self::Bigint(b), Cell::Bigint(value)) => b.append_value(value),
            (Self::Double(b), Cell::Double(value)) => b.append_value(value),
            (Self::Date(b), Cell::Date(days)) => b.append_value(days),
            (Self::Timestamp(b), Cell::Timestamp(millis)) => b.append_value(millis),
            (_, cell) => unreachable!("{cell:?} read for another column type"),
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::String(b) => b.append_null(),
            Self::Boolean(b) => b.append_null(),
            Self::Bigint(b) => b.append_null(),
            Self::Double(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::String(b) => Arc::new(b.finish()),
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Bigint(b) => Arc::new(b.finish()),
            Self::Double(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMillisecondType};
    use arrow_schema::{Field, Schema};

    use super::*;
    use crate::schema::arrow_type;

    fn read(types: &[(&str, ColumnType)], values: &[&str]) -> Result<RecordBatch, String> {
        read_by(types, values, true)
    }

    /// [`read`] by the fast path where it applies (`fast`), or the general
    /// path alone.
    fn read_by(
        types: &[(&str, ColumnType)],
        values: &[&str],
        fast: bool,
    ) -> Result<RecordBatch, String> {
        let fields: Vec<Field> = types
            .iter()
            .map(|(n, t)| Field::new(*n, arrow_type(*t), true))
            .collect();
        let declared: Vec<Column> = types.iter().map(|(n, t)| Column::new(*n, *t)).collect();
        let schema = Arc::new(Schema::new(fields));
        let mut columns = JsonColumns::new(schema, &declared, values.len());
        if !fast {
            columns = columns.without_fast_path();
        }
        for value in values {
            columns.push(value.as_bytes())?;
        }
        columns.finish()
    }

    mod fast_path;

    #[test]
    fn converts_each_type_and_reads_escaped_keys_by_the_parse() {
        use ColumnType::*;
        let types = [
            ("Index", String),
            ("Volume", Bigint),
            ("Close", Double),
            ("Date", Date),
            ("At", Timestamp),
            ("Up", Boolean),
        ];
        let batch = read(
            &types,
            &[
                r#"{"Index":"HSI","Volume":7,"Close":1.5,"Date":"1970-01-02","At":"1970-01-01T00:00:01Z","Up":true,"x":[1]}"#,
                r#"{"Up":false,"Volume":"8","Close":"2e0","Index":"N\u00c9","Date":null}"#,
                r#" { "Ind\u0065x" : "escaped key" , "At": 5 } "#,
            ],
        )
        .unwrap();
        let index = batch.column(0).as_string::<i32>();
        assert_eq!(
            [index.value(0), index.value(1), index.value(2)],
            ["HSI", "NÉ", "escaped key"]
        );
        assert_eq!(
            batch
                .column(1)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec(),
            [7, 8, 0]
        );
        assert!(batch.column(1).is_null(2));
        assert_eq!(batch.column(2).as_primitive::<Float64Type>().value(1), 2.0);
        assert_eq!(batch.column(3).as_primitive::<Date32Type>().value(0), 1);
        assert!(batch.column(3).is_null(1));
        let at = batch.column(4).as_primitive::<TimestampMillisecondType>();
        assert_eq!((at.value(0), at.value(2)), (1000, 5));
        assert!(batch.column(5).as_boolean().value(0));
    }

    #[test]
    fn refuses_what_does_not_fit_or_is_not_one_object() {
        use ColumnType::*;
        let types = [("Index", String), ("Volume", Bigint), ("Date", Date)];
        for (bad, says) in [
            (r#"{"Volume":1.5}"#, "Volume: 1.5 is not a whole number"),
            (r#"{"Volume":"many"}"#, "Volume: \"many\" is not a bigint"),
            (r#"{"Volume":99999999999999999999}"#, "not a bigint"),
            (r#"{"Index":1}"#, "Index: 1 is not a string"),
            (r#"{"Index":{"a":1}}"#, "not a string"),
            (r#"{"Date":"soon"}"#, "Date: \"soon\" is not a date"),
            (r#"{"Index":"a","Index":"b"}"#, "Index appears twice"),
            (r#"{"Other":12x}"#, "Other"),
            (r#"{"Volume":12x}"#, "not valid JSON"),
            (r#"{"Index":"HSI"} {"Index":"NYA"}"#, "trailing"),
            (r#"{"Index":"HSI","#, "not a JSON object"),
            (" ", "not a JSON object"),
            ("[1]", "not a JSON object"),
            ("{\"Index\":\"a\u{1}\"}", "control character"),
            ("{\"Index\":\"HSI\",\u{c}\"Volume\":1}", "not a JSON object"),
        ] {
            let err = read(&types, &[bad]).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
    #[test]
    fn refuses_case_variants_of_the_names_given_by_scan_and_by_parse() {
        let declared = [Column::new("pad", ColumnType::String)];
        let schema = Arc::new(Schema::new(vec![Field::new(
            "pad",
            arrow_type(ColumnType::String),
            true,
        )]));
        let names = ["pad", "Index"].map(|n| (n.to_string(), n.to_lowercase()));
        let push = |value: &str| {
            JsonColumns::new(schema.clone(), &declared, 1)
                .refusing_case_variants_of(&names)
                .push(value.as_bytes())
        };
        assert_eq!(
            push(r#"{"pad":"","Index":"HSI"}"#),
            Ok(()),
            "the names themselves"
        );
        let err = push(r#"{"pad":"","PAD":"x"}"#).unwrap_err();
        assert!(
            err.contains("field PAD differs from column pad only in case"),
            "{err}"
        );
        // An escaped key is read by the parse.
        let err = push(r#"{"pad":"","\u0069ndex":"HSI"}"#).unwrap_err();
        assert!(
            err.contains("field index differs from column Index"),
            "{err}"
        );
    }
}

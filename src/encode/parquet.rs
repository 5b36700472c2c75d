//! Parquet: one row group per object, columns from a declared schema.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::{BufMut, BytesMut};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::json_columns::JsonColumns;
use super::{EncodeError, Encoder};
use crate::record::Record;
use crate::schema::{Column, arrow_type};

/// Compression inside Parquet files (per column chunk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParquetCompression {
    /// Snappy (default): fast, moderate ratio.
    #[default]
    Snappy,
    /// zstd at the given level (1-22).
    Zstd(i32),
    /// No compression.
    None,
}

/// Writes each object as one Parquet file with a declared schema.
///
/// Columns come from the user ([`ParquetEncoder::new`]) or from a crawled
/// catalog table (`ParquetEncoder::new(table.columns.clone())`), with names kept exactly
/// (`Adj Close`). Every column is nullable: a record missing a field gets a
/// null, fields not in the schema are ignored (but must be valid JSON),
/// and a value that does not fit its column's type (text or a fraction in
/// a `bigint` column, a field named twice) rejects that record only.
/// Dates are `YYYY-MM-DD` strings, timestamps ISO 8601 strings; a number
/// written as a string fits a number column. Each object's records are
/// read in one pass straight into Arrow columns.
///
/// Use it with whole-object compression `none`: Parquet compresses inside.
///
/// ```
/// use streamlake::schema::{Column, ColumnType};
/// use streamlake::{Encoder, ParquetEncoder, Position, Record};
///
/// let encoder = ParquetEncoder::new(vec![
///     Column { name: "Index".into(), column_type: ColumnType::String },
///     Column { name: "Adj Close".into(), column_type: ColumnType::Double },
/// ]);
/// let records = [Record::new(Position::new("s", 0, 0), r#"{"Index":"HSI","Adj Close":1.5}"#)];
/// let mut out = bytes::BytesMut::new();
/// encoder.encode(&records, &mut out).unwrap();
/// assert_eq!(&out[..4], b"PAR1");
/// ```
#[derive(Clone, Debug)]
pub struct ParquetEncoder {
    schema: SchemaRef,
    columns: Vec<Column>,
    compression: ParquetCompression,
    /// See [`refusing_case_variants_of`](Self::refusing_case_variants_of):
    /// each name with its lower case, folded once here.
    case_variants_refused: Vec<(String, String)>,
}

impl ParquetEncoder {
    /// An encoder writing these columns, Snappy-compressed.
    pub fn new(columns: Vec<Column>) -> Self {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.column_type), true))
            .collect();
        Self {
            schema: Arc::new(Schema::new(fields)),
            columns,
            compression: ParquetCompression::Snappy,
            case_variants_refused: Vec::new(),
        }
    }

    /// Refuses a record with a field that is not a column but equals one of
    /// `names` ignoring case (a Delta table's column names ignore case: such
    /// a field can become no column of its own).
    #[cfg_attr(
        not(feature = "delta"),
        expect(dead_code, reason = "used by the Delta sink")
    )]
    pub(crate) fn refusing_case_variants_of(mut self, names: Vec<String>) -> Self {
        self.case_variants_refused = names
            .into_iter()
            .map(|name| {
                let lower = name.to_lowercase();
                (name, lower)
            })
            .collect();
        self
    }

    /// Timestamp columns as microseconds in UTC (Delta's `timestamp`)
    /// instead of milliseconds without a time zone.
    #[cfg_attr(
        not(feature = "delta"),
        expect(dead_code, reason = "used by the Delta sink")
    )]
    pub(crate) fn utc_microsecond_timestamps(mut self) -> Self {
        let utc_micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(..) => f.as_ref().clone().with_data_type(utc_micros.clone()),
                _ => f.as_ref().clone(),
            })
            .collect();
        self.schema = Arc::new(Schema::new(fields));
        self
    }

    /// Compression inside the file (Snappy by default).
    pub fn compression(mut self, compression: ParquetCompression) -> Self {
        self.compression = compression;
        self
    }

    /// The Arrow schema of the files.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// All records as one batch, in one pass over their values
    /// ([`JsonColumns`]); the error names the first bad record.
    fn batch(&self, records: &[Record]) -> std::result::Result<RecordBatch, EncodeError> {
        let fail = |index: usize, reason: String| EncodeError { index, reason };
        let mut columns = JsonColumns::new(self.schema.clone(), &self.columns, records.len())
            .refusing_case_variants_of(&self.case_variants_refused);
        for (index, record) in records.iter().enumerate() {
            columns.push(&record.value).map_err(|e| fail(index, e))?;
        }
        columns.finish().map_err(|e| fail(0, e))
    }
}

impl Encoder for ParquetEncoder {
    fn extension(&self) -> &str {
        "parquet"
    }

    /// Parquet compresses column chunks inside the file.
    fn allows_object_compression(&self) -> bool {
        false
    }

    /// The Arrow columns and the file, counted at twice the values: more
    /// than they take since the one-pass decoder replaced arrow-json's
    /// tape, kept so on purpose (counted at 1x, the bulk load peaked at
    /// 221-274 MiB at the default cap; at 2x, 170-190 MiB).
    fn working_memory(&self, data_bytes: usize) -> usize {
        data_bytes * 2
    }

    /// Every value is decoded whole into the schema's columns.
    fn checks_values(&self) -> bool {
        true
    }

    /// Each record decoded alone into the schema (no file is written).
    fn refused(&self, records: &[Record]) -> Vec<EncodeError> {
        records
            .iter()
            .enumerate()
            .filter_map(|(index, record)| {
                self.batch(std::slice::from_ref(record))
                    .err()
                    .map(|e| EncodeError {
                        index,
                        reason: e.reason,
                    })
            })
            .collect()
    }

    fn encode(
        &self,
        records: &[Record],
        out: &mut BytesMut,
    ) -> std::result::Result<(), EncodeError> {
        let batch = self.batch(records)?;
        let codec = match self.compression {
            ParquetCompression::Snappy => Codec::SNAPPY,
            ParquetCompression::Zstd(level) => {
                Codec::ZSTD(ZstdLevel::try_new(level).unwrap_or_default())
            }
            ParquetCompression::None => Codec::UNCOMPRESSED,
        };
        let mut properties = WriterProperties::builder()
            .set_compression(codec)
            .set_created_by("streamlake".into());
        for name in mostly_distinct_columns(&batch) {
            properties = properties.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
        let properties = properties.build();
        let failed = |e: ParquetError| EncodeError {
            index: 0,
            reason: format!("writing Parquet: {e}"),
        };
        let mut writer = ArrowWriter::try_new(out.writer(), self.schema.clone(), Some(properties))
            .map_err(failed)?;
        if batch.num_rows() > 0 {
            writer.write(&batch).map_err(failed)?;
        }
        writer.close().map_err(failed)?;
        Ok(())
    }
}

/// Rows sampled per column to judge whether its values repeat: enough to
/// tell "mostly distinct" from "repeating", few enough that the small
/// objects of a Kafka group (a few hundred rows) are not hashed whole
/// (that was a tenth of the Kafka → Parquet path).
const DICTIONARY_SAMPLE: usize = 128;

/// The columns of `batch` whose sampled values are mostly (more than half)
/// distinct, to be written without a dictionary. Dictionary encoding pays
/// where values repeat (a ticker, a date); for mostly distinct values
/// (prices) the writer hashes every value into a dictionary as large as
/// the column for nothing: a tenth of a bulk load's instructions.
fn mostly_distinct_columns(batch: &RecordBatch) -> Vec<String> {
    let step = batch.num_rows().div_ceil(DICTIONARY_SAMPLE).max(1);
    let schema = batch.schema();
    let distinct = |(field, column): (&Arc<Field>, &Arc<dyn Array>)| {
        mostly_distinct(column.as_ref(), step).then(|| field.name().clone())
    };
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter_map(distinct)
        .collect()
}

/// Whether the non-null values of `column` at every `step`-th row are
/// mostly distinct (strings and fixed-width values; at least 64 of them).
fn mostly_distinct(column: &dyn Array, step: usize) -> bool {
    let data = column.to_data();
    let strings = column.as_string_opt::<i32>();
    let width = column.data_type().primitive_width();
    let value = |row: usize| -> Option<&[u8]> {
        if column.is_null(row) {
            return None;
        }
        match (strings, width) {
            (Some(strings), _) => Some(strings.value(row).as_bytes()),
            (None, Some(width)) => {
                let start = (data.offset() + row) * width;
                data.buffers()[0].as_slice().get(start..start + width)
            }
            (None, None) => None,
        }
    };
    let sample: Vec<&[u8]> = (0..column.len()).step_by(step).filter_map(value).collect();
    let distinct: HashSet<&[u8], rapidhash::fast::RandomState> = sample.iter().copied().collect();
    sample.len() >= 64 && distinct.len() * 2 > sample.len()
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::record::Position;
    use crate::schema::ColumnType;

    fn columns() -> Vec<Column> {
        use ColumnType::*;
        [
            ("Index", String),
            ("Date", Date),
            ("Adj Close", Double),
            ("Volume", Bigint),
        ]
        .into_iter()
        .map(|(name, column_type)| Column {
            name: name.into(),
            column_type,
        })
        .collect()
    }

    fn record(offset: i64, value: &str) -> Record {
        Record::new(Position::new("s", 0, offset), value.to_string())
    }

    #[test]
    fn mostly_distinct_columns_are_written_without_a_dictionary() {
        let encoder = ParquetEncoder::new(columns());
        let records: Vec<Record> = (0..500)
            .map(|i| {
                let value = format!(
                    r#"{{"Index":"HSI","Date":"1990-01-0{}","Adj Close":{}.25,"Volume":{}}}"#,
                    1 + i % 3,
                    i,
                    i % 2
                );
                record(i, &value)
            })
            .collect();
        let mut out = BytesMut::new();
        encoder.encode(&records, &mut out).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(out.freeze()).unwrap();
        let chunks = reader.metadata().row_group(0).columns();
        let dictionary: Vec<bool> = chunks
            .iter()
            .map(|c| c.dictionary_page_offset().is_some())
            .collect();
        assert_eq!(
            dictionary,
            [true, true, false, true],
            "Adj Close is distinct"
        );
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        let close = batch
            .column(2)
            .as_primitive::<arrow_array::types::Float64Type>();
        assert_eq!((close.value(0), close.value(499)), (0.25, 499.25));
    }

    #[test]
    fn writes_a_readable_file_and_names_a_bad_record() {
        let encoder = ParquetEncoder::new(columns()).compression(ParquetCompression::Zstd(3));
        let records = [
            record(
                0,
                r#"{"Index":"HSI","Date":"1990-01-02","Adj Close":1.5,"Volume":7}"#,
            ),
            record(1, r#"{"Index":"NYA","Date":"1990-01-03","Extra":true}"#),
        ];
        let mut out = BytesMut::new();
        encoder.encode(&records, &mut out).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(out.freeze())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(batches[0].schema().field(2).name(), "Adj Close");
        assert_eq!(batches[0].column(3).null_count(), 1);

        for bad in [
            r#"{"Index":"HSI","Volume":"many"}"#,
            r#"{"Volume":1.5}"#,
            r#"{"Index":"HSI"} {"Index":"NYA"}"#,
            r#"{"Index":"HSI","#,
            " ",
            r#"{"Index":"HSI","Open":12x}"#,
        ] {
            let bad = [records[0].clone(), record(2, bad)];
            let err = encoder.encode(&bad, &mut BytesMut::new()).unwrap_err();
            assert_eq!(err.index, 1, "{err}");
        }
    }
}

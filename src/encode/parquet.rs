//! Parquet: one row group per object, columns from a declared schema.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use arrow_json::reader::Decoder;
use arrow_schema::{Field, Schema, SchemaRef};
use bytes::{BufMut, BytesMut};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use super::{EncodeError, Encoder, whole_numbers};
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
/// null, fields not in the schema are ignored, and a value that does not
/// fit its column's type (text in a `bigint` column) rejects that record
/// only. Dates are `YYYY-MM-DD` strings, timestamps ISO 8601 strings.
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
    compression: ParquetCompression,
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
            compression: ParquetCompression::Snappy,
        }
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

    fn decoder(&self, rows: usize) -> std::result::Result<Decoder, String> {
        ReaderBuilder::new(self.schema.clone())
            .with_batch_size(rows.max(1))
            .build_decoder()
            .map_err(|e| e.to_string())
    }

    /// All records as one batch; the error names the first bad record.
    fn batch(&self, records: &[Record]) -> std::result::Result<Option<RecordBatch>, EncodeError> {
        let fail = |index: usize, reason: String| EncodeError { index, reason };
        let mut decoder = self.decoder(records.len()).map_err(|e| fail(0, e))?;
        let whole: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .filter(|f| f.data_type().is_integer())
            .map(|f| f.name().as_str())
            .collect();
        for (index, record) in records.iter().enumerate() {
            if !whole.is_empty() {
                whole_numbers::check(&record.value, &whole).map_err(|e| fail(index, e))?;
            }
            let read = decoder
                .decode(&record.value)
                .map_err(|e| fail(index, e.to_string()))?;
            // One whole object per record: never half of one, two, or none.
            if read != record.value.len()
                || decoder.has_partial_record()
                || decoder.len() != index + 1
            {
                return Err(fail(index, "value is not one JSON object".into()));
            }
        }
        match decoder.flush() {
            Ok(batch) => Ok(batch),
            // Values are converted to columns only at flush: find which
            // record it was by converting them one at a time.
            Err(e) => {
                for (index, record) in records.iter().enumerate() {
                    let mut single = self.decoder(1).map_err(|e| fail(index, e))?;
                    let checked = single
                        .decode(&record.value)
                        .and_then(|_| single.flush().map(|_| ()));
                    if let Err(e) = checked {
                        return Err(fail(index, e.to_string()));
                    }
                }
                Err(fail(0, e.to_string()))
            }
        }
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

    /// The JSON decoder's tape and the Arrow columns (together about the
    /// size of the values) and the file.
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
        let properties = WriterProperties::builder()
            .set_compression(codec)
            .set_created_by("streamlake".into())
            .build();
        let failed = |e: ParquetError| EncodeError {
            index: 0,
            reason: format!("writing Parquet: {e}"),
        };
        let mut writer = ArrowWriter::try_new(out.writer(), self.schema.clone(), Some(properties))
            .map_err(failed)?;
        if let Some(batch) = batch {
            writer.write(&batch).map_err(failed)?;
        }
        writer.close().map_err(failed)?;
        Ok(())
    }
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

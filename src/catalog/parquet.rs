//! Parquet objects: their columns from the footer alone.

use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;

use super::sample::ObjectColumns;
use crate::error::{Error, Result};
use crate::schema::column_type;

/// The columns of a Parquet object, from its footer only (the last 64 KiB,
/// more if the footer is larger).
pub(crate) async fn footer_columns(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
) -> Result<ObjectColumns> {
    let key = &meta.location;
    let len = meta.size;
    let bad = |e: ParquetError| Error::Corrupt {
        what: key.to_string(),
        reason: format!("not a readable Parquet file: {e}"),
    };
    if len < 12 {
        return Err(bad(ParquetError::General(format!("only {len} bytes"))));
    }
    let tail = store
        .get_range(key, len.saturating_sub(64 * 1024)..len)
        .await
        .map_err(|e| Error::store("get", key, e))?;
    let mut reader = ParquetMetaDataReader::new();
    match reader.try_parse_sized(&tail, len) {
        Ok(()) => {}
        Err(ParquetError::NeedMoreData(n)) => {
            let tail = store
                .get_range(key, len.saturating_sub(n as u64)..len)
                .await
                .map_err(|e| Error::store("get", key, e))?;
            reader.try_parse_sized(&tail, len).map_err(bad)?;
        }
        Err(e) => return Err(bad(e)),
    }
    let metadata = reader.finish().map_err(bad)?;
    let file = metadata.file_metadata();
    let schema =
        parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()).map_err(bad)?;
    let mut columns = ObjectColumns::default();
    for field in schema.fields() {
        columns
            .columns
            .push((field.name().clone(), Some(column_type(field.data_type()))));
    }
    Ok(columns)
}

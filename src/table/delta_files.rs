//! The data files of a Delta commit: a closed group's records encoded
//! as Parquet (partition columns in the log, not in the files) and
//! uploaded under names unique to the attempt.

use std::collections::HashMap;

use super::delta::data_columns;
use super::delta_commit::DeltaCommit;
use super::delta_log::DataFile;
use super::delta_schema;
use crate::encode::ParquetEncoder;
use crate::error::Result;
use crate::record::{Record, SourcePartition};
use crate::rejected::Rejected;
use crate::schema::{Column, ColumnType};
use crate::store::{Group, encode_group_with, put_all_new};
use crate::value::scalar_text;
use crate::value::scan::KnownKeys;

impl DeltaCommit {
    /// Uploads the group's data files; returns them for the commit.
    pub(super) async fn upload(
        &self,
        sp: &SourcePartition,
        group: &Group,
        columns: &[Column],
        refused: &mut Vec<Rejected>,
    ) -> Result<Vec<DataFile>> {
        let s = &self.settings;
        let attempt = uuid::Uuid::new_v4();
        let mut values = self.partition_values(group, columns, refused);
        let encoder = ParquetEncoder::new(data_columns(columns, &self.partition_columns))
            .utc_microsecond_timestamps()
            .refusing_case_variants_of(columns.iter().map(|c| c.name.clone()).collect());
        let keep = |path: &str| values.contains_key(path);
        let objects = encode_group_with(&encoder, s, group, keep, refused)?;
        let mut uploads = Vec::with_capacity(objects.len());
        for object in objects {
            // Unique per attempt; only characters a URI path keeps as they are.
            let name = format!(
                "part-{:05}-{:020}-{attempt}.parquet",
                sp.partition, object.first_offset
            );
            let relative_key = match object.path.as_str() {
                "" => name,
                path => format!("{path}/{name}"),
            };
            let key = s.lake.key([s.table.as_str(), relative_key.as_str()]);
            let file = DataFile {
                relative_key,
                size: object.bytes.content_length(),
                records: object.records,
                partition_values: values.remove(&object.path).unwrap_or_default(),
            };
            uploads.push((key, object.bytes, file));
        }
        // A few at a time, as the object groups of Hive tables go up.
        let files = put_all_new(&s.lake, uploads).await?;
        Ok(files)
    }

    /// The partition values of each path of `group`, read from its first
    /// record (its records rendered the path from the same texts). A path
    /// whose values are not of their columns' types has its records
    /// refused instead: the log would hold a value its readers reject.
    fn partition_values(
        &self,
        group: &Group,
        columns: &[Column],
        refused: &mut Vec<Rejected>,
    ) -> HashMap<String, HashMap<String, Option<String>>> {
        let mut values = HashMap::new();
        for (path, buffer) in group.objects() {
            let Some(first) = buffer.first_records(1).pop() else {
                continue;
            };
            match self.values_of(&first, columns) {
                Ok(of_path) => {
                    values.insert(path.to_string(), of_path);
                }
                Err(reason) => refused.extend(
                    buffer
                        .records()
                        .into_iter()
                        .map(|r| Rejected::new(r.position, r.value, reason.clone())),
                ),
            }
        }
        values
    }

    /// The partition values of `record`, in the log's form.
    fn values_of(
        &self,
        record: &Record,
        columns: &[Column],
    ) -> std::result::Result<HashMap<String, Option<String>>, String> {
        let known = &mut KnownKeys::default();
        let fields = self.settings.template.read_fields(&record.value, known)?;
        self.partition_columns
            .iter()
            .map(|name| {
                // A partition field only ever null has no type yet.
                let column = columns
                    .iter()
                    .find(|c| &c.name == name)
                    .cloned()
                    .unwrap_or_else(|| Column::new(name, ColumnType::String));
                let text = fields.get(name).and_then(scalar_text);
                let value = delta_schema::partition_value(&column, text.as_deref())?;
                Ok((name.clone(), value))
            })
            .collect()
    }
}

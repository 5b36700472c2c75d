//! AWS Glue `TableInput` JSON for a catalog table (what
//! `aws glue create-table --table-input` accepts).

use serde_json::{Value, json};

use super::athena::athena_name;
use super::{Format, Projection, Table, TableCompression};

/// A table as the Glue Data Catalog holds it: what the `TableInput` JSON
/// export and the Glue client (feature `glue`) both send.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GlueTableDef {
    pub(crate) name: String,
    /// Athena names and types.
    pub(crate) columns: Vec<(String, String)>,
    pub(crate) partition_keys: Vec<(String, String)>,
    pub(crate) location: String,
    pub(crate) input_format: &'static str,
    pub(crate) output_format: &'static str,
    pub(crate) serde: &'static str,
    pub(crate) serde_parameters: Vec<(String, String)>,
    pub(crate) parameters: Vec<(String, String)>,
    pub(crate) compressed: bool,
}

impl Table {
    /// The Glue `TableInput` for the table stored under `base` (the lake's
    /// URL, e.g. `s3://bucket/prefix`): columns and partition keys under
    /// their Athena names, SerDe and formats as in
    /// [`athena_ddl`](Table::athena_ddl).
    ///
    /// ```text
    /// aws glue create-table --database-name lake --table-input "$(lake_query --ddl glue ...)"
    /// ```
    pub fn glue_table_input(&self, base: &str) -> Value {
        self.glue_table_input_with(base, None)
    }

    /// [`glue_table_input`](Table::glue_table_input), with partition
    /// projection parameters when `projection` is given.
    pub fn glue_table_input_with(&self, base: &str, projection: Option<&Projection>) -> Value {
        self.glue_definition(base, projection).to_json()
    }

    /// The table as Glue holds it.
    pub(crate) fn glue_definition(
        &self,
        base: &str,
        projection: Option<&Projection>,
    ) -> GlueTableDef {
        let sql_columns = self.sql_columns();
        let renamed: Vec<(String, String)> = sql_columns
            .iter()
            .filter(|c| c.name != c.source)
            .map(|c| (format!("mapping.{}", c.name), c.source.to_string()))
            .collect();
        let any_renamed = !renamed.is_empty();
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (input_format, output_format, serde, mut serde_parameters) = match self.format {
            Format::JsonLines => {
                let mut parameters = pairs(&[("case.insensitive", "false")]);
                parameters.extend(renamed);
                (
                    TEXT_INPUT,
                    TEXT_OUTPUT,
                    "org.openx.data.jsonserde.JsonSerDe",
                    parameters,
                )
            }
            Format::Csv => (
                TEXT_INPUT,
                TEXT_OUTPUT,
                "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                pairs(&[
                    ("separatorChar", ","),
                    ("quoteChar", "\""),
                    ("escapeChar", "\\"),
                ]),
            ),
            Format::Parquet => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                Vec::new(),
            ),
        };
        if self.format == Format::Parquet && any_renamed {
            serde_parameters.extend(pairs(&[("parquet.column.index.access", "true")]));
        }
        GlueTableDef {
            name: self.name.clone(),
            columns: sql_columns
                .iter()
                .map(|c| (c.name.clone(), c.sql_type.to_string()))
                .collect(),
            partition_keys: self
                .partition_keys
                .iter()
                .map(|k| (athena_name(&k.name), k.column_type.sql_name().to_string()))
                .collect(),
            location: self.url(base),
            input_format,
            output_format,
            serde,
            serde_parameters,
            parameters: self.table_parameters(base, projection),
            compressed: self.compression != TableCompression::None,
        }
    }
}

const TEXT_INPUT: &str = "org.apache.hadoop.mapred.TextInputFormat";
const TEXT_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";

impl GlueTableDef {
    /// The `TableInput` JSON (`aws glue create-table --table-input`).
    pub(crate) fn to_json(&self) -> Value {
        let named = |pairs: &[(String, String)]| -> Vec<Value> {
            pairs
                .iter()
                .map(|(name, t)| json!({"Name": name, "Type": t}))
                .collect()
        };
        let map = |pairs: &[(String, String)]| -> Value {
            Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect(),
            )
        };
        json!({
            "Name": self.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": map(&self.parameters),
            "PartitionKeys": named(&self.partition_keys),
            "StorageDescriptor": {
                "Columns": named(&self.columns),
                "Location": self.location,
                "InputFormat": self.input_format,
                "OutputFormat": self.output_format,
                "Compressed": self.compressed,
                "SerdeInfo": {
                    "SerializationLibrary": self.serde,
                    "Parameters": map(&self.serde_parameters),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::athena::tests::stock;

    #[test]
    fn table_input_parses_and_names_every_column_and_partition_key() {
        for format in [Format::JsonLines, Format::Csv, Format::Parquet] {
            let table = stock(format, TableCompression::None);
            let text = serde_json::to_string_pretty(&table.glue_table_input("s3://b/l")).unwrap();
            let input: Value = serde_json::from_str(&text).unwrap();
            let names = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["Name"].as_str().unwrap().to_string())
                    .collect()
            };
            assert_eq!(
                names(&input["StorageDescriptor"]["Columns"]),
                [
                    "index_2",
                    "date",
                    "open",
                    "adj_close",
                    "volume",
                    "adj_close_2"
                ]
            );
            assert_eq!(names(&input["PartitionKeys"]), ["index", "year"]);
            assert_eq!(input["PartitionKeys"][1]["Type"], "bigint");
            assert_eq!(input["Name"], "stock");
            assert_eq!(input["TableType"], "EXTERNAL_TABLE");
            assert_eq!(input["StorageDescriptor"]["Location"], "s3://b/l/stock/");
            let serde = &input["StorageDescriptor"]["SerdeInfo"];
            match format {
                Format::JsonLines => {
                    assert_eq!(serde["Parameters"]["mapping.adj_close"], "Adj Close");
                    assert_eq!(serde["Parameters"]["case.insensitive"], "false");
                }
                Format::Csv => assert_eq!(input["Parameters"]["skip.header.line.count"], "1"),
                Format::Parquet => {
                    assert_eq!(serde["Parameters"]["parquet.column.index.access"], "true")
                }
            }
        }
    }
}

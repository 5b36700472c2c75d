//! AWS Glue `TableInput` JSON for a catalog table (what
//! `aws glue create-table --table-input` accepts).

use serde_json::{Value, json};

use super::athena::{athena_name, classification};
use super::{Format, Table, TableCompression};

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
        let sql_columns = self.sql_columns();
        let columns: Vec<Value> = sql_columns
            .iter()
            .map(|c| json!({"Name": c.name, "Type": c.sql_type}))
            .collect();
        let keys: Vec<Value> = self
            .partition_keys
            .iter()
            .map(|k| json!({"Name": athena_name(&k.name), "Type": k.column_type.sql_name()}))
            .collect();
        let renamed: Vec<(String, String)> = sql_columns
            .iter()
            .filter(|c| c.name != c.source)
            .map(|c| (format!("mapping.{}", c.name), c.source.to_string()))
            .collect();
        let any_renamed = !renamed.is_empty();
        let (input, output, serde, mut serde_parameters) = match self.format {
            Format::JsonLines => {
                let mut parameters = serde_json::Map::new();
                parameters.insert("case.insensitive".into(), "false".into());
                for (key, source) in renamed {
                    parameters.insert(key, source.into());
                }
                (
                    "org.apache.hadoop.mapred.TextInputFormat",
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "org.openx.data.jsonserde.JsonSerDe",
                    parameters,
                )
            }
            Format::Csv => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                json!({"separatorChar": ",", "quoteChar": "\"", "escapeChar": "\\"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            Format::Parquet => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                serde_json::Map::new(),
            ),
        };
        if self.format == Format::Parquet && any_renamed {
            serde_parameters.insert("parquet.column.index.access".into(), "true".into());
        }
        let mut parameters = json!({
            "classification": classification(self.format),
            "EXTERNAL": "TRUE",
        });
        if self.format == Format::Csv {
            parameters["skip.header.line.count"] = "1".into();
        }
        if self.compression == TableCompression::Gzip {
            parameters["compressionType"] = "gzip".into();
        }
        json!({
            "Name": self.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters,
            "PartitionKeys": keys,
            "StorageDescriptor": {
                "Columns": columns,
                "Location": self.url(base),
                "InputFormat": input,
                "OutputFormat": output,
                "Compressed": self.compression != TableCompression::None,
                "SerdeInfo": {
                    "SerializationLibrary": serde,
                    "Parameters": serde_parameters,
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

//! Athena DDL for a catalog table: `CREATE EXTERNAL TABLE` and
//! `ALTER TABLE ... ADD PARTITION`.

use std::fmt::Write as _;

use super::{ColumnType, Format, Projection, Table, TableCompression, TableKind};

/// Partitions per `ALTER TABLE ... ADD PARTITION` statement.
const PARTITIONS_PER_STATEMENT: usize = 100;

/// A name Athena accepts: lowercase letters, digits and `_` (anything else
/// becomes `_`), e.g. `Adj Close` → `adj_close`.
pub(crate) fn athena_name(name: &str) -> String {
    name.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect()
}

/// One column as it appears in the DDL.
pub(crate) struct SqlColumn<'a> {
    /// Athena name (unique within the table).
    pub name: String,
    /// The name in the data.
    pub source: &'a str,
    /// DDL type.
    pub sql_type: &'static str,
}

impl Table {
    /// Data columns under Athena names, all of them and in file order (CSV
    /// and Parquet may be read by position), made unique with `_2`, `_3`,
    /// ... where names collide with each other or with a partition key
    /// (`Index` under `index=...` becomes `index_2`).
    pub(crate) fn sql_columns(&self) -> Vec<SqlColumn<'_>> {
        let keys: Vec<String> = self
            .partition_keys
            .iter()
            .map(|k| athena_name(&k.name))
            .collect();
        let mut out: Vec<SqlColumn> = Vec::new();
        for column in &self.columns {
            let base = athena_name(&column.name);
            let mut name = base.clone();
            let mut n = 1;
            while out.iter().any(|c| c.name == name) || keys.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            // OpenCSVSerDe reads dates and timestamps only as numbers.
            let sql_type = match (self.format, column.column_type) {
                (Format::Csv, ColumnType::Date | ColumnType::Timestamp) => "string",
                (_, t) => t.sql_name(),
            };
            out.push(SqlColumn {
                name,
                source: &column.name,
                sql_type,
            });
        }
        out
    }

    /// `{base}/{location}/`: where the table lives for AWS, with `base` the
    /// lake's URL (e.g. `s3://bucket/prefix`).
    pub(crate) fn url(&self, base: &str) -> String {
        format!("{}/{}/", base.trim_end_matches('/'), self.location)
    }

    /// Athena `CREATE EXTERNAL TABLE` for the table stored under `base`
    /// (the lake's URL, e.g. `s3://bucket/prefix`). JSON Lines uses the
    /// OpenX JSON SerDe with a `mapping.*` property for every column whose
    /// Athena name differs from its JSON key; CSV uses OpenCSVSerde and
    /// skips the header line (dates and timestamps as `string`, which is
    /// how that SerDe can read them); Parquet is `STORED AS PARQUET`, read
    /// by position when names had to change.
    pub fn athena_ddl(&self, base: &str) -> String {
        self.athena_ddl_with(base, None)
    }

    /// [`athena_ddl`](Table::athena_ddl), with partition projection table
    /// properties when `projection` is given (then no partition needs
    /// registering).
    pub fn athena_ddl_with(&self, base: &str, projection: Option<&Projection>) -> String {
        if self.kind == TableKind::Delta {
            // Athena reads the schema and partitions from the Delta log.
            return format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`\nLOCATION '{}'\n\
                 TBLPROPERTIES ('table_type' = 'DELTA');",
                self.name,
                quote(&self.url(base))
            );
        }
        let columns = self.sql_columns();
        let mut ddl = format!("CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n", self.name);
        let lines: Vec<String> = columns
            .iter()
            .map(|c| format!("  `{}` {}", c.name, c.sql_type))
            .collect();
        ddl.push_str(&lines.join(",\n"));
        ddl.push_str("\n)\n");
        if !self.partition_keys.is_empty() {
            let keys: Vec<String> = self
                .partition_keys
                .iter()
                .map(|k| format!("`{}` {}", athena_name(&k.name), k.column_type.sql_name()))
                .collect();
            let _ = writeln!(ddl, "PARTITIONED BY ({})", keys.join(", "));
        }
        let renamed = columns.iter().any(|c| c.name != c.source);
        match self.format {
            Format::JsonLines => {
                ddl.push_str("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n");
                let mut properties = vec!["'case.insensitive' = 'false'".to_string()];
                properties.extend(
                    columns
                        .iter()
                        .filter(|c| c.name != c.source)
                        .map(|c| format!("'mapping.{}' = '{}'", c.name, quote(c.source))),
                );
                let _ = writeln!(
                    ddl,
                    "WITH SERDEPROPERTIES (\n  {}\n)",
                    properties.join(",\n  ")
                );
                ddl.push_str("STORED AS TEXTFILE\n");
            }
            Format::Csv => {
                ddl.push_str("ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'\n");
                ddl.push_str(
                    "WITH SERDEPROPERTIES (\n  'separatorChar' = ',',\n  'quoteChar' = '\"',\n  \
                     'escapeChar' = '\\\\'\n)\n",
                );
                ddl.push_str("STORED AS TEXTFILE\n");
            }
            Format::Parquet => {
                if renamed {
                    ddl.push_str(
                        "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n\
                         WITH SERDEPROPERTIES ('parquet.column.index.access' = 'true')\n",
                    );
                }
                ddl.push_str("STORED AS PARQUET\n");
            }
        }
        let _ = writeln!(ddl, "LOCATION '{}'", quote(&self.url(base)));
        let properties: Vec<String> = self
            .table_parameters(base, projection)
            .iter()
            .filter(|(key, _)| key != "EXTERNAL")
            .map(|(key, value)| format!("'{}' = '{}'", quote(key), quote(value)))
            .collect();
        let _ = write!(ddl, "TBLPROPERTIES ({});", properties.join(", "));
        ddl
    }

    /// `ALTER TABLE ... ADD IF NOT EXISTS PARTITION ...` statements (100
    /// partitions each) registering every partition under `base`; empty
    /// for an unpartitioned table.
    pub fn athena_partitions(&self, base: &str) -> Vec<String> {
        if self.partition_keys.is_empty() {
            return Vec::new();
        }
        self.partitions
            .chunks(PARTITIONS_PER_STATEMENT)
            .map(|chunk| {
                let mut sql = format!("ALTER TABLE `{}` ADD IF NOT EXISTS", self.name);
                for partition in chunk {
                    let spec: Vec<String> = self
                        .partition_keys
                        .iter()
                        .zip(&partition.values)
                        .map(|(key, value)| {
                            let literal = match key.column_type {
                                ColumnType::Bigint | ColumnType::Double | ColumnType::Boolean => {
                                    value.clone()
                                }
                                _ => format!("'{}'", quote(value)),
                            };
                            format!("`{}` = {literal}", athena_name(&key.name))
                        })
                        .collect();
                    let location =
                        format!("{}/{}/", base.trim_end_matches('/'), partition.location);
                    let _ = write!(
                        sql,
                        "\n  PARTITION ({}) LOCATION '{}'",
                        spec.join(", "),
                        quote(&location)
                    );
                }
                sql.push(';');
                sql
            })
            .collect()
    }
}

impl Table {
    /// The table's properties (Glue `Parameters`, Athena `TBLPROPERTIES`):
    /// `EXTERNAL`, `classification`, the CSV header, gzip compression, and
    /// partition projection when given.
    pub(crate) fn table_parameters(
        &self,
        base: &str,
        projection: Option<&Projection>,
    ) -> Vec<(String, String)> {
        if self.kind == TableKind::Delta {
            // How Athena finds a Delta table in the Glue catalog.
            return vec![
                ("EXTERNAL".to_string(), "TRUE".to_string()),
                ("table_type".to_string(), "DELTA".to_string()),
            ];
        }
        let mut out = vec![
            ("EXTERNAL".to_string(), "TRUE".to_string()),
            (
                "classification".to_string(),
                classification(self.format).to_string(),
            ),
        ];
        if self.format == Format::Csv {
            out.push(("skip.header.line.count".into(), "1".into()));
        }
        if self.compression == TableCompression::Gzip {
            out.push(("compressionType".into(), "gzip".into()));
        }
        if let Some(projection) = projection {
            out.extend(projection.parameters(self, base));
        }
        out
    }
}

/// Glue's `classification` of a format.
pub(crate) fn classification(format: Format) -> &'static str {
    match format {
        Format::JsonLines => "json",
        Format::Csv => "csv",
        Format::Parquet => "parquet",
    }
}

/// A string for inside single quotes in Hive DDL (backslash escapes).
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::{Column, Partition};

    fn column(name: &str, column_type: ColumnType) -> Column {
        Column {
            name: name.into(),
            column_type,
        }
    }

    /// The stock table as the crawler records it.
    pub(crate) fn stock(format: Format, compression: TableCompression) -> Table {
        use ColumnType::*;
        Table {
            name: "stock".into(),
            location: "stock".into(),
            format,
            compression,
            columns: vec![
                column("Index", String),
                column("Date", Date),
                column("Open", Double),
                column("Adj Close", Double),
                column("Volume", Bigint),
                column("adj close", String),
            ],
            partition_keys: vec![column("index", String), column("year", Bigint)],
            partitions: vec![
                Partition {
                    values: vec!["HSI".into(), "1990".into()],
                    location: "stock/index=HSI/year=1990".into(),
                    files: 2,
                    bytes: 100,
                },
                Partition {
                    values: vec!["O'Neil".into(), "1991".into()],
                    location: "stock/index=O%27Neil/year=1991".into(),
                    files: 1,
                    bytes: 50,
                },
            ],
            objects: BTreeMap::new(),
            kind: crate::catalog::TableKind::HiveObjects,
        }
    }

    #[test]
    fn a_delta_table_is_declared_by_location_and_table_type() {
        let mut table = stock(Format::Parquet, TableCompression::None);
        table.kind = TableKind::Delta;
        assert_eq!(
            table.athena_ddl("s3://b/lake"),
            "CREATE EXTERNAL TABLE IF NOT EXISTS `stock`\nLOCATION 's3://b/lake/stock/'\n\
             TBLPROPERTIES ('table_type' = 'DELTA');"
        );
        assert!(
            table
                .table_parameters("s3://b/lake", None)
                .contains(&("table_type".into(), "DELTA".into()))
        );
    }

    #[test]
    fn athena_names_are_lowercase_letters_digits_underscores() {
        assert_eq!(athena_name("Adj Close"), "adj_close");
        assert_eq!(athena_name("CloseUSD"), "closeusd");
        assert_eq!(athena_name("a-b.c"), "a_b_c");
    }

    #[test]
    fn json_lines_ddl_maps_renamed_columns_back_to_their_keys() {
        let ddl = stock(Format::JsonLines, TableCompression::Gzip).athena_ddl("s3://bucket/lake/");
        assert_eq!(
            ddl,
            "CREATE EXTERNAL TABLE IF NOT EXISTS `stock` (
  `index_2` string,
  `date` date,
  `open` double,
  `adj_close` double,
  `volume` bigint,
  `adj_close_2` string
)
PARTITIONED BY (`index` string, `year` bigint)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'case.insensitive' = 'false',
  'mapping.index_2' = 'Index',
  'mapping.date' = 'Date',
  'mapping.open' = 'Open',
  'mapping.adj_close' = 'Adj Close',
  'mapping.volume' = 'Volume',
  'mapping.adj_close_2' = 'adj close'
)
STORED AS TEXTFILE
LOCATION 's3://bucket/lake/stock/'
TBLPROPERTIES ('classification' = 'json', 'compressionType' = 'gzip');"
        );
        assert_eq!(
            stock(Format::JsonLines, TableCompression::None).athena_partitions("s3://bucket/lake"),
            vec![
                "ALTER TABLE `stock` ADD IF NOT EXISTS
  PARTITION (`index` = 'HSI', `year` = 1990) LOCATION 's3://bucket/lake/stock/index=HSI/year=1990/'
  PARTITION (`index` = 'O\\'Neil', `year` = 1991) LOCATION 's3://bucket/lake/stock/index=O%27Neil/year=1991/';"
                    .to_string()
            ]
        );
    }

    #[test]
    fn csv_ddl_uses_opencsvserde_and_skips_the_header() {
        let ddl = stock(Format::Csv, TableCompression::None).athena_ddl("s3://bucket/lake");
        assert_eq!(
            ddl,
            "CREATE EXTERNAL TABLE IF NOT EXISTS `stock` (
  `index_2` string,
  `date` string,
  `open` double,
  `adj_close` double,
  `volume` bigint,
  `adj_close_2` string
)
PARTITIONED BY (`index` string, `year` bigint)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES (
  'separatorChar' = ',',
  'quoteChar' = '\"',
  'escapeChar' = '\\\\'
)
STORED AS TEXTFILE
LOCATION 's3://bucket/lake/stock/'
TBLPROPERTIES ('classification' = 'csv', 'skip.header.line.count' = '1');"
        );
    }

    #[test]
    fn parquet_ddl_is_stored_as_parquet_read_by_position_when_renamed() {
        let ddl = stock(Format::Parquet, TableCompression::None).athena_ddl("s3://bucket/lake");
        assert_eq!(
            ddl,
            "CREATE EXTERNAL TABLE IF NOT EXISTS `stock` (
  `index_2` string,
  `date` date,
  `open` double,
  `adj_close` double,
  `volume` bigint,
  `adj_close_2` string
)
PARTITIONED BY (`index` string, `year` bigint)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
WITH SERDEPROPERTIES ('parquet.column.index.access' = 'true')
STORED AS PARQUET
LOCATION 's3://bucket/lake/stock/'
TBLPROPERTIES ('classification' = 'parquet');"
        );
    }
}

//! Athena partition projection: table properties from which Athena
//! computes a table's partitions itself, instead of reading them from the
//! catalog (no partition to register, none to repair). See
//! <https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html>.

use std::collections::BTreeMap;

use super::athena::athena_name;
use super::{ColumnType, Table};

/// How Athena computes the values of one partition key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProjection {
    /// `projection.KEY.type = enum`: these values (none may hold a comma).
    Enum(Vec<String>),
    /// `projection.KEY.type = integer`: every whole number in `min..=max`,
    /// written with at least `digits` digits (zero-padded) when given.
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
        /// Zero-padded width (`projection.KEY.digits`).
        digits: Option<usize>,
    },
    /// `projection.KEY.type = date`: every day from `start` to `end`
    /// (`yyyy-MM-dd`, or Athena's relative `NOW`, `NOW-3YEARS`, ...),
    /// written as `format` (a Java `DateTimeFormatter` pattern).
    Date {
        /// First day (`yyyy-MM-dd` or relative to `NOW`).
        start: String,
        /// Last day, usually `NOW`.
        end: String,
        /// How values are written in paths, e.g. `yyyy-MM-dd`.
        format: String,
    },
    /// `projection.KEY.type = injected`: the query names the value (a
    /// `WHERE KEY = ...` is then required).
    Injected,
}

/// Partition projection for a table: one [`KeyProjection`] per partition
/// key.
///
/// ```
/// use streamlake::catalog::{KeyProjection, Projection};
/// let projection = Projection::new()
///     .key("index", KeyProjection::Enum(vec!["HSI".into(), "NYA".into()]))
///     .key("dt", KeyProjection::Date {
///         start: "1965-01-05".into(),
///         end: "NOW".into(),
///         format: "yyyy-MM-dd".into(),
///     });
/// assert_eq!(projection.keys().count(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    keys: BTreeMap<String, KeyProjection>,
}

impl Projection {
    /// No key projected yet; keys left out are derived from the table
    /// ([`Projection::for_table`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Projects partition key `name` (its name in the lake, e.g. `index`).
    pub fn key(mut self, name: impl Into<String>, projection: KeyProjection) -> Self {
        self.keys.insert(name.into(), projection);
        self
    }

    /// The keys given, by name.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &KeyProjection)> {
        self.keys.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// This projection completed for `table` from what the crawler saw:
    /// a `date` key becomes a date range from its first value to `NOW`, a
    /// `bigint` key an integer range over its values, any other key an
    /// enum of its values (or `injected` when a value holds a comma).
    pub fn for_table(&self, table: &Table) -> Projection {
        let mut keys = self.keys.clone();
        for (i, key) in table.partition_keys.iter().enumerate() {
            let values = table.partitions.iter().filter_map(|p| p.values.get(i));
            keys.entry(key.name.clone())
                .or_insert_with(|| derive(key.column_type, values.map(String::as_str)));
        }
        Projection { keys }
    }

    /// Whether Athena would compute a partition with these values (in key
    /// order): false for a value outside an enum or an integer range, so
    /// that the table must be updated.
    pub fn admits(&self, table: &Table, values: &[String]) -> bool {
        table
            .partition_keys
            .iter()
            .zip(values)
            .all(|(key, value)| match self.keys.get(&key.name) {
                Some(KeyProjection::Enum(known)) => known.contains(value),
                Some(KeyProjection::Integer { min, max, .. }) => value
                    .parse::<i64>()
                    .is_ok_and(|v| (*min..=*max).contains(&v)),
                _ => true,
            })
    }

    /// The table properties that turn projection on for `table` stored
    /// under `base` (the lake's URL): `projection.enabled`, per key its
    /// `type` and settings, and `storage.location.template`.
    pub fn parameters(&self, table: &Table, base: &str) -> Vec<(String, String)> {
        let projection = self.for_table(table);
        let mut out = vec![("projection.enabled".to_string(), "true".to_string())];
        let mut template = table.url(base);
        for key in &table.partition_keys {
            let name = athena_name(&key.name);
            let prefix = format!("projection.{name}");
            let mut put =
                |suffix: &str, value: String| out.push((format!("{prefix}.{suffix}"), value));
            match &projection.keys[&key.name] {
                KeyProjection::Enum(values) => {
                    put("type", "enum".into());
                    put("values", values.join(","));
                }
                KeyProjection::Integer { min, max, digits } => {
                    put("type", "integer".into());
                    put("range", format!("{min},{max}"));
                    if let Some(digits) = digits {
                        put("digits", digits.to_string());
                    }
                }
                KeyProjection::Date { start, end, format } => {
                    put("type", "date".into());
                    put("range", format!("{start},{end}"));
                    put("format", format.clone());
                    put("interval", "1".into());
                    put("interval.unit", "DAYS".into());
                }
                KeyProjection::Injected => put("type", "injected".into()),
            }
            template.push_str(&format!("{}=${{{name}}}/", key.name));
        }
        out.push(("storage.location.template".into(), template));
        out
    }
}

/// The projection of a key of type `column_type` with these values.
fn derive<'a>(column_type: ColumnType, values: impl Iterator<Item = &'a str>) -> KeyProjection {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    match column_type {
        ColumnType::Date => KeyProjection::Date {
            start: values.first().map_or("NOW", |v| v).to_string(),
            end: "NOW".into(),
            format: "yyyy-MM-dd".into(),
        },
        ColumnType::Bigint => {
            let numbers: Vec<i64> = values.iter().filter_map(|v| v.parse().ok()).collect();
            KeyProjection::Integer {
                min: numbers.iter().copied().min().unwrap_or(0),
                max: numbers.iter().copied().max().unwrap_or(0),
                digits: None,
            }
        }
        _ if values.iter().any(|v| v.contains(',')) => KeyProjection::Injected,
        _ => KeyProjection::Enum(values.iter().map(|v| v.to_string()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Format, Partition, TableCompression};

    fn table() -> Table {
        let partition = |index: &str, dt: &str, hour: &str| Partition {
            values: vec![index.into(), dt.into(), hour.into()],
            location: format!("stock/index={index}/dt={dt}/hour={hour}"),
            files: 1,
            bytes: 10,
        };
        Table {
            name: "stock".into(),
            location: "stock".into(),
            format: Format::JsonLines,
            compression: TableCompression::None,
            columns: vec![Column::new("Close", ColumnType::Double)],
            partition_keys: vec![
                Column::new("Index", ColumnType::String),
                Column::new("dt", ColumnType::Date),
                Column::new("hour", ColumnType::Bigint),
            ],
            partitions: vec![
                partition("NYA", "1987-01-06", "3"),
                partition("HSI", "1987-01-05", "17"),
            ],
            objects: Default::default(),
            kind: Default::default(),
        }
    }

    /// Property names and formats as Athena documents them.
    #[test]
    fn golden_parameters_for_every_key_type() {
        let table = table();
        let derived = Projection::new().parameters(&table, "s3://bucket/lake");
        let expected: Vec<(String, String)> = [
            ("projection.enabled", "true"),
            ("projection.index.type", "enum"),
            ("projection.index.values", "HSI,NYA"),
            ("projection.dt.type", "date"),
            ("projection.dt.range", "1987-01-05,NOW"),
            ("projection.dt.format", "yyyy-MM-dd"),
            ("projection.dt.interval", "1"),
            ("projection.dt.interval.unit", "DAYS"),
            ("projection.hour.type", "integer"),
            ("projection.hour.range", "3,17"),
            (
                "storage.location.template",
                "s3://bucket/lake/stock/Index=${index}/dt=${dt}/hour=${hour}/",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(derived, expected);

        let given = Projection::new()
            .key("Index", KeyProjection::Injected)
            .key(
                "hour",
                KeyProjection::Integer {
                    min: 0,
                    max: 23,
                    digits: Some(2),
                },
            )
            .parameters(&table, "s3://bucket/lake");
        let get = |k: &str| {
            given
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("projection.index.type"), Some("injected"));
        assert_eq!(get("projection.index.values"), None);
        assert_eq!(get("projection.hour.range"), Some("0,23"));
        assert_eq!(get("projection.hour.digits"), Some("2"));
    }

    #[test]
    fn values_outside_an_enum_or_a_range_are_not_admitted() {
        let table = table();
        let projection = Projection::new().for_table(&table);
        let values = |v: [&str; 3]| v.map(String::from).to_vec();
        assert!(projection.admits(&table, &values(["HSI", "2030-01-01", "17"])));
        assert!(!projection.admits(&table, &values(["N225", "1987-01-05", "3"])));
        assert!(!projection.admits(&table, &values(["HSI", "1987-01-05", "18"])));
        let commas = Table {
            partitions: vec![Partition {
                values: vec!["a,b".into(), "1987-01-05".into(), "1".into()],
                location: "x".into(),
                files: 1,
                bytes: 1,
            }],
            ..table
        };
        assert_eq!(
            Projection::new().for_table(&commas).keys["Index"],
            KeyProjection::Injected
        );
    }
}

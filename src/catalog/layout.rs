//! Where an object sits in the lake's layout: its table directory, Hive
//! `key=value` partitions (unescaped) and format, from its key alone.

use super::Format;

/// Where an object sits: its table and partition.
pub(super) struct Placement {
    pub(super) location: String,
    pub(super) keys: Vec<String>,
    pub(super) values: Vec<String>,
    pub(super) partition: String,
    pub(super) format: Format,
}

/// Table, partition and format of a lake-relative key; `None` for the
/// lake's own bookkeeping (`_streamlake/`, `_catalog/`, `_errors/`) and
/// hidden files.
pub(super) fn place(relative: &str) -> std::result::Result<Option<Placement>, String> {
    let segments: Vec<&str> = relative.split('/').collect();
    if segments
        .iter()
        .any(|s| s.starts_with('_') || s.starts_with('.'))
    {
        return Ok(None);
    }
    let (dirs, file) = segments.split_at(segments.len() - 1);
    let format =
        Format::from_file_name(file[0]).ok_or("not a JSON Lines, CSV or Parquet object")?;
    let first_hive = dirs
        .iter()
        .position(|s| s.contains('='))
        .unwrap_or(dirs.len());
    if first_hive == 0 {
        return Err("no table directory above it".into());
    }
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for segment in &dirs[first_hive..] {
        let (key, value) = segment
            .split_once('=')
            .ok_or("a plain directory below a key=value partition")?;
        keys.push(unescape(key));
        values.push(unescape(value));
    }
    Ok(Some(Placement {
        location: dirs[..first_hive].join("/"),
        keys,
        values,
        partition: dirs.join("/"),
        format,
    }))
}

/// Undoes Hive's `%XX` escaping of partition path segments.
pub(crate) fn unescape(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_string())
}

/// The catalog name of a table location: lowercase letters, digits, `_`.
pub(crate) fn table_name(location: &str) -> String {
    super::athena::athena_name(&location.replace('/', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_objects_by_table_and_hive_partition() {
        let p = place("stock/index=N%2FA/year=1990/t+0+1.jsonl.gz")
            .unwrap()
            .unwrap();
        assert_eq!(p.location, "stock");
        assert_eq!(p.keys, ["index", "year"]);
        assert_eq!(p.values, ["N/A", "1990"]);
        assert_eq!(p.partition, "stock/index=N%2FA/year=1990");
        assert_eq!(p.format, Format::JsonLines);
        let p = place("raw/2024/a.csv").unwrap().unwrap();
        assert_eq!((p.location.as_str(), p.keys.len()), ("raw/2024", 0));
        assert!(place("_streamlake/groups/x.json").unwrap().is_none());
        assert!(place("stock/_errors/x.json").unwrap().is_none());
        assert!(place("stock/readme.txt").is_err());
        assert!(place("index=1/a.jsonl").is_err());
        assert!(place("t/k=1/plain/a.jsonl").is_err());
        assert_eq!(table_name("raw/Stock Data"), "raw_stock_data");
    }
}

#[cfg(test)]
mod properties {
    use object_store::path::Path;
    use proptest::prelude::*;

    use super::*;
    use crate::store::PartitionTemplate;
    use crate::value::JsonFields;

    proptest! {
        /// Whatever a partition value holds, the key streamlake renders
        /// for it is taken by object_store as it is, stays visible to the
        /// crawler, and unescapes back to the value.
        #[test]
        fn rendered_partition_values_round_trip_through_the_crawler(
            value in any::<String>().prop_filter("not empty", |v| !v.is_empty())
        ) {
            let template = PartitionTemplate::parse("{v}/k={v}").unwrap();
            let record = serde_json::json!({ "v": value }).to_string();
            let fields = JsonFields::parse(record.as_bytes()).unwrap();
            let path = template.render(&fields, None).unwrap();
            let key = format!("t/{path}/s+0+00000000000000000000.jsonl");
            let parsed = Path::parse(&key);
            prop_assert!(parsed.is_ok(), "{key}: {parsed:?}");
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.as_ref(), key.as_str());
            let placement = place(&key).unwrap();
            prop_assert!(placement.is_some(), "{key} is hidden from the crawler");
            let placement = placement.unwrap();
            prop_assert_eq!(&placement.values, std::slice::from_ref(&value));
            prop_assert_eq!(&placement.keys, &["k".to_string()]);
            let bare = placement.location.strip_prefix("t/").unwrap();
            prop_assert!(!bare.contains('/'));
            prop_assert_eq!(unescape(bare), value);
        }
    }
}

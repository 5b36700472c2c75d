//! Object and marker names: pure functions of the records they hold.

use std::borrow::Cow;

use object_store::path::Path;

use super::partition::escape;
use crate::lake::Lake;
use crate::record::SourcePartition;

/// Where group markers live, beside the tables (Hive and Athena skip `_` names).
pub(crate) const MARKER_DIR: &str = "_streamlake";

/// `{stream}+{partition}+{first_offset:020}.{extension}`: the name of the
/// object whose first record is at `first_offset`.
pub(crate) fn object_name(sp: &SourcePartition, first_offset: i64, extension: &str) -> String {
    format!(
        "{}+{}+{:020}.{extension}",
        escape(&sp.stream),
        sp.partition,
        first_offset
    )
}

/// `segment` with a leading `_` or `.` escaped (`%5F`, `%2E`): names that
/// start so are hidden from crawlers, Athena and Hive, and `.`/`..` would
/// be relative. The lake's own `_streamlake/`, `_errors/` stay hidden.
pub(crate) fn visible(segment: &str) -> Cow<'_, str> {
    match segment.as_bytes().first() {
        Some(b'_') => Cow::Owned(format!("%5F{}", &segment[1..])),
        Some(b'.') => Cow::Owned(format!("%2E{}", &segment[1..])),
        _ => Cow::Borrowed(segment),
    }
}

/// The name of the data object whose first record is at `first_offset`:
/// [`object_name`], never hidden.
pub(crate) fn data_object_name(sp: &SourcePartition, first_offset: i64, extension: &str) -> String {
    visible(&object_name(sp, first_offset, extension)).into_owned()
}

/// Key of the object starting at `first_offset` in `table/partition_path`.
pub(crate) fn object_key(
    lake: &Lake,
    table: &str,
    partition_path: &str,
    sp: &SourcePartition,
    first_offset: i64,
    extension: &str,
) -> Path {
    let name = data_object_name(sp, first_offset, extension);
    lake.key([table, partition_path, name.as_str()])
}

/// The longest partition path whose objects' keys (with names of
/// `name_len` bytes) fit the lake's store whatever the path holds: no
/// segment and no key can be too long. A longer path may still fit
/// ([`key_too_long`] says).
pub(crate) fn path_always_fits(lake: &Lake, table: &str, name_len: usize) -> usize {
    let limits = lake.key_limits();
    let by_key = limits.max_key_bytes.map_or(usize::MAX, |max| {
        max.saturating_sub(lake.root().as_ref().len() + table.len() + name_len + 3)
    });
    by_key.min(limits.max_segment_bytes.unwrap_or(usize::MAX))
}

/// Why the key of an object of `sp` under `table/partition_path` would be
/// too long for the lake's store, if it would: a path segment (a local
/// file name: 255 bytes) or the whole key (S3: 1,024 bytes).
pub(crate) fn key_too_long(
    lake: &Lake,
    table: &str,
    partition_path: &str,
    name_len: usize,
) -> Option<String> {
    let limits = lake.key_limits();
    // A path no longer than a segment may be has no segment too long.
    if let Some(max) = limits
        .max_segment_bytes
        .filter(|max| partition_path.len() > *max)
    {
        if let Some(long) = partition_path.split('/').find(|s| s.len() > max) {
            return Some(format!(
                "the partition path segment {:?}... is {} bytes; {} allows {max}",
                long.chars().take(40).collect::<String>(),
                long.len(),
                lake
            ));
        }
    }
    let max = limits.max_key_bytes?;
    let len = lake.root().as_ref().len() + table.len() + partition_path.len() + name_len + 3;
    (len > max).then(|| {
        format!("the object key would be {len} bytes; {lake} allows {max} (partition path {partition_path:?})")
    })
}

/// Where dead letters live, beside the tables.
pub(crate) const DEAD_LETTER_DIR: &str = "_errors";

/// Key of the dead letter of the record at `offset` of `sp`.
pub(crate) fn dead_letter_key(lake: &Lake, sp: &SourcePartition, offset: i64) -> Path {
    let name = object_name(sp, offset, "json");
    lake.key([DEAD_LETTER_DIR, name.as_str()])
}

/// Key of the marker of the object group of `sp` starting at `first_offset`.
pub(crate) fn marker_key(
    lake: &Lake,
    table: &str,
    sp: &SourcePartition,
    first_offset: i64,
) -> Path {
    let name = object_name(sp, first_offset, "json");
    lake.key([MARKER_DIR, "groups", table, name.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_names() {
        let lake = Lake::memory();
        let sp = SourcePartition::new("stock", 3);
        assert_eq!(
            object_key(
                &lake,
                "stock",
                "index=HSI/dt=1987-01-05",
                &sp,
                881,
                "jsonl.gz"
            )
            .as_ref(),
            "stock/index=HSI/dt=1987-01-05/stock+3+00000000000000000881.jsonl.gz"
        );
        assert_eq!(
            object_key(
                &lake,
                "t",
                "",
                &SourcePartition::new("a/b.csv", 0),
                2,
                "csv"
            )
            .as_ref(),
            "t/a%2Fb.csv+0+00000000000000000002.csv"
        );
        assert_eq!(
            marker_key(&lake, "stock", &sp, 0).as_ref(),
            "_streamlake/groups/stock/stock+3+00000000000000000000.json"
        );
    }

    /// The quick check the sink makes per record agrees with the full one:
    /// a path no longer than `path_always_fits` always fits, and the limit
    /// is the key's exactly when segments are not limited.
    #[test]
    fn a_path_within_the_quick_limit_always_fits() {
        use crate::lake::KeyLimits;
        let name_len = data_object_name(&SourcePartition::new("stock", 3), 0, "jsonl").len();
        for (max_key_bytes, max_segment_bytes) in [(Some(1024), None), (Some(300), Some(255))] {
            let limits = KeyLimits {
                max_key_bytes,
                max_segment_bytes,
            };
            let lake = Lake::memory().with_key_limits(limits);
            let fits = path_always_fits(&lake, "stock", name_len);
            for path in ["x".repeat(fits), format!("a={}/b", "y".repeat(fits - 4))] {
                assert_eq!(key_too_long(&lake, "stock", &path, name_len), None);
            }
            let longer = "z".repeat(fits + 1);
            assert!(key_too_long(&lake, "stock", &longer, name_len).is_some());
        }
        assert_eq!(
            path_always_fits(&Lake::memory(), "stock", name_len),
            usize::MAX
        );
    }
}

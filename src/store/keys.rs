//! Object and marker names: pure functions of the records they hold.

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

/// Key of the object starting at `first_offset` in `table/partition_path`.
pub(crate) fn object_key(
    lake: &Lake,
    table: &str,
    partition_path: &str,
    sp: &SourcePartition,
    first_offset: i64,
    extension: &str,
) -> Path {
    let name = object_name(sp, first_offset, extension);
    lake.key([table, partition_path, name.as_str()])
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
}

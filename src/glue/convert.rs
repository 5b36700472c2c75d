//! A catalog table as the Glue SDK's inputs: `TableInput` for the table,
//! `PartitionInput` for each partition, and the merge of a table the Data
//! Catalog holds already with what the crawler found (additive).

use std::collections::HashMap;

use aws_sdk_glue::types::{Column, PartitionInput, SerDeInfo, StorageDescriptor, TableInput};

use crate::catalog::SchemaConflictPolicy;
use crate::catalog::glue::GlueTableDef;
use crate::error::{Error, Result};

/// Glue `Column`s from names and types.
fn columns(pairs: &[(String, String)]) -> Result<Vec<Column>> {
    pairs
        .iter()
        .map(|(name, t)| Column::builder().name(name).r#type(t).build())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Config(format!("glue column: {e}")))
}

/// The storage descriptor of `def`, at `location`.
pub(super) fn storage(def: &GlueTableDef, location: &str) -> Result<StorageDescriptor> {
    let mut serde = SerDeInfo::builder().serialization_library(def.serde);
    for (key, value) in &def.serde_parameters {
        serde = serde.parameters(key, value);
    }
    Ok(StorageDescriptor::builder()
        .set_columns(Some(columns(&def.columns)?))
        .location(location)
        .input_format(def.input_format)
        .output_format(def.output_format)
        .compressed(def.compressed)
        .serde_info(serde.build())
        .build())
}

/// The `TableInput` creating or replacing the table.
pub(super) fn table_input(def: &GlueTableDef) -> Result<TableInput> {
    let mut input = TableInput::builder()
        .name(&def.name)
        .table_type("EXTERNAL_TABLE")
        .storage_descriptor(storage(def, &def.location)?)
        .set_partition_keys(Some(columns(&def.partition_keys)?));
    for (key, value) in &def.parameters {
        input = input.parameters(key, value);
    }
    input
        .build()
        .map_err(|e| Error::Config(format!("glue table {}: {e}", def.name)))
}

/// The `PartitionInput` of the partition with `values` (in key order) at
/// `location` (`s3://.../table/key=value/`).
pub(super) fn partition_input(
    def: &GlueTableDef,
    values: &[String],
    location: &str,
) -> Result<PartitionInput> {
    Ok(PartitionInput::builder()
        .set_values(Some(values.to_vec()))
        .storage_descriptor(storage(def, location)?)
        .build())
}

/// What the Data Catalog holds of a table, as far as a merge needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Held {
    pub(super) columns: Vec<(String, String)>,
    pub(super) partition_keys: Vec<String>,
    pub(super) serde_parameters: Vec<(String, String)>,
    pub(super) parameters: Vec<(String, String)>,
    pub(super) location: Option<String>,
}

impl Held {
    /// From the SDK's `Table`.
    pub(super) fn of(table: &aws_sdk_glue::types::Table) -> Self {
        let pairs = |map: Option<&HashMap<String, String>>| -> Vec<(String, String)> {
            let mut pairs: Vec<_> = map
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            pairs.sort();
            pairs
        };
        let sd = table.storage_descriptor();
        Held {
            columns: sd
                .map(|sd| {
                    sd.columns()
                        .iter()
                        .map(|c| (c.name().to_string(), c.r#type().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            partition_keys: table
                .partition_keys()
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            serde_parameters: pairs(
                sd.and_then(|sd| sd.serde_info())
                    .and_then(|s| s.parameters()),
            ),
            parameters: pairs(table.parameters()),
            location: sd.and_then(|sd| sd.location()).map(str::to_string),
        }
    }
}

/// The result of merging: the definition to write, and what changed.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Merged {
    /// `column (type)` added.
    pub(super) new_columns: Vec<String>,
    /// Type disagreements and what the policy did.
    pub(super) conflicts: Vec<String>,
    /// Whether anything differs from what is held (an update is due).
    pub(super) changed: bool,
}

/// Merges `held` into `def` additively: columns the catalog has and the
/// crawl did not find stay; new ones are appended; a type disagreement
/// keeps the catalog's type (`Log`) or takes the crawl's, which the
/// crawler widened already (`Update`). Properties the catalog has and
/// streamlake does not set are kept. Changed partition keys are a
/// conflict: Glue cannot re-partition a table.
pub(super) fn merge(
    def: &mut GlueTableDef,
    held: &Held,
    policy: SchemaConflictPolicy,
) -> Result<Merged> {
    let ours: Vec<String> = def.partition_keys.iter().map(|(k, _)| k.clone()).collect();
    if ours != held.partition_keys {
        return Err(Error::Conflict {
            key: def.name.clone(),
            reason: format!(
                "the Data Catalog partitions this table by {:?}, the lake by {ours:?}; \
                 drop the table or use another name",
                held.partition_keys
            ),
        });
    }
    let mut merged = Merged::default();
    let found: HashMap<String, String> = def.columns.iter().cloned().collect();
    let mut columns = Vec::with_capacity(held.columns.len().max(def.columns.len()));
    for (name, held_type) in &held.columns {
        match found.get(name) {
            Some(t) if t != held_type => {
                let (kept, action) = match policy {
                    SchemaConflictPolicy::Log => (held_type, "kept"),
                    SchemaConflictPolicy::Update => (t, "widened"),
                };
                merged.conflicts.push(format!(
                    "{}.{name}: catalog {held_type}, lake {t}: {action} {kept}",
                    def.name
                ));
                columns.push((name.clone(), kept.clone()));
            }
            _ => columns.push((name.clone(), held_type.clone())),
        }
    }
    for (name, t) in &def.columns {
        if !held.columns.iter().any(|(n, _)| n == name) {
            merged
                .new_columns
                .push(format!("{}.{name} ({t})", def.name));
            columns.push((name.clone(), t.clone()));
        }
    }
    def.columns = columns;
    def.serde_parameters = union(&held.serde_parameters, &def.serde_parameters);
    def.parameters = union(&held.parameters, &def.parameters);
    merged.changed = held.columns != def.columns
        || sorted(&def.serde_parameters) != held.serde_parameters
        || sorted(&def.parameters) != held.parameters
        || held.location.as_deref() != Some(def.location.as_str());
    Ok(merged)
}

/// `held`'s pairs with `ours` set over them.
fn union(held: &[(String, String)], ours: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = held
        .iter()
        .filter(|(k, _)| !ours.iter().any(|(o, _)| o == k))
        .cloned()
        .collect();
    out.extend(ours.iter().cloned());
    out
}

fn sorted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::athena::tests::stock;
    use crate::catalog::{Format, TableCompression};

    fn def() -> GlueTableDef {
        stock(Format::JsonLines, TableCompression::None).glue_definition("s3://b/l", None)
    }

    fn held_as(def: &GlueTableDef) -> Held {
        Held {
            columns: def.columns.clone(),
            partition_keys: def.partition_keys.iter().map(|(k, _)| k.clone()).collect(),
            serde_parameters: sorted(&def.serde_parameters),
            parameters: sorted(&def.parameters),
            location: Some(def.location.clone()),
        }
    }

    #[test]
    fn an_identical_table_needs_no_update() {
        let mut ours = def();
        let held = held_as(&ours);
        let merged = merge(&mut ours, &held, SchemaConflictPolicy::Log).unwrap();
        assert_eq!(merged, Merged::default());
    }

    #[test]
    fn new_columns_are_appended_and_held_ones_kept() {
        let mut held = held_as(&def());
        held.columns.push(("legacy".into(), "string".into()));
        held.columns.retain(|(n, _)| n != "volume");
        held.parameters.push(("owner_team".into(), "quant".into()));
        let mut ours = def();
        let merged = merge(&mut ours, &held, SchemaConflictPolicy::Log).unwrap();
        assert!(merged.changed);
        assert_eq!(merged.new_columns, ["stock.volume (bigint)"]);
        let names: Vec<&str> = ours.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.last(), Some(&"volume"));
        assert!(names.contains(&"legacy"));
        assert!(
            ours.parameters
                .contains(&("owner_team".into(), "quant".into()))
        );
    }

    #[test]
    fn a_type_conflict_follows_the_policy_and_keys_must_match() {
        let mut held = held_as(&def());
        held.columns
            .iter_mut()
            .find(|(n, _)| n == "volume")
            .unwrap()
            .1 = "string".into();
        let mut keep = def();
        let merged = merge(&mut keep, &held, SchemaConflictPolicy::Log).unwrap();
        assert!(!merged.changed, "{merged:?}");
        assert_eq!(merged.conflicts.len(), 1, "{merged:?}");
        let mut widen = def();
        merge(&mut widen, &held, SchemaConflictPolicy::Update).unwrap();
        assert!(widen.columns.contains(&("volume".into(), "bigint".into())));

        held.partition_keys = vec!["year".into()];
        let err = merge(&mut def(), &held, SchemaConflictPolicy::Log).unwrap_err();
        assert!(
            err.to_string().contains("partitions this table by"),
            "{err}"
        );
    }
}

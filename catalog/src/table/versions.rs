//! A table's versions: which snapshot a time-travel clause names.
//!
//! `FOR VERSION AS OF <id>` names a snapshot the table still has; `FOR TIMESTAMP AS OF
//! <t>` names the snapshot that was current at `t`, read from the table's snapshot log
//! (so that a rollback, which makes an older snapshot current again, counts from the
//! time it happened). Both fail with an error that says what the table has instead.

use chrono::{DateTime, Utc};
use iceberg::spec::{SnapshotRef, SnapshotReference, TableMetadata};
use iceberg::table::Table;

use super::TableError;

/// A version of a table, as a query names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// A snapshot, by id.
    Snapshot(i64),
    /// The snapshot current at this time, in milliseconds since the epoch.
    Timestamp(i64),
}

/// The id of the snapshot of `table` that `version` names.
pub fn resolve(table: &Table, version: Version) -> Result<i64, TableError> {
    let metadata = table.metadata();
    let name = table.identifier();
    match version {
        Version::Snapshot(id) => match metadata.snapshot_by_id(id) {
            Some(_) => Ok(id),
            None => Err(TableError::NotFound(format!(
                "table '{name}' has no snapshot {id}{}",
                known_snapshots(metadata)
            ))),
        },
        Version::Timestamp(ms) => current_at(metadata, ms).ok_or_else(|| {
            let first = metadata.history().first().map(|log| log.timestamp_ms);
            TableError::NotFound(match first {
                Some(first) => format!(
                    "table '{name}' had no snapshot at {}: its first is from {}",
                    format_ms(ms),
                    format_ms(first)
                ),
                None => format!("table '{name}' has no snapshots yet"),
            })
        }),
    }
}

/// The snapshot that was current at `ms`: the last one the snapshot log made current
/// at or before then, provided the table still has it.
fn current_at(metadata: &TableMetadata, ms: i64) -> Option<i64> {
    metadata
        .history()
        .iter()
        .take_while(|log| log.timestamp_ms <= ms)
        .last()
        .map(|log| log.snapshot_id)
        .filter(|id| metadata.snapshot_by_id(*id).is_some())
}

/// The id of the snapshot a rollback to `version` makes current: the current snapshot
/// or one of its ancestors (by time: the last committed at or before then).
pub fn rollback_target(table: &Table, version: Version) -> Result<i64, TableError> {
    let metadata = table.metadata();
    let name = table.identifier();
    match version {
        Version::Snapshot(id) => {
            resolve(table, version)?;
            if !is_current_ancestor(metadata, id) {
                return Err(TableError::Invalid(format!(
                    "cannot roll table '{name}' back to snapshot {id}: it is not an ancestor \
                     of the current snapshot"
                )));
            }
            Ok(id)
        }
        Version::Timestamp(ms) => ancestors(metadata)
            .find(|s| s.timestamp_ms() <= ms)
            .map(|s| s.snapshot_id())
            .ok_or_else(|| {
                TableError::NotFound(format!(
                    "table '{name}' has no snapshot committed at or before {} to roll back to",
                    format_ms(ms)
                ))
            }),
    }
}

/// The current snapshot and its ancestors, newest first.
fn ancestors(metadata: &TableMetadata) -> impl Iterator<Item = &SnapshotRef> {
    std::iter::successors(metadata.current_snapshot(), |s| {
        s.parent_snapshot_id()
            .and_then(|parent| metadata.snapshot_by_id(parent))
    })
}

/// Whether snapshot `id` is the current one or one of its ancestors.
pub fn is_current_ancestor(metadata: &TableMetadata, id: i64) -> bool {
    ancestors(metadata).any(|s| s.snapshot_id() == id)
}

/// The table's branches and tags, by name. iceberg-rust keeps them private, so they
/// are read from the metadata as its JSON file spells them.
pub fn refs(metadata: &TableMetadata) -> Result<Vec<(String, SnapshotReference)>, TableError> {
    let json = serde_json::to_value(metadata)
        .map_err(|e| TableError::Invalid(format!("table metadata: {e}")))?;
    let Some(refs) = json.get("refs").and_then(serde_json::Value::as_object) else {
        return Ok(Vec::new());
    };
    let mut refs = refs
        .iter()
        .map(|(name, r)| {
            let r = serde_json::from_value(r.clone())
                .map_err(|e| TableError::Invalid(format!("reference '{name}': {e}")))?;
            Ok((name.clone(), r))
        })
        .collect::<Result<Vec<_>, TableError>>()?;
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(refs)
}

/// A hint listing the table's snapshots, newest first (at most five).
fn known_snapshots(metadata: &TableMetadata) -> String {
    let mut snapshots: Vec<_> = metadata.snapshots().collect();
    snapshots.sort_by_key(|s| std::cmp::Reverse(s.timestamp_ms()));
    let ids: Vec<String> = snapshots
        .iter()
        .take(5)
        .map(|s| s.snapshot_id().to_string())
        .collect();
    match ids.len() {
        0 => " (it has none)".to_string(),
        _ => format!(" (its latest: {}; see \"$snapshots\")", ids.join(", ")),
    }
}

/// A time in milliseconds since the epoch, as a UTC timestamp.
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

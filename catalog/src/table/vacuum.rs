//! `VACUUM TABLE`: expiring snapshots and removing the files nothing refers to.
//!
//! - [`expire_snapshots`] removes old snapshots from the table's metadata (one commit),
//!   then deletes the manifest lists, manifests and data files that only they used:
//!   files alive in a snapshot that stays are kept. The current snapshot and the heads
//!   of branches and tags always stay.
//! - [`remove_orphan_files`] deletes the files under the table's location that no
//!   metadata refers to (what failed writes of other engines, or crashes, left) and that
//!   are older than a cutoff, so a write still in flight is never touched.

use std::collections::HashSet;

use futures::TryStreamExt;
use iceberg::spec::{SnapshotRef, TableMetadata};
use iceberg::table::Table;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::TableError;
use super::commit::{Staged, swap_retrying};
use super::{load_history, store_path, versions};
use crate::store::TableStore;

/// Iceberg's defaults: snapshots older than five days expire, the newest stays.
const MAX_SNAPSHOT_AGE_MS: i64 = 5 * 24 * 3600 * 1000;
/// Orphans must be three days old, as in Iceberg's `remove_orphan_files`.
pub const ORPHAN_AGE_MS: i64 = 3 * 24 * 3600 * 1000;

/// Which snapshots expire: with `retain_last` alone, all but the newest n; with
/// `older_than` alone, all committed before then; with both, those older than then
/// beyond the newest n; with neither, the table's properties say
/// (`history.expire.max-snapshot-age-ms`, `history.expire.min-snapshots-to-keep`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Expiry {
    /// Milliseconds since the Unix epoch.
    pub older_than: Option<i64>,
    pub retain_last: Option<usize>,
}

/// What an expiry removed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Expired {
    pub snapshots: u64,
    pub data_files: u64,
    pub manifests: u64,
    pub manifest_lists: u64,
}

/// The ids of the snapshots of `metadata` that `expiry` expires, at `now` (ms).
pub fn expiring(
    metadata: &TableMetadata,
    expiry: Expiry,
    now: i64,
) -> Result<Vec<i64>, TableError> {
    let property = |key: &str| {
        metadata
            .properties()
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
    };
    let (cutoff, retain) = match (expiry.older_than, expiry.retain_last) {
        (Some(time), retain) => (time, retain.unwrap_or(1)),
        (None, Some(retain)) => (i64::MAX, retain),
        (None, None) => (
            now - property("history.expire.max-snapshot-age-ms").unwrap_or(MAX_SNAPSHOT_AGE_MS),
            property("history.expire.min-snapshots-to-keep").map_or(1, |n| n.max(1) as usize),
        ),
    };
    let mut keep: HashSet<i64> = versions::refs(metadata)?
        .into_iter()
        .map(|(_, r)| r.snapshot_id)
        .collect();
    let mut at = metadata.current_snapshot();
    for _ in 0..retain.max(1) {
        let Some(snapshot) = at else { break };
        keep.insert(snapshot.snapshot_id());
        at = snapshot
            .parent_snapshot_id()
            .and_then(|parent| metadata.snapshot_by_id(parent));
    }
    let mut expiring: Vec<i64> = metadata
        .snapshots()
        .filter(|s| !keep.contains(&s.snapshot_id()) && s.timestamp_ms() < cutoff)
        .map(|s| s.snapshot_id())
        .collect();
    expiring.sort();
    Ok(expiring)
}

/// Expires the snapshots `expiry` names, then deletes the files only they used.
pub async fn expire_snapshots(
    store: &TableStore,
    table: &Table,
    expiry: Expiry,
) -> Result<Expired, TableError> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut before = None;
    let after = swap_retrying(
        store,
        table.identifier(),
        table.metadata().uuid(),
        |base: Table| {
            let expired = expiring(base.metadata(), expiry, now);
            before = Some(base.clone());
            async move {
                let expired = expired?;
                if expired.is_empty() {
                    return Ok(None);
                }
                let metadata = base
                    .metadata()
                    .clone()
                    .into_builder(base.metadata_location().map(str::to_string))
                    .remove_snapshots(&expired)
                    .build()?
                    .metadata;
                Ok(Some(Staged {
                    metadata,
                    files: Vec::new(),
                }))
            }
        },
    )
    .await?;
    let Some(before) = before else {
        return Ok(Expired::default());
    };
    let stays: HashSet<i64> = after
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .collect();
    let (gone, kept): (Vec<&SnapshotRef>, Vec<&SnapshotRef>) = before
        .metadata()
        .snapshots()
        .partition(|s| !stays.contains(&s.snapshot_id()));
    if gone.is_empty() {
        return Ok(Expired::default());
    }
    // What the snapshots that stay use.
    let mut kept_manifests = HashSet::new();
    let mut alive = HashSet::new();
    for snapshot in kept {
        for manifest in before
            .manifest_list_reader(snapshot)
            .load()
            .await?
            .entries()
        {
            if !kept_manifests.insert(manifest.manifest_path.clone()) {
                continue;
            }
            let entries = manifest.load_manifest(before.file_io()).await?;
            for entry in entries.entries().iter().filter(|e| e.is_alive()) {
                alive.insert(entry.data_file().file_path().to_string());
            }
        }
    }
    // What only the expired ones used.
    let mut lists = HashSet::new();
    let mut manifests = HashSet::new();
    let mut files = HashSet::new();
    for snapshot in gone.iter() {
        lists.insert(snapshot.manifest_list().to_string());
        for manifest in before
            .manifest_list_reader(snapshot)
            .load()
            .await?
            .entries()
        {
            if kept_manifests.contains(&manifest.manifest_path)
                || !manifests.insert(manifest.manifest_path.clone())
            {
                continue;
            }
            let entries = manifest.load_manifest(before.file_io()).await?;
            for entry in entries.entries() {
                let path = entry.data_file().file_path();
                if !alive.contains(path) {
                    files.insert(path.to_string());
                }
            }
        }
    }
    let io = store.file_io();
    for path in files.iter().chain(&manifests).chain(&lists) {
        if let Err(e) = io.delete(path).await {
            tracing::warn!("cannot delete {path} of an expired snapshot: {e}");
        }
    }
    Ok(Expired {
        snapshots: gone.len() as u64,
        data_files: files.len() as u64,
        manifests: manifests.len() as u64,
        manifest_lists: lists.len() as u64,
    })
}

/// Every file `table`'s metadata refers to, as object-store paths: metadata files (the
/// current one and those in its log), manifest lists, manifests, data and delete
/// files of every snapshot, statistics files.
async fn referenced(table: &Table) -> Result<HashSet<Path>, TableError> {
    let metadata = table.metadata();
    let mut uris: HashSet<String> = metadata
        .metadata_log()
        .iter()
        .map(|log| log.metadata_file.clone())
        .collect();
    uris.extend(table.metadata_location().map(str::to_string));
    uris.extend(metadata.properties().get(load_history::PROPERTY).cloned());
    uris.extend(
        metadata
            .statistics_iter()
            .map(|s| s.statistics_path.clone()),
    );
    uris.extend(
        metadata
            .partition_statistics_iter()
            .map(|s| s.statistics_path.clone()),
    );
    let mut manifests = HashSet::new();
    for snapshot in metadata.snapshots() {
        uris.insert(snapshot.manifest_list().to_string());
        for manifest in table.manifest_list_reader(snapshot).load().await?.entries() {
            if !manifests.insert(manifest.manifest_path.clone()) {
                continue;
            }
            let entries = manifest.load_manifest(table.file_io()).await?;
            uris.extend(
                entries
                    .entries()
                    .iter()
                    .map(|e| e.data_file().file_path().to_string()),
            );
        }
    }
    uris.extend(manifests);
    uris.iter()
        .map(|uri| store_path(uri).map(|(_, path)| path))
        .collect()
}

/// Deletes the files under `table`'s location that its metadata does not refer to and
/// that were last written before `older_than` (ms since the Unix epoch); returns how
/// many. `files` is the object store the location is in.
pub async fn remove_orphan_files(
    files: &dyn ObjectStore,
    table: &Table,
    older_than: i64,
) -> Result<u64, TableError> {
    let referenced = referenced(table).await?;
    let (_, dir) = store_path(table.metadata().location())?;
    let orphans: Vec<Path> = files
        .list(Some(&dir))
        .try_filter(|meta| {
            let old = meta.last_modified.timestamp_millis() < older_than;
            futures::future::ready(old && !referenced.contains(&meta.location))
        })
        .map_ok(|meta| meta.location)
        .try_collect()
        .await?;
    let count = orphans.len() as u64;
    for path in orphans {
        tracing::info!(table = %table.identifier(), "removing orphan file {path}");
        files.delete(&path).await?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use iceberg::spec::{
        MAIN_BRANCH, NestedField, Operation, PrimitiveType, Schema, Snapshot, SnapshotReference,
        SnapshotRetention, Summary, TableMetadataBuilder, Type,
    };

    use super::*;

    /// A table with snapshots 1 to 4, one per day (ms 1, 2, 3, 4 days), 4 current.
    fn metadata() -> TableMetadata {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "a", Type::Primitive(PrimitiveType::Int)).into(),
            ])
            .build()
            .unwrap();
        let creation = iceberg::TableCreation::builder()
            .name("t".into())
            .location("file:///tmp/t".into())
            .schema(schema)
            .build();
        let mut builder = TableMetadataBuilder::from_table_creation(creation).unwrap();
        for id in 1..=4i64 {
            let snapshot = Snapshot::builder()
                .with_snapshot_id(id)
                .with_parent_snapshot_id((id > 1).then_some(id - 1))
                .with_sequence_number(id)
                .with_timestamp_ms(id * 86_400_000)
                .with_manifest_list(format!("file:///tmp/t/metadata/snap-{id}.avro"))
                .with_summary(Summary {
                    operation: Operation::Append,
                    additional_properties: Default::default(),
                })
                .with_schema_id(0)
                .build();
            builder = builder.set_branch_snapshot(snapshot, MAIN_BRANCH).unwrap();
        }
        builder.build().unwrap().metadata
    }

    #[test]
    fn expiry_keeps_the_newest_the_current_and_the_tagged() {
        let m = metadata();
        let now = 10 * 86_400_000;
        let at = |older_than, retain_last| {
            expiring(
                &m,
                Expiry {
                    older_than,
                    retain_last,
                },
                now,
            )
            .unwrap()
        };
        assert_eq!(at(None, Some(2)), [1, 2]);
        assert_eq!(at(Some(3 * 86_400_000), None), [1, 2]);
        assert_eq!(at(Some(i64::MAX), None), [1, 2, 3]);
        assert_eq!(at(Some(i64::MAX), Some(3)), [1]);
        // The properties' defaults: five days, one snapshot.
        assert_eq!(at(None, None), [1, 2, 3]);
        let tagged = m
            .clone()
            .into_builder(None)
            .set_ref(
                "v1",
                SnapshotReference::new(
                    2,
                    SnapshotRetention::Tag {
                        max_ref_age_ms: None,
                    },
                ),
            )
            .unwrap()
            .build()
            .unwrap()
            .metadata;
        assert_eq!(
            expiring(
                &tagged,
                Expiry {
                    older_than: None,
                    retain_last: Some(1)
                },
                now
            )
            .unwrap(),
            [1, 3]
        );
    }
}

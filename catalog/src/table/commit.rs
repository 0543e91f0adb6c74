//! Commits: the data files a write produced become one new snapshot of the table, or
//! nothing at all.
//!
//! - [`append`]: `INSERT INTO` adds files.
//! - [`overwrite`]: `INSERT OVERWRITE` replaces every live file with the new ones.
//! - [`create`]: `CREATE TABLE` (with `AS SELECT`: and its first snapshot).
//! - [`replace`]: `CREATE OR REPLACE TABLE`: a new table swapped in for the old one.
//! - [`rewrite`]: `DELETE`, `UPDATE`, `MERGE`: some files replaced by rewritten ones.
//! - [`compact`]: `OPTIMIZE`: small files replaced by bigger ones with the same rows.
//! - [`rollback`]: `ALTER TABLE .. ROLLBACK TO`: an earlier snapshot made current again.
//! - `alter.rs` commits `ALTER TABLE`'s schema, partition and property changes through
//!   the same swap.
//!
//! Each commit writes its manifests and manifest list, then new table metadata, and swaps
//! the catalog's pointer to it if the table has not changed meanwhile
//! ([`TableStore::swap`]). Commits to one table are serialized in this process
//! ([`TableStore::lock`]); a race with another process loses the swap, and is retried
//! on the new metadata. A commit that is not retried deletes what it wrote.

use std::collections::{HashMap, HashSet};

use std::sync::Arc;
use std::time::Duration;

use iceberg::spec::{
    DataFile, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestListWriter,
    ManifestWriterBuilder, Operation, PartitionSpec, Schema, Snapshot, SnapshotReference,
    SnapshotRetention, SnapshotSummaryCollector, Summary, TableMetadata, TableMetadataBuilder,
    UNASSIGNED_SEQUENCE_NUMBER,
};
use iceberg::table::Table;
use iceberg::{ErrorKind, TableCreation, TableIdent};

use super::TableError;
use super::load_history;
use super::scan::live_data_files;
use super::versions::{self, Version};
use crate::store::TableStore;

/// Table properties every Quarry table is created with.
fn table_properties() -> HashMap<String, String> {
    HashMap::from([
        ("write.format.default".to_string(), "parquet".to_string()),
        (
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        ),
        // Another process's commit costs a retry, never a lost append.
        ("commit.retry.num-retries".to_string(), "20".to_string()),
    ])
}

/// Appends `files` to the table as one snapshot. `table_uuid` is the table the files
/// were written for: if it was replaced meanwhile, nothing is committed.
pub async fn append(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    files: Written,
) -> Result<Table, TableError> {
    commit_retrying(store, ident, table_uuid, &files, Operation::Append).await
}

/// Replaces every live data file of the table with `files`, as one snapshot.
pub async fn overwrite(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    files: Written,
) -> Result<Table, TableError> {
    commit_retrying(store, ident, table_uuid, &files, Operation::Overwrite).await
}

/// Commits against the table's current metadata; a lost race with another process
/// reloads the table and tries again.
async fn commit_retrying(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    files: &Written,
    operation: Operation,
) -> Result<Table, TableError> {
    let operation = &operation;
    swap_retrying(store, ident, table_uuid, |base: Table| async move {
        if files.files.is_empty() && *operation == Operation::Append {
            return Ok(None);
        }
        let change = (operation.clone(), Removed::of(operation));
        Ok(Some(
            stage_snapshot(store, &base, files.clone(), change).await?,
        ))
    })
    .await
}

/// Commits a `COPY INTO`: appends `files` and adds `loaded`, the landing files they
/// came from, to the table's load history (`load_history`), as one snapshot.
pub async fn copy_into(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    files: Written,
    loaded: &[String],
) -> Result<Table, TableError> {
    let files = &files;
    swap_retrying(store, ident, table_uuid, |base: Table| async move {
        if loaded.is_empty() {
            return Ok(None);
        }
        let io = store.file_io();
        let history = load_history::extend(io, base.metadata(), loaded).await?;
        let change = (Operation::Append, Removed::Nothing);
        let staged = async {
            let mut staged = stage_snapshot(store, &base, files.clone(), change).await?;
            let property = [(load_history::PROPERTY.to_string(), history.clone())];
            staged.metadata = (staged.metadata.clone().into_builder(None))
                .set_properties(property.into())?
                .build()?
                .metadata;
            Ok::<_, TableError>(staged)
        };
        match staged.await {
            Ok(mut staged) => {
                staged.files.push(history);
                Ok(Some(staged))
            }
            Err(e) => {
                let _ = io.delete(&history).await;
                Err(e)
            }
        }
    })
    .await
}

/// Commits a row-level change: removes the live data files `removed` (by path) and
/// adds `added`, as one snapshot (`overwrite`, or `delete` when it adds nothing). When
/// another statement committed since the change was planned, it still commits on top
/// if every file it removes is live in the new snapshot (the winner appended, or
/// changed other files); if one is not, the winner changed the same rows, and this one
/// fails with a conflict that says to run it again.
pub async fn rewrite(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    removed: &HashSet<String>,
    added: Written,
) -> Result<Table, TableError> {
    // A MERGE whose matches were all inserts removes nothing: an append.
    let operation = match (removed.is_empty(), added.files.is_empty()) {
        (true, _) => Operation::Append,
        (false, true) => Operation::Delete,
        (false, false) => Operation::Overwrite,
    };
    replace_files(store, (ident, table_uuid), removed, added, operation).await
}

/// Commits a compaction (`OPTIMIZE`): the files written replace the live data files
/// `removed`, with the same rows, as one `replace` snapshot. Appends committed since
/// the files were chosen do not conflict; a change that removed one of them does.
pub async fn compact(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    removed: &HashSet<String>,
    added: Written,
) -> Result<Table, TableError> {
    replace_files(
        store,
        (ident, table_uuid),
        removed,
        added,
        Operation::Replace,
    )
    .await
}

/// Removes the live data files `removed` and adds `added`, as one snapshot of
/// `operation`, on top of whatever committed meanwhile if every removed file is still live.
async fn replace_files(
    store: &TableStore,
    (ident, table_uuid): (&TableIdent, uuid::Uuid),
    removed: &HashSet<String>,
    added: Written,
    operation: Operation,
) -> Result<Table, TableError> {
    let (operation, added) = (&operation, &added);
    swap_retrying(store, ident, table_uuid, |base: Table| async move {
        if removed.is_empty() && added.files.is_empty() {
            return Ok(None);
        }
        let live = match base.metadata().current_snapshot() {
            Some(snapshot) => live_data_files(&base, snapshot).await?,
            None => Default::default(),
        };
        if let Some(gone) = removed.iter().find(|path| !live.contains_key(*path)) {
            return Err(TableError::Conflict(format!(
                "another statement changed table '{ident}' at the same time (data file {gone} \
                 was rewritten or removed)"
            )));
        }
        let change = (operation.clone(), Removed::Files(removed));
        Ok(Some(
            stage_snapshot(store, &base, added.clone(), change).await?,
        ))
    })
    .await
}

/// Makes the snapshot `to` names current again (Iceberg's `rollback_to_snapshot`):
/// it must be the current snapshot or one of its ancestors when the commit lands.
pub async fn rollback(store: &TableStore, table: &Table, to: Version) -> Result<Table, TableError> {
    let ident = table.identifier();
    swap_retrying(
        store,
        ident,
        table.metadata().uuid(),
        |base: Table| async move {
            let id = versions::rollback_target(&base, to)?;
            let metadata = base.metadata();
            if metadata.current_snapshot_id() == Some(id) {
                return Ok(None);
            }
            let retention = versions::refs(metadata)?
                .into_iter()
                .find(|(name, _)| name == MAIN_BRANCH)
                .map(|(_, main)| main.retention)
                .unwrap_or(SnapshotRetention::branch(None, None, None));
            let metadata = metadata
                .clone()
                .into_builder(base.metadata_location().map(str::to_string))
                .set_ref(MAIN_BRANCH, SnapshotReference::new(id, retention))?
                .build()?
                .metadata;
            Ok(Some(Staged {
                metadata,
                files: Vec::new(),
            }))
        },
    )
    .await
}

/// Swaps in the metadata `stage` makes from the table as it is now (nothing when it
/// makes none), under the table's commit lock; a race lost to another process deletes
/// what was staged, reloads the table and stages again.
pub(super) async fn swap_retrying<F>(
    store: &TableStore,
    ident: &TableIdent,
    table_uuid: uuid::Uuid,
    mut stage: impl FnMut(Table) -> F,
) -> Result<Table, TableError>
where
    F: std::future::Future<Output = Result<Option<Staged>, TableError>>,
{
    let _lock = store.lock(ident).await;
    let mut attempt = 0u32;
    loop {
        let base = current(store, ident, table_uuid).await?;
        let Some(staged) = stage(base.clone()).await? else {
            return Ok(base);
        };
        match store.swap(&base, staged.metadata.clone()).await {
            Err(TableError::Iceberg(e)) if e.retryable() && attempt < MAX_RETRIES => {
                staged.discard(store).await;
                attempt += 1;
                let backoff = Duration::from_millis(25 << attempt.min(6));
                tracing::debug!(table = %ident, attempt, "commit conflict, retrying");
                tokio::time::sleep(backoff).await;
            }
            Err(e) => {
                staged.discard(store).await;
                return Err(e);
            }
            Ok(table) => return Ok(table),
        }
    }
}

/// How often a commit that lost a race is retried.
const MAX_RETRIES: u32 = 30;

/// Creates the table at `location` (where its files were written), with `properties`
/// besides Quarry's own, and, if there are any, commits `files` as its first snapshot.
/// If that commit fails, the table is dropped again.
pub async fn create(
    store: &TableStore,
    ident: &TableIdent,
    location: &str,
    (schema, partition_spec): (Schema, &PartitionSpec),
    properties: &HashMap<String, String>,
    files: Vec<DataFile>,
) -> Result<Table, TableError> {
    let _lock = store.lock(ident).await;
    let table = match store
        .catalog()
        .create_table(
            ident.namespace(),
            creation(ident, location, schema.clone(), partition_spec, properties),
        )
        .await
    {
        Ok(table) => table,
        Err(e) if e.kind() == ErrorKind::TableAlreadyExists => {
            return Err(TableError::AlreadyExists(format!(
                "table '{ident}' already exists"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let committed = async {
        check_layout(&table, &schema, partition_spec)?;
        if files.is_empty() {
            return Ok(table.clone());
        }
        let files = Written::new(&table, files);
        let staged =
            stage_snapshot(store, &table, files, (Operation::Append, Removed::Nothing)).await?;
        store.swap(&table, staged.metadata).await
    }
    .await;
    if committed.is_err()
        && let Err(e) = store.catalog().drop_table(ident).await
    {
        tracing::warn!("cannot drop {ident} after its first commit failed: {e}");
    }
    committed
}

/// Replaces the table `old` with a new one at `location` (with `properties` besides
/// Quarry's own) holding `files`: readers see the old table or the new, never neither.
/// The old table's files are deleted after.
pub async fn replace(
    store: &TableStore,
    old: &Table,
    location: &str,
    (schema, partition_spec): (Schema, &PartitionSpec),
    properties: &HashMap<String, String>,
    files: Vec<DataFile>,
) -> Result<Table, TableError> {
    let ident = old.identifier();
    let _lock = store.lock(ident).await;
    let base = current(store, ident, old.metadata().uuid()).await?;
    let metadata = TableMetadataBuilder::from_table_creation(creation(
        ident,
        location,
        schema.clone(),
        partition_spec,
        properties,
    ))?
    .build()?
    .metadata;
    let fresh = Table::builder()
        .identifier(ident.clone())
        .metadata(metadata)
        .file_io(store.file_io().clone())
        .runtime(iceberg::Runtime::try_current()?)
        .build()?;
    check_layout(&fresh, &schema, partition_spec)?;
    let metadata = match files.is_empty() {
        true => fresh.metadata().clone(),
        false => {
            let files = Written::new(&fresh, files);
            stage_snapshot(store, &fresh, files, (Operation::Append, Removed::Nothing))
                .await?
                .metadata
        }
    };
    let table = store.swap(&base, metadata).await?;
    if let Err(e) = store.delete_prefix(base.metadata().location()).await {
        tracing::warn!("cannot delete the files of the replaced table {ident}: {e}");
    }
    Ok(table)
}

fn creation(
    ident: &TableIdent,
    location: &str,
    schema: Schema,
    partition_spec: &PartitionSpec,
    properties: &HashMap<String, String>,
) -> TableCreation {
    let mut all = table_properties();
    all.extend(properties.clone());
    TableCreation::builder()
        .name(ident.name().to_string())
        .location(location.to_string())
        .schema(schema)
        .partition_spec(partition_spec.clone().into_unbound())
        .properties(all)
        .format_version(FormatVersion::V2)
        .build()
}

/// The table as it is now, provided it is still the table with `uuid`.
async fn current(
    store: &TableStore,
    ident: &TableIdent,
    uuid: uuid::Uuid,
) -> Result<Table, TableError> {
    match store.load(ident).await? {
        Some(table) if table.metadata().uuid() == uuid => Ok(table),
        Some(_) => Err(TableError::Invalid(format!(
            "table '{ident}' was replaced while this statement ran; nothing was written"
        ))),
        None => Err(TableError::NoTable(format!(
            "table '{ident}' was dropped while this statement ran; nothing was written"
        ))),
    }
}

/// Files are written with the schema and partition spec the statement planned; the
/// created table must have the same field ids.
fn check_layout(table: &Table, schema: &Schema, spec: &PartitionSpec) -> Result<(), TableError> {
    let metadata = table.metadata();
    let same_fields = metadata.current_schema().as_struct() == schema.as_struct();
    let same_spec = metadata.default_partition_spec().fields() == spec.fields();
    if same_fields && same_spec {
        Ok(())
    } else {
        Err(TableError::Invalid(format!(
            "internal: table {} was created with other field ids than its files were written with",
            table.identifier()
        )))
    }
}

/// New metadata with one more snapshot, and the manifest files written for it.
pub(super) struct Staged {
    pub(super) metadata: TableMetadata,
    pub(super) files: Vec<String>,
}

impl Staged {
    /// Deletes the manifests of a snapshot that was not committed.
    async fn discard(self, store: &TableStore) {
        for file in self.files {
            if let Err(e) = store.file_io().delete(&file).await {
                tracing::warn!("cannot delete {file}: {e}");
            }
        }
    }
}

/// Which live data files a new snapshot removes.
enum Removed<'a> {
    Nothing,
    All,
    /// These, by path (a row-level change's rewritten files).
    Files(&'a HashSet<String>),
}

impl Removed<'_> {
    /// What an operation on the whole table removes.
    fn of(operation: &Operation) -> Self {
        match operation {
            Operation::Overwrite => Removed::All,
            _ => Removed::Nothing,
        }
    }
}

/// Data files a statement wrote, and the partition spec that laid them out.
#[derive(Debug, Clone)]
pub struct Written {
    pub spec_id: i32,
    pub files: Vec<DataFile>,
}

impl Written {
    /// Files laid out by `table`'s default spec.
    pub fn new(table: &Table, files: Vec<DataFile>) -> Self {
        let spec_id = table.metadata().default_partition_spec_id();
        Self { spec_id, files }
    }
}

/// Writes the manifests of a new snapshot of `base` that adds `added` and records the
/// live files `removed` names as deleted (all of them for `INSERT OVERWRITE`).
async fn stage_snapshot(
    store: &TableStore,
    base: &Table,
    Written {
        spec_id,
        files: added,
    }: Written,
    (operation, removed): (Operation, Removed<'_>),
) -> Result<Staged, TableError> {
    let metadata = base.metadata();
    if metadata.format_version() != FormatVersion::V2 {
        return Err(TableError::Invalid(format!(
            "table {} has format version {}; Quarry writes version 2 tables",
            base.identifier(),
            metadata.format_version()
        )));
    }
    let io = store.file_io();
    let snapshot_id = new_snapshot_id(metadata);
    let sequence_number = metadata.next_sequence_number();
    let commit_id = uuid::Uuid::new_v4();
    let dir = format!("{}/metadata", metadata.location().trim_end_matches('/'));
    let schema = Arc::clone(metadata.current_schema());
    let parent = metadata.current_snapshot();
    let mut summary = SnapshotSummaryCollector::default();
    let mut manifests = Vec::new();
    let mut written = Vec::new();
    let mut manifest_path = || {
        let path = format!("{dir}/{commit_id}-m{}.avro", written.len());
        written.push(path.clone());
        path
    };

    if !added.is_empty() {
        // The spec the files were written with: an older one if a partition evolution
        // committed while they were written.
        let Some(spec) = metadata.partition_spec_by_id(spec_id) else {
            return Err(TableError::Invalid(format!(
                "table {} has no partition spec {spec_id}, which the files were written with",
                base.identifier()
            )));
        };
        let mut writer = ManifestWriterBuilder::new(
            io.new_output(manifest_path())?,
            Some(snapshot_id),
            Arc::clone(&schema),
            spec.as_ref().clone(),
        )
        .build_v2_data();
        for file in added {
            summary.add_file(&file, Arc::clone(&schema), Arc::clone(spec));
            writer.add_file(file, UNASSIGNED_SEQUENCE_NUMBER)?;
        }
        manifests.push(writer.write_manifest_file().await?);
    }
    if let Some(parent) = parent {
        let list = base.manifest_list_reader(parent).load().await?;
        for manifest in list.entries() {
            let live = manifest.has_added_files() || manifest.has_existing_files();
            let data = manifest.content == ManifestContentType::Data;
            let removes = |path: &str| match &removed {
                Removed::Nothing => false,
                Removed::All => true,
                Removed::Files(paths) => paths.contains(path),
            };
            if !data && matches!(removed, Removed::All) {
                // An overwrite replaces all rows: old deletes no longer apply.
                continue;
            }
            if !data || !live || matches!(removed, Removed::Nothing) {
                manifests.push(manifest.clone());
                continue;
            }
            let old = manifest.load_manifest(io).await?;
            let alive = || old.entries().iter().filter(|e| e.is_alive());
            if !alive().any(|e| removes(e.data_file().file_path())) {
                manifests.push(manifest.clone());
                continue;
            }
            // The manifest again, its removed files recorded as deleted by this snapshot.
            let mut writer = ManifestWriterBuilder::new(
                io.new_output(manifest_path())?,
                Some(snapshot_id),
                Arc::clone(old.metadata().schema()),
                old.metadata().partition_spec().clone(),
            )
            .build_v2_data();
            for entry in alive() {
                let sequence = entry.sequence_number().unwrap_or(sequence_number);
                let file_sequence = Some(entry.file_sequence_number.unwrap_or(sequence));
                let file = entry.data_file().clone();
                if removes(file.file_path()) {
                    let (schema, spec) = (old.metadata().schema(), old.metadata().partition_spec());
                    summary.remove_file(&file, Arc::clone(schema), Arc::new(spec.clone()));
                    writer.add_delete_file(file, sequence, file_sequence)?;
                } else {
                    let added_by = entry.snapshot_id().unwrap_or(snapshot_id);
                    writer.add_existing_file(file, added_by, sequence, file_sequence)?;
                }
            }
            manifests.push(writer.write_manifest_file().await?);
        }
    }

    let list_path = format!("{dir}/snap-{snapshot_id}-0-{commit_id}.avro");
    written.push(list_path.clone());
    let mut list = ManifestListWriter::v2(
        io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        parent.map(|p| p.snapshot_id()),
        sequence_number,
    );
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;

    let mut properties = summary.build();
    let whole = matches!(removed, Removed::All);
    properties.extend(totals(parent.map(|p| p.summary()), &properties, whole));
    properties.insert("engine".into(), "quarry".into());
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent.map(|p| p.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(chrono_now_ms())
        .with_manifest_list(list_path)
        .with_summary(Summary {
            operation,
            additional_properties: properties,
        })
        .with_schema_id(metadata.current_schema_id())
        .build();
    let metadata = metadata
        .clone()
        .into_builder(base.metadata_location().map(str::to_string))
        .set_branch_snapshot(snapshot, MAIN_BRANCH)?
        .build()?
        .metadata;
    Ok(Staged {
        metadata,
        files: written,
    })
}

/// The `total-*` figures of a snapshot summary, from its parent's and this change's
/// (only this change's when it replaced the `whole` table).
fn totals(
    parent: Option<&Summary>,
    change: &HashMap<String, String>,
    whole: bool,
) -> HashMap<String, String> {
    let number = |map: &HashMap<String, String>, key: &str| -> u64 {
        map.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let empty = HashMap::new();
    let before = match parent {
        Some(parent) if !whole => &parent.additional_properties,
        _ => &empty,
    };
    [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        (
            "total-delete-files",
            "added-delete-files",
            "removed-delete-files",
        ),
        (
            "total-position-deletes",
            "added-position-deletes",
            "removed-position-deletes",
        ),
        (
            "total-equality-deletes",
            "added-equality-deletes",
            "removed-equality-deletes",
        ),
    ]
    .into_iter()
    .map(|(total, added, removed)| {
        let value = match whole {
            true => number(change, added),
            false => (number(before, total) + number(change, added))
                .saturating_sub(number(change, removed)),
        };
        (total.to_string(), value.to_string())
    })
    .collect()
}

/// A snapshot id not used by the table yet, as iceberg's own commits pick them.
fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) as i64).wrapping_abs();
        if id > 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

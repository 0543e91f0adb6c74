//! Running writes and catalog changes.
//!
//! A [`Write`] runs as a Ballista job whose tasks write data files and return their
//! metadata. When every task has succeeded the scheduler commits the files as one
//! snapshot; if the job fails, is cancelled, or the commit fails, it deletes every file
//! the statement wrote (its files share one directory) and the table stays as it was.
//! The commit and the clean-up run in their own task, so a client that goes away
//! mid-statement leaves no half-done work behind.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::TryStreamExt;
use iceberg::spec::DataFile;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::cleanup::remove_files;
use quarry_catalog::table::commit;
use quarry_catalog::table::write::{WriteSpec, changed_rows, output_schema};
use quarry_catalog::table::{TableError, store_path};

use crate::error::QuarryError;
use crate::job::{Job, JobRunner, fetch_results};
use crate::planned::{Commit, Write, compact_schema, count_schema};

/// Whether the statement a write runs for was cancelled, asked once its job is done.
pub type Cancelled = Box<dyn Fn() -> bool + Send + Sync>;

/// Waits for the write's job, then commits or cleans up. Runs to the end even if the
/// caller stops waiting; the files are not committed if `cancelled` says so by then.
pub fn finish(
    jobs: JobRunner,
    store: TableStore,
    runtime: Arc<RuntimeEnv>,
    cancelled: Cancelled,
    mut job: Job,
    write: Write,
) -> tokio::task::JoinHandle<Result<RecordBatch, QuarryError>> {
    tokio::spawn(async move {
        let files = async {
            let locations = jobs.wait(&mut job).await?;
            let batches: Vec<RecordBatch> = fetch_results(locations, output_schema())
                .try_collect()
                .await?;
            jobs.clean_up(&job.id);
            if cancelled() {
                return Err(QuarryError::cancelled());
            }
            Ok((write.spec.data_files(&batches)?, changed_rows(&batches)))
        }
        .await;
        let (mut files, changed) = match files {
            Ok((files, changed)) => (Ok(files), changed),
            Err(e) => (Err(e), 0),
        };
        let mut commit = write.commit.clone();
        if let Commit::Rewrite {
            removed,
            whole_rows: 0,
            ..
        } = &mut commit
            && changed == 0
        {
            // No row changed: the files read stay, the copies written go.
            removed.clear();
            files = files.map(|_| Vec::new());
        }
        let new_files = files.as_ref().map_or(0, |f| f.len() as u64);
        let written = complete(&store, &runtime, &write.spec, &commit, files).await?;
        // A row-level change answers with the rows it changed, not the rows it wrote;
        // a compaction with the files it rewrote and wrote.
        let (schema, columns) = match &write.commit {
            Commit::Rewrite { whole_rows, .. } => (count_schema(), vec![changed + whole_rows]),
            Commit::Compact { removed, .. } => {
                (compact_schema(), vec![removed.len() as u64, new_files])
            }
            _ => (count_schema(), vec![written]),
        };
        let columns = columns
            .into_iter()
            .map(|n| Arc::new(UInt64Array::from(vec![n])) as _)
            .collect();
        RecordBatch::try_new(schema, columns).map_err(|e| QuarryError::internal(e.to_string()))
    })
}

/// Commits the files a write produced and returns how many rows they hold; or, when
/// writing them or the commit failed, removes every file the write wrote.
pub async fn complete(
    store: &TableStore,
    runtime: &Arc<RuntimeEnv>,
    spec: &WriteSpec,
    commit: &Commit,
    files: Result<Vec<DataFile>, QuarryError>,
) -> Result<u64, QuarryError> {
    let committed = async {
        let files = files?;
        let rows: u64 = files.iter().map(|f| f.record_count()).sum();
        let paths: HashSet<String> = files.iter().map(|f| f.file_path().to_string()).collect();
        commit_files(store, spec, commit, files).await?;
        Ok::<_, QuarryError>((rows, paths))
    }
    .await;
    match committed {
        Ok((rows, paths)) => {
            // Files of task attempts that were retried are not part of the snapshot.
            sweep(runtime, &spec.data_prefix(), paths, Duration::ZERO).await;
            Ok(rows)
        }
        Err(e) => {
            tracing::info!(table = %spec.table, "write failed, removing its files: {e}");
            abandon(runtime, spec, commit).await;
            Err(e)
        }
    }
}

async fn commit_files(
    store: &TableStore,
    spec: &WriteSpec,
    commit: &Commit,
    files: Vec<DataFile>,
) -> Result<(), TableError> {
    let written = commit::Written {
        spec_id: spec.partition_spec.spec_id(),
        files,
    };
    match commit {
        Commit::Append { ident, uuid } => {
            commit::append(store, ident, *uuid, written).await?;
        }
        Commit::Overwrite { ident, uuid } => {
            commit::overwrite(store, ident, *uuid, written).await?;
        }
        Commit::Rewrite {
            ident,
            uuid,
            removed,
            ..
        } => {
            commit::rewrite(store, ident, *uuid, removed, written).await?;
        }
        Commit::Compact {
            ident,
            uuid,
            removed,
        } => {
            commit::compact(store, ident, *uuid, removed, written).await?;
        }
        Commit::CopyInto {
            ident,
            uuid,
            loaded,
        } => {
            commit::copy_into(store, ident, *uuid, written, loaded).await?;
        }
        Commit::Create { ident, properties } => {
            let layout = (spec.schema.clone(), &spec.partition_spec);
            let files = written.files;
            commit::create(store, ident, &spec.location, layout, properties, files).await?;
        }
        Commit::Replace { old, properties } => {
            let layout = (spec.schema.clone(), &spec.partition_spec);
            let files = written.files;
            commit::replace(store, old, &spec.location, layout, properties, files).await?;
        }
    }
    Ok(())
}

/// How long the marker of a failed write stays.
const MARKER_LIFETIME: Duration = Duration::from_secs(10);

/// Removes what a failed write wrote. Tasks still running see the marker and stop.
async fn abandon(runtime: &Arc<RuntimeEnv>, spec: &WriteSpec, commit: &Commit) {
    let marker = spec.abandoned_marker();
    let placed = async {
        let (url, path) = store_path(&marker)?;
        object_store::ObjectStoreExt::put(
            runtime.object_store(&url)?.as_ref(),
            &path,
            Vec::new().into(),
        )
        .await?;
        Ok::<_, TableError>(())
    }
    .await;
    if let Err(e) = placed {
        tracing::warn!("cannot mark the write to {} abandoned: {e}", spec.table);
    }
    sweep(
        runtime,
        &spec.data_prefix(),
        HashSet::from([marker]),
        Duration::ZERO,
    )
    .await;
    // A new table's directory is its own (metadata too); an existing table's is shared.
    let dir = match commit {
        Commit::Create { .. } | Commit::Replace { .. } => spec.location.clone(),
        _ => spec.data_prefix(),
    };
    let runtime = Arc::clone(runtime);
    tokio::spawn(async move {
        // The marker goes last. A task the cancel missed checks it as it starts, within
        // moments of the failure.
        sweep(&runtime, &dir, HashSet::new(), MARKER_LIFETIME).await;
    });
}

/// After `delay`, deletes the files under `dir` (a URI) that are not in `keep`.
async fn sweep(runtime: &RuntimeEnv, dir: &str, keep: HashSet<String>, delay: Duration) {
    tokio::time::sleep(delay).await;
    let result = async {
        let (url, _) = store_path(dir)?;
        let store = runtime.object_store(&url)?;
        remove_files(store.as_ref(), dir, &keep).await
    }
    .await;
    match result {
        Ok(0) => {}
        Ok(n) => tracing::info!("removed {n} files under {dir}"),
        Err(e) => tracing::warn!("cannot remove the files under {dir}: {e}"),
    }
}

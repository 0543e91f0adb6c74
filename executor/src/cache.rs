//! Reflections in executor memory.
//!
//! Dashboards ask the same few questions of a reflection again and again. Each executor
//! keeps the Arrow batches of the reflection files its tasks read in a
//! [`ReflectionCache`] (moka, weighed by the batches' memory, within a byte budget), so
//! the next scan of the same file reads memory instead of object storage.
//! [`cache_reflection_scans`] rewrites a task's plan: under every scan of a reflection
//! (an [`IcebergScanExec`] of the hidden namespace), the Parquet scan becomes a
//! [`CachedScanExec`], which takes each of its files from the cache, or reads it from
//! storage and fills the cache.
//!
//! A reflection's files never change (a refresh writes new files under a new snapshot),
//! so a file's location and byte range are a key that cannot go stale. An entry is the
//! whole file (or range) with every column and no filter: the scan's filters only prune
//! (the table reports them inexact, so DataFusion filters the rows above the scan), and
//! its projection is applied to the cached batches, so one entry serves every query
//! that reads that file.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, collect,
};
use futures::{StreamExt, TryStreamExt};
use quarry_catalog::reflection::HeldFile;
use quarry_catalog::table::scan::{IcebergScanExec, file_key};

/// The default budget of an executor's reflection cache: 1 GiB.
pub const DEFAULT_BUDGET: u64 = 1 << 30;

/// Decoded reflection files kept in an executor's memory.
pub struct ReflectionCache {
    files: moka::future::Cache<String, Arc<CachedFile>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What a [`ReflectionCache`] holds and has served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// File reads answered from memory.
    pub hits: u64,
    /// File reads that went to storage (and filled the cache).
    pub misses: u64,
    /// Memory the cached batches take.
    pub bytes: u64,
    /// Files (or byte ranges of files) cached.
    pub files: u64,
}

impl ReflectionCache {
    /// A cache that holds at most `budget` bytes of Arrow data; the least recently
    /// used files go first.
    pub fn new(budget: u64) -> Self {
        let files = moka::future::Cache::builder()
            .max_capacity(budget)
            .weigher(|_, file: &Arc<CachedFile>| {
                u32::try_from(memory(&file.batches)).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            files,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Counts and sizes now.
    pub async fn stats(&self) -> CacheStats {
        self.files.run_pending_tasks().await;
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: self.files.weighted_size(),
            files: self.files.entry_count(),
        }
    }

    /// Every file held now: its reflection, location and size in memory.
    pub async fn held_files(&self) -> Vec<HeldFile> {
        self.files.run_pending_tasks().await;
        self.files
            .iter()
            .map(|(_, file)| HeldFile {
                table: file.table.clone(),
                location: file.location.clone(),
                bytes: memory(&file.batches) as u64,
            })
            .collect()
    }

    /// The batches of one file: from memory, or read by `scan` (once, however many
    /// tasks ask at the same time) and kept.
    async fn get_or_read(
        &self,
        key: String,
        read: (Arc<dyn ExecutionPlan>, HeldFile),
        ctx: Arc<TaskContext>,
    ) -> Result<Arc<CachedFile>> {
        let (scan, of) = read;
        let read = async {
            self.misses.fetch_add(1, Ordering::Relaxed);
            let batches = collect(scan, ctx).await?;
            Ok::<_, DataFusionError>(Arc::new(CachedFile {
                table: of.table,
                location: of.location,
                batches,
            }))
        };
        let entry = self
            .files
            .entry(key)
            .or_try_insert_with(read)
            .await
            .map_err(DataFusionError::Shared)?;
        if entry.is_fresh() {
            return Ok(entry.into_value());
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Ok(entry.into_value())
    }
}

/// One file's rows in memory, and what they are.
struct CachedFile {
    /// The reflection's table.
    table: String,
    /// The file's object-store path.
    location: String,
    batches: Vec<RecordBatch>,
}

fn memory(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

/// `plan` (a task's) with the Parquet scan under each reflection scan reading through
/// `cache`. Scans with a row limit are left as they are (they stop early and would
/// read whole files to fill the cache).
pub fn cache_reflection_scans(
    plan: Arc<dyn ExecutionPlan>,
    cache: &Arc<ReflectionCache>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_down(|node| {
        let Some(scan) = node.as_any().downcast_ref::<IcebergScanExec>() else {
            return Ok(Transformed::no(node));
        };
        if !scan.is_reflection() {
            return Ok(Transformed::no(node));
        }
        let [input] = node.children()[..] else {
            return Ok(Transformed::no(node));
        };
        let table = scan.summary().table.clone();
        let Some(cached) = CachedScanExec::try_new(input, table, Arc::clone(cache))? else {
            return Ok(Transformed::no(node));
        };
        let node = Arc::clone(&node).with_new_children(vec![Arc::new(cached)])?;
        // Its child is done: nothing below to rewrite.
        Ok(Transformed::new(
            node,
            true,
            datafusion::common::tree_node::TreeNodeRecursion::Jump,
        ))
    })
    .map(|t| t.data)
}

/// A Parquet scan of reflection files that reads each file through the executor's
/// [`ReflectionCache`].
pub struct CachedScanExec {
    /// The scan as planned, whose partitioning, files and projection this one keeps.
    planned: Arc<dyn ExecutionPlan>,
    /// The reflection's table.
    table: String,
    config: FileScanConfig,
    /// Every column of the table, no filter, no limit: what a cache entry holds.
    whole: Arc<dyn FileSource>,
    projection: ProjectionExprs,
    cache: Arc<ReflectionCache>,
}

impl CachedScanExec {
    /// The cached form of `planned`, if it is a Parquet scan without a row limit.
    fn try_new(
        planned: &Arc<dyn ExecutionPlan>,
        table: String,
        cache: Arc<ReflectionCache>,
    ) -> Result<Option<Self>> {
        let Some(config) = planned
            .as_any()
            .downcast_ref::<DataSourceExec>()
            .and_then(|exec| exec.data_source().as_any().downcast_ref::<FileScanConfig>())
        else {
            return Ok(None);
        };
        let Some(source) = config
            .file_source()
            .as_any()
            .downcast_ref::<ParquetSource>()
        else {
            return Ok(None);
        };
        if config.limit.is_some() {
            return Ok(None);
        }
        let Some(projection) = source.projection().cloned() else {
            return Ok(None);
        };
        let whole = ParquetSource::new(source.table_schema().clone())
            .with_table_parquet_options(source.table_parquet_options().clone());
        Ok(Some(Self {
            planned: Arc::clone(planned),
            table,
            config: config.clone(),
            whole: Arc::new(whole),
            projection,
            cache,
        }))
    }

    /// A scan of `file` alone, with every column and no filter.
    fn read_one(&self, file: PartitionedFile) -> Arc<dyn ExecutionPlan> {
        let config = FileScanConfigBuilder::from(self.config.clone())
            .with_source(Arc::clone(&self.whole))
            .with_file_groups(vec![FileGroup::new(vec![file])])
            .with_limit(None)
            .build();
        DataSourceExec::from_data_source(config)
    }
}

impl fmt::Debug for CachedScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedScanExec").finish_non_exhaustive()
    }
}

impl DisplayAs for CachedScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CachedScanExec (executor memory): ")?;
        self.planned.fmt_as(t, f)
    }
}

impl ExecutionPlan for CachedScanExec {
    fn name(&self) -> &str {
        "CachedScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.planned.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.is_empty() {
            true => Ok(self),
            false => Err(DataFusionError::Internal(
                "CachedScanExec has no children".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let group = self.config.file_groups.get(partition).ok_or_else(|| {
            DataFusionError::Internal(format!("CachedScanExec has no partition {partition}"))
        })?;
        let projector = self
            .projection
            .make_projector(self.whole.table_schema().table_schema())?;
        let reads: Vec<_> = group
            .files()
            .iter()
            .map(|file| {
                let of = HeldFile {
                    table: self.table.clone(),
                    location: file.object_meta.location.to_string(),
                    bytes: 0,
                };
                (
                    file_key(&self.config, file),
                    (self.read_one(file.clone()), of),
                )
            })
            .collect();
        let cache = Arc::clone(&self.cache);
        let batches = futures::stream::iter(reads)
            .then(move |(key, read)| {
                let (cache, context) = (Arc::clone(&cache), Arc::clone(&context));
                async move { cache.get_or_read(key, read, context).await }
            })
            .map_ok(|file| {
                futures::stream::iter(
                    (0..file.batches.len()).map(move |i| Ok(file.batches[i].clone())),
                )
            })
            .try_flatten()
            .and_then(move |batch| futures::future::ready(projector.project_batch(&batch)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            batches,
        )))
    }
}

//! `OPTIMIZE`: which data files a compaction rewrites, by bin-packing as Iceberg's
//! `rewrite_data_files` and Dremio's `OPTIMIZE TABLE` choose them.
//!
//! A file is a candidate when it is smaller than the minimum size, larger than the
//! maximum, or laid out by an older partition spec. Candidates are grouped by partition
//! (of their own spec); a group is rewritten when it has at least `min_input_files`
//! candidates, more than one file and more bytes than one target file, or a file to
//! split or move to the current spec. The scheduler then reads the chosen files and
//! writes them again as target-sized files (one task per partition, `distribution.rs`),
//! and `commit::compact` swaps them in as one `replace` snapshot, which appends that
//! commit meanwhile do not conflict with.

use std::collections::{HashMap, HashSet};

use datafusion::logical_expr::Expr;
use iceberg::spec::{DataContentType, DataFile};
use iceberg::table::Table;

use super::TableError;
use super::rewrite::affected_files;
use super::write::WriteSpec;

const MB: u64 = 1024 * 1024;

/// How files are chosen and how big the new ones are, in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub target_file_size: u64,
    pub min_file_size: u64,
    pub max_file_size: u64,
    pub min_input_files: usize,
}

impl Options {
    /// The options of `OPTIMIZE` on `table` (sizes in MB, as Dremio's): by default, the
    /// table's target file size (`write.target-file-size-bytes`, else 512 MB), files
    /// under 75% or over 180% of it, and five files in a partition.
    pub fn for_table(table: &Table, given: &HashMap<String, u64>) -> Result<Self, TableError> {
        let known = [
            "target_file_size_mb",
            "min_file_size_mb",
            "max_file_size_mb",
            "min_input_files",
        ];
        if let Some(unknown) = given.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(TableError::Invalid(format!(
                "OPTIMIZE has no option {unknown}; it takes {}",
                known.join(", ").to_uppercase()
            )));
        }
        let spec = WriteSpec::for_table(table);
        let target = match given.get("target_file_size_mb") {
            Some(mb) => mb * MB,
            None => spec.target_file_size,
        };
        let options = Self {
            target_file_size: target,
            min_file_size: given
                .get("min_file_size_mb")
                .map_or(target * 3 / 4, |mb| mb * MB),
            max_file_size: given
                .get("max_file_size_mb")
                .map_or(target * 9 / 5, |mb| mb * MB),
            min_input_files: given.get("min_input_files").map_or(5, |n| *n as usize),
        };
        let sizes = [
            options.min_file_size,
            options.target_file_size,
            options.max_file_size,
        ];
        if options.target_file_size == 0 || options.min_input_files == 0 || !sizes.is_sorted() {
            return Err(TableError::Invalid(format!(
                "OPTIMIZE needs 0 < MIN_FILE_SIZE_MB <= TARGET_FILE_SIZE_MB <= MAX_FILE_SIZE_MB \
                 and MIN_INPUT_FILES >= 1; got {}, {}, {} MB and {}",
                options.min_file_size / MB,
                options.target_file_size / MB,
                options.max_file_size / MB,
                options.min_input_files
            )));
        }
        Ok(options)
    }
}

/// The files of one compaction, all live in `snapshot`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub snapshot: i64,
    /// By path.
    pub files: HashSet<String>,
    pub rows: u64,
}

/// The live data files of `table`'s current snapshot to rewrite, among those that may
/// hold rows `filters` match (all without filters); `None` when there is nothing to do.
pub async fn select(
    table: &Table,
    filters: &[Expr],
    options: &Options,
) -> Result<Option<Selection>, TableError> {
    let metadata = table.metadata();
    let Some(snapshot) = metadata.current_snapshot() else {
        return Ok(None);
    };
    let within = match filters.is_empty() {
        true => None,
        false => Some(affected_files(table, snapshot.snapshot_id(), filters).await?),
    };
    let current_spec = metadata.default_partition_spec_id();
    let candidate = |(spec_id, file): &(i32, DataFile)| {
        *spec_id != current_spec
            || file.file_size_in_bytes() < options.min_file_size
            || file.file_size_in_bytes() > options.max_file_size
    };
    let mut groups: HashMap<String, Vec<(i32, DataFile)>> = HashMap::new();
    let list = table.manifest_list_reader(snapshot).load().await?;
    for manifest in list.entries() {
        let spec_id = manifest.partition_spec_id;
        for entry in manifest.load_manifest(table.file_io()).await?.entries() {
            if !entry.is_alive() {
                continue;
            }
            if entry.content_type() != DataContentType::Data {
                return Err(TableError::Invalid(format!(
                    "table {} has row-level deletes (delete files), which OPTIMIZE cannot \
                     compact yet",
                    table.identifier()
                )));
            }
            let file = (spec_id, entry.data_file().clone());
            let inside = within
                .as_ref()
                .is_none_or(|w| w.contains_key(file.1.file_path()));
            if inside && candidate(&file) {
                let key = format!("{spec_id}/{:?}", file.1.partition());
                groups.entry(key).or_default().push(file);
            }
        }
    }
    let mut selection = Selection {
        snapshot: snapshot.snapshot_id(),
        ..Default::default()
    };
    for files in groups.into_values() {
        let bytes: u64 = files.iter().map(|(_, f)| f.file_size_in_bytes()).sum();
        let must = files.iter().any(|(spec_id, f)| {
            *spec_id != current_spec || f.file_size_in_bytes() > options.max_file_size
        });
        let enough = files.len() >= options.min_input_files
            || (files.len() > 1 && bytes > options.target_file_size);
        if must || enough {
            for (_, file) in files {
                selection.rows += file.record_count();
                selection.files.insert(file.file_path().to_string());
            }
        }
    }
    Ok(Some(selection).filter(|s| !s.files.is_empty()))
}

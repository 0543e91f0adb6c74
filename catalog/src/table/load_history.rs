//! Which landing files `COPY INTO` has loaded into a table, so that running it again
//! loads only new ones.
//!
//! The history is a JSON file in the table's `metadata/` directory, named by the table
//! property `quarry.copy-into.history`. Each `COPY INTO` that loads files writes the
//! history anew (the old paths and its own) and sets the property in the same commit
//! as its snapshot, so the history and the data never disagree, and it outlives the
//! snapshots `VACUUM` expires. `REMOVE ORPHAN FILES` keeps the current history file.

use std::collections::BTreeSet;

use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;

use super::TableError;

/// The table property that names the history file.
pub const PROPERTY: &str = "quarry.copy-into.history";

/// The files loaded into the table of `metadata`, by path.
pub async fn loaded(io: &FileIO, metadata: &TableMetadata) -> Result<BTreeSet<String>, TableError> {
    let Some(path) = metadata.properties().get(PROPERTY) else {
        return Ok(BTreeSet::new());
    };
    let bytes = io.new_input(path)?.read().await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        TableError::Invalid(format!("the COPY INTO history {path} is not readable: {e}"))
    })
}

/// Writes the history of the table of `metadata` with `new` files added; returns the
/// new history file's path. A file already in the history is a conflict: another
/// `COPY INTO` loaded it meanwhile.
pub async fn extend(
    io: &FileIO,
    metadata: &TableMetadata,
    new: &[String],
) -> Result<String, TableError> {
    let mut files = loaded(io, metadata).await?;
    for file in new {
        if !files.insert(file.clone()) {
            return Err(TableError::Conflict(format!(
                "{file} was loaded by another COPY INTO at the same time; run it again to \
                 load what is left"
            )));
        }
    }
    let path = format!(
        "{}/metadata/copy-history-{}.json",
        metadata.location().trim_end_matches('/'),
        uuid::Uuid::new_v4()
    );
    let json = serde_json::to_vec(&files)
        .map_err(|e| TableError::Invalid(format!("cannot write the COPY INTO history: {e}")))?;
    io.new_output(&path)?.write(json.into()).await?;
    Ok(path)
}

//! Removing the files a write left behind: all of them when its statement failed, or
//! those it did not commit (from retried task attempts) when it succeeded.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;

use super::{TableError, store_path};

/// Deletes every file under the directory `prefix` (a URI) whose URI is not in `keep`.
/// Returns how many it deleted.
pub async fn remove_files(
    store: &dyn ObjectStore,
    prefix: &str,
    keep: &HashSet<String>,
) -> Result<usize, TableError> {
    let (_, dir) = store_path(prefix)?;
    let keep: HashSet<Path> = keep
        .iter()
        .map(|uri| store_path(uri).map(|(_, path)| path))
        .collect::<Result<_, _>>()?;
    let doomed: Vec<Path> = store
        .list(Some(&dir))
        .map_ok(|meta| meta.location)
        .try_filter(|path| futures::future::ready(!keep.contains(path)))
        .try_collect()
        .await?;
    let count = doomed.len();
    let locations = futures::stream::iter(doomed.into_iter().map(Ok)).boxed();
    store
        .delete_stream(locations)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(count)
}

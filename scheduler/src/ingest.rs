//! Bulk ingest: rows a client sends (Flight SQL `CommandStatementIngest`, ADBC's
//! `adbc_ingest`) written by the scheduler as data files of an Iceberg table and
//! committed as one snapshot, creating, appending to or replacing the table as asked.
//!
//! The rows stream through: they are written as they arrive, never held whole. A
//! failure (bad rows, a client that goes away, a lost commit) leaves the table as it was
//! and removes the files written; the write runs in its own task so that it finishes or
//! cleans up even when the client's call is dropped.

use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use datafusion::sql::TableReference;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::store_path;
use quarry_catalog::table::write::{WriteSpec, write_partition};

use crate::error::{ErrorKind, QuarryError};
use crate::names::iceberg_ident;
use crate::planned::{Commit, layout, nullable};
use crate::write;

/// What to do when the table exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    Fail,
    Append,
    Replace,
}

/// What to do when the table does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    Fail,
    Create,
}

/// Where ingested rows go.
#[derive(Debug, Clone)]
pub struct IngestTarget {
    pub table: TableReference,
    pub if_exists: IfExists,
    pub if_missing: IfMissing,
}

/// Writes `rows` into the target table and returns how many rows it committed.
pub async fn ingest(
    ctx: &SessionContext,
    store: &TableStore,
    runtime: &Arc<RuntimeEnv>,
    target: IngestTarget,
    rows: SendableRecordBatchStream,
) -> Result<u64, QuarryError> {
    let ident = iceberg_ident(ctx, &target.table)?;
    let namespace = ident.namespace().join(".");
    if !store.namespace_exists(&namespace).await? {
        return Err(ErrorKind::UndefinedSchema.error(format!(
            "schema '{namespace}' does not exist: CREATE SCHEMA {namespace} first"
        )));
    }
    let incoming = rows.schema();
    let new_table = || -> Result<WriteSpec, QuarryError> {
        let (schema, spec) = layout(&nullable(&incoming), &[])?;
        Ok(WriteSpec::new(
            ident.to_string(),
            store.new_location(&ident),
            schema,
            spec,
            &Default::default(),
        ))
    };
    let (spec, commit) = match (store.load(&ident).await?, target.if_exists) {
        (Some(_), IfExists::Fail) => {
            return Err(QuarryError::duplicate(format!(
                "table '{ident}' already exists: append to it or replace it"
            )));
        }
        (Some(table), IfExists::Append) => {
            let uuid = table.metadata().uuid();
            let ident = ident.clone();
            (WriteSpec::for_table(&table), Commit::Append { ident, uuid })
        }
        (Some(table), IfExists::Replace) => (
            new_table()?,
            Commit::Replace {
                old: Box::new(table),
                properties: Default::default(),
            },
        ),
        (None, _) if target.if_missing == IfMissing::Fail => {
            return Err(QuarryError::no_table(format!(
                "table '{ident}' not found: create it, or ask ingest to create it"
            )));
        }
        (None, _) => (
            new_table()?,
            Commit::Create {
                ident,
                properties: Default::default(),
            },
        ),
    };
    let (store, runtime) = (store.clone(), Arc::clone(runtime));
    let task = tokio::spawn(async move {
        let files = async {
            let (url, _) = store_path(&spec.location)?;
            let objects = runtime.object_store(&url)?;
            Ok::<_, QuarryError>(write_partition(&spec, 0, rows, objects).await?)
        }
        .await;
        write::complete(&store, &runtime, &spec, &commit, files).await
    });
    task.await
        .map_err(|e| QuarryError::internal(format!("the ingest task failed: {e}")))?
}

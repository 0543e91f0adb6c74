//! Flight SQL prepared statements: created by an action, given parameter values by
//! `DoPut`, executed any number of times as a query (`GetFlightInfo`) or an update
//! (`DoPut`), then closed. Each execution plans the SQL again with the values bound,
//! so it sees the tables as they are then. JDBC prepares every statement, even those
//! without parameters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::{IpcMessage, SchemaAsIpc};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use tonic::Status;

use crate::error::{ErrorKind, QuarryError};
use crate::params;
use crate::service::Description;

/// How long an unused prepared statement is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

/// A prepared statement.
pub struct Prepared {
    pub session: Arc<SessionContext>,
    pub description: Description,
    /// The rows of parameter values bound last; empty when none were.
    values: Mutex<Vec<RecordBatch>>,
}

impl Prepared {
    /// Binds parameter values: one row per execution.
    pub fn bind(&self, batches: Vec<RecordBatch>) -> Result<(), QuarryError> {
        let expected = self.description.parameters.fields().len();
        for batch in &batches {
            if batch.num_columns() != expected {
                return Err(ErrorKind::InvalidParameter.error(format!(
                    "the statement has {expected} parameter(s), but {} values were bound",
                    batch.num_columns()
                )));
            }
        }
        *self.values.lock().unwrap_or_else(|p| p.into_inner()) = batches;
        Ok(())
    }

    /// The rows of bound values: each a set of values for one execution. Without bound
    /// values, one execution with none.
    pub fn rows(&self, batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>, QuarryError> {
        let stored;
        let batches = match batches.iter().map(RecordBatch::num_rows).sum::<usize>() {
            0 => {
                stored = self
                    .values
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                &stored
            }
            _ => batches,
        };
        let mut rows = Vec::new();
        for batch in batches {
            for row in 0..batch.num_rows() {
                rows.push(params::row_values(batch, row)?);
            }
        }
        if rows.is_empty() {
            rows.push(Vec::new());
        }
        Ok(rows)
    }

    /// The values for running the statement as a query: one row at most.
    pub fn query_values(&self) -> Result<Vec<ScalarValue>, QuarryError> {
        let mut rows = self.rows(&[])?;
        if rows.len() > 1 {
            return Err(ErrorKind::InvalidParameter.error(format!(
                "a query runs with one row of parameter values, but {} were bound",
                rows.len()
            )));
        }
        Ok(rows.pop().unwrap_or_default())
    }
}

/// The result schema clients see for a statement: none for statements that are not
/// queries, so that JDBC runs them as updates.
pub fn dataset_schema(description: &Description) -> SchemaRef {
    match description.is_query {
        true => Arc::clone(&description.result),
        false => Arc::new(Schema::empty()),
    }
}

/// The open prepared statements, by handle.
pub struct PreparedStatements {
    by_handle: moka::sync::Cache<String, Arc<Prepared>>,
}

impl Default for PreparedStatements {
    fn default() -> Self {
        Self {
            by_handle: moka::sync::Cache::builder()
                .time_to_idle(IDLE_TIMEOUT)
                .build(),
        }
    }
}

impl PreparedStatements {
    /// Keeps a new prepared statement and returns its handle.
    pub fn open(&self, session: Arc<SessionContext>, description: Description) -> String {
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let prepared = Prepared {
            session,
            description,
            values: Mutex::default(),
        };
        self.by_handle.insert(handle.clone(), Arc::new(prepared));
        handle
    }

    pub fn get(&self, handle: &[u8]) -> Result<Arc<Prepared>, Status> {
        let handle = std::str::from_utf8(handle).unwrap_or_default();
        self.by_handle.get(handle).ok_or_else(|| {
            crate::error::status::status(
                ErrorKind::UnknownStatement,
                format!("unknown prepared statement {handle:?}: it was closed or has expired"),
            )
        })
    }

    pub fn close(&self, handle: &[u8]) {
        if let Ok(handle) = std::str::from_utf8(handle) {
            self.by_handle.remove(handle);
        }
    }
}

/// A schema as the IPC message Flight SQL carries schemas in.
pub fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

//! The line protocol between `quarry-bench tpch|tpcds` and its engine processes: one JSON
//! object a line on the engine's stdin and stdout. An engine first writes [`Ready`],
//! then answers each [`Request`] with a [`Response`]. The DuckDB engine
//! (`benchmarks/duckdb_engine.py`) speaks it too.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The engine is set up (or could not be: `error`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Ready {
    pub engine: String,
    pub version: String,
    pub setup_seconds: f64,
    #[serde(default)]
    pub error: Option<String>,
}

/// Statements to run: each client's in order, the clients at the same time.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub clients: Vec<Vec<Job>>,
}

/// One statement, and where to write its answer (an Arrow IPC file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub sql: String,
    pub out: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// From the first statement's start to the last one's end.
    pub wall_seconds: f64,
    /// Per client, per job.
    pub clients: Vec<Vec<Outcome>>,
}

/// How one statement went. `seconds` runs from sending the statement to holding the
/// whole answer in memory; writing the answer file comes after.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub seconds: f64,
    pub rows: usize,
    #[serde(default)]
    pub error: Option<String>,
}

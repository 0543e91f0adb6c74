//! Test helpers: a cluster over a temporary warehouse, queries through Flight SQL, and
//! results as comparable text rows.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use ballista_core::serde::protobuf::task_status;
use ballista_scheduler::state::execution_stage::ExecutionStage;
use datafusion::prelude::SessionContext;
use quarry_client::connection::{ClientError, Connection};
use quarry_client::embedded::{EmbeddedCluster, EmbeddedOptions};

/// A `quarry serve` process on a free port over a temporary warehouse; killed when
/// dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// The Flight SQL port.
    pub port: u16,
    /// The PostgreSQL port.
    pub pg_port: u16,
    _dir: tempfile::TempDir,
}

/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Starts `command` and returns it with the first line it prints.
pub fn spawn_with_banner(mut command: std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut banner).unwrap();
    // The rest goes to the test's output; a closed pipe would fail the child's prints.
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    (child, banner)
}

/// A child process, killed when dropped.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `quarry ARGS` and returns it with the first line it prints.
pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Process, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quarry"));
    command.args(args).envs(env.iter().copied());
    let (child, banner) = spawn_with_banner(command);
    (Process(child), banner)
}

/// `GET path` on 127.0.0.1:`port`: the status and the body (status 0: no answer).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let mut response = String::new();
    let sent = write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    if sent.is_err() || stream.read_to_string(&mut response).is_err() {
        return (0, String::new());
    }
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the Prometheus sample `name` (with its labels) in `metrics`.
pub fn metric(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

/// A port no one listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServeProcess {
    /// Starts the server and waits for its banner.
    pub fn start(executors: usize) -> Self {
        Self::start_with(executors, &[])
    }

    /// Starts the server with more arguments and waits for its banner.
    pub fn start_with(executors: usize, args: &[&str]) -> Self {
        Self::start_env(executors, args, &[])
    }

    /// Starts the server with more arguments (a `--warehouse` among them replaces the
    /// temporary one) and environment variables, and waits for its banner.
    pub fn start_env(executors: usize, args: &[&str], env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quarry"));
        command.arg("serve");
        if !args.contains(&"--warehouse") {
            command.arg("--warehouse").arg(dir.path().join("wh"));
        }
        // Port 0: the server binds free ports itself and names them in its banner, so no
        // other test can take them between a probe and the bind.
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["--executors", &executors.to_string()])
            .args(["--flight-port", "0", "--pg-port", "0"])
            .args(args);
        let (child, banner) = spawn_with_banner(command);
        let port_after = |label: &str| -> u16 {
            let rest = banner
                .split_once(label)
                .unwrap_or_else(|| panic!("{banner}"))
                .1;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap_or_else(|_| panic!("{banner}"))
        };
        let (port, pg_port) = (
            port_after("Flight SQL on 127.0.0.1:"),
            port_after("PostgreSQL on 127.0.0.1:"),
        );
        Self {
            child,
            port,
            pg_port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A Flight SQL connection to it.
    pub async fn connect(&self) -> Connection {
        Connection::connect(&format!("http://{}", self.addr()), "test", "")
            .await
            .unwrap()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 server (s3s-fs, installed by `scripts/test-env.sh`) over a temporary
/// directory, with one bucket; killed when dropped.
pub struct S3Server {
    child: std::process::Child,
    pub port: u16,
    /// The directory that holds the buckets.
    pub dir: tempfile::TempDir,
}

impl S3Server {
    pub const ACCESS_KEY: &str = "quarry-test";
    pub const SECRET_KEY: &str = "quarry-test-secret";

    pub fn start(bucket: &str) -> Self {
        let binary = std::env::var("QUARRY_S3S_FS")
            .expect("QUARRY_S3S_FS: run the tests with the environment of scripts/test-env.sh");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(bucket)).unwrap();
        let port = free_port();
        let child = std::process::Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                Self::ACCESS_KEY,
                "--secret-key",
                Self::SECRET_KEY,
            ])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "s3s-fs");
        Self { child, port, dir }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The credentials, as a Quarry process reads them.
    pub fn credentials(&self) -> Vec<(&'static str, String)> {
        vec![
            ("QUARRY_S3_ACCESS_KEY_ID", Self::ACCESS_KEY.to_string()),
            ("QUARRY_S3_SECRET_ACCESS_KEY", Self::SECRET_KEY.to_string()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An etcd server (Debian's etcd-server, installed by `scripts/test-env.sh`) on free
/// ports over a temporary directory; killed when dropped.
#[cfg(feature = "etcd")]
pub struct EtcdServer {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

#[cfg(feature = "etcd")]
impl EtcdServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (port, peer) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{port}");
        let peer = format!("http://127.0.0.1:{peer}");
        let child = std::process::Command::new("etcd")
            .args(["--name", "quarry-test", "--data-dir"])
            .arg(dir.path().join("etcd"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("quarry-test={peer}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("etcd runs: scripts/test-env.sh installs etcd-server");
        wait_for_port(port, "etcd");
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[cfg(feature = "etcd")]
impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something listens on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub struct TestCluster {
    pub cluster: EmbeddedCluster,
    pub conn: Connection,
    _dir: tempfile::TempDir,
}

impl TestCluster {
    pub async fn start(executors: usize, slots: usize) -> Self {
        Self::start_with(executors, slots, |_| {}).await
    }

    /// Starts a cluster with options changed by `change`.
    pub async fn start_with(
        executors: usize,
        slots: usize,
        change: impl FnOnce(&mut EmbeddedOptions),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = EmbeddedOptions::local(dir.path().join("warehouse"), executors);
        options.slots = slots;
        change(&mut options);
        let cluster = EmbeddedCluster::start(options).await.unwrap();
        let conn = Connection::connect(&cluster.flight_url(), "test", "")
            .await
            .unwrap();
        Self {
            cluster,
            conn,
            _dir: dir,
        }
    }

    pub fn warehouse(&self) -> PathBuf {
        self.cluster
            .scheduler
            .warehouse
            .local_root()
            .expect("a local warehouse")
            .to_path_buf()
    }

    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, ClientError> {
        query(&self.conn, sql).await
    }

    /// Runs `sql` and returns its rows; panics on error with the statement.
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        query_rows(&self.conn, sql).await
    }

    /// Runs `sql`, which must fail, and returns its error message.
    pub async fn error(&self, sql: &str) -> String {
        match query(&self.conn, sql).await {
            Ok(batches) => panic!(
                "{sql} should have failed, but returned {:?}",
                rows(&batches)
            ),
            Err(e) => e.to_string(),
        }
    }
}

/// How many tasks a successful stage of a job ran, and on which executors.
pub async fn stage_executors(
    t: &TestCluster,
    job_id: &str,
    stage: usize,
) -> (usize, HashSet<String>) {
    let graph = t
        .cluster
        .scheduler
        .ballista
        .jobs
        .get_execution_graph(job_id)
        .await
        .unwrap()
        .unwrap();
    let stage = match graph.stages().get(&stage) {
        Some(ExecutionStage::Successful(stage)) => stage,
        other => panic!(
            "stage {stage} did not succeed: {:?}",
            other.map(|s| s.variant_name())
        ),
    };
    let executors = stage
        .task_infos
        .iter()
        .filter_map(|task| match &task.task_status {
            task_status::Status::Successful(done) => Some(done.executor_id.clone()),
            _ => None,
        })
        .collect();
    (stage.partitions, executors)
}

/// Runs `sql` and returns its rows; panics on error with the statement.
pub async fn query_rows(conn: &Connection, sql: &str) -> Vec<String> {
    match conn.query(sql).await {
        Ok(batches) => rows(&batches),
        Err(e) => panic!("{sql}: {e}"),
    }
}

pub async fn query(conn: &Connection, sql: &str) -> Result<Vec<RecordBatch>, ClientError> {
    conn.query(sql).await
}

/// Fails with every mismatch (one text each) when any of `queries` queries differ.
pub fn assert_none_differ(mismatches: &[String], queries: usize) {
    assert!(
        mismatches.is_empty(),
        "{} of {queries} queries differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Rows as `a|b|c` text.
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    quarry_client::output::rows(batches)
        .unwrap()
        .into_iter()
        .map(|row| row.join("|"))
        .collect()
}

/// Writes test data into `dir` with single-process DataFusion: a Parquet table of
/// `facts` rows with many row groups, a CSV file of `events`, a small JSON dimension.
pub async fn write_test_data(dir: &Path, facts: u64, events: u64) {
    let ctx = SessionContext::new();
    let dir = dir.display();
    for sql in [
        format!(
            "COPY (SELECT value AS id, value % 97 AS k, (value * 7919) % 10007 AS v, 'item-' || (value % 13) AS s \
             FROM generate_series(1, {facts})) TO '{dir}/landing/data/facts/facts.parquet' STORED AS PARQUET \
             OPTIONS ('format.max_row_group_size' '100000')"
        ),
        format!(
            "COPY (SELECT value AS id, value % 1000 AS user_id, value % 97 AS k, CAST(value % 365 AS INT) AS day, \
             value * 1.5 AS amount, 'event-' || (value % 7) AS kind FROM generate_series(1, {events})) \
             TO '{dir}/landing/data/events.csv' STORED AS CSV OPTIONS ('format.has_header' 'true')"
        ),
        format!(
            "COPY (SELECT value AS k, chr(97 + CAST(value % 26 AS INT)) || '-dim-' || value AS name FROM generate_series(0, 96)) \
             TO '{dir}/landing/data/dims.json' STORED AS JSON"
        ),
    ] {
        ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    }
}

/// `CREATE EXTERNAL TABLE` statements for the test data, under `root` (a path, or
/// nothing for paths relative to the warehouse).
pub fn test_tables(root: &str) -> Vec<String> {
    let prefix = if root.is_empty() {
        String::new()
    } else {
        format!("{root}/")
    };
    vec![
        format!(
            "CREATE EXTERNAL TABLE facts STORED AS PARQUET LOCATION '{prefix}landing/data/facts/'"
        ),
        format!(
            "CREATE EXTERNAL TABLE events STORED AS CSV LOCATION '{prefix}landing/data/events.csv' OPTIONS ('format.has_header' 'true')"
        ),
        format!(
            "CREATE EXTERNAL TABLE dims STORED AS JSON LOCATION '{prefix}landing/data/dims.json'"
        ),
    ]
}

/// The rows of `table` (`namespace.name`) as pyiceberg and DuckDB read them from the
/// warehouse (tests/interop/read_table.py), each sorted, every value as text.
/// Asserts that pyiceberg and DuckDB read `table` as Quarry does: Quarry's `columns`
/// (as text) against every column the others read.
pub async fn other_engines_read_as_quarry(t: &TestCluster, table: &str, columns: &str) {
    let mut quarry: Vec<Vec<String>> = t
        .rows(&format!("SELECT {columns} FROM {table}"))
        .await
        .iter()
        .map(|row| row.split('|').map(str::to_string).collect())
        .collect();
    quarry.sort();
    let (pyiceberg, duckdb) = other_engines_read(&t.warehouse(), table);
    assert_eq!(pyiceberg, quarry, "pyiceberg reads {table} otherwise");
    assert_eq!(duckdb, quarry, "DuckDB reads {table} otherwise");
}

pub fn other_engines_read(warehouse: &Path, table: &str) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let python = std::env::var("QUARRY_PYTHON").expect(
        "QUARRY_PYTHON must name a Python with pyiceberg and DuckDB: run the tests through scripts/test.sh",
    );
    let output = std::process::Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/interop/read_table.py"
        ))
        .arg(warehouse)
        .arg(table)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "read_table.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let engine =
        |name: &str| -> Vec<Vec<String>> { serde_json::from_value(seen[name].clone()).unwrap() };
    (engine("pyiceberg"), engine("duckdb"))
}

/// What DuckDB returns for `statements`, each result's rows as the tests render them.
pub fn duckdb(statements: &[String]) -> Vec<Vec<String>> {
    let python = std::env::var("QUARRY_PYTHON").expect(
        "QUARRY_PYTHON must name a Python with DuckDB: run the tests through scripts/test.sh",
    );
    let mut child = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/interop/duckdb_run.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(statements).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "duckdb_run.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs the Python script `script` of tests/ with `python` and `args`, and fails with its
/// output if it fails.
pub fn run_python(python: &str, script: &str, args: &[String]) {
    let path = format!("{}/../tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{script}:\n{stdout}");
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

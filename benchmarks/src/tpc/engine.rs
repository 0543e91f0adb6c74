//! The orchestrator's side of an engine process: starts it, sends it requests with a
//! time limit, and reads its peak memory. Each engine runs in a process of its own so
//! that its memory is its own and a crash or a hung query costs only that engine.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::protocol::{Ready, Request, Response};

/// How to start one engine.
#[derive(Debug, Clone)]
pub struct EngineSpec {
    /// The name in the report: Quarry, DataFusion, Ballista or DuckDB.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Where the process's standard error goes.
    pub log: PathBuf,
}

/// A running engine process.
pub struct EngineProcess {
    pub spec: EngineSpec,
    pub ready: Ready,
    child: Child,
    /// Where this process's part of the log starts.
    log_start: u64,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl EngineProcess {
    /// Starts the engine and waits, up to `limit`, until it is set up.
    pub async fn start(spec: &EngineSpec, limit: Duration) -> Result<Self, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(|e| format!("cannot open {}: {e}", spec.log.display()))?;
        let log_start = log.metadata().map_or(0, |m| m.len());
        let mut child = Command::new(&spec.program)
            .args(&spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.program.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the engine process has no pipes".into());
        };
        let mut process = Self {
            spec: spec.clone(),
            ready: Ready {
                engine: spec.name.clone(),
                version: String::new(),
                setup_seconds: 0.0,
                error: None,
            },
            child,
            log_start,
            stdin,
            stdout: BufReader::new(stdout).lines(),
        };
        let line = process.read_line(limit).await?;
        let ready: Ready = serde_json::from_str(&line)
            .map_err(|e| format!("{} said '{line}' instead of ready: {e}", spec.name))?;
        if let Some(error) = ready.error {
            return Err(format!("{} did not start: {error}", spec.name));
        }
        process.ready = ready;
        Ok(process)
    }

    /// Sends `request` and waits up to `limit` for the answer. On a time-out or a
    /// crash the process is killed: start a new one.
    pub async fn run(&mut self, request: &Request, limit: Duration) -> Result<Response, String> {
        let mut line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        line.push('\n');
        if let Err(e) = self.stdin.write_all(line.as_bytes()).await {
            return Err(self.died(&format!("cannot send the request: {e}")).await);
        }
        let answer = self.read_line(limit).await?;
        serde_json::from_str(&answer).map_err(|e| format!("bad answer '{answer}': {e}"))
    }

    async fn read_line(&mut self, limit: Duration) -> Result<String, String> {
        match tokio::time::timeout(limit, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err(self.died("the process exited").await),
            Ok(Err(e)) => Err(self.died(&format!("cannot read its output: {e}")).await),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(format!("no answer within {} s", limit.as_secs()))
            }
        }
    }

    /// Kills the process and describes how it ended, with the end of its log.
    async fn died(&mut self, what: &str) -> String {
        let _ = self.child.kill().await;
        let status = self.child.wait().await.map(|s| s.to_string());
        format!(
            "{what} ({}): {} (log: {})",
            status.unwrap_or_else(|e| e.to_string()),
            log_tail(&self.spec.log, self.log_start),
            self.spec.log.display(),
        )
    }

    /// The process's peak resident memory so far, in bytes (Linux `VmHWM`).
    pub fn peak_memory(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Closes stdin, which ends the process, and waits for it.
    pub async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The last lines this process wrote to its log.
fn log_tail(path: &Path, start: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(start as usize..).unwrap_or_default());
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(2)..].join(" | ")
}

//! Running statements: from `-c`/`-f`/standard input (stopping at the first failure),
//! or at the interactive prompt with line editing, history, a progress line for queries
//! that take longer than a second, and Ctrl-C to cancel the running query.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use rustyline::error::ReadlineError;

use crate::complete::SqlCompleter;
use crate::connection::{ClientError, Connection, Prepared};
use crate::describe;
use crate::output::{self, Format, StreamWriter};
use crate::split::{is_blank, split_statements};

/// How long a query runs before the progress line appears.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// How long Ctrl-C waits for the server to acknowledge a cancel.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

const HELP: &str = "\
Statements end with ';' and may span lines. Ctrl-C cancels the running query.
  \\q           quit
  \\?           this help
  \\timing      toggle showing how long each statement took (on at the prompt)
  \\x           toggle expanded display (one block per record)
  \\dn [PATTERN] list schemas
  \\dt [PATTERN] list tables (PATTERN: table, schema.table, schema.*; * and ? are wildcards)
  \\d [NAME]     list tables, or describe the columns of table NAME
Tab completes schema, table and column names and keywords.
Files are tables: SELECT * FROM 'landing/customers.csv' (paths are relative to the warehouse).";

/// A shell session on one connection.
pub struct Shell {
    conn: Connection,
    format: Format,
    expanded: bool,
    timing: bool,
}

/// What a statement returned.
struct Summary {
    rows: usize,
    columns: usize,
    elapsed: Duration,
}

impl Shell {
    pub fn new(conn: Connection, format: Format) -> Self {
        Self {
            conn,
            format,
            expanded: false,
            timing: false,
        }
    }

    /// Runs `statements` in order and stops at the first failure, whose message goes to
    /// standard error. Returns whether all succeeded. When the reader of standard output
    /// goes away, it stops quietly, as Unix tools do.
    pub async fn run_batch(&mut self, statements: &[String]) -> bool {
        for sql in statements {
            if sql.trim_start().starts_with('\\') {
                match self.meta_command(sql.trim()).await {
                    Ok(true) => continue,
                    Ok(false) => return true,
                    Err(e) => {
                        eprintln!("ERROR: {e}");
                        return false;
                    }
                }
            }
            let outcome = match self.execute(sql, false).await {
                Ok(summary) if self.format == Format::Table => {
                    writeln!(std::io::stdout(), "{}", footer(&summary, self.timing))
                        .map_err(ClientError::from)
                }
                other => other.map(|_| ()),
            };
            match outcome {
                Ok(()) => {}
                Err(e) if e.is_broken_pipe() => return true,
                Err(e) => {
                    eprintln!("ERROR: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// The interactive prompt.
    pub async fn interactive(&mut self, banner: &str) -> Result<(), ReadlineError> {
        let mut editor: rustyline::Editor<SqlCompleter, rustyline::history::DefaultHistory> =
            rustyline::Editor::new()?;
        let completer = SqlCompleter::new(self.conn.clone());
        let catalog_changed = completer.stale_flag();
        editor.set_helper(Some(completer));
        let history = std::env::var_os("HOME")
            .map(|home| std::path::Path::new(&home).join(".quarry_history"));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!("{banner}\nType \\? for help, \\q to quit.");
        self.timing = true;
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() {
                "quarry> "
            } else {
                "     -> "
            };
            let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e),
            };
            if buffer.is_empty() && line.trim_start().starts_with('\\') {
                let _ = editor.add_history_entry(line.trim());
                match self.meta_command(line.trim()).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => eprintln!("ERROR: {e}"),
                }
                continue;
            }
            buffer.push_str(&line);
            buffer.push('\n');
            let (statements, rest) = split_statements(&buffer);
            for sql in statements {
                let _ = editor.add_history_entry(format!("{sql};"));
                match self.execute(&sql, true).await {
                    Ok(summary) => println!("{}", footer(&summary, self.timing)),
                    Err(e) => eprintln!("ERROR: {e}"),
                }
                catalog_changed.store(true, Ordering::SeqCst);
            }
            buffer = if is_blank(&rest) { String::new() } else { rest };
        }
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        Ok(())
    }

    /// Handles a backslash command; false means quit.
    async fn meta_command(&mut self, command: &str) -> Result<bool, ClientError> {
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or_default();
        let toggle = |current: bool, arg: Option<&str>| match arg {
            Some("on") => true,
            Some("off") => false,
            _ => !current,
        };
        match name {
            "\\q" => return Ok(false),
            "\\?" | "\\h" => println!("{HELP}"),
            "\\timing" => {
                self.timing = toggle(self.timing, words.next());
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            "\\x" => {
                self.expanded = toggle(self.expanded, words.next());
                println!(
                    "Expanded display is {}.",
                    if self.expanded { "on" } else { "off" }
                );
            }
            "\\d" | "\\dt" | "\\dn" => self.describe(name, words.next()).await?,
            other => {
                return Err(ClientError::Protocol(format!(
                    "invalid command {other}: try \\? for help"
                )));
            }
        }
        Ok(true)
    }

    /// `\d [NAME]`, `\dt [PATTERN]`, `\dn [PATTERN]`: prints what the catalog holds.
    async fn describe(&self, command: &str, pattern: Option<&str>) -> Result<(), ClientError> {
        let listings = match (command, pattern) {
            ("\\dn", pattern) => vec![describe::schemas(&self.conn, pattern).await?],
            ("\\d", Some(name)) => describe::columns(&self.conn, name).await?,
            (_, pattern) => vec![describe::tables(&self.conn, pattern).await?],
        };
        let mut out = std::io::stdout().lock();
        for listing in listings {
            let schema = listing.batch.schema();
            let rows = listing.batch.num_rows();
            let text = output::table(&schema, std::slice::from_ref(&listing.batch))?;
            writeln!(
                out,
                "{}\n{text}\n({rows} row{})\n",
                listing.title,
                if rows == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }

    /// Prepares, runs and prints one statement. At the prompt, Ctrl-C cancels it (also
    /// while it is being planned) and a progress line shows after a second.
    async fn execute(&mut self, sql: &str, interactive: bool) -> Result<Summary, ClientError> {
        let started = Instant::now();
        let rows = Arc::new(AtomicUsize::new(0));
        let prepared: Arc<Mutex<Option<Prepared>>> = Arc::default();
        let progress = ProgressLine::new(interactive && std::io::stderr().is_terminal());
        let run = async {
            let statement = self.conn.prepare(sql).await?;
            *prepared.lock().unwrap_or_else(|p| p.into_inner()) = Some(statement.clone());
            progress.start(&self.conn, &statement, &rows, started);
            let columns = self.fetch_and_print(&statement, &rows, &progress).await;
            self.conn.close_later(statement);
            columns
        };
        let outcome = tokio::select! {
            result = run => result,
            _ = tokio::signal::ctrl_c(), if interactive => {
                let running = prepared.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(statement) = running {
                    // A server that does not answer must not hang the shell.
                    let _ = tokio::time::timeout(CANCEL_TIMEOUT, self.conn.cancel(&statement)).await;
                }
                Err(ClientError::Server {
                    message: "query cancelled".into(),
                    kind: Some(quarry_scheduler::ErrorKind::Cancelled),
                })
            }
        };
        progress.stop();
        Ok(Summary {
            columns: outcome?,
            rows: rows.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
    }

    /// Runs a prepared statement and prints its result; returns its number of columns.
    async fn fetch_and_print(
        &self,
        prepared: &Prepared,
        rows: &AtomicUsize,
        progress: &ProgressLine,
    ) -> Result<usize, ClientError> {
        let (schema, mut stream) = self.conn.fetch(prepared).await?;
        let stdout = std::io::BufWriter::new(std::io::stdout());
        if let Some(mut writer) = StreamWriter::new(self.format, stdout, &schema)? {
            while let Some(batch) = stream.try_next().await? {
                progress.stop();
                rows.fetch_add(batch.num_rows(), Ordering::Relaxed);
                writer.write(&batch)?;
            }
            writer.finish()?;
            return Ok(schema.fields().len());
        }
        let mut batches: Vec<RecordBatch> = Vec::new();
        while let Some(batch) = stream.try_next().await? {
            rows.fetch_add(batch.num_rows(), Ordering::Relaxed);
            batches.push(batch);
        }
        progress.stop();
        if schema.fields().is_empty() || self.format != Format::Table {
            return Ok(schema.fields().len());
        }
        let text = if self.expanded {
            output::expanded(&schema, &batches)?
        } else {
            output::table(&schema, &batches)?
        };
        writeln!(std::io::stdout().lock(), "{text}")?;
        Ok(schema.fields().len())
    }
}

/// `(3 rows)`, `(3 rows, 0.052 s)`, or `OK` for statements without a result.
fn footer(summary: &Summary, with_time: bool) -> String {
    let what = if summary.columns == 0 {
        "OK".to_string()
    } else if summary.rows == 1 {
        "(1 row".to_string()
    } else {
        format!("({} rows", summary.rows)
    };
    match (summary.columns == 0, with_time) {
        (true, true) => format!("OK ({:.3} s)", summary.elapsed.as_secs_f64()),
        (true, false) => what,
        (false, true) => format!("{what}, {:.3} s)", summary.elapsed.as_secs_f64()),
        (false, false) => format!("{what})"),
    }
}

/// The progress line on standard error: `stages 2/3 · tasks 5/8 · 1200 rows · 3.4 s`,
/// redrawn from a second after the start until stopped. It is stopped, and the line
/// cleared, before any result is printed.
struct ProgressLine {
    enabled: bool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ProgressLine {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            task: Mutex::new(None),
        }
    }

    fn start(
        &self,
        conn: &Connection,
        prepared: &Prepared,
        rows: &Arc<AtomicUsize>,
        started: Instant,
    ) {
        if !self.enabled {
            return;
        }
        let (conn, prepared, rows) = (conn.clone(), prepared.clone(), Arc::clone(rows));
        let task = tokio::spawn(async move {
            tokio::time::sleep(PROGRESS_AFTER).await;
            loop {
                let mut line = String::new();
                if let Ok(Some(job)) = conn.progress(&prepared).await.map(|p| p.job) {
                    line = format!(
                        "stages {}/{} · tasks {}/{} · ",
                        job.stages_done, job.stages_total, job.tasks_done, job.tasks_total
                    );
                }
                line.push_str(&format!(
                    "{} rows · {:.1} s  (Ctrl-C cancels)",
                    rows.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                ));
                eprint!("\r\x1b[K{line}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Stops redrawing and clears the line; does nothing after the first call.
    fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
            eprint!("\r\x1b[K");
        }
    }
}

//! [`QuarryError`]: errors as users see them, converted once from DataFusion and
//! Ballista errors and once more into a gRPC status at the Flight SQL door.
//!
//! Users get one line that names the problem: `syntax error: ... at Line: 1, Column: 8`,
//! `table 'x' not found`, `Cast error: Cannot cast string 'abc' to value of Int64 type`.
//! The wrapping layers (`Error during planning:`, `Job 12 failed: Task failed ...`) are
//! peeled off.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

/// An error from Quarry's query service.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QuarryError {
    /// The statement does not parse.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The statement parses but cannot be planned (unknown table or column, types).
    #[error("{0}")]
    Plan(String),
    /// Execution failed on the scheduler or an executor.
    #[error("{0}")]
    Execution(String),
    /// An executor's memory limit stopped the query: an operator that cannot spill (a
    /// hash join's build side) needed more.
    #[error(
        "{0} (the query needs more memory than an executor may use: raise its memory_limit, or read less)"
    )]
    OutOfMemory(String),
    /// The query was cancelled.
    #[error("query cancelled")]
    Cancelled,
    /// The cluster lost work the statement needed (an executor died); running the
    /// statement again is safe and should succeed.
    #[error("{0}; the statement did not take effect: run it again")]
    Unavailable(String),
    /// The cluster has had no executor to run the statement for a while; it did not
    /// run, and running it again is safe once executors are back.
    #[error("{0}; the statement did not take effect: run it again")]
    NoExecutors(String),
    /// A row-level change lost a race: another statement committed first and rewrote or
    /// removed rows this one changes. Nothing was written; running it again is safe.
    #[error("{0}; the statement did not take effect: run it again")]
    Conflict(String),
    /// A `MERGE` matched one target row with more than one source row, which the SQL
    /// standard makes an error (a cardinality violation). Nothing changed.
    #[error("{0}")]
    Cardinality(String),
    /// A query or session handle the service does not know.
    #[error("{0}")]
    NotFound(String),
    /// The service could not start.
    #[error("{0}")]
    Startup(String),
    /// A bug in Quarry.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DataFusionError> for QuarryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::External(inner) if inner.is::<QuarryError>() => inner
                .downcast_ref::<QuarryError>()
                .cloned()
                .unwrap_or_else(|| QuarryError::Internal(inner.to_string())),
            DataFusionError::SQL(err, _) => match err.as_ref() {
                ParserError::ParserError(msg) | ParserError::TokenizerError(msg) => {
                    QuarryError::Syntax(msg.clone())
                }
                ParserError::RecursionLimitExceeded => {
                    QuarryError::Syntax("statement is nested too deeply".into())
                }
            },
            DataFusionError::Plan(msg)
            | DataFusionError::Configuration(msg)
            | DataFusionError::NotImplemented(msg) => QuarryError::Plan(clean(msg)),
            DataFusionError::SchemaError(err, _) => QuarryError::Plan(clean(&err.to_string())),
            DataFusionError::Internal(msg) => QuarryError::Internal(clean(msg)),
            root => QuarryError::execution(&root.to_string()),
        }
    }
}

impl QuarryError {
    /// The error of a query that failed while it ran, from its message as an executor
    /// or DataFusion reported it: [`QuarryError::OutOfMemory`] when a memory limit
    /// stopped it (DataFusion's `ResourcesExhausted`, which reaches the scheduler only
    /// as text), else [`QuarryError::Execution`].
    pub fn execution(message: &str) -> QuarryError {
        let exhausted = ["Resources exhausted: ", "ResourcesExhausted("]
            .iter()
            .any(|kind| message.contains(kind));
        if !exhausted {
            return QuarryError::Execution(clean(message));
        }
        // The pool's report lists the top consumers first; the line that says what
        // could not be allocated is the one that matters.
        // A message that travelled in `Debug` form has its line breaks escaped.
        let message = message.replace("\\n", "\n");
        let failed = message
            .lines()
            .map(|line| line.trim_start_matches("Error: ").trim())
            .find(|line| line.starts_with("Failed to allocate"));
        QuarryError::OutOfMemory(match failed {
            Some(line) => line.trim_end_matches(['"', ')', '\\']).to_string(),
            None => clean(&message),
        })
    }
}

impl From<quarry_catalog::table::TableError> for QuarryError {
    fn from(e: quarry_catalog::table::TableError) -> Self {
        use quarry_catalog::table::TableError;
        match e {
            TableError::NotFound(msg) => QuarryError::NotFound(msg),
            TableError::Conflict(msg) => QuarryError::Conflict(msg),
            TableError::DataFusion(e) => e.into(),
            e @ (TableError::UnsupportedType { .. }
            | TableError::Partition(_)
            | TableError::AlreadyExists(_)
            | TableError::Invalid(_)) => QuarryError::Plan(e.to_string()),
            e => QuarryError::Execution(e.to_string()),
        }
    }
}

impl From<ballista_core::error::BallistaError> for QuarryError {
    fn from(e: ballista_core::error::BallistaError) -> Self {
        use ballista_core::error::BallistaError;
        match e {
            BallistaError::DataFusionError(e) => (*e).into(),
            BallistaError::Cancelled => QuarryError::Cancelled,
            other => QuarryError::execution(&other.to_string()),
        }
    }
}

impl From<QuarryError> for tonic::Status {
    fn from(e: QuarryError) -> Self {
        let message = e.to_string();
        match e {
            QuarryError::Syntax(_) | QuarryError::Plan(_) | QuarryError::Cardinality(_) => {
                tonic::Status::invalid_argument(message)
            }
            QuarryError::Execution(_) => tonic::Status::internal(message),
            QuarryError::OutOfMemory(_) => tonic::Status::resource_exhausted(message),
            QuarryError::Cancelled => tonic::Status::cancelled(message),
            QuarryError::NotFound(_) => tonic::Status::not_found(message),
            QuarryError::Startup(_) | QuarryError::Internal(_) => tonic::Status::internal(message),
            QuarryError::Unavailable(_) | QuarryError::NoExecutors(_) => {
                tonic::Status::unavailable(message)
            }
            QuarryError::Conflict(_) => tonic::Status::aborted(message),
        }
    }
}

/// Prefixes DataFusion and Ballista put before the message that matters.
const PREFIXES: [&str; 10] = [
    "Error during planning: ",
    "Schema error: ",
    "Execution error: ",
    "External error: ",
    "Arrow error: ",
    "Internal error: ",
    "This feature is not implemented: ",
    "Invalid or Unsupported Configuration: ",
    "Error planning job ",
    "Task failed due to runtime execution error: ",
];

/// Variants of DataFusion's and Arrow's errors whose `Debug` form wraps the real message,
/// with the text Arrow's `Display` puts before it.
const DEBUG_WRAPPERS: [(&str, &str); 19] = [
    ("DataFusionError", ""),
    ("Execution", ""),
    ("External", ""),
    ("ExternalError", ""),
    ("ArrowError", ""),
    ("Internal", ""),
    ("General", ""),
    ("Plan", ""),
    ("IoError", ""),
    ("ObjectStore", ""),
    ("Shared", ""),
    ("CastError", "Cast error: "),
    ("ComputeError", "Compute error: "),
    ("ParseError", "Parser error: "),
    ("InvalidArgumentError", "Invalid argument error: "),
    ("ArithmeticOverflow", "Arithmetic overflow: "),
    ("NotYetImplemented", "Not yet implemented: "),
    ("CsvError", "Csv error: "),
    ("JsonError", "Json error: "),
];

/// Peels wrapping layers off an error message (`Job failed due to stage 1 failed: Task
/// failed ...: DataFusionError(Execution("ArrowError(CastError(...))"))`), leaving the
/// innermost cause on one line.
pub fn clean(message: &str) -> String {
    let mut msg = message.trim().to_string();
    loop {
        let before = msg.clone();
        // DataFusion's `Context` shows `description\ncaused by\ncause`: keep the cause.
        if let Some((_, cause)) = msg.rsplit_once("\ncaused by\n") {
            msg = cause.trim().to_string();
        }
        if let Some(rest) = after_failed_prefix(&msg) {
            msg = rest.to_string();
        }
        for prefix in PREFIXES {
            if let Some(rest) = msg.strip_prefix(prefix) {
                msg = rest.to_string();
            }
        }
        msg = unwrap_debug(&msg);
        if msg == before {
            break;
        }
    }
    // DataFusion appends hints after a blank line; keep the first line only.
    msg.lines().next().unwrap_or_default().trim().to_string()
}

/// For `Job 12 failed: X`, `Job failed due to stage 1 failed: X`, returns `X`.
fn after_failed_prefix(msg: &str) -> Option<&str> {
    let (head, rest) = msg.split_once(" failed: ")?;
    let first = head.split_whitespace().next()?;
    let is_wrapper =
        head.len() < 40 && ["Job", "job", "Stage", "stage", "Task", "task"].contains(&first);
    is_wrapper.then_some(rest)
}

/// `Name("text")` or `Name(Inner(..))` as written by `Debug` → the text, with Arrow's
/// `Display` prefix for Arrow's error kinds.
fn unwrap_debug(msg: &str) -> String {
    if msg == "DivideByZero" {
        return "Divide by zero error".into();
    }
    let Some((name, rest)) = msg.split_once('(') else {
        return msg.to_string();
    };
    let Some(&(_, display)) = DEBUG_WRAPPERS.iter().find(|(n, _)| *n == name) else {
        return msg.to_string();
    };
    let Some(inner) = rest.strip_suffix(')') else {
        return msg.to_string();
    };
    let inner = inner.strip_suffix(", None").unwrap_or(inner);
    let inner = match inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => inner.to_string(),
    };
    format!("{display}{inner}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_limit_is_its_own_kind_and_says_what_did_not_fit() {
        let report = "Resources exhausted: Additional allocation failed for HashJoinInput[0] \
            with top memory consumers (across reservations) as:\n  HashJoinInput[0]#12(can \
            spill: false) consumed 3.9 MB, peak 3.9 MB.\nError: Failed to allocate additional \
            1024.0 KB for HashJoinInput[0] with 3.9 MB already allocated for this reservation \
            - 100.0 KB remain available for the total pool";
        let remote = format!(
            "Job 7 failed: Task failed due to runtime execution error: {:?}",
            datafusion::error::DataFusionError::ResourcesExhausted(
                report["Resources exhausted: ".len()..].to_string()
            )
        );
        for message in [report.to_string(), remote] {
            let QuarryError::OutOfMemory(what) = QuarryError::execution(&message) else {
                panic!("not a memory error: {message}");
            };
            assert!(
                what.starts_with("Failed to allocate additional 1024.0 KB for HashJoinInput[0]")
                    && what.ends_with("remain available for the total pool"),
                "{what}"
            );
        }
        assert!(matches!(
            QuarryError::execution("Execution error: Divide by zero error"),
            QuarryError::Execution(m) if m == "Divide by zero error"
        ));
    }

    #[test]
    fn peels_wrappers() {
        assert_eq!(
            clean("Error during planning: table 'x' not found"),
            "table 'x' not found"
        );
        assert_eq!(
            clean(
                r#"Job failed due to stage 1 failed: Task failed due to runtime execution error: DataFusionError(Execution("ArrowError(CastError(\"Cannot cast string 'two' to value of Int32 type\"))"))"#
            ),
            "Cast error: Cannot cast string 'two' to value of Int32 type"
        );
        assert_eq!(
            clean(
                r#"Job failed due to stage 1 failed: Task failed due to runtime execution error: DataFusionError(Execution("ArrowError(DivideByZero)"))"#
            ),
            "Divide by zero error"
        );
        assert_eq!(clean("Job 12 failed: disk full"), "disk full");
        assert_eq!(
            clean(
                "Error planning job abc: Optimizer rule 'simplify_expressions' failed\ncaused by\nArrow error: Cast error: Cannot cast string 'x' to value of Int64 type"
            ),
            "Cast error: Cannot cast string 'x' to value of Int64 type"
        );
        assert_eq!(
            clean("Schema error: No field named zz.\n\nValid fields are a."),
            "No field named zz."
        );
    }

    #[test]
    fn syntax_errors_keep_the_position() {
        let err = datafusion::sql::parser::DFParser::parse_sql("SELEC 1").unwrap_err();
        let e: QuarryError = err.into();
        assert!(matches!(e, QuarryError::Syntax(_)));
        assert!(e.to_string().starts_with("syntax error: "), "{e}");
        assert!(e.to_string().contains("Line: 1, Column: 1"), "{e}");
    }
}

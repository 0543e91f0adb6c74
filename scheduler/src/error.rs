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
    /// The query was cancelled.
    #[error("query cancelled")]
    Cancelled,
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
            root => QuarryError::Execution(clean(&root.to_string())),
        }
    }
}

impl From<ballista_core::error::BallistaError> for QuarryError {
    fn from(e: ballista_core::error::BallistaError) -> Self {
        use ballista_core::error::BallistaError;
        match e {
            BallistaError::DataFusionError(e) => (*e).into(),
            BallistaError::Cancelled => QuarryError::Cancelled,
            other => QuarryError::Execution(clean(&other.to_string())),
        }
    }
}

impl From<QuarryError> for tonic::Status {
    fn from(e: QuarryError) -> Self {
        let message = e.to_string();
        match e {
            QuarryError::Syntax(_) | QuarryError::Plan(_) => {
                tonic::Status::invalid_argument(message)
            }
            QuarryError::Execution(_) => tonic::Status::internal(message),
            QuarryError::Cancelled => tonic::Status::cancelled(message),
            QuarryError::NotFound(_) => tonic::Status::not_found(message),
            QuarryError::Startup(_) | QuarryError::Internal(_) => tonic::Status::internal(message),
        }
    }
}

/// Prefixes DataFusion and Ballista wrap around the message that matters, outermost first.
const WRAPPERS: [&str; 16] = [
    "Error during planning: ",
    "Schema error: ",
    "Execution error: ",
    "External error: ",
    "Arrow error: ",
    "Internal error: ",
    "This feature is not implemented: ",
    "Invalid or Unsupported Configuration: ",
    "Optimizer rule '",
    "Error planning job ",
    "Job failed due to stage ",
    "Task failed due to runtime execution error: ",
    "DataFusionError(",
    "ExecutionError(",
    "ArrowError(",
    "General(",
];

/// Peels wrapping layers off an error message, leaving the innermost cause on one line.
pub fn clean(message: &str) -> String {
    let mut msg = message.trim().to_string();
    loop {
        let before = msg.clone();
        // "Job 3 failed: ..." and "stage 2 failed: ..." carry the cause after the colon.
        if let Some(rest) = after_failed_prefix(&msg) {
            msg = rest.to_string();
        }
        for prefix in WRAPPERS {
            if let Some(rest) = msg.strip_prefix(prefix) {
                msg = rest.to_string();
                if prefix.ends_with('(') {
                    msg = strip_debug_wrapping(&msg);
                }
            }
        }
        if msg == before {
            break;
        }
    }
    msg = msg.replace("\\\"", "\"").replace("\\n", " ");
    // DataFusion appends hints after a blank line; keep the first line only.
    msg.lines().next().unwrap_or_default().trim().to_string()
}

/// For `Job 12 failed: X` or `stage 1 failed: X`, returns `X`.
fn after_failed_prefix(msg: &str) -> Option<&str> {
    let (head, rest) = msg.split_once(" failed: ")?;
    let words: Vec<&str> = head.split_whitespace().collect();
    let is_wrapper = matches!(words.as_slice(), [kind, _id] if ["Job", "job", "stage", "Stage", "Task", "task"].contains(kind));
    is_wrapper.then_some(rest)
}

/// `"msg")` or `Execution("msg"))` as written by `Debug` → `msg`.
fn strip_debug_wrapping(msg: &str) -> String {
    let inner = msg.trim_end_matches(')');
    inner.trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peels_wrappers() {
        assert_eq!(
            clean("Error during planning: table 'x' not found"),
            "table 'x' not found"
        );
        assert_eq!(
            clean(
                "Job 7 failed: Job failed due to stage 1 failed: Task failed due to runtime execution error: ArrowError(CastError(\"Cannot cast string 'abc' to value of Int64 type\"), None)"
            ),
            "CastError(\"Cannot cast string 'abc' to value of Int64 type\"), None"
        );
        assert_eq!(
            clean("Schema error: No field named zz.\n\nValid fields are a."),
            "No field named zz."
        );
    }

    #[test]
    fn syntax_errors_keep_the_position() {
        let err = datafusion::sql::parser::DFParser::parse_sql("SELEC 1").unwrap_err();
        let e: QuarryError = DataFusionError::from(err).into();
        assert!(matches!(e, QuarryError::Syntax(_)));
        assert!(e.to_string().starts_with("syntax error: "), "{e}");
        assert!(e.to_string().contains("Line: 1, Column: 1"), "{e}");
    }
}

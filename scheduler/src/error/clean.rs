//! Error text as it reaches the scheduler from executors and DataFusion: the wrapping
//! layers (`Error during planning:`, `Job 12 failed: Task failed ...`,
//! `DataFusionError(Execution("..."))`) peeled off to leave the innermost cause on one
//! line, and the kind of a failure read from the Arrow or DataFusion variant that
//! caused it. Ballista forwards an executor's error as text only, so the variant's
//! name (its `Debug` form) or the words its `Display` starts with is all that is left
//! of its type.

use super::{ErrorKind, QuarryError};

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

/// What Arrow's `Display` writes for the variants that say what kind of problem the
/// value had, as a peeled message starts.
const KINDS: [(&str, ErrorKind); 5] = [
    ("Cast error: ", ErrorKind::InvalidText),
    ("Parser error: ", ErrorKind::InvalidText),
    ("Arithmetic overflow: ", ErrorKind::NumericOverflow),
    ("Divide by zero error", ErrorKind::DivisionByZero),
    ("Not yet implemented: ", ErrorKind::Unsupported),
];

impl QuarryError {
    /// The error of a query that failed while it ran, from its message as an executor
    /// or DataFusion reported it: [`ErrorKind::OutOfMemory`] when a memory limit
    /// stopped it (DataFusion's `ResourcesExhausted`), the kind of the Arrow error
    /// that caused it, else [`ErrorKind::Execution`].
    pub fn remote(message: &str) -> QuarryError {
        let exhausted = ["Resources exhausted: ", "ResourcesExhausted("]
            .iter()
            .any(|kind| message.contains(kind));
        if !exhausted {
            let message = clean(message);
            let kind = KINDS
                .iter()
                .find(|(display, _)| message.starts_with(display))
                .map_or(ErrorKind::Execution, |(_, kind)| *kind);
            return kind.error(message);
        }
        // The pool's report lists the top consumers first; the line that says what
        // could not be allocated is the one that matters.
        // A message that travelled in `Debug` form has its line breaks escaped.
        let message = message.replace("\\n", "\n");
        let failed = message
            .lines()
            .map(|line| line.trim_start_matches("Error: ").trim())
            .find(|line| line.starts_with("Failed to allocate"));
        ErrorKind::OutOfMemory.error(match failed {
            Some(line) => line.trim_end_matches(['"', ')', '\\']).to_string(),
            None => clean(&message),
        })
    }
}

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
            let error = QuarryError::remote(&message);
            assert_eq!(error.kind(), ErrorKind::OutOfMemory, "{message}");
            let what = error.message();
            assert!(
                what.starts_with("Failed to allocate additional 1024.0 KB for HashJoinInput[0]")
                    && what.ends_with("remain available for the total pool"),
                "{what}"
            );
        }
    }

    #[test]
    fn a_remote_failure_has_the_kind_of_the_arrow_error_that_caused_it() {
        let task = |debug: &str| {
            QuarryError::remote(&format!(
                "Job failed due to stage 1 failed: Task failed due to runtime execution \
                 error: DataFusionError(Execution(\"{debug}\"))"
            ))
        };
        let cases = [
            (task("ArrowError(DivideByZero)"), ErrorKind::DivisionByZero),
            (
                task(r#"ArrowError(CastError(\"Cannot cast string 'x' to value of Int64 type\"))"#),
                ErrorKind::InvalidText,
            ),
            (
                QuarryError::remote(
                    "Arrow error: Arithmetic overflow: Overflow happened on: 9 * 9",
                ),
                ErrorKind::NumericOverflow,
            ),
            (
                QuarryError::remote("Job 12 failed: disk full"),
                ErrorKind::Execution,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
        assert_eq!(
            QuarryError::remote("Execution error: Divide by zero error").message(),
            "Divide by zero error"
        );
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
}

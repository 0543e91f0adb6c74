//! [`QuarryError`]: errors as users see them, each with an [`ErrorKind`] set where the
//! error arises: from the typed errors of DataFusion, Arrow, Iceberg, the object store
//! and Ballista (`convert`), from the variant names in the text an executor reports
//! (`clean`), and by Quarry's own statements. The doors map the kind, never the
//! wording: the PostgreSQL door to a SQLSTATE, the Flight SQL door to a gRPC code with
//! the kind's name in the status metadata [`KIND_METADATA`], which the shell reads.
//!
//! Users get one line that names the problem: `syntax error: ... at Line: 1, Column: 8`,
//! `table 'x' not found`, `Cast error: Cannot cast string 'abc' to value of Int64 type`.

mod clean;
mod convert;
pub mod status;

pub use clean::clean;
pub use convert::classify_planning;

/// The gRPC status metadata key that carries an error's [`ErrorKind::name`].
pub const KIND_METADATA: &str = "quarry-error-kind";

/// What kind of problem an error is, in terms a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The statement does not parse.
    Syntax,
    /// A table or view the statement names does not exist.
    UndefinedTable,
    /// A column the statement names does not exist.
    UndefinedColumn,
    /// A schema (namespace) the statement names does not exist.
    UndefinedSchema,
    /// A function the statement calls does not exist.
    UndefinedFunction,
    /// Something else the statement names does not exist: a reflection, a snapshot, a
    /// partition field, a landing file.
    UndefinedObject,
    /// A prepared statement or running query the service does not know (any more).
    UnknownStatement,
    /// What the statement creates exists already.
    Duplicate,
    /// The statement is valid SQL that Quarry does not do.
    Unsupported,
    /// Any other reason a statement cannot be planned.
    InvalidStatement,
    /// A parameter's value does not fit the statement.
    InvalidParameter,
    /// A value does not convert to the type asked for (`CAST('x' AS INT)`).
    InvalidText,
    /// A division by zero.
    DivisionByZero,
    /// A number does not fit its type.
    NumericOverflow,
    /// A `MERGE` matched one target row with more than one source row.
    CardinalityViolation,
    /// An executor's memory limit stopped the query.
    OutOfMemory,
    /// The query was cancelled.
    Cancelled,
    /// A concurrent change won a race; nothing was written and running the statement
    /// again is safe.
    Conflict,
    /// The cluster lost work the statement needed (an executor died); nothing took
    /// effect and running the statement again is safe.
    Unavailable,
    /// The cluster has had no executor to run the statement for a while; it did not
    /// run, and running it again is safe once executors are back.
    NoExecutors,
    /// The session is unknown or expired: log in again.
    Unauthenticated,
    /// The statement needs a right the user or the service lacks (the object store
    /// refused it).
    PermissionDenied,
    /// The statement failed while it ran, for a reason none of the above names.
    Execution,
    /// The service could not start.
    Startup,
    /// A bug in Quarry.
    Internal,
}

/// Every kind, for [`ErrorKind::from_name`].
const ALL: [ErrorKind; 25] = [
    ErrorKind::Syntax,
    ErrorKind::UndefinedTable,
    ErrorKind::UndefinedColumn,
    ErrorKind::UndefinedSchema,
    ErrorKind::UndefinedFunction,
    ErrorKind::UndefinedObject,
    ErrorKind::UnknownStatement,
    ErrorKind::Duplicate,
    ErrorKind::Unsupported,
    ErrorKind::InvalidStatement,
    ErrorKind::InvalidParameter,
    ErrorKind::InvalidText,
    ErrorKind::DivisionByZero,
    ErrorKind::NumericOverflow,
    ErrorKind::CardinalityViolation,
    ErrorKind::OutOfMemory,
    ErrorKind::Cancelled,
    ErrorKind::Conflict,
    ErrorKind::Unavailable,
    ErrorKind::NoExecutors,
    ErrorKind::Unauthenticated,
    ErrorKind::PermissionDenied,
    ErrorKind::Execution,
    ErrorKind::Startup,
    ErrorKind::Internal,
];

impl ErrorKind {
    /// The kind's stable name, as the Flight SQL door sends it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::UndefinedTable => "undefined_table",
            ErrorKind::UndefinedColumn => "undefined_column",
            ErrorKind::UndefinedSchema => "undefined_schema",
            ErrorKind::UndefinedFunction => "undefined_function",
            ErrorKind::UndefinedObject => "undefined_object",
            ErrorKind::UnknownStatement => "unknown_statement",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidStatement => "invalid_statement",
            ErrorKind::InvalidParameter => "invalid_parameter",
            ErrorKind::InvalidText => "invalid_text",
            ErrorKind::DivisionByZero => "division_by_zero",
            ErrorKind::NumericOverflow => "numeric_overflow",
            ErrorKind::CardinalityViolation => "cardinality_violation",
            ErrorKind::OutOfMemory => "out_of_memory",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NoExecutors => "no_executors",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Execution => "execution",
            ErrorKind::Startup => "startup",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind named `name`, as [`ErrorKind::name`] spells it.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether running the statement again is safe and may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Conflict | ErrorKind::Unavailable | ErrorKind::NoExecutors
        )
    }

    /// A [`QuarryError`] of this kind.
    pub fn error(self, message: impl Into<String>) -> QuarryError {
        QuarryError {
            kind: self,
            message: message.into(),
        }
    }
}

/// An error from Quarry's query service: a kind and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarryError {
    kind: ErrorKind,
    message: String,
}

impl QuarryError {
    /// The statement does not parse.
    pub fn syntax(message: impl Into<String>) -> QuarryError {
        ErrorKind::Syntax.error(message)
    }

    /// The statement cannot be planned, for a reason no narrower kind names.
    pub fn plan(message: impl Into<String>) -> QuarryError {
        ErrorKind::InvalidStatement.error(message)
    }

    /// The statement is valid SQL that Quarry does not do.
    pub fn unsupported(message: impl Into<String>) -> QuarryError {
        ErrorKind::Unsupported.error(message)
    }

    /// A table or view the statement names does not exist.
    pub fn no_table(message: impl Into<String>) -> QuarryError {
        ErrorKind::UndefinedTable.error(message)
    }

    /// Something the statement names, neither a table nor a column, does not exist.
    pub fn not_found(message: impl Into<String>) -> QuarryError {
        ErrorKind::UndefinedObject.error(message)
    }

    /// What the statement creates exists already.
    pub fn duplicate(message: impl Into<String>) -> QuarryError {
        ErrorKind::Duplicate.error(message)
    }

    /// The query was cancelled.
    pub fn cancelled() -> QuarryError {
        ErrorKind::Cancelled.error("query cancelled")
    }

    /// The service could not start.
    pub fn startup(message: impl Into<String>) -> QuarryError {
        ErrorKind::Startup.error(message)
    }

    /// A bug in Quarry.
    pub fn internal(message: impl Into<String>) -> QuarryError {
        ErrorKind::Internal.error(message)
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the words its kind adds when shown (`syntax error: `,
    /// `run it again`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with its message changed by `change` (to say where it arose).
    pub fn map_message(self, change: impl FnOnce(&str) -> String) -> QuarryError {
        self.kind.error(change(&self.message))
    }
}

impl std::fmt::Display for QuarryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = &self.message;
        match self.kind {
            ErrorKind::Syntax => write!(f, "syntax error: {message}"),
            ErrorKind::Internal => write!(f, "internal error: {message}"),
            ErrorKind::OutOfMemory => write!(
                f,
                "{message} (the query needs more memory than an executor may use: raise its \
                 memory_limit, or read less)"
            ),
            kind if kind.is_retryable() => {
                write!(
                    f,
                    "{message}; the statement did not take effect: run it again"
                )
            }
            _ => f.write_str(message),
        }
    }
}

impl std::error::Error for QuarryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_name_that_reads_back() {
        for kind in ALL {
            assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
        }
        let distinct: std::collections::HashSet<_> = ALL.iter().map(|k| k.name()).collect();
        assert_eq!(distinct.len(), ALL.len());
        assert_eq!(ErrorKind::from_name("nope"), None);
    }

    #[test]
    fn the_kind_adds_what_the_user_should_know() {
        assert_eq!(
            QuarryError::syntax("at Line: 1").to_string(),
            "syntax error: at Line: 1"
        );
        let lost = ErrorKind::Unavailable.error("executor x stopped answering");
        assert!(lost.to_string().ends_with("run it again"), "{lost}");
        assert!(lost.kind().is_retryable());
        assert_eq!(
            QuarryError::no_table("table 't' not found").to_string(),
            "table 't' not found"
        );
    }
}

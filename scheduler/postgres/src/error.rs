//! Errors as PostgreSQL clients see them: an `ErrorResponse` with severity `ERROR`, the
//! message Quarry gives every client, and the SQLSTATE a PostgreSQL server would send
//! for the same kind of problem, so that drivers and tools react to the class of error
//! (psycopg's `UndefinedTable`, pgJDBC's retry on `40001`).

use pgwire::error::{ErrorInfo, PgWireError};

use quarry_scheduler::error::{ErrorKind, QuarryError};

/// An `ERROR` with SQLSTATE `code`.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// The SQLSTATE PostgreSQL uses for errors of `kind`.
pub fn sqlstate(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => "42601",
        ErrorKind::UndefinedTable => "42P01",
        ErrorKind::UndefinedColumn => "42703",
        ErrorKind::UndefinedSchema => "3F000",
        ErrorKind::UndefinedFunction => "42883",
        ErrorKind::UndefinedObject => "42704",
        // invalid_sql_statement_name: the prepared statement is gone.
        ErrorKind::UnknownStatement => "26000",
        // duplicate_object.
        ErrorKind::Duplicate => "42710",
        ErrorKind::Unsupported => "0A000",
        // syntax_error_or_access_rule_violation, the class of planning errors.
        ErrorKind::InvalidStatement => "42000",
        ErrorKind::InvalidParameter => "22023",
        ErrorKind::InvalidText => "22P02",
        ErrorKind::DivisionByZero => "22012",
        ErrorKind::NumericOverflow => "22003",
        ErrorKind::CardinalityViolation => "21000",
        ErrorKind::OutOfMemory => "53200",
        ErrorKind::Cancelled => "57014",
        // serialization_failure: a concurrent change won; retry the statement.
        ErrorKind::Conflict => "40001",
        // cannot_connect_now: the cluster is recovering.
        ErrorKind::Unavailable | ErrorKind::NoExecutors => "57P03",
        ErrorKind::Unauthenticated => "28000",
        ErrorKind::PermissionDenied => "42501",
        ErrorKind::Execution | ErrorKind::Startup | ErrorKind::Internal => "XX000",
    }
}

/// A Quarry error as the PostgreSQL error with its kind's SQLSTATE.
pub fn pg_error(error: QuarryError) -> PgWireError {
    user_error(sqlstate(error.kind()), error.to_string())
}

//! Errors as PostgreSQL clients see them: an `ErrorResponse` with severity `ERROR`, the
//! message Quarry gives every client, and the SQLSTATE a PostgreSQL server would send
//! for the same problem, so that drivers and tools react to the class of error.

use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::QuarryError;

/// An `ERROR` with SQLSTATE `code`.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// The SQLSTATE PostgreSQL uses for the problem `error` names.
pub fn sqlstate(error: &QuarryError) -> &'static str {
    let message = error.to_string().to_lowercase();
    let has = |s: &str| message.contains(s);
    match error {
        QuarryError::Syntax(_) => "42601",
        QuarryError::Cancelled => "57014",
        QuarryError::Plan(_) | QuarryError::NotFound(_) => {
            if has("already exists") {
                "42P07"
            } else if has("schema") && (has("does not exist") || has("not found")) {
                "3F000"
            } else if has("table") && (has("not found") || has("does not exist")) {
                "42P01"
            } else if has("no field named") || has("column") && has("not found") {
                "42703"
            } else if has("function") || has("invalid function") {
                "42883"
            } else if has("unknown query") || has("prepare it again") {
                "26000"
            } else if has("not implemented") || has("unsupported") || has("not supported") {
                "0A000"
            } else if has("type") || has("cannot be cast") || has("coerc") {
                "42804"
            } else {
                "42000"
            }
        }
        QuarryError::Execution(_) => {
            if has("divide by zero") || has("division by zero") {
                "22012"
            } else if has("overflow") || has("out of range") {
                "22003"
            } else if has("cast error") || has("cannot cast") || has("parser error") {
                "22P02"
            } else {
                "XX000"
            }
        }
        QuarryError::Cardinality(_) => "21000",
        QuarryError::OutOfMemory(_) => "53200",
        QuarryError::Startup(_) | QuarryError::Internal(_) => "XX000",
        // cannot_connect_now: the cluster is recovering.
        QuarryError::Unavailable(_) | QuarryError::NoExecutors(_) => "57P03",
        // serialization_failure: a concurrent change won; retry the statement.
        QuarryError::Conflict(_) => "40001",
    }
}

impl From<QuarryError> for PgWireError {
    fn from(error: QuarryError) -> Self {
        user_error(sqlstate(&error), error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_sqlstate_postgres_would_send() {
        let state = |e: QuarryError| sqlstate(&e);
        assert_eq!(state(QuarryError::Syntax("at Line: 1".into())), "42601");
        assert_eq!(
            state(QuarryError::Plan(
                "table 'quarry.gold.nope' not found".into()
            )),
            "42P01"
        );
        assert_eq!(
            state(QuarryError::Plan(
                "No field named nope. Valid fields are t.a.".into()
            )),
            "42703"
        );
        assert_eq!(
            state(QuarryError::Execution("Divide by zero error".into())),
            "22012"
        );
        assert_eq!(
            state(QuarryError::Execution(
                "Cast error: Cannot cast string 'x' to value of Int64 type".into()
            )),
            "22P02"
        );
        assert_eq!(state(QuarryError::Cancelled), "57014");
    }
}

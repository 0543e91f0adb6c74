//! Errors as gRPC statuses, for the Flight SQL door and the scheduler's Flight calls to
//! executors: the code gRPC clients (ADBC, JDBC, flightsql-dbapi) react to, chosen by
//! the error's [`ErrorKind`], and the kind itself by name in the [`KIND_METADATA`]
//! entry of the status metadata, which the shell and the direct runner read back.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use super::{ErrorKind, KIND_METADATA, QuarryError};

/// The gRPC code for errors of `kind`.
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::Syntax
        | ErrorKind::InvalidStatement
        | ErrorKind::InvalidParameter
        | ErrorKind::InvalidText
        | ErrorKind::DivisionByZero
        | ErrorKind::NumericOverflow
        | ErrorKind::CardinalityViolation => Code::InvalidArgument,
        ErrorKind::UndefinedTable
        | ErrorKind::UndefinedColumn
        | ErrorKind::UndefinedSchema
        | ErrorKind::UndefinedFunction
        | ErrorKind::UndefinedObject
        | ErrorKind::UnknownStatement => Code::NotFound,
        ErrorKind::Duplicate => Code::AlreadyExists,
        ErrorKind::Unsupported => Code::Unimplemented,
        ErrorKind::OutOfMemory => Code::ResourceExhausted,
        ErrorKind::Cancelled => Code::Cancelled,
        ErrorKind::Conflict => Code::Aborted,
        ErrorKind::Unavailable | ErrorKind::NoExecutors => Code::Unavailable,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Execution | ErrorKind::Startup | ErrorKind::Internal => Code::Internal,
    }
}

/// A status of `kind` saying `message`, with the kind in its metadata.
pub fn status(kind: ErrorKind, message: impl Into<String>) -> Status {
    let mut status = Status::new(code(kind), message);
    status
        .metadata_mut()
        .insert(KIND_METADATA, MetadataValue::from_static(kind.name()));
    status
}

/// The kind a status names in its metadata, if a Quarry server sent it.
pub fn kind(status: &Status) -> Option<ErrorKind> {
    let name = status.metadata().get(KIND_METADATA)?.to_str().ok()?;
    ErrorKind::from_name(name)
}

impl From<QuarryError> for Status {
    fn from(e: QuarryError) -> Self {
        status(e.kind(), e.to_string())
    }
}

/// The error a Quarry executor or scheduler answered with: of the kind it names, else
/// read from the message as any executor error.
pub fn error(status: &Status) -> QuarryError {
    match kind(status) {
        Some(kind) => kind.error(status.message()),
        None => QuarryError::remote(status.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_carries_its_kind_both_ways() {
        let sent = Status::from(QuarryError::no_table("table 'gold.x' not found"));
        assert_eq!(sent.code(), Code::NotFound);
        assert_eq!(kind(&sent), Some(ErrorKind::UndefinedTable));
        assert_eq!(
            error(&sent),
            QuarryError::no_table("table 'gold.x' not found")
        );
        let foreign = Status::internal("Execution error: Divide by zero error");
        assert_eq!(kind(&foreign), None);
        assert_eq!(error(&foreign).kind(), ErrorKind::DivisionByZero);
    }
}

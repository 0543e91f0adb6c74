//! Flight session options (`SetSessionOptions`, `GetSessionOptions`, `CloseSession`
//! actions): the session's `catalog` (always `quarry`) and current `schema`, the one
//! unqualified table names resolve in. arrow-flight does not define these messages
//! yet, so they are declared here as `format/Flight.proto` has them.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use prost::Message;
use tonic::Status;

use crate::names::CATALOG;
use crate::session::{current_schema, set_current_schema};

pub const SET: &str = "SetSessionOptions";
pub const GET: &str = "GetSessionOptions";
pub const CLOSE: &str = "CloseSession";

/// The option naming the session's catalog.
const CATALOG_OPTION: &str = "catalog";
/// The option naming the session's current schema.
const SCHEMA_OPTION: &str = "schema";

#[derive(Clone, PartialEq, Message)]
pub struct SessionOptionValue {
    #[prost(oneof = "OptionValue", tags = "1, 2, 3, 4, 5")]
    pub option_value: Option<OptionValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum OptionValue {
    #[prost(string, tag = "1")]
    StringValue(String),
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    #[prost(sfixed64, tag = "3")]
    Int64Value(i64),
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    #[prost(message, tag = "5")]
    StringListValue(StringListValue),
}

#[derive(Clone, PartialEq, Message)]
pub struct StringListValue {
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SetSessionOptionsRequest {
    #[prost(map = "string, message", tag = "1")]
    pub session_options: HashMap<String, SessionOptionValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SetSessionOptionsResult {
    #[prost(map = "string, message", tag = "1")]
    pub errors: HashMap<String, SetSessionOptionError>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SetSessionOptionError {
    #[prost(enumeration = "ErrorValue", tag = "1")]
    pub value: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorValue {
    Unspecified = 0,
    InvalidName = 1,
    InvalidValue = 2,
    Error = 3,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetSessionOptionsResult {
    #[prost(map = "string, message", tag = "1")]
    pub session_options: HashMap<String, SessionOptionValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CloseSessionResult {
    #[prost(enumeration = "CloseStatus", tag = "1")]
    pub status: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum CloseStatus {
    Unspecified = 0,
    Closed = 1,
    Closing = 2,
    NotCloseable = 3,
}

fn text(value: &str) -> SessionOptionValue {
    SessionOptionValue {
        option_value: Some(OptionValue::StringValue(value.to_string())),
    }
}

/// `SetSessionOptions`: applies each option it can and reports the others as errors.
pub fn set(session: &SessionContext, body: &[u8]) -> Result<Vec<u8>, Status> {
    let request = SetSessionOptionsRequest::decode(body)
        .map_err(|e| Status::invalid_argument(format!("bad SetSessionOptionsRequest: {e}")))?;
    let mut errors = HashMap::new();
    for (name, value) in request.session_options {
        let value = match value.option_value {
            Some(OptionValue::StringValue(value)) => Some(value),
            _ => None,
        };
        let outcome = match (name.as_str(), value) {
            (CATALOG_OPTION, Some(catalog)) if catalog == CATALOG => Ok(()),
            (SCHEMA_OPTION, Some(schema)) => match set_current_schema(session, &schema) {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::info!("SetSessionOptions: {e}");
                    Err(ErrorValue::InvalidValue)
                }
            },
            (CATALOG_OPTION | SCHEMA_OPTION, _) => Err(ErrorValue::InvalidValue),
            _ => Err(ErrorValue::InvalidName),
        };
        if let Err(error) = outcome {
            let error = SetSessionOptionError {
                value: error as i32,
            };
            errors.insert(name, error);
        }
    }
    Ok(SetSessionOptionsResult { errors }.encode_to_vec())
}

/// `GetSessionOptions`.
pub fn get(session: &SessionContext) -> Vec<u8> {
    let session_options = HashMap::from([
        (CATALOG_OPTION.to_string(), text(CATALOG)),
        (SCHEMA_OPTION.to_string(), text(&current_schema(session))),
    ]);
    GetSessionOptionsResult { session_options }.encode_to_vec()
}

/// `CloseSession`'s answer: closed, or not closeable (the anonymous session).
pub fn close(closed: bool) -> Vec<u8> {
    let status = match closed {
        true => CloseStatus::Closed,
        false => CloseStatus::NotCloseable,
    };
    CloseSessionResult {
        status: status as i32,
    }
    .encode_to_vec()
}

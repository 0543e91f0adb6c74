//! A Flight SQL connection to a Quarry scheduler: log in, prepare a statement (a Flight
//! SQL prepared statement), run it and fetch its result (`GetFlightInfo`, then `DoGet` on
//! the same connection), cancel it (`CancelFlightInfo`), ask for its progress
//! (`quarry.progress`), and list schemas, tables and columns (`GetDbSchemas`,
//! `GetTables`).

use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Schema, SchemaRef};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetDbSchemas, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, ProstMessageExt, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage,
    Ticket,
};
use bytes::Bytes;
use futures::TryStreamExt;
use prost::Message;
use quarry_scheduler::flight_sql::PROGRESS_ACTION;
use quarry_scheduler::{ErrorKind, Progress};
use tonic::transport::{Channel, Endpoint};

/// The Flight SQL actions that create and close a prepared statement.
const CREATE_PREPARED_STATEMENT: &str = "CreatePreparedStatement";
const CLOSE_PREPARED_STATEMENT: &str = "ClosePreparedStatement";

/// Errors talking to the scheduler, with the server's message when it sent one.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    /// An error the server reported, with its kind when the server said (Quarry's
    /// schedulers do, in the status metadata).
    #[error("{message}")]
    Server {
        message: String,
        kind: Option<ErrorKind>,
    },
    #[error("{0}")]
    Protocol(String),
    #[error("cannot write the result: {0}")]
    Output(#[from] std::io::Error),
}

impl ClientError {
    /// An error of the server's with no kind.
    pub fn server(message: impl Into<String>) -> ClientError {
        ClientError::Server {
            message: message.into(),
            kind: None,
        }
    }

    /// What kind of error the server reported, when it said.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Server { kind, .. } => *kind,
            _ => None,
        }
    }

    /// Whether the reader of our output went away (`quarry -c ... | head -1`).
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            ClientError::Output(e) => e.kind() == std::io::ErrorKind::BrokenPipe,
            // Arrow's CSV and JSON writers report I/O failures as text.
            other => other.to_string().contains("Broken pipe"),
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message();
        let kind = quarry_scheduler::error::status::kind(&status);
        // The server's own `Unavailable` errors have a kind and say what to do; a
        // broken connection (the scheduler died, or another took over) has neither.
        if status.code() == tonic::Code::Unavailable && kind.is_none() {
            return ClientError::server(format!(
                "lost the connection to the scheduler ({message}): it stopped, or another \
                 took over; connect again (a statement that was running may not have \
                 finished)"
            ));
        }
        ClientError::Server {
            message: message.to_string(),
            kind,
        }
    }
}

impl From<arrow::error::ArrowError> for ClientError {
    fn from(e: arrow::error::ArrowError) -> Self {
        ClientError::server(server_message(&e.to_string()))
    }
}

impl From<arrow_flight::error::FlightError> for ClientError {
    fn from(e: arrow_flight::error::FlightError) -> Self {
        match e {
            arrow_flight::error::FlightError::Tonic(status) => (*status).into(),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

/// The message a gRPC status carried, out of arrow's wrapping of it.
fn server_message(text: &str) -> String {
    match text.split_once("message: \"") {
        Some((_, rest)) => rest
            .split("\", details")
            .next()
            .unwrap_or(rest)
            .replace("\\\"", "\"")
            .replace("\\'", "'"),
        None => text.to_string(),
    }
}

/// A prepared statement on the server. It can run any number of times; while it runs,
/// its handle names the running query (for cancel and progress).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub handle: String,
    /// The schema of its result; empty for statements that are not queries.
    pub schema: SchemaRef,
    /// Its parameters, `$1..$n`.
    pub parameters: SchemaRef,
}

/// A table as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub table_type: String,
}

/// A logged-in connection. Cheap to clone: clones share the gRPC channel and session.
#[derive(Debug, Clone)]
pub struct Connection {
    channel: Channel,
    user: String,
    password: String,
    token: Arc<Mutex<Option<String>>>,
}

impl Connection {
    /// Connects to `url` (`http://host:port`) and logs in as `user`.
    pub async fn connect(url: &str, user: &str, password: &str) -> Result<Self, ClientError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| ClientError::Connect(url.into(), e.to_string()))?
            .connect_timeout(std::time::Duration::from_secs(10));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ClientError::Connect(url.into(), error_chain(&e)))?;
        let conn = Self {
            channel,
            user: user.to_string(),
            password: password.to_string(),
            token: Arc::default(),
        };
        conn.log_in().await?;
        Ok(conn)
    }

    /// Connects to the first of `urls` that accepts (of a cluster's schedulers, only
    /// the leader listens for clients); returns the connection and its URL.
    pub async fn connect_first<'u>(
        urls: &'u [String],
        user: &str,
        password: &str,
    ) -> Result<(Self, &'u str), ClientError> {
        let mut failures = Vec::new();
        for url in urls {
            match Self::connect(url, user, password).await {
                Ok(conn) => return Ok((conn, url)),
                Err(ClientError::Connect(url, e)) => failures.push(format!("{url}: {e}")),
                Err(e) => return Err(e),
            }
        }
        match failures.len() {
            1 => Err(ClientError::Connect(urls.join(","), failures.remove(0))),
            _ => Err(ClientError::Connect(
                "any scheduler".into(),
                failures.join("; "),
            )),
        }
    }

    /// Logs in and keeps the session token the server returns.
    async fn log_in(&self) -> Result<(), ClientError> {
        let mut client = FlightSqlServiceClient::new(self.channel.clone());
        client.handshake(&self.user, &self.password).await?;
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = client.token().cloned();
        Ok(())
    }

    fn client(&self) -> FlightSqlServiceClient<Channel> {
        let mut client = FlightSqlServiceClient::new(self.channel.clone());
        if let Some(token) = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            client.set_token(token);
        }
        client
    }

    /// `message` as a request with this connection's session token: sent through the
    /// plain Flight client, so that an error keeps its status (and the kind in it).
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ClientError> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = self
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let bearer = format!("Bearer {token}")
                .parse()
                .map_err(|_| ClientError::Protocol("bad session token".into()))?;
            request.metadata_mut().insert("authorization", bearer);
        }
        Ok(request)
    }

    /// Runs an action and returns the body of its first result.
    async fn action(&self, name: &str, body: Vec<u8>) -> Result<Bytes, ClientError> {
        let request = self.request(Action::new(name, body))?;
        let mut results = self
            .client()
            .inner_mut()
            .do_action(request)
            .await?
            .into_inner();
        let first = results.try_next().await?;
        while results.try_next().await?.is_some() {}
        Ok(first.map(|r| r.body).unwrap_or_default())
    }

    /// Parses and plans `sql` on the server, logging in again if the server has
    /// forgotten this connection's session (it idles out).
    pub async fn prepare(&self, sql: &str) -> Result<Prepared, ClientError> {
        let request = ActionCreatePreparedStatementRequest {
            query: sql.to_string(),
            transaction_id: None,
        };
        let body = request.as_any().encode_to_vec();
        let reply = match self.action(CREATE_PREPARED_STATEMENT, body.clone()).await {
            Err(e) if e.kind() == Some(ErrorKind::Unauthenticated) => {
                self.log_in().await?;
                self.action(CREATE_PREPARED_STATEMENT, body).await?
            }
            other => other?,
        };
        let result: ActionCreatePreparedStatementResult = Any::decode(reply)
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .unpack()?
            .ok_or_else(|| ClientError::Protocol("not a prepared statement".into()))?;
        Ok(Prepared {
            handle: String::from_utf8_lossy(&result.prepared_statement_handle).into_owned(),
            schema: ipc_schema(result.dataset_schema)?,
            parameters: ipc_schema(result.parameter_schema)?,
        })
    }

    /// Runs a prepared statement and streams its result, with the result's schema. A
    /// change (DDL, `INSERT`, CTAS) has run when this returns; a query runs as it streams.
    pub async fn fetch(
        &self,
        prepared: &Prepared,
    ) -> Result<(SchemaRef, FlightRecordBatchStream), ClientError> {
        let command = CommandPreparedStatementQuery {
            prepared_statement_handle: prepared.handle.clone().into(),
        };
        self.run_command(command.as_any().encode_to_vec()).await
    }

    /// Runs `sql` once, unprepared, and returns its rows: one `GetFlightInfo` with the
    /// statement (Flight SQL's `CommandStatementQuery`) and one `DoGet`, as
    /// flightsql-dbapi (Superset), ADBC and JDBC send a plain query. The server plans
    /// it once; [`Self::query`] prepares it first, for its schema and handle.
    pub async fn execute(&self, sql: &str) -> Result<Vec<RecordBatch>, ClientError> {
        let command = CommandStatementQuery {
            query: sql.to_string(),
            transaction_id: None,
        };
        let body = command.as_any().encode_to_vec();
        let (_, stream) = match self.run_command(body.clone()).await {
            Err(e) if e.kind() == Some(ErrorKind::Unauthenticated) => {
                self.log_in().await?;
                self.run_command(body).await?
            }
            other => other?,
        };
        Ok(stream.try_collect().await?)
    }

    /// `GetFlightInfo` for a Flight SQL command, then `DoGet` of its ticket.
    async fn run_command(
        &self,
        command: Vec<u8>,
    ) -> Result<(SchemaRef, FlightRecordBatchStream), ClientError> {
        let request = self.request(FlightDescriptor::new_cmd(command))?;
        let mut client = self.client();
        let info = client
            .inner_mut()
            .get_flight_info(request)
            .await?
            .into_inner();
        let schema = Arc::new(info.clone().try_decode_schema()?);
        let ticket = info
            .endpoint
            .first()
            .and_then(|e| e.ticket.clone())
            .ok_or_else(|| ClientError::Protocol("FlightInfo without a ticket".into()))?;
        let data = client
            .inner_mut()
            .do_get(self.request(ticket)?)
            .await?
            .into_inner()
            .map_err(|status| FlightError::Tonic(Box::new(status)));
        Ok((schema, FlightRecordBatchStream::new_from_flight_data(data)))
    }

    /// Cancels a running statement.
    pub async fn cancel(&self, prepared: &Prepared) -> Result<(), ClientError> {
        let ticket = TicketStatementQuery {
            statement_handle: prepared.handle.clone().into(),
        };
        let endpoint =
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new().with_endpoint(endpoint);
        let body = CancelFlightInfoRequest::new(info).encode_to_vec();
        self.action("CancelFlightInfo", body).await?;
        Ok(())
    }

    /// How far a running statement has got.
    pub async fn progress(&self, prepared: &Prepared) -> Result<Progress, ClientError> {
        let body = self
            .action(PROGRESS_ACTION, prepared.handle.clone().into_bytes())
            .await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Runs `sql` and collects its result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, ClientError> {
        let prepared = self.prepare(sql).await?;
        let result = async {
            let (_, stream) = self.fetch(&prepared).await?;
            Ok(stream.try_collect().await?)
        }
        .await;
        self.close_later(prepared);
        result
    }

    /// Frees a prepared statement on the server without waiting for the answer.
    pub fn close_later(&self, prepared: Prepared) {
        let conn = self.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.close(&prepared).await {
                tracing::debug!("cannot close prepared statement {}: {e}", prepared.handle);
            }
        });
    }

    /// Frees a prepared statement on the server.
    pub async fn close(&self, prepared: &Prepared) -> Result<(), ClientError> {
        let request = ActionClosePreparedStatementRequest {
            prepared_statement_handle: prepared.handle.clone().into(),
        };
        self.action(CLOSE_PREPARED_STATEMENT, request.as_any().encode_to_vec())
            .await?;
        Ok(())
    }

    /// Runs a catalog command and collects its result.
    async fn catalog_command(&self, info: FlightInfo) -> Result<Vec<RecordBatch>, ClientError> {
        let mut batches = Vec::new();
        for endpoint in info.endpoint {
            if let Some(ticket) = endpoint.ticket {
                let stream = self.client().do_get(ticket).await?;
                batches.extend(stream.try_collect::<Vec<_>>().await?);
            }
        }
        Ok(batches)
    }

    /// The schemas of the server's catalog whose name matches the `LIKE` pattern.
    pub async fn schemas(&self, pattern: Option<&str>) -> Result<Vec<String>, ClientError> {
        let command = CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: pattern.map(str::to_string),
        };
        let info = self.client().get_db_schemas(command).await?;
        let batches = self.catalog_command(info).await?;
        column_text(&batches, "db_schema_name")
    }

    /// The tables whose schema and name match the `LIKE` patterns.
    pub async fn tables(
        &self,
        schema: Option<&str>,
        table: Option<&str>,
    ) -> Result<Vec<TableInfo>, ClientError> {
        let command = CommandGetTables {
            db_schema_filter_pattern: schema.map(str::to_string),
            table_name_filter_pattern: table.map(str::to_string),
            ..Default::default()
        };
        let batches = self
            .catalog_command(self.client().get_tables(command).await?)
            .await?;
        let schemas = column_text(&batches, "db_schema_name")?;
        let names = column_text(&batches, "table_name")?;
        let types = column_text(&batches, "table_type")?;
        Ok(schemas
            .into_iter()
            .zip(names)
            .zip(types)
            .map(|((schema, name), table_type)| TableInfo {
                schema,
                name,
                table_type,
            })
            .collect())
    }

    /// The columns of the tables whose schema and name match the `LIKE` patterns.
    pub async fn columns(
        &self,
        schema: Option<&str>,
        table: Option<&str>,
    ) -> Result<Vec<(TableInfo, SchemaRef)>, ClientError> {
        let command = CommandGetTables {
            db_schema_filter_pattern: schema.map(str::to_string),
            table_name_filter_pattern: table.map(str::to_string),
            include_schema: true,
            ..Default::default()
        };
        let batches = self
            .catalog_command(self.client().get_tables(command).await?)
            .await?;
        let tables = column_text(&batches, "db_schema_name")?
            .into_iter()
            .zip(column_text(&batches, "table_name")?)
            .zip(column_text(&batches, "table_type")?);
        let mut schemas = Vec::new();
        for batch in &batches {
            let column = batch
                .column_by_name("table_schema")
                .and_then(|c| c.as_binary_opt::<i32>())
                .ok_or_else(|| ClientError::Protocol("GetTables without table_schema".into()))?;
            for bytes in column.iter() {
                schemas.push(ipc_schema(Bytes::copy_from_slice(
                    bytes.unwrap_or_default(),
                ))?);
            }
        }
        Ok(tables
            .zip(schemas)
            .map(|(((schema, name), table_type), columns)| {
                let table = TableInfo {
                    schema,
                    name,
                    table_type,
                };
                (table, columns)
            })
            .collect())
    }
}

/// A schema from the IPC message Flight SQL carries it in (empty for no bytes).
fn ipc_schema(bytes: Bytes) -> Result<SchemaRef, ClientError> {
    if bytes.is_empty() {
        return Ok(Arc::new(Schema::empty()));
    }
    Ok(Arc::new(Schema::try_from(IpcMessage(bytes))?))
}

/// The values of a text column across batches.
fn column_text(batches: &[RecordBatch], name: &str) -> Result<Vec<String>, ClientError> {
    let mut values = Vec::new();
    for batch in batches {
        let column = batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| ClientError::Protocol(format!("catalog result without {name}")))?;
        values.extend(column.iter().map(|v| v.unwrap_or_default().to_string()));
    }
    Ok(values)
}

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_says_what_to_do() {
        let lost = ClientError::from(tonic::Status::unavailable("tcp connect error"));
        assert!(lost.to_string().contains("connect again"), "{lost}");
        let retryable = ClientError::from(tonic::Status::from(
            ErrorKind::Unavailable.error("executor x stopped answering"),
        ));
        assert!(
            !retryable.to_string().contains("connect again"),
            "{retryable}"
        );
        assert_eq!(retryable.kind(), Some(ErrorKind::Unavailable));
    }
}

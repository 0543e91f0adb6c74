//! A Flight SQL connection to a Quarry scheduler: log in, prepare a statement
//! (`GetFlightInfo`), fetch its result (`DoGet` on the same connection), cancel it
//! (`CancelFlightInfo`) and ask for its progress (`quarry.progress`).

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{Action, CancelFlightInfoRequest, FlightInfo};
use futures::TryStreamExt;
use prost::Message;
use quarry_scheduler::Progress;
use quarry_scheduler::flight_sql::{PROGRESS_ACTION, statement_handle};
use tonic::transport::{Channel, Endpoint};

/// Errors talking to the scheduler, with the server's message when it sent one.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    Protocol(String),
    #[error("cannot write the result: {0}")]
    Output(#[from] std::io::Error),
}

impl ClientError {
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
        ClientError::Server(status.message().to_string())
    }
}

impl From<arrow::error::ArrowError> for ClientError {
    fn from(e: arrow::error::ArrowError) -> Self {
        ClientError::Server(server_message(&e.to_string()))
    }
}

impl From<arrow_flight::error::FlightError> for ClientError {
    fn from(e: arrow_flight::error::FlightError) -> Self {
        match e {
            arrow_flight::error::FlightError::Tonic(status) => {
                ClientError::Server(status.message().to_string())
            }
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

/// A prepared statement on the server.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub info: FlightInfo,
    pub handle: String,
    pub schema: SchemaRef,
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
            .map_err(|e| ClientError::Connect(url.into(), e.to_string()))?;
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

    /// Parses and plans `sql` on the server, logging in again if the server has
    /// forgotten this connection's session (it idles out).
    pub async fn prepare(&self, sql: &str) -> Result<Prepared, ClientError> {
        let info = match self.client().execute(sql.to_string(), None).await {
            Err(e) if e.to_string().contains("Unauthenticated") => {
                self.log_in().await?;
                self.client().execute(sql.to_string(), None).await?
            }
            other => other?,
        };
        let handle = statement_handle(&info)?;
        let schema = Arc::new(info.clone().try_decode_schema()?);
        Ok(Prepared {
            info,
            handle,
            schema,
        })
    }

    /// Runs a prepared statement and streams its result.
    pub async fn fetch(&self, prepared: &Prepared) -> Result<FlightRecordBatchStream, ClientError> {
        let ticket = prepared
            .info
            .endpoint
            .first()
            .and_then(|e| e.ticket.clone())
            .ok_or_else(|| ClientError::Protocol("FlightInfo without a ticket".into()))?;
        Ok(self.client().do_get(ticket).await?)
    }

    /// Cancels a running statement.
    pub async fn cancel(&self, prepared: &Prepared) -> Result<(), ClientError> {
        let body = CancelFlightInfoRequest::new(prepared.info.clone()).encode_to_vec();
        let mut results = self
            .client()
            .do_action(Action::new("CancelFlightInfo", body))
            .await?;
        while results.try_next().await?.is_some() {}
        Ok(())
    }

    /// How far a running statement has got.
    pub async fn progress(&self, prepared: &Prepared) -> Result<Progress, ClientError> {
        let mut results = self
            .client()
            .do_action(Action::new(PROGRESS_ACTION, prepared.handle.clone()))
            .await?;
        let body = results
            .try_next()
            .await?
            .ok_or_else(|| ClientError::Protocol("empty progress reply".into()))?;
        serde_json::from_slice(&body.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }
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

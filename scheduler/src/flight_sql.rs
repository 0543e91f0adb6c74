//! The Arrow Flight SQL front door. Each RPC translates the protocol into a call on the
//! [`QueryService`] and back; no SQL logic lives here.
//!
//! - Handshake: any user for now; returns a bearer token naming a session.
//! - `CommandStatementQuery`: `GetFlightInfo` prepares (so errors and the schema come
//!   back at once), `DoGet` on the same connection runs it and streams the batches.
//! - Cancellation: the `CancelFlightInfo` action.
//! - `quarry.progress` (custom action): the query's progress as JSON.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::prelude::SessionContext;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::error::QuarryError;
use crate::service::QueryService;

/// The custom action that reports a query's progress; its body is the statement handle.
pub const PROGRESS_ACTION: &str = "quarry.progress";
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";
/// Sessions kept at most; the least recently used go first, and their clients log in again.
const MAX_SESSIONS: u64 = 10_000;
/// A session unused for this long is forgotten; its client must log in again.
const SESSION_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

/// Flight SQL over the query service.
#[derive(Clone)]
pub struct QuarryFlightSql {
    service: Arc<QueryService>,
    sessions: moka::sync::Cache<String, Arc<SessionContext>>,
    anonymous: Arc<tokio::sync::OnceCell<Arc<SessionContext>>>,
}

impl QuarryFlightSql {
    pub fn new(service: Arc<QueryService>) -> Self {
        Self {
            service,
            sessions: moka::sync::Cache::builder()
                .time_to_idle(SESSION_IDLE_TIMEOUT)
                .max_capacity(MAX_SESSIONS)
                .build(),
            anonymous: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The session named by the request's bearer token; clients that did not log in
    /// share one anonymous session.
    async fn session<T>(&self, request: &Request<T>) -> Result<Arc<SessionContext>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match header.and_then(|h| h.strip_prefix("Bearer ")) {
            Some(token) => self.sessions.get(token.trim()).ok_or_else(|| {
                Status::unauthenticated("unknown or expired session token: log in again")
            }),
            None => Ok(Arc::clone(
                self.anonymous
                    .get_or_init(|| async { self.service.new_session().await })
                    .await,
            )),
        }
    }

    async fn cancel(&self, handle: &str) -> Result<bool, Status> {
        Ok(self.service.cancel(handle).await?)
    }
}

/// The statement handle carried by a FlightInfo's first endpoint.
pub fn statement_handle(info: &FlightInfo) -> Result<String, Status> {
    let ticket = info
        .endpoint
        .first()
        .and_then(|e| e.ticket.as_ref())
        .ok_or_else(|| Status::invalid_argument("FlightInfo has no ticket"))?;
    let any = arrow_flight::sql::Any::decode(ticket.ticket.clone())
        .map_err(|e| Status::invalid_argument(format!("bad ticket: {e}")))?;
    let statement = any
        .unpack::<TicketStatementQuery>()
        .map_err(|e| Status::invalid_argument(format!("bad ticket: {e}")))?
        .ok_or_else(|| Status::invalid_argument("ticket is not a statement ticket"))?;
    String::from_utf8(statement.statement_handle.to_vec())
        .map_err(|_| Status::invalid_argument("bad statement handle"))
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl FlightSqlService for QuarryFlightSql {
    type FlightService = QuarryFlightSql;

    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxStream<HandshakeResponse>>, Status> {
        let token = uuid::Uuid::new_v4().to_string();
        self.sessions
            .insert(token.clone(), self.service.new_session().await);
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response: Response<BoxStream<HandshakeResponse>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Status::internal(e.to_string()))?;
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        command: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        let query = self.service.prepare(&session, &command.query).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.id.clone().into(),
        };
        let endpoint =
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(query.schema().as_ref())
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(endpoint)
            .with_descriptor(request.into_inner())
            .with_ordered(true);
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let handle = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("bad statement handle"))?;
        let query = self.service.query(&handle)?;
        let schema = query.schema();
        let batches = self
            .service
            .execute(query)
            .await?
            .map_err(|e| FlightError::Tonic(Box::new(Status::from(QuarryError::from(e)))));
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(flight)))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            CANCEL_FLIGHT_INFO => {
                let cancel = CancelFlightInfoRequest::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let info = cancel.info.ok_or_else(|| {
                    Status::invalid_argument("CancelFlightInfo without FlightInfo")
                })?;
                let status = match self.cancel(&statement_handle(&info)?).await? {
                    true => CancelStatus::Cancelled,
                    false => CancelStatus::NotCancellable,
                };
                CancelFlightInfoResult::new(status).encode_to_vec()
            }
            PROGRESS_ACTION => {
                let handle = String::from_utf8(action.body.to_vec())
                    .map_err(|_| Status::invalid_argument("bad statement handle"))?;
                let progress = self.service.progress(&handle).await?;
                serde_json::to_vec(&progress).map_err(|e| Status::internal(e.to_string()))?
            }
            other => return Err(Status::unimplemented(format!("unknown action {other:?}"))),
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(result)]))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![
            Ok(ActionType {
                r#type: CANCEL_FLIGHT_INFO.into(),
                description: "Cancel a running query; body: CancelFlightInfoRequest".into(),
            }),
            Ok(ActionType {
                r#type: PROGRESS_ACTION.into(),
                description: "Progress of a query as JSON; body: the statement handle".into(),
            }),
        ])
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

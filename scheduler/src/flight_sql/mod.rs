//! The Arrow Flight SQL front door. Each RPC translates the protocol into a call on the
//! [`QueryService`] and back; no SQL logic lives here.
//!
//! - [`auth`]: Handshake (basic auth in, bearer token out) and the session a token names.
//! - Statements: `GetFlightInfo` of a query prepares it (so errors and the schema come
//!   back at once) and `DoGet` runs it; the endpoint has no location, so the client reads
//!   the result on the connection it already has, streamed in messages of at most 2 MiB.
//!   `GetFlightInfo` of a change (DDL, `INSERT`, CTAS) runs it to the end before it
//!   answers, so it has happened, or failed, when the call returns: clients run DDL with
//!   the same call as queries and often never fetch its result. `DoGet` then returns
//!   the rows it wrote. `CommandStatementUpdate` runs a change and answers with that count.
//! - [`prepared`]: prepared statements with parameters.
//! - [`catalog`]: the catalog commands (`GetCatalogs`, `GetDbSchemas`, `GetTables`, ...).
//! - [`sql_info`]: `GetSqlInfo` and `GetXdbcTypeInfo`.
//! - [`session_options`]: `SetSessionOptions`, `GetSessionOptions`, `CloseSession`.
//! - `CommandStatementIngest`: bulk ingest of the rows a client puts.
//! - Cancellation: `CancelFlightInfo` (and the older `CancelQuery`); `quarry.progress`
//!   (custom action): the query's progress as JSON.

pub mod auth;
pub mod catalog;
pub mod prepared;
pub mod session_options;
pub mod sql_info;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionBeginTransactionRequest, ActionBeginTransactionResult, ActionCancelQueryRequest,
    ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, CommandGetCatalogs,
    CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementIngest, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TableExistsOption, TableNotExistOption,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::TableReference;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::error::{ErrorKind, QuarryError};
use crate::ingest::{IfExists, IfMissing, IngestTarget};
use crate::query::{Progress, Query, QueryState};
use crate::service::QueryService;
use auth::Sessions;
use prepared::{PreparedStatements, dataset_schema, ipc_schema};
use sql_info::{sql_info, xdbc_types};

/// The custom action that reports a query's progress; its body is the statement handle.
pub const PROGRESS_ACTION: &str = "quarry.progress";
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

/// How long the result of a change run by `GetFlightInfo` waits for its `DoGet`.
const FINISHED_TTL: Duration = Duration::from_secs(10 * 60);

/// Flight SQL over the query service.
#[derive(Clone)]
pub struct QuarryFlightSql {
    service: Arc<QueryService>,
    sessions: Sessions,
    prepared: Arc<PreparedStatements>,
    /// Results of changes that have run, by statement handle, until fetched.
    finished: moka::sync::Cache<String, (SchemaRef, Vec<RecordBatch>)>,
}

impl QuarryFlightSql {
    pub fn new(service: Arc<QueryService>) -> Self {
        Self {
            sessions: Sessions::new(Arc::clone(&service)),
            service,
            prepared: Arc::default(),
            finished: moka::sync::Cache::builder()
                .time_to_live(FINISHED_TTL)
                .build(),
        }
    }

    /// The FlightInfo of a prepared statement. A change runs now; see the module docs.
    async fn start(
        &self,
        query: Arc<Query>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        if !query.is_query() {
            let result = self.service.execute(Arc::clone(&query)).await?;
            let batches: Vec<RecordBatch> = result
                .try_collect()
                .await
                .map_err(|e| Status::from(QuarryError::from(e)))?;
            self.finished
                .insert(query.id.clone(), (query.schema(), batches));
        }
        statement_info(&query, descriptor).map(Response::new)
    }

    async fn session<T>(&self, request: &Request<T>) -> Result<Arc<SessionContext>, Status> {
        self.sessions.session(request).await
    }

    async fn cancel(&self, info: &FlightInfo) -> Result<CancelStatus, Status> {
        Ok(match self.service.cancel(&statement_handle(info)?).await? {
            true => CancelStatus::Cancelled,
            false => CancelStatus::NotCancellable,
        })
    }
}

/// The FlightInfo of a prepared query: its schema and one endpoint whose ticket names it.
fn statement_info(query: &Query, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    let ticket = TicketStatementQuery {
        statement_handle: query.id.clone().into(),
    };
    command_info(&query.schema(), ticket.as_any().encode_to_vec(), descriptor)
}

/// A FlightInfo whose one endpoint, on this connection, is a ticket with these bytes.
fn command_info(
    schema: &SchemaRef,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Status> {
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket));
    Ok(FlightInfo::new()
        .try_with_schema(schema.as_ref())
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor)
        .with_ordered(true))
}

/// The FlightInfo of a catalog command: the command itself is the ticket.
fn metadata_info<C: ProstMessageExt>(
    command: C,
    schema: &SchemaRef,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = command.as_any().encode_to_vec();
    command_info(schema, ticket, request.into_inner()).map(Response::new)
}

type DoGetStream = <QuarryFlightSql as FlightService>::DoGetStream;

/// Streams batches as Flight data.
fn flight_stream(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> Response<DoGetStream> {
    let flight = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(Status::from);
    Response::new(Box::pin(flight))
}

/// Streams one batch.
fn one_batch(batch: RecordBatch) -> Response<DoGetStream> {
    flight_stream(batch.schema(), futures::stream::iter([Ok(batch)]))
}

/// The record batches a client puts.
fn put_batches(request: Request<PeekableFlightDataStream>) -> FlightRecordBatchStream {
    let data = request
        .into_inner()
        .map_err(|status| FlightError::Tonic(Box::new(status)));
    FlightRecordBatchStream::new_from_flight_data(data)
}

async fn collect_put(
    request: Request<PeekableFlightDataStream>,
) -> Result<Vec<RecordBatch>, Status> {
    put_batches(request)
        .try_collect()
        .await
        .map_err(Status::from)
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

/// Where an ingest command puts its rows.
fn ingest_target(command: &CommandStatementIngest) -> Result<IngestTarget, Status> {
    if command.temporary {
        return Err(Status::invalid_argument(
            "temporary tables are not supported: ingest into a table of a schema",
        ));
    }
    if command.transaction_id.is_some() {
        return Err(Status::invalid_argument(
            "transactions are not supported: every statement commits on its own",
        ));
    }
    let table = command.table.as_str();
    let table = match (command.catalog.as_deref(), command.schema.as_deref()) {
        (Some(catalog), Some(schema)) => TableReference::full(catalog, schema, table),
        (None, Some(schema)) => TableReference::partial(schema, table),
        (Some(_), None) | (None, None) => TableReference::bare(table),
    };
    let options = command.table_definition_options.unwrap_or_default();
    let if_missing = match TableNotExistOption::try_from(options.if_not_exist) {
        Ok(TableNotExistOption::Create) => IfMissing::Create,
        _ => IfMissing::Fail,
    };
    let if_exists = match TableExistsOption::try_from(options.if_exists) {
        Ok(TableExistsOption::Append) => IfExists::Append,
        Ok(TableExistsOption::Replace) => IfExists::Replace,
        _ => IfExists::Fail,
    };
    Ok(IngestTarget {
        table,
        if_exists,
        if_missing,
    })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl FlightSqlService for QuarryFlightSql {
    type FlightService = QuarryFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxStream<HandshakeResponse>>, Status> {
        let token = self.sessions.log_in(request).await?;
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
        self.start(query, request.into_inner()).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        command: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let handle = &command.prepared_statement_handle;
        let prepared = self.prepared.get(handle)?;
        let values = prepared.query_values()?;
        // The execution's id is the statement's handle, so that a client can cancel it
        // or follow its progress while this call runs a change.
        let id = std::str::from_utf8(handle).ok();
        let query = self
            .service
            .prepare_described(&prepared.session, &prepared.description, &values, id)
            .await?;
        self.start(query, request.into_inner()).await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let handle = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("bad statement handle"))?;
        if let Some((schema, batches)) = self.finished.remove(&handle) {
            let batches = futures::stream::iter(batches.into_iter().map(Ok));
            return Ok(flight_stream(schema, batches));
        }
        let query = self.service.query(&handle)?;
        let schema = query.schema();
        let batches = self
            .service
            .execute(query)
            .await?
            .map_err(|e| FlightError::Tonic(Box::new(Status::from(QuarryError::from(e)))));
        Ok(flight_stream(schema, batches))
    }

    async fn get_flight_info_catalogs(
        &self,
        command: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = command.into_builder().schema();
        metadata_info(command, &schema, request)
    }

    async fn do_get_catalogs(
        &self,
        _command: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        Ok(one_batch(catalog::catalogs(&session)?))
    }

    async fn get_flight_info_schemas(
        &self,
        command: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = command.clone().into_builder().schema();
        metadata_info(command, &schema, request)
    }

    async fn do_get_schemas(
        &self,
        command: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        Ok(one_batch(catalog::schemas(&session, command)?))
    }

    async fn get_flight_info_tables(
        &self,
        command: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = catalog::tables_schema(&command);
        metadata_info(command, &schema, request)
    }

    async fn do_get_tables(
        &self,
        command: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let session = self.session(&request).await?;
        Ok(one_batch(catalog::tables(&session, command).await?))
    }

    async fn get_flight_info_table_types(
        &self,
        command: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = command.into_builder().schema();
        metadata_info(command, &schema, request)
    }

    async fn do_get_table_types(
        &self,
        _command: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(catalog::table_types()?))
    }

    async fn get_flight_info_sql_info(
        &self,
        command: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(command, &sql_info()?.schema(), request)
    }

    async fn do_get_sql_info(
        &self,
        command: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = command
            .into_builder(sql_info()?)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(one_batch(batch))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        command: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(command, &xdbc_types()?.schema(), request)
    }

    async fn do_get_xdbc_type_info(
        &self,
        command: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = command
            .into_builder(xdbc_types()?)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(one_batch(batch))
    }

    async fn get_flight_info_primary_keys(
        &self,
        command: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(command, &catalog::primary_keys_schema(), request)
    }

    async fn do_get_primary_keys(
        &self,
        _command: CommandGetPrimaryKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(RecordBatch::new_empty(
            catalog::primary_keys_schema(),
        )))
    }

    async fn get_flight_info_exported_keys(
        &self,
        command: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(command, &catalog::foreign_keys_schema(), request)
    }

    async fn do_get_exported_keys(
        &self,
        _command: CommandGetExportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(RecordBatch::new_empty(
            catalog::foreign_keys_schema(),
        )))
    }

    async fn get_flight_info_imported_keys(
        &self,
        command: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(command, &catalog::foreign_keys_schema(), request)
    }

    async fn do_get_imported_keys(
        &self,
        _command: CommandGetImportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(RecordBatch::new_empty(
            catalog::foreign_keys_schema(),
        )))
    }

    async fn get_flight_info_cross_reference(
        &self,
        command: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata_info(command, &catalog::foreign_keys_schema(), request)
    }

    async fn do_get_cross_reference(
        &self,
        _command: CommandGetCrossReference,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(RecordBatch::new_empty(
            catalog::foreign_keys_schema(),
        )))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let query = self.service.prepare(&session, &command.query).await?;
        Ok(self.service.execute_update(query).await? as i64)
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let target = ingest_target(&command)?;
        let mut batches = put_batches(request);
        // The schema arrives with the first message; an empty put still has one.
        let first = batches.try_next().await.map_err(Status::from)?;
        let schema = batches.schema().cloned().ok_or_else(|| {
            Status::invalid_argument("ingest needs the rows' schema: none was sent")
        })?;
        let rows = futures::stream::iter(first.map(Ok))
            .chain(batches)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)));
        let rows = Box::pin(RecordBatchStreamAdapter::new(schema, rows));
        Ok(self.service.ingest(&session, target, rows).await? as i64)
    }

    async fn do_put_prepared_statement_query(
        &self,
        command: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let prepared = self.prepared.get(&command.prepared_statement_handle)?;
        prepared.bind(collect_put(request).await?)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(command.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        command: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let prepared = self.prepared.get(&command.prepared_statement_handle)?;
        let batches = collect_put(request).await?;
        let mut written = 0;
        for values in prepared.rows(&batches)? {
            let query = self
                .service
                .prepare_described(&prepared.session, &prepared.description, &values, None)
                .await?;
            written += self.service.execute_update(query).await?;
        }
        Ok(written as i64)
    }

    async fn do_action_create_prepared_statement(
        &self,
        command: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request).await?;
        let parsed = self.service.parse(&session, &command.query)?;
        let description = self.service.describe(&session, parsed).await?;
        let parameters = ipc_schema(&description.parameters)?;
        let dataset = ipc_schema(&dataset_schema(&description))?;
        let handle = self.prepared.open(session, description);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: dataset,
            parameter_schema: parameters,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        command: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        self.prepared.close(&command.prepared_statement_handle);
        Ok(())
    }

    async fn do_action_begin_transaction(
        &self,
        _command: ActionBeginTransactionRequest,
        _request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        Err(Status::unimplemented(
            "transactions are not supported: every statement commits on its own",
        ))
    }

    async fn do_action_cancel_query(
        &self,
        command: ActionCancelQueryRequest,
        _request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        // ActionCancelQueryResult.CancelResult: CANCELLED = 1, NOT_CANCELLABLE = 3.
        let info = FlightInfo::decode(command.info)
            .map_err(|e| Status::invalid_argument(format!("bad FlightInfo: {e}")))?;
        let result = match self.cancel(&info).await? {
            CancelStatus::Cancelled => 1,
            _ => 3,
        };
        Ok(ActionCancelQueryResult { result })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let body = match request.get_ref().r#type.as_str() {
            CANCEL_FLIGHT_INFO => {
                let cancel = CancelFlightInfoRequest::decode(request.into_inner().body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let info = cancel.info.ok_or_else(|| {
                    Status::invalid_argument("CancelFlightInfo without FlightInfo")
                })?;
                CancelFlightInfoResult::new(self.cancel(&info).await?).encode_to_vec()
            }
            PROGRESS_ACTION => {
                let handle = String::from_utf8(request.into_inner().body.to_vec())
                    .map_err(|_| Status::invalid_argument("bad statement handle"))?;
                let progress = match self.service.progress(&handle).await {
                    // A prepared statement that is not running yet.
                    Err(e)
                        if e.kind() == ErrorKind::UnknownStatement
                            && self.prepared.get(handle.as_bytes()).is_ok() =>
                    {
                        Progress {
                            state: QueryState::Prepared,
                            job: None,
                        }
                    }
                    other => other?,
                };
                serde_json::to_vec(&progress).map_err(|e| Status::internal(e.to_string()))?
            }
            session_options::SET => {
                let session = self.session(&request).await?;
                session_options::set(&session, &request.into_inner().body)?
            }
            session_options::GET => {
                let session = self.session(&request).await?;
                session_options::get(&session)
            }
            session_options::CLOSE => session_options::close(self.sessions.close(&request)?),
            other => return Err(Status::unimplemented(format!("unknown action {other:?}"))),
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(result)]))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        let action = |name: &str, description: &str| {
            Ok(ActionType {
                r#type: name.into(),
                description: description.into(),
            })
        };
        Some(vec![
            action(
                CANCEL_FLIGHT_INFO,
                "Cancel a running query; body: CancelFlightInfoRequest",
            ),
            action(
                PROGRESS_ACTION,
                "Progress of a query as JSON; body: the statement handle",
            ),
            action(
                session_options::SET,
                "Set session options (schema); body: SetSessionOptionsRequest",
            ),
            action(
                session_options::GET,
                "Get session options; body: GetSessionOptionsRequest",
            ),
            action(
                session_options::CLOSE,
                "End the session; body: CloseSessionRequest",
            ),
        ])
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

//! Statements over the PostgreSQL protocol: the simple query protocol (`Query`, one or
//! more statements in a string) and the extended one (`Parse`, `Bind`, `Describe`,
//! `Execute`, `Sync`), both over the query service.
//!
//! `Parse` parses the statement once (the query service's parser, in the session's
//! PostgreSQL dialect), changes its syntax tree for PostgreSQL's spellings and the
//! parameter types the client declared, and plans it, so errors surface there and
//! `Describe` knows parameter and result types. `Execute` binds the portal's parameters
//! to that plan (later executions plan the syntax tree again, not the text) and streams
//! the result. The first batch is awaited before rows are sent, so a query that fails at
//! once fails before its row description.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use futures::{Sink, StreamExt, TryStreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::commands::{self, Command};
use super::connection::PgConnection;
use super::decode::{parameter_values, type_placeholders};
use super::encode::encode;
use super::error::{pg_error, user_error};
use super::rewrite::rewrite;
use super::tags::tag;
use super::types::{field_infos, pg_type};
use quarry_scheduler::service::{Description, QueryService};
use quarry_scheduler::session::{current_schema, set_current_schema};

/// A statement as `Parse` leaves it.
#[derive(Debug, Clone)]
pub enum PgStatement {
    /// Answered by the door itself.
    Command(Command),
    /// Run by the query service.
    Sql(Box<Description>),
}

/// Runs statements for PostgreSQL clients.
pub struct Statements {
    service: Arc<QueryService>,
    parser: Arc<Parser>,
}

impl Statements {
    pub fn new(service: Arc<QueryService>) -> Self {
        Self {
            parser: Arc::new(Parser {
                service: Arc::clone(&service),
            }),
            service,
        }
    }

    /// Runs one statement with parameter `values`, its rows sent in `format`.
    async fn run(
        &self,
        connection: &PgConnection,
        statement: &PgStatement,
        values: Vec<ScalarValue>,
        format: &Format,
    ) -> PgWireResult<Response> {
        let description = match statement {
            PgStatement::Command(command) => return answer(connection, command, format),
            PgStatement::Sql(description) => description,
        };
        let session = &connection.session;
        let query = self
            .service
            .prepare_described(session, description, &values, None)
            .await
            .map_err(pg_error)?;
        connection.started(&query.id);
        if !description.is_query {
            let rows = self.service.execute_update(query).await.map_err(pg_error)?;
            return Ok(Response::Execution(tag(&description.parsed.ast, rows)));
        }
        let fields = Arc::new(field_infos(&description.result, format));
        let described = Arc::clone(&fields);
        let mut batches = self.service.execute(query).await.map_err(pg_error)?;
        let first = batches.try_next().await.map_err(|e| pg_error(e.into()))?;
        let rows = stream::iter(first.map(Ok))
            .chain(batches)
            .map(move |batch| {
                let batch = batch.map_err(|e| pg_error(e.into()))?;
                let rows = encode(&batch, &fields)?;
                Ok::<_, PgWireError>(stream::iter(rows.into_iter().map(Ok)))
            })
            .try_flatten();
        Ok(Response::Query(QueryResponse::new(described, rows)))
    }
}

#[async_trait]
impl SimpleQueryHandler for Statements {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = PgConnection::of(client)?;
        let mut responses = Vec::new();
        for sql in quarry_scheduler::split::script_statements(query) {
            let sql = sql.as_str();
            let result = async {
                let statement = self.parser.statement(&connection, sql, &[]).await?;
                self.run(&connection, &statement, vec![], &Format::UnifiedText)
                    .await
            }
            .await;
            match result {
                Ok(response) => responses.push(response),
                Err(PgWireError::UserError(e)) => {
                    responses.push(Response::Error(e));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Statements {
    type Statement = PgStatement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = PgConnection::of(client)?;
        let statement = &portal.statement.statement;
        let values = match statement {
            PgStatement::Command(_) => vec![],
            PgStatement::Sql(description) => {
                let planned: Vec<DataType> = description
                    .parameters
                    .fields()
                    .iter()
                    .map(|f| f.data_type().clone())
                    .collect();
                parameter_values(
                    &portal.parameters,
                    &portal.parameter_format,
                    &portal.statement.parameter_types,
                    &planned,
                )?
            }
        };
        self.run(&connection, statement, values, &portal.result_column_format)
            .await
    }
}

/// Turns SQL text into statements, planning those the query service runs.
pub struct Parser {
    service: Arc<QueryService>,
}

impl Parser {
    /// The statement `sql` is, its parameters typed `declared` where the client says.
    async fn statement(
        &self,
        connection: &PgConnection,
        sql: &str,
        declared: &[Option<Type>],
    ) -> PgWireResult<PgStatement> {
        if let Some(command) = commands::parse(sql) {
            return Ok(PgStatement::Command(command));
        }
        let session = &connection.session;
        let mut parsed = self.service.parse(session, sql).map_err(pg_error)?;
        if let Some(statement) = parsed.sql_mut() {
            rewrite(statement, &current_schema(session));
            type_placeholders(statement, declared);
        }
        let description = self
            .service
            .describe(session, parsed)
            .await
            .map_err(pg_error)?;
        Ok(PgStatement::Sql(Box::new(description)))
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = PgConnection::of(client)?;
        self.statement(&connection, sql, types).await.map(Some)
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(match statement {
            PgStatement::Command(_) => vec![],
            PgStatement::Sql(description) => description
                .parameters
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Null => Type::TEXT,
                    t => pg_type(t),
                })
                .collect(),
        })
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.cloned().unwrap_or_default();
        Ok(match statement {
            PgStatement::Command(command) => match command_schema(command) {
                Some(schema) => field_infos(&schema, &format),
                None => vec![],
            },
            PgStatement::Sql(description) if description.is_query => {
                field_infos(&description.result, &format)
            }
            PgStatement::Sql(_) => vec![],
        })
    }
}

/// The result columns of a command that returns rows.
fn command_schema(command: &Command) -> Option<Schema> {
    let text = |name: &str| Field::new(name.to_lowercase(), DataType::Utf8, true);
    match command {
        Command::Show(name) => Some(Schema::new(vec![text(name)])),
        Command::ShowAll => Some(Schema::new(vec![
            text("name"),
            text("setting"),
            text("description"),
        ])),
        _ => None,
    }
}

/// Answers a command.
fn answer(connection: &PgConnection, command: &Command, format: &Format) -> PgWireResult<Response> {
    let rows: Vec<Vec<String>> = match command {
        Command::Begin => return Ok(Response::TransactionStart(Tag::new("BEGIN"))),
        Command::Commit => return Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
        Command::Rollback => return Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        Command::Accept(tag) => return Ok(Response::Execution(Tag::new(tag))),
        Command::Reset(_) => return Ok(Response::Execution(Tag::new("RESET"))),
        Command::Set { name, value } => {
            set(connection, name, value)?;
            return Ok(Response::Execution(Tag::new("SET")));
        }
        Command::Show(name) if name.eq_ignore_ascii_case("search_path") => {
            vec![vec![current_schema(&connection.session)]]
        }
        Command::Show(name) => match connection.settings.get(name) {
            Some(value) => vec![vec![value]],
            None => {
                return Err(user_error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                ));
            }
        },
        Command::ShowAll => connection
            .settings
            .all()
            .into_iter()
            .map(|s| vec![s.name, s.value, s.description])
            .collect(),
    };
    let schema = Arc::new(command_schema(command).unwrap_or_else(Schema::empty));
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .map(|i| {
            let column: StringArray = rows.iter().map(|row| Some(row[i].as_str())).collect();
            Arc::new(column) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let fields = Arc::new(field_infos(&schema, format));
    let rows = encode(&batch, &fields)?;
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter(rows.into_iter().map(Ok)),
    )))
}

/// `SET name = value`: `search_path` picks the schema unqualified names resolve in (its
/// first schema that exists); other settings are remembered.
fn set(connection: &PgConnection, name: &str, value: &str) -> PgWireResult<()> {
    if name.eq_ignore_ascii_case("search_path") {
        let schemas: Vec<&str> = value
            .split([',', ' '])
            .map(|s| s.trim().trim_matches('"'))
            .filter(|s| !s.is_empty() && *s != "$user" && *s != "pg_catalog")
            .collect();
        let chosen = schemas
            .iter()
            .find(|s| set_current_schema(&connection.session, s).is_ok());
        if chosen.is_none() && !schemas.is_empty() {
            return Err(user_error(
                "3F000",
                format!("no schema of the search path \"{value}\" exists"),
            ));
        }
    }
    connection.settings.set(name, value);
    Ok(())
}

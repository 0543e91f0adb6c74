//! Statements over the PostgreSQL protocol: the simple query protocol (`Query`, one or
//! more statements in a string) and the extended one (`Parse`, `Bind`, `Describe`,
//! `Execute`, `Sync`), both over the query service.
//!
//! `Parse` plans the statement, so errors surface there and `Describe` knows parameter
//! and result types; `Execute` binds the portal's parameters, plans again with the values
//! in place and streams the result. The first batch is awaited before rows are sent, so
//! a query that fails at once fails before its row description.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
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
use super::decode::{parameter_values, typed_placeholders};
use super::encode::encode;
use super::error::user_error;
use super::rewrite::rewrite;
use super::types::{field_infos, pg_type};
use crate::error::QuarryError;
use crate::service::{Description, QueryService};
use crate::session::{current_schema, set_current_schema};

/// A statement as `Parse` leaves it.
#[derive(Debug, Clone)]
pub enum PgStatement {
    /// Answered by the door itself.
    Command(Command),
    /// Run by the query service.
    Sql {
        sql: String,
        description: Description,
    },
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
        let (sql, description) = match statement {
            PgStatement::Command(command) => return answer(connection, command, format),
            PgStatement::Sql { sql, description } => (sql, description),
        };
        let session = &connection.session;
        let query = self
            .service
            .prepare_described(session, sql, description, &values, None)
            .await?;
        connection.started(&query.id);
        if !description.is_query {
            let rows = self.service.execute_update(query).await?;
            return Ok(Response::Execution(tag(sql, rows)));
        }
        let fields = Arc::new(field_infos(&description.result, format));
        let described = Arc::clone(&fields);
        let mut batches = self.service.execute(query).await?;
        let first = batches.try_next().await.map_err(QuarryError::from)?;
        let rows = stream::iter(first.map(Ok))
            .chain(batches)
            .map(move |batch| {
                let batch = batch.map_err(QuarryError::from)?;
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
        for sql in crate::split::script_statements(query) {
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
            PgStatement::Sql { description, .. } => {
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
        let schema = current_schema(&connection.session);
        let rewritten = rewrite(sql, &schema);
        let sql = typed_placeholders(rewritten.as_deref().unwrap_or(sql), declared);
        let description = self.service.describe(&connection.session, &sql).await?;
        Ok(PgStatement::Sql {
            sql: sql.to_string(),
            description,
        })
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
            PgStatement::Sql { description, .. } => description
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
            PgStatement::Sql { description, .. } if description.is_query => {
                field_infos(&description.result, &format)
            }
            PgStatement::Sql { .. } => vec![],
        })
    }
}

/// The command tag of a statement that changed something: `INSERT 0 5`, `CREATE TABLE`.
fn tag(sql: &str, rows: u64) -> Tag {
    let words = leading_words(sql);
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or_default();
    let rows = rows as usize;
    let object = match word(1) {
        "OR" => word(3),
        "EXTERNAL" | "TEMPORARY" | "TEMP" => word(2),
        w => w,
    };
    match word(0) {
        "INSERT" => Tag::new("INSERT").with_oid(0).with_rows(rows),
        "TRUNCATE" => Tag::new("TRUNCATE TABLE"),
        "UPDATE" | "DELETE" | "MERGE" | "COPY" => Tag::new(word(0)).with_rows(rows),
        "CREATE" if object == "TABLE" && words.iter().any(|w| w == "AS") => {
            Tag::new("SELECT").with_rows(rows)
        }
        "CREATE" | "DROP" | "ALTER" => Tag::new(&format!("{} {object}", word(0))),
        first => Tag::new(first),
    }
}

/// The first words of `sql`, upper-cased, past comments; for `WITH ...`, from the
/// statement that follows its common table expressions (the only case that reads the
/// whole statement: a long `INSERT .. VALUES` is not tokenized again for its tag).
fn leading_words(sql: &str) -> Vec<String> {
    let sql = past_comments(sql);
    match sql.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("with")) {
        true => after_common_table_expressions(sql),
        false => sql
            .split_whitespace()
            .take(6)
            .map(str::to_ascii_uppercase)
            .collect(),
    }
}

/// `sql` from its first word on, past whitespace and comments.
fn past_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, rest)| rest);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, rest)| rest);
        } else {
            return sql;
        }
    }
}

/// The first words of the statement a `WITH` introduces, past its expressions.
fn after_common_table_expressions(sql: &str) -> Vec<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .unwrap_or_default();
    let mut depth = 0i32;
    let mut words = Vec::new();
    for token in tokens {
        match token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(word) if depth == 0 => {
                let word = word.value.to_ascii_uppercase();
                if words.first().is_some_and(|w| w == "WITH") {
                    if matches!(
                        word.as_str(),
                        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE"
                    ) {
                        words = vec![word];
                    }
                } else {
                    words.push(word);
                }
            }
            Token::Whitespace(_) => {}
            _ if depth == 0 && words.is_empty() => break,
            _ => {}
        }
        if words.len() >= 6 {
            break;
        }
    }
    words
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tags_name_what_changed() {
        let t = |sql: &str, rows| {
            let tag = tag(sql, rows);
            let complete: pgwire::messages::response::CommandComplete = tag.into();
            complete.tag
        };
        assert_eq!(t("insert into t values (1)", 1), "INSERT 0 1");
        assert_eq!(t("CREATE TABLE gold.x AS SELECT 1", 1), "SELECT 1");
        assert_eq!(t("create table t (a int)", 0), "CREATE TABLE");
        assert_eq!(t("CREATE OR REPLACE VIEW v AS SELECT 1", 0), "CREATE VIEW");
        assert_eq!(t("DROP TABLE t", 0), "DROP TABLE");
        assert_eq!(t("DELETE FROM t WHERE a = 1", 3), "DELETE 3");
        assert_eq!(
            t("/* {\"app\": \"dbt\"} */ create table t as (select 1)", 1),
            "SELECT 1"
        );
        assert_eq!(t("-- load\ninsert into t values (1)", 1), "INSERT 0 1");
        assert_eq!(
            t("WITH n AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM n", 1),
            "INSERT 0 1"
        );
        assert_eq!(t("TRUNCATE TABLE t", 4), "TRUNCATE TABLE");
        assert_eq!(t("create temporary table t as (select 1)", 1), "SELECT 1");
    }
}

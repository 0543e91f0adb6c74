//! `VACUUM TABLE`, in Dremio's syntax:
//!
//! ```sql
//! VACUUM TABLE silver.orders EXPIRE SNAPSHOTS [OLDER_THAN '2026-12-01 00:00:00'] [RETAIN_LAST 5]
//! VACUUM TABLE silver.orders REMOVE ORPHAN FILES [OLDER_THAN '2026-12-01 00:00:00']
//! ```
//!
//! Planned into a [`Planned`] vacuum that the query service runs on the scheduler
//! ([`run`], with `quarry_catalog::table::vacuum`); it answers with what it removed.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use iceberg::table::Table;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::store_path;
use quarry_catalog::table::vacuum::{self, Expiry, ORPHAN_AGE_MS};

use crate::alter::{parse_table_statement, parse_word, syntax};
use crate::error::QuarryError;
use crate::names;
use crate::rollback::millis;
use crate::tokens::Tokenized;

/// What a `VACUUM` does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    ExpireSnapshots(Expiry),
    /// Files last written before this time (ms since the Unix epoch; by default three
    /// days before the statement runs).
    RemoveOrphanFiles {
        older_than: Option<i64>,
    },
}

/// `VACUUM TABLE`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Vacuum {
    pub table: ObjectName,
    pub action: Action,
}

/// Reads `sql` if it is `VACUUM TABLE`.
pub fn parse(sql: &Tokenized) -> Result<Option<Vacuum>, QuarryError> {
    parse_table_statement(
        sql,
        &[Keyword::VACUUM, Keyword::TABLE],
        "VACUUM",
        |p, table| {
            let action = if parse_word(p, "expire") {
                if !parse_word(p, "snapshots") {
                    return Err(expected(p, "SNAPSHOTS after EXPIRE"));
                }
                let mut expiry = Expiry::default();
                loop {
                    if parse_word(p, "older_than") {
                        expiry.older_than = Some(older_than(p)?);
                    } else if parse_word(p, "retain_last") {
                        let _ = p.consume_token(&Token::Eq);
                        expiry.retain_last = Some(retain_last(p)?);
                    } else {
                        break;
                    }
                }
                Action::ExpireSnapshots(expiry)
            } else if parse_word(p, "remove") {
                if !(parse_word(p, "orphan") && parse_word(p, "files")) {
                    return Err(expected(p, "ORPHAN FILES after REMOVE"));
                }
                let older_than = match parse_word(p, "older_than") {
                    true => Some(older_than(p)?),
                    false => None,
                };
                Action::RemoveOrphanFiles { older_than }
            } else {
                return Err(expected(
                    p,
                    "EXPIRE SNAPSHOTS or REMOVE ORPHAN FILES after VACUUM TABLE <name>",
                ));
            };
            Ok(Some(Vacuum { table, action }))
        },
    )
}

fn expected(p: &Parser, what: &str) -> QuarryError {
    QuarryError::syntax(format!(
        "expected {what}, found {}",
        p.peek_token_ref().token
    ))
}

/// `[=] '<time>'` after `OLDER_THAN`.
fn older_than(p: &mut Parser) -> Result<i64, QuarryError> {
    let _ = p.consume_token(&Token::Eq);
    millis(&p.parse_expr().map_err(syntax)?)
}

fn retain_last(p: &mut Parser) -> Result<usize, QuarryError> {
    let expr = p.parse_expr().map_err(syntax)?;
    expr.to_string()
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            QuarryError::syntax(format!(
                "RETAIN_LAST takes a whole number of at least 1, not {expr}"
            ))
        })
}

/// A `VACUUM` planned: the table it cleans, and how.
#[derive(Debug, Clone)]
pub struct Planned {
    pub table: Box<Table>,
    pub action: Action,
}

/// Plans `VACUUM`: its table must exist.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    vacuum: Vacuum,
) -> Result<Planned, QuarryError> {
    let (_, table) = names::load_named(ctx, store, vacuum.table).await?;
    Ok(Planned {
        table: Box::new(table),
        action: vacuum.action,
    })
}

/// What a `VACUUM` answers with.
pub fn schema(action: &Action) -> SchemaRef {
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(match action {
        Action::ExpireSnapshots(_) => vec![
            count("expired_snapshots_count"),
            count("deleted_data_files_count"),
            count("deleted_manifest_files_count"),
            count("deleted_manifest_lists_count"),
        ],
        Action::RemoveOrphanFiles { .. } => vec![count("deleted_files_count")],
    }))
}

/// Runs a `VACUUM` of `table`; its result row.
pub async fn run(
    store: &TableStore,
    runtime: &RuntimeEnv,
    planned: &Planned,
) -> Result<RecordBatch, QuarryError> {
    let (table, action) = (planned.table.as_ref(), &planned.action);
    let counts = match action {
        Action::ExpireSnapshots(expiry) => {
            let expired = vacuum::expire_snapshots(store, table, *expiry).await?;
            vec![
                expired.snapshots,
                expired.data_files,
                expired.manifests,
                expired.manifest_lists,
            ]
        }
        Action::RemoveOrphanFiles { older_than } => {
            let now = chrono::Utc::now().timestamp_millis();
            let cutoff = older_than.unwrap_or(now - ORPHAN_AGE_MS);
            let (url, _) = store_path(table.metadata().location())?;
            let files = runtime.object_store(&url)?;
            vec![vacuum::remove_orphan_files(files.as_ref(), table, cutoff).await?]
        }
    };
    let columns = counts
        .into_iter()
        .map(|n| Arc::new(UInt64Array::from(vec![n])) as _)
        .collect();
    RecordBatch::try_new(schema(action), columns).map_err(|e| QuarryError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Action {
        parse(&Tokenized::generic(sql)).unwrap().unwrap().action
    }

    #[test]
    fn vacuum_parses_in_dremio_syntax() {
        assert_eq!(
            parsed("VACUUM TABLE t EXPIRE SNAPSHOTS"),
            Action::ExpireSnapshots(Expiry::default())
        );
        assert_eq!(
            parsed(
                "vacuum table s.t expire snapshots older_than '2026-12-01 10:00:00' retain_last 3;"
            ),
            Action::ExpireSnapshots(Expiry {
                older_than: Some(1_796_119_200_000),
                retain_last: Some(3)
            })
        );
        assert_eq!(
            parsed("VACUUM TABLE t REMOVE ORPHAN FILES OLDER_THAN = '2026-12-01 10:00:00'"),
            Action::RemoveOrphanFiles {
                older_than: Some(1_796_119_200_000)
            }
        );
        let err = |sql| parse(&Tokenized::generic(sql)).unwrap_err().to_string();
        assert!(err("VACUUM TABLE t").contains("EXPIRE SNAPSHOTS or REMOVE ORPHAN FILES"));
        assert!(err("VACUUM TABLE t EXPIRE SNAPSHOTS RETAIN_LAST 0").contains("at least 1"));
        assert!(err("VACUUM TABLE t EXPIRE SNAPSHOTS OLDER_THAN 'soon'").contains("soon"));
        assert!(parse(&Tokenized::generic("VACUUM")).unwrap().is_none());
    }
}

//! Command tags (`INSERT 0 5`, `CREATE TABLE`, `SELECT 3` for a CTAS), read off the
//! parsed statement: a leading comment or a `WITH` in front of an `INSERT` changes
//! nothing.

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
use pgwire::api::results::Tag;

use quarry_scheduler::parse::Ast;

/// The tag of a statement that changed something, `rows` rows.
pub fn tag(ast: &Ast, rows: u64) -> Tag {
    let rows = rows as usize;
    let with_rows = |name: &str| Tag::new(name).with_rows(rows);
    let statement = match ast {
        Ast::Sql(DFStatement::Statement(statement)) => statement.as_ref(),
        Ast::Sql(DFStatement::CreateExternalTable(_)) => return Tag::new("CREATE TABLE"),
        Ast::Sql(DFStatement::CopyTo(_)) | Ast::CopyInto(_) => return with_rows("COPY"),
        Ast::Sql(DFStatement::Explain(_)) => return Tag::new("EXPLAIN"),
        Ast::Sql(DFStatement::Reset(_)) => return Tag::new("RESET"),
        Ast::Reflection(_) | Ast::Rollback(_) | Ast::AlterTable(_) => {
            return Tag::new("ALTER TABLE");
        }
        Ast::RenameView(_) => return Tag::new("ALTER VIEW"),
        Ast::Vacuum(_) => return Tag::new("VACUUM"),
        Ast::Optimize(_) => return with_rows("OPTIMIZE"),
    };
    let insert = || Tag::new("INSERT").with_oid(0).with_rows(rows);
    match statement {
        Statement::Insert(_) => insert(),
        Statement::Update(_) => with_rows("UPDATE"),
        Statement::Delete(_) => with_rows("DELETE"),
        Statement::Merge(_) => with_rows("MERGE"),
        Statement::Copy { .. } => with_rows("COPY"),
        Statement::Truncate(_) => Tag::new("TRUNCATE TABLE"),
        // `WITH ... INSERT`: a query around the statement it introduces.
        Statement::Query(query) => match query.body.as_ref() {
            SetExpr::Insert(_) => insert(),
            SetExpr::Update(_) => with_rows("UPDATE"),
            SetExpr::Delete(_) => with_rows("DELETE"),
            SetExpr::Merge(_) => with_rows("MERGE"),
            _ => with_rows("SELECT"),
        },
        // PostgreSQL tags `CREATE TABLE .. AS` with the rows it selected.
        Statement::CreateTable(create) if create.query.is_some() => with_rows("SELECT"),
        Statement::CreateTable(_) => Tag::new("CREATE TABLE"),
        Statement::CreateView(_) => Tag::new("CREATE VIEW"),
        Statement::CreateSchema { .. } => Tag::new("CREATE SCHEMA"),
        Statement::CreateDatabase { .. } => Tag::new("CREATE DATABASE"),
        Statement::CreateFunction(_) => Tag::new("CREATE FUNCTION"),
        Statement::CreateIndex(_) => Tag::new("CREATE INDEX"),
        Statement::Drop { object_type, .. } => Tag::new(&format!("DROP {object_type}")),
        Statement::AlterTable(_) => Tag::new("ALTER TABLE"),
        Statement::AlterView { .. } => Tag::new("ALTER VIEW"),
        // The rest (`SET`, `USE`, ...) are named by their first word.
        other => Tag::new(
            other
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[test]
    fn command_tags_name_what_changed() {
        let state = SessionContext::new().state();
        let t = |sql: &str, rows| {
            let parsed = quarry_scheduler::parse::parse(&state, sql).unwrap();
            let complete: pgwire::messages::response::CommandComplete =
                tag(&parsed.ast, rows).into();
            complete.tag
        };
        assert_eq!(t("insert into t values (1)", 1), "INSERT 0 1");
        assert_eq!(t("CREATE TABLE gold.x AS SELECT 1", 1), "SELECT 1");
        assert_eq!(t("create table t (a int)", 0), "CREATE TABLE");
        assert_eq!(t("CREATE OR REPLACE VIEW v AS SELECT 1", 0), "CREATE VIEW");
        assert_eq!(t("DROP TABLE t", 0), "DROP TABLE");
        assert_eq!(t("drop view if exists v cascade", 0), "DROP VIEW");
        assert_eq!(t("DROP SCHEMA s", 0), "DROP SCHEMA");
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
        assert_eq!(t("ALTER TABLE t RENAME TO u", 0), "ALTER TABLE");
        assert_eq!(t("ALTER VIEW v RENAME TO w", 0), "ALTER VIEW");
        assert_eq!(t("ALTER TABLE t ROLLBACK TO SNAPSHOT 1", 0), "ALTER TABLE");
        assert_eq!(t("SET datafusion.execution.batch_size = 10", 0), "SET");
        assert_eq!(t("CREATE SCHEMA s", 0), "CREATE SCHEMA");
    }
}

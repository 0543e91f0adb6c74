//! Parsing SQL and deciding where each statement runs.
//!
//! - Queries and `EXPLAIN` run as Ballista jobs on the executors.
//! - `EXPLAIN ANALYZE` runs its query as a job, then reports the job's stage metrics.
//! - DDL (`CREATE EXTERNAL TABLE`, `CREATE VIEW`, `DROP`, `SET`, ...) changes the
//!   scheduler's catalog or session, so it runs on the scheduler.
//! - Queries over `information_schema` (and `SHOW TABLES`, `SHOW COLUMNS`) read the
//!   scheduler's catalog, so they run there too.
//!
//! Quarry's own statements will be recognised here, before DataFusion plans them.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::error::QuarryError;

/// Where and how a planned statement runs.
#[derive(Debug, Clone)]
pub enum Statement {
    /// A query (or `EXPLAIN`) run as a Ballista job.
    Distributed(LogicalPlan),
    /// `EXPLAIN ANALYZE <query>`: the inner query runs as a job, its metrics are the result.
    ExplainAnalyze(LogicalPlan),
    /// Runs on the scheduler: DDL, session settings, catalog queries.
    Local(LogicalPlan),
}

impl Statement {
    /// The schema of the statement's result.
    pub fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        match self {
            Statement::Distributed(plan) | Statement::Local(plan) => {
                std::sync::Arc::clone(plan.schema().inner())
            }
            Statement::ExplainAnalyze(_) => crate::explain::schema(),
        }
    }
}

/// Parses and plans one SQL statement.
pub async fn plan(ctx: &SessionContext, sql: &str) -> Result<Statement, QuarryError> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect).map_err(|e| {
        let e = QuarryError::from(e);
        match e {
            QuarryError::Plan(msg) if msg.contains("single SQL statement") => {
                QuarryError::Plan("one statement at a time, please: split the text at ';'".into())
            }
            e => e,
        }
    })?;
    let plan = state.statement_to_plan(statement).await?;
    Ok(classify(plan))
}

/// Decides where a planned statement runs.
pub fn classify(plan: LogicalPlan) -> Statement {
    match plan {
        LogicalPlan::Analyze(analyze) => Statement::ExplainAnalyze(analyze.input.as_ref().clone()),
        LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::DescribeTable(_) => {
            Statement::Local(plan)
        }
        plan if reads_catalog(&plan) => Statement::Local(plan),
        plan => Statement::Distributed(plan),
    }
}

/// Whether the plan scans `information_schema`, which lives on the scheduler.
fn reads_catalog(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.schema() == Some("information_schema")
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn kind(sql: &str) -> &'static str {
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_information_schema(true),
        );
        ctx.sql("CREATE TABLE t (a INT)").await.unwrap();
        match plan(&ctx, sql).await.unwrap() {
            Statement::Distributed(_) => "distributed",
            Statement::ExplainAnalyze(_) => "explain analyze",
            Statement::Local(_) => "local",
        }
    }

    #[tokio::test]
    async fn statements_run_where_their_data_is() {
        assert_eq!(kind("SELECT a FROM t").await, "distributed");
        assert_eq!(kind("EXPLAIN SELECT a FROM t").await, "distributed");
        assert_eq!(
            kind("EXPLAIN ANALYZE SELECT a FROM t").await,
            "explain analyze"
        );
        assert_eq!(kind("SHOW TABLES").await, "local");
        assert_eq!(
            kind("SELECT * FROM information_schema.columns").await,
            "local"
        );
        assert_eq!(kind("CREATE VIEW v AS SELECT 1").await, "local");
        assert_eq!(
            kind("SET datafusion.execution.batch_size = 100").await,
            "local"
        );
    }

    #[tokio::test]
    async fn several_statements_are_refused() {
        let ctx = SessionContext::new();
        let err = plan(&ctx, "SELECT 1; SELECT 2").await.unwrap_err();
        assert!(err.to_string().contains("one statement at a time"), "{err}");
    }
}

//! Parsing SQL and deciding where each statement runs.
//!
//! - Queries and `EXPLAIN` run as Ballista jobs on the executors.
//! - `EXPLAIN ANALYZE` runs its query as a job, then reports the job's stage metrics.
//! - DDL (`CREATE EXTERNAL TABLE`, `CREATE VIEW`, `DROP`, `SET`, ...) changes the
//!   scheduler's catalog or session, so it runs on the scheduler.
//! - Queries over `information_schema` (and `SHOW TABLES`, `SHOW COLUMNS`) read the
//!   scheduler's catalog, so they run there too.
//!
//! - Statements about Iceberg tables are planned by [`crate::tables`]: writes run as jobs
//!   and are then committed; catalog changes run on the scheduler.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{LogicalPlan, TableType};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;

use quarry_catalog::Warehouse;
use quarry_catalog::store::TableStore;

use crate::changes;
use crate::copy_into;
use crate::error::QuarryError;
use crate::evolve;
use crate::merge::{self, Merge};
use crate::names::{resolve_namespaces, to_plan};
use crate::normalize;
use crate::optimize;
use crate::params;
use crate::parse::{Ast, Parsed, parse};
use crate::planned::{self, CatalogChange, Commit, Write};
use crate::reflections::{self, Reflections};
use crate::rollback;
use crate::tables::{self, Planned};
use crate::temporary;
use crate::vacuum;
use crate::views;

/// Where and how a planned statement runs.
#[derive(Debug, Clone)]
pub enum Statement {
    /// A query (or `EXPLAIN`) run as a Ballista job.
    Distributed(LogicalPlan),
    /// `EXPLAIN ANALYZE <query>`: the inner query runs as a job, its metrics are the result.
    ExplainAnalyze(LogicalPlan),
    /// Runs on the scheduler: DDL, session settings, catalog queries.
    Local(LogicalPlan),
    /// Writes data files on the executors, then commits them to an Iceberg table.
    Write(Box<Write>),
    /// Changes the Iceberg catalog only.
    Catalog(Box<CatalogChange>),
    /// A `MERGE`: a job finds the files its matches are in, then a write rewrites them.
    Merge(Box<Merge>),
    /// Work the query service does itself, on the scheduler.
    Task(Box<Task>),
}

/// What the query service runs itself.
#[derive(Debug, Clone)]
pub enum Task {
    /// `ALTER TABLE t REFRESH REFLECTION[S] [r]`: rebuild those of `t` (or just `r`)
    /// that are stale.
    RefreshReflections {
        anchor: quarry_catalog::reflection::Anchor,
        name: Option<String>,
    },
    /// `VACUUM TABLE`, which answers with what it removed.
    Vacuum(vacuum::Planned),
    /// `COPY INTO`, which reads the landing files and answers with what it loaded.
    CopyInto(Box<copy_into::Planned>),
}

impl Statement {
    /// The logical plans the statement runs (where its parameters are).
    fn plans(&self) -> Vec<&LogicalPlan> {
        match self {
            Statement::Distributed(plan)
            | Statement::ExplainAnalyze(plan)
            | Statement::Local(plan) => vec![plan],
            Statement::Write(write) => vec![&write.plan],
            Statement::Merge(merge) => vec![&merge.matches, &merge.write.plan],
            Statement::Catalog(_) | Statement::Task(_) => vec![],
        }
    }

    /// The statement's parameters, `$1..$n`.
    pub fn parameters(&self) -> Result<SchemaRef, QuarryError> {
        params::parameter_schema(self.plans())
    }

    /// The statement with `values` in place of its parameters; with no values, the
    /// statement must have no parameters.
    pub fn bind(self, values: &[ScalarValue]) -> Result<Self, QuarryError> {
        let parameters = self.parameters()?;
        params::check_count(&parameters, values)?;
        if values.is_empty() {
            return Ok(self);
        }
        let bind = |plan| params::bind(plan, &parameters, values);
        Ok(match self {
            Statement::Distributed(plan) => Statement::Distributed(bind(plan)?),
            Statement::ExplainAnalyze(plan) => Statement::ExplainAnalyze(bind(plan)?),
            Statement::Local(plan) => Statement::Local(bind(plan)?),
            Statement::Write(mut write) => {
                write.plan = bind(write.plan)?;
                Statement::Write(write)
            }
            Statement::Merge(mut merge) => {
                merge.matches = bind(merge.matches)?;
                merge.write.plan = bind(merge.write.plan)?;
                Statement::Merge(merge)
            }
            statement @ (Statement::Catalog(_) | Statement::Task(_)) => statement,
        })
    }

    /// Whether the statement returns rows (a query), rather than changing data, the
    /// catalog or the session.
    pub fn is_query(&self) -> bool {
        match self {
            Statement::Distributed(plan) => !matches!(plan, LogicalPlan::Dml(_)),
            Statement::ExplainAnalyze(_) => true,
            Statement::Local(plan) => !matches!(
                plan,
                LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::Dml(_)
            ),
            // `OPTIMIZE` answers with rows, as a query does.
            Statement::Write(write) => matches!(write.commit, Commit::Compact { .. }),
            // So do `VACUUM` and `COPY INTO`.
            Statement::Task(task) => !matches!(task.as_ref(), Task::RefreshReflections { .. }),
            Statement::Catalog(_) | Statement::Merge(_) => false,
        }
    }

    /// The schema of the statement's result.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Statement::Distributed(plan) | Statement::Local(plan) => {
                std::sync::Arc::clone(plan.schema().inner())
            }
            Statement::ExplainAnalyze(_) => crate::explain::schema(),
            Statement::Write(write) => planned::result_schema(write),
            Statement::Merge(_) => planned::count_schema(),
            Statement::Task(task) => match task.as_ref() {
                Task::Vacuum(vacuum) => vacuum::schema(&vacuum.action),
                Task::CopyInto(_) => copy_into::schema(),
                Task::RefreshReflections { .. } => empty_schema(),
            },
            Statement::Catalog(_) => empty_schema(),
        }
    }
}

fn task(task: Task) -> Statement {
    Statement::Task(Box::new(task))
}

fn empty_schema() -> SchemaRef {
    std::sync::Arc::new(datafusion::arrow::datatypes::Schema::empty())
}

/// Parses and plans one SQL statement.
pub async fn plan_sql(
    ctx: &SessionContext,
    store: &TableStore,
    sql: &str,
) -> Result<Statement, QuarryError> {
    plan(ctx, store, parse(&ctx.state(), sql)?).await
}

/// Where `COPY .. TO` writes: `target` resolved against the warehouse like every path
/// in SQL, and refused outside its file locations.
fn copy_target(state: &SessionState, target: &str) -> Result<String, QuarryError> {
    let warehouse = state
        .config()
        .get_extension::<Warehouse>()
        .ok_or_else(|| QuarryError::internal("the session knows no warehouse"))?;
    Ok(warehouse.resolve_file(target)?)
}

/// Plans a parsed statement.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    parsed: Parsed,
) -> Result<Statement, QuarryError> {
    let state = ctx.state();
    let reflections = state.config().get_extension::<Reflections>();
    if let Some(reflections) = &reflections {
        reflections.load_if_changed().await?;
    }
    let catalog = |change| Ok(Statement::Catalog(Box::new(change)));
    let mut statement = match parsed.ast {
        Ast::Reflection(statement) => {
            let Some(reflections) = reflections else {
                return Err(QuarryError::unsupported(
                    "this session keeps no reflections",
                ));
            };
            return Ok(
                match crate::reflections::plan(ctx, store, &reflections, statement).await? {
                    reflections::Planned::Write(write) => Statement::Write(write),
                    reflections::Planned::Catalog(change) => Statement::Catalog(change),
                    reflections::Planned::Refresh { anchor, name } => {
                        task(Task::RefreshReflections { anchor, name })
                    }
                },
            );
        }
        Ast::Rollback(rollback) => return catalog(rollback::plan(ctx, store, rollback).await?),
        Ast::Vacuum(vacuum) => {
            return Ok(task(Task::Vacuum(vacuum::plan(ctx, store, vacuum).await?)));
        }
        Ast::CopyInto(copy) => {
            let copy = copy_into::plan(ctx, store, copy).await?;
            return Ok(task(Task::CopyInto(Box::new(copy))));
        }
        Ast::Optimize(optimize) => {
            return Ok(match optimize::plan(ctx, store, optimize).await? {
                Ok(write) => Statement::Write(Box::new(write)),
                Err(nothing_to_do) => Statement::Local(nothing_to_do),
            });
        }
        Ast::AlterTable(alter) => return catalog(evolve::plan_parsed(ctx, store, alter).await?),
        Ast::RenameView(rename) => return catalog(views::plan_rename(ctx, store, rename).await?),
        Ast::Sql(statement) => statement,
    };
    normalize::normalize(&mut statement);
    if let DFStatement::CopyTo(copy) = &mut statement {
        copy.target = copy_target(&state, &copy.target)?;
    }
    temporary::resolve_names(ctx, &mut statement);
    if let Some(create) = temporary::as_memory_table(&statement)? {
        resolve_namespaces(&state, store, &create).await?;
        return Ok(Statement::Local(state.statement_to_plan(create).await?));
    }
    if let Some(change) = views::plan(ctx, store, &parsed.text, &statement).await? {
        return Ok(Statement::Catalog(Box::new(change)));
    }
    if let Some(merge) = merge::plan(ctx, store, &statement).await? {
        return Ok(match merge {
            merge::Planned::Append(write) => Statement::Write(write),
            merge::Planned::Merge(merge) => Statement::Merge(merge),
            merge::Planned::Explained(plan) => Statement::Distributed(*plan),
        });
    }
    match tables::plan(ctx, store, &statement).await? {
        Planned::Write(write) => return Ok(Statement::Write(write)),
        Planned::Catalog(change) => return Ok(Statement::Catalog(change)),
        Planned::Query(plan) => return Ok(classify(*plan)),
        Planned::Explained(plan) => return Ok(Statement::Distributed(*plan)),
        Planned::NotOurs => {}
    }
    resolve_namespaces(&state, store, &statement).await?;
    let plan = to_plan(&state, statement).await?;
    let plan = crate::reflections::explain(ctx, plan)?;
    let plan = match tables::plan_insert(plan)? {
        Ok(write) => return Ok(Statement::Write(Box::new(write))),
        Err(plan) => plan,
    };
    match changes::plan(ctx, plan).await? {
        Ok(write) => Ok(Statement::Write(Box::new(write))),
        Err(plan) => Ok(classify(plan)),
    }
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

/// Whether the plan scans system views (`information_schema`, a front door's system
/// tables, `sys`), which live on the scheduler: what scans as a view (the lake's views
/// are planned as their queries, so only system views remain as scans).
fn reads_catalog(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.source.table_type() == TableType::View
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
    use std::sync::Arc;

    use datafusion::execution::runtime_env::RuntimeEnv;
    use quarry_catalog::Warehouse;

    use super::*;
    use crate::lake::Lake;
    use crate::session::DEFAULT_SCHEMA;

    /// A session over a fresh warehouse with table `public.t (a INT)`.
    async fn session() -> (SessionContext, TableStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_string_lossy()).unwrap();
        let store = TableStore::open_embedded(&warehouse, &[DEFAULT_SCHEMA.to_string()])
            .await
            .unwrap();
        let factory =
            Lake::open(warehouse, store.clone(), Arc::new(RuntimeEnv::default())).sessions;
        let ctx = factory.new_session(2);
        let Statement::Catalog(change) = plan_sql(&ctx, &store, "CREATE TABLE t (a INT)")
            .await
            .unwrap()
        else {
            panic!("CREATE TABLE changes the catalog");
        };
        change.apply(&store).await.unwrap();
        (ctx, store, dir)
    }

    async fn kind(ctx: &SessionContext, store: &TableStore, sql: &str) -> &'static str {
        match plan_sql(ctx, store, sql).await.unwrap() {
            Statement::Distributed(_) => "distributed",
            Statement::ExplainAnalyze(_) => "explain analyze",
            Statement::Local(_) => "local",
            Statement::Write(_) => "write",
            Statement::Catalog(_) => "catalog",
            Statement::Task(_) => "task",
            Statement::Merge(_) => "merge",
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn statements_run_where_their_data_is() {
        let (ctx, store, _dir) = session().await;
        let kind = |sql| kind(&ctx, &store, sql);
        assert_eq!(kind("SELECT a FROM t").await, "distributed");
        assert_eq!(kind("EXPLAIN SELECT a FROM t").await, "distributed");
        assert_eq!(
            kind("EXPLAIN ANALYZE SELECT a FROM t").await,
            "explain analyze"
        );
        assert_eq!(kind("SHOW TABLES").await, "local");
        assert_eq!(kind("SHOW TABLES IN public").await, "local");
        assert_eq!(kind("SHOW SCHEMAS").await, "local");
        assert_eq!(
            kind("SELECT * FROM information_schema.columns").await,
            "local"
        );
        assert_eq!(kind("CREATE VIEW v AS SELECT 1").await, "catalog");
        assert_eq!(kind("CREATE TEMPORARY VIEW w AS SELECT 1").await, "local");
        assert_eq!(
            kind("SET datafusion.execution.batch_size = 100").await,
            "local"
        );
        assert_eq!(kind("INSERT INTO t VALUES (1)").await, "write");
        assert_eq!(kind("INSERT OVERWRITE t SELECT 2").await, "write");
        assert_eq!(kind("CREATE TABLE u AS SELECT 1 AS x").await, "write");
        assert_eq!(
            kind("CREATE OR REPLACE TABLE t AS SELECT 1 AS x").await,
            "write"
        );
        assert_eq!(
            kind("CREATE TABLE IF NOT EXISTS t (b INT)").await,
            "catalog"
        );
        assert_eq!(kind("DROP TABLE t PURGE").await, "catalog");
        assert_eq!(
            kind("EXPLAIN CREATE TABLE u AS SELECT 1 AS x").await,
            "distributed"
        );
        assert_eq!(kind("DROP TABLE IF EXISTS nowhere.t").await, "catalog");
        assert_eq!(
            kind("MERGE INTO t USING (SELECT 1 AS a) AS s ON t.a = s.a WHEN MATCHED THEN DELETE")
                .await,
            "merge"
        );
        // Inserts only: an append.
        assert_eq!(
            kind("MERGE INTO t USING (SELECT 1 AS a) s ON t.a = s.a WHEN NOT MATCHED THEN INSERT VALUES (s.a)")
                .await,
            "write"
        );
        assert_eq!(
            kind(
                "EXPLAIN MERGE INTO t USING (SELECT 1 AS a) s ON t.a = s.a WHEN MATCHED THEN DELETE"
            )
            .await,
            "distributed"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bad_statements_are_refused_before_they_run() {
        let (ctx, store, _dir) = session().await;
        let err = |sql: &'static str| {
            let (ctx, store) = (&ctx, &store);
            async move { plan_sql(ctx, store, sql).await.unwrap_err().to_string() }
        };
        assert!(
            err("SELECT 1; SELECT 2")
                .await
                .contains("one statement at a time")
        );
        assert_eq!(
            err("CREATE TABLE t (b INT)").await,
            "table 'public.t' already exists"
        );
        assert_eq!(
            err("DROP TABLE nope").await,
            "table 'public.nope' not found"
        );
        assert!(
            err("CREATE TABLE nowhere.x AS SELECT 1")
                .await
                .contains("schema 'nowhere' does not exist")
        );
        assert!(
            err("CREATE TABLE w AS SELECT 1::BIGINT UNSIGNED AS big")
                .await
                .contains("cannot hold")
        );
        assert!(
            err("CREATE TABLE w PARTITION BY (day(a)) AS SELECT 1 AS a")
                .await
                .contains("day(a)")
        );
    }
}

//! `MERGE INTO t USING s ON .. WHEN [NOT] MATCHED [AND ..] THEN ..` on Iceberg tables,
//! copy-on-write, planned from sqlparser's AST (DataFusion does not plan `MERGE`);
//! also `UPDATE t SET .. FROM s WHERE ..`, as the `MERGE` it means (`update_from.rs`).
//!
//! The statement's parts become logical plans and expressions directly: the source is
//! DataFusion's plan of `SELECT * FROM <source>`, the conditions and values are
//! planned against the joined schema (`create_logical_expr_from_sql_expr`), and the
//! target is a scan of the snapshot the statement planned against, under the target's
//! name or alias. It runs in two jobs (see `service.rs`):
//!
//! 1. [`Merge::matches`]: the target rows that match a source row on `ON` (a semi
//!    join), each with its data file (`scan::FILE_COLUMN`) and numbered within it, joined
//!    to the source again; per data file, how many source rows its most-matched row
//!    matched. A target row matched twice fails the statement, as the SQL standard says
//!    ([`ErrorKind::CardinalityViolation`]).
//! 2. [`Merge::write`]: the target restricted to the files of step 1, outer-joined to
//!    the source; each row gets the action of the first clause it satisfies, and the
//!    new values, and is written with the change it had (`write::CHANGE_COLUMN`): kept,
//!    changed, deleted. One snapshot replaces the files read with the files written.
//!
//! A source row that matches no row of the restricted target matches none of the
//! table, since every file with a match is in it. A `MERGE` that only inserts needs
//! no first step: its rows are the source rows with no match (an anti join against the
//! whole target), appended.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::planner::{IdentNormalizer, object_name_to_table_reference};
use datafusion::sql::sqlparser::ast::{self, TableFactor};
use iceberg::table::Table;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::types;
use quarry_catalog::table::write::WriteSpec;

mod clauses;
mod rows;
mod update_from;

use clauses::{ClausePlanner, refuse_unsupported};
use rows::{inserted_rows, matches_plan, merged_rows, plan_source, target_plan, with_marker};

use crate::error::{ErrorKind, QuarryError};
use crate::names::{iceberg_ident, resolve_namespaces};
use crate::planned::{Commit, Write, insert_plan};

/// The scan of the target in the plans of a `MERGE`, found again by this name to
/// restrict it to the files the first step found.
const TARGET_SCAN: &str = "__quarry_merge_target";
/// Non-null on every target row of the joined rows.
const TARGET_MARKER: &str = "__quarry_target";
/// Non-null on every source row of the joined rows.
const SOURCE_MARKER: &str = "__quarry_source";
/// The clause each joined row takes (0: none).
const ACTION: &str = "__quarry_action";
/// A target row's number within its data file.
const ROW: &str = "__quarry_row";
/// The columns of the first step's result.
const FILE: &str = "file";
const MATCHES: &str = "matches";

/// A `MERGE` with `WHEN MATCHED` clauses, planned: run [`Merge::matches`], then the
/// write [`Merge::write`] makes of its result.
#[derive(Debug, Clone)]
pub struct Merge {
    /// Per data file of the target that source rows match: the most source rows that
    /// one of its rows matches.
    pub matches: LogicalPlan,
    /// The write, reading every file of the target until [`Merge::write`] restricts it.
    pub write: Write,
    table: Table,
    snapshot: Option<i64>,
}

impl Merge {
    /// The write of the rows of the files that the first step's result `batches`
    /// names; fails if a target row matched more than one source row.
    pub fn write(&self, batches: &[RecordBatch]) -> Result<Write, QuarryError> {
        let files = matched_files(batches)?;
        let mut write = self.write.clone();
        if let Some(snapshot) = self.snapshot {
            let files = Arc::new(files.clone());
            let only = IcebergTable::files_of(self.table.clone(), snapshot, files)?;
            write.plan = with_target(write.plan, only)?;
        }
        if let Commit::Rewrite { removed, .. } = &mut write.commit {
            *removed = files;
        }
        Ok(write)
    }
}

/// The files a first step's result names, unless a row of one matched twice.
fn matched_files(batches: &[RecordBatch]) -> Result<HashSet<String>, QuarryError> {
    let mut files = HashSet::new();
    for batch in batches {
        let (Some(file), Some(matches)) =
            (batch.column_by_name(FILE), batch.column_by_name(MATCHES))
        else {
            return Err(QuarryError::internal(
                "the matches of a MERGE came back without their columns",
            ));
        };
        let internal = |e: ArrowError| QuarryError::internal(e.to_string());
        let file = cast(file, &DataType::Utf8).map_err(internal)?;
        let matches = cast(matches, &DataType::Int64).map_err(internal)?;
        let (file, matches) = (file.as_string::<i32>(), matches.as_primitive::<Int64Type>());
        for i in 0..batch.num_rows() {
            let n: i64 = matches.value(i);
            if n > 1 {
                return Err(ErrorKind::CardinalityViolation.error(format!(
                    "MERGE matched one row of the target with {n} rows of the source; \
                     a target row may match at most one source row (make the ON condition \
                     select one source row per target row)"
                )));
            }
            if file.is_valid(i) {
                files.insert(file.value(i).to_string());
            }
        }
    }
    Ok(files)
}

/// `plan` with the target's scan reading `provider` instead.
fn with_target(plan: LogicalPlan, provider: IcebergTable) -> Result<LogicalPlan, QuarryError> {
    let source = provider_as_source(Arc::new(provider));
    Ok(plan
        .transform_up(|node| match node {
            LogicalPlan::TableScan(mut scan) if scan.table_name.table() == TARGET_SCAN => {
                scan.source = Arc::clone(&source);
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data)
}

/// What a `MERGE` is planned into.
pub enum Planned {
    /// Only `WHEN NOT MATCHED THEN INSERT`: an append.
    Append(Box<Write>),
    /// A job that finds the files the matches are in, then a write that rewrites them.
    Merge(Box<Merge>),
    /// `EXPLAIN MERGE`: the plan of its write.
    Explained(Box<LogicalPlan>),
}

/// Plans `statement` if it is a `MERGE` (or the `EXPLAIN` of one).
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    statement: &DFStatement,
) -> Result<Option<Planned>, QuarryError> {
    let (merge, explain) = match statement {
        DFStatement::Statement(s) => (s.as_ref(), None),
        DFStatement::Explain(explain) => match explain.statement.as_ref() {
            DFStatement::Statement(s) => (s.as_ref(), Some(explain)),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let merge = match merge {
        ast::Statement::Merge(merge) => merge.clone(),
        ast::Statement::Update(update) => match update_from::as_merge(update)? {
            Some(merge) => merge,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let merge = &merge;
    if explain.is_some_and(|e| e.analyze) {
        return Err(QuarryError::plan(
            "EXPLAIN ANALYZE runs its statement; it does not run writes. Use EXPLAIN",
        ));
    }
    resolve_namespaces(&ctx.state(), store, statement).await?;
    let planned = Box::pin(plan_merge(ctx, store, merge)).await?;
    let Some(explain) = explain else {
        return Ok(Some(planned));
    };
    let write = match planned {
        Planned::Append(write) => write.plan,
        Planned::Merge(merge) => merge.write.plan,
        Planned::Explained(_) => return Err(QuarryError::internal("a MERGE explained twice")),
    };
    let explained = LogicalPlanBuilder::from(write)
        .explain(explain.verbose, false)?
        .build()?;
    Ok(Some(Planned::Explained(Box::new(explained))))
}

async fn plan_merge(
    ctx: &SessionContext,
    store: &TableStore,
    merge: &ast::Merge,
) -> Result<Planned, QuarryError> {
    refuse_unsupported(merge)?;
    let state = ctx.state();
    let normalize = state.config_options().sql_parser.enable_ident_normalization;
    let normalizer = IdentNormalizer::new(normalize);
    let TableFactor::Table {
        name,
        alias,
        args: None,
        version: None,
        ..
    } = &merge.table
    else {
        return Err(QuarryError::plan(
            "MERGE INTO takes a table name (with an optional alias) as its target",
        ));
    };
    let reference = object_name_to_table_reference(name.clone(), normalize)?;
    let ident = iceberg_ident(ctx, &reference)?;
    let Some(table) = store.load(&ident).await? else {
        return Err(QuarryError::no_table(format!("table '{ident}' not found")));
    };
    let qualifier = match alias {
        Some(alias) => TableReference::bare(normalizer.normalize(alias.name.clone())),
        None => reference.clone(),
    };
    let snapshot = table.metadata().current_snapshot_id();
    let target_schema = types::query_schema(table.metadata().current_schema())?;
    let columns: Vec<String> = target_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();

    let source = plan_source(ctx, &merge.source).await?;
    let source = with_marker(source, SOURCE_MARKER)?;
    let whole = target_plan(&table, snapshot, &qualifier, false)?;
    let joined_schema = whole.schema().join(source.schema())?;
    let planner = ClausePlanner {
        state: &state,
        normalizer: &normalizer,
        columns: &columns,
        table: &ident,
        joined: &joined_schema,
        source: source.schema(),
    };
    let on = planner.expr(&merge.on, &joined_schema)?;
    let clauses = merge
        .clauses
        .iter()
        .map(|clause| planner.clause(clause))
        .collect::<Result<Vec<_>, _>>()?;

    let changes = clauses.iter().any(|c| c.matched);
    if !changes {
        // Only inserts: the source rows that match nothing, appended.
        let rows = inserted_rows(whole, source, on, &clauses, &target_schema)?;
        return Ok(Planned::Append(Box::new(write_to(
            &table, &reference, rows, false,
        )?)));
    }
    let matches = matches_plan(
        target_plan(&table, snapshot, &qualifier, true)?,
        source.clone(),
        on.clone(),
        &qualifier,
    )?;
    let rows = merged_rows(whole, source, on, &clauses, (&qualifier, &target_schema))?;
    Ok(Planned::Merge(Box::new(Merge {
        matches,
        write: write_to(&table, &reference, rows, true)?,
        table,
        snapshot,
    })))
}

/// The write of `rows` into `table`: a rewrite, whose rows end with their change, or an
/// append.
fn write_to(
    table: &Table,
    name: &TableReference,
    rows: LogicalPlan,
    rewrite: bool,
) -> Result<Write, QuarryError> {
    let mut spec = WriteSpec::for_table(table);
    spec.change_column = rewrite;
    let spec = Arc::new(spec);
    let target = IcebergTable::new(table.clone())?.for_write(Arc::clone(&spec));
    let plan = insert_plan(name, Arc::new(target), InsertOp::Append, Arc::new(rows))?;
    let (ident, uuid) = (table.identifier().clone(), table.metadata().uuid());
    let commit = match rewrite {
        true => Commit::Rewrite {
            ident,
            uuid,
            removed: HashSet::new(),
            whole_rows: 0,
        },
        false => Commit::Append { ident, uuid },
    };
    Ok(Write { plan, spec, commit })
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn matches(files: &[&str], counts: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new(FILE, DataType::Utf8, false),
            Field::new(MATCHES, DataType::Int64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(files.to_vec())),
                Arc::new(Int64Array::from(counts.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_files_with_matches_are_rewritten_unless_a_row_matched_twice() {
        let found = matched_files(&[matches(&["a", "b"], &[1, 1]), matches(&["c"], &[1])]);
        let mut found: Vec<_> = found.unwrap().into_iter().collect();
        found.sort();
        assert_eq!(found, ["a", "b", "c"]);
        assert!(matched_files(&[]).unwrap().is_empty());
        let twice = matched_files(&[matches(&["a", "b"], &[1, 2])]).unwrap_err();
        assert_eq!(twice.kind(), ErrorKind::CardinalityViolation, "{twice}");
        assert!(twice.to_string().contains("with 2 rows of the source"));
    }
}

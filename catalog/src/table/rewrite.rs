//! Row-level changes, copy-on-write: which data files a `DELETE`, `UPDATE` or `MERGE`
//! must rewrite, and which a `DELETE` removes whole without reading them.
//!
//! [`affected_files`] asks Iceberg's `plan_files` which live files of the snapshot the
//! statement planned against may hold rows its filter matches (partition values and
//! column bounds). [`wholly_matched`] then tells, from each file's statistics, the
//! files whose every row the filter matches: DataFusion's own `PruningPredicate`, over
//! the files' bounds and null counts, finds the files where no row can fail it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::{Result, tree_node::TreeNode, tree_node::TreeNodeRecursion};
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicate;
use futures::TryStreamExt;
use iceberg::spec::DataFile;
use iceberg::table::Table;

use super::TableError;
use super::predicate::{Columns, to_predicate};
use super::scan::{file_statistics, live_data_files};

/// The live data files of snapshot `id` of `table` that rows matching `filters` may be
/// in, by path. Fails on files with row-level deletes, which Quarry does not rewrite.
pub async fn affected_files(
    table: &Table,
    id: i64,
    filters: &[Expr],
) -> Result<HashMap<String, DataFile>, TableError> {
    let Some(snapshot) = table.metadata().snapshot_by_id(id) else {
        return Ok(HashMap::new());
    };
    let metadata = table.metadata();
    let columns = Columns::bound(
        metadata,
        metadata.current_schema(),
        snapshot.schema(metadata)?.as_ref(),
    );
    let mut builder = table.scan().snapshot_id(id).select_all();
    if let Some(predicate) = to_predicate(filters, &columns) {
        builder = builder.with_filter(predicate);
    }
    let tasks: Vec<_> = builder.build()?.plan_files().await?.try_collect().await?;
    if tasks.iter().any(|t| !t.deletes.is_empty()) {
        return Err(TableError::Invalid(format!(
            "table {} has row-level deletes (delete files), which Quarry cannot rewrite yet",
            table.identifier()
        )));
    }
    let live = live_data_files(table, snapshot).await?;
    Ok(tasks
        .into_iter()
        .filter_map(|task| {
            let file = live.get(&task.data_file_path)?.clone();
            Some((task.data_file_path, file))
        })
        .collect())
}

/// The paths of those of `files` whose every row `matched` (a filter over the table's
/// `schema`, as a physical expression) is true for, judged from their statistics.
/// Only filters that are true or false for every row (comparisons, `IN`, `BETWEEN`,
/// `IS NULL`, ... of columns and constants) can match files whole; `not_matched` is
/// the filter a row fails it by (`NOT matched OR` a column it reads `IS NULL`).
pub fn wholly_matched(
    files: &HashMap<String, DataFile>,
    iceberg_schema: &iceberg::spec::Schema,
    schema: &SchemaRef,
    not_matched: Arc<dyn PhysicalExpr>,
) -> Result<Vec<String>> {
    let paths: Vec<&String> = files.keys().collect();
    let statistics = paths
        .iter()
        .map(|path| Arc::new(file_statistics(&files[*path], iceberg_schema, schema)))
        .collect();
    let statistics = PrunableStatistics::new(statistics, Arc::clone(schema));
    let may_fail =
        PruningPredicate::try_new(not_matched, Arc::clone(schema))?.prune(&statistics)?;
    Ok(paths
        .into_iter()
        .zip(may_fail)
        .filter(|(_, may_fail)| !may_fail)
        .map(|(path, _)| path.clone())
        .collect())
}

/// Whether `filter` is true or false, never null, for rows whose columns it reads are
/// not null: built of comparisons, `IN` lists, `BETWEEN`, `LIKE`, `IS [NOT] NULL`,
/// `AND`, `OR` and `NOT` of columns and constants.
pub fn is_simple(filter: &Expr) -> bool {
    let mut simple = true;
    let _ = filter.apply(|e| {
        let ok = match e {
            Expr::Column(_) | Expr::Literal(..) | Expr::Not(_) | Expr::Between(_) => true,
            Expr::IsNull(_) | Expr::IsNotNull(_) | Expr::InList(_) | Expr::Like(_) => true,
            Expr::Cast(_) => true,
            Expr::BinaryExpr(b) => matches!(
                b.op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::And
                    | Operator::Or
            ),
            _ => false,
        };
        simple &= ok;
        Ok(match ok {
            true => TreeNodeRecursion::Continue,
            false => TreeNodeRecursion::Stop,
        })
    });
    simple
}

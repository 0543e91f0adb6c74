//! `OPTIMIZE TABLE`: compaction of small files, in Dremio's syntax:
//!
//! ```sql
//! OPTIMIZE TABLE silver.orders
//!   [REWRITE DATA [USING BIN_PACK]]
//!   [FOR PARTITIONS ordered_at >= '2026-11-01']
//!   [(TARGET_FILE_SIZE_MB = 256, MIN_FILE_SIZE_MB = 192, MAX_FILE_SIZE_MB = 460,
//!     MIN_INPUT_FILES = 5)]
//! ```
//!
//! `quarry_catalog::table::compact` chooses the files; the statement is then a write
//! whose job reads just those files and writes their rows again, one task per
//! partition, in target-sized files, committed as one `replace` snapshot
//! (`Commit::Compact`). It answers with the number of files rewritten and written.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::prelude::SessionContext;
use datafusion::sql::TableReference;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, ObjectName, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::compact::{self, Options};
use quarry_catalog::table::write::WriteSpec;

use crate::alter::{parse_option_list, parse_table_statement, parse_word, syntax};
use crate::error::QuarryError;
use crate::names;
use crate::planned::{Commit, REWRITTEN, WRITTEN, Write, insert_plan};
use crate::tokens::Tokenized;

/// `OPTIMIZE TABLE`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimize {
    pub table: ObjectName,
    pub partitions: Option<SqlExpr>,
    /// Option names in lower case.
    pub options: HashMap<String, u64>,
}

/// Reads `sql` if it is `OPTIMIZE TABLE`.
pub fn parse(sql: &Tokenized) -> Result<Option<Optimize>, QuarryError> {
    parse_table_statement(
        sql,
        &[Keyword::OPTIMIZE, Keyword::TABLE],
        "OPTIMIZE",
        |p, table| {
            if parse_word(p, "rewrite") {
                if parse_word(p, "manifests") {
                    return Err(QuarryError::unsupported(
                        "OPTIMIZE TABLE .. REWRITE MANIFESTS is not supported; \
                         REWRITE DATA compacts data files",
                    ));
                }
                if !p.parse_keyword(Keyword::DATA) {
                    return Err(expected(p, "DATA after REWRITE"));
                }
                if p.parse_keyword(Keyword::USING) && !parse_word(p, "bin_pack") {
                    return Err(expected(
                        p,
                        "BIN_PACK after USING (the only rewrite strategy)",
                    ));
                }
            }
            let partitions = match p.parse_keywords(&[Keyword::FOR, Keyword::PARTITIONS]) {
                true => Some(p.parse_expr().map_err(syntax)?),
                false => None,
            };
            let options = match p.consume_token(&Token::LParen) {
                true => parse_options(p)?,
                false => HashMap::new(),
            };
            Ok(Some(Optimize {
                table,
                partitions,
                options,
            }))
        },
    )
}

fn expected(p: &Parser, what: &str) -> QuarryError {
    QuarryError::syntax(format!(
        "expected {what}, found {}",
        p.peek_token_ref().token
    ))
}

/// `name = n, ...)`, after the opening parenthesis.
fn parse_options(p: &mut Parser) -> Result<HashMap<String, u64>, QuarryError> {
    parse_option_list(p, |p, name| {
        let value = match p.parse_value().map_err(syntax)?.value {
            Value::Number(n, _) => n.parse::<u64>().ok(),
            _ => None,
        };
        value.ok_or_else(|| {
            QuarryError::syntax(format!(
                "OPTIMIZE option {} takes a whole number",
                name.to_uppercase()
            ))
        })
    })
}

/// Plans `OPTIMIZE`: the write that compacts the files it chooses, or, when none need
/// it, a result that says so.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    optimize: Optimize,
) -> Result<Result<Write, LogicalPlan>, QuarryError> {
    let (reference, table) = names::load_named(ctx, store, optimize.table).await?;
    let options = Options::for_table(&table, &optimize.options)?;
    let filters = match optimize.partitions {
        Some(expr) => vec![filter(ctx, &table, &reference, expr)?],
        None => Vec::new(),
    };
    let Some(selection) = compact::select(&table, &filters, &options).await? else {
        return Ok(Err(summary(0, 0)?));
    };
    let rewritten = selection.files.len();
    let source = IcebergTable::files_of(
        table.clone(),
        selection.snapshot,
        Arc::new(selection.files.clone()),
    )?;
    let rows = LogicalPlanBuilder::scan(
        reference.clone(),
        provider_as_source(Arc::new(source)),
        None,
    )?
    .build()?;
    let mut spec = WriteSpec::for_table(&table);
    spec.target_file_size = options.target_file_size;
    // A compaction's point is one file per partition, whatever the table's
    // `write.distribution-mode` asks of its other writes.
    spec.distributed = true;
    let spec = Arc::new(spec);
    let target = IcebergTable::new(table.clone())?.for_write(Arc::clone(&spec));
    let plan = insert_plan(
        &reference,
        Arc::new(target),
        InsertOp::Append,
        Arc::new(rows),
    )?;
    let ident = table.identifier().clone();
    tracing::info!(table = %ident, files = rewritten, rows = selection.rows, "compacting");
    Ok(Ok(Write {
        plan,
        spec,
        commit: Commit::Compact {
            ident,
            uuid: table.metadata().uuid(),
            removed: selection.files,
        },
    }))
}

/// The result of `OPTIMIZE`: how many data files it rewrote and how many it wrote.
pub fn summary(rewritten: u64, written: u64) -> Result<LogicalPlan, QuarryError> {
    Ok(
        LogicalPlanBuilder::values(vec![vec![lit(rewritten), lit(written)]])?
            .project(vec![
                datafusion::prelude::col("column1").alias(REWRITTEN),
                datafusion::prelude::col("column2").alias(WRITTEN),
            ])?
            .build()?,
    )
}

/// `FOR PARTITIONS expr` as a filter over the table's columns, types coerced.
fn filter(
    ctx: &SessionContext,
    table: &iceberg::table::Table,
    reference: &TableReference,
    expr: SqlExpr,
) -> Result<datafusion::logical_expr::Expr, QuarryError> {
    let state = ctx.state();
    let provider = IcebergTable::new(table.clone())?;
    let scan = LogicalPlanBuilder::scan(
        reference.clone(),
        provider_as_source(Arc::new(provider)),
        None,
    )?
    .build()?;
    let schema = scan.schema().as_ref().clone();
    let expr = datafusion::sql::sqlparser::ast::ExprWithAlias { expr, alias: None };
    let predicate = state.create_logical_expr_from_sql_expr(expr, &schema)?;
    let filtered = LogicalPlanBuilder::from(scan).filter(predicate)?.build()?;
    let analyzed =
        state
            .analyzer()
            .execute_and_check(filtered, state.config_options(), |_, _| {})?;
    // Coercion casts columns (`CAST(k AS BIGINT) = 3`); simplified, the casts move to
    // the constants (`k = 3`), where Iceberg's pruning understands them.
    let simplifier = ExprSimplifier::new(
        SimplifyContext::default()
            .with_schema(Arc::new(schema))
            .with_config_options(Arc::new(state.config_options().as_ref().clone())),
    );
    match analyzed {
        LogicalPlan::Filter(filter) => Ok(unqualified(simplifier.simplify(filter.predicate)?)?),
        _ => Err(QuarryError::internal(
            "FOR PARTITIONS did not plan as a filter",
        )),
    }
}

/// `expr` with its columns named as the table names them.
fn unqualified(
    expr: datafusion::logical_expr::Expr,
) -> Result<datafusion::logical_expr::Expr, QuarryError> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::Expr;
    Ok(expr
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(
                datafusion::common::Column::new_unqualified(c.name),
            ))),
            e => Ok(Transformed::no(e)),
        })?
        .data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimize_parses_in_dremio_syntax() {
        let parsed = |sql| parse(&Tokenized::generic(sql)).unwrap().unwrap();
        let o = parsed("OPTIMIZE TABLE silver.t");
        assert_eq!(o.table.to_string(), "silver.t");
        assert!(o.partitions.is_none() && o.options.is_empty());
        let o = parsed(
            "optimize table t rewrite data using bin_pack for partitions day = 3 \
             (target_file_size_mb = 64, MIN_INPUT_FILES = 2);",
        );
        assert_eq!(o.partitions.unwrap().to_string(), "day = 3");
        assert_eq!(o.options["target_file_size_mb"], 64);
        assert_eq!(o.options["min_input_files"], 2);
        let err = |sql| parse(&Tokenized::generic(sql)).unwrap_err().to_string();
        assert!(err("OPTIMIZE TABLE t REWRITE MANIFESTS").contains("not supported"));
        assert!(err("OPTIMIZE TABLE t REWRITE DATA USING SORT").contains("BIN_PACK"));
        assert!(err("OPTIMIZE TABLE t (MIN_INPUT_FILES = 'x')").contains("whole number"));
        assert!(parse(&Tokenized::generic("SELECT 1")).unwrap().is_none());
    }
}

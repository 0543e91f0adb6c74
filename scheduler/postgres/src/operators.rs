//! `OPERATOR(pg_catalog.~)`: operators qualified with their schema, as psql writes its
//! pattern matches (`\dt`, `\d name`). An expression planner on PostgreSQL sessions plans
//! them as the operators they name.

use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans `a OPERATOR(schema.op) b` as `a op b`.
#[derive(Debug)]
pub struct QualifiedOperators;

impl ExprPlanner for QualifiedOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let BinaryOperator::PGCustomBinaryOperator(parts) = &expr.op else {
            return Ok(PlannerResult::Original(expr));
        };
        let Some(op) = parts.last().and_then(|op| operator(op)) else {
            return Ok(PlannerResult::Original(expr));
        };
        Ok(PlannerResult::Planned(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(expr.left),
            op,
            Box::new(expr.right),
        ))))
    }
}

/// The operator `OPERATOR(pg_catalog.op)` names.
fn operator(op: &str) -> Option<Operator> {
    Some(match op {
        "~" => Operator::RegexMatch,
        "~*" => Operator::RegexIMatch,
        "!~" => Operator::RegexNotMatch,
        "!~*" => Operator::RegexNotIMatch,
        "~~" => Operator::LikeMatch,
        "~~*" => Operator::ILikeMatch,
        "!~~" => Operator::NotLikeMatch,
        "!~~*" => Operator::NotILikeMatch,
        "=" => Operator::Eq,
        "<>" => Operator::NotEq,
        "<" => Operator::Lt,
        ">" => Operator::Gt,
        "<=" => Operator::LtEq,
        ">=" => Operator::GtEq,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::execution::FunctionRegistry;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    #[tokio::test]
    async fn qualified_operators_are_planned_as_the_operators_they_name() {
        let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "postgresql");
        let mut state = SessionContext::new_with_config(config).state();
        state
            .register_expr_planner(Arc::new(QualifiedOperators))
            .unwrap();
        let ctx = SessionContext::new_with_state(state);
        let batches = ctx
            .sql(
                "SELECT 'pg_class' OPERATOR(pg_catalog.~) '^(pg_class)$' AS a, \
                 'x' OPERATOR(pg_catalog.<>) 'x' AS b",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| true | false |"), "{text}");
        let err = ctx
            .sql("SELECT 1 OPERATOR(pg_catalog.@@) 2")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("@@"), "{err}");
    }
}

//! `ORDER BY` an expression with a subquery (Grafana's table list sorts the tables of the
//! search path first with `CASE WHEN quote_ident(table_schema) IN (SELECT ..) ..`), which
//! PostgreSQL runs and DataFusion plans only in a projection: the expression becomes a
//! column of the query, which a query around it sorts by and leaves out.
//!
//! ```sql
//! SELECT a FROM t ORDER BY (x IN (SELECT ..)), 1
//! -- becomes
//! SELECT "a" FROM (SELECT a, (x IN (SELECT ..)) AS __quarry_sort_1 FROM t) AS __quarry_sorted
//! ORDER BY __quarry_sort_1, "a"
//! ```
//!
//! The other sort keys must be result columns, by position or by name.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, OrderBy, OrderByExpr, OrderByKind, Query, SelectItem, SetExpr, TableAlias,
    TableFactor, Value, visit_expressions,
};

use super::ast;
use super::column_names::column_name;

/// `query` sorted by its subquery expressions through a query around it, or `None`
/// when its `ORDER BY` has no subquery or cannot be moved out.
pub fn sort_outside(query: &Query) -> Option<Query> {
    let order_by = query.order_by.as_ref()?;
    let OrderByKind::Expressions(items) = &order_by.kind else {
        return None;
    };
    if !items.iter().any(|item| has_subquery(&item.expr)) {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let names: Vec<String> = select
        .projection
        .iter()
        .map(column_name)
        .collect::<Option<_>>()?;
    let quoted = |name: &str| Expr::Identifier(Ident::with_quote('"', name));
    let mut inner = query.clone();
    inner.order_by = None;
    inner.limit_clause = None;
    let SetExpr::Select(inner_select) = inner.body.as_mut() else {
        return None;
    };
    let mut keys = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = match &item.expr {
            expr if has_subquery(expr) => {
                let alias = Ident::new(format!("__quarry_sort_{}", i + 1));
                inner_select.projection.push(SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: alias.clone(),
                });
                Expr::Identifier(alias)
            }
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => quoted(names.get(n.parse::<usize>().ok()?.checked_sub(1)?)?),
                _ => return None,
            },
            Expr::Identifier(ident) if names.contains(&ident.value) => quoted(&ident.value),
            _ => return None,
        };
        keys.push(OrderByExpr {
            expr: key,
            options: item.options,
            with_fill: None,
        });
    }
    let columns = names
        .iter()
        .map(|n| SelectItem::UnnamedExpr(quoted(n)))
        .collect();
    let sorted = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(inner),
        alias: Some(TableAlias {
            explicit: true,
            name: Ident::new("__quarry_sorted"),
            columns: vec![],
        }),
        sample: None,
    };
    let mut outer = ast::select(columns, Some(sorted), None);
    outer.order_by = Some(OrderBy {
        kind: OrderByKind::Expressions(keys),
        interpolate: None,
    });
    outer.limit_clause = query.limit_clause.clone();
    Some(outer)
}

fn has_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e: &Expr| match e {
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn sorted(sql: &str) -> Option<String> {
        let query = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_query())
            .unwrap();
        sort_outside(&query).map(|q| q.to_string())
    }

    #[test]
    fn subqueries_in_order_by_move_into_the_columns() {
        assert_eq!(
            sorted(
                "SELECT table_name AS t FROM tables \
                 ORDER BY CASE WHEN s IN (SELECT x FROM y) THEN 0 ELSE 1 END, 1 DESC LIMIT 5"
            )
            .unwrap(),
            "SELECT \"t\" FROM (SELECT table_name AS t, CASE WHEN s IN (SELECT x FROM y) \
             THEN 0 ELSE 1 END AS __quarry_sort_1 FROM tables) AS __quarry_sorted \
             ORDER BY __quarry_sort_1, \"t\" DESC LIMIT 5"
        );
        assert_eq!(sorted("SELECT a FROM t ORDER BY 1"), None);
        assert_eq!(
            sorted("SELECT a FROM t ORDER BY b IN (SELECT 1), c"),
            None,
            "c is not a result column"
        );
    }
}

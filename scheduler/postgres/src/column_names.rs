//! The names PostgreSQL gives result columns the query leaves unnamed: a function call
//! is named after the function (`SELECT count(*)` gives `count`, `version()` gives
//! `version`), a cast after what it casts, a scalar subquery after its column, `CASE`
//! `case`, and any other expression `?column?`.
//! DataFusion would name them after the whole expression (`count(*)`, `Int64(1)`), and
//! drivers that read columns by name (`rs.getLong("count")`) expect PostgreSQL's.

use datafusion::sql::sqlparser::ast::{Expr, Ident, ObjectNamePart, Select, SelectItem, SetExpr};

/// What PostgreSQL calls an expression with no alias.
const UNNAMED: &str = "?column?";

/// Aliases the unnamed expressions of `select` as PostgreSQL names them; says whether
/// anything changed. Names that would repeat are left to DataFusion, which wants each
/// name once, and so is a list with a wildcard, whose names are not known here.
pub fn name_columns(select: &mut Select) -> bool {
    if select.projection.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return false;
    }
    let names: Vec<Option<String>> = select.projection.iter().map(column_name).collect();
    let mut changed = false;
    for (item, name) in select.projection.iter_mut().zip(&names) {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let Some(name) = name else { continue };
        let unique = names.iter().filter(|n| n.as_ref() == Some(name)).count() == 1;
        if unique && !is_column(expr) {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', name),
            };
            changed = true;
        }
    }
    changed
}

/// The name PostgreSQL gives the column `item` selects.
pub fn column_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        SelectItem::UnnamedExpr(expr) => Some(expression_name(expr)),
        _ => None,
    }
}

fn expression_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(|p| p.value.clone())
            .unwrap_or_else(|| UNNAMED.to_string()),
        Expr::Function(function) => match function.name.0.last() {
            Some(ObjectNamePart::Identifier(ident)) => ident.value.to_lowercase(),
            _ => UNNAMED.to_string(),
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => expression_name(expr),
        Expr::Subquery(query) => match query.body.as_ref() {
            SetExpr::Select(select) if select.projection.len() == 1 => {
                column_name(&select.projection[0]).unwrap_or_else(|| UNNAMED.to_string())
            }
            _ => UNNAMED.to_string(),
        },
        Expr::Case { .. } => "case".to_string(),
        Expr::Exists { .. } => "exists".to_string(),
        Expr::Array(_) => "array".to_string(),
        _ => UNNAMED.to_string(),
    }
}

fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn named(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let Statement::Query(query) = &mut statements[0] else {
            panic!("not a query: {sql}")
        };
        let SetExpr::Select(select) = query.body.as_mut() else {
            panic!("not a select: {sql}")
        };
        name_columns(select);
        statements[0].to_string()
    }

    #[test]
    fn unnamed_columns_get_postgres_names() {
        assert_eq!(
            named("SELECT version(), count(*), a, t.b, 1 + 2, CAST(a AS int) FROM t"),
            "SELECT version() AS \"version\", count(*) AS \"count\", a, t.b, \
             1 + 2 AS \"?column?\", CAST(a AS INT) FROM t"
        );
        // Two columns would both be `count`, and a wildcard may hold one too.
        assert_eq!(
            named("SELECT (SELECT max(b) AS top FROM u), CASE WHEN a THEN 1 END FROM t"),
            "SELECT (SELECT max(b) AS top FROM u) AS \"top\", \
             CASE WHEN a THEN 1 END AS \"case\" FROM t"
        );
        assert_eq!(
            named("SELECT count(a), count(b) FROM t"),
            "SELECT count(a), count(b) FROM t"
        );
        assert_eq!(named("SELECT *, max(a) FROM t"), "SELECT *, max(a) FROM t");
    }
}

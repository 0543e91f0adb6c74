//! PostgreSQL spellings DataFusion does not plan, rewritten before a query is planned.
//! Drivers and psql send these in their catalog queries:
//!
//! - unqualified `pg_class` and friends mean `pg_catalog.pg_class`;
//! - `pg_catalog.format_type(...)`: functions qualified with `pg_catalog`;
//! - `x COLLATE pg_catalog.default`: collations (Quarry compares strings by bytes);
//! - `'gold.sales'::regclass`, `'int4'::regtype`: object names as object ids;
//! - `ARRAY(SELECT x FROM ...)` is `(SELECT array_agg(x) FROM ...)`;
//! - `SELECT n.oid, n.*`: PostgreSQL returns `oid` twice, DataFusion wants names once,
//!   so the wildcard leaves out what is listed (`n.* EXCLUDE (oid)`);
//! - `pg_catalog.pg_get_keywords()`: table functions qualified with `pg_catalog`;
//! - `'{a,b}'::text[]`: array literals as strings; `x <> ALL (array)`;
//! - in queries of `pg_catalog`, a scalar subquery that picks one column of at most one
//!   row, `(SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid = a.attrelid)`: DataFusion
//!   plans a correlated one only when it aggregates, so it becomes `max(d.adbin)`; one
//!   that reads a catalog Quarry keeps empty (`pg_attrdef`, `pg_inherits`, ...) is `NULL`,
//!   and a whole query that does (psql's `\d` asks for policies, publications, ...)
//!   becomes one that returns the same columns and no rows.
//!
//! - unnamed result columns get PostgreSQL's names ([`super::column_names`]);
//! - `ORDER BY` an expression with a subquery sorts in a query around it
//!   ([`super::order_by`]);
//!
//! Three spellings are planned by DataFusion's own hooks on PostgreSQL sessions instead:
//! `information_schema.columns` with PostgreSQL's types, a relation planner
//! ([`super::information_schema`]); `OPERATOR(pg_catalog.~)`, an expression planner
//! ([`super::operators`]); `::oid`, `::name` and other type names, a type planner
//! ([`super::type_names`]).
//!
//! Only queries are rewritten, in place: the syntax tree the query service plans is the
//! one parsed from the client's text, changed; no SQL is printed and parsed again.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Array, BinaryOperator, CastKind, DataType, ExcludeSelectItem, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, JoinOperator, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement,
    TableAliasColumnDef, TableFactor, Value, VisitMut, VisitorMut, visit_expressions,
    visit_expressions_mut, visit_relations_mut,
};

use super::ast;
use super::column_names::{column_name, name_columns};
use super::order_by::sort_outside;
use super::pg_catalog::{
    PG_CATALOG, is_catalog_table, is_empty_catalog_table, namespace_oid, regclass_oid,
};
use super::types::type_oid;

/// Rewrites `statement` for DataFusion in place, with unqualified names resolved in
/// `schema`; says whether anything changed. Only queries are rewritten.
pub fn rewrite(statement: &mut DFStatement, schema: &str) -> bool {
    let DFStatement::Statement(statement) = statement else {
        return false;
    };
    let statement = statement.as_mut();
    if !matches!(statement, Statement::Query(_)) {
        return false;
    }
    let (mut changed, mut reads_catalog) = (false, false);
    let _ = visit_relations_mut(statement, |name: &mut ObjectName| {
        match name.0.as_slice() {
            [ObjectNamePart::Identifier(table)] if is_catalog_table(&table.value) => {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new(PG_CATALOG)));
                (changed, reads_catalog) = (true, true);
            }
            [
                ObjectNamePart::Identifier(schema),
                ObjectNamePart::Identifier(f),
            ] if schema.value == PG_CATALOG && !is_catalog_table(&f.value) => {
                name.0.remove(0);
                changed = true;
            }
            [ObjectNamePart::Identifier(schema), _] if schema.value == PG_CATALOG => {
                reads_catalog = true;
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    let mut unique = UniqueColumns { changed: false };
    let _ = statement.visit(&mut unique);
    changed |= unique.changed;
    let mut functions = FunctionsInFrom { changed: false };
    let _ = statement.visit(&mut functions);
    changed |= functions.changed;
    if let Statement::Query(query) = statement
        && let SetExpr::Select(select) = query.body.as_mut()
    {
        changed |= name_columns(select);
    }
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        changed |= rewrite_expr(expr, schema);
        if reads_catalog {
            changed |= empty_scalar_subquery(expr) || aggregate_scalar_subquery(expr, "max");
        }
        ControlFlow::<()>::Continue(())
    });
    if reads_catalog
        && let Statement::Query(query) = statement
        && let Some(columns) = no_rows(&query.body)
    {
        // The parameters stay, for the values the client binds.
        let mut filter = Expr::value(Value::Boolean(false));
        let mut parameters = Vec::new();
        let _ = visit_expressions(query.as_ref(), |expr: &Expr| {
            if let Expr::Value(v) = expr
                && let Value::Placeholder(p) = &v.value
                && !parameters.contains(p)
            {
                parameters.push(p.clone());
                filter = Expr::BinaryOp {
                    left: Box::new(filter.clone()),
                    op: BinaryOperator::And,
                    right: Box::new(Expr::IsNull(Box::new(expr.clone()))),
                };
            }
            ControlFlow::<()>::Continue(())
        });
        **query = ast::select(columns, None, Some(filter));
        return true;
    }
    if let Statement::Query(query) = statement
        && let Some(sorted) = sort_outside(query)
    {
        **query = sorted;
        changed = true;
    }
    let mut in_columns = InSubqueriesInColumns { changed: false };
    let _ = statement.visit(&mut in_columns);
    changed |= in_columns.changed;
    changed
}

/// `x IN (SELECT y ..)` in a result column, which DataFusion plans only in a filter,
/// becomes `array_has((SELECT array_agg(y) ..), x)`: a scalar subquery, which it
/// plans anywhere. (Where the subquery finds NULLs and no match, PostgreSQL says NULL
/// and this says false.)
struct InSubqueriesInColumns {
    changed: bool,
}

impl VisitorMut for InSubqueriesInColumns {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        for item in select.projection.iter_mut() {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
            else {
                continue;
            };
            let _ = visit_expressions_mut(expr, |e: &mut Expr| {
                let Expr::InSubquery {
                    expr: needle,
                    subquery,
                    negated,
                } = e
                else {
                    return ControlFlow::<()>::Continue(());
                };
                let mut values = Expr::Subquery(subquery.clone());
                if !aggregate_scalar_subquery(&mut values, "array_agg") {
                    return ControlFlow::Continue(());
                }
                let has = ast::call("array_has", vec![values, (**needle).clone()]);
                *e = if *negated { ast::not(has) } else { has };
                self.changed = true;
                ControlFlow::Continue(())
            });
        }
        ControlFlow::Continue(())
    }
}

/// Leaves out of `q.*` the columns of `q` listed next to it.
struct UniqueColumns {
    changed: bool,
}

impl VisitorMut for UniqueColumns {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            let listed: Vec<(String, Ident)> = select
                .projection
                .iter()
                .filter_map(|item| match item {
                    SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts))
                        if parts.len() == 2 =>
                    {
                        Some((parts[0].value.clone(), parts[1].clone()))
                    }
                    _ => None,
                })
                .collect();
            for item in select.projection.iter_mut() {
                if let SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    options,
                ) = item
                {
                    let qualifier = last_part(name);
                    let columns: Vec<Ident> = listed
                        .iter()
                        .filter(|(q, _)| *q == qualifier)
                        .map(|(_, c)| c.clone())
                        .collect();
                    if !columns.is_empty() && options.opt_exclude.is_none() {
                        options.opt_exclude = Some(ExcludeSelectItem::Multiple(columns));
                        self.changed = true;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Functions in `FROM`, read as PostgreSQL reads them ([`functions_in_from`]).
struct FunctionsInFrom {
    changed: bool,
}

impl VisitorMut for FunctionsInFrom {
    type Break = ();

    /// After the factor's own parts are visited, so what is put in is not visited.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        self.changed |= functions_in_from(factor);
        ControlFlow::Continue(())
    }
}

/// Functions in `FROM` as PostgreSQL reads them (Grafana's and DBeaver's queries): the
/// column of a one-column set function is named after its alias, `generate_series(1, 3)
/// AS i`; a scalar function is one row, `string_to_array(current_setting('x'), ',') s`.
fn functions_in_from(factor: &mut TableFactor) -> bool {
    let TableFactor::Table {
        name,
        args: Some(args),
        alias: Some(alias),
        ..
    } = factor
    else {
        return false;
    };
    if !alias.columns.is_empty() {
        return false;
    }
    match last_part(name).to_ascii_lowercase().as_str() {
        // DataFusion's table function takes literals only: other bounds (Grafana's
        // `array_upper(string_to_array(current_setting(..), ','), 1)`) go through the
        // scalar function, whose list is unnested.
        "generate_series" if !args.args.iter().all(is_literal_argument) => {
            let series = ast::call_with(name.clone(), args.args.clone());
            let mut alias = alias.clone();
            alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            *factor = TableFactor::UNNEST {
                alias: Some(alias),
                array_exprs: vec![series],
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: false,
            };
            true
        }
        "generate_series" | "unnest" => {
            alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            true
        }
        "string_to_array" | "current_schemas" | "parse_ident" | "regexp_split_to_array" => {
            let column = SelectItem::ExprWithAlias {
                expr: ast::call_with(name.clone(), args.args.clone()),
                alias: alias.name.clone(),
            };
            *factor = TableFactor::Derived {
                lateral: false,
                subquery: Box::new(ast::select(vec![column], None, None)),
                alias: Some(alias.clone()),
                sample: None,
            };
            true
        }
        _ => false,
    }
}

/// For a query whose every branch reads an empty catalog: the same columns, as `NULL`s,
/// for a query with no rows.
fn no_rows(body: &SetExpr) -> Option<Vec<SelectItem>> {
    let select = match body {
        SetExpr::Select(select) if reads_empty_catalog(select) => select,
        SetExpr::SetOperation { left, right, .. } => {
            no_rows(right)?;
            return no_rows(left);
        }
        _ => return None,
    };
    let names: Vec<Option<String>> = select.projection.iter().map(column_name).collect();
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let repeated = names.iter().filter(|n| *n == name).count() > 1;
            match name {
                Some(name) if !repeated => ast::named(ast::null(), name),
                _ => ast::named(ast::null(), &format!("column{}", i + 1)),
            }
        })
        .collect();
    Some(columns)
}

/// Whether `select` reads a catalog Quarry keeps empty, joined so that no row results.
fn reads_empty_catalog(select: &Select) -> bool {
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => is_empty_catalog_table(&last_part(name)),
        // A subquery of an empty catalog: SQLAlchemy's primary keys, from `pg_index`.
        TableFactor::Derived { subquery, .. } => {
            matches!(subquery.body.as_ref(), SetExpr::Select(inner) if reads_empty_catalog(inner))
        }
        _ => false,
    };
    select.from.iter().any(|from| {
        empty(&from.relation)
            || from.joins.iter().any(|join| {
                matches!(
                    join.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                ) && empty(&join.relation)
            })
    })
}

/// Rewrites one expression in place; says whether it changed.
fn rewrite_expr(expr: &mut Expr, schema: &str) -> bool {
    match expr {
        Expr::Function(function) => {
            if let FunctionArguments::Subquery(query) = &function.args
                && last_part(&function.name).eq_ignore_ascii_case("array")
            {
                *expr = Expr::Subquery(query.clone());
                return aggregate_scalar_subquery(expr, "array_agg");
            }
            strip_pg_catalog(&mut function.name)
        }
        Expr::AllOp {
            left,
            compare_op: BinaryOperator::NotEq,
            right,
        } if !matches!(right.as_ref(), Expr::Subquery(_)) => {
            let right = array_literal(right).unwrap_or_else(|| (**right).clone());
            *expr = ast::not(ast::call("array_has", vec![right, (**left).clone()]));
            true
        }
        Expr::Cast {
            expr: inner,
            data_type: DataType::Array(_),
            ..
        } => match array_literal(inner) {
            Some(array) => {
                *expr = array;
                true
            }
            None => false,
        },
        // `c = ANY('{r,p}')`: the string is an array literal.
        Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => match array_literal(right) {
            Some(array) => {
                **right = array;
                true
            }
            None => false,
        },
        Expr::Collate { expr: inner, .. } => {
            *expr = (**inner).clone();
            true
        }
        Expr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr: inner,
            data_type,
            ..
        } => {
            let type_name = match data_type {
                DataType::Custom(name, _) => last_part(name).to_ascii_lowercase(),
                DataType::Regclass => "regclass".to_string(),
                _ => return false,
            };
            match (type_name.as_str(), literal(inner)) {
                ("regclass", Some(text)) => {
                    *expr = number(regclass_oid(&text, schema));
                    true
                }
                // A name computed by the query: looked up when it runs.
                ("regclass", None) => {
                    *expr = ast::call("to_regclass", vec![(**inner).clone()]);
                    true
                }
                ("regtype", Some(text)) => {
                    *expr = number(type_oid(&text).unwrap_or(0));
                    true
                }
                ("regnamespace", Some(text)) => {
                    *expr = number(namespace_oid(&text));
                    true
                }
                // Functions are named, not numbered, in `pg_type.typinput` and its kin.
                ("regproc", Some(text)) => {
                    let name = text.strip_prefix("pg_catalog.").unwrap_or(&text);
                    *expr = Expr::value(Value::SingleQuotedString(name.to_string()));
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// A scalar subquery whose rows come from an empty catalog becomes `NULL`.
fn empty_scalar_subquery(expr: &mut Expr) -> bool {
    let Expr::Subquery(query) = expr else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let reads_nothing = reads_empty_catalog(select);
    if reads_nothing {
        *expr = Expr::value(Value::Null);
    }
    reads_nothing
}

/// `(SELECT x FROM ... WHERE ...)` becomes `(SELECT aggregate(x) FROM ... WHERE ...)`.
fn aggregate_scalar_subquery(expr: &mut Expr, aggregate: &str) -> bool {
    let Expr::Subquery(query) = expr else {
        return false;
    };
    if query.limit_clause.is_some() {
        return false;
    }
    query.order_by = None;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    let no_grouping = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    let [item] = select.projection.as_mut_slice() else {
        return false;
    };
    let column = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return false,
    };
    let aggregated = matches!(column, Expr::Function(f) if AGGREGATES.contains(&last_part(&f.name).to_ascii_lowercase().as_str()));
    if !no_grouping || aggregated {
        return false;
    }
    *column = ast::call(aggregate, vec![column.clone()]);
    true
}

/// Aggregate functions a scalar subquery may already use.
const AGGREGATES: [&str; 10] = [
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
];

/// `pg_catalog.f` becomes `f`.
fn strip_pg_catalog(name: &mut ObjectName) -> bool {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(schema), _] if schema.value == PG_CATALOG => {
            name.0.remove(0);
            true
        }
        _ => false,
    }
}

fn last_part(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
        _ => String::new(),
    }
}

/// The array a string literal `'{a,b}'` spells, as an `ARRAY[..]` of strings.
fn array_literal(expr: &Expr) -> Option<Expr> {
    let text = literal(expr).filter(|t| t.starts_with('{') && t.ends_with('}'))?;
    let elements = text[1..text.len() - 1]
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| Expr::value(Value::SingleQuotedString(e.trim_matches('"').to_string())))
        .collect();
    Some(Expr::Array(Array {
        elem: elements,
        named: true,
    }))
}

/// Whether a function's argument is a literal (a number maybe with a sign, a string).
fn is_literal_argument(argument: &FunctionArg) -> bool {
    match argument {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => match expr {
            Expr::Value(_) => true,
            Expr::UnaryOp { expr, .. } => matches!(expr.as_ref(), Expr::Value(_)),
            _ => false,
        },
        _ => false,
    }
}

/// The text of a string literal.
fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn number(n: u32) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    use super::*;
    use crate::pg_catalog::relation_oid;

    /// `sql` rewritten, printed; `None` when nothing changed (or it does not parse).
    fn rewritten(sql: &str, schema: &str) -> Option<String> {
        let mut statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).ok()?;
        let statement = statements.front_mut()?;
        rewrite(statement, schema).then(|| statement.to_string())
    }

    #[test]
    fn catalog_queries_become_datafusion_sql() {
        let sql = "SELECT c.relname FROM pg_class c JOIN pg_catalog.pg_namespace n \
                   ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' \
                   COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) \
                   AND c.oid = 'pg_class'::regclass AND c.oid::pg_catalog.text <> ''";
        let rewritten = rewritten(sql, "public").unwrap();
        let oid = relation_oid(PG_CATALOG, "pg_class");
        assert_eq!(
            rewritten,
            format!(
                "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
                 ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' \
                 AND pg_table_is_visible(c.oid) AND c.oid = {oid} AND c.oid::pg_catalog.text <> ''"
            )
        );
    }

    #[test]
    fn catalog_subqueries_pick_their_one_row_with_an_aggregate() {
        let sql = "SELECT a.attname, (SELECT d.adbin FROM pg_catalog.pg_attrdef d \
                   WHERE d.adrelid = a.attrelid) AS def FROM pg_catalog.pg_attribute a";
        assert!(
            rewritten(sql, "public")
                .unwrap()
                .contains(", NULL AS def FROM")
        );
        let sql = "SELECT a.attname, (SELECT t.typname FROM pg_catalog.pg_type t \
                   WHERE t.oid = a.atttypid) AS type FROM pg_catalog.pg_attribute a";
        assert!(
            rewritten(sql, "public")
                .unwrap()
                .contains("(SELECT max(t.typname) FROM")
        );
        // Not in queries of other tables.
        assert_eq!(
            rewritten("SELECT (SELECT b FROM u) FROM t", "public").unwrap(),
            "SELECT (SELECT b FROM u) AS \"b\" FROM t"
        );
    }

    #[test]
    fn array_subqueries_aggregate() {
        let sql = "SELECT array(SELECT rolname FROM pg_roles ORDER BY 1)";
        assert_eq!(
            rewritten(sql, "public").unwrap(),
            "SELECT (SELECT array_agg(rolname) FROM pg_catalog.pg_roles) AS \"array\""
        );
    }

    #[test]
    fn queries_of_empty_catalogs_keep_their_columns() {
        let sql = "SELECT pol.polname, pol.polroles = '{0}' AS everyone \
                   FROM pg_catalog.pg_policy pol WHERE pol.polrelid = '1' ORDER BY 1";
        assert_eq!(
            rewritten(sql, "public").unwrap(),
            "SELECT NULL AS \"polname\", NULL AS \"everyone\" WHERE false"
        );
        let sql = "SELECT pg_get_expr(a, b), pg_get_expr(c, d) FROM pg_catalog.pg_policy";
        assert_eq!(
            rewritten(sql, "public").unwrap(),
            "SELECT NULL AS \"column1\", NULL AS \"column2\" WHERE false"
        );
    }

    #[test]
    fn listed_columns_are_not_repeated_by_wildcards() {
        let sql = "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n \
                   LEFT JOIN pg_catalog.pg_description d ON d.objoid = n.oid";
        assert!(
            rewritten(sql, "public")
                .unwrap()
                .starts_with("SELECT n.oid, n.* EXCLUDE (oid), d.description FROM")
        );
        let sql = "SELECT string_agg(word, ',') FROM pg_catalog.pg_get_keywords() \
                   WHERE word <> ALL ('{a,abs}'::text[])";
        assert_eq!(
            rewritten(sql, "public").unwrap(),
            "SELECT string_agg(word, ',') AS \"string_agg\" FROM pg_get_keywords() \
             WHERE NOT array_has(ARRAY['a', 'abs'], word)"
        );
    }

    #[test]
    fn plain_statements_are_left_alone() {
        assert_eq!(
            rewritten("SELECT a FROM gold.t WHERE a = $1", "public"),
            None
        );
        assert_eq!(rewritten("CREATE TABLE t AS SELECT 1", "public"), None);
        assert_eq!(rewritten("not sql at all", "public"), None);
    }
}

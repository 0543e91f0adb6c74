//! Parts of syntax trees the door's rewrites put into a client's statement: function
//! calls, a query of given columns, an empty query. The statement is changed in place
//! and these build the new parts, so no SQL is printed and parsed again.

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr,
    Ident, ObjectName, Query, Select, SelectFlavor, SelectItem, SetExpr, TableFactor,
    TableWithJoins, UnaryOperator, Value,
};

/// `name(args)`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
    call_with(
        ObjectName::from(vec![Ident::new(name)]),
        args.into_iter()
            .map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)))
            .collect(),
    )
}

/// `name(args)`, with arguments as the client wrote them.
pub fn call_with(name: ObjectName, args: Vec<FunctionArg>) -> Expr {
    Expr::Function(datafusion::sql::sqlparser::ast::Function {
        name,
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `NOT expr`.
pub fn not(expr: Expr) -> Expr {
    Expr::UnaryOp {
        op: UnaryOperator::Not,
        expr: Box::new(expr),
    }
}

/// `SELECT columns [FROM from] [WHERE filter]`.
pub fn select(columns: Vec<SelectItem>, from: Option<TableFactor>, filter: Option<Expr>) -> Query {
    let select = Select {
        select_token: AttachedToken::empty(),
        optimizer_hint: None,
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection: columns,
        exclude: None,
        into: None,
        from: from
            .into_iter()
            .map(|relation| TableWithJoins {
                relation,
                joins: vec![],
            })
            .collect(),
        lateral_views: vec![],
        prewhere: None,
        selection: filter,
        connect_by: vec![],
        group_by: GroupByExpr::Expressions(vec![], vec![]),
        cluster_by: vec![],
        distribute_by: vec![],
        sort_by: vec![],
        having: None,
        named_window: vec![],
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    };
    Query {
        with: None,
        body: Box::new(SetExpr::Select(Box::new(select))),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }
}

/// `expr AS "name"`.
pub fn named(expr: Expr, name: &str) -> SelectItem {
    SelectItem::ExprWithAlias {
        expr,
        alias: Ident::with_quote('"', name),
    }
}

/// `NULL`.
pub fn null() -> Expr {
    Expr::value(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_print_as_sql() {
        let has = not(call(
            "array_has",
            vec![null(), Expr::value(Value::Boolean(true))],
        ));
        assert_eq!(has.to_string(), "NOT array_has(NULL, true)");
        let query = select(
            vec![named(null(), "a b")],
            None,
            Some(Expr::value(Value::Boolean(false))),
        );
        assert_eq!(query.to_string(), "SELECT NULL AS \"a b\" WHERE false");
    }
}

//! PostgreSQL's `UPDATE t SET c = s.x FROM s WHERE ..`, which dbt's snapshots send, as
//! the `MERGE` it means: `MERGE INTO t USING s ON <where> WHEN MATCHED THEN UPDATE SET
//! c = s.x`. One difference: a row of `t` that the `WHERE` pairs with two rows of `s`
//! fails the statement, where PostgreSQL would pick one of them.

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    Expr, Merge, MergeAction, MergeClause, MergeClauseKind, MergeUpdateExpr, TableWithJoins,
    Update, UpdateTableFromKind, Value,
};

use crate::error::QuarryError;

/// The `MERGE` of an `UPDATE .. FROM`; `None` for an `UPDATE` without `FROM`.
pub fn as_merge(update: &Update) -> Result<Option<Merge>, QuarryError> {
    let (UpdateTableFromKind::AfterSet(from) | UpdateTableFromKind::BeforeSet(from)) =
        match &update.from {
            Some(from) => from,
            None => return Ok(None),
        };
    let unsupported = |what: &str| {
        Err(QuarryError::unsupported(format!(
            "UPDATE ... FROM {what} is not supported: name one table or subquery after FROM \
             (join inside a subquery), or use MERGE"
        )))
    };
    let source = match from.as_slice() {
        [TableWithJoins { relation, joins }] if joins.is_empty() => relation.clone(),
        [_] => return unsupported("with a JOIN"),
        _ => return unsupported("with several tables"),
    };
    if !update.table.joins.is_empty() {
        return unsupported("on a join");
    }
    if update.returning.is_some() || update.limit.is_some() || update.or.is_some() {
        return unsupported("with RETURNING, LIMIT or OR");
    }
    let on = update
        .selection
        .clone()
        .unwrap_or(Expr::Value(Value::Boolean(true).into()));
    Ok(Some(Merge {
        merge_token: AttachedToken::empty(),
        optimizer_hint: None,
        into: true,
        table: update.table.relation.clone(),
        source,
        on: Box::new(on),
        clauses: vec![MergeClause {
            when_token: AttachedToken::empty(),
            clause_kind: MergeClauseKind::Matched,
            predicate: None,
            action: MergeAction::Update(MergeUpdateExpr {
                update_token: AttachedToken::empty(),
                assignments: update.assignments.clone(),
                update_predicate: None,
                delete_predicate: None,
            }),
        }],
        output: None,
    }))
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn update(sql: &str) -> Update {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
        {
            Statement::Update(update) => update,
            other => panic!("not an UPDATE: {other}"),
        }
    }

    #[test]
    fn an_update_from_is_the_merge_it_means() {
        let merge = as_merge(&update(
            "update s.t set v = src.v from tmp as src where src.id = s.t.id and s.t.v is null",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            merge.to_string(),
            "MERGE INTO s.t USING tmp AS src ON src.id = s.t.id AND s.t.v IS NULL \
             WHEN MATCHED THEN UPDATE SET v = src.v"
        );
        assert!(as_merge(&update("update t set v = 1")).unwrap().is_none());
        let error = as_merge(&update("update t set v = a.v from a join b on a.x = b.x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("with a JOIN"), "{error}");
    }
}

//! Statements that DataFusion plans only in another spelling, rewritten on their tree
//! before they are planned:
//!
//! - `WITH c AS (..) INSERT INTO t SELECT .. FROM c` (PostgreSQL's order) is
//!   `INSERT INTO t WITH c AS (..) SELECT .. FROM c`: the common table expressions go to
//!   the query that inserts, ahead of any it has.

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};

/// `statement` in the spelling DataFusion plans.
pub fn normalize(statement: &mut DFStatement) {
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    let Statement::Query(query) = statement.as_ref() else {
        return;
    };
    let (Some(with), SetExpr::Insert(Statement::Insert(insert))) =
        (&query.with, query.body.as_ref())
    else {
        return;
    };
    let mut insert = insert.clone();
    let Some(source) = insert.source.as_mut() else {
        return;
    };
    let mut with = with.clone();
    if let Some(inner) = source.with.take() {
        with.cte_tables.extend(inner.cte_tables);
        with.recursive |= inner.recursive;
    }
    source.with = Some(with);
    **statement = Statement::Insert(insert);
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn normalized(sql: &str) -> String {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let mut statement = DFStatement::Statement(Box::new(statement));
        normalize(&mut statement);
        statement.to_string()
    }

    #[test]
    fn with_before_insert_goes_to_the_inserted_query() {
        assert_eq!(
            normalized("WITH a AS (SELECT 1 AS x) INSERT INTO t SELECT x FROM a"),
            "INSERT INTO t WITH a AS (SELECT 1 AS x) SELECT x FROM a"
        );
        assert_eq!(
            normalized(
                "WITH a AS (SELECT 1 AS x) INSERT INTO t WITH b AS (SELECT x FROM a) SELECT x FROM b"
            ),
            "INSERT INTO t WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT x FROM b"
        );
        assert_eq!(
            normalized("WITH a AS (SELECT 1) SELECT * FROM a"),
            "WITH a AS (SELECT 1) SELECT * FROM a"
        );
    }
}

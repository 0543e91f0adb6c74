//! Time travel: reading a table as it was at an earlier snapshot.
//!
//! ```sql
//! SELECT ... FROM t FOR VERSION AS OF 8954597067493422955   -- Trino, Spark
//! SELECT ... FROM t FOR TIMESTAMP AS OF TIMESTAMP '2026-12-01 10:00:00'
//! SELECT ... FROM t AT SNAPSHOT '8954597067493422955'        -- Dremio
//! SELECT ... FROM t AT TIMESTAMP '2026-12-01 10:00:00'
//! ```
//!
//! sqlparser reads none of these spellings in the Generic and PostgreSQL dialects, but
//! its AST has a place for them (`TableFactor::Table::version`). [`parse`] tokenizes
//! the statement once, takes each clause out of the token stream with its expression
//! (parsed by sqlparser), lets DataFusion's parser parse the rest, and puts the clause
//! back on the table it followed, found by the table name's position in the text.
//! [`TimeTravel`], a DataFusion `RelationPlanner`, then plans a versioned table as a
//! scan of that snapshot (`IcebergTable::at_snapshot`): a scan like any other, pruned
//! and distributed the same way.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::SessionState;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlanBuilder};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::parser::{CopyToSource, DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Spanned, TableFactor, TableVersion, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::versions::{self, Version};

use crate::error::QuarryError;
use crate::tokens::Tokenized;

/// Parses one statement with DataFusion's parser, time-travel clauses included.
pub fn parse(sql: Tokenized, recursion_limit: usize) -> Result<DFStatement, QuarryError> {
    let (tokens, dialect) = sql.into_parts();
    let (tokens, clauses) = take_clauses(tokens, dialect.as_ref())?;
    let mut statements = DFParserBuilder::new(tokens)
        .with_dialect(dialect.as_ref())
        .with_recursion_limit(recursion_limit)
        .build()?
        .parse_statements()?;
    if statements.len() > 1 {
        return Err(QuarryError::plan(
            "one statement at a time, please: split the text at ';'",
        ));
    }
    let Some(mut statement) = statements.pop_front() else {
        return Err(QuarryError::syntax("no SQL statement was given"));
    };
    if !clauses.is_empty() {
        attach(&mut statement, clauses)?;
    }
    Ok(statement)
}

/// Parses `sql` in the session's dialect ([`parse`]).
pub fn parse_in(state: &SessionState, sql: &str) -> Result<DFStatement, QuarryError> {
    let options = &state.config_options().sql_parser;
    parse(
        Tokenized::new(sql, options.dialect.as_ref())?,
        options.recursion_limit,
    )
}

/// A time-travel clause taken out of the token stream: the version it names, and where
/// the table name it follows ends.
#[derive(Debug)]
struct Clause {
    after: Location,
    version: TableVersion,
    text: String,
}

/// The clause's opening words, and whether it names a snapshot (else a time).
const CLAUSES: [(&[&str], bool); 4] = [
    (&["FOR", "VERSION", "AS", "OF"], true),
    (&["FOR", "TIMESTAMP", "AS", "OF"], false),
    (&["AT", "SNAPSHOT"], true),
    (&["AT", "TIMESTAMP"], false),
];

/// Takes the time-travel clauses out of `tokens`.
fn take_clauses(
    mut tokens: Vec<TokenWithSpan>,
    dialect: &dyn Dialect,
) -> Result<(Vec<TokenWithSpan>, Vec<Clause>), QuarryError> {
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Some((words, by_snapshot)) = CLAUSES
            .iter()
            .find(|(words, _)| starts_with_words(&tokens[i..], words))
        else {
            i += 1;
            continue;
        };
        // A clause follows a table name, not a comma, a parenthesis or `COLUMN` (`at
        // TIMESTAMP` in a column list is a column).
        let before = tokens[..i].iter().rev().find(|t| !is_space(&t.token));
        let Some(before) = before.filter(|t| names_a_table(&t.token)) else {
            i += 1;
            continue;
        };
        let after = before.span.end;
        // The words, then the expression: sqlparser says where it ends.
        let start = i + skip_words(&tokens[i..], words.len());
        let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens[start..].to_vec());
        let Ok(expr) = parser.parse_expr() else {
            // Not a clause after all; DataFusion's parser says what is wrong, if anything.
            i += 1;
            continue;
        };
        let end = start + parser.index();
        let text = format!("{} {expr}", words.join(" "));
        let version = match by_snapshot {
            true => TableVersion::VersionAsOf(expr),
            false => TableVersion::TimestampAsOf(expr),
        };
        clauses.push(Clause {
            after,
            version,
            text,
        });
        tokens.drain(i..end.min(tokens.len()));
    }
    Ok((tokens, clauses))
}

/// Whether `token` can end a table's name: a word, but not one that starts a column
/// definition.
fn names_a_table(token: &Token) -> bool {
    matches!(token, Token::Word(w)
        if w.quote_style.is_some() || !matches!(w.keyword, Keyword::COLUMN | Keyword::ADD))
}

fn is_space(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// Whether `tokens` start with `words` (keywords, unquoted), spaces between them.
fn starts_with_words(tokens: &[TokenWithSpan], words: &[&str]) -> bool {
    let mut words_left = words.iter();
    let mut next = words_left.next();
    for token in tokens {
        let Some(word) = next else { break };
        match &token.token {
            Token::Whitespace(_) => continue,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => {
                next = words_left.next();
            }
            _ => return false,
        }
    }
    next.is_none()
}

/// How many tokens `count` words and the spaces between and after them take.
fn skip_words(tokens: &[TokenWithSpan], count: usize) -> usize {
    let mut words = 0;
    for (i, token) in tokens.iter().enumerate() {
        if is_space(&token.token) {
            continue;
        }
        if words == count {
            return i;
        }
        words += 1;
    }
    tokens.len()
}

/// Puts each clause on the table whose name ends where the clause began.
fn attach(statement: &mut DFStatement, clauses: Vec<Clause>) -> Result<(), QuarryError> {
    let mut visitor = Attach {
        clauses: clauses.into_iter().map(Some).collect(),
    };
    visit(statement, &mut visitor);
    match visitor.clauses.into_iter().flatten().next() {
        None => Ok(()),
        Some(clause) => Err(QuarryError::syntax(format!(
            "{} must follow the name of a table (SELECT ... FROM t {})",
            clause.text, clause.text
        ))),
    }
}

fn visit(statement: &mut DFStatement, visitor: &mut Attach) {
    let _ = match statement {
        DFStatement::Statement(statement) => statement.visit(visitor),
        DFStatement::Explain(explain) => {
            visit(&mut explain.statement, visitor);
            ControlFlow::Continue(())
        }
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => query.visit(visitor),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        _ => ControlFlow::Continue(()),
    };
}

struct Attach {
    clauses: Vec<Option<Clause>>,
}

impl VisitorMut for Attach {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, version, .. } = factor {
            let end = name.span().end;
            let clause = self
                .clauses
                .iter_mut()
                .find(|c| c.as_ref().is_some_and(|c| c.after == end));
            if let Some(clause) = clause.and_then(Option::take) {
                *version = Some(clause.version);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Plans a table with a time-travel clause as a scan of the snapshot it names.
#[derive(Debug)]
pub struct TimeTravel;

impl RelationPlanner for TimeTravel {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            alias,
            version: Some(version),
            args: None,
            ..
        } = relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let reference = context.object_name_to_table_reference(name)?;
        let source = context
            .context_provider()
            .get_table_source(reference.clone())?;
        let provider = source_as_provider(&source)?;
        let Some(table) = provider
            .as_any()
            .downcast_ref::<IcebergTable>()
            .and_then(IcebergTable::table)
        else {
            return plan_err!("'{reference}' is not an Iceberg table, so it has no versions");
        };
        let version = match version {
            TableVersion::VersionAsOf(expr) => Version::Snapshot(snapshot_id(context, expr)?),
            TableVersion::TimestampAsOf(expr) => Version::Timestamp(millis(context, expr)?),
            other => {
                return plan_err!(
                    "{other} is not supported: use FOR VERSION AS OF <snapshot id> or \
                     FOR TIMESTAMP AS OF <timestamp>"
                );
            }
        };
        let id = versions::resolve(table, version)?;
        let at = IcebergTable::at_snapshot(table.clone(), id)?;
        let plan =
            LogicalPlanBuilder::scan(reference, provider_as_source(Arc::new(at)), None)?.build()?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// The constant value of `expr` as `to`, evaluated when the statement is planned.
fn constant(
    context: &mut dyn RelationPlannerContext,
    expr: SqlExpr,
    to: &DataType,
) -> Result<ScalarValue> {
    let text = expr.to_string();
    let expr = context.sql_to_expr(expr, &DFSchema::empty())?;
    evaluate(expr, to, &text)
}

/// The value of the constant expression `expr` (written `text`) as `to`.
pub(crate) fn evaluate(expr: Expr, to: &DataType, text: &str) -> Result<ScalarValue> {
    let expr = expr.cast_to(to, &DFSchema::empty())?;
    let simplifier = ExprSimplifier::new(SimplifyContext::default().with_current_time());
    match simplifier.simplify(expr) {
        Ok(Expr::Literal(value, _)) if !value.is_null() => Ok(value),
        Ok(_) => plan_err!("'{text}' is not a constant {to}"),
        Err(e) => Err(DataFusionError::Plan(format!(
            "'{text}' is not a {to}: {e}"
        ))),
    }
}

fn snapshot_id(context: &mut dyn RelationPlannerContext, expr: SqlExpr) -> Result<i64> {
    match constant(context, expr, &DataType::Int64)? {
        ScalarValue::Int64(Some(id)) => Ok(id),
        other => plan_err!("a snapshot id is a number, not {other}"),
    }
}

/// The type times to travel to are evaluated as.
pub(crate) fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn millis(context: &mut dyn RelationPlannerContext, expr: SqlExpr) -> Result<i64> {
    match constant(context, expr, &time_type())? {
        ScalarValue::TimestampMillisecond(Some(ms), _) => Ok(ms),
        other => plan_err!("a time to travel to is a timestamp, not {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> String {
        parse(Tokenized::generic(sql), 50).unwrap().to_string()
    }

    #[test]
    fn clauses_go_back_on_the_table_they_follow() {
        assert_eq!(
            parsed("SELECT * FROM t FOR VERSION AS OF 42"),
            "SELECT * FROM t VERSION AS OF 42"
        );
        assert_eq!(
            parsed(
                "SELECT * FROM s.t FOR TIMESTAMP AS OF TIMESTAMP '2026-12-01 10:00:00' AS a \
                 JOIN \"u$x\" AT SNAPSHOT '7' b ON a.k = b.k JOIN v ON true"
            ),
            "SELECT * FROM s.t AS a TIMESTAMP AS OF TIMESTAMP '2026-12-01 10:00:00' \
             JOIN \"u$x\" b VERSION AS OF '7' ON a.k = b.k JOIN v ON true"
        );
        assert_eq!(
            parsed(
                "EXPLAIN SELECT k FROM t WHERE k IN (SELECT k FROM t at timestamp now() - INTERVAL '1' HOUR)"
            ),
            "EXPLAIN SELECT k FROM t WHERE k IN (SELECT k FROM t TIMESTAMP AS OF now() - INTERVAL '1' HOUR)"
        );
        // Not clauses: other uses of the words.
        for sql in [
            "SELECT ts AT TIME ZONE 'UTC' AS \"for\" FROM t",
            "CREATE TABLE n (id BIGINT NOT NULL, note VARCHAR, at TIMESTAMP)",
            "CREATE TABLE n (at TIMESTAMP, b INT)",
            "SELECT at FROM t WHERE at > TIMESTAMP '2020-01-01 00:00:00'",
            "ALTER TABLE t ADD COLUMN at TIMESTAMP NOT NULL",
        ] {
            assert_eq!(parsed(sql), sql);
        }
    }

    #[test]
    fn a_clause_that_follows_no_table_is_refused() {
        let err = parse(Tokenized::generic("SELECT x FOR VERSION AS OF 3"), 50)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must follow the name of a table"), "{err}");
        let err = parse(Tokenized::generic("SELECT 1; SELECT 2"), 50)
            .unwrap_err()
            .to_string();
        assert!(err.contains("one statement at a time"), "{err}");
    }
}

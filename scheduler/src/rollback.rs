//! Rolling a table back to an earlier snapshot:
//!
//! ```sql
//! ALTER TABLE t ROLLBACK TO SNAPSHOT 8954597067493422955
//! ALTER TABLE t ROLLBACK TO TIMESTAMP '2026-12-01 10:00:00'
//! ```
//!
//! As Iceberg's `rollback_to_snapshot` and `rollback_to_timestamp`: the snapshot must be
//! the current one or one of its ancestors (by time: the last ancestor committed at or
//! before then), and becomes current again; no data file is written or removed. Parsed
//! with sqlparser's own parser before DataFusion's, which does not know the statement.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, ObjectName, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::versions::Version;

use crate::alter::{parse_alter_table, syntax};
use crate::error::QuarryError;
use crate::names;
use crate::planned::CatalogChange;
use crate::time_travel;
use crate::tokens::Tokenized;

/// `ALTER TABLE t ROLLBACK TO ...`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub table: ObjectName,
    pub to: Version,
}

/// Reads `sql` if it is a rollback statement.
pub fn parse(sql: &Tokenized) -> Result<Option<Rollback>, QuarryError> {
    parse_alter_table(sql, "rollback", |p, table| {
        if !p.parse_keywords(&[Keyword::ROLLBACK, Keyword::TO]) {
            return Ok(None);
        }
        let by_snapshot = if p.parse_keyword(Keyword::SNAPSHOT) {
            true
        } else if p.parse_keyword(Keyword::TIMESTAMP) {
            false
        } else {
            return Err(QuarryError::syntax(format!(
                "expected SNAPSHOT <id> or TIMESTAMP '<time>' after ROLLBACK TO, found {}",
                p.peek_token_ref().token
            )));
        };
        let expr = p.parse_expr().map_err(syntax)?;
        let to = match by_snapshot {
            true => Version::Snapshot(snapshot_id(&expr)?),
            false => Version::Timestamp(millis(&expr)?),
        };
        Ok(Some(Rollback { table, to }))
    })
}

fn snapshot_id(expr: &SqlExpr) -> Result<i64, QuarryError> {
    let text = match expr {
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(n.as_str()),
            Value::SingleQuotedString(s) => Some(s.as_str()),
            _ => None,
        },
        _ => None,
    };
    text.and_then(|t| t.trim().parse().ok()).ok_or_else(|| {
        QuarryError::syntax(format!(
            "ROLLBACK TO SNAPSHOT takes a snapshot id (a number), not {expr}"
        ))
    })
}

/// A time as a string, or a `TIMESTAMP '...'` literal, in milliseconds (UTC).
pub(crate) fn millis(expr: &SqlExpr) -> Result<i64, QuarryError> {
    let text = match expr {
        SqlExpr::Value(v) => v.value.clone().into_string(),
        SqlExpr::TypedString(typed) => typed.value.clone().into_string(),
        _ => None,
    };
    let Some(text) = text else {
        return Err(QuarryError::syntax(format!(
            "ROLLBACK TO TIMESTAMP takes a time, as '2026-12-01 10:00:00', not {expr}"
        )));
    };
    let value: Expr = lit(ScalarValue::Utf8(Some(text.clone())));
    match time_travel::evaluate(value, &time_travel::time_type(), &text)? {
        ScalarValue::TimestampMillisecond(Some(ms), _) => Ok(ms),
        other => Err(QuarryError::plan(format!(
            "'{text}' is not a time: {other}"
        ))),
    }
}

/// Plans a rollback: the table it changes and the snapshot it goes back to.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    rollback: Rollback,
) -> Result<CatalogChange, QuarryError> {
    let (_, table) = names::load_named(ctx, store, rollback.table).await?;
    Ok(CatalogChange::Rollback {
        table: Box::new(table),
        to: rollback.to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Option<Version> {
        parse(&Tokenized::generic(sql)).unwrap().map(|r| r.to)
    }

    #[test]
    fn rollbacks_name_a_snapshot_or_a_time() {
        assert_eq!(
            parsed("ALTER TABLE silver.t ROLLBACK TO SNAPSHOT 42"),
            Some(Version::Snapshot(42))
        );
        assert_eq!(
            parsed("alter table t rollback to snapshot '42';"),
            Some(Version::Snapshot(42))
        );
        assert_eq!(
            parsed("ALTER TABLE t ROLLBACK TO TIMESTAMP '2026-12-01 10:00:00'"),
            Some(Version::Timestamp(1_796_119_200_000))
        );
        assert_eq!(
            parsed("ALTER TABLE t ROLLBACK TO TIMESTAMP TIMESTAMP '2026-12-01T10:00:00Z'"),
            Some(Version::Timestamp(1_796_119_200_000))
        );
        assert_eq!(parsed("ALTER TABLE t ADD COLUMN c INT"), None);
        assert_eq!(parsed("SELECT 1"), None);
    }

    #[test]
    fn bad_rollbacks_say_what_they_take() {
        let err = |sql| parse(&Tokenized::generic(sql)).unwrap_err().to_string();
        assert!(err("ALTER TABLE t ROLLBACK TO 42").contains("SNAPSHOT <id> or TIMESTAMP"));
        assert!(err("ALTER TABLE t ROLLBACK TO SNAPSHOT x").contains("snapshot id"));
        assert!(err("ALTER TABLE t ROLLBACK TO TIMESTAMP 'soon'").contains("soon"));
        assert!(err("ALTER TABLE t ROLLBACK TO SNAPSHOT 1 2").contains("unexpected"));
    }
}

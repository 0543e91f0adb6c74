//! The reflection statements, in Dremio's syntax, parsed with sqlparser's own parser:
//!
//! ```sql
//! ALTER TABLE t CREATE AGGREGATE REFLECTION r
//!   USING DIMENSIONS (c [BY DAY|MONTH|..], ..) MEASURES (c (SUM, COUNT, MIN, MAX, APPROX_COUNT_DISTINCT), ..)
//!   [PARTITION BY (..)] [LOCALSORT BY (..)] [REFRESH MANUAL | ON CHANGE | EVERY n unit]
//! ALTER TABLE t CREATE RAW REFLECTION r USING DISPLAY (c, ..) [PARTITION BY ..] [LOCALSORT BY ..] [REFRESH ..]
//! ALTER TABLE t DROP REFLECTION [IF EXISTS] r
//! ALTER TABLE t REFRESH REFLECTIONS
//! ALTER TABLE t REFRESH REFLECTION r
//! ```
//!
//! Any other statement is left to DataFusion's parser.

use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use quarry_catalog::reflection::{
    Dimension, Granularity, Kind, Measure, MeasureFunction, PartitionField, RefreshPolicy,
};
use quarry_catalog::table::partition::parse_partition_by;

use crate::alter::{parse_alter_table, syntax};
use crate::error::QuarryError;
use crate::tokens::Tokenized;

/// A reflection statement.
#[derive(Debug, Clone, PartialEq)]
pub enum ReflectionStatement {
    Create {
        table: ObjectName,
        name: String,
        kind: Kind,
        partition_by: Vec<PartitionField>,
        localsort_by: Vec<String>,
        refresh: RefreshPolicy,
    },
    Drop {
        table: ObjectName,
        name: String,
        if_exists: bool,
    },
    /// One reflection of the table (`REFRESH REFLECTION r`), or all of them.
    Refresh {
        table: ObjectName,
        name: Option<String>,
    },
}

/// Reads `sql` if it is a reflection statement.
pub fn parse(sql: &Tokenized) -> Result<Option<ReflectionStatement>, QuarryError> {
    parse_alter_table(sql, "reflection", |p, table| {
        let statement = if p.parse_keyword(Keyword::CREATE) {
            let aggregate = if word(p, "AGGREGATE") {
                true
            } else if word(p, "RAW") {
                false
            } else {
                return Ok(None);
            };
            if !word(p, "REFLECTION") {
                return Ok(None);
            }
            create(p, table, aggregate).map_err(syntax)?
        } else if p.parse_keyword(Keyword::DROP) {
            if !word(p, "REFLECTION") {
                return Ok(None);
            }
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let name = p.parse_identifier().map_err(syntax)?.value;
            ReflectionStatement::Drop {
                table,
                name,
                if_exists,
            }
        } else if p.parse_keyword(Keyword::REFRESH) {
            let name = if word(p, "REFLECTIONS") {
                None
            } else if word(p, "REFLECTION") {
                Some(p.parse_identifier().map_err(syntax)?.value)
            } else {
                return Ok(None);
            };
            ReflectionStatement::Refresh { table, name }
        } else {
            return Ok(None);
        };
        Ok(Some(statement))
    })
}

fn create(
    p: &mut Parser,
    table: ObjectName,
    aggregate: bool,
) -> Result<ReflectionStatement, ParserError> {
    let name = p.parse_identifier()?.value;
    p.expect_keyword(Keyword::USING)?;
    let kind = if aggregate {
        expect_word(p, "DIMENSIONS")?;
        let dimensions = parenthesized(p, dimension)?;
        expect_word(p, "MEASURES")?;
        let measures = parenthesized(p, measure)?;
        Kind::Aggregate {
            dimensions,
            measures,
        }
    } else {
        expect_word(p, "DISPLAY")?;
        Kind::Raw {
            display: parenthesized(p, |p| Ok(p.parse_identifier()?.value))?,
        }
    };
    let (mut partition_by, mut localsort_by, mut refresh) = (Vec::new(), Vec::new(), None);
    loop {
        if p.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
            let expr = p.parse_expr()?;
            partition_by = parse_partition_by(&expr)
                .map_err(|e| ParserError::ParserError(e.to_string()))?
                .into_iter()
                .map(PartitionField::from)
                .collect();
        } else if word(p, "LOCALSORT") {
            p.expect_keyword(Keyword::BY)?;
            localsort_by = parenthesized(p, |p| Ok(p.parse_identifier()?.value))?;
        } else if refresh.is_none() && p.parse_keyword(Keyword::REFRESH) {
            refresh = Some(refresh_policy(p)?);
        } else {
            break;
        }
    }
    Ok(ReflectionStatement::Create {
        table,
        name,
        kind,
        partition_by,
        localsort_by,
        refresh: refresh.unwrap_or_default(),
    })
}

/// `c` or `c BY DAY`.
fn dimension(p: &mut Parser) -> Result<Dimension, ParserError> {
    let column = p.parse_identifier()?.value;
    let granularity = match p.parse_keyword(Keyword::BY) {
        false => None,
        true => {
            let unit = p.parse_identifier()?.value;
            let Some(granularity) = Granularity::from_unit(&unit) else {
                return Err(ParserError::ParserError(format!(
                    "unknown granularity {unit} for dimension {column}: use one of SECOND, \
                     MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER, YEAR"
                )));
            };
            Some(granularity)
        }
    };
    Ok(Dimension {
        column,
        granularity,
    })
}

/// `c (SUM, COUNT, ..)`, or `c` alone for SUM and COUNT (Dremio's default).
fn measure(p: &mut Parser) -> Result<Measure, ParserError> {
    let column = p.parse_identifier()?.value;
    let functions = if p.peek_token_ref().token == Token::LParen {
        parenthesized(p, |p| {
            let name = p.parse_identifier()?.value;
            MeasureFunction::from_sql(&name).ok_or_else(|| {
                ParserError::ParserError(format!(
                    "unknown measure {name} for column {column}: use SUM, COUNT, MIN, MAX or \
                     APPROX_COUNT_DISTINCT"
                ))
            })
        })?
    } else {
        vec![MeasureFunction::Sum, MeasureFunction::Count]
    };
    Ok(Measure { column, functions })
}

/// `MANUAL`, `ON CHANGE` or `EVERY n unit`.
fn refresh_policy(p: &mut Parser) -> Result<RefreshPolicy, ParserError> {
    if word(p, "MANUAL") {
        return Ok(RefreshPolicy::Manual);
    }
    if p.parse_keyword(Keyword::ON) {
        expect_word(p, "CHANGE")?;
        return Ok(RefreshPolicy::OnChange);
    }
    expect_word(p, "EVERY")?;
    let n = p.parse_literal_uint()?;
    let unit = p.parse_identifier()?.value.to_ascii_lowercase();
    let seconds = match unit.trim_end_matches('s') {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        _ => {
            return Err(ParserError::ParserError(format!(
                "unknown unit {unit} in REFRESH EVERY: use SECONDS, MINUTES, HOURS or DAYS"
            )));
        }
    };
    if n == 0 {
        return Err(ParserError::ParserError(
            "REFRESH EVERY needs a positive interval".into(),
        ));
    }
    Ok(RefreshPolicy::Every {
        seconds: n.saturating_mul(seconds),
    })
}

/// `( item, .. )`.
fn parenthesized<T>(
    p: &mut Parser,
    item: impl FnMut(&mut Parser) -> Result<T, ParserError>,
) -> Result<Vec<T>, ParserError> {
    p.expect_token(&Token::LParen)?;
    let items = p.parse_comma_separated(item)?;
    p.expect_token(&Token::RParen)?;
    Ok(items)
}

/// Consumes the next token if it is the word `expected` (any case).
fn word(p: &mut Parser, expected: &str) -> bool {
    let matches = matches!(&p.peek_token_ref().token, Token::Word(w) if w.value.eq_ignore_ascii_case(expected));
    if matches {
        p.next_token();
    }
    matches
}

fn expect_word(p: &mut Parser, expected: &str) -> Result<(), ParserError> {
    match word(p, expected) {
        true => Ok(()),
        false => p.expected(expected, p.peek_token()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Option<ReflectionStatement> {
        parse(&Tokenized::generic(sql)).unwrap()
    }

    fn error(sql: &str) -> String {
        parse(&Tokenized::generic(sql)).unwrap_err().to_string()
    }

    #[test]
    fn dremio_aggregate_reflections_parse() {
        let Some(ReflectionStatement::Create {
            table,
            name,
            kind,
            partition_by,
            localsort_by,
            refresh,
        }) = parsed(
            "ALTER TABLE gold.sales CREATE AGGREGATE REFLECTION sales_daily \
             USING DIMENSIONS (region, product_id, sold_at BY DAY) \
             MEASURES (amount (SUM, COUNT, MIN, MAX), customer_id (APPROX_COUNT_DISTINCT), qty) \
             PARTITION BY (month(sold_at)) LOCALSORT BY (region) REFRESH EVERY 2 HOURS",
        )
        else {
            panic!("not a create");
        };
        assert_eq!(table.to_string(), "gold.sales");
        assert_eq!(name, "sales_daily");
        let Kind::Aggregate {
            dimensions,
            measures,
        } = kind
        else {
            panic!("not an aggregate");
        };
        assert_eq!(dimensions[2].granularity, Some(Granularity::Day));
        assert_eq!(dimensions[0].granularity, None);
        assert_eq!(measures[0].functions.len(), 4);
        assert_eq!(
            measures[1].functions,
            vec![MeasureFunction::ApproxCountDistinct]
        );
        assert_eq!(
            measures[2].functions,
            vec![MeasureFunction::Sum, MeasureFunction::Count]
        );
        assert_eq!(partition_by[0].column, "sold_at");
        assert_eq!(localsort_by, vec!["region".to_string()]);
        assert_eq!(refresh, RefreshPolicy::Every { seconds: 7200 });
    }

    #[test]
    fn raw_drop_and_refresh_parse() {
        assert!(matches!(
            parsed("alter table t create raw reflection r using display (a, b) refresh manual"),
            Some(ReflectionStatement::Create { kind: Kind::Raw { display }, refresh: RefreshPolicy::Manual, .. })
                if display == ["a", "b"]
        ));
        assert_eq!(
            parsed("ALTER TABLE gold.t DROP REFLECTION IF EXISTS r;"),
            Some(ReflectionStatement::Drop {
                table: parsed_name("gold.t"),
                name: "r".into(),
                if_exists: true
            })
        );
        assert!(matches!(
            parsed("ALTER TABLE t REFRESH REFLECTIONS"),
            Some(ReflectionStatement::Refresh { name: None, .. })
        ));
        assert!(matches!(
            parsed("ALTER TABLE t REFRESH REFLECTION r"),
            Some(ReflectionStatement::Refresh { name: Some(r), .. }) if r == "r"
        ));
    }

    fn parsed_name(name: &str) -> ObjectName {
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        Parser::new(&dialect)
            .try_with_sql(name)
            .unwrap()
            .parse_object_name(false)
            .unwrap()
    }

    #[test]
    fn other_statements_are_not_ours() {
        assert_eq!(parsed("SELECT 1"), None);
        assert_eq!(parsed("ALTER TABLE t ADD COLUMN c INT"), None);
        assert_eq!(parsed("ALTER TABLE t DROP COLUMN c"), None);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error("ALTER TABLE t CREATE AGGREGATE REFLECTION r USING DIMENSIONS (a BY FORTNIGHT) MEASURES (b)")
            .contains("unknown granularity FORTNIGHT"));
        assert!(error("ALTER TABLE t CREATE AGGREGATE REFLECTION r USING DIMENSIONS (a) MEASURES (b (MEDIAN))")
            .contains("unknown measure MEDIAN"));
        assert!(
            error("ALTER TABLE t CREATE AGGREGATE REFLECTION r USING MEASURES (b)")
                .contains("Expected: DIMENSIONS")
        );
        assert!(
            error("ALTER TABLE t CREATE RAW REFLECTION r USING DISPLAY (a) extra")
                .contains("unexpected extra")
        );
    }
}

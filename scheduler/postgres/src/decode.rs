//! Parameter values off the wire: the bytes of a `Bind` message, in text or binary format,
//! as DataFusion values.
//!
//! A value is read as the type the client declared for it (`Parse` type OIDs), else as
//! the type the statement gives the parameter, else as text. The query service then
//! casts it to the parameter's type, so `'42'` sent as text binds to an integer column.
//! A declared type also types the placeholder in the statement ([`type_placeholders`]),
//! so `SELECT $1` declared `date` returns a date.

use std::ops::ControlFlow;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, ExactNumberInfo, Expr, TimezoneInfo, Value,
    visit_expressions_mut,
};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::error::PgWireResult;
use postgres_types::FromSql;
use rust_decimal::Decimal;

use super::error::user_error;
use super::types::{arrow_type, pg_type};

/// The values bound to a statement's parameters.
///
/// `declared` holds the types the client declared (`None` where it left the choice to
/// the server), `planned` the types the statement gives its parameters (`Null` where it
/// does not say).
pub fn parameter_values(
    values: &[Option<Bytes>],
    format: &Format,
    declared: &[Option<Type>],
    planned: &[DataType],
) -> PgWireResult<Vec<ScalarValue>> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let planned = planned.get(i).unwrap_or(&DataType::Null);
            let pg = match declared.get(i).cloned().flatten() {
                Some(t) if t != Type::UNKNOWN => t,
                _ if *planned != DataType::Null => pg_type(planned),
                _ => Type::TEXT,
            };
            let value = match value {
                None => null_of(&pg, planned),
                Some(bytes) if format.is_binary(i) => binary(&pg, bytes),
                Some(bytes) => text(&pg, bytes),
            };
            value.map_err(|message| user_error("22P02", format!("parameter ${}: {message}", i + 1)))
        })
        .collect()
}

/// Casts each placeholder of `statement` whose type the client declared to that type:
/// `$1` declared `int4` becomes `CAST($1 AS INT)`. Text and numeric placeholders are left
/// for the statement to type.
pub fn type_placeholders(statement: &mut DFStatement, declared: &[Option<Type>]) {
    let sql_type = |i: usize| -> Option<SqlType> {
        Some(match *declared.get(i)?.as_ref()? {
            Type::BOOL => SqlType::Boolean,
            Type::INT2 => SqlType::SmallInt(None),
            Type::INT4 => SqlType::Int(None),
            Type::INT8 => SqlType::BigInt(None),
            Type::FLOAT4 => SqlType::Real,
            Type::FLOAT8 => SqlType::Double(ExactNumberInfo::None),
            Type::DATE => SqlType::Date,
            Type::TIMESTAMP => SqlType::Timestamp(None, TimezoneInfo::None),
            Type::BYTEA => SqlType::Bytea,
            _ => return None,
        })
    };
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    if !(0..declared.len()).any(|i| sql_type(i).is_some()) {
        return;
    }
    let _ = visit_expressions_mut(statement.as_mut(), |expr: &mut Expr| {
        let declared = match expr {
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => p
                    .strip_prefix('$')
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| sql_type(n.checked_sub(1)?)),
                _ => None,
            },
            _ => None,
        };
        if let Some(data_type) = declared {
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(expr.clone()),
                data_type,
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

fn null_of(pg: &Type, planned: &DataType) -> Result<ScalarValue, String> {
    let data_type = match planned {
        DataType::Null => arrow_type(pg).unwrap_or(DataType::Null),
        t => t.clone(),
    };
    ScalarValue::try_from(&data_type).map_err(|e| e.to_string())
}

/// A value in text format: the string, as the declared type when the client said one.
fn text(pg: &Type, bytes: &[u8]) -> Result<ScalarValue, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "text is not valid UTF-8".to_string())?;
    let value = ScalarValue::Utf8(Some(text.to_string()));
    match arrow_type(pg) {
        Some(DataType::Utf8) | None => Ok(value),
        Some(DataType::Boolean) => bool_text(text).map(|b| ScalarValue::Boolean(Some(b))),
        Some(target) => value
            .cast_to(&target)
            .map_err(|_| format!("invalid input syntax for type {}: \"{text}\"", pg.name())),
    }
}

/// PostgreSQL's spellings of true and false.
fn bool_text(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("invalid input syntax for type boolean: \"{text}\"")),
    }
}

/// A value in binary format, read as the declared type.
fn binary(pg: &Type, bytes: &[u8]) -> Result<ScalarValue, String> {
    fn read<'a, T: FromSql<'a>>(pg: &Type, bytes: &'a [u8]) -> Result<T, String> {
        T::from_sql(pg, bytes).map_err(|e| format!("bad binary {} value: {e}", pg.name()))
    }
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(read(pg, bytes)?)),
        Type::INT2 => ScalarValue::Int16(Some(read(pg, bytes)?)),
        Type::INT4 => ScalarValue::Int32(Some(read(pg, bytes)?)),
        Type::INT8 => ScalarValue::Int64(Some(read(pg, bytes)?)),
        Type::OID => ScalarValue::UInt32(Some(read(pg, bytes)?)),
        Type::FLOAT4 => ScalarValue::Float32(Some(read(pg, bytes)?)),
        Type::FLOAT8 => ScalarValue::Float64(Some(read(pg, bytes)?)),
        Type::NUMERIC => decimal(read(pg, bytes)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            ScalarValue::Utf8(Some(read(pg, bytes)?))
        }
        Type::BYTEA => ScalarValue::Binary(Some(read(pg, bytes)?)),
        Type::DATE => {
            let date: NaiveDate = read(pg, bytes)?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            ScalarValue::Date32(Some((date - epoch).num_days() as i32))
        }
        Type::TIME => {
            let time: NaiveTime = read(pg, bytes)?;
            let micros = time.num_seconds_from_midnight() as i64 * 1_000_000
                + (time.nanosecond() / 1_000) as i64;
            ScalarValue::Time64Microsecond(Some(micros))
        }
        Type::TIMESTAMP => {
            let at: NaiveDateTime = read(pg, bytes)?;
            ScalarValue::TimestampMicrosecond(Some(at.and_utc().timestamp_micros()), None)
        }
        Type::TIMESTAMPTZ => {
            let at: DateTime<Utc> = read(pg, bytes)?;
            ScalarValue::TimestampMicrosecond(Some(at.timestamp_micros()), Some("+00:00".into()))
        }
        _ => {
            return Err(format!(
                "binary values of type {} are not supported: send text",
                pg.name()
            ));
        }
    })
}

fn decimal(value: Decimal) -> ScalarValue {
    ScalarValue::Decimal128(Some(value.mantissa()), 38, value.scale() as i8)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;

    use super::*;

    fn one(
        value: &[u8],
        format: Format,
        declared: Option<Type>,
        planned: DataType,
    ) -> PgWireResult<ScalarValue> {
        let values = [Some(Bytes::copy_from_slice(value))];
        parameter_values(&values, &format, &[declared], &[planned]).map(|mut v| v.remove(0))
    }

    #[test]
    fn text_values_take_the_declared_type() {
        let v = one(b"42", Format::UnifiedText, Some(Type::INT4), DataType::Null).unwrap();
        assert_eq!(v, ScalarValue::Int32(Some(42)));
        let v = one(b"t", Format::UnifiedText, Some(Type::BOOL), DataType::Null).unwrap();
        assert_eq!(v, ScalarValue::Boolean(Some(true)));
        // Undeclared: text, cast later to the parameter's type.
        let v = one(b"42", Format::UnifiedText, None, DataType::Int64).unwrap();
        assert_eq!(v, ScalarValue::Int64(Some(42)));
        let v = one(b"42", Format::UnifiedText, None, DataType::Null).unwrap();
        assert_eq!(v, ScalarValue::Utf8(Some("42".into())));
        let err = one(b"x", Format::UnifiedText, Some(Type::INT8), DataType::Null).unwrap_err();
        assert!(
            err.to_string()
                .contains("parameter $1: invalid input syntax for type int8")
        );
    }

    #[test]
    fn binary_values_are_read_as_declared() {
        let v = one(
            &7i64.to_be_bytes(),
            Format::UnifiedBinary,
            Some(Type::INT8),
            DataType::Null,
        );
        assert_eq!(v.unwrap(), ScalarValue::Int64(Some(7)));
        // 2000-01-02 as days since 2000-01-01.
        let v = one(
            &1i32.to_be_bytes(),
            Format::UnifiedBinary,
            Some(Type::DATE),
            DataType::Null,
        );
        assert_eq!(v.unwrap(), ScalarValue::Date32(Some(10_958)));
        let short = one(
            &[1],
            Format::UnifiedBinary,
            Some(Type::INT8),
            DataType::Null,
        );
        assert!(short.is_err());
    }

    #[test]
    fn declared_types_type_the_placeholders() {
        let typed = |sql: &str, declared: &[Option<Type>]| {
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let mut statement = DFParser::parse_sql_with_dialect(sql, &dialect)
                .unwrap()
                .pop_front()
                .unwrap();
            type_placeholders(&mut statement, declared);
            statement.to_string()
        };
        let declared = [Some(Type::DATE), None, Some(Type::TEXT), Some(Type::INT8)];
        assert_eq!(
            typed("SELECT $1, $2, $3 WHERE x = $4 AND s = '$1'", &declared),
            "SELECT CAST($1 AS DATE), $2, $3 WHERE x = CAST($4 AS BIGINT) AND s = '$1'"
        );
        assert_eq!(typed("SELECT $1", &[None]), "SELECT $1");
    }

    #[test]
    fn nulls_are_typed() {
        let values = [None];
        let v = parameter_values(&values, &Format::UnifiedText, &[None], &[DataType::Int32]);
        assert_eq!(v.unwrap(), vec![ScalarValue::Int32(None)]);
    }
}

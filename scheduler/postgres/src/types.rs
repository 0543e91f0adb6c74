//! Arrow and PostgreSQL types: which PostgreSQL type a result column is sent as, and
//! which Arrow type a parameter of a PostgreSQL type becomes.
//!
//! | Arrow | PostgreSQL |
//! |---|---|
//! | Boolean | bool |
//! | Int8, Int16, UInt8 | int2 |
//! | Int32, UInt16 | int4 |
//! | Int64 | int8 |
//! | UInt32 | oid (what `pg_catalog` holds) |
//! | UInt64, Decimal128, Decimal256 | numeric |
//! | Float16, Float32 | float4 |
//! | Float64 | float8 |
//! | Utf8, LargeUtf8, Utf8View | text |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | bytea |
//! | Date32, Date64 | date |
//! | Time32, Time64 | time |
//! | Timestamp without / with time zone | timestamp / timestamptz |
//! | Interval, Duration | interval |
//! | List, LargeList, FixedSizeList of a type above | that type's array |
//! | lists of lists | text |
//! | Dictionary | its value type |
//! | anything else (Struct, Map, ...) | text, as Arrow displays it |

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;

/// The PostgreSQL type an Arrow column is sent as.
pub fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 => Type::INT8,
        DataType::UInt32 => Type::OID,
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Dictionary(_, values) => pg_type(values),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            array_of(item.data_type()).unwrap_or(Type::TEXT)
        }
        _ => Type::TEXT,
    }
}

/// The array type whose elements have Arrow type `element`, if PostgreSQL has one.
fn array_of(element: &DataType) -> Option<Type> {
    Some(match pg_type(element) {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::NUMERIC => Type::NUMERIC_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL => Type::INTERVAL_ARRAY,
        Type::TEXT if is_string(element) => Type::TEXT_ARRAY,
        _ => return None,
    })
}

/// Whether values of `data_type` are strings (rather than shown as text).
pub fn is_string(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_string(values),
        _ => false,
    }
}

/// The Arrow type a parameter declared with PostgreSQL type `pg` binds as, when the
/// statement itself does not say (`SELECT $1`).
pub fn arrow_type(pg: &Type) -> Option<DataType> {
    Some(match *pg {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::OID => DataType::UInt32,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::NUMERIC => DataType::Decimal128(38, 10),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        _ => return None,
    })
}

/// `pg_attribute.atttypmod` of a column: precision and scale of a numeric, -1 otherwise.
pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal128(precision, scale) | DataType::Decimal256(precision, scale) => {
            ((*precision as i32) << 16) + (*scale as i32) + 4
        }
        _ => -1,
    }
}

/// `pg_type.typlen` of a type: its width in bytes, or -1 when the width varies.
pub fn type_size(pg: &Type) -> i16 {
    match *pg {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::OID | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL => 16,
        _ => -1,
    }
}

/// The types `pg_type` lists, with their `typcategory`.
pub fn catalog_types() -> Vec<(Type, &'static str)> {
    let scalars = [
        (Type::BOOL, "B"),
        (Type::BYTEA, "U"),
        (Type::CHAR, "S"),
        (Type::NAME, "S"),
        (Type::INT8, "N"),
        (Type::INT2, "N"),
        (Type::INT4, "N"),
        (Type::TEXT, "S"),
        (Type::OID, "N"),
        (Type::FLOAT4, "N"),
        (Type::FLOAT8, "N"),
        (Type::BPCHAR, "S"),
        (Type::VARCHAR, "S"),
        (Type::DATE, "D"),
        (Type::TIME, "D"),
        (Type::TIMESTAMP, "D"),
        (Type::TIMESTAMPTZ, "D"),
        (Type::INTERVAL, "T"),
        (Type::NUMERIC, "N"),
        (Type::JSON, "U"),
        (Type::UUID, "U"),
        (Type::REGCLASS, "N"),
        (Type::REGTYPE, "N"),
        (Type::REGPROC, "N"),
    ];
    let arrays = [
        Type::BOOL_ARRAY,
        Type::BYTEA_ARRAY,
        Type::NAME_ARRAY,
        Type::INT8_ARRAY,
        Type::INT2_ARRAY,
        Type::INT4_ARRAY,
        Type::TEXT_ARRAY,
        Type::OID_ARRAY,
        Type::FLOAT4_ARRAY,
        Type::FLOAT8_ARRAY,
        Type::VARCHAR_ARRAY,
        Type::DATE_ARRAY,
        Type::TIME_ARRAY,
        Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL_ARRAY,
        Type::NUMERIC_ARRAY,
    ];
    scalars
        .into_iter()
        .chain(arrays.into_iter().map(|t| (t, "A")))
        .collect()
}

/// The object id of the type named `name` (`int4`, `pg_catalog.text`, `integer`).
pub fn type_oid(name: &str) -> Option<u32> {
    let name = name
        .trim()
        .trim_start_matches("pg_catalog.")
        .to_ascii_lowercase();
    let name = match name.as_str() {
        "integer" | "int" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "real" => "float4",
        "double precision" => "float8",
        "boolean" => "bool",
        "character varying" => "varchar",
        "character" => "bpchar",
        other => other,
    };
    catalog_types()
        .into_iter()
        .find(|(t, _)| t.name() == name)
        .map(|(t, _)| t.oid())
}

/// How a field of a result is described to the client, sent in `format`.
pub fn field_info(field: &Field, index: usize, format: &Format) -> FieldInfo {
    let pg = pg_type(field.data_type());
    let size = type_size(&pg);
    FieldInfo::new(
        field.name().clone(),
        None,
        None,
        pg,
        format.format_for(index),
    )
    .with_type_size(size)
    .with_type_modifier(type_modifier(field.data_type()))
}

/// How the columns of a result are described to the client.
pub fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| field_info(field, i, format))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn arrow_types_have_the_postgres_type_drivers_expect() {
        assert_eq!(pg_type(&DataType::Int64), Type::INT8);
        assert_eq!(pg_type(&DataType::Decimal128(12, 2)), Type::NUMERIC);
        assert_eq!(pg_type(&DataType::Utf8View), Type::TEXT);
        let tz = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(pg_type(&tz), Type::TIMESTAMPTZ);
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        assert_eq!(pg_type(&list), Type::INT4_ARRAY);
        let nested = DataType::List(Arc::new(Field::new("item", list, true)));
        assert_eq!(pg_type(&nested), Type::TEXT);
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        assert_eq!(pg_type(&dict), Type::TEXT);
        assert_eq!(
            type_modifier(&DataType::Decimal128(12, 2)),
            (12 << 16) + 2 + 4
        );
    }

    #[test]
    fn parameter_types_round_trip() {
        for pg in [Type::BOOL, Type::INT2, Type::INT4, Type::FLOAT8, Type::DATE] {
            assert_eq!(pg_type(&arrow_type(&pg).unwrap()), pg);
        }
    }
}

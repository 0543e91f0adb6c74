//! Column types between Arrow (what queries produce) and Iceberg (what tables hold).
//!
//! A new table's schema comes from a column list or a query: [`iceberg_schema`] maps each
//! Arrow type to the Iceberg type that holds it and numbers the fields. Readers and writers
//! then work in the table's own Arrow form ([`arrow_schema`]), whose fields carry their
//! Iceberg field ids in the Parquet files; queries see [`query_schema`], the same schema
//! without that metadata.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};

use super::TableError;

/// The Iceberg schema for columns of these Arrow types, numbered from field id 1.
pub fn iceberg_schema(arrow: &ArrowSchema) -> Result<Schema, TableError> {
    let fields = arrow
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let ty = iceberg_type(field.name(), field.data_type())?;
            let id = i as i32 + 1;
            Ok(Arc::new(if field.is_nullable() {
                NestedField::optional(id, field.name(), Type::Primitive(ty))
            } else {
                NestedField::required(id, field.name(), Type::Primitive(ty))
            }))
        })
        .collect::<Result<Vec<_>, TableError>>()?;
    Ok(Schema::builder().with_fields(fields).build()?)
}

/// The Iceberg type that holds values of `data_type`, or an error naming the column.
pub fn iceberg_type(column: &str, data_type: &DataType) -> Result<PrimitiveType, TableError> {
    use DataType as D;
    let unsupported = |hint: &str| {
        Err(TableError::UnsupportedType {
            column: column.to_string(),
            data_type: data_type.to_string(),
            hint: hint.to_string(),
        })
    };
    Ok(match data_type {
        D::Boolean => PrimitiveType::Boolean,
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 => PrimitiveType::Int,
        D::Int64 | D::UInt32 => PrimitiveType::Long,
        D::Float32 => PrimitiveType::Float,
        D::Float64 => PrimitiveType::Double,
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) if *s >= 0 => {
            PrimitiveType::Decimal {
                precision: u32::from(*p),
                scale: *s as u32,
            }
        }
        D::Decimal256(p, s) if *p <= 38 && *s >= 0 => PrimitiveType::Decimal {
            precision: u32::from(*p),
            scale: *s as u32,
        },
        D::Utf8 | D::LargeUtf8 | D::Utf8View => PrimitiveType::String,
        D::Binary | D::LargeBinary | D::BinaryView => PrimitiveType::Binary,
        D::FixedSizeBinary(n) => PrimitiveType::Fixed(*n as u64),
        D::Date32 | D::Date64 => PrimitiveType::Date,
        D::Time32(_) | D::Time64(_) => PrimitiveType::Time,
        D::Timestamp(_, None) => PrimitiveType::Timestamp,
        D::Timestamp(_, Some(_)) => PrimitiveType::Timestamptz,
        D::Dictionary(_, value) => return iceberg_type(column, value),
        D::Null => return unsupported("it has no type; cast it, e.g. CAST(NULL AS VARCHAR)"),
        D::UInt64 => return unsupported("cast it to BIGINT or DECIMAL(20, 0)"),
        D::Float16 => return unsupported("cast it to FLOAT"),
        D::Decimal128(..) | D::Decimal256(..) => {
            return unsupported("Iceberg decimals have at most 38 digits and a scale of 0 or more");
        }
        D::Interval(_) | D::Duration(_) => return unsupported("store it as BIGINT or VARCHAR"),
        _ => return unsupported("Iceberg tables hold scalar columns only in Quarry"),
    })
}

/// The Arrow schema of a table's data files: Iceberg's mapping, with field ids.
pub fn arrow_schema(schema: &Schema) -> Result<SchemaRef, TableError> {
    Ok(Arc::new(iceberg::arrow::schema_to_arrow_schema(schema)?))
}

/// The schema queries see: the table's Arrow schema without field metadata.
pub fn query_schema(schema: &Schema) -> Result<SchemaRef, TableError> {
    let arrow = arrow_schema(schema)?;
    let fields: Vec<Field> = arrow
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_metadata(Default::default()))
        .collect();
    Ok(Arc::new(ArrowSchema::new(fields)))
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::TimeUnit;

    use super::*;

    fn schema(types: &[(&str, DataType)]) -> ArrowSchema {
        ArrowSchema::new(
            types
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn scalar_types_map_to_iceberg_types() {
        let arrow = schema(&[
            ("i", DataType::Int16),
            ("l", DataType::Int64),
            ("d", DataType::Decimal128(12, 2)),
            ("s", DataType::Utf8View),
            ("t", DataType::Timestamp(TimeUnit::Nanosecond, None)),
            (
                "tz",
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            ),
            ("b", DataType::Binary),
        ]);
        let ice = iceberg_schema(&arrow).unwrap();
        let ty = |n: &str| ice.field_by_name(n).unwrap().field_type.to_string();
        assert_eq!(ty("i"), "int");
        assert_eq!(ty("l"), "long");
        assert_eq!(ty("d"), "decimal(12, 2)");
        assert_eq!(ty("s"), "string");
        assert_eq!(ty("t"), "timestamp");
        assert_eq!(ty("tz"), "timestamptz");
        assert_eq!(ty("b"), "binary");
        assert_eq!(ice.field_by_name("l").unwrap().id, 2);
        let back = query_schema(&ice).unwrap();
        assert_eq!(
            back.field_with_name("t").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert!(back.field(0).metadata().is_empty());
        let with_ids = arrow_schema(&ice).unwrap();
        assert!(!with_ids.field(0).metadata().is_empty());
    }

    #[test]
    fn unsupported_types_name_the_column() {
        let err = iceberg_schema(&schema(&[("n", DataType::UInt64)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 'n' has type UInt64, which an Iceberg table cannot hold: cast it to BIGINT or DECIMAL(20, 0)"
        );
        let err = iceberg_schema(&schema(&[("x", DataType::Null)])).unwrap_err();
        assert!(err.to_string().contains("CAST(NULL AS VARCHAR)"), "{err}");
    }
}

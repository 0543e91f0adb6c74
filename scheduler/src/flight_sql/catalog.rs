//! Flight SQL's catalog commands as record batches: `GetCatalogs`, `GetDbSchemas`,
//! `GetTables` (with each table's Arrow schema, its columns annotated with the Flight SQL
//! column metadata JDBC and ADBC read: type name, precision, scale), `GetTableTypes`,
//! and the key commands, which answer with no rows (Iceberg tables have no keys).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow_flight::sql::metadata::{GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder};
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables};
use datafusion::prelude::SessionContext;
use tonic::Status;

use crate::listing::{self, TABLE_TYPES, TableEntry, TableFilter};

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// `GetCatalogs`.
pub fn catalogs(ctx: &SessionContext) -> Result<RecordBatch, Status> {
    let mut builder = GetCatalogsBuilder::new();
    for catalog in listing::catalogs(ctx) {
        builder.append(catalog);
    }
    builder.build().map_err(internal)
}

/// `GetDbSchemas`.
pub fn schemas(ctx: &SessionContext, command: CommandGetDbSchemas) -> Result<RecordBatch, Status> {
    let filter = TableFilter {
        catalog: command.catalog.as_deref(),
        schema: command.db_schema_filter_pattern.as_deref(),
        ..Default::default()
    };
    let found = listing::schemas(ctx, &filter);
    // Filtered above; the builder's own filters are left empty.
    let mut builder = GetDbSchemasBuilder::new(None::<String>, None::<String>);
    for (catalog, schema) in found {
        builder.append(catalog, schema);
    }
    builder.build().map_err(internal)
}

/// The schema of `GetTables`' result.
pub fn tables_schema(command: &CommandGetTables) -> SchemaRef {
    command.clone().into_builder().schema()
}

/// `GetTables`.
pub async fn tables(
    ctx: &SessionContext,
    command: CommandGetTables,
) -> Result<RecordBatch, Status> {
    let filter = TableFilter {
        catalog: command.catalog.as_deref(),
        schema: command.db_schema_filter_pattern.as_deref(),
        table: command.table_name_filter_pattern.as_deref(),
        table_types: &command.table_types,
    };
    let found = listing::tables(ctx, &filter).await?;
    let mut builder = GetTablesBuilder::new(
        None::<String>,
        None::<String>,
        None::<String>,
        Vec::<String>::new(),
        command.include_schema,
    );
    for table in found {
        let columns = annotated(&table);
        builder
            .append(
                &table.catalog,
                &table.schema,
                &table.name,
                table.table_type,
                &columns,
            )
            .map_err(internal)?;
    }
    builder.build().map_err(internal)
}

/// `GetTableTypes`.
pub fn table_types() -> Result<RecordBatch, Status> {
    let mut builder = CommandGetTableTypes {}.into_builder();
    for table_type in TABLE_TYPES {
        builder.append(table_type);
    }
    builder.build().map_err(internal)
}

/// The schema of `GetPrimaryKeys`' result.
pub fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// The schema of `GetExportedKeys`', `GetImportedKeys`' and `GetCrossReference`'s result.
pub fn foreign_keys_schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("pk_catalog_name", true),
        text("pk_db_schema_name", true),
        text("pk_table_name", false),
        text("pk_column_name", false),
        text("fk_catalog_name", true),
        text("fk_db_schema_name", true),
        text("fk_table_name", false),
        text("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        text("fk_key_name", true),
        text("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

/// A table's columns with the Flight SQL column metadata.
fn annotated(table: &TableEntry) -> Schema {
    let fields: Vec<Field> = table
        .columns
        .fields()
        .iter()
        .map(|field| {
            let mut metadata = column_metadata(field.data_type());
            for (key, value) in [
                ("CATALOG_NAME", table.catalog.as_str()),
                ("DB_SCHEMA_NAME", table.schema.as_str()),
                ("TABLE_NAME", table.name.as_str()),
            ] {
                metadata.insert(format!("ARROW:FLIGHT:SQL:{key}"), value.to_string());
            }
            field.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    Schema::new(fields)
}

/// The Flight SQL metadata of a column of this type: its SQL type name, precision and
/// scale where they apply, and what can be done with it.
pub fn column_metadata(data_type: &DataType) -> HashMap<String, String> {
    let (type_name, precision, scale) = sql_type(data_type);
    let text = matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let mut metadata = HashMap::from([
        ("TYPE_NAME", type_name),
        ("IS_AUTO_INCREMENT", "0".to_string()),
        (
            "IS_CASE_SENSITIVE",
            if text { "1" } else { "0" }.to_string(),
        ),
        ("IS_READ_ONLY", "0".to_string()),
        ("IS_SEARCHABLE", "1".to_string()),
    ]);
    if let Some(precision) = precision {
        metadata.insert("PRECISION", precision.to_string());
    }
    if let Some(scale) = scale {
        metadata.insert("SCALE", scale.to_string());
    }
    metadata
        .into_iter()
        .map(|(k, v)| (format!("ARROW:FLIGHT:SQL:{k}"), v))
        .collect()
}

/// The SQL name, precision and scale of an Arrow type, as DataFusion's SQL names it.
fn sql_type(data_type: &DataType) -> (String, Option<u32>, Option<i32>) {
    let named = |name: &str, precision: Option<u32>| (name.to_string(), precision, None);
    match data_type {
        DataType::Null => named("NULL", None),
        DataType::Boolean => named("BOOLEAN", Some(1)),
        DataType::Int8 => ("TINYINT".into(), Some(3), Some(0)),
        DataType::Int16 => ("SMALLINT".into(), Some(5), Some(0)),
        DataType::Int32 => ("INTEGER".into(), Some(10), Some(0)),
        DataType::Int64 => ("BIGINT".into(), Some(19), Some(0)),
        DataType::UInt8 => ("TINYINT UNSIGNED".into(), Some(3), Some(0)),
        DataType::UInt16 => ("SMALLINT UNSIGNED".into(), Some(5), Some(0)),
        DataType::UInt32 => ("INTEGER UNSIGNED".into(), Some(10), Some(0)),
        DataType::UInt64 => ("BIGINT UNSIGNED".into(), Some(20), Some(0)),
        DataType::Float16 | DataType::Float32 => named("REAL", Some(7)),
        DataType::Float64 => named("DOUBLE", Some(15)),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            ("DECIMAL".into(), Some(u32::from(*p)), Some(i32::from(*s)))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => named("VARCHAR", None),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => named("VARBINARY", None),
        DataType::Date32 | DataType::Date64 => named("DATE", Some(10)),
        DataType::Time32(unit) | DataType::Time64(unit) => (
            "TIME".into(),
            Some(9 + fraction_digits(unit)),
            Some(fraction_digits(unit) as i32),
        ),
        DataType::Timestamp(unit, zone) => {
            let name = match zone {
                Some(_) => "TIMESTAMP WITH TIME ZONE",
                None => "TIMESTAMP",
            };
            let digits = fraction_digits(unit);
            (name.into(), Some(20 + digits), Some(digits as i32))
        }
        DataType::Duration(_) | DataType::Interval(_) => named("INTERVAL", None),
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::ListView(_)
        | DataType::LargeListView(_) => named("ARRAY", None),
        DataType::Struct(_) => named("STRUCT", None),
        DataType::Map(..) => named("MAP", None),
        DataType::Dictionary(_, value) => sql_type(value),
        other => (other.to_string().to_uppercase(), None, None),
    }
}

fn fraction_digits(unit: &TimeUnit) -> u32 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_carry_sql_types() {
        let meta = column_metadata(&DataType::Decimal128(12, 2));
        assert_eq!(meta["ARROW:FLIGHT:SQL:TYPE_NAME"], "DECIMAL");
        assert_eq!(meta["ARROW:FLIGHT:SQL:PRECISION"], "12");
        assert_eq!(meta["ARROW:FLIGHT:SQL:SCALE"], "2");
        let meta = column_metadata(&DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ));
        assert_eq!(
            meta["ARROW:FLIGHT:SQL:TYPE_NAME"],
            "TIMESTAMP WITH TIME ZONE"
        );
        assert_eq!(meta["ARROW:FLIGHT:SQL:SCALE"], "6");
        let meta = column_metadata(&DataType::Utf8);
        assert_eq!(meta["ARROW:FLIGHT:SQL:TYPE_NAME"], "VARCHAR");
        assert_eq!(meta["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"], "1");
        assert!(!meta.contains_key("ARROW:FLIGHT:SQL:PRECISION"));
        assert_eq!(
            column_metadata(&DataType::Int64)["ARROW:FLIGHT:SQL:PRECISION"],
            "19"
        );
    }
}

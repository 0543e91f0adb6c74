//! `pg_catalog`: the system catalogs PostgreSQL drivers and tools read on connect and for
//! metadata (psql's `\dn`, `\dt`, `\d`; pgJDBC's `DatabaseMetaData`; DBeaver; psqlODBC).
//!
//! Each table is built when it is scanned, from what the session's catalog holds then:
//! schemas become `pg_namespace` rows, tables and views `pg_class` rows, their columns
//! `pg_attribute` rows typed as the PostgreSQL door sends them. Object ids are stable
//! hashes of names, so they agree between tables and between queries. Catalogs Quarry
//! has nothing for (`pg_index`, `pg_constraint`, `pg_policy`, ...) exist with their
//! columns and no rows, so the queries that join them run.
//!
//! The catalog is wrapped around the lake catalog of PostgreSQL sessions only
//! ([`with_pg_catalog`]); Flight SQL clients do not see it.

//!
//! - `tables.rs`: the tables and their columns;
//! - `rows.rs`: their rows, read from the lake catalog and the connection.

mod rows;
mod tables;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use quarry_catalog::catalog_provider::WithSchema;

use super::settings::Settings;
use tables::TABLES;
pub use tables::{is_catalog_table, is_empty_catalog_table};

/// The schema name.
pub const PG_CATALOG: &str = "pg_catalog";
/// Object ids PostgreSQL fixes.
const PG_CATALOG_OID: u32 = 11;
const PUBLIC_OID: u32 = 2200;
const INFORMATION_SCHEMA_OID: u32 = 13_000;
const DATABASE_OID: u32 = 16_384;
const OWNER_OID: u32 = 10;

/// The catalog `inner` with a `pg_catalog` schema for a session of the PostgreSQL door.
pub fn with_pg_catalog(
    inner: Arc<dyn CatalogProvider>,
    settings: Arc<Settings>,
    user: String,
) -> Arc<dyn CatalogProvider> {
    let schema = Arc::new(PgCatalogSchema {
        lake: Arc::clone(&inner),
        settings,
        user,
    });
    Arc::new(WithSchema::new(inner, PG_CATALOG, schema))
}

/// The `pg_catalog` schema.
#[derive(Debug)]
struct PgCatalogSchema {
    lake: Arc<dyn CatalogProvider>,
    settings: Arc<Settings>,
    user: String,
}

#[async_trait]
impl SchemaProvider for PgCatalogSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|(name, _)| name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((name, columns)) = TABLES.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(c, kind)| Field::new(*c, kind.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        Ok(Some(Arc::new(PgTable {
            name,
            schema,
            source: PgCatalogSource {
                lake: Arc::clone(&self.lake),
                settings: Arc::clone(&self.settings),
                user: self.user.clone(),
            },
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.iter().any(|(n, _)| *n == name)
    }
}

/// Where the rows of the catalog come from.
#[derive(Debug, Clone)]
struct PgCatalogSource {
    lake: Arc<dyn CatalogProvider>,
    settings: Arc<Settings>,
    user: String,
}

/// One `pg_catalog` table, its rows read when it is scanned.
#[derive(Debug)]
struct PgTable {
    name: &'static str,
    schema: SchemaRef,
    source: PgCatalogSource,
}

#[async_trait]
impl TableProvider for PgTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.source.rows(self.name).await?;
        let batch = batch(&self.schema, rows)?;
        MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// Rows held in memory, scanned as a system view: on the scheduler, never as a job.
#[derive(Debug)]
pub struct SystemView(pub MemTable);

#[async_trait]
impl TableProvider for SystemView {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.scan(state, projection, filters, limit).await
    }
}

/// A row: values by column name; columns left out take their kind's default.
type Row = HashMap<&'static str, ScalarValue>;

fn batch(schema: &SchemaRef, rows: Vec<Row>) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            if rows.is_empty() {
                return Ok(new_empty_array(field.data_type()));
            }
            let values = rows.iter().map(|row| match row.get(field.name().as_str()) {
                Some(value) => value.clone(),
                None => default_of(field.data_type()),
            });
            ScalarValue::iter_to_array(values)
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// What a column holds when a row does not say: zero, false, or null text.
fn default_of(data_type: &DataType) -> ScalarValue {
    match data_type {
        DataType::UInt32 => ScalarValue::UInt32(Some(0)),
        DataType::Int16 => ScalarValue::Int16(Some(0)),
        DataType::Int32 => ScalarValue::Int32(Some(0)),
        DataType::Float32 => ScalarValue::Float32(Some(0.0)),
        DataType::Boolean => ScalarValue::Boolean(Some(false)),
        other => ScalarValue::try_from(other).unwrap_or(ScalarValue::Null),
    }
}

/// The object id of schema `name`.
pub fn namespace_oid(name: &str) -> u32 {
    match name {
        PG_CATALOG => PG_CATALOG_OID,
        "public" => PUBLIC_OID,
        "information_schema" => INFORMATION_SCHEMA_OID,
        _ => stable_oid(name),
    }
}

/// The object id of relation `schema.name`.
pub fn relation_oid(schema: &str, name: &str) -> u32 {
    stable_oid(&format!("{schema}.{name}"))
}

/// The object id of the relation `'name'::regclass` names: `schema.table`, or a
/// `pg_catalog` table, or a table of the current `schema`.
pub fn regclass_oid(name: &str, schema: &str) -> u32 {
    let parts: Vec<&str> = name.split('.').map(|p| p.trim_matches('"')).collect();
    match parts.as_slice() {
        [schema, table] => relation_oid(schema, table),
        [table] if is_catalog_table(table) => relation_oid(PG_CATALOG, table),
        [table] => relation_oid(schema, table),
        _ => 0,
    }
}

/// A hash of `key` in the range of user object ids (16384 and above).
fn stable_oid(key: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    DATABASE_OID + 1 + hash % (i32::MAX as u32 - DATABASE_OID - 1)
}

#[cfg(test)]
mod tests {
    use super::rows::text;
    use super::tables::Kind;
    use super::*;

    #[test]
    fn object_ids_are_stable_and_in_the_user_range() {
        assert_eq!(relation_oid("gold", "sales"), relation_oid("gold", "sales"));
        assert_ne!(relation_oid("gold", "sales"), relation_oid("gold", "sale"));
        assert!(relation_oid("gold", "sales") > DATABASE_OID);
        assert!(relation_oid("gold", "sales") < i32::MAX as u32);
        assert_eq!(namespace_oid("public"), 2200);
    }

    #[test]
    fn rows_take_defaults_for_the_columns_they_leave_out() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("oid", DataType::UInt32, true),
            Field::new("relname", DataType::Utf8, true),
            Field::new("relacl", Kind::TextArray.data_type(), true),
            Field::new("relhasindex", DataType::Boolean, true),
        ]));
        let batch = batch(&schema, vec![Row::from([("relname", text("t"))])]).unwrap();
        let shown = datafusion::arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(
            shown.contains("| 0   | t       |        | false       |"),
            "{shown}"
        );
    }
}

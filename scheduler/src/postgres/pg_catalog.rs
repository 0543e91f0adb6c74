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

use super::settings::Settings;
use super::types::{pg_type, type_modifier, type_size};

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
    Arc::new(PgLakeCatalog { inner, schema })
}

/// The lake catalog plus `pg_catalog`.
#[derive(Debug)]
struct PgLakeCatalog {
    inner: Arc<dyn CatalogProvider>,
    schema: Arc<PgCatalogSchema>,
}

impl CatalogProvider for PgLakeCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        names.push(PG_CATALOG.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match name {
            PG_CATALOG => Some(Arc::clone(&self.schema) as Arc<dyn SchemaProvider>),
            _ => self.inner.schema(name),
        }
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
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

fn oid(v: u32) -> ScalarValue {
    ScalarValue::UInt32(Some(v))
}

fn text(v: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}

fn int2(v: i16) -> ScalarValue {
    ScalarValue::Int16(Some(v))
}

fn int4(v: i32) -> ScalarValue {
    ScalarValue::Int32(Some(v))
}

fn boolean(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}

/// Whether `name` is a table of `pg_catalog`.
pub fn is_catalog_table(name: &str) -> bool {
    TABLES.iter().any(|(n, _)| *n == name)
}

/// Whether `name` is a table of `pg_catalog` that never has rows: Quarry has no
/// defaults, indexes, constraints, inheritance, policies, publications, ...
pub fn is_empty_catalog_table(name: &str) -> bool {
    is_catalog_table(name) && !POPULATED.contains(&name)
}

/// The `pg_catalog` tables that have rows.
const POPULATED: [&str; 11] = [
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_database",
    "pg_settings",
    "pg_roles",
    "pg_user",
    "pg_authid",
    "pg_am",
    "pg_tablespace",
];

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

/// A hash of `key` in the range of user object ids (16384 and above).
fn stable_oid(key: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    DATABASE_OID + 1 + hash % (i32::MAX as u32 - DATABASE_OID - 1)
}

/// A relation the catalog lists.
struct Relation {
    schema: String,
    name: String,
    kind: &'static str,
    columns: SchemaRef,
}

impl PgCatalogSource {
    /// The schemas of the lake catalog, with `pg_catalog`.
    fn schemas(&self) -> Vec<String> {
        let mut names = self.lake.schema_names();
        names.push("information_schema".into());
        names.push(PG_CATALOG.into());
        names.sort();
        names.dedup();
        names
    }

    /// The relations: the lake's tables and views, and `pg_catalog`'s own tables.
    async fn relations(&self) -> Result<Vec<Relation>> {
        let mut relations = Vec::new();
        for schema in self.lake.schema_names() {
            let Some(provider) = self.lake.schema(&schema) else {
                continue;
            };
            let mut names = provider.table_names();
            names.sort();
            for name in names {
                let Ok(Some(table)) = provider.table(&name).await else {
                    continue;
                };
                let kind = match table.table_type() {
                    TableType::View => "v",
                    _ => "r",
                };
                let columns = table.schema();
                relations.push(Relation {
                    schema: schema.clone(),
                    name,
                    kind,
                    columns,
                });
            }
        }
        for (name, columns) in TABLES {
            let fields: Vec<Field> = columns
                .iter()
                .map(|(c, kind)| Field::new(*c, kind.data_type(), true))
                .collect();
            relations.push(Relation {
                schema: PG_CATALOG.into(),
                name: name.to_string(),
                kind: "v",
                columns: Arc::new(Schema::new(fields)),
            });
        }
        Ok(relations)
    }

    async fn rows(&self, table: &str) -> Result<Vec<Row>> {
        Ok(match table {
            "pg_namespace" => self
                .schemas()
                .into_iter()
                .map(|name| {
                    Row::from([
                        ("oid", oid(namespace_oid(&name))),
                        ("nspname", text(name)),
                        ("nspowner", oid(OWNER_OID)),
                    ])
                })
                .collect(),
            "pg_class" => self
                .relations()
                .await?
                .into_iter()
                .map(|r| {
                    Row::from([
                        ("oid", oid(relation_oid(&r.schema, &r.name))),
                        ("relname", text(&r.name)),
                        ("relnamespace", oid(namespace_oid(&r.schema))),
                        ("relowner", oid(OWNER_OID)),
                        ("relam", oid(if r.kind == "r" { 2 } else { 0 })),
                        ("relkind", text(r.kind)),
                        ("relnatts", int2(r.columns.fields().len() as i16)),
                        ("relpersistence", text("p")),
                        ("relreplident", text("d")),
                        ("relispopulated", boolean(true)),
                        ("reltuples", ScalarValue::Float32(Some(-1.0))),
                    ])
                })
                .collect(),
            "pg_attribute" => self
                .relations()
                .await?
                .iter()
                .flat_map(|r| {
                    let relation = relation_oid(&r.schema, &r.name);
                    r.columns.fields().iter().enumerate().map(move |(i, f)| {
                        let pg = pg_type(f.data_type());
                        Row::from([
                            ("attrelid", oid(relation)),
                            ("attname", text(f.name())),
                            ("atttypid", oid(pg.oid())),
                            ("attlen", int2(type_size(&pg))),
                            ("attnum", int2(i as i16 + 1)),
                            ("atttypmod", int4(type_modifier(f.data_type()))),
                            ("attnotnull", boolean(!f.is_nullable())),
                            ("attisdropped", boolean(false)),
                            ("attislocal", boolean(true)),
                            ("attidentity", text("")),
                            ("attgenerated", text("")),
                            ("attstattarget", int2(-1)),
                            ("attndims", int2(0)),
                        ])
                    })
                })
                .collect(),
            "pg_type" => super::types::catalog_types()
                .into_iter()
                .map(|(pg, category)| {
                    let element = match pg.kind() {
                        postgres_types::Kind::Array(e) => e.oid(),
                        _ => 0,
                    };
                    Row::from([
                        ("oid", oid(pg.oid())),
                        ("typname", text(pg.name())),
                        ("typnamespace", oid(PG_CATALOG_OID)),
                        ("typowner", oid(OWNER_OID)),
                        ("typlen", int2(type_size(&pg))),
                        (
                            "typbyval",
                            boolean(type_size(&pg) > 0 && type_size(&pg) <= 8),
                        ),
                        ("typtype", text("b")),
                        ("typcategory", text(category)),
                        ("typisdefined", boolean(true)),
                        ("typdelim", text(",")),
                        ("typelem", oid(element)),
                        ("typinput", text(format!("{}in", pg.name()))),
                        ("typoutput", text(format!("{}out", pg.name()))),
                        ("typalign", text("i")),
                        ("typstorage", text("p")),
                        ("typtypmod", int4(-1)),
                        ("typcollation", oid(if category == "S" { 100 } else { 0 })),
                    ])
                })
                .collect(),
            "pg_database" => vec![Row::from([
                ("oid", oid(DATABASE_OID)),
                ("datname", text(crate::session::CATALOG)),
                ("datdba", oid(OWNER_OID)),
                ("encoding", int4(6)),
                ("datcollate", text("C.UTF-8")),
                ("datctype", text("C.UTF-8")),
                ("datallowconn", boolean(true)),
                ("datconnlimit", int4(-1)),
                ("dattablespace", oid(1663)),
            ])],
            "pg_settings" => self
                .settings
                .all()
                .into_iter()
                .map(|s| {
                    Row::from([
                        ("name", text(s.name)),
                        ("setting", text(s.value.clone())),
                        ("category", text("Quarry")),
                        ("short_desc", text(s.description)),
                        ("context", text("user")),
                        ("vartype", text("string")),
                        ("source", text("default")),
                        ("boot_val", text(s.value.clone())),
                        ("reset_val", text(s.value)),
                    ])
                })
                .collect(),
            "pg_roles" | "pg_user" | "pg_authid" => vec![Row::from([
                ("oid", oid(OWNER_OID)),
                ("usesysid", oid(OWNER_OID)),
                ("rolname", text(&self.user)),
                ("usename", text(&self.user)),
                ("rolsuper", boolean(true)),
                ("usesuper", boolean(true)),
                ("rolinherit", boolean(true)),
                ("rolcanlogin", boolean(true)),
                ("rolconnlimit", int4(-1)),
            ])],
            "pg_am" => vec![Row::from([
                ("oid", oid(2)),
                ("amname", text("heap")),
                ("amtype", text("t")),
            ])],
            "pg_tablespace" => vec![Row::from([
                ("oid", oid(1663)),
                ("spcname", text("pg_default")),
                ("spcowner", oid(OWNER_OID)),
            ])],
            _ => vec![],
        })
    }
}

/// The kinds of catalog columns.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Oid,
    Text,
    Int2,
    Int4,
    Float4,
    Bool,
    TextArray,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Oid => DataType::UInt32,
            Kind::Text => DataType::Utf8,
            Kind::Int2 => DataType::Int16,
            Kind::Int4 => DataType::Int32,
            Kind::Float4 => DataType::Float32,
            Kind::Bool => DataType::Boolean,
            Kind::TextArray => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }
}

use Kind::{Bool, Float4, Int2, Int4, Oid, Text, TextArray};

/// The tables of `pg_catalog` and their columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "pg_namespace",
        &[
            ("oid", Oid),
            ("nspname", Text),
            ("nspowner", Oid),
            ("nspacl", TextArray),
        ],
    ),
    (
        "pg_class",
        &[
            ("oid", Oid),
            ("relname", Text),
            ("relnamespace", Oid),
            ("reltype", Oid),
            ("reloftype", Oid),
            ("relowner", Oid),
            ("relam", Oid),
            ("relfilenode", Oid),
            ("reltablespace", Oid),
            ("relpages", Int4),
            ("reltuples", Float4),
            ("relallvisible", Int4),
            ("reltoastrelid", Oid),
            ("relhasindex", Bool),
            ("relisshared", Bool),
            ("relpersistence", Text),
            ("relkind", Text),
            ("relnatts", Int2),
            ("relchecks", Int2),
            ("relhasrules", Bool),
            ("relhastriggers", Bool),
            ("relhassubclass", Bool),
            ("relrowsecurity", Bool),
            ("relforcerowsecurity", Bool),
            ("relispopulated", Bool),
            ("relreplident", Text),
            ("relispartition", Bool),
            ("relrewrite", Oid),
            ("relacl", TextArray),
            ("reloptions", TextArray),
            ("relpartbound", Text),
        ],
    ),
    (
        "pg_attribute",
        &[
            ("attrelid", Oid),
            ("attname", Text),
            ("atttypid", Oid),
            ("attstattarget", Int2),
            ("attlen", Int2),
            ("attnum", Int2),
            ("attndims", Int2),
            ("atttypmod", Int4),
            ("attbyval", Bool),
            ("attalign", Text),
            ("attstorage", Text),
            ("attcompression", Text),
            ("attnotnull", Bool),
            ("atthasdef", Bool),
            ("atthasmissing", Bool),
            ("attidentity", Text),
            ("attgenerated", Text),
            ("attisdropped", Bool),
            ("attislocal", Bool),
            ("attinhcount", Int2),
            ("attcollation", Oid),
            ("attacl", TextArray),
            ("attoptions", TextArray),
        ],
    ),
    (
        "pg_type",
        &[
            ("oid", Oid),
            ("typname", Text),
            ("typnamespace", Oid),
            ("typowner", Oid),
            ("typlen", Int2),
            ("typbyval", Bool),
            ("typtype", Text),
            ("typcategory", Text),
            ("typispreferred", Bool),
            ("typisdefined", Bool),
            ("typdelim", Text),
            ("typrelid", Oid),
            ("typelem", Oid),
            ("typarray", Oid),
            ("typinput", Text),
            ("typoutput", Text),
            ("typreceive", Text),
            ("typsend", Text),
            ("typalign", Text),
            ("typstorage", Text),
            ("typnotnull", Bool),
            ("typbasetype", Oid),
            ("typtypmod", Int4),
            ("typndims", Int4),
            ("typcollation", Oid),
            ("typdefault", Text),
            ("typacl", TextArray),
        ],
    ),
    (
        "pg_database",
        &[
            ("oid", Oid),
            ("datname", Text),
            ("datdba", Oid),
            ("encoding", Int4),
            ("datcollate", Text),
            ("datctype", Text),
            ("datistemplate", Bool),
            ("datallowconn", Bool),
            ("datconnlimit", Int4),
            ("dattablespace", Oid),
            ("datacl", TextArray),
        ],
    ),
    (
        "pg_settings",
        &[
            ("name", Text),
            ("setting", Text),
            ("unit", Text),
            ("category", Text),
            ("short_desc", Text),
            ("extra_desc", Text),
            ("context", Text),
            ("vartype", Text),
            ("source", Text),
            ("min_val", Text),
            ("max_val", Text),
            ("enumvals", TextArray),
            ("boot_val", Text),
            ("reset_val", Text),
        ],
    ),
    (
        "pg_description",
        &[
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", Int4),
            ("description", Text),
        ],
    ),
    (
        "pg_proc",
        &[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prokind", Text),
            ("proretset", Bool),
            ("prorettype", Oid),
            ("pronargs", Int2),
            ("proargtypes", Text),
            ("proargnames", TextArray),
            ("prosrc", Text),
        ],
    ),
    (
        "pg_index",
        &[
            ("indexrelid", Oid),
            ("indrelid", Oid),
            ("indnatts", Int2),
            ("indnkeyatts", Int2),
            ("indisunique", Bool),
            ("indisprimary", Bool),
            ("indisclustered", Bool),
            ("indisvalid", Bool),
            ("indkey", Text),
            ("indexprs", Text),
            ("indpred", Text),
        ],
    ),
    (
        "pg_constraint",
        &[
            ("oid", Oid),
            ("conname", Text),
            ("connamespace", Oid),
            ("contype", Text),
            ("conrelid", Oid),
            ("conindid", Oid),
            ("confrelid", Oid),
            ("conkey", TextArray),
            ("confkey", TextArray),
        ],
    ),
    (
        "pg_am",
        &[
            ("oid", Oid),
            ("amname", Text),
            ("amhandler", Text),
            ("amtype", Text),
        ],
    ),
    (
        "pg_attrdef",
        &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", Int2),
            ("adbin", Text),
        ],
    ),
    (
        "pg_inherits",
        &[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", Int4),
            ("inhdetachpending", Bool),
        ],
    ),
    (
        "pg_roles",
        &[
            ("oid", Oid),
            ("rolname", Text),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcanlogin", Bool),
            ("rolconnlimit", Int4),
        ],
    ),
    (
        "pg_user",
        &[("usesysid", Oid), ("usename", Text), ("usesuper", Bool)],
    ),
    (
        "pg_tablespace",
        &[("oid", Oid), ("spcname", Text), ("spcowner", Oid)],
    ),
    (
        "pg_collation",
        &[("oid", Oid), ("collname", Text), ("collnamespace", Oid)],
    ),
    (
        "pg_trigger",
        &[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgname", Text),
            ("tgisinternal", Bool),
        ],
    ),
    (
        "pg_rewrite",
        &[("oid", Oid), ("rulename", Text), ("ev_class", Oid)],
    ),
    (
        "pg_policy",
        &[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", TextArray),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxkind", TextArray),
        ],
    ),
    (
        "pg_publication",
        &[("oid", Oid), ("pubname", Text), ("puballtables", Bool)],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", TextArray),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
    ),
    (
        "pg_extension",
        &[("oid", Oid), ("extname", Text), ("extversion", Text)],
    ),
    ("pg_event_trigger", &[("oid", Oid), ("evtname", Text)]),
    ("pg_sequence", &[("seqrelid", Oid), ("seqtypid", Oid)]),
    (
        "pg_matviews",
        &[("schemaname", Text), ("matviewname", Text)],
    ),
    ("pg_foreign_table", &[("ftrelid", Oid), ("ftserver", Oid)]),
];

#[cfg(test)]
mod tests {
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

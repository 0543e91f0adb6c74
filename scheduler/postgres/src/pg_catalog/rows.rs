//! The rows of the `pg_catalog` tables: schemas, relations and their columns from the
//! lake catalog, types from the PostgreSQL door's type mapping, settings and the user
//! from the connection.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::TableType;

use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::stats::total_records;

use super::tables::TABLES;
use super::{
    DATABASE_OID, OWNER_OID, PG_CATALOG, PG_CATALOG_OID, PgCatalogSource, Row, namespace_oid,
    relation_oid,
};
use crate::types::{catalog_types, pg_type, type_modifier, type_size};

fn oid(v: u32) -> ScalarValue {
    ScalarValue::UInt32(Some(v))
}

pub(super) fn text(v: impl Into<String>) -> ScalarValue {
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

/// A type's input (`direction` "in") or output function: `int4in`; `array_in` for arrays.
fn io_function(pg: &postgres_types::Type, direction: &str) -> String {
    match pg.kind() {
        postgres_types::Kind::Array(_) => format!("array_{direction}"),
        _ => format!("{}{direction}", pg.name()),
    }
}

/// A relation the catalog lists.
struct Relation {
    schema: String,
    name: String,
    kind: &'static str,
    columns: SchemaRef,
    /// A view's query.
    definition: Option<String>,
    /// The number of rows, when the table's statistics know it.
    rows: Option<usize>,
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
                    definition: table.get_table_definition().map(str::to_string),
                    rows: table
                        .as_any()
                        .downcast_ref::<IcebergTable>()
                        .and_then(IcebergTable::table)
                        .and_then(total_records)
                        .map(|n| n as usize)
                        .or_else(|| table.statistics()?.num_rows.get_value().copied()),
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
                definition: None,
                rows: None,
            });
        }
        Ok(relations)
    }

    /// A row, made by `row`, per table (`kind` "r") or view ("v") of the lake.
    async fn lake_rows(&self, kind: &str, row: impl Fn(Relation) -> Row) -> Result<Vec<Row>> {
        Ok(self
            .relations()
            .await?
            .into_iter()
            .filter(|r| r.kind == kind && r.schema != PG_CATALOG)
            .map(row)
            .collect())
    }

    pub(super) async fn rows(&self, table: &str) -> Result<Vec<Row>> {
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
            "pg_type" => catalog_types()
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
                        ("typinput", text(io_function(&pg, "in"))),
                        ("typoutput", text(io_function(&pg, "out"))),
                        ("typalign", text("i")),
                        ("typstorage", text("p")),
                        ("typtypmod", int4(-1)),
                        ("typcollation", oid(if category == "S" { 100 } else { 0 })),
                    ])
                })
                .collect(),
            "pg_database" => vec![Row::from([
                ("oid", oid(DATABASE_OID)),
                ("datname", text(quarry_scheduler::names::CATALOG)),
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
            "pg_views" => {
                self.lake_rows("v", |r| {
                    Row::from([
                        ("schemaname", text(r.schema)),
                        ("viewname", text(r.name)),
                        ("viewowner", text(&self.user)),
                        ("definition", text(r.definition.unwrap_or_default())),
                    ])
                })
                .await?
            }
            "pg_tables" => {
                self.lake_rows("r", |r| {
                    Row::from([
                        ("schemaname", text(r.schema)),
                        ("tablename", text(r.name)),
                        ("tableowner", text(&self.user)),
                    ])
                })
                .await?
            }
            "pg_stat_user_tables" => {
                self.lake_rows("r", |r| {
                    Row::from([
                        ("relid", oid(relation_oid(&r.schema, &r.name))),
                        ("schemaname", text(r.schema)),
                        ("relname", text(r.name)),
                        ("n_live_tup", ScalarValue::Int64(r.rows.map(|n| n as i64))),
                    ])
                })
                .await?
            }
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

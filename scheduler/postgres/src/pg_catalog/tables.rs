//! The tables of `pg_catalog`, their columns, and which of them have rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};

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
const POPULATED: [&str; 14] = [
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
    "pg_views",
    "pg_tables",
    "pg_stat_user_tables",
];

/// The kinds of catalog columns.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Oid,
    Text,
    Int2,
    Int4,
    Int8,
    Float4,
    Bool,
    TextArray,
    Int2Array,
}

impl Kind {
    pub(super) fn data_type(self) -> DataType {
        match self {
            Kind::Oid => DataType::UInt32,
            Kind::Text => DataType::Utf8,
            Kind::Int2 => DataType::Int16,
            Kind::Int4 => DataType::Int32,
            Kind::Int8 => DataType::Int64,
            Kind::Float4 => DataType::Float32,
            Kind::Bool => DataType::Boolean,
            Kind::TextArray => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Kind::Int2Array => DataType::List(Arc::new(Field::new("item", DataType::Int16, true))),
        }
    }
}

use Kind::{Bool, Float4, Int2, Int2Array, Int4, Int8, Oid, Text, TextArray};

/// The tables of `pg_catalog` and their columns.
pub(super) const TABLES: &[(&str, &[(&str, Kind)])] = &[
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
            ("indkey", Int2Array),
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
            ("conkey", Int2Array),
            ("confkey", Int2Array),
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
        "pg_views",
        &[
            ("schemaname", Text),
            ("viewname", Text),
            ("viewowner", Text),
            ("definition", Text),
        ],
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
    (
        "pg_tables",
        &[
            ("schemaname", Text),
            ("tablename", Text),
            ("tableowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ],
    ),
    (
        "pg_depend",
        &[
            ("classid", Oid),
            ("objid", Oid),
            ("objsubid", Int4),
            ("refclassid", Oid),
            ("refobjid", Oid),
            ("refobjsubid", Int4),
            ("deptype", Text),
        ],
    ),
    (
        "pg_stat_user_tables",
        &[
            ("relid", Oid),
            ("schemaname", Text),
            ("relname", Text),
            ("n_live_tup", Int8),
        ],
    ),
    (
        "pg_replication_slots",
        &[
            ("slot_name", Text),
            ("plugin", Text),
            ("slot_type", Text),
            ("datoid", Oid),
            ("database", Text),
            ("active", Bool),
        ],
    ),
    (
        "pg_enum",
        &[
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", Float4),
            ("enumlabel", Text),
        ],
    ),
];

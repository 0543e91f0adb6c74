//! PostgreSQL's system information functions that catalog queries call, registered in
//! each PostgreSQL session: `format_type`, `pg_get_userbyid`, `pg_table_is_visible`,
//! `current_schemas`, the `has_*_privilege` family, `obj_description`, `pg_get_expr`,
//! `to_regclass`, the relation sizes, and
//! `pg_get_keywords()`; and the two that translate DataFusion's
//! `information_schema.columns` types for PostgreSQL ([`information_schema`]).
//!
//! Quarry has no comments, defaults, indexes or privileges to report, so those
//! functions answer as PostgreSQL does for objects without them: no description, no
//! expression, every privilege granted to the one user.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, Volatility};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;

use quarry_catalog::sql_functions::RowFunction;

use super::information_schema::{self, DATA_TYPE_FUNCTION, UDT_NAME_FUNCTION};
use super::pg_catalog::{PG_CATALOG, SystemView, regclass_oid};
use super::types::catalog_types;

/// What a function may read: who is logged in, and the session's schema.
struct Context<'a> {
    user: &'a str,
    schema: &'a str,
}

type Eval = fn(&Context<'_>, &[ScalarValue]) -> ScalarValue;

/// A function: name, the numbers of arguments it takes, its result type, its value.
type Definition = (&'static str, &'static [usize], fn() -> DataType, Eval);

const FUNCTIONS: &[Definition] = &[
    ("pg_get_userbyid", &[1], utf8, |c, _| text(c.user)),
    ("pg_table_is_visible", &[1], boolean, |_, _| yes()),
    ("pg_type_is_visible", &[1], boolean, |_, _| yes()),
    ("pg_function_is_visible", &[1], boolean, |_, _| yes()),
    ("has_table_privilege", &[2, 3], boolean, |_, _| yes()),
    ("has_schema_privilege", &[2, 3], boolean, |_, _| yes()),
    ("has_database_privilege", &[2, 3], boolean, |_, _| yes()),
    ("has_column_privilege", &[3, 4], boolean, |_, _| yes()),
    ("has_any_column_privilege", &[2, 3], boolean, |_, _| yes()),
    ("format_type", &[2], utf8, format_type),
    ("obj_description", &[1, 2], utf8, |_, _| no_text()),
    ("col_description", &[2], utf8, |_, _| no_text()),
    ("shobj_description", &[2], utf8, |_, _| no_text()),
    ("pg_get_expr", &[2, 3], utf8, |_, _| no_text()),
    ("pg_get_indexdef", &[1, 3], utf8, |_, _| no_text()),
    ("pg_get_constraintdef", &[1, 2], utf8, |_, _| no_text()),
    ("pg_get_viewdef", &[1, 2], utf8, |_, _| no_text()),
    ("pg_get_triggerdef", &[1, 2], utf8, |_, _| no_text()),
    ("pg_get_partkeydef", &[1], utf8, |_, _| no_text()),
    ("pg_get_statisticsobjdef_columns", &[1], utf8, |_, _| {
        no_text()
    }),
    ("pg_relation_is_publishable", &[1], boolean, |_, _| {
        ScalarValue::Boolean(Some(false))
    }),
    ("pg_is_other_temp_schema", &[1], boolean, |_, _| {
        ScalarValue::Boolean(Some(false))
    }),
    ("pg_encoding_to_char", &[1], utf8, |_, _| text("UTF8")),
    ("pg_backend_pid", &[0], int4, |_, _| {
        ScalarValue::Int32(Some(std::process::id() as i32))
    }),
    ("current_schemas", &[1], text_list, current_schemas),
    ("to_regclass", &[1], int8, |c, args| {
        ScalarValue::Int64(text_arg(args).map(|name| i64::from(regclass_oid(name, c.schema))))
    }),
    // Quarry keeps no relation sizes or index statistics here: PostgreSQL's values for
    // an empty relation.
    ("pg_total_relation_size", &[1], int8, |_, _| zero8()),
    ("pg_relation_size", &[1, 2], int8, |_, _| zero8()),
    ("pg_table_size", &[1], int8, |_, _| zero8()),
    ("pg_indexes_size", &[1], int8, |_, _| zero8()),
    ("pg_stat_get_numscans", &[1], int8, |_, _| zero8()),
    (DATA_TYPE_FUNCTION, &[1], utf8, |_, args| {
        ScalarValue::Utf8(text_arg(args).map(information_schema::data_type))
    }),
    (UDT_NAME_FUNCTION, &[1], utf8, |_, args| {
        ScalarValue::Utf8(text_arg(args).and_then(information_schema::udt_name))
    }),
];

fn utf8() -> DataType {
    DataType::Utf8
}

fn boolean() -> DataType {
    DataType::Boolean
}

fn int4() -> DataType {
    DataType::Int32
}

fn int8() -> DataType {
    DataType::Int64
}

fn zero8() -> ScalarValue {
    ScalarValue::Int64(Some(0))
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn text(s: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(s.to_string()))
}

fn yes() -> ScalarValue {
    ScalarValue::Boolean(Some(true))
}

fn no_text() -> ScalarValue {
    ScalarValue::Utf8(None)
}

/// The first argument as text.
fn text_arg(args: &[ScalarValue]) -> Option<&str> {
    match args.first() {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => Some(s),
        _ => None,
    }
}

/// `format_type(type_oid, typmod)`: the type's SQL name, `numeric(12,2)` with a typmod.
fn format_type(_: &Context<'_>, args: &[ScalarValue]) -> ScalarValue {
    let oid = match args.first().map(|v| v.cast_to(&DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(oid)))) => oid,
        _ => return no_text(),
    };
    let typmod = match args.get(1).map(|v| v.cast_to(&DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(m)))) => m,
        _ => -1,
    };
    let name = catalog_types()
        .into_iter()
        .find(|(t, _)| i64::from(t.oid()) == oid)
        .map(|(t, _)| match t.name() {
            "int2" => "smallint".to_string(),
            "int4" => "integer".to_string(),
            "int8" => "bigint".to_string(),
            "float4" => "real".to_string(),
            "float8" => "double precision".to_string(),
            "bool" => "boolean".to_string(),
            "varchar" => "character varying".to_string(),
            "timestamp" => "timestamp without time zone".to_string(),
            "timestamptz" => "timestamp with time zone".to_string(),
            "numeric" if typmod >= 4 => {
                format!("numeric({},{})", (typmod - 4) >> 16, (typmod - 4) & 0xffff)
            }
            name if name.starts_with('_') => format!("{}[]", &name[1..]),
            name => name.to_string(),
        })
        .unwrap_or_else(|| "???".to_string());
    text(&name)
}

/// `current_schemas(include_implicit)`: the search path, `pg_catalog` first when asked.
fn current_schemas(context: &Context<'_>, args: &[ScalarValue]) -> ScalarValue {
    let implicit = matches!(args.first(), Some(ScalarValue::Boolean(Some(true))));
    let mut schemas = Vec::new();
    if implicit {
        schemas.push(text(PG_CATALOG));
    }
    schemas.push(text(context.schema));
    ScalarValue::List(ScalarValue::new_list_nullable(&schemas, &DataType::Utf8))
}

/// `format_type` depends on its arguments alone, so DataFusion may evaluate it while
/// planning; the others read the session or the catalog.
fn volatility(name: &str) -> Volatility {
    match name == "format_type" {
        true => Volatility::Immutable,
        false => Volatility::Stable,
    }
}

/// Registers the functions in `ctx` for `user`.
pub fn register(ctx: &SessionContext, user: &str) {
    for (name, arities, return_type, eval) in FUNCTIONS {
        let (eval, user) = (*eval, user.to_string());
        ctx.register_udf(RowFunction::udf(
            name,
            user.clone(),
            (arities, volatility(name)),
            return_type(),
            Arc::new(move |options, row| {
                let context = Context {
                    user: &user,
                    schema: &options.catalog.default_schema,
                };
                eval(&context, row)
            }),
        ));
    }
    ctx.register_udtf("pg_get_keywords", Arc::new(Keywords));
}

/// `pg_get_keywords()`: the SQL keywords, as psql's completion and DBeaver read them.
#[derive(Debug)]
struct Keywords;

impl TableFunctionImpl for Keywords {
    fn call(&self, _args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("catcode", DataType::Utf8, false),
            Field::new("catdesc", DataType::Utf8, false),
        ]));
        let words: StringArray = ALL_KEYWORDS
            .iter()
            .map(|w| Some(w.to_ascii_lowercase()))
            .collect();
        let n = words.len();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(words),
                Arc::new(StringArray::from(vec!["U"; n])),
                Arc::new(StringArray::from(vec!["unreserved"; n])),
            ],
        )?;
        Ok(Arc::new(SystemView(MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_type_names_types_as_postgres_does() {
        let context = Context {
            user: "ann",
            schema: "gold",
        };
        let f = |oid: u32, typmod: i32| {
            format_type(
                &context,
                &[
                    ScalarValue::UInt32(Some(oid)),
                    ScalarValue::Int32(Some(typmod)),
                ],
            )
        };
        assert_eq!(f(23, -1), text("integer"));
        assert_eq!(f(1700, (12 << 16) + 2 + 4), text("numeric(12,2)"));
        assert_eq!(f(1007, -1), text("int4[]"));
        assert_eq!(
            current_schemas(&context, &[ScalarValue::Boolean(Some(true))]).to_string(),
            "[pg_catalog, gold]"
        );
    }
}

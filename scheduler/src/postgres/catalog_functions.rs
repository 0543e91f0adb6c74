//! PostgreSQL's system information functions that catalog queries call, registered in
//! each PostgreSQL session: `format_type`, `pg_get_userbyid`, `pg_table_is_visible`,
//! `current_schemas`, the `has_*_privilege` family, `obj_description`, `pg_get_expr`,
//! `quote_ident`, `parse_ident`, `format`, `to_regclass`, `array_lower`/`array_upper`,
//! the relation sizes, and
//! `pg_get_keywords()`; and the two that translate DataFusion's
//! `information_schema.columns` types for PostgreSQL ([`information_schema`]).
//!
//! Quarry has no comments, defaults, indexes or privileges to report, so those
//! functions answer as PostgreSQL does for objects without them: no description, no
//! expression, every privilege granted to the one user.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;

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
    (
        "format",
        &[1, 2, 3, 4, 5, 6],
        utf8,
        |_, args| match text_arg(args) {
            Some(template) => ScalarValue::Utf8(Some(format(template, &args[1..]))),
            None => no_text(),
        },
    ),
    ("quote_ident", &[1], utf8, |_, args| {
        ScalarValue::Utf8(text_arg(args).map(quote_ident))
    }),
    (
        "parse_ident",
        &[1, 2],
        text_list,
        |_, args| match text_arg(args) {
            Some(name) => ScalarValue::List(ScalarValue::new_list_nullable(
                &parse_ident(name)
                    .iter()
                    .map(|p| text(p))
                    .collect::<Vec<_>>(),
                &DataType::Utf8,
            )),
            None => ScalarValue::try_from(text_list()).unwrap_or(ScalarValue::Null),
        },
    ),
    // One-dimensional arrays, counted from 1; as bigint (PostgreSQL says integer), which
    // DataFusion's generate_series takes.
    ("array_lower", &[2], int8, |_, args| {
        array_bound(args, |_| 1)
    }),
    ("array_upper", &[2], int8, |_, args| {
        array_bound(args, |n| n)
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

/// PostgreSQL's `format(template, args..)`: `%s` a value as text (NULL as nothing),
/// `%I` an identifier quoted as needed, `%L` a literal quoted (NULL as `NULL`), `%%`.
fn format(template: &str, args: &[ScalarValue]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next();
        let value = match spec {
            Some('s' | 'I' | 'L') => args.next().filter(|v| !v.is_null()).map(|v| match v {
                ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.clone(),
                v => v.to_string(),
            }),
            _ => None,
        };
        match (spec, value) {
            (Some('s'), value) => out.push_str(&value.unwrap_or_default()),
            (Some('I'), value) => out.push_str(&quote_ident(&value.unwrap_or_default())),
            (Some('L'), Some(value)) => out.push_str(&format!("'{}'", value.replace('\'', "''"))),
            (Some('L'), None) => out.push_str("NULL"),
            (Some(other), _) => out.push(other),
            (None, _) => out.push('%'),
        }
    }
    out
}

/// `quote_ident(name)`: the name, in double quotes when it needs them.
fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    match plain {
        true => name.to_string(),
        false => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// `parse_ident('a."B c"')`: the parts of a qualified name, unquoted (`a`, `B c`);
/// parts without quotes are lower-cased.
fn parse_ident(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut chars = name.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != '.') {
                chars.next();
                part.push(c.to_ascii_lowercase());
            }
        }
        parts.push(part.trim().to_string());
        if chars.next() != Some('.') {
            return parts;
        }
    }
}

/// `array_lower(a, 1)` and `array_upper(a, 1)`: `bound` of the length of the array, or
/// NULL for an empty array or another dimension.
fn array_bound(args: &[ScalarValue], bound: fn(i64) -> i64) -> ScalarValue {
    let dimension = args.get(1).and_then(|d| d.cast_to(&DataType::Int64).ok());
    let length = match (args.first(), dimension) {
        (Some(ScalarValue::List(list)), Some(ScalarValue::Int64(Some(1)))) if !list.is_null(0) => {
            i64::from(list.value_length(0))
        }
        _ => 0,
    };
    ScalarValue::Int64((length > 0).then(|| bound(length)))
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

/// Functions of their arguments alone, which DataFusion may evaluate while planning
/// (bounds of `generate_series`, say); the others read the session or the catalog.
const IMMUTABLE: [&str; 6] = [
    "quote_ident",
    "parse_ident",
    "format",
    "array_lower",
    "array_upper",
    "format_type",
];

fn volatility(name: &str) -> Volatility {
    match IMMUTABLE.contains(&name) {
        true => Volatility::Immutable,
        false => Volatility::Stable,
    }
}

/// Registers the functions in `ctx` for `user`.
pub fn register(ctx: &SessionContext, user: &str) {
    for (name, arities, return_type, eval) in FUNCTIONS {
        let signatures = arities
            .iter()
            .map(|n| match n {
                0 => TypeSignature::Nullary,
                n => TypeSignature::Any(*n),
            })
            .collect();
        ctx.register_udf(ScalarUDF::new_from_impl(CatalogFunction {
            name,
            signature: Signature::one_of(signatures, volatility(name)),
            return_type: return_type(),
            eval: *eval,
            user: user.to_string(),
        }));
    }
    ctx.register_udtf("pg_get_keywords", Arc::new(Keywords));
}

/// A function of [`FUNCTIONS`].
#[derive(Debug)]
struct CatalogFunction {
    name: &'static str,
    signature: Signature,
    return_type: DataType,
    eval: Eval,
    user: String,
}

impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.user == other.user
    }
}

impl Eq for CatalogFunction {}

impl Hash for CatalogFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.user.hash(state);
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let context = Context {
            user: &self.user,
            schema: &args.config_options.catalog.default_schema,
        };
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let rows = if scalar { 1 } else { args.number_rows };
        let values = (0..rows)
            .map(|row| {
                let row_args = arrays
                    .iter()
                    .map(|a| ScalarValue::try_from_array(a, row))
                    .collect::<Result<Vec<_>>>()?;
                Ok((self.eval)(&context, &row_args))
            })
            .collect::<Result<Vec<ScalarValue>>>()?;
        if scalar && let Some(value) = values.first() {
            return Ok(ColumnarValue::Scalar(value.clone()));
        }
        let array = match rows {
            0 => datafusion::arrow::array::new_empty_array(&self.return_type),
            _ => ScalarValue::iter_to_array(values)?,
        };
        Ok(ColumnarValue::Array(array))
    }
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
    fn format_fills_in_text_identifiers_and_literals() {
        let t = |s: &str| ScalarValue::Utf8(Some(s.to_string()));
        assert_eq!(format("%s", &[t("int8")]), "int8");
        assert_eq!(format("%I.%I", &[t("gold"), t("Sales")]), "gold.\"Sales\"");
        assert_eq!(
            format("%L and %L, 100%%", &[t("it's"), ScalarValue::Utf8(None)]),
            "'it''s' and NULL, 100%"
        );
    }

    #[test]
    fn identifiers_are_quoted_and_parsed_as_postgres_does() {
        assert_eq!(quote_ident("sales"), "sales");
        assert_eq!(quote_ident("Sales"), "\"Sales\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(parse_ident("gold.sales"), ["gold", "sales"]);
        assert_eq!(parse_ident("Gold.\"My \"\"T\"\""), ["gold", "My \"T\""]);
    }

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

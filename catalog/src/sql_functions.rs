//! SQL functions of PostgreSQL's that DataFusion lacks and BI tools call: `format`,
//! `quote_ident`, `parse_ident`, `array_lower` and `array_upper`. They depend on their
//! arguments alone, so every session has them and so does every executor (their
//! function registry): a query that calls them on a table's rows runs distributed like
//! any other.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

/// A function: its name, the numbers of arguments it takes, its result type, its value
/// for one row's arguments.
type Definition = (&'static str, &'static [usize], fn() -> DataType, Eval);
type Eval = fn(&[ScalarValue]) -> ScalarValue;

const FUNCTIONS: &[Definition] = &[
    (
        "format",
        &[1, 2, 3, 4, 5, 6, 7, 8],
        utf8,
        |args| match text(args.first()) {
            Some(template) => ScalarValue::Utf8(Some(format(template, &args[1..]))),
            None => ScalarValue::Utf8(None),
        },
    ),
    ("quote_ident", &[1], utf8, |args| {
        ScalarValue::Utf8(text(args.first()).map(quote_ident))
    }),
    ("parse_ident", &[1, 2], text_list, |args| {
        let parts: Vec<ScalarValue> = match text(args.first()) {
            Some(name) => parse_ident(name)
                .into_iter()
                .map(|p| ScalarValue::Utf8(Some(p)))
                .collect(),
            None => return ScalarValue::try_from(text_list()).unwrap_or(ScalarValue::Null),
        };
        ScalarValue::List(ScalarValue::new_list_nullable(&parts, &DataType::Utf8))
    }),
    // One-dimensional arrays, counted from 1; as bigint (PostgreSQL says integer), which
    // DataFusion's generate_series takes.
    ("array_lower", &[2], int8, |args| array_bound(args, |_| 1)),
    ("array_upper", &[2], int8, |args| array_bound(args, |n| n)),
];

/// The functions, to register in a session or an executor's function registry.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    FUNCTIONS
        .iter()
        .map(|(name, arities, return_type, eval)| {
            let eval = *eval;
            Arc::new(RowFunction::udf(
                name,
                String::new(),
                (arities, Volatility::Immutable),
                return_type(),
                Arc::new(move |_, row| eval(row)),
            ))
        })
        .collect()
}

fn utf8() -> DataType {
    DataType::Utf8
}

fn int8() -> DataType {
    DataType::Int64
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn text(value: Option<&ScalarValue>) -> Option<&str> {
    match value {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => Some(s),
        Some(ScalarValue::LargeUtf8(Some(s))) => Some(s),
        _ => None,
    }
}

/// PostgreSQL's `format(template, args..)`: `%s` a value as text (NULL as nothing),
/// `%I` an identifier quoted as needed, `%L` a literal quoted (NULL as `NULL`), `%%`.
pub fn format(template: &str, args: &[ScalarValue]) -> String {
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
            Some('s' | 'I' | 'L') => args
                .next()
                .filter(|v| !v.is_null())
                .map(|v| text(Some(v)).map_or_else(|| v.to_string(), str::to_string)),
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
pub fn quote_ident(name: &str) -> String {
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
pub fn parse_ident(name: &str) -> Vec<String> {
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

/// What a [`RowFunction`] computes from the session's options and one row's arguments.
pub type RowEval = Arc<dyn Fn(&ConfigOptions, &[ScalarValue]) -> ScalarValue + Send + Sync>;

/// A function evaluated row by row on `ScalarValue`s: for functions of a few rows, as
/// catalog queries call them. Two are the same function when their names and keys are.
pub struct RowFunction {
    name: &'static str,
    key: String,
    signature: Signature,
    return_type: DataType,
    eval: RowEval,
}

impl RowFunction {
    /// A function `name` that takes as many arguments as one of `arities`, returns
    /// `return_type`, and computes `eval`; `key` tells apart functions of one name made
    /// for different sessions (the user they answer for).
    pub fn udf(
        name: &'static str,
        key: String,
        (arities, volatility): (&[usize], Volatility),
        return_type: DataType,
        eval: RowEval,
    ) -> ScalarUDF {
        let signatures = arities
            .iter()
            .map(|n| match n {
                0 => TypeSignature::Nullary,
                n => TypeSignature::Any(*n),
            })
            .collect();
        ScalarUDF::new_from_impl(RowFunction {
            name,
            key,
            signature: Signature::one_of(signatures, volatility),
            return_type,
            eval,
        })
    }
}

impl std::fmt::Debug for RowFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFunction")
            .field("name", &self.name)
            .field("key", &self.key)
            .finish()
    }
}

impl PartialEq for RowFunction {
    fn eq(&self, other: &Self) -> bool {
        (self.name, &self.key) == (other.name, &other.key)
    }
}

impl Eq for RowFunction {}

impl std::hash::Hash for RowFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.name, &self.key).hash(state);
    }
}

impl ScalarUDFImpl for RowFunction {
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
        let options = Arc::clone(&args.config_options);
        invoke_by_rows(&args, &self.return_type, |row| (self.eval)(&options, row))
    }
}

/// A function's value over `args`, computed by `eval` from each row's arguments (once
/// when they are all scalars).
fn invoke_by_rows(
    args: &ScalarFunctionArgs,
    return_type: &DataType,
    eval: impl Fn(&[ScalarValue]) -> ScalarValue,
) -> Result<ColumnarValue> {
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
            Ok(eval(&row_args))
        })
        .collect::<Result<Vec<ScalarValue>>>()?;
    if scalar && let Some(value) = values.first() {
        return Ok(ColumnarValue::Scalar(value.clone()));
    }
    let array = match rows {
        0 => datafusion::arrow::array::new_empty_array(return_type),
        _ => ScalarValue::iter_to_array(values)?,
    };
    Ok(ColumnarValue::Array(array))
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
            format("%s-%s", &[ScalarValue::Int64(Some(7)), t("x")]),
            "7-x"
        );
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
        assert_eq!(parse_ident("Gold.\"My \"\"T\"\"\""), ["gold", "My \"T\""]);
    }

    #[test]
    fn array_bounds_count_from_one() {
        let list = ScalarValue::List(ScalarValue::new_list_nullable(
            &[
                ScalarValue::Utf8(Some("a".into())),
                ScalarValue::Utf8(Some("b".into())),
            ],
            &DataType::Utf8,
        ));
        let one = ScalarValue::Int64(Some(1));
        assert_eq!(
            array_bound(&[list.clone(), one.clone()], |_| 1),
            ScalarValue::Int64(Some(1))
        );
        assert_eq!(
            array_bound(&[list.clone(), one], |n| n),
            ScalarValue::Int64(Some(2))
        );
        assert_eq!(
            array_bound(&[list, ScalarValue::Int64(Some(2))], |n| n),
            ScalarValue::Int64(None)
        );
    }
}

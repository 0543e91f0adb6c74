//! Statement parameters: `?` and `$n` placeholders, their types, and binding values to
//! them.
//!
//! Clients write `?` (JDBC, ADBC, ODBC) or `$1` (PostgreSQL); `?` placeholders are
//! numbered `$1, $2, ...` when the statement is tokenized ([`crate::tokens`]). A
//! statement's parameters are `$1..$n`, typed where the plan
//! tells (`WHERE id = $1` takes `id`'s type; `INSERT INTO t VALUES ($1)` the column's).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;

use crate::error::{ErrorKind, QuarryError};

/// The parameters of the plans: fields `$1..$n` in order, typed where the plans say
/// (`Null` where nothing does).
pub fn parameter_schema<'a>(
    plans: impl IntoIterator<Item = &'a LogicalPlan>,
) -> Result<SchemaRef, QuarryError> {
    let mut types: Vec<Option<DataType>> = Vec::new();
    for plan in plans {
        for (id, data_type) in plan.get_parameter_types()? {
            let index = position(&id)?;
            if types.len() <= index {
                types.resize(index + 1, None);
            }
            if data_type.is_some() {
                types[index] = data_type;
            }
        }
    }
    let fields: Vec<Field> = types
        .into_iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("${}", i + 1), t.unwrap_or(DataType::Null), true))
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// The index of placeholder `$n` (0-based).
fn position(id: &str) -> Result<usize, QuarryError> {
    match id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
        Some(n) if n >= 1 => Ok(n - 1),
        _ => Err(QuarryError::unsupported(format!(
            "unsupported placeholder {id}: use ? or $1, $2, ..."
        ))),
    }
}

/// `plan` with its placeholders replaced by `values` (`values[0]` is `$1`).
pub fn bind(
    plan: LogicalPlan,
    parameters: &Schema,
    values: &[ScalarValue],
) -> Result<LogicalPlan, QuarryError> {
    if parameters.fields().is_empty() {
        return Ok(plan);
    }
    let values = values
        .iter()
        .zip(parameters.fields())
        .map(|(value, field)| cast(value, field))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plan.with_param_values(ParamValues::from(values))?)
}

/// A value as the parameter's type, when the statement fixes one.
fn cast(value: &ScalarValue, field: &Field) -> Result<ScalarValue, QuarryError> {
    let target = field.data_type();
    if target == &DataType::Null || &value.data_type() == target {
        return Ok(value.clone());
    }
    value.cast_to(target).map_err(|e| {
        ErrorKind::InvalidParameter.error(format!(
            "parameter {} must be {target}: cannot use {value} ({e})",
            field.name()
        ))
    })
}

/// Checks that `values` has one value per parameter.
pub fn check_count(parameters: &Schema, values: &[ScalarValue]) -> Result<(), QuarryError> {
    let expected = parameters.fields().len();
    if values.len() == expected {
        return Ok(());
    }
    let names: Vec<&str> = parameters
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    Err(
        ErrorKind::InvalidParameter.error(match (expected, values.len()) {
            (0, n) => format!("the statement has no parameters, but {n} values were bound"),
            (_, 0) => format!(
                "the statement has {expected} parameter(s) ({}): bind a value for each",
                names.join(", ")
            ),
            (_, n) => format!(
                "the statement has {expected} parameter(s) ({}), but {n} values were bound",
                names.join(", ")
            ),
        }),
    )
}

/// Row `row` of a parameter batch as values, one per column.
pub fn row_values(batch: &RecordBatch, row: usize) -> Result<Vec<ScalarValue>, QuarryError> {
    batch
        .columns()
        .iter()
        .map(|column| {
            ScalarValue::try_from_array(column, row)
                .map_err(|e| ErrorKind::InvalidParameter.error(format!("bad parameter value: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn parameters_take_the_types_the_plan_gives_them() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT, b VARCHAR)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let plan = ctx
            .state()
            .create_logical_plan("SELECT b FROM t WHERE a = $1 OR b = $3")
            .await
            .unwrap();
        let schema = parameter_schema([&plan]).unwrap();
        let described: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        assert_eq!(described, ["$1 Int32", "$2 Null", "$3 Utf8View"]);

        let values = [
            ScalarValue::Int64(Some(7)),
            ScalarValue::Null,
            ScalarValue::from("x"),
        ];
        check_count(&schema, &values).unwrap();
        let bound = bind(plan.clone(), &schema, &values).unwrap();
        assert!(bound.get_parameter_types().unwrap().is_empty());
        assert!(format!("{bound}").contains("Int32(7)"));

        let err = check_count(&schema, &[]).unwrap_err().to_string();
        assert!(err.contains("3 parameter(s) ($1, $2, $3)"), "{err}");
        let bad = [
            ScalarValue::from("seven"),
            ScalarValue::Null,
            ScalarValue::Null,
        ];
        let err = bind(plan, &schema, &bad).unwrap_err().to_string();
        assert!(err.contains("parameter $1 must be Int32"), "{err}");
    }
}

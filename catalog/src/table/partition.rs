//! `PARTITION BY (...)`: the clause of `CREATE TABLE` that becomes a table's partition spec.
//!
//! Each item is a column (identity) or a transform of one: `year(c)`, `month(c)`,
//! `day(c)`, `hour(c)`, `bucket(n, c)`, `truncate(w, c)`. Partition fields are named as
//! Iceberg's Java library names them (`c`, `c_day`, `c_bucket`, `c_trunc`, ...), so other
//! engines show the same names.

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
};
use iceberg::spec::{PartitionSpec, Schema, SchemaRef, Transform, UnboundPartitionSpec};

use super::TableError;

/// One item of a `PARTITION BY` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionColumn {
    /// The source column.
    pub column: String,
    /// How its values map to partitions.
    pub transform: Transform,
}

impl PartitionColumn {
    /// The partition field's name, as Iceberg's Java library names it.
    pub fn field_name(&self) -> String {
        let suffix = match self.transform {
            Transform::Identity => return self.column.clone(),
            Transform::Year => "year",
            Transform::Month => "month",
            Transform::Day => "day",
            Transform::Hour => "hour",
            Transform::Bucket(_) => "bucket",
            Transform::Truncate(_) => "trunc",
            Transform::Void => "null",
            Transform::Unknown => "unknown",
        };
        format!("{}_{suffix}", self.column)
    }
}

/// Reads a `PARTITION BY` expression: one item, or several in parentheses.
pub fn parse_partition_by(expr: &Expr) -> Result<Vec<PartitionColumn>, TableError> {
    match expr {
        Expr::Tuple(items) => items.iter().map(parse_item).collect(),
        Expr::Nested(inner) => parse_partition_by(inner),
        item => Ok(vec![parse_item(item)?]),
    }
}

fn parse_item(expr: &Expr) -> Result<PartitionColumn, TableError> {
    let bad = |why: &str| TableError::Partition(format!("{why} in PARTITION BY: {expr}"));
    match expr {
        Expr::Identifier(ident) => Ok(PartitionColumn {
            column: ident.value.clone(),
            transform: Transform::Identity,
        }),
        Expr::Nested(inner) => parse_item(inner),
        Expr::Function(function) => {
            let name = function.name.to_string().to_lowercase();
            let FunctionArguments::List(list) = &function.args else {
                return Err(bad("a transform needs its arguments in parentheses"));
            };
            let args = list
                .args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                    _ => Err(bad("unexpected argument")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let column = |e: &Expr| match e {
                Expr::Identifier(ident) => Ok(ident.value.clone()),
                _ => Err(bad("expected a column name")),
            };
            let width = |e: &Expr| match e {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("expected a positive whole number")),
                    _ => Err(bad("expected a positive whole number")),
                },
                _ => Err(bad("expected a positive whole number")),
            };
            let (transform, source) = match (name.as_str(), args.as_slice()) {
                ("year" | "years", [c]) => (Transform::Year, c),
                ("month" | "months", [c]) => (Transform::Month, c),
                ("day" | "days", [c]) => (Transform::Day, c),
                ("hour" | "hours", [c]) => (Transform::Hour, c),
                ("identity", [c]) => (Transform::Identity, c),
                ("bucket", [n, c]) => (Transform::Bucket(width(n)?), c),
                ("truncate", [w, c]) => (Transform::Truncate(width(w)?), c),
                _ => {
                    return Err(bad(
                        "unknown transform (use a column, year, month, day, hour, bucket(n, col) or truncate(w, col))",
                    ));
                }
            };
            Ok(PartitionColumn {
                column: column(source)?,
                transform,
            })
        }
        _ => Err(bad("expected a column or a transform of one")),
    }
}

/// The partition spec of `columns` over `schema`: an error names a missing column or a
/// transform that does not apply to the column's type.
pub fn partition_spec(
    columns: &[PartitionColumn],
    schema: &Schema,
) -> Result<UnboundPartitionSpec, TableError> {
    let schema: SchemaRef = std::sync::Arc::new(schema.clone());
    let mut builder = PartitionSpec::builder(std::sync::Arc::clone(&schema));
    for column in columns {
        let Some(field) = schema.field_by_name(&column.column) else {
            return Err(TableError::Partition(format!(
                "PARTITION BY names column '{}', which the table does not have",
                column.column
            )));
        };
        if column.transform.result_type(&field.field_type).is_err() {
            return Err(TableError::Partition(format!(
                "cannot partition by {}({}): column '{}' has type {}",
                column.transform, column.column, column.column, field.field_type
            )));
        }
        builder = builder
            .add_partition_field(&column.column, column.field_name(), column.transform)
            .map_err(|e| TableError::Partition(e.message().to_string()))?;
    }
    Ok(builder.build()?.into_unbound())
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use iceberg::spec::{NestedField, PrimitiveType, Type};

    use super::*;

    fn parse(sql: &str) -> Result<Vec<PartitionColumn>, TableError> {
        let expr = Parser::new(&GenericDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        parse_partition_by(&expr)
    }

    fn schema() -> Schema {
        Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                NestedField::optional(2, "at", Type::Primitive(PrimitiveType::Timestamp)).into(),
                NestedField::optional(3, "name", Type::Primitive(PrimitiveType::String)).into(),
            ])
            .build()
            .unwrap()
    }

    #[test]
    fn transforms_parse_with_java_field_names() {
        let columns =
            parse("(day(at), bucket(16, id), truncate(4, name), name, month(at))").unwrap();
        let names: Vec<_> = columns.iter().map(PartitionColumn::field_name).collect();
        assert_eq!(
            names,
            ["at_day", "id_bucket", "name_trunc", "name", "at_month"]
        );
        assert_eq!(columns[1].transform, Transform::Bucket(16));
        assert_eq!(parse("day(at)").unwrap()[0].transform, Transform::Day);
        let spec = partition_spec(&columns[..3], &schema()).unwrap();
        assert_eq!(spec.fields().len(), 3);
    }

    #[test]
    fn bad_clauses_say_what_is_wrong() {
        let err = parse("(week(at))").unwrap_err().to_string();
        assert!(err.contains("unknown transform"), "{err}");
        let err = parse("(bucket(0, id))").unwrap_err().to_string();
        assert!(err.contains("positive whole number"), "{err}");
        let columns = parse("(day(nope))").unwrap();
        let err = partition_spec(&columns, &schema()).unwrap_err().to_string();
        assert!(err.contains("column 'nope'"), "{err}");
        let columns = parse("(day(name))").unwrap();
        let err = partition_spec(&columns, &schema()).unwrap_err().to_string();
        assert!(err.contains("cannot partition by day(name)"), "{err}");
    }
}

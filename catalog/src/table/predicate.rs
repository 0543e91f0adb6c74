//! A query's filters as an Iceberg predicate, so that scan planning skips data files by
//! their partition values and column bounds.
//!
//! Only what Iceberg can evaluate against metadata is translated: comparisons of a column
//! with a literal, `IS [NOT] NULL`, `IN` lists, `BETWEEN`, `LIKE 'prefix%'`, and `AND`,
//! `OR`, `NOT` of those. Anything else is left out, which only means less pruning:
//! DataFusion still applies every filter to the rows.
//!
//! Iceberg binds the predicate to the schema of the snapshot it plans, which may name a
//! column otherwise than the query does (a column renamed since), or not have it (added
//! since): [`Columns`] maps the query's names to the snapshot's by field id, and leaves
//! out columns whose type was ever widened, whose older files' bounds Iceberg would
//! compare as a different type and wrongly skip.

use std::collections::HashMap;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Like, Operator};
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::{Datum, PrimitiveType, Schema, TableMetadata};

/// The columns a predicate may use: the query's name of each, and the name it has in
/// the snapshot whose files are planned.
#[derive(Debug, Default)]
pub struct Columns(HashMap<String, String>);

impl Columns {
    /// The columns of `schema` (the query's) that `snapshot` (a schema of `metadata`)
    /// has, by field id, with the same type in every schema the table ever had.
    pub fn bound(metadata: &TableMetadata, schema: &Schema, snapshot: &Schema) -> Self {
        let same_type_throughout = |id: i32, ty: &iceberg::spec::Type| {
            metadata
                .schemas_iter()
                .filter_map(|s| s.field_by_id(id))
                .all(|f| f.field_type.as_ref() == ty)
        };
        let names = schema
            .as_struct()
            .fields()
            .iter()
            .filter_map(|field| {
                let there = snapshot.field_by_id(field.id)?;
                same_type_throughout(field.id, &field.field_type)
                    .then(|| (field.name.clone(), there.name.clone()))
            })
            .collect();
        Self(names)
    }
}

/// The conjunction of the filters Iceberg can use, if any.
pub fn to_predicate(filters: &[Expr], columns: &Columns) -> Option<Predicate> {
    filters
        .iter()
        .filter_map(|f| convert(f, columns).map(|(p, _)| p))
        .reduce(|a, b| a.and(b))
}

/// The predicate, and whether it is exact: an `AND` missing one side is wider than the
/// expression, which is fine for pruning but not under a `NOT`.
fn convert(expr: &Expr, columns: &Columns) -> Option<(Predicate, bool)> {
    let exact = |p: Predicate| Some((p, true));
    let convert = |e: &Expr| convert(e, columns);
    let column = |e: &Expr| column(e, columns);
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => match (convert(left), convert(right)) {
                (Some((l, le)), Some((r, re))) => Some((l.and(r), le && re)),
                (Some((p, _)), None) | (None, Some((p, _))) => Some((p, false)),
                (None, None) => None,
            },
            Operator::Or => {
                let (l, le) = convert(left)?;
                let (r, re) = convert(right)?;
                Some((l.or(r), le && re))
            }
            _ => exact(comparison(left, *op, right, columns)?),
        },
        Expr::Not(inner) => match convert(inner)? {
            (p, true) => exact(p.negate()),
            (_, false) => None,
        },
        Expr::IsNull(inner) => exact(column(inner)?.is_null()),
        Expr::IsNotNull(inner) => exact(column(inner)?.is_not_null()),
        Expr::InList(list) => {
            let values = list.list.iter().map(literal).collect::<Option<Vec<_>>>()?;
            let column = column(&list.expr)?;
            exact(match list.negated {
                false => column.is_in(values),
                true => column.is_not_in(values),
            })
        }
        Expr::Between(between) => {
            let low = literal(&between.low)?;
            let high = literal(&between.high)?;
            let inside = column(&between.expr)?
                .greater_than_or_equal_to(low)
                .and(column(&between.expr)?.less_than_or_equal_to(high));
            exact(match between.negated {
                false => inside,
                true => inside.negate(),
            })
        }
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) => {
            let Expr::Literal(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)), _) =
                pattern.as_ref()
            else {
                return None;
            };
            let prefix = p.strip_suffix('%')?;
            if prefix.contains(['%', '_', '\\']) {
                return None;
            }
            exact(column(expr)?.starts_with(Datum::string(prefix)))
        }
        _ => None,
    }
}

fn comparison(left: &Expr, op: Operator, right: &Expr, columns: &Columns) -> Option<Predicate> {
    let (column, op, value) = match (column(left, columns), column(right, columns)) {
        (Some(c), None) => (c, op, literal(right)?),
        (None, Some(c)) => (c, op.swap()?, literal(left)?),
        _ => return None,
    };
    Some(match op {
        Operator::Eq => column.equal_to(value),
        Operator::NotEq => column.not_equal_to(value),
        Operator::Lt => column.less_than(value),
        Operator::LtEq => column.less_than_or_equal_to(value),
        Operator::Gt => column.greater_than(value),
        Operator::GtEq => column.greater_than_or_equal_to(value),
        _ => return None,
    })
}

fn column(expr: &Expr, columns: &Columns) -> Option<Reference> {
    match expr {
        Expr::Column(c) => columns.0.get(&c.name).map(Reference::new),
        _ => None,
    }
}

/// A literal as an Iceberg value of the type the table stores it as.
fn literal(expr: &Expr) -> Option<Datum> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    use ScalarValue as S;
    let micros = |v: i64, per_second: i64| match per_second {
        1 => v.checked_mul(1_000_000),
        1_000 => v.checked_mul(1_000),
        1_000_000 => Some(v),
        _ => Some(v.div_euclid(1_000)),
    };
    let timestamp = |v: i64, tz: &Option<std::sync::Arc<str>>, per_second| {
        let v = micros(v, per_second)?;
        Some(match tz {
            Some(_) => Datum::timestamptz_micros(v),
            None => Datum::timestamp_micros(v),
        })
    };
    match value {
        S::Boolean(Some(v)) => Some(Datum::bool(*v)),
        S::Int8(Some(v)) => Some(Datum::int(*v)),
        S::Int16(Some(v)) => Some(Datum::int(*v)),
        S::Int32(Some(v)) => Some(Datum::int(*v)),
        S::UInt8(Some(v)) => Some(Datum::int(*v)),
        S::UInt16(Some(v)) => Some(Datum::int(*v)),
        S::Int64(Some(v)) => Some(Datum::long(*v)),
        S::UInt32(Some(v)) => Some(Datum::long(*v)),
        S::Float32(Some(v)) => Some(Datum::float(*v)),
        S::Float64(Some(v)) => Some(Datum::double(*v)),
        S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v)) => Some(Datum::string(v)),
        S::Date32(Some(v)) => Some(Datum::date(*v)),
        S::Decimal128(Some(v), precision, scale) if *scale >= 0 => Datum::try_from_bytes(
            &v.to_be_bytes(),
            PrimitiveType::Decimal {
                precision: u32::from(*precision),
                scale: *scale as u32,
            },
        )
        .ok(),
        S::TimestampSecond(Some(v), tz) => timestamp(*v, tz, 1),
        S::TimestampMillisecond(Some(v), tz) => timestamp(*v, tz, 1_000),
        S::TimestampMicrosecond(Some(v), tz) => timestamp(*v, tz, 1_000_000),
        S::TimestampNanosecond(Some(v), tz) => timestamp(*v, tz, 1_000_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};
    use iceberg::spec::{FormatVersion, NestedField, Type};

    use super::*;

    fn pred(filters: &[Expr]) -> Option<Predicate> {
        let names = ["a", "b", "s"].map(|n| (n.to_string(), n.to_string()));
        to_predicate(filters, &Columns(names.into_iter().collect()))
    }

    #[test]
    fn translates_what_metadata_can_answer() {
        let p = pred(&[col("a").gt(lit(5i64)), lit(3i32).lt_eq(col("b"))]).unwrap();
        assert_eq!(p.to_string(), "(a > 5) AND (b >= 3)");
        let p = pred(&[col("s").like(lit("ab%"))]).unwrap();
        assert_eq!(p.to_string(), "s STARTS WITH \"ab\"");
        let p = pred(&[col("a").in_list(vec![lit(1i64), lit(2i64)], false)]).unwrap();
        assert!(p.to_string().contains("IN"), "{p}");
    }

    #[test]
    fn leaves_out_what_it_cannot_translate() {
        // A function of a column cannot be checked against bounds.
        let upper = datafusion::functions::string::expr_fn::upper(col("s"));
        assert!(pred(&[upper.eq(lit("X"))]).is_none());
        // One untranslatable side of an OR makes the whole OR unusable...
        assert!(pred(&[col("a").eq(lit(1i64)).or(col("a").eq(col("b")))]).is_none());
        // ...but one side of an AND still prunes.
        let p = pred(&[col("a").eq(lit(1i64)).and(col("a").eq(col("b")))]).unwrap();
        assert_eq!(p.to_string(), "a = 1");
        // ...though not under a NOT, where it would narrow what is read.
        let partial = col("a").eq(lit(1i64)).and(col("a").eq(col("b")));
        assert!(pred(&[Expr::Not(Box::new(partial))]).is_none());
    }

    #[test]
    fn columns_are_named_as_the_snapshot_names_them() {
        let long = || Type::Primitive(PrimitiveType::Long);
        let int = || Type::Primitive(PrimitiveType::Int);
        let old = Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "a", long()).into(),
                NestedField::optional(2, "b", int()).into(),
            ])
            .build()
            .unwrap();
        // Since: a renamed to x, b widened to long, c added.
        let now = Schema::builder()
            .with_schema_id(1)
            .with_fields(vec![
                NestedField::optional(1, "x", long()).into(),
                NestedField::optional(2, "b", long()).into(),
                NestedField::optional(3, "c", long()).into(),
            ])
            .build()
            .unwrap();
        let creation = iceberg::TableCreation::builder()
            .name("t".into())
            .location("file:///tmp/t".into())
            .schema(old.clone())
            .format_version(FormatVersion::V2)
            .build();
        let metadata = iceberg::spec::TableMetadataBuilder::from_table_creation(creation)
            .unwrap()
            .add_current_schema(now.clone())
            .unwrap()
            .build()
            .unwrap()
            .metadata;
        let old = metadata.schema_by_id(0).unwrap();
        let columns = Columns::bound(&metadata, metadata.current_schema(), old);
        let filters = [
            col("x").gt(lit(1i64)),
            col("b").gt(lit(1i64)),
            col("c").is_null(),
        ];
        let p = to_predicate(&filters, &columns).unwrap();
        assert_eq!(p.to_string(), "a > 1");
    }
}

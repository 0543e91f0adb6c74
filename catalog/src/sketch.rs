//! HyperLogLog sketches as column values, for reflections that keep
//! `APPROX_COUNT_DISTINCT`.
//!
//! DataFusion's `approx_distinct` keeps a HyperLogLog whose registers are its
//! intermediate state. The three aggregate functions here expose that state as a value
//! and merge it back, all by running DataFusion's own accumulator:
//!
//! - `quarry_hll(x)`: the sketch (registers, `Binary`) of `x`'s values;
//! - `quarry_hll_union(s)`: the union of sketches, a sketch;
//! - `quarry_hll_count(s)`: the estimate of the union of sketches, a `UInt64`.
//!
//! A union keeps the largest of each register, and the hash has a fixed seed, so
//! `quarry_hll_count` of the sketches of a table's groups is exactly
//! `approx_distinct` over the table's rows. The executors decode these functions by
//! name through the plan codec ([`by_name`]).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::functions_aggregate::approx_distinct::ApproxDistinct;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility,
};

/// What one of the sketch functions does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    /// Values in, a sketch out.
    Of,
    /// Sketches in, their union out.
    Union,
    /// Sketches in, the estimate of their union out.
    Count,
}

/// The sketch of `expr`'s values.
pub fn of(expr: Expr) -> Expr {
    udaf(Step::Of).call(vec![expr])
}

/// The union of the sketches in `expr`.
pub fn union(expr: Expr) -> Expr {
    udaf(Step::Union).call(vec![expr])
}

/// The distinct count estimated from the union of the sketches in `expr`.
pub fn count(expr: Expr) -> Expr {
    udaf(Step::Count).call(vec![expr])
}

/// The sketch function called `name`, if it is one.
pub fn by_name(name: &str) -> Option<Arc<AggregateUDF>> {
    [Step::Of, Step::Union, Step::Count]
        .into_iter()
        .find(|step| Sketch::name_of(*step) == name)
        .map(udaf)
}

fn udaf(step: Step) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(Sketch::new(step)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Sketch {
    step: Step,
    signature: Signature,
}

impl Sketch {
    fn new(step: Step) -> Self {
        let signature = match step {
            Step::Of => Signature::any(1, Volatility::Immutable),
            // Iceberg's binary columns read as large binary.
            Step::Union | Step::Count => Signature::uniform(
                1,
                vec![
                    DataType::Binary,
                    DataType::LargeBinary,
                    DataType::BinaryView,
                ],
                Volatility::Immutable,
            ),
        };
        Self { step, signature }
    }

    fn name_of(step: Step) -> &'static str {
        match step {
            Step::Of => "quarry_hll",
            Step::Union => "quarry_hll_union",
            Step::Count => "quarry_hll_count",
        }
    }
}

impl AggregateUDFImpl for Sketch {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        Self::name_of(self.step)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.step {
            Step::Of | Step::Union => DataType::Binary,
            Step::Count => DataType::UInt64,
        })
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if args.input_fields[0].data_type().is_null() {
            return internal_err!("{}: a sketch of NULLs has no type", self.name());
        }
        ApproxDistinct::new().state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator {
            step: self.step,
            hll: ApproxDistinct::new().accumulator(args)?,
        }))
    }
}

/// DataFusion's `approx_distinct` accumulator, fed sketches or values and giving a
/// sketch or a count.
#[derive(Debug)]
struct SketchAccumulator {
    step: Step,
    hll: Box<dyn Accumulator>,
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match self.step {
            Step::Of => self.hll.update_batch(values),
            // No sketch is NULL in a reflection; an outer join may still bring one.
            Step::Union | Step::Count => {
                // The accumulator merges registers held as binary.
                let sketches = cast(&values[0], &DataType::Binary)?;
                if sketches.null_count() == 0 {
                    return self.hll.merge_batch(&[sketches]);
                }
                let present = BooleanArray::from_iter(
                    (0..sketches.len()).map(|i| Some(sketches.is_valid(i))),
                );
                self.hll.merge_batch(&[filter(&sketches, &present)?])
            }
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.hll.merge_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.hll.state()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match self.step {
            Step::Of | Step::Union => Ok(self.hll.state()?.remove(0)),
            Step::Count => self.hll.evaluate(),
        }
    }

    fn size(&self) -> usize {
        self.hll.size() + size_of::<Step>()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, UInt64Array};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::functions_aggregate::expr_fn::approx_distinct;
    use datafusion::logical_expr::{cast as cast_expr, col};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The count of the union of per-group sketches is approx_distinct of all rows.
    #[tokio::test]
    async fn union_of_sketches_counts_as_approx_distinct_of_all_values() -> Result<()> {
        let ctx = SessionContext::new();
        let n = 50_000i64;
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("g", DataType::Int64, false),
                Field::new("v", DataType::Int64, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 7))),
                Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| (i % 11 != 0).then_some(i * 31 % 20_011)),
                )),
            ],
        )?;
        let table = ctx.read_batch(batch)?;
        let direct = table
            .clone()
            .aggregate(vec![], vec![approx_distinct(col("v")).alias("n")])?
            .collect()
            .await?;
        let sketched = table
            .aggregate(vec![col("g")], vec![of(col("v")).alias("s")])?
            .select(vec![cast_expr(col("s"), DataType::LargeBinary).alias("s")])?
            .aggregate(vec![], vec![union(col("s")).alias("u")])?
            .aggregate(vec![], vec![count(col("u")).alias("n")])?
            .collect()
            .await?;
        let value = |batches: &[RecordBatch]| {
            batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!(value(&sketched), value(&direct));
        assert!((19_000..21_000).contains(&value(&direct)));
        Ok(())
    }

    #[test]
    fn functions_are_found_by_name() {
        for name in ["quarry_hll", "quarry_hll_union", "quarry_hll_count"] {
            assert_eq!(by_name(name).unwrap().name(), name);
        }
        assert!(by_name("approx_distinct").is_none());
    }
}

//! Partitioned writes send each partition's rows to one task.
//!
//! Without this, every task of a write splits its own rows by partition value, so a
//! partition's rows land in one file per task: a 366-day `CREATE TABLE .. PARTITION BY
//! (day(ts)) AS` over four tasks makes up to 1464 small files. `IcebergWriteExec` asks
//! for its input hash-partitioned by the partition values
//! (`ExecutionPlan::required_input_distribution`); DataFusion's distribution enforcement
//! puts a hash repartition below it, which Ballista runs as a shuffle, and each task
//! then holds whole partitions, written in as few files as the target file size allows.
//!
//! [`PartitionValue`] computes one partition field's value with Iceberg's own
//! transform (`day`, `bucket`, `truncate`, ...), so rows meet exactly when Iceberg puts
//! them in one partition. It is a scalar function whose first argument, a literal,
//! names the transform: Ballista ships a shuffle's keys with DataFusion's default codec,
//! which carries functions by name, and the executors have it in their registry
//! ([`udf`]).
//! The table property `write.distribution-mode = 'none'` turns this off, as in Iceberg.

use std::any::Any;
use std::sync::{Arc, LazyLock};

use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema as ArrowSchema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use iceberg::spec::{Transform, Type};
use serde::{Deserialize, Serialize};

use super::TableError;
use super::write::WriteSpec;

/// The function's name, as the executors' registry knows it.
pub const NAME: &str = "quarry_iceberg_partition_value";

/// `quarry_iceberg_partition_value(layout, column)`: Iceberg's transform of `column`
/// (first cast to the table's type of it), with `layout` the JSON of a [`Layout`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PartitionValue {
    signature: Signature,
}

/// The function, for the executors' registry.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        Arc::new(ScalarUDF::new_from_impl(PartitionValue {
            signature: Signature::any(2, Volatility::Immutable),
        }))
    });
    Arc::clone(&UDF)
}

/// Which transform a partition value is, of which type of column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub transform: Transform,
    /// The table's type of the source column.
    pub source_type: Type,
}

impl Layout {
    fn of(argument: Option<&ScalarValue>) -> Result<Self> {
        let Some(ScalarValue::Utf8(Some(json))) = argument else {
            return Err(DataFusionError::Internal(format!(
                "{NAME} takes its layout as a string literal"
            )));
        };
        serde_json::from_str(json)
            .map_err(|e| DataFusionError::Internal(format!("{NAME}: bad layout {json}: {e}")))
    }

    fn arrow(ty: &Type) -> Result<DataType> {
        iceberg::arrow::type_to_arrow_type(ty).map_err(|e| DataFusionError::External(e.into()))
    }

    fn value_type(&self) -> Result<DataType> {
        let value = self
            .transform
            .result_type(&self.source_type)
            .map_err(|e| DataFusionError::External(e.into()))?;
        Self::arrow(&value)
    }
}

impl ScalarUDFImpl for PartitionValue {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(format!(
            "{NAME}'s type comes from its layout"
        )))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let layout = Layout::of(args.scalar_arguments.first().copied().flatten())?;
        Ok(Arc::new(Field::new(NAME, layout.value_type()?, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ColumnarValue::Scalar(layout), values] = args.args.as_slice() else {
            return Err(DataFusionError::Internal(format!(
                "{NAME} takes a layout and a column"
            )));
        };
        let layout = Layout::of(Some(layout))?;
        let values = values.to_array(args.number_rows)?;
        let values = cast(&values, &Layout::arrow(&layout.source_type)?)?;
        let transform = iceberg::transform::create_transform_function(&layout.transform)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let partitions = transform
            .transform(values)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(ColumnarValue::Array(partitions))
    }
}

/// The expressions a write's rows are hash-partitioned by: one per partition field of
/// its spec (over `input`, the rows written); `None` for an unpartitioned table or one
/// whose `write.distribution-mode` is `none`.
pub fn partition_keys(
    spec: &WriteSpec,
    input: &ArrowSchema,
) -> Result<Option<Vec<Arc<dyn PhysicalExpr>>>, TableError> {
    if !spec.distributed || spec.partition_spec.is_unpartitioned() {
        return Ok(None);
    }
    let mut keys: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    for field in spec.partition_spec.fields() {
        if field.transform == Transform::Void {
            continue;
        }
        let Some(source) = spec.schema.field_by_id(field.source_id) else {
            return Err(TableError::Invalid(format!(
                "partition field {} reads column {}, which the table does not have",
                field.name, field.source_id
            )));
        };
        let layout = Layout {
            transform: field.transform,
            source_type: source.field_type.as_ref().clone(),
        };
        let layout = serde_json::to_string(&layout)
            .map_err(|e| TableError::Invalid(format!("partition field {}: {e}", field.name)))?;
        let args: Vec<Arc<dyn PhysicalExpr>> = vec![
            Arc::new(Literal::new(ScalarValue::Utf8(Some(layout)))),
            Arc::new(Column::new_with_schema(&source.name, input)?),
        ];
        let config = Arc::new(ConfigOptions::default());
        keys.push(Arc::new(ScalarFunctionExpr::try_new(
            udf(),
            args,
            input,
            config,
        )?));
    }
    Ok(Some(keys).filter(|keys| !keys.is_empty()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Date32Array, Int64Array, RecordBatch, TimestampNanosecondArray};
    use arrow::datatypes::TimeUnit;
    use datafusion::execution::TaskContext;
    use datafusion_proto::physical_plan::DefaultPhysicalExtensionCodec;
    use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
    use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
    use iceberg::spec::{NestedField, PartitionSpec, PrimitiveType, Schema};

    use super::*;

    #[test]
    fn rows_of_one_partition_get_one_key() {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                NestedField::optional(2, "ts", Type::Primitive(PrimitiveType::Timestamp)).into(),
            ])
            .build()
            .unwrap();
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("ts", "ts_day", Transform::Day)
            .unwrap()
            .add_partition_field("id", "id_bucket", Transform::Bucket(4))
            .unwrap()
            .build()
            .unwrap();
        let write = WriteSpec::new(
            "t".into(),
            "file:///t".into(),
            schema,
            spec,
            &Default::default(),
        );
        // The rows as the query makes them: nanoseconds, which the table stores as micros.
        let input = ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        ]);
        let keys = partition_keys(&write, &input).unwrap().unwrap();
        // Ballista ships the keys with DataFusion's default codec: by name, found in
        // the executors' registry.
        let codec = DefaultPhysicalExtensionCodec {};
        let executor = TaskContext::new(
            None,
            "session".into(),
            Default::default(),
            [(NAME.to_string(), udf())].into(),
            Default::default(),
            Default::default(),
            Default::default(),
        );
        let keys: Vec<_> = keys
            .iter()
            .map(|key| {
                let proto = serialize_physical_expr(key, &codec).unwrap();
                parse_physical_expr(&proto, &executor, &input, &codec).unwrap()
            })
            .collect();
        let day = 86_400_000_000_000i64;
        let batch = RecordBatch::try_new(
            Arc::new(input),
            vec![
                Arc::new(Int64Array::from(vec![1, 1, 2])),
                Arc::new(TimestampNanosecondArray::from(vec![day, day + 5, 3 * day])),
            ],
        )
        .unwrap();
        let days = keys[0].evaluate(&batch).unwrap().into_array(3).unwrap();
        assert_eq!(
            days.as_any()
                .downcast_ref::<Date32Array>()
                .unwrap()
                .values(),
            &[1, 1, 3]
        );
        let buckets = keys[1].evaluate(&batch).unwrap().into_array(3).unwrap();
        assert_eq!(buckets.data_type(), &DataType::Int32);
        // Turned off by the table property.
        let mut off = write.clone();
        off.distributed = false;
        assert!(
            partition_keys(&off, batch.schema().as_ref())
                .unwrap()
                .is_none()
        );
    }
}

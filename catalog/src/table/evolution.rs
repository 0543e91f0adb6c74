//! Reading data files under a table's evolved schema: columns are matched by Iceberg
//! field id, as the Iceberg spec requires, not by name.
//!
//! DataFusion's Parquet scan matches a file's columns to the table's by name
//! (`DefaultPhysicalExprAdapter`). [`FieldIdAdapterFactory`] is its per-file hook
//! (`FileScanConfig::expr_adapter_factory`): it renames each table column to the name
//! the file gives its field id (`PARQUET:field_id`), or to a name the file does not
//! have when the file predates the column, then lets the default adapter do the rest by
//! name: casts of widened types, NULLs for missing columns. A renamed column keeps its
//! data; a column dropped and added again under the same name does not see the old
//! one's. The same rewrite serves the projection and the pushed-down predicate, so
//! row-group and page pruning follow it. Files without field ids are matched by name.
//!
//! DataFusion's plan codec drops the factory; Quarry's codec puts it back on the
//! executors ([`with_field_ids`], from the ids in `ScanSummary`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::physical_plan::FileScanConfigBuilder;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::spec::Schema as IcebergSchema;

/// The key arrow-rs gives a Parquet field's id in the Arrow field's metadata.
const FIELD_ID: &str = "PARQUET:field_id";

/// Each top-level column of `schema` with its field id.
pub fn field_ids(schema: &IcebergSchema) -> Vec<(String, i32)> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.id))
        .collect()
}

/// Makes [`FieldIdAdapter`]s for the table columns with these field ids.
#[derive(Debug, Clone)]
pub struct FieldIdAdapterFactory {
    ids: Arc<HashMap<String, i32>>,
}

impl FieldIdAdapterFactory {
    pub fn new(ids: &[(String, i32)]) -> Self {
        Self {
            ids: Arc::new(ids.iter().cloned().collect()),
        }
    }
}

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let in_file: HashMap<i32, &str> = physical_file_schema
            .fields()
            .iter()
            .filter_map(|f| {
                let id = f.metadata().get(FIELD_ID)?.parse().ok()?;
                Some((id, f.name().as_str()))
            })
            .collect();
        if in_file.is_empty() {
            return DefaultPhysicalExprAdapterFactory
                .create(logical_file_schema, physical_file_schema);
        }
        let mut renames = HashMap::new();
        let fields: Vec<Field> = logical_file_schema
            .fields()
            .iter()
            .map(|f| {
                let name = match self.ids.get(f.name()) {
                    Some(id) => match in_file.get(id) {
                        Some(name) => name.to_string(),
                        None => format!("__quarry_missing_field_{id}"),
                    },
                    None => f.name().clone(),
                };
                if &name != f.name() {
                    renames.insert(f.name().clone(), name.clone());
                }
                f.as_ref().clone().with_name(name)
            })
            .collect();
        let renamed = Arc::new(Schema::new_with_metadata(
            fields,
            logical_file_schema.metadata().clone(),
        ));
        Ok(Arc::new(FieldIdAdapter {
            renames,
            inner: DefaultPhysicalExprAdapterFactory.create(renamed, physical_file_schema)?,
        }))
    }
}

/// Renames the table's columns to the file's, then adapts by name.
#[derive(Debug)]
struct FieldIdAdapter {
    renames: HashMap<String, String>,
    inner: Arc<dyn PhysicalExprAdapter>,
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let renamed = expr
            .transform(|e| {
                let Some(column) = e.as_any().downcast_ref::<Column>() else {
                    return Ok(Transformed::no(e));
                };
                Ok(match self.renames.get(column.name()) {
                    Some(name) => {
                        Transformed::yes(Arc::new(Column::new(name, column.index())) as _)
                    }
                    None => Transformed::no(e),
                })
            })?
            .data;
        self.inner.rewrite(renamed)
    }
}

/// `plan` with its Parquet scans reading by the field ids `ids`.
pub fn with_field_ids(
    plan: Arc<dyn ExecutionPlan>,
    ids: &[(String, i32)],
) -> Result<Arc<dyn ExecutionPlan>> {
    if ids.is_empty() {
        return Ok(plan);
    }
    let factory: Arc<dyn PhysicalExprAdapterFactory> = Arc::new(FieldIdAdapterFactory::new(ids));
    Ok(plan
        .transform_down(|node| {
            let Some(exec) = node.as_any().downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(config) = exec.data_source().as_any().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            let config = FileScanConfigBuilder::from(config.clone())
                .with_expr_adapter(Some(Arc::clone(&factory)))
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(config) as _
            ))
        })?
        .data)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, RecordBatch};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::listing::PartitionedFile;
    use datafusion::datasource::physical_plan::ParquetSource;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, lit};
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;
    use parquet::arrow::ArrowWriter;

    use super::*;

    fn field(name: &str, data_type: DataType, id: i32) -> Field {
        Field::new(name, data_type, true)
            .with_metadata([(FIELD_ID.to_string(), id.to_string())].into())
    }

    /// Reads a file written with columns `a` (id 1) and `b` (id 2) as the table
    /// `schema` with the field ids `ids`, keeping the rows where `predicate` holds.
    async fn read(
        schema: Schema,
        ids: &[(String, i32)],
        predicate: Option<Arc<dyn PhysicalExpr>>,
    ) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let written = Arc::new(Schema::new(vec![
            field("a", DataType::Int32, 1),
            field("b", DataType::Int32, 2),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&written),
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])),
                Arc::new(Int32Array::from(vec![10, 20, 30])),
            ],
        )
        .unwrap();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), written, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();

        let mut source = ParquetSource::new(Arc::new(schema));
        if let Some(predicate) = predicate {
            source = source.with_predicate(predicate).with_pushdown_filters(true);
        }
        let file = PartitionedFile::new(path.display().to_string(), size);
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file(file)
                .build();
        let plan = with_field_ids(DataSourceExec::from_data_source(config), ids).unwrap();
        let batches = collect(plan, SessionContext::new().task_ctx())
            .await
            .unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    fn ids(ids: &[(&str, i32)]) -> Vec<(String, i32)> {
        ids.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    }

    #[tokio::test]
    async fn columns_are_matched_by_field_id() {
        // `a` renamed to `x`, `b` widened to BIGINT, `c` added later: the old file reads
        // `a`'s values as `x`, `b`'s cast, and NULLs for `c`.
        let schema = Schema::new(vec![
            Field::new("x", DataType::Int32, true),
            Field::new("b", DataType::Int64, true),
            Field::new("c", DataType::Int64, true),
        ]);
        let x_over_1: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("x", 0)),
            Operator::Gt,
            lit(1),
        ));
        let read = read(
            schema,
            &ids(&[("x", 1), ("b", 2), ("c", 3)]),
            Some(x_over_1),
        )
        .await;
        let expected = [
            "+---+----+---+",
            "| x | b  | c |",
            "+---+----+---+",
            "| 2 | 20 |   |",
            "| 3 | 30 |   |",
            "+---+----+---+",
        ];
        assert_eq!(read, expected.join("\n"));
    }

    #[tokio::test]
    async fn a_column_added_again_under_an_old_name_does_not_see_the_old_data() {
        // `a` (id 1) dropped, then a new `a` (id 3) added: the old file has none of it.
        let schema = Schema::new(vec![
            Field::new("b", DataType::Int32, true),
            Field::new("a", DataType::Int32, true),
        ]);
        let read = read(schema, &ids(&[("b", 2), ("a", 3)]), None).await;
        let expected = [
            "+----+---+",
            "| b  | a |",
            "+----+---+",
            "| 10 |   |",
            "| 20 |   |",
            "| 30 |   |",
            "+----+---+",
        ];
        assert_eq!(read, expected.join("\n"));
    }
}

//! `sys.reflections`: one row per reflection, read from the registry when scanned, on
//! both front doors. The `sys` schema is wrapped around the lake catalog of every
//! session ([`with_sys`]); its tables are views, so they run on the scheduler.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use quarry_catalog::catalog_provider::WithSchema;
use quarry_catalog::reflection::{Base, Granularity, Kind, RefreshPolicy};

use super::{Materialized, Reflections};

/// The system schema's name.
pub const SYS: &str = "sys";

/// The catalog `inner` with a `sys` schema.
pub fn with_sys(
    inner: Arc<dyn CatalogProvider>,
    reflections: Arc<Reflections>,
) -> Arc<dyn CatalogProvider> {
    Arc::new(WithSchema::new(
        inner,
        SYS,
        Arc::new(SysSchema { reflections }),
    ))
}

#[derive(Debug)]
struct SysSchema {
    reflections: Arc<Reflections>,
}

#[async_trait]
impl SchemaProvider for SysSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        vec!["reflections".into()]
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok((name == "reflections").then(|| {
            Arc::new(ReflectionsTable {
                reflections: Arc::clone(&self.reflections),
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == "reflections"
    }
}

/// `sys.reflections`.
#[derive(Debug)]
struct ReflectionsTable {
    reflections: Arc<Reflections>,
}

fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let number = |name: &str| Field::new(name, DataType::Int64, true);
    let time = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        )
    };
    Arc::new(Schema::new(vec![
        text("name"),
        text("table_name"),
        text("type"),
        text("dimensions"),
        text("measures"),
        text("display"),
        text("refresh_policy"),
        text("status"),
        time("last_refresh"),
        text("last_error"),
        text("refresh_method"),
        number("base_snapshot"),
        number("rows"),
        number("bytes"),
        number("bytes_in_memory"),
        number("queries_served"),
    ]))
}

#[async_trait]
impl TableProvider for ReflectionsTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let to_df = |e: crate::error::QuarryError| DataFusionError::External(Box::new(e));
        self.reflections.load_if_changed().await.map_err(to_df)?;
        let held = self.reflections.held_in_memory().await;
        let mut rows = Vec::new();
        for reflection in self.reflections.all().iter() {
            let anchor = reflection.definition.anchor.ident().map_err(to_df_table)?;
            let current = self
                .reflections
                .store()
                .load(&anchor)
                .await
                .map_err(to_df_table)?
                .map(|t| Base::of(&t));
            let mut row = Row::of(&self.reflections, reflection, current);
            row.numbers[3] = Some(held.bytes_of(reflection).await as i64);
            rows.push(row);
        }
        let batch = batch(&rows)?;
        MemTable::try_new(schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

fn to_df_table(e: quarry_catalog::table::TableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// One reflection's row.
struct Row {
    texts: [Option<String>; 8],
    last_refresh: Option<i64>,
    last_error: Option<String>,
    method: Option<String>,
    /// Base snapshot, rows, bytes, bytes in executor memory, queries served.
    numbers: [Option<i64>; 5],
}

impl Row {
    fn of(reflections: &Reflections, m: &Materialized, current: Option<Base>) -> Self {
        let d = &m.definition;
        let (kind, dimensions, measures, display) = match &d.kind {
            Kind::Aggregate {
                dimensions,
                measures,
            } => (
                "AGGREGATE",
                Some(
                    dimensions
                        .iter()
                        .map(|dim| match dim.granularity {
                            Some(g) => format!("{} BY {}", dim.column, unit(g)),
                            None => dim.column.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                Some(
                    measures
                        .iter()
                        .map(|m| {
                            let functions: Vec<&str> =
                                m.functions.iter().map(|f| f.sql()).collect();
                            format!("{} ({})", m.column, functions.join(", "))
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None,
            ),
            Kind::Raw { display } => ("RAW", None, None, Some(display.join(", "))),
        };
        let policy = match d.refresh {
            RefreshPolicy::Manual => "MANUAL".to_string(),
            RefreshPolicy::OnChange => "ON CHANGE".to_string(),
            RefreshPolicy::Every { seconds } => format!("EVERY {seconds} SECONDS"),
        };
        let key = m.table.identifier().to_string();
        let state = reflections.refresh_state(&key);
        let status = match current {
            None => "TABLE DROPPED",
            Some(now) if m.base.same_state(&now) => "FRESH",
            Some(_) if state.error.is_some() => "FAILED",
            Some(_) => "STALE",
        };
        let last_refresh = state
            .at
            .map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            })
            .unwrap_or(m.base.built_at_ms as i64);
        let bytes = m
            .table
            .metadata()
            .current_snapshot()
            .and_then(|s| s.summary().additional_properties.get("total-files-size"))
            .and_then(|n| n.parse().ok());
        Self {
            texts: [
                Some(d.name.clone()),
                Some(d.anchor.to_string()),
                Some(kind.into()),
                dimensions,
                measures,
                display,
                Some(policy),
                Some(status.into()),
            ],
            last_refresh: Some(last_refresh),
            last_error: state.error,
            method: state.method.map(|m| m.to_string()),
            numbers: [
                m.base.snapshot,
                Some(m.rows() as i64),
                bytes,
                None,
                Some(reflections.served(&key) as i64),
            ],
        }
    }
}

fn unit(g: Granularity) -> String {
    g.unit().to_uppercase()
}

fn batch(rows: &[Row]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    for i in 0..8 {
        columns.push(Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.texts[i].clone()),
        )));
    }
    columns.push(Arc::new(
        TimestampMillisecondArray::from_iter(rows.iter().map(|r| r.last_refresh))
            .with_timezone("UTC"),
    ));
    columns.push(Arc::new(StringArray::from_iter(
        rows.iter().map(|r| r.last_error.clone()),
    )));
    columns.push(Arc::new(StringArray::from_iter(
        rows.iter().map(|r| r.method.clone()),
    )));
    for i in 0..5 {
        columns.push(Arc::new(Int64Array::from_iter(
            rows.iter().map(|r| r.numbers[i]),
        )));
    }
    Ok(RecordBatch::try_new(schema(), columns)?)
}

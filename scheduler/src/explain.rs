//! `EXPLAIN ANALYZE`: run the query as a Ballista job, then show each stage's plan with
//! the metrics its tasks reported (rows, time, bytes), summed over the stage's tasks.

use std::sync::Arc;
use std::time::Instant;

use ballista_scheduler::display::DisplayableBallistaExecutionPlan;
use ballista_scheduler::state::execution_stage::ExecutionStage;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;

use crate::error::QuarryError;
use crate::job::{Job, JobRunner, fetch_results};

/// The result schema: one row per stage, like DataFusion's `EXPLAIN`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("plan_type", DataType::Utf8, false),
        Field::new("plan", DataType::Utf8, false),
    ]))
}

/// Runs the submitted `job` to completion, discarding its rows, and describes its stages.
pub async fn explain_analyze(
    jobs: &JobRunner,
    mut job: Job,
    result_schema: SchemaRef,
) -> Result<RecordBatch, QuarryError> {
    let started = Instant::now();
    let locations = jobs.wait(&mut job).await?;
    let rows: usize = fetch_results(locations, result_schema)
        .try_fold(0, |n, batch| async move { Ok(n + batch.num_rows()) })
        .await?;
    let elapsed = started.elapsed();
    let graph = jobs
        .finished_graph(&job.id)
        .await
        .ok_or_else(|| QuarryError::internal(format!("job {} has no execution graph", job.id)))?;

    let mut kinds = vec!["Query".to_string()];
    let mut plans = vec![format!(
        "job {}: {} rows in {:.3} s, {} stages",
        job.id,
        rows,
        elapsed.as_secs_f64(),
        graph.stage_count()
    )];
    let mut stages: Vec<_> = graph.stages().iter().collect();
    stages.sort_by_key(|(id, _)| **id);
    for (id, stage) in stages {
        if let ExecutionStage::Successful(stage) = stage {
            kinds.push(format!("Stage {id} ({} tasks)", stage.partitions));
            plans.push(
                DisplayableBallistaExecutionPlan::new(stage.plan.as_ref(), &stage.stage_metrics)
                    .indent()
                    .to_string(),
            );
        }
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(kinds)),
            Arc::new(StringArray::from(plans)),
        ],
    )
    .map_err(|e| QuarryError::internal(e.to_string()))
}

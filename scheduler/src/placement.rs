//! Where tasks run: on the executor that already holds their reflection files in memory.
//!
//! Executors keep the reflection files their tasks read in memory (the executor's
//! reflection cache), so a dashboard query is fastest on the executor that read the same
//! files last time. [`CachePlacement`] is Ballista's task distribution hook: a task
//! whose stage scans a reflection goes to the executor that last ran the same part of
//! the same files, when that executor has a free slot; every other task (and one whose
//! executor is busy or gone) goes round-robin, spreading a new reflection's parts over
//! the executors.
//!
//! A part is named by its files and byte ranges, which never change for a given
//! snapshot of a reflection (a refresh writes new files), so a remembered placement
//! cannot point at stale data; at worst the executor has evicted it and reads it again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ballista_core::serde::protobuf::{AvailableTaskSlots, job_status};
use ballista_core::serde::scheduler::PartitionId;
use ballista_scheduler::cluster::{BoundTask, DistributionPolicy};
use ballista_scheduler::state::execution_graph::{TaskDescription, create_task_info};
use ballista_scheduler::state::task_manager::JobInfoCache;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use quarry_catalog::table::scan::{IcebergScanExec, file_key};

/// How many parts' placements are remembered; the least recently used are forgotten.
const REMEMBERED_PARTS: u64 = 100_000;

/// Sends tasks that scan reflections to the executor holding their files.
#[derive(Debug)]
pub struct CachePlacement {
    /// The executor that last ran each part.
    placed: moka::sync::Cache<String, String>,
    /// Where the next direct run without a remembered executor goes, round-robin.
    next_direct: AtomicUsize,
}

impl Default for CachePlacement {
    fn default() -> Self {
        Self {
            placed: moka::sync::Cache::new(REMEMBERED_PARTS),
            next_direct: AtomicUsize::new(0),
        }
    }
}

impl CachePlacement {
    /// Which of `executors` (ids, in a stable order) runs `plan` whole, as a direct run:
    /// the one that last read its reflection part, when it is there, else the next in
    /// turn. The choice is remembered for the part, for tasks and direct runs alike.
    pub fn place_direct<'a>(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        executors: &'a [String],
    ) -> Option<&'a String> {
        if executors.is_empty() {
            return None;
        }
        let part = reflection_parts(plan, plan.output_partitioning().partition_count())
            .and_then(|parts| parts.into_iter().next());
        let remembered = part
            .as_ref()
            .and_then(|part| self.placed.get(part))
            .and_then(|id| executors.iter().find(|e| **e == id));
        let chosen = remembered.unwrap_or_else(|| {
            let turn = self.next_direct.fetch_add(1, Ordering::Relaxed);
            &executors[turn % executors.len()]
        });
        if let Some(part) = part {
            self.placed.insert(part, chosen.clone());
        }
        Some(chosen)
    }
}

#[async_trait::async_trait]
impl DistributionPolicy for CachePlacement {
    async fn bind_tasks(
        &self,
        mut slots: Vec<&mut AvailableTaskSlots>,
        running_jobs: Arc<HashMap<String, JobInfoCache>>,
    ) -> datafusion::error::Result<Vec<BoundTask>> {
        let mut free: u32 = slots.iter().map(|s| s.slots).sum();
        let mut bound = Vec::new();
        if free == 0 {
            return Ok(bound);
        }
        // Most free slots first, so round-robin spreads new work evenly.
        slots.sort_by(|a, b| {
            b.slots
                .cmp(&a.slots)
                .then(a.executor_id.cmp(&b.executor_id))
        });
        let mut next = 0usize;
        for (job_id, job) in running_jobs.iter() {
            if !matches!(job.status, Some(job_status::Status::Running(_))) {
                continue;
            }
            let mut graph = job.execution_graph.write().await;
            let session_id = graph.session_id().to_string();
            let mut done = Vec::new();
            while let Some((stage, task_ids)) = graph.fetch_running_stage(&done) {
                done.push(stage.stage_id);
                let parts = reflection_parts(&stage.plan, stage.partitions);
                for partition_id in 0..stage.task_infos.len() {
                    if stage.task_infos[partition_id].is_some() {
                        continue;
                    }
                    if free == 0 {
                        return Ok(bound);
                    }
                    let part = parts.as_ref().map(|parts| &parts[partition_id]);
                    let remembered = part.and_then(|part| self.placed.get(part));
                    let index = remembered
                        .and_then(|id| {
                            slots
                                .iter()
                                .position(|s| s.executor_id == id && s.slots > 0)
                        })
                        .unwrap_or_else(|| {
                            // Round-robin over executors with a free slot; `free > 0`
                            // guarantees one.
                            while slots[next % slots.len()].slots == 0 {
                                next += 1;
                            }
                            next += 1;
                            (next - 1) % slots.len()
                        });
                    let slot = &mut slots[index];
                    slot.slots -= 1;
                    free -= 1;
                    let executor_id = slot.executor_id.clone();
                    if let Some(part) = part {
                        self.placed.insert(part.clone(), executor_id.clone());
                    }
                    let task_id = *task_ids;
                    *task_ids += 1;
                    stage.task_infos[partition_id] =
                        Some(create_task_info(executor_id.clone(), task_id));
                    let task = TaskDescription {
                        session_id: session_id.clone(),
                        partition: PartitionId {
                            job_id: job_id.clone(),
                            stage_id: stage.stage_id,
                            partition_id,
                        },
                        stage_attempt_num: stage.stage_attempt_num,
                        task_id,
                        task_attempt: stage.task_failure_numbers[partition_id],
                        plan: Arc::clone(&stage.plan),
                        session_config: Arc::clone(&stage.session_config),
                    };
                    bound.push((executor_id, task));
                }
            }
        }
        Ok(bound)
    }

    fn name(&self) -> &str {
        "quarry-reflection-cache"
    }
}

/// For a stage that scans a reflection with one group of files per task, the name of
/// each task's part: its files and byte ranges. `None` for any other stage.
fn reflection_parts(plan: &Arc<dyn ExecutionPlan>, partitions: usize) -> Option<Vec<String>> {
    let config = reflection_scan(plan)?;
    let groups = &config.file_groups;
    (groups.len() == partitions).then(|| {
        groups
            .iter()
            .map(|group| {
                let files: Vec<String> = group.iter().map(|file| file_key(config, file)).collect();
                files.join(",")
            })
            .collect()
    })
}

/// The file scan under the first reflection scan in `plan`.
fn reflection_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    match plan.as_any().downcast_ref::<IcebergScanExec>() {
        Some(scan) if scan.is_reflection() => scan.file_scan(),
        Some(_) => None,
        None => plan.children().into_iter().find_map(reflection_scan),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};
    use ballista_core::config::BallistaConfig;
    use ballista_scheduler::planner::DefaultDistributedPlanner;
    use ballista_scheduler::state::execution_graph::StaticExecutionGraph;
    use datafusion::datasource::listing::PartitionedFile;
    use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
    use datafusion::datasource::source::DataSourceExec;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::prelude::SessionConfig;
    use quarry_catalog::table::scan::ScanSummary;

    use super::*;

    /// A scan of `table` reading `files` files, one task each.
    fn scan(table: &str, files: usize) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let groups = (0..files)
            .map(|i| {
                FileGroup::new(vec![PartitionedFile::new(
                    format!("{table}/{i}.parquet"),
                    9,
                )])
            })
            .collect();
        let source = ParquetSource::new(schema);
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups)
                .build();
        let summary = ScanSummary {
            table: table.to_string(),
            snapshot_id: 1,
            files_planned: files,
            files_pruned: 0,
            field_ids: Vec::new(),
        };
        Arc::new(IcebergScanExec::new(
            DataSourceExec::from_data_source(config),
            summary,
        ))
    }

    /// One running job per plan.
    fn jobs(plans: &[Arc<dyn ExecutionPlan>]) -> Arc<HashMap<String, JobInfoCache>> {
        let config =
            Arc::new(SessionConfig::new().with_option_extension(BallistaConfig::default()));
        let jobs = plans.iter().enumerate().map(|(i, plan)| {
            let id = format!("job{i}");
            let graph = StaticExecutionGraph::new(
                "scheduler",
                &id,
                "",
                "session",
                Arc::clone(plan),
                0,
                Arc::clone(&config),
                &mut DefaultDistributedPlanner::new(),
                None,
            )
            .unwrap();
            (id, JobInfoCache::new(Box::new(graph)))
        });
        Arc::new(jobs.collect())
    }

    /// Binds the tasks of `plans` to executors with the given free slots; returns, per
    /// job, the executor of each task in partition order.
    async fn bind(
        policy: &CachePlacement,
        free: &[(&str, u32)],
        plans: &[Arc<dyn ExecutionPlan>],
    ) -> Vec<Vec<String>> {
        let mut slots: Vec<AvailableTaskSlots> = free
            .iter()
            .map(|(id, n)| AvailableTaskSlots {
                executor_id: id.to_string(),
                slots: *n,
            })
            .collect();
        let bound = policy
            .bind_tasks(slots.iter_mut().collect(), jobs(plans))
            .await
            .unwrap();
        let mut placed = vec![Vec::new(); plans.len()];
        for (executor, task) in bound {
            let job: usize = task.partition.job_id[3..].parse().unwrap();
            let tasks = &mut placed[job];
            tasks.resize(
                tasks.len().max(task.partition.partition_id + 1),
                String::new(),
            );
            tasks[task.partition.partition_id] = executor;
        }
        placed
    }

    #[tokio::test]
    async fn reflection_tasks_go_back_to_the_executor_that_read_their_files() {
        let policy = CachePlacement::default();
        let reflection = scan("__reflections.gold__sales__daily", 4);
        // First run: spread over both executors.
        let first = bind(&policy, &[("a", 2), ("b", 2)], &[Arc::clone(&reflection)]).await;
        let first = &first[0];
        assert_eq!(first.len(), 4);
        assert_eq!(first.iter().filter(|e| *e == "a").count(), 2, "{first:?}");
        // Later runs, whatever the order and number of free slots: the same executors.
        for free in [
            [("b", 2), ("a", 2)],
            [("b", 4), ("a", 2)],
            [("a", 8), ("b", 8)],
        ] {
            let again = bind(&policy, &free, &[Arc::clone(&reflection)]).await;
            assert_eq!(&again[0], first, "{free:?}");
        }
        // An executor that is busy or gone: its parts go to one that is free.
        let again = bind(&policy, &[("b", 4)], &[Arc::clone(&reflection)]).await;
        assert_eq!(again[0], vec!["b"; 4]);
        // ... and stay there.
        let again = bind(&policy, &[("a", 4), ("b", 4)], &[reflection]).await;
        assert_eq!(again[0], vec!["b"; 4]);
    }

    #[tokio::test]
    async fn direct_runs_go_where_the_reflection_part_was_read() {
        let policy = CachePlacement::default();
        let executors = ["a".to_string(), "b".to_string()];
        let reflection = scan("__reflections.gold__sales__daily", 1);
        let first = policy
            .place_direct(&reflection, &executors)
            .unwrap()
            .clone();
        for _ in 0..4 {
            assert_eq!(policy.place_direct(&reflection, &executors), Some(&first));
        }
        // A task of a job over the same part goes there too.
        let placed = bind(&policy, &[("a", 2), ("b", 2)], &[Arc::clone(&reflection)]).await;
        assert_eq!(placed[0], std::slice::from_ref(&first));
        // Its executor gone: another one, which then keeps it.
        let others: Vec<String> = executors.iter().filter(|e| **e != first).cloned().collect();
        assert_eq!(policy.place_direct(&reflection, &others), Some(&others[0]));
        assert_eq!(
            policy.place_direct(&reflection, &executors),
            Some(&others[0])
        );
        // A plan that reads no reflection goes round-robin; no executor, nowhere.
        let table = scan("gold.sales", 1);
        let one = policy.place_direct(&table, &executors).unwrap();
        let two = policy.place_direct(&table, &executors).unwrap();
        assert_ne!(one, two);
        assert_eq!(policy.place_direct(&table, &[]), None);
    }

    #[tokio::test]
    async fn other_tasks_go_round_robin_within_the_free_slots() {
        let policy = CachePlacement::default();
        let table = scan("gold.sales", 3);
        let placed = bind(&policy, &[("a", 2), ("b", 1)], &[Arc::clone(&table), table]).await;
        let all: Vec<&String> = placed.iter().flatten().filter(|e| !e.is_empty()).collect();
        assert_eq!(all.len(), 3, "{placed:?}");
        assert_eq!(all.iter().filter(|e| **e == "a").count(), 2, "{placed:?}");
        assert!(policy.placed.iter().next().is_none());
    }
}

//! Reflections: materializations of a table (its rows, or an aggregate of them) that the
//! planner answers queries from, without anyone changing a query.
//!
//! - [`parse`]: the statements, in Dremio's syntax.
//! - [`build`]: the plan that computes a reflection's rows from its anchor table.
//! - [`rewrite`]: the analyzer rule that answers aggregates from a reflection.
//! - [`join`]: aggregates over a join of a table to dimension tables, split so that a
//!   reflection of the table answers its part.
//! - [`memory`]: how much of each reflection the executors hold in memory.
//! - [`raw`]: the optimizer rule that answers scans from a raw reflection.
//! - [`refresh`]: rebuilding reflections whose table changed, by their policies.
//! - [`system`]: the `sys.reflections` table.
//! - this module: the scheduler's registry of reflections ([`Reflections`]), and the
//!   planning of the statements into writes and catalog changes.
//!
//! A materialization is an Iceberg table in the hidden namespace (see
//! `quarry_catalog::reflection`), built by a distributed CTAS. It is used only while its
//! anchor table is at the snapshot it was built from, so no answer is ever stale.

pub mod build;
pub mod join;
pub mod memory;
pub mod parse;
pub mod raw;
pub mod refresh;
pub mod rewrite;
pub mod system;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::common::config::ConfigOptions;
use datafusion::common::display::{PlanType, StringifiedPlan};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::Analyzer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::ObjectName;
use iceberg::TableIdent;
use iceberg::table::Table;
use parking_lot::RwLock;
use quarry_catalog::reflection::{self, Anchor, Base, Definition, Kind, NAMESPACE};
use quarry_catalog::store::TableStore;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::partition::PartitionColumn;
use quarry_catalog::table::scan::IcebergScanExec;

use crate::error::QuarryError;
use crate::names;
use crate::planned::{self, CatalogChange, Commit, Write};
use crate::settings::QuarryOptions;
use parse::ReflectionStatement;

/// A reflection whose materialization exists.
#[derive(Debug, Clone)]
pub struct Materialized {
    pub definition: Definition,
    /// What the materialization was built from.
    pub base: Base,
    /// The materialization table, as last loaded.
    pub table: Table,
}

impl Materialized {
    /// Rows in the materialization.
    pub fn rows(&self) -> u64 {
        quarry_catalog::table::stats::total_records(&self.table).unwrap_or(0)
    }
}

/// The scheduler's reflections, loaded from the catalog's hidden namespace and loaded
/// again after any change to them.
#[derive(Debug)]
pub struct Reflections {
    store: TableStore,
    loaded: RwLock<Arc<Vec<Arc<Materialized>>>>,
    stale: AtomicBool,
    /// Held while loading, so that a caller never goes on with the old list while
    /// another caller's load (which took the stale mark) is still reading the new one.
    loading: tokio::sync::Mutex<()>,
    /// Per materialization table: its last refresh attempt, and how many queries it
    /// answered, since this scheduler started.
    refreshes: RwLock<HashMap<String, RefreshState>>,
    served: RwLock<HashMap<String, u64>>,
    /// The cluster whose executors hold reflections in memory, once it runs.
    executors: std::sync::OnceLock<crate::ballista::BallistaScheduler>,
}

/// What happened at a reflection's last refresh attempt.
#[derive(Debug, Clone, Default)]
pub struct RefreshState {
    /// When the last attempt ended.
    pub at: Option<SystemTime>,
    /// Its error, if it failed.
    pub error: Option<String>,
    /// Whether it rebuilt from the whole table or merged the appended rows.
    pub method: Option<Method>,
}

impl Reflections {
    pub fn new(store: TableStore) -> Arc<Self> {
        Arc::new(Self {
            store,
            loaded: RwLock::default(),
            stale: AtomicBool::new(true),
            loading: tokio::sync::Mutex::new(()),
            refreshes: RwLock::default(),
            served: RwLock::default(),
            executors: std::sync::OnceLock::new(),
        })
    }

    /// The cluster whose executors read the reflections (for their bytes in memory).
    pub fn attach(&self, ballista: crate::ballista::BallistaScheduler) {
        let _ = self.executors.set(ballista);
    }

    /// What the executors hold in memory now (nothing before [`Self::attach`]).
    pub async fn held_in_memory(&self) -> memory::HeldInMemory {
        match self.executors.get() {
            Some(ballista) => memory::HeldInMemory::ask(ballista).await,
            None => memory::HeldInMemory::default(),
        }
    }

    /// The catalog the materializations are in.
    pub fn store(&self) -> &TableStore {
        &self.store
    }

    /// The last refresh attempt of the reflection whose materialization is `table`.
    pub fn refresh_state(&self, table: &str) -> RefreshState {
        self.refreshes
            .read()
            .get(table)
            .cloned()
            .unwrap_or_default()
    }

    /// Records a refresh attempt of the reflection whose materialization is `table`.
    pub fn record_refresh(&self, table: String, state: RefreshState) {
        self.refreshes.write().insert(table, state);
    }

    /// How many queries the reflection whose materialization is `table` answered.
    pub fn served(&self, table: &str) -> u64 {
        self.served.read().get(table).copied().unwrap_or(0)
    }

    /// Counts a query that ran `plans` (its physical plan, or its job's stage plans):
    /// once for each reflection they scan.
    pub fn count_served<'a>(&self, plans: impl IntoIterator<Item = &'a Arc<dyn ExecutionPlan>>) {
        let mut tables = std::collections::BTreeSet::new();
        for plan in plans {
            let _ = plan.apply(|node| {
                if let Some(scan) = node.as_any().downcast_ref::<IcebergScanExec>()
                    && scan.is_reflection()
                {
                    tables.insert(scan.summary().table.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        if tables.is_empty() {
            return;
        }
        let mut served = self.served.write();
        for table in tables {
            *served.entry(table).or_default() += 1;
        }
    }

    /// Whether `plan` scans a table that has reflections (so that optimizing it may
    /// answer it from one).
    pub fn may_answer(&self, plan: &LogicalPlan) -> bool {
        let mut found = false;
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Some((anchor, _)) = rewrite::anchor_of(scan)
                && !self.of(&anchor).is_empty()
            {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        found
    }

    /// The reflections as last loaded.
    pub fn all(&self) -> Arc<Vec<Arc<Materialized>>> {
        Arc::clone(&self.loaded.read())
    }

    /// The reflections of `anchor`.
    pub fn of(&self, anchor: &Anchor) -> Vec<Arc<Materialized>> {
        self.all()
            .iter()
            .filter(|m| &m.definition.anchor == anchor)
            .cloned()
            .collect()
    }

    /// Marks the registry for loading again (a reflection was built, refreshed or
    /// dropped).
    pub fn invalidate(&self) {
        self.stale.store(true, Ordering::Release);
    }

    /// Loads the reflections again if they changed since last loaded.
    pub async fn load_if_changed(&self) -> Result<(), QuarryError> {
        let _loading = self.loading.lock().await;
        if !self.stale.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        match self.load().await {
            Ok(loaded) => {
                *self.loaded.write() = Arc::new(loaded);
                Ok(())
            }
            Err(e) => {
                self.invalidate();
                Err(e)
            }
        }
    }

    async fn load(&self) -> Result<Vec<Arc<Materialized>>, QuarryError> {
        if !self.store.namespace_exists(NAMESPACE).await? {
            return Ok(Vec::new());
        }
        let mut loaded = Vec::new();
        for name in self.store.tables(NAMESPACE).await? {
            let ident = TableIdent::from_strs([NAMESPACE, &name])
                .map_err(|e| QuarryError::internal(e.to_string()))?;
            let Some(table) = self.store.load(&ident).await? else {
                continue;
            };
            match reflection::read_properties(&table) {
                Ok(Some((definition, base))) => loaded.push(Arc::new(Materialized {
                    definition,
                    base,
                    table,
                })),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping reflection table {ident}: {e}"),
            }
        }
        Ok(loaded)
    }
}

/// Whether a session with these settings may be answered from reflections
/// (`quarry.reflections`).
pub fn enabled(options: &ConfigOptions) -> bool {
    options
        .extensions
        .get::<QuarryOptions>()
        .is_none_or(|o| o.reflections)
}

/// The name `EXPLAIN` gives the reflections' lines.
const EXPLAIN_NAME: &str = "reflections";

/// `EXPLAIN <query>` that also says, in a row `reflections`, which reflections each
/// aggregate of the query considered, which it used, and why it did not use the others.
pub fn explain(ctx: &SessionContext, plan: LogicalPlan) -> Result<LogicalPlan, QuarryError> {
    let LogicalPlan::Explain(mut explain) = plan else {
        return Ok(plan);
    };
    let state = ctx.state();
    let Some(reflections) = state.config().get_extension::<Reflections>() else {
        return Ok(LogicalPlan::Explain(explain));
    };
    if reflections.all().is_empty() {
        return Ok(LogicalPlan::Explain(explain));
    }
    let lines = match enabled(state.config_options()) {
        false => vec!["off in this session (SET quarry.reflections = on)".to_string()],
        true => {
            let rules = state
                .analyzer()
                .rules
                .iter()
                .filter(|rule| rule.name() != rewrite::RULE_NAME)
                .cloned()
                .collect();
            let analyzed = Analyzer::with_rules(rules).execute_and_check(
                explain.plan.as_ref().clone(),
                state.config_options(),
                |_, _| {},
            )?;
            let mut lines = rewrite::explain(&reflections, &analyzed)?;
            let optimized = state.optimize(&explain.plan)?;
            lines.extend(raw::explain(&reflections, &optimized));
            lines
        }
    };
    if !lines.is_empty() {
        explain.stringified_plans.push(StringifiedPlan::new(
            PlanType::OptimizedLogicalPlan {
                optimizer_name: EXPLAIN_NAME.into(),
            },
            lines.join("\n"),
        ));
    }
    Ok(LogicalPlan::Explain(explain))
}

/// The `reflections` row of an `EXPLAIN` planned by [`explain`], in the schema of its
/// result. (Ballista's distributed `EXPLAIN` keeps only its own rows.)
pub fn explain_row(plan: &LogicalPlan) -> Option<RecordBatch> {
    let LogicalPlan::Explain(explain) = plan else {
        return None;
    };
    let lines = explain.stringified_plans.iter().find(|p| {
        matches!(&p.plan_type, PlanType::OptimizedLogicalPlan { optimizer_name } if optimizer_name == EXPLAIN_NAME)
    })?;
    RecordBatch::try_new(
        Arc::clone(explain.schema.inner()),
        vec![
            Arc::new(StringArray::from(vec![EXPLAIN_NAME])),
            Arc::new(StringArray::from(vec![lines.plan.as_str()])),
        ],
    )
    .ok()
}

/// What a reflection statement is planned into.
pub enum Planned {
    /// `CREATE .. REFLECTION`: the write of its materialization.
    Write(Box<Write>),
    /// `DROP REFLECTION`.
    Catalog(Box<CatalogChange>),
    /// `REFRESH REFLECTION[S]`: rebuild those of `anchor` (or just `name`) that are
    /// stale; the query service's refresher runs it.
    Refresh {
        anchor: Anchor,
        name: Option<String>,
    },
}

/// Plans a reflection statement.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    reflections: &Reflections,
    statement: ReflectionStatement,
) -> Result<Planned, QuarryError> {
    match statement {
        ReflectionStatement::Create {
            table,
            name,
            kind,
            partition_by,
            localsort_by,
            refresh,
        } => {
            let (anchor, base_table) = anchor(ctx, store, &table).await?;
            if reflections
                .of(&anchor)
                .iter()
                .any(|m| m.definition.name == name)
            {
                return Err(QuarryError::duplicate(format!(
                    "table {anchor} already has a reflection named {name}"
                )));
            }
            let definition = Definition {
                name,
                anchor,
                kind,
                partition_by,
                localsort_by,
                refresh,
            };
            let ident = reflection::materialization_ident(&definition)?;
            if store.load(&ident).await?.is_some() {
                return Err(QuarryError::duplicate(format!(
                    "a reflection table {ident} exists already: drop the reflection first"
                )));
            }
            let (write, _) = materialize(store, &definition, &base_table, None)?;
            // The one side effect of planning: the hidden namespace, empty and idempotent.
            store.create_namespace(NAMESPACE, true).await?;
            Ok(Planned::Write(Box::new(write)))
        }
        ReflectionStatement::Drop {
            table,
            name,
            if_exists,
        } => {
            let (anchor, _) = anchor(ctx, store, &table).await?;
            let found = reflections
                .of(&anchor)
                .into_iter()
                .find(|m| m.definition.name == name);
            match found {
                Some(m) => Ok(Planned::Catalog(Box::new(CatalogChange::DropTables {
                    tables: vec![m.table.clone()],
                    purge: true,
                }))),
                None if if_exists => Ok(Planned::Catalog(Box::new(CatalogChange::None))),
                None => Err(QuarryError::not_found(format!(
                    "table {anchor} has no reflection named {name}"
                ))),
            }
        }
        ReflectionStatement::Refresh { table, name } => {
            let (anchor, _) = anchor(ctx, store, &table).await?;
            let found = reflections.of(&anchor);
            match &name {
                Some(name) if !found.iter().any(|m| &m.definition.name == name) => {
                    return Err(QuarryError::not_found(format!(
                        "table {anchor} has no reflection named {name}"
                    )));
                }
                None if found.is_empty() => {
                    return Err(QuarryError::not_found(format!(
                        "table {anchor} has no reflections to refresh"
                    )));
                }
                _ => {}
            }
            Ok(Planned::Refresh { anchor, name })
        }
    }
}

/// The anchor a statement names: an Iceberg table of the catalog.
async fn anchor(
    ctx: &SessionContext,
    store: &TableStore,
    name: &ObjectName,
) -> Result<(Anchor, Table), QuarryError> {
    let reference = object_name_to_table_reference(name.clone(), true)?;
    let ident = names::iceberg_ident(ctx, &reference)?;
    let Some(table) = store.load(&ident).await? else {
        return Err(QuarryError::no_table(format!(
            "table '{ident}' not found: reflections are made of the catalog's tables"
        )));
    };
    let anchor = Anchor::Table {
        namespace: ident.namespace().join("."),
        table: ident.name().to_string(),
    };
    Ok((anchor, table))
}

/// The write that builds `definition`'s materialization from `base` as it is now:
/// a new table, or (a refresh) one that replaces `old`.
pub(crate) fn materialize(
    store: &TableStore,
    definition: &Definition,
    base: &Table,
    old: Option<&Materialized>,
) -> Result<(Write, Method), QuarryError> {
    let incremental = old.and_then(|old| Some((old, appended_since(old, base)?)));
    let (plan, method) = match incremental {
        Some((old, since)) => {
            let kept = Arc::new(IcebergTable::new(old.table.clone())?);
            let appended = Arc::new(IcebergTable::appended_since(base.clone(), since)?);
            (
                build::merge(definition, kept, appended)?,
                Method::Incremental,
            )
        }
        None => {
            let source = IcebergTable::new(base.clone())?;
            (build::plan(definition, Arc::new(source))?, Method::Full)
        }
    };
    let ident = reflection::materialization_ident(definition)?;
    let arrow = planned::nullable(plan.schema().as_arrow());
    let partition_by: Vec<PartitionColumn> =
        definition.partition_by.iter().map(Into::into).collect();
    let (schema, spec) = planned::layout(&arrow, &partition_by)?;
    let mut spec = planned::new_table_write(store, &ident, schema, spec);
    Arc::make_mut(&mut spec).sort_by = definition.localsort_by.clone();
    let properties = reflection::properties(definition, &Base::of(base));
    let target = IcebergTable::pending(Arc::clone(&spec))?;
    let name = datafusion::sql::TableReference::partial(NAMESPACE, ident.name());
    let plan = planned::insert_plan(
        &name,
        Arc::new(target),
        datafusion::logical_expr::dml::InsertOp::Append,
        Arc::new(plan),
    )?;
    let commit = match old {
        Some(old) => Commit::Replace {
            old: Box::new(old.table.clone()),
            properties,
        },
        None => Commit::Create { ident, properties },
    };
    Ok((Write { plan, spec, commit }, method))
}

/// How a refresh builds the materialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// From the whole table.
    Full,
    /// From the old materialization and the files appended since.
    Incremental,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Full => "FULL",
            Method::Incremental => "INCREMENTAL",
        })
    }
}

/// The snapshot `old` was built from, if `base` (its table now) is that snapshot plus
/// appends only, and `old` is an aggregate (whose measures all merge).
fn appended_since(old: &Materialized, base: &Table) -> Option<i64> {
    if !matches!(old.definition.kind, Kind::Aggregate { .. }) {
        return None;
    }
    let since = old.base.snapshot?;
    let now = Base::of(base);
    (old.base.table_uuid == now.table_uuid
        && now.snapshot != Some(since)
        && quarry_catalog::table::scan::only_appends_since(base, since))
    .then_some(since)
}

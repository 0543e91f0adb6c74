//! The DataFusion sessions that queries are planned in.
//!
//! Every session sees one catalog (`quarry`): the Iceberg namespaces of the
//! [`TableStore`] as schemas (default schema `public`), shared by all clients, so a table
//! created in one session is visible to the others at once. File paths work as table
//! names and resolve against the warehouse. Sessions carry Ballista's settings, because
//! their settings travel with every task, with hash joins and broadcasts of small
//! build sides where they are correct ([`joins`]), and plan physically with one more
//! rule, [`ShippablePlan`], so that the plans executors decode are the ones planned.
//! They carry Quarry's settings ([`QuarryOptions`]) and the [`SessionExtensions`] of
//! the features built over sessions (reflections' rules and registry), which
//! [`crate::lake`] wires in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ballista_core::extension::SessionConfigExt;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProviderList};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};
use datafusion::logical_expr::planner::{ExprPlanner, RelationPlanner, TypePlanner};
use datafusion::optimizer::{AnalyzerRule, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::prelude::{SessionConfig, SessionContext};
use quarry_catalog::shippable::ShippablePlan;
use quarry_catalog::store::TableStore;
use quarry_catalog::{Warehouse, codec, with_file_tables};

use crate::error::{ErrorKind, QuarryError};
use crate::joins;
use crate::names::CATALOG;
use crate::settings::QuarryOptions;
use crate::small::SmallQueryPlanner;
use crate::time_travel::TimeTravel;

/// The schema unqualified names resolve in.
pub const DEFAULT_SCHEMA: &str = "public";

/// Creates sessions over the shared catalog and runtime.
#[derive(Clone)]
pub struct SessionFactory {
    warehouse: Warehouse,
    store: TableStore,
    catalogs: Arc<dyn CatalogProviderList>,
    runtime: Arc<RuntimeEnv>,
    extensions: SessionExtensions,
    /// The settings new sessions start with.
    options: QuarryOptions,
}

fn joined<T: Clone>(first: &[T], then: &[T]) -> Vec<T> {
    [first, then].concat()
}

/// What sessions get beside Quarry's own planning: the rules and configuration
/// extensions of features built over sessions (given to a factory, for all its
/// sessions), and the planner hooks of a front door (given for one session, see
/// [`SessionFactory::new_session_over`]).
#[derive(Clone, Default)]
pub struct SessionExtensions {
    analyzer_rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>>,
    optimizer_rules: Vec<Arc<dyn OptimizerRule + Send + Sync>>,
    configure: Vec<Arc<dyn Fn(SessionConfig) -> SessionConfig + Send + Sync>>,
    type_planner: Option<Arc<dyn TypePlanner>>,
    relation_planners: Vec<Arc<dyn RelationPlanner>>,
    expr_planners: Vec<Arc<dyn ExprPlanner>>,
}

impl SessionExtensions {
    /// Plans SQL type names DataFusion does not know with `planner`.
    pub fn with_type_planner(mut self, planner: Arc<dyn TypePlanner>) -> Self {
        self.type_planner = Some(planner);
        self
    }

    /// Plans relations (`FROM` items) with `planner` before DataFusion does.
    pub fn with_relation_planner(mut self, planner: Arc<dyn RelationPlanner>) -> Self {
        self.relation_planners.push(planner);
        self
    }

    /// Plans expressions (operators, ...) with `planner` before DataFusion does.
    pub fn with_expr_planner(mut self, planner: Arc<dyn ExprPlanner>) -> Self {
        self.expr_planners.push(planner);
        self
    }

    /// These extensions and then `other`'s (whose type planner wins).
    fn and(&self, other: &Self) -> Self {
        Self {
            analyzer_rules: joined(&self.analyzer_rules, &other.analyzer_rules),
            optimizer_rules: joined(&self.optimizer_rules, &other.optimizer_rules),
            configure: joined(&self.configure, &other.configure),
            type_planner: other.type_planner.clone().or(self.type_planner.clone()),
            relation_planners: joined(&self.relation_planners, &other.relation_planners),
            expr_planners: joined(&self.expr_planners, &other.expr_planners),
        }
    }

    /// Analyzes plans with `rule`, after DataFusion's analyzer rules.
    pub fn with_analyzer_rule(mut self, rule: Arc<dyn AnalyzerRule + Send + Sync>) -> Self {
        self.analyzer_rules.push(rule);
        self
    }

    /// Optimizes plans with `rule`, after DataFusion's optimizer rules.
    pub fn with_optimizer_rule(mut self, rule: Arc<dyn OptimizerRule + Send + Sync>) -> Self {
        self.optimizer_rules.push(rule);
        self
    }

    /// Carries `extension` in every session's configuration.
    pub fn with_config_extension<T: Send + Sync + 'static>(mut self, extension: Arc<T>) -> Self {
        self.configure.push(Arc::new(move |config: SessionConfig| {
            config.with_extension(Arc::clone(&extension))
        }));
        self
    }
}

impl SessionFactory {
    /// A factory for sessions over `catalog`, which holds the tables of `store`, and
    /// the files of `warehouse`. The store must hold the schema [`DEFAULT_SCHEMA`].
    pub fn new(
        warehouse: Warehouse,
        store: TableStore,
        runtime: Arc<RuntimeEnv>,
        catalog: Arc<dyn CatalogProvider>,
        extensions: SessionExtensions,
    ) -> Self {
        let catalogs = MemoryCatalogProviderList::new();
        catalogs.register_catalog(CATALOG.to_string(), catalog);
        Self {
            warehouse,
            store,
            catalogs: Arc::new(catalogs),
            runtime,
            extensions,
            options: QuarryOptions::default(),
        }
    }

    /// The same factory over other shared `catalogs`.
    pub(crate) fn over_catalogs(&self, catalogs: Arc<dyn CatalogProviderList>) -> Self {
        Self {
            catalogs,
            ..self.clone()
        }
    }

    /// New sessions run queries that read at most `bytes` as a single stage (their
    /// `quarry.single_stage_max_bytes`).
    pub fn with_single_stage_max_bytes(mut self, bytes: u64) -> Self {
        self.options.single_stage_max_bytes = bytes;
        self
    }

    /// The Iceberg tables sessions see.
    pub fn store(&self) -> &TableStore {
        &self.store
    }

    /// The runtime (object stores, memory) sessions run in.
    pub fn runtime(&self) -> &Arc<RuntimeEnv> {
        &self.runtime
    }

    /// The warehouse sessions resolve paths in.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The catalogs every session sees.
    pub fn catalogs(&self) -> &Arc<dyn CatalogProviderList> {
        &self.catalogs
    }

    /// A new session whose queries split into `target_partitions` parallel tasks.
    pub fn new_session(&self, target_partitions: usize) -> SessionContext {
        let none = SessionExtensions::default();
        self.new_session_over(target_partitions, Arc::clone(&self.catalogs), &none)
    }

    /// A new session over `catalogs` (which must hold [`CATALOG`]) rather than the
    /// shared ones, with `extensions` too: a front door's own view of the catalog and
    /// its own planner hooks.
    pub fn new_session_over(
        &self,
        target_partitions: usize,
        catalogs: Arc<dyn CatalogProviderList>,
        extensions: &SessionExtensions,
    ) -> SessionContext {
        let config = joins::distributed(SessionConfig::new_with_ballista())
            .with_ballista_logical_extension_codec(codec::logical_codec())
            .with_ballista_physical_extension_codec(codec::physical_codec())
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_target_partitions(target_partitions.max(1))
            .with_option_extension(self.options.clone())
            .with_extension(Arc::new(FollowSlots(AtomicUsize::new(
                target_partitions.max(1),
            ))))
            // Where the session's statements name files (`COPY .. TO`).
            .with_extension(Arc::new(self.warehouse.clone()));
        let extensions = self.extensions.and(extensions);
        let config = extensions
            .configure
            .iter()
            .fold(config, |config, configure| configure(config));
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_catalog_list(catalogs)
            .with_default_features();
        for rule in &extensions.analyzer_rules {
            state = state.with_analyzer_rule(Arc::clone(rule));
        }
        for rule in &extensions.optimizer_rules {
            state = state.with_optimizer_rule(Arc::clone(rule));
        }
        if let Some(planner) = &extensions.type_planner {
            state = state.with_type_planner(Arc::clone(planner));
        }
        let mut relation_planners: Vec<Arc<dyn RelationPlanner>> = vec![Arc::new(TimeTravel)];
        relation_planners.extend(extensions.relation_planners.iter().cloned());
        let mut state = state
            .with_physical_optimizer_rules(physical_rules())
            .with_query_planner(Arc::new(SmallQueryPlanner))
            .with_relation_planners(relation_planners)
            .build();
        for planner in &extensions.expr_planners {
            // After DataFusion's own, which leave what they do not know to the next.
            let _ = state.register_expr_planner(Arc::clone(planner));
        }
        let ctx = with_file_tables(SessionContext::new_with_state(state), &self.warehouse);
        for function in quarry_catalog::sql_functions::udfs() {
            ctx.register_udf(function.as_ref().clone());
        }
        ctx
    }
}

/// DataFusion's physical optimizer rules with [`joins::with_rules`] and, last,
/// [`ShippablePlan`].
fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = joins::with_rules(PhysicalOptimizer::new().rules);
    rules.push(Arc::new(ShippablePlan));
    rules
}

/// The `target_partitions` Quarry last gave a session from the cluster's task slots.
/// While the session's own value is still that one (its user has not `SET` another),
/// it follows the slots: executors an autoscaler adds widen the next statement's plan.
#[derive(Debug)]
struct FollowSlots(AtomicUsize);

/// Sets the session's `target_partitions` to the cluster's live task `slots`, unless
/// its user set a value of their own.
pub fn follow_slots(ctx: &SessionContext, slots: usize) {
    let slots = slots.max(1);
    let state = ctx.state_ref();
    let mut state = state.write();
    let Some(follow) = state.config().get_extension::<FollowSlots>() else {
        return;
    };
    let given = follow.0.load(Ordering::Relaxed);
    let options = state.config_mut().options_mut();
    if options.execution.target_partitions == given && given != slots {
        options.execution.target_partitions = slots;
        follow.0.store(slots, Ordering::Relaxed);
    }
}

/// The schema unqualified table names resolve in.
pub fn current_schema(ctx: &SessionContext) -> String {
    ctx.state().config_options().catalog.default_schema.clone()
}

/// Makes `schema` (of catalog `quarry`) the one unqualified table names resolve in.
pub fn set_current_schema(ctx: &SessionContext, schema: &str) -> Result<(), QuarryError> {
    let exists = ctx
        .catalog(CATALOG)
        .is_some_and(|catalog| catalog.schema(schema).is_some());
    if !exists {
        return Err(ErrorKind::UndefinedSchema.error(format!("schema '{schema}' not found")));
    }
    let state = ctx.state_ref();
    let mut state = state.write();
    state.config_mut().options_mut().catalog.default_schema = schema.to_string();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions(ctx: &SessionContext) -> usize {
        ctx.state_ref().read().config().target_partitions()
    }

    #[tokio::test]
    async fn target_partitions_follow_the_slots_until_a_user_sets_them() {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_extension(Arc::new(FollowSlots(AtomicUsize::new(2))));
        let ctx = SessionContext::new_with_config(config);
        follow_slots(&ctx, 4);
        assert_eq!(partitions(&ctx), 4, "an executor joined");
        follow_slots(&ctx, 2);
        assert_eq!(partitions(&ctx), 2, "it left");
        ctx.sql("SET datafusion.execution.target_partitions = 3")
            .await
            .unwrap();
        follow_slots(&ctx, 8);
        assert_eq!(partitions(&ctx), 3, "the user's value stays");
    }
}

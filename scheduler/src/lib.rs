//! Quarry's scheduler: the one place where SQL arrives.
//!
//! - [`ballista`]: hosting the Ballista scheduler that splits plans into stages and
//!   hands tasks to the executors ([`ballista::launcher`]: a task an executor refuses
//!   fails its query).
//! - [`session`]: the DataFusion sessions queries are planned in, over a catalog shared
//!   by all sessions; [`settings`]: Quarry's own session settings (`quarry.*`).
//! - [`tokens`]: a statement's text as tokens, made once; [`parse`]: one parse of a
//!   statement into Quarry's syntax tree or DataFusion's.
//! - [`names`]: how statements name the lake's tables; [`planned`]: what planning a
//!   statement yields (a write, a catalog change).
//! - [`statement`]: planning a parsed statement and deciding where it runs.
//! - [`lake`]: sessions wired to reflections and stored views.
//! - [`tables`]: planning statements that create, write and list Iceberg tables;
//!   [`changes`]: `DELETE` and `UPDATE`, copy-on-write; [`merge`]: `MERGE`, likewise.
//! - [`time_travel`]: `FOR VERSION AS OF`, `FOR TIMESTAMP AS OF` and Dremio's `AT
//!   SNAPSHOT`, parsed and planned as scans of earlier snapshots; [`rollback`]:
//!   `ALTER TABLE t ROLLBACK TO SNAPSHOT | TIMESTAMP`; [`alter`]: what Quarry's own
//!   `ALTER TABLE` statements share.
//! - [`views`]: views stored in the catalog (`CREATE VIEW`, `DROP VIEW`, `ALTER VIEW ..
//!   RENAME`), and the planner of their queries.
//! - [`reflections`]: reflections: their statements, their materializations, and the
//!   analyzer rule that answers aggregates from them.
//! - [`write`]: running writes (job, then commit or clean-up) and catalog changes.
//! - [`job`]: running a logical plan as a Ballista job and streaming its result;
//!   [`joins`]: how joins are planned for plans split into stages.
//! - [`explain`]: `EXPLAIN ANALYZE` with per-stage metrics.
//! - [`query`]: a query and its lifecycle.
//! - [`service`]: the query service: prepare, execute, cancel, progress.
//! - [`flight_sql`]: the Arrow Flight SQL front door over the query service.
//! - [`door`]: the front doors beside Flight SQL, which other crates provide (the
//!   PostgreSQL door is crate `quarry-postgres`).
//! - [`split`]: splitting SQL text into statements.
//! - [`http`], [`metrics`]: `/healthz`, `/readyz` and Prometheus `/metrics`.
//! - [`server`]: starting all of the above on real ports.
//! - [`error`]: errors as users see them.

pub mod alter;
pub mod ballista;
pub mod changes;
pub mod copy_into;
pub mod direct;
pub mod door;
pub mod error;
pub mod evolve;
pub mod explain;
pub mod flight_sql;
pub mod http;
pub mod ingest;
pub mod job;
pub mod joins;
pub mod lake;
pub mod listing;
pub mod merge;
pub mod metrics;
pub mod names;
pub mod normalize;
pub mod optimize;
pub mod params;
pub mod parse;
pub mod placement;
pub mod planned;
pub mod query;
pub mod reflections;
pub mod rollback;
pub mod server;
pub mod service;
pub mod session;
pub mod settings;
pub mod small;
pub mod split;
pub mod statement;
pub mod tables;
pub mod temporary;
pub mod time_travel;
pub mod tokens;
pub mod vacuum;
pub mod views;
pub mod write;

pub use error::{ErrorKind, QuarryError};
pub use server::{
    CatalogLocation, DEFAULT_BALLISTA_PORT, DEFAULT_FLIGHT_PORT, DEFAULT_HTTP_PORT,
    SchedulerHandle, SchedulerOptions, start_scheduler,
};
pub use service::{Progress, QueryService};

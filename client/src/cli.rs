//! Command-line arguments of `quarry`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::CatalogSection;
use crate::output::Format;
use quarry_catalog::object_stores::S3Options;
use quarry_postgres::{AuthMethod, PgOptions};
use quarry_scheduler::CatalogLocation;

/// The warehouse when none is given.
pub const DEFAULT_WAREHOUSE: &str = "./quarry-data";

/// Quarry: a distributed SQL engine over open tables.
///
/// Without --host, quarry starts an embedded cluster (a scheduler and --executors
/// executors in this process) over --warehouse and opens a SQL shell on it.
#[derive(Debug, Parser)]
// A shell option before a subcommand (`quarry --warehouse w demo`) would be parsed and
// ignored, the subcommand running on its own defaults: refuse it instead.
#[command(
    name = "quarry",
    version,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Connect to a running scheduler at this host instead of starting one; a cluster's
    /// schedulers as `host1,host2:port2` (the leader accepts).
    #[arg(long, env = "QUARRY_HOST")]
    pub host: Option<String>,

    /// The scheduler's Flight SQL port (with --host).
    #[arg(long, short = 'p', env = "QUARRY_PORT", default_value_t = 32010)]
    pub port: u16,

    /// User name to log in as.
    #[arg(long, short = 'U', env = "QUARRY_USER", default_value = "quarry")]
    pub user: String,

    /// Password (any is accepted until users are configured).
    #[arg(
        long,
        env = "QUARRY_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub password: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Run this SQL and exit (may be repeated; run in order).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Run the SQL statements in this file and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The embedded cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The warehouse, a directory or s3://bucket/prefix: landing files and tables live
    /// here; relative paths in SQL resolve against it.
    #[arg(long, env = "QUARRY_WAREHOUSE", default_value = DEFAULT_WAREHOUSE)]
    pub warehouse: String,

    #[command(flatten)]
    pub catalog: CatalogArgs,

    #[command(flatten)]
    pub s3: S3Args,

    /// Number of executors in the embedded cluster.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub executors: u16,

    /// Task slots per executor (default: the machine's cores shared among executors).
    #[arg(long)]
    pub slots: Option<usize>,

    /// Reflection data each executor keeps in memory, e.g. 512MiB or 2GiB; 0 keeps
    /// none.
    #[arg(long, env = "QUARRY_REFLECTION_CACHE", default_value = "1GiB", value_parser = parse_size)]
    pub reflection_cache: u64,

    /// Queries that read at most this much (by the tables' statistics) run whole on one
    /// executor, as a single stage without a shuffle; larger ones run as distributed
    /// jobs. 0 distributes every query. Sessions can change it with
    /// `SET quarry.single_stage_max_bytes`.
    #[arg(long, env = "QUARRY_SINGLE_STAGE_MAX_BYTES", default_value = "1GiB", value_parser = parse_size)]
    pub single_stage_max_bytes: u64,

    /// Where SQL may name files (reading them as tables, external tables, COPY INTO,
    /// COPY TO): a directory relative to the warehouse, an absolute one, or an
    /// s3:// prefix; repeat it for several [default: landing/]. Paths are checked
    /// after `..` and symbolic links are resolved.
    #[arg(
        long = "file-location",
        env = "QUARRY_FILE_LOCATIONS",
        value_delimiter = ','
    )]
    pub file_locations: Vec<String>,

    /// Memory this process's queries may use, e.g. 4GiB: a query that needs more spills
    /// to disk where it can, else fails with an error naming what used the memory [default: 70% of the machine's or the container's memory].
    #[arg(long, env = "QUARRY_MEMORY_LIMIT", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
}

/// A size in bytes: `1073741824`, `512MiB`, `2 GiB`, `1.5GB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("{text:?} is not a size (such as 512MiB or 2GiB): {e}"))
}

/// Where the table catalog lives: SQLite (catalog.db in a local warehouse by default)
/// or etcd.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// The SQLite catalog file [default: catalog.db in a local warehouse; an s3://
    /// warehouse needs this or --etcd].
    #[arg(long, env = "QUARRY_CATALOG_DB", conflicts_with = "etcd")]
    pub catalog_db: Option<PathBuf>,

    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// The cluster's etcd: its table catalog, its members and the scheduler election.
#[derive(Debug, Clone, Args)]
pub struct EtcdArgs {
    /// etcd endpoints (http://host:2379, comma-separated): the cluster's table catalog,
    /// its live members and the election of its leading scheduler.
    #[arg(long, env = "QUARRY_ETCD", value_delimiter = ',')]
    pub etcd: Vec<String>,

    /// The key prefix of Quarry's keys in etcd [default: quarry].
    #[arg(long, env = "QUARRY_ETCD_PREFIX")]
    pub etcd_prefix: Option<String>,
}

impl EtcdArgs {
    /// The etcd endpoints and key prefix: the flags and environment, else the file's
    /// `[catalog]`; `None` without etcd.
    pub fn over(&self, file: &CatalogSection) -> Option<(Vec<String>, String)> {
        let endpoints = match self.etcd.is_empty() {
            false => self.etcd.clone(),
            true => file.etcd.clone(),
        };
        let prefix = self
            .etcd_prefix
            .clone()
            .or(file.etcd_prefix.clone())
            .unwrap_or_else(|| "quarry".into());
        (!endpoints.is_empty()).then_some((endpoints, prefix))
    }
}

impl CatalogArgs {
    /// The catalog's place: the flags and environment, else the file's `[catalog]`.
    pub fn location(&self, file: CatalogSection) -> CatalogLocation {
        let etcd = self.etcd.over(&file);
        let flagged = !self.etcd.etcd.is_empty();
        match (etcd, &self.catalog_db, file.sqlite) {
            (Some((endpoints, prefix)), _, _) if flagged => {
                CatalogLocation::Etcd { endpoints, prefix }
            }
            (_, Some(db), _) => CatalogLocation::Sqlite(db.clone()),
            (Some((endpoints, prefix)), None, _) => CatalogLocation::Etcd { endpoints, prefix },
            (None, None, Some(db)) => CatalogLocation::Sqlite(db),
            (None, None, None) => CatalogLocation::InWarehouse,
        }
    }
}

/// How to reach S3. Credentials come from QUARRY_S3_ACCESS_KEY_ID and
/// QUARRY_S3_SECRET_ACCESS_KEY, or the standard AWS_* variables; never from flags.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// S3 endpoint, for MinIO or another S3-compatible store (http://host:9000).
    #[arg(long, env = "QUARRY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "QUARRY_S3_REGION")]
    pub s3_region: Option<String>,

    /// Path-style requests (endpoint/bucket/key); the default with --s3-endpoint.
    #[arg(long, env = "QUARRY_S3_PATH_STYLE")]
    pub s3_path_style: Option<bool>,
}

impl S3Args {
    /// The options, with credentials from the environment.
    pub fn options(&self) -> S3Options {
        self.options_over(S3Options::default())
    }

    /// `file`'s options (a configuration file's `[s3]`), overridden by the flags and
    /// the environment.
    pub fn options_over(&self, file: S3Options) -> S3Options {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3Options {
            endpoint: self.s3_endpoint.clone().or(file.endpoint),
            region: self.s3_region.clone().or(file.region),
            path_style: self.s3_path_style.or(file.path_style),
            access_key_id: env("QUARRY_S3_ACCESS_KEY_ID").or(file.access_key_id),
            secret_access_key: env("QUARRY_S3_SECRET_ACCESS_KEY").or(file.secret_access_key),
            session_token: env("QUARRY_S3_SESSION_TOKEN").or(file.session_token),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded cluster as a server for Flight SQL and PostgreSQL clients until
    /// Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Run a scheduler of a cluster of processes: clients connect to it, executors
    /// (`quarry executor`) register with it.
    Scheduler(SchedulerArgs),
    /// Run an executor of a cluster of processes, registered with a scheduler.
    Executor(ExecutorArgs),
    /// Write the demo retail dataset (CSV, JSON, Parquet) under the warehouse's landing/,
    /// build bronze, silver and gold Iceberg tables from it, and query gold.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Interface to listen on (0.0.0.0 for every interface). Any login is accepted and
    /// SQL can read any file the server can: listen beyond loopback only on a trusted
    /// network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,

    /// Arrow Flight SQL port.
    #[arg(long, default_value_t = 32010)]
    pub flight_port: u16,

    #[command(flatten)]
    pub pg: PgArgs,
}

/// The PostgreSQL front door.
#[derive(Debug, Clone, Args)]
pub struct PgArgs {
    /// PostgreSQL wire-protocol port (psql, JDBC, ODBC); 0 picks a free port
    /// [default: 15432].
    #[arg(long, env = "QUARRY_PG_PORT")]
    pub pg_port: Option<u16>,

    /// Do not serve the PostgreSQL protocol.
    #[arg(long)]
    pub no_pg: bool,

    /// How PostgreSQL clients log in: trust, password, md5 or scram-sha-256. Every user
    /// name is accepted; the password methods check --pg-password.
    #[arg(long, env = "QUARRY_PG_AUTH", default_value = "trust")]
    pub pg_auth: AuthMethod,

    /// The password PostgreSQL clients log in with (password, md5, scram-sha-256).
    #[arg(long, env = "QUARRY_PG_PASSWORD", hide_env_values = true)]
    pub pg_password: Option<String>,

    /// TLS certificate chain (PEM) for PostgreSQL clients; needs --pg-tls-key.
    #[arg(long, requires = "pg_tls_key")]
    pub pg_tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) for PostgreSQL clients; needs --pg-tls-cert.
    #[arg(long, requires = "pg_tls_cert")]
    pub pg_tls_key: Option<PathBuf>,
}

impl PgArgs {
    /// The door's options, on `port` unless a flag or `QUARRY_PG_PORT` says otherwise;
    /// `None` with `--no-pg`.
    pub fn options(&self, port: u16) -> Option<PgOptions> {
        (!self.no_pg).then(|| PgOptions {
            port: self.pg_port.unwrap_or(port),
            auth: self.pg_auth,
            password: self.pg_password.clone(),
            tls: self.pg_tls_cert.clone().zip(self.pg_tls_key.clone()),
        })
    }
}

/// What every process of a cluster is given: its configuration file, how to reach
/// S3, and where it listens.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Configuration file (TOML; deploy/quarry.toml documents it). Flags and QUARRY_*
    /// variables override what it says.
    #[arg(long, env = "QUARRY_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub s3: S3Args,

    /// Interface to listen on [default: 127.0.0.1]; 0.0.0.0 for every interface.
    #[arg(long, env = "QUARRY_BIND")]
    pub bind: Option<String>,

    /// The name other processes reach this one by [default: the --bind address];
    /// required with --bind 0.0.0.0.
    #[arg(long, env = "QUARRY_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,

    /// Memory this process's queries may use, e.g. 4GiB: a query that needs more spills
    /// to disk where it can, else fails with an error naming what used the memory
    /// [default: 70% of the machine's or the container's memory].
    #[arg(long, env = "QUARRY_MEMORY_LIMIT", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
}

/// `quarry scheduler`: plans queries and serves clients; executors register with it.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    #[command(flatten)]
    pub process: ProcessArgs,

    /// The warehouse, a directory or s3://bucket/prefix [default: ./quarry-data].
    #[arg(long, env = "QUARRY_WAREHOUSE")]
    pub warehouse: Option<String>,

    #[command(flatten)]
    pub catalog: CatalogArgs,

    /// Arrow Flight SQL port [default: 32010].
    #[arg(long, env = "QUARRY_FLIGHT_PORT")]
    pub flight_port: Option<u16>,

    /// The port executors register on (Ballista's scheduler gRPC) [default: 50050].
    #[arg(long, env = "QUARRY_BALLISTA_PORT")]
    pub ballista_port: Option<u16>,

    /// HTTP port for /healthz, /readyz and Prometheus /metrics [default: 9047].
    #[arg(long, env = "QUARRY_HTTP_PORT")]
    pub http_port: Option<u16>,

    #[command(flatten)]
    pub pg: PgArgs,

    /// Queries that read at most this much (by the tables' statistics) run whole on one
    /// executor, as a single stage without a shuffle; larger ones run as distributed
    /// jobs. 0 distributes every query. Sessions can change it with
    /// `SET quarry.single_stage_max_bytes` [default: 1GiB].
    #[arg(long, env = "QUARRY_SINGLE_STAGE_MAX_BYTES", value_parser = parse_size)]
    pub single_stage_max_bytes: Option<u64>,

    /// Where SQL may name files (reading them as tables, external tables, COPY INTO,
    /// COPY TO): a directory relative to the warehouse, an absolute one, or an
    /// s3:// prefix; repeat it for several [default: landing/]. Paths are checked
    /// after `..` and symbolic links are resolved.
    #[arg(
        long = "file-location",
        env = "QUARRY_FILE_LOCATIONS",
        value_delimiter = ','
    )]
    pub file_locations: Vec<String>,
}

/// `quarry executor`: runs the tasks a scheduler sends.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    #[command(flatten)]
    pub process: ProcessArgs,

    /// The schedulers to register with, host:port (their Ballista port, 50050),
    /// comma-separated: the one that leads accepts [default: the leader elected in
    /// etcd, with --etcd].
    #[arg(long = "scheduler", env = "QUARRY_SCHEDULER", value_delimiter = ',')]
    pub schedulers: Vec<String>,

    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// HTTP port for /healthz, /readyz and Prometheus /metrics [default: 9048].
    #[arg(long, env = "QUARRY_HTTP_PORT")]
    pub http_port: Option<u16>,

    /// Seconds a stopping executor (SIGTERM) waits for its running tasks and the job
    /// files others still read, before it leaves anyway [default: 30].
    #[arg(long, env = "QUARRY_DRAIN_TIMEOUT")]
    pub drain_timeout: Option<u64>,

    /// Arrow Flight port, for shuffles and results [default: 50051].
    #[arg(long, env = "QUARRY_EXECUTOR_FLIGHT_PORT")]
    pub flight_port: Option<u16>,

    /// Control port the scheduler sends tasks to [default: 50052].
    #[arg(long, env = "QUARRY_EXECUTOR_GRPC_PORT")]
    pub grpc_port: Option<u16>,

    /// Tasks run at once [default: the machine's cores].
    #[arg(long, env = "QUARRY_SLOTS")]
    pub slots: Option<usize>,

    /// Where shuffle files and spills go [default: a temporary directory].
    #[arg(long, env = "QUARRY_WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Reflection data kept in memory, e.g. 512MiB or 2GiB; 0 keeps none [default:
    /// 1GiB].
    #[arg(long, env = "QUARRY_REFLECTION_CACHE", value_parser = parse_size)]
    pub reflection_cache: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The warehouse directory.
    #[arg(long, env = "QUARRY_WAREHOUSE", default_value = DEFAULT_WAREHOUSE)]
    pub warehouse: PathBuf,

    /// Number of sales transactions to generate.
    #[arg(long, default_value_t = 200_000)]
    pub transactions: usize,

    /// Seed for the random generator (the same seed writes the same files).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const EXAMPLES: &str = "Examples:
  quarry demo                                   write the demo dataset
  quarry                                        open a shell on an embedded cluster
  quarry -c \"SELECT count(*) FROM 'landing/transactions/*.csv'\"
  quarry --format csv -f report.sql > report.csv
  quarry serve --flight-port 32010              serve Flight SQL and PostgreSQL clients
  quarry scheduler --config quarry.toml         a cluster's scheduler (see deploy/)
  quarry executor --etcd http://etcd:2379       one of its executors
  psql -h localhost -p 15432 -U me quarry       connect psql to a running server
  quarry --host localhost -p 32010              connect to a running server";

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// An option of the shell given before a subcommand is refused, not ignored.
    #[test]
    fn shell_options_before_a_subcommand_are_refused() {
        let error = Cli::try_parse_from(["quarry", "--warehouse", "w", "demo"]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        let cli = Cli::try_parse_from(["quarry", "demo", "--warehouse", "w"]).unwrap();
        let Some(Command::Demo(demo)) = cli.command else {
            panic!("not the demo: {cli:?}");
        };
        assert_eq!(demo.warehouse, PathBuf::from("w"));
    }
}

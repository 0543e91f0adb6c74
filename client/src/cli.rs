//! Command-line arguments of `quarry`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;
use quarry_catalog::object_stores::S3Options;
use quarry_scheduler::postgres::AuthMethod;

/// Quarry: a distributed SQL engine over open tables.
///
/// Without --host, quarry starts an embedded cluster (a scheduler and --executors
/// executors in this process) over --warehouse and opens a SQL shell on it.
#[derive(Debug, Parser)]
#[command(name = "quarry", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Connect to a running scheduler at this host instead of starting one.
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
    #[arg(long, env = "QUARRY_WAREHOUSE", default_value = "./quarry-data")]
    pub warehouse: String,

    /// The SQLite catalog file (default: catalog.db in a local warehouse; required for
    /// an s3:// warehouse).
    #[arg(long, env = "QUARRY_CATALOG_DB")]
    pub catalog_db: Option<PathBuf>,

    #[command(flatten)]
    pub s3: S3Args,

    /// Number of executors in the embedded cluster.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub executors: u16,

    /// Task slots per executor (default: the machine's cores shared among executors).
    #[arg(long)]
    pub slots: Option<usize>,
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
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            path_style: self.s3_path_style,
            access_key_id: env("QUARRY_S3_ACCESS_KEY_ID"),
            secret_access_key: env("QUARRY_S3_SECRET_ACCESS_KEY"),
            session_token: env("QUARRY_S3_SESSION_TOKEN"),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded cluster as a server for Flight SQL and PostgreSQL clients until
    /// Ctrl-C or SIGTERM.
    Serve(ServeArgs),
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

    /// PostgreSQL wire-protocol port (psql, JDBC, ODBC); 0 picks a free port.
    #[arg(long, env = "QUARRY_PG_PORT", default_value_t = 15432)]
    pub pg_port: u16,

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

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The warehouse directory.
    #[arg(long, env = "QUARRY_WAREHOUSE", default_value = "./quarry-data")]
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
  psql -h localhost -p 15432 -U me quarry       connect psql to a running server
  quarry --host localhost -p 32010              connect to a running server";

//! `quarry-bench`: measures Quarry against other engines on the same data, machine and
//! run, and checks that their answers agree.
//!
//! - `tpch` and `tpcds` ([`tpc`]): the 22 TPC-H or the 99 TPC-DS queries on Quarry,
//!   DataFusion, Ballista and DuckDB, with a report (Markdown, JSON and a chart) under
//!   `benchmarks/results/`.
//! - `aggregate` and `tables` ([`micro`]): one feature each against DataFusion.
//! - `merge` ([`merge`]): `MERGE` of 1% of a table against `INSERT OVERWRITE` of it.
//! - `optimize` ([`optimize`]): queries over many small files, before and after
//!   `OPTIMIZE` compacts them.
//! - `dashboard` ([`dashboard`]): a Superset dashboard's queries with reflections off
//!   and on, and on DuckDB.
//! - `tpc-engine`: one engine of such a run, as a process of its own (internal).

mod dashboard;
mod merge;
mod micro;
mod optimize;
mod tpc;

use clap::{Parser, Subcommand};

/// The same allocator as the `quarry` binary, so that every engine measured here runs
/// on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "quarry-bench", about = "Quarry benchmarks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// TPC-H: Quarry vs DataFusion, Ballista and DuckDB, with a report.
    Tpch(Box<tpc::TpcArgs>),
    /// TPC-DS: Quarry vs DataFusion, Ballista and DuckDB, with a report.
    Tpcds(Box<tpc::TpcArgs>),
    /// GROUP BY over a Parquet table: Quarry (embedded, via Flight SQL) vs DataFusion.
    Aggregate(micro::MicroArgs),
    /// CTAS into an Iceberg table, and a selective query with and without pruning.
    Tables(micro::MicroArgs),
    /// MERGE of 1% of a table's rows vs INSERT OVERWRITE of the whole table.
    Merge(micro::MicroArgs),
    /// Queries over a table of small files before and after OPTIMIZE.
    Optimize(micro::MicroArgs),
    /// A dashboard's queries over a gold table: reflections off, on, and DuckDB.
    Dashboard(dashboard::DashboardArgs),
    /// One engine of a TPC-H or TPC-DS run, driven through stdin and stdout.
    #[command(hide = true)]
    TpcEngine(tpc::worker::EngineArgs),
}

/// Planning and decoding deep plans recurses deeply, debug builds above all: the
/// runtime's threads get stacks of this size (Ballista's own binaries do the same).
const STACK_SIZE: usize = 32 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK_SIZE)
        .build()?
        .block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Tpch(args) => tpc::run(tpc::suite::Suite::Tpch, *args).await,
        Command::Tpcds(args) => tpc::run(tpc::suite::Suite::Tpcds, *args).await,
        Command::TpcEngine(args) => tpc::worker::serve(args).await,
        Command::Aggregate(args) => micro::aggregate(args).await,
        Command::Tables(args) => micro::tables(args).await,
        Command::Merge(args) => merge::run(args).await,
        Command::Optimize(args) => optimize::run(args).await,
        Command::Dashboard(args) => dashboard::run(args).await,
    }
}

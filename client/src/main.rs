//! The `quarry` command: shell, server and demo.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::Parser;
use quarry_client::cli::{Cli, ClusterArgs, Command, ServeArgs};
use quarry_client::config::CatalogSection;
use quarry_client::connection::Connection;
use quarry_client::embedded::{EmbeddedCluster, EmbeddedOptions};
use quarry_client::shell::Shell;
use quarry_client::split::script_statements;
use quarry_client::{demo, processes};
use quarry_postgres::DEFAULT_PG_PORT;

type Error = Box<dyn std::error::Error>;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.command.is_some() && !matches!(cli.command, Some(Command::Demo(_))));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("quarry: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quarry: {e}");
            ExitCode::FAILURE
        }
    };
    // Servers and poll loops are detached tasks: do not wait for them.
    runtime.shutdown_background();
    code
}

/// Logs go to standard error. The shell shows errors itself, so by default it logs
/// nothing else; `serve` logs at info. `QUARRY_LOG` (or `RUST_LOG`) overrides.
fn init_logging(server: bool) {
    let default = if server {
        "info,ballista_core=warn,ballista_scheduler=warn,ballista_executor=warn,datafusion=warn"
    } else {
        "off"
    };
    let filter = std::env::var("QUARRY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Scheduler(args)) => {
            processes::scheduler(args).await.map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Executor(args)) => {
            processes::executor(args).await.map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Demo(args)) => {
            demo::run(&args).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => shell(cli).await,
    }
}

fn embedded_options(cluster: &ClusterArgs) -> EmbeddedOptions {
    let mut options = EmbeddedOptions::local(&cluster.warehouse, usize::from(cluster.executors));
    options.slots = cluster.slots.unwrap_or(0);
    options.reflection_cache = cluster.reflection_cache;
    options.single_stage_max_bytes = cluster.single_stage_max_bytes;
    options.file_locations = cluster.file_locations.clone();
    if let Some(limit) = cluster.memory_limit {
        options.memory_limit = limit;
    }
    options.s3 = cluster.s3.options();
    options.catalog = cluster.catalog.location(CatalogSection::default());
    options
}

/// The Flight SQL URLs of `hosts`: comma-separated `host` or `host:port` (else `port`).
fn scheduler_urls(hosts: &str, port: u16) -> Vec<String> {
    hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| match host.rsplit_once(':') {
            Some((_, p)) if p.parse::<u16>().is_ok() && !host.ends_with(']') => {
                format!("http://{host}")
            }
            _ => format!("http://{host}:{port}"),
        })
        .collect()
}

async fn shell(cli: Cli) -> Result<ExitCode, Error> {
    let (cluster, urls) = match &cli.host {
        // `a,b:32011`: a cluster's schedulers; the leader accepts.
        Some(hosts) => (None, scheduler_urls(hosts, cli.port)),
        None => {
            let cluster = EmbeddedCluster::start(embedded_options(&cli.cluster)).await?;
            let url = cluster.flight_url();
            (Some(cluster), vec![url])
        }
    };
    let (conn, url) = Connection::connect_first(&urls, &cli.user, &cli.password).await?;
    let mut shell = Shell::new(conn, cli.format);

    let mut statements = Vec::new();
    for command in &cli.commands {
        statements.extend(script_statements(command));
    }
    if let Some(file) = &cli.file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        statements.extend(script_statements(&text));
    }
    let stdin = std::io::stdin();
    if statements.is_empty()
        && (cli.commands.is_empty() && cli.file.is_none())
        && !stdin.is_terminal()
    {
        let mut text = String::new();
        stdin.lock().read_to_string(&mut text)?;
        statements.extend(script_statements(&text));
    } else if statements.is_empty() && cli.commands.is_empty() && cli.file.is_none() {
        let banner = match &cluster {
            Some(c) => format!(
                "quarry {} on an embedded cluster ({} executors, warehouse {})",
                env!("CARGO_PKG_VERSION"),
                c.executors.len(),
                c.scheduler.warehouse
            ),
            None => format!("quarry {} connected to {url}", env!("CARGO_PKG_VERSION")),
        };
        shell.interactive(&banner).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let ok = shell.run_batch(&statements).await;
    drop(cluster);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> Result<ExitCode, Error> {
    let mut options = embedded_options(&args.cluster);
    options.bind_host = args.bind.clone();
    options.flight_port = args.flight_port;
    options.postgres = args.pg.options(DEFAULT_PG_PORT);
    let cluster = EmbeddedCluster::start(options).await?;
    let pg = match cluster.scheduler.door(quarry_postgres::NAME) {
        Some(addr) => format!(" and PostgreSQL on {addr}"),
        None => String::new(),
    };
    println!(
        "Quarry is serving Arrow Flight SQL on {}{pg} ({} executors, warehouse {}). Ctrl-C stops it.",
        cluster.scheduler.flight_addr,
        cluster.executors.len(),
        cluster.scheduler.warehouse
    );
    processes::wait_for_stop_signal().await;
    eprintln!("Stopping.");
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::scheduler_urls;

    #[test]
    fn hosts_name_schedulers_with_or_without_ports() {
        assert_eq!(
            scheduler_urls("a, b:1,[::1],[::1]:2", 32010),
            [
                "http://a:32010",
                "http://b:1",
                "http://[::1]:32010",
                "http://[::1]:2"
            ]
        );
    }
}

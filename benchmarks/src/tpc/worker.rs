//! An engine process of a TPC-H or TPC-DS run (`quarry-bench tpc-engine`): sets up one
//! engine over the suite's data, says it is ready, then runs the requests it reads on stdin
//! ([`super::protocol`]), writing each answer to an Arrow IPC file.
//!
//! - Quarry: an embedded cluster (scheduler and N executors) over an Iceberg warehouse,
//!   queried through its Flight SQL front door, one connection per client. With
//!   `--load`, the Parquet files are first loaded into Iceberg tables by CTAS.
//! - DataFusion: one `SessionContext` with its defaults over the Parquet files.
//! - Ballista: the standalone cluster exactly as `ballista::SessionContext::standalone()`
//!   builds it (Ballista's scheduler, one executor, Ballista's codec and defaults), from
//!   Ballista's own crates, with none of Quarry's code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::utils::default_config_producer;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::execution::SessionState;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::TryStreamExt;
use quarry_client::connection::Connection;
use quarry_client::embedded::{EmbeddedCluster, EmbeddedOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::protocol::{Job, Outcome, Ready, Request, Response};
use super::suite::{Suite, table_dir};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Quarry,
    Datafusion,
    Ballista,
}

#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    #[arg(long, value_enum)]
    pub engine: Kind,
    /// The suite whose tables to set up.
    #[arg(long, value_enum)]
    pub suite: Suite,
    /// The suite's Parquet files, a directory per table.
    #[arg(long)]
    pub data: PathBuf,
    /// Quarry: the warehouse holding the TPC-H Iceberg tables.
    #[arg(long)]
    pub warehouse: Option<PathBuf>,
    /// Quarry: executors in the embedded cluster.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,
    /// Quarry: create the Iceberg tables from the Parquet files where missing.
    #[arg(long)]
    pub load: bool,
}

/// Runs the engine process until stdin closes.
pub async fn serve(args: EngineArgs) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let (name, version) = match args.engine {
        Kind::Quarry => ("Quarry", env!("CARGO_PKG_VERSION")),
        Kind::Datafusion => ("DataFusion", datafusion::DATAFUSION_VERSION),
        Kind::Ballista => ("Ballista", ballista_core::BALLISTA_VERSION),
    };
    let engine = Engine::start(&args).await;
    let ready = Ready {
        engine: name.into(),
        version: version.into(),
        setup_seconds: started.elapsed().as_secs_f64(),
        error: engine.as_ref().err().map(|e| e.to_string()),
    };
    println!("{}", serde_json::to_string(&ready)?);
    let engine = Arc::new(engine.map_err(|e| e.to_string())?);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let request: Request = serde_json::from_str(&line)?;
        let response = run(&engine, request).await;
        println!("{}", serde_json::to_string(&response)?);
    }
    Ok(())
}

enum Engine {
    Local(SessionContext),
    Quarry(Box<EmbeddedCluster>),
}

/// One client's handle on the engine.
enum Session {
    Local(SessionContext),
    Flight(Connection),
}

impl Engine {
    async fn start(args: &EngineArgs) -> Result<Self, BoxError> {
        match args.engine {
            Kind::Datafusion => {
                let ctx = SessionContext::new();
                register_parquet(&ctx, args).await?;
                Ok(Self::Local(ctx))
            }
            Kind::Ballista => {
                let ctx = ballista_standalone().await?;
                register_parquet(&ctx, args).await?;
                Ok(Self::Local(ctx))
            }
            Kind::Quarry => {
                let warehouse = args.warehouse.clone().ok_or("Quarry needs --warehouse")?;
                let mut options = EmbeddedOptions::local(warehouse, args.executors);
                // The generated data is read where it was written.
                options.file_locations = vec!["landing/".into(), args.data.display().to_string()];
                let cluster = EmbeddedCluster::start(options).await?;
                if args.load {
                    let conn = Connection::connect(&cluster.flight_url(), "bench", "").await?;
                    for table in args.suite.tables() {
                        let sql = format!(
                            "CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM '{}'",
                            table_dir(&args.data, table)
                        );
                        Session::Flight(conn.clone()).query(&sql).await?;
                    }
                }
                Ok(Self::Quarry(Box::new(cluster)))
            }
        }
    }

    async fn session(&self) -> Result<Session, BoxError> {
        Ok(match self {
            Self::Local(ctx) => Session::Local(ctx.clone()),
            Self::Quarry(cluster) => {
                Session::Flight(Connection::connect(&cluster.flight_url(), "bench", "").await?)
            }
        })
    }
}

impl Session {
    /// Runs `sql` and returns its whole answer.
    async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), BoxError> {
        match self {
            Self::Local(ctx) => {
                let frame = ctx.sql(sql).await?;
                let schema = Arc::new(frame.schema().as_arrow().clone());
                Ok((schema, frame.collect().await?))
            }
            Self::Flight(conn) => {
                let prepared = conn.prepare(sql).await?;
                let (schema, stream) = conn.fetch(&prepared).await?;
                let batches = stream.try_collect().await;
                conn.close_later(prepared);
                Ok((schema, batches?))
            }
        }
    }
}

async fn register_parquet(ctx: &SessionContext, args: &EngineArgs) -> Result<(), BoxError> {
    for table in args.suite.tables() {
        let dir = table_dir(&args.data, table);
        ctx.register_parquet(*table, dir, ParquetReadOptions::default())
            .await?;
    }
    Ok(())
}

/// Ballista's standalone cluster and a client context on it, as
/// `ballista::SessionContext::standalone()` makes them.
async fn ballista_standalone() -> Result<SessionContext, BoxError> {
    let addr = ballista_scheduler::standalone::new_standalone_scheduler().await?;
    let url = format!("http://localhost:{}", addr.port());
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
    let parallelism = default_config_producer().ballista_standalone_parallelism();
    ballista_executor::new_standalone_executor(scheduler, parallelism, BallistaCodec::default())
        .await?;
    Ok(SessionContext::new_with_state(
        SessionState::new_ballista_state(url)?,
    ))
}

/// Runs each client's jobs in order, the clients at once.
async fn run(engine: &Arc<Engine>, request: Request) -> Response {
    let mut sessions = Vec::with_capacity(request.clients.len());
    for _ in &request.clients {
        sessions.push(engine.session().await.map_err(|e| e.to_string()));
    }
    let started = Instant::now();
    let tasks: Vec<_> = request
        .clients
        .into_iter()
        .zip(sessions)
        .map(|(jobs, session)| {
            tokio::spawn(async move {
                let mut outcomes = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    outcomes.push(match &session {
                        Ok(session) => run_job(session, job).await,
                        Err(e) => failed(0.0, e.clone()),
                    });
                }
                outcomes
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(
            task.await
                .unwrap_or_else(|e| vec![failed(0.0, format!("the client task failed: {e}"))]),
        );
    }
    Response {
        wall_seconds: started.elapsed().as_secs_f64(),
        clients,
    }
}

async fn run_job(session: &Session, job: &Job) -> Outcome {
    let started = Instant::now();
    let answer = session.query(&job.sql).await;
    let seconds = started.elapsed().as_secs_f64();
    let written = answer.and_then(|(schema, batches)| {
        write_answer(&job.out, schema, &batches)?;
        Ok(batches.iter().map(RecordBatch::num_rows).sum())
    });
    match written {
        Ok(rows) => Outcome {
            seconds,
            rows,
            error: None,
        },
        Err(e) => failed(seconds, e.to_string()),
    }
}

fn failed(seconds: f64, error: String) -> Outcome {
    Outcome {
        seconds,
        rows: 0,
        error: Some(error),
    }
}

fn write_answer(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<(), BoxError> {
    // The batches' own schema: planners and executors may disagree on nullability.
    let schema = batches.first().map_or(schema, RecordBatch::schema);
    let mut writer = FileWriter::try_new(std::fs::File::create(path)?, &schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(())
}

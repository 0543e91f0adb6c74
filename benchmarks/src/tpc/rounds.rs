//! The runs of a TPC-H or TPC-DS benchmark: serial rounds of every query on every engine,
//! interleaved query by query; the concurrency run (many clients at once on one
//! engine). Every answer is checked against the reference answer of its query: the
//! first one an engine gave, the reference engine going first in every round.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::compare::{Answer, compare};
use super::engine::{EngineProcess, EngineSpec};
use super::protocol::{Job, Outcome, Request, Response};
use super::report::Runs;
use super::suite::Suite;

/// An engine of the run: its process (restarted after a crash or a time-out) and what
/// is known about it.
pub struct Slot {
    pub spec: EngineSpec,
    pub version: String,
    pub setup_seconds: f64,
    pub peak_memory: Option<u64>,
    process: Option<EngineProcess>,
    limit: Duration,
}

impl Slot {
    pub async fn start(spec: EngineSpec, limit: Duration) -> Result<Self, String> {
        let process = EngineProcess::start(&spec, limit).await?;
        Ok(Self {
            version: process.ready.version.clone(),
            setup_seconds: process.ready.setup_seconds,
            spec,
            peak_memory: None,
            process: Some(process),
            limit,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Sends `request`, allowing `limit` per statement of the longest client.
    pub async fn run(&mut self, request: &Request) -> Result<Response, String> {
        let process = match self.process.as_mut() {
            Some(process) => process,
            None => {
                let process = EngineProcess::start(&self.spec, self.limit)
                    .await
                    .map_err(|e| format!("cannot restart the engine: {e}"))?;
                self.process.insert(process)
            }
        };
        let longest = request.clients.iter().map(Vec::len).max().unwrap_or(1) as u32;
        let result = process.run(request, self.limit * longest).await;
        self.note_peak();
        if result.is_err() {
            self.process = None;
        }
        result
    }

    async fn run_one(&mut self, job: &Job) -> Result<Outcome, String> {
        let request = Request {
            clients: vec![vec![job.clone()]],
        };
        let response = self.run(&request).await?;
        let outcome = response
            .clients
            .into_iter()
            .flatten()
            .next()
            .ok_or("the engine answered no statement")?;
        match outcome.error {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    pub fn note_peak(&mut self) {
        let now = self.process.as_ref().and_then(EngineProcess::peak_memory);
        self.peak_memory = self.peak_memory.max(now);
    }

    pub async fn stop(mut self) {
        self.note_peak();
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
    }
}

/// Per query, per engine.
pub type Results = BTreeMap<usize, BTreeMap<String, Runs>>;

pub struct Bench {
    pub suite: Suite,
    pub queries: Vec<usize>,
    pub sf: f64,
    /// Where engines write their answers.
    pub answers: PathBuf,
    references: BTreeMap<usize, (String, Answer)>,
}

impl Bench {
    pub fn new(suite: Suite, queries: Vec<usize>, sf: f64, answers: PathBuf) -> Self {
        Self {
            suite,
            queries,
            sf,
            answers,
            references: BTreeMap::new(),
        }
    }

    fn job(&self, engine: &str, tag: &str, query: usize) -> Job {
        Job {
            sql: self.suite.sql(query, self.sf),
            out: self
                .answers
                .join(format!("{}-{tag}q{query:02}.arrow", engine.to_lowercase())),
        }
    }

    /// Checks `engine`'s answer to `query`; the first answer to a query is the reference.
    fn check(&mut self, engine: &str, query: usize, job: &Job) -> Result<(), String> {
        let answer = Answer::read(&job.out)?;
        match self.references.get(&query) {
            None => {
                self.references.insert(query, (engine.to_string(), answer));
                Ok(())
            }
            Some((reference, expected)) => compare(expected, &answer)
                .map_err(|e| format!("the answer differs from {reference}'s: {e}")),
        }
    }

    /// `rounds` rounds of every query on every engine: the first cold, the rest warm.
    /// A query that fails on an engine is not run there again.
    pub async fn serial(&mut self, slots: &mut [Slot], rounds: usize) -> Results {
        let mut results = Results::new();
        for round in 0..rounds {
            for query in self.queries.clone() {
                for slot in slots.iter_mut() {
                    let name = slot.name().to_string();
                    let runs = results
                        .entry(query)
                        .or_default()
                        .entry(name.clone())
                        .or_default();
                    if runs.error.is_some() {
                        continue;
                    }
                    let job = self.job(&name, "", query);
                    match slot.run_one(&job).await {
                        Err(e) => {
                            eprintln!("  Q{query} {name}: failed: {e}");
                            runs.error = Some(e);
                        }
                        Ok(outcome) => {
                            eprintln!(
                                "  round {round} Q{query} {name}: {:.3} s, {} rows",
                                outcome.seconds, outcome.rows
                            );
                            match round {
                                0 => runs.cold = Some(outcome.seconds),
                                _ => runs.warm.push(outcome.seconds),
                            }
                            runs.rows = Some(outcome.rows);
                            if runs.mismatch.is_none() {
                                runs.mismatch = self.check(&name, query, &job).err();
                            }
                        }
                    }
                }
            }
        }
        results
            .values_mut()
            .flat_map(|engines| engines.values_mut())
            .for_each(Runs::summarize);
        results
    }

    /// `clients` clients at once, each running `queries` in its own order (a rotation). Returns the wall time and every failure or wrong answer.
    pub async fn concurrent(
        &mut self,
        slot: &mut Slot,
        clients: usize,
        queries: &[usize],
    ) -> (f64, Vec<String>) {
        let n = queries.len();
        let order: Vec<Vec<usize>> = (0..clients)
            .map(|c| {
                let offset = c * n / clients;
                (0..n).map(|i| queries[(i + offset) % n]).collect()
            })
            .collect();
        let request = Request {
            clients: order
                .iter()
                .enumerate()
                .map(|(c, queries)| {
                    queries
                        .iter()
                        .map(|&q| self.job(slot.name(), &format!("c{c}-"), q))
                        .collect()
                })
                .collect(),
        };
        let response = match slot.run(&request).await {
            Ok(response) => response,
            Err(e) => return (f64::NAN, vec![format!("the run failed: {e}")]),
        };
        let mut failures = Vec::new();
        let name = slot.name().to_string();
        for (c, outcomes) in response.clients.iter().enumerate() {
            for (i, outcome) in outcomes.iter().enumerate() {
                let query = order[c][i];
                let problem = match &outcome.error {
                    Some(e) => Some(e.clone()),
                    None => self.check(&name, query, &request.clients[c][i]).err(),
                };
                if let Some(problem) = problem {
                    failures.push(format!("client {c}, Q{query}: {problem}"));
                }
            }
        }
        (response.wall_seconds, failures)
    }
}

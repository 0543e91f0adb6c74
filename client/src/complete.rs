//! Tab completion at the prompt: schema, table and column names from the server's
//! metadata calls (`GetTables` with schemas), and SQL keywords.
//!
//! - `gold.<Tab>` completes the tables of schema `gold`; `sales.<Tab>` the columns of
//!   table `sales` (or `gold.sales.<Tab>`);
//! - a bare word completes schemas, tables, the columns of the tables the line names,
//!   and keywords.
//!
//! Names are fetched on the first completion and again after a statement has run (it
//! may have created or dropped tables).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::connection::Connection;

/// What the server's catalog holds, as far as completion needs it.
#[derive(Debug, Default, Clone)]
struct Names {
    schemas: Vec<String>,
    /// (schema, table, columns).
    tables: Vec<(String, String, Vec<String>)>,
}

/// The prompt's completer.
pub struct SqlCompleter {
    conn: Connection,
    names: Mutex<Option<Names>>,
    stale: Arc<AtomicBool>,
}

impl SqlCompleter {
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            names: Mutex::new(None),
            stale: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A flag to raise when the catalog may have changed.
    pub fn stale_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stale)
    }

    /// The names, fetched again when stale. Completion must not fail: without an answer
    /// from the server it offers keywords only.
    fn names(&self) -> Names {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if self.stale.swap(false, Ordering::SeqCst) || names.is_none() {
            *names = Some(self.fetch().unwrap_or_default());
        }
        names.clone().unwrap_or_default()
    }

    fn fetch(&self) -> Option<Names> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        // The prompt reads lines inside `block_in_place`, where blocking is allowed.
        let (schemas, tables) = runtime.block_on(async {
            let schemas = self.conn.schemas(None).await.ok()?;
            let tables = self.conn.columns(None, None).await.ok()?;
            Some((schemas, tables))
        })?;
        let tables = tables
            .into_iter()
            .map(|(t, columns)| {
                let columns = columns.fields().iter().map(|f| f.name().clone()).collect();
                (t.schema, t.name, columns)
            })
            .collect();
        Some(Names { schemas, tables })
    }
}

/// Where the word being completed starts.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// The candidates for `word` on `line`.
fn candidates(names: &Names, line: &str, word: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    if let Some((qualifier, prefix)) = word.rsplit_once('.') {
        for (schema, table, columns) in &names.tables {
            if qualifier == schema && table.starts_with(prefix) {
                found.push(format!("{schema}.{table}"));
            }
            let qualified = format!("{schema}.{table}");
            if qualifier == table || qualifier == qualified {
                for column in columns.iter().filter(|c| c.starts_with(prefix)) {
                    found.push(format!("{qualifier}.{column}"));
                }
            }
        }
    } else {
        let lower = word.to_lowercase();
        for schema in names.schemas.iter().filter(|s| s.starts_with(word)) {
            found.push(format!("{schema}."));
        }
        let mentioned = |schema: &str, table: &str| {
            line.contains(table) || line.contains(&format!("{schema}.{table}"))
        };
        for (schema, table, columns) in &names.tables {
            if table.starts_with(word) {
                found.push(table.clone());
            }
            if !word.is_empty() && mentioned(schema, table) {
                found.extend(columns.iter().filter(|c| c.starts_with(word)).cloned());
            }
        }
        if !word.is_empty() {
            let upper = word.chars().next().is_some_and(char::is_uppercase);
            for keyword in ALL_KEYWORDS
                .iter()
                .filter(|k| k.to_lowercase().starts_with(&lower))
            {
                found.push(match upper {
                    true => keyword.to_string(),
                    false => keyword.to_lowercase(),
                });
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

impl Completer for SqlCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = word_start(line, pos);
        let word = &line[start..pos];
        let pairs = candidates(&self.names(), line, word)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for SqlCompleter {
    type Hint = String;
}
impl Highlighter for SqlCompleter {}
impl Validator for SqlCompleter {}
impl Helper for SqlCompleter {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            schemas: vec!["bronze".into(), "gold".into()],
            tables: vec![
                (
                    "gold".into(),
                    "sales".into(),
                    vec!["id".into(), "region".into()],
                ),
                (
                    "gold".into(),
                    "stores".into(),
                    vec!["id".into(), "city".into()],
                ),
                ("bronze".into(), "raw".into(), vec!["line".into()]),
            ],
        }
    }

    #[test]
    fn completes_schemas_tables_columns_and_keywords() {
        let n = names();
        assert_eq!(word_start("SELECT * FROM gold.sa", 21), 14);
        assert_eq!(
            candidates(&n, "SELECT * FROM gold.s", "gold.s"),
            ["gold.sales", "gold.stores"]
        );
        assert_eq!(
            candidates(&n, "SELECT sales.r FROM gold.sales", "sales.r"),
            ["sales.region"]
        );
        assert_eq!(candidates(&n, "", "go"), ["gold."]);
        // Columns of the tables the line names, then keywords (`circle`).
        let line = "SELECT ci FROM gold.stores";
        assert_eq!(candidates(&n, line, "ci"), ["circle", "city"]);
        assert_eq!(
            candidates(&n, "SELECT ci FROM gold.sales", "ci"),
            ["circle"]
        );
        assert!(candidates(&n, "SEL", "SEL").contains(&"SELECT".to_string()));
        assert!(candidates(&n, "sel", "sel").contains(&"select".to_string()));
        assert!(candidates(&n, "SELECT * FROM r", "r").contains(&"raw".to_string()));
    }
}

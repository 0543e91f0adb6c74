//! The shell's catalog commands, answered with the server's Flight SQL metadata calls
//! (`GetDbSchemas`, `GetTables`), as psql answers them from its catalog:
//!
//! - `\dn [PATTERN]`: schemas;
//! - `\dt [PATTERN]`, `\d`: tables (`PATTERN` is `table`, `schema.table`, or `schema.`;
//!   `*` and `?` are wildcards, as in psql);
//! - `\d NAME`: the columns of the tables `NAME` matches, with their SQL types.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::connection::{ClientError, Connection};

/// A catalog command's result: a title and a table to print.
pub struct Listing {
    pub title: String,
    pub batch: RecordBatch,
}

/// A table of text columns.
fn text_table(
    title: String,
    columns: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<Listing, ClientError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema, arrays)?;
    Ok(Listing { title, batch })
}

/// A psql pattern (`*` any text, `?` one character) as a SQL `LIKE` pattern.
fn like(pattern: &str) -> Option<String> {
    if pattern.is_empty() || pattern == "*" {
        return None;
    }
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// `schema.table`, `table` or `schema.` as (schema pattern, table pattern).
fn split_name(pattern: Option<&str>) -> (Option<String>, Option<String>) {
    match pattern {
        None => (None, None),
        Some(p) => match p.split_once('.') {
            Some((schema, table)) => (like(schema), like(table)),
            None => (None, like(p)),
        },
    }
}

/// `\dn [PATTERN]`.
pub async fn schemas(conn: &Connection, pattern: Option<&str>) -> Result<Listing, ClientError> {
    let names = conn.schemas(pattern.and_then(like).as_deref()).await?;
    let rows = names.into_iter().map(|n| vec![n]).collect();
    text_table("List of schemas".into(), &["Name"], rows)
}

/// `\dt [PATTERN]`.
pub async fn tables(conn: &Connection, pattern: Option<&str>) -> Result<Listing, ClientError> {
    let (schema, table) = split_name(pattern);
    let found = conn.tables(schema.as_deref(), table.as_deref()).await?;
    let rows = found
        .into_iter()
        .map(|t| vec![t.schema, t.name, t.table_type.to_lowercase()])
        .collect();
    text_table("List of tables".into(), &["Schema", "Name", "Type"], rows)
}

/// `\d NAME`: one listing per matching table.
pub async fn columns(conn: &Connection, pattern: &str) -> Result<Vec<Listing>, ClientError> {
    let (schema, table) = split_name(Some(pattern));
    let found = conn.columns(schema.as_deref(), table.as_deref()).await?;
    if found.is_empty() {
        return Err(ClientError::server(format!(
            "did not find any table named \"{pattern}\""
        )));
    }
    found
        .into_iter()
        .map(|(table, columns)| {
            let rows = columns
                .fields()
                .iter()
                .map(|f| {
                    let sql_type = f
                        .metadata()
                        .get("ARROW:FLIGHT:SQL:TYPE_NAME")
                        .cloned()
                        .unwrap_or_else(|| f.data_type().to_string());
                    let nullable = if f.is_nullable() { "" } else { "not null" };
                    vec![
                        f.name().clone(),
                        sql_type.to_lowercase(),
                        nullable.to_string(),
                    ]
                })
                .collect();
            let title = format!("Table \"{}.{}\"", table.schema, table.name);
            text_table(title, &["Column", "Type", "Nullable"], rows)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_patterns_become_like_patterns() {
        assert_eq!(split_name(None), (None, None));
        assert_eq!(split_name(Some("sales")), (None, Some("sales".into())));
        assert_eq!(split_name(Some("gold.*")), (Some("gold".into()), None));
        assert_eq!(split_name(Some("gold.")), (Some("gold".into()), None));
        assert_eq!(
            split_name(Some("*.daily_?ales")),
            (None, Some("daily\\__ales".into()))
        );
        assert_eq!(like("100%"), Some("100\\%".into()));
    }
}

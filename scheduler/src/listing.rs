//! What a session's catalog holds, as front doors list it for clients' metadata calls:
//! catalogs, schemas, and tables with their type and columns, filtered by SQL `LIKE`
//! patterns (`%` any text, `_` one character, `\` escapes) before any table is loaded.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;

use crate::error::QuarryError;

/// Table type of base tables (Iceberg tables, external tables).
pub const TABLE: &str = "TABLE";
/// Table type of views (and of `information_schema`'s tables).
pub const VIEW: &str = "VIEW";
/// Table type of temporary tables.
pub const TEMPORARY: &str = "LOCAL TEMPORARY";
/// Every table type a listing can report.
pub const TABLE_TYPES: [&str; 3] = [TABLE, VIEW, TEMPORARY];

/// A table as listed.
#[derive(Debug, Clone)]
pub struct TableEntry {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// One of [`TABLE_TYPES`].
    pub table_type: &'static str,
    pub columns: SchemaRef,
}

/// Which tables to list.
#[derive(Debug, Clone, Default)]
pub struct TableFilter<'a> {
    /// The catalog's exact name; `None` for all, `Some("")` for tables without one.
    pub catalog: Option<&'a str>,
    /// A `LIKE` pattern on schema names.
    pub schema: Option<&'a str>,
    /// A `LIKE` pattern on table names.
    pub table: Option<&'a str>,
    /// Table types to keep; empty keeps all.
    pub table_types: &'a [String],
}

/// The session's catalogs, sorted.
pub fn catalogs(ctx: &SessionContext) -> Vec<String> {
    let mut names = ctx.catalog_names();
    names.sort();
    names
}

/// `(catalog, schema)` pairs of the catalogs `filter.catalog` names whose schema matches
/// `filter.schema`, sorted.
pub fn schemas(ctx: &SessionContext, filter: &TableFilter<'_>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for catalog in catalogs(ctx) {
        if filter.catalog.is_some_and(|c| c != catalog) {
            continue;
        }
        let Some(provider) = ctx.catalog(&catalog) else {
            continue;
        };
        for schema in provider.schema_names() {
            if filter.schema.is_none_or(|p| like(p, &schema)) {
                found.push((catalog.clone(), schema));
            }
        }
    }
    found.sort();
    found
}

/// The tables the filter selects, sorted by catalog, schema and name. A table that
/// cannot be loaded is left out (and logged) rather than failing the listing.
pub async fn tables(
    ctx: &SessionContext,
    filter: &TableFilter<'_>,
) -> Result<Vec<TableEntry>, QuarryError> {
    let mut found = Vec::new();
    for (catalog, schema) in schemas(ctx, filter) {
        let Some(provider) = ctx.catalog(&catalog).and_then(|c| c.schema(&schema)) else {
            continue;
        };
        let mut names = provider.table_names();
        names.sort();
        for name in names {
            if filter.table.is_some_and(|p| !like(p, &name)) {
                continue;
            }
            let table = match provider.table(&name).await {
                Ok(Some(table)) => table,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("cannot load {catalog}.{schema}.{name} to list it: {e}");
                    continue;
                }
            };
            let table_type = table_type(table.as_ref());
            if !filter.table_types.is_empty() && !filter.table_types.iter().any(|t| t == table_type)
            {
                continue;
            }
            found.push(TableEntry {
                catalog: catalog.clone(),
                schema: schema.clone(),
                name,
                table_type,
                columns: table.schema(),
            });
        }
    }
    Ok(found)
}

fn table_type(table: &dyn TableProvider) -> &'static str {
    match table.table_type() {
        TableType::Base => TABLE,
        TableType::View => VIEW,
        TableType::Temporary => TEMPORARY,
    }
}

/// Whether `text` matches the SQL `LIKE` pattern: `%` any text, `_` one character,
/// `\` makes the next character literal.
pub fn like(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches(&pattern, &text)
}

fn matches(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|skip| matches(rest, &text[skip..])),
        Some(('_', rest)) => !text.is_empty() && matches(rest, &text[1..]),
        Some(('\\', rest)) if !rest.is_empty() => {
            text.first() == rest.first() && matches(&rest[1..], &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && matches(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("gold", "gold"));
        assert!(!like("gold", "golden"));
        assert!(like("gol%", "golden"));
        assert!(like("%den", "golden"));
        assert!(like("g_ld", "gold"));
        assert!(!like("g_ld", "gld"));
        assert!(like("%_sales%", "daily_sales"));
        assert!(like("daily\\_sales", "daily_sales"));
        assert!(!like("daily\\_sales", "dailyxsales"));
        assert!(like("100\\%", "100%"));
        assert!(like("é_", "éa"));
    }
}

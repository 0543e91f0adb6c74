//! Views that last, over the lake's namespaces:
//!
//! ```sql
//! CREATE [OR REPLACE] VIEW [IF NOT EXISTS] gold.v [(a, b)] AS SELECT ...
//! DROP VIEW [IF EXISTS] gold.v, ...
//! ALTER VIEW gold.v RENAME TO w        -- or to other_namespace.w
//! ```
//!
//! stored in the catalog (`quarry_catalog::views`: Iceberg view metadata, SQLite or
//! etcd), so that every scheduler sees them at once and a restart keeps them. The view
//! keeps its query as its author wrote it (the text after `AS`) and the namespace its
//! unqualified names resolve in. [`Planner`] plans that query again whenever a
//! statement names the view, in a session of the same factory. `CREATE TEMPORARY VIEW`
//! is left to DataFusion, which refuses it.

use std::sync::Weak;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList};
use datafusion::common::{DataFusionError, plan_err};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use datafusion::sql::TableReference;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{self, ObjectName, ObjectType};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};
use iceberg::TableIdent;
use quarry_catalog::catalog_provider::ViewPlanner;
use quarry_catalog::store::TableStore;
use quarry_catalog::views::{StoredView, ViewDefinition};

use crate::alter::{parse_alter, syntax};
use crate::error::{ErrorKind, QuarryError};
use crate::names::{CATALOG, iceberg_ident, resolve_namespaces, to_plan};
use crate::params;
use crate::planned::CatalogChange;
use crate::session::{SessionExtensions, SessionFactory};
use crate::time_travel;
use crate::tokens::Tokenized;

/// How deep views may be nested in one another; deeper is taken for a view that
/// refers to itself through others.
const MAX_DEPTH: usize = 16;

tokio::task_local! {
    /// How many views the planning of this task is inside.
    static DEPTH: usize;
}

/// Plans stored views' queries, each in a new session of the factory's over the
/// shared catalogs (held weakly: the catalogs hold the planner).
#[derive(Clone)]
pub struct Planner {
    factory: SessionFactory,
    catalogs: Weak<dyn CatalogProviderList>,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("views::Planner").finish_non_exhaustive()
    }
}

impl Planner {
    /// A planner over the catalogs of `factory`.
    pub fn new(factory: &SessionFactory) -> Self {
        Self {
            catalogs: std::sync::Arc::downgrade(factory.catalogs()),
            factory: factory.over_catalogs(std::sync::Arc::new(MemoryCatalogProviderList::new())),
        }
    }

    async fn plan_view(&self, view: &StoredView) -> Result<LogicalPlan, QuarryError> {
        let catalogs = self
            .catalogs
            .upgrade()
            .ok_or_else(|| QuarryError::internal("the catalog was closed"))?;
        let ctx = self
            .factory
            .new_session_over(1, catalogs, &SessionExtensions::default());
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = view.default_namespace();
        let state = ctx.state();
        let statement = time_travel::parse_in(&state, view.sql()?)?;
        resolve_namespaces(&state, self.factory.store(), &statement).await?;
        let plan = to_plan(&state, statement).await?;
        let names: Vec<String> = view
            .schema()?
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        named(plan, &names).map_err(|e| match e.kind() {
            ErrorKind::InvalidStatement => e.map_message(|reason| {
                format!(
                    "its query no longer fits it: {reason}; replace it (CREATE OR REPLACE VIEW)"
                )
            }),
            _ => e,
        })
    }
}

#[async_trait]
impl ViewPlanner for Planner {
    async fn plan(&self, view: &StoredView) -> datafusion::common::Result<LogicalPlan> {
        let depth = DEPTH.try_with(|d| *d).unwrap_or(0);
        if depth >= MAX_DEPTH {
            return plan_err!(
                "views nest more than {MAX_DEPTH} deep at {}: does a view refer to itself?",
                view.ident
            );
        }
        DEPTH
            .scope(depth + 1, self.plan_view(view))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// `plan` with its columns renamed to `names`, which must be as many.
fn named(plan: LogicalPlan, names: &[String]) -> Result<LogicalPlan, QuarryError> {
    let columns = plan.schema().columns();
    if columns.len() != names.len() {
        return Err(QuarryError::plan(format!(
            "the query has {} columns and the view {}",
            columns.len(),
            names.len()
        )));
    }
    if columns.iter().zip(names).all(|(c, n)| &c.name == n) {
        return Ok(plan);
    }
    let renamed = columns
        .into_iter()
        .zip(names)
        .map(|(c, n)| Expr::Column(c).alias(n));
    Ok(LogicalPlanBuilder::from(plan).project(renamed)?.build()?)
}

/// `ALTER VIEW v RENAME TO w`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rename {
    pub from: ObjectName,
    pub to: ObjectName,
}

/// Parses `sql` if it is `ALTER VIEW .. RENAME TO ..`, in the SQL dialect `dialect`.
pub fn parse_rename(sql: &Tokenized) -> Result<Option<Rename>, QuarryError> {
    parse_alter(sql, Keyword::VIEW, "ALTER VIEW", |p, from| {
        if !p.parse_keyword(Keyword::RENAME) {
            return Ok(None);
        }
        if !p.parse_keyword(Keyword::TO) {
            return Err(QuarryError::syntax(format!(
                "expected TO after ALTER VIEW .. RENAME, found {}",
                p.peek_token_ref().token
            )));
        }
        let to = p.parse_object_name(false).map_err(syntax)?;
        Ok(Some(Rename { from, to }))
    })
}

/// Plans a rename: `to` without a namespace stays in the view's.
pub async fn plan_rename(
    ctx: &SessionContext,
    store: &TableStore,
    rename: Rename,
) -> Result<CatalogChange, QuarryError> {
    let from = iceberg_ident(ctx, &reference(ctx, rename.from)?)?;
    let to = match reference(ctx, rename.to)? {
        TableReference::Bare { table } => {
            TableIdent::new(from.namespace().clone(), table.to_string())
        }
        to => iceberg_ident(ctx, &to)?,
    };
    if !store.view_exists(&from).await? {
        return Err(QuarryError::no_table(format!("view '{from}' not found")));
    }
    Ok(CatalogChange::RenameView { from, to })
}

fn reference(ctx: &SessionContext, name: ObjectName) -> Result<TableReference, QuarryError> {
    let normalize = ctx
        .state()
        .config_options()
        .sql_parser
        .enable_ident_normalization;
    Ok(object_name_to_table_reference(name, normalize)?)
}

/// Plans `statement` if it is a `CREATE VIEW` or `DROP VIEW` of stored views; `sql` is
/// its text.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    sql: &str,
    statement: &DFStatement,
) -> Result<Option<CatalogChange>, QuarryError> {
    let DFStatement::Statement(statement) = statement else {
        return Ok(None);
    };
    match statement.as_ref() {
        ast::Statement::CreateView(create) if !create.temporary => {
            plan_create(ctx, store, sql, create).await.map(Some)
        }
        ast::Statement::Drop {
            object_type: ObjectType::View,
            if_exists,
            names,
            ..
        } => plan_drop(ctx, store, names, *if_exists).await,
        _ => Ok(None),
    }
}

async fn plan_create(
    ctx: &SessionContext,
    store: &TableStore,
    sql: &str,
    create: &ast::CreateView,
) -> Result<CatalogChange, QuarryError> {
    if create.materialized {
        return Err(QuarryError::unsupported(
            "Quarry has no materialized views: a reflection (ALTER TABLE t CREATE \
             AGGREGATE REFLECTION ..) materializes a table's rows and answers queries from them",
        ));
    }
    let state = ctx.state();
    let ident = iceberg_ident(ctx, &reference(ctx, create.name.clone())?)?;
    let query = DFStatement::Statement(Box::new(ast::Statement::Query(create.query.clone())));
    let options = state.config_options().catalog.clone();
    for named in state.resolve_table_references(&query)? {
        let named = named.resolve(&options.default_catalog, &options.default_schema);
        if named.catalog.as_ref() == CATALOG
            && *named.schema == ident.namespace().join(".")
            && named.table.as_ref() == ident.name()
        {
            return Err(QuarryError::plan(format!(
                "view '{ident}' cannot read itself"
            )));
        }
    }
    resolve_namespaces(&state, store, &query).await?;
    let plan = to_plan(&state, query).await?;
    if !params::parameter_schema([&plan])?.fields().is_empty() {
        return Err(QuarryError::plan("a view cannot have parameters ($1, ?)"));
    }
    let plan = match create.columns.is_empty() {
        true => plan,
        false => {
            let names: Vec<String> = create
                .columns
                .iter()
                .map(|c| c.name.value.clone())
                .collect();
            named(plan, &names)
                .map_err(|e| QuarryError::plan(format!("CREATE VIEW {ident} (columns): {e}")))?
        }
    };
    if create.if_not_exists && !create.or_replace && store.view_exists(&ident).await? {
        return Ok(CatalogChange::None);
    }
    let tokens = Tokenized::new(sql, state.config_options().sql_parser.dialect.as_ref());
    let sql = match tokens
        .ok()
        .and_then(|tokens| query_text(sql, tokens.tokens()))
    {
        Some(text) => text.to_string(),
        None => create.query.to_string(),
    };
    Ok(CatalogChange::CreateView {
        ident,
        definition: Box::new(ViewDefinition {
            sql,
            default_namespace: options.default_schema.clone(),
            schema: std::sync::Arc::clone(plan.schema().inner()),
        }),
        replace: create.or_replace,
    })
}

/// `DROP VIEW` of stored views; `None` if it names a view of DataFusion's (one a
/// program registered in memory).
async fn plan_drop(
    ctx: &SessionContext,
    store: &TableStore,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<Option<CatalogChange>, QuarryError> {
    let mut views = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        let reference = reference(ctx, name.clone())?;
        let Ok(ident) = iceberg_ident(ctx, &reference) else {
            return Ok(None);
        };
        if store.view_exists(&ident).await? {
            views.push(ident);
        } else if ctx.table_exist(reference)? {
            return Ok(None);
        } else {
            missing.push(ident);
        }
    }
    if let Some(missing) = missing.first()
        && !if_exists
    {
        return Err(QuarryError::no_table(format!("view '{missing}' not found")));
    }
    Ok(Some(CatalogChange::DropViews { views }))
}

/// The query of `CREATE VIEW .. AS <query>` as its author wrote it: the text after the
/// first `AS` outside parentheses, without a closing `;`.
fn query_text<'a>(sql: &'a str, tokens: &[TokenWithSpan]) -> Option<&'a str> {
    let mut view = false;
    let mut depth = 0i32;
    for token in tokens {
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w) if w.keyword == Keyword::VIEW => view = true,
            Token::Word(w) if view && depth == 0 && w.keyword == Keyword::AS => {
                let rest = &sql[byte_offset(sql, token.span.end)?..];
                return Some(rest.trim().trim_end_matches(';').trim_end());
            }
            _ => {}
        }
    }
    None
}

/// Where `at` (line and column, from 1, in characters) is in `text`, in bytes.
fn byte_offset(text: &str, at: Location) -> Option<usize> {
    let line_start = match at.line {
        0 => return None,
        1 => 0,
        n => {
            text.match_indices('\n')
                .nth(usize::try_from(n).ok()? - 2)?
                .0
                + 1
        }
    };
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let line = &text[line_start..];
    match line.char_indices().nth(column) {
        Some((i, _)) => Some(line_start + i),
        None => Some(text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_kept_as_written() {
        let text = |sql| query_text(sql, Tokenized::generic(sql).tokens());
        assert_eq!(
            text("CREATE VIEW v AS SELECT a AS b FROM t;"),
            Some("SELECT a AS b FROM t")
        );
        assert_eq!(
            text("create or replace view gold.v (x, y)\n  as\n  select 1, 'é' as y -- note\n"),
            Some("select 1, 'é' as y -- note")
        );
        assert_eq!(
            text("CREATE VIEW v AS SELECT * FROM t FOR VERSION AS OF 12"),
            Some("SELECT * FROM t FOR VERSION AS OF 12")
        );
        assert_eq!(text("SELECT 1"), None);
    }

    #[test]
    fn renames_are_read() {
        let rename = parse_rename(&Tokenized::generic("ALTER VIEW gold.v RENAME TO w;"))
            .unwrap()
            .unwrap();
        assert_eq!(rename.from.to_string(), "gold.v");
        assert_eq!(rename.to.to_string(), "w");
        assert!(
            parse_rename(&Tokenized::generic("ALTER VIEW v AS SELECT 1"))
                .unwrap()
                .is_none()
        );
        assert!(parse_rename(&Tokenized::generic("ALTER VIEW v RENAME w")).is_err());
    }
}

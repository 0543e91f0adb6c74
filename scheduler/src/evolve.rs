//! `ALTER TABLE` statements that evolve a table's schema, partition spec or properties,
//! and that rename it:
//!
//! ```sql
//! ALTER TABLE t ADD [COLUMN] [IF NOT EXISTS] c BIGINT
//! ALTER TABLE t DROP [COLUMN] [IF EXISTS] c
//! ALTER TABLE t RENAME COLUMN a TO b
//! ALTER TABLE t ALTER [COLUMN] c [SET DATA] TYPE BIGINT     -- or DROP NOT NULL
//! ALTER TABLE t CHANGE [COLUMN] a b BIGINT                  -- rename and widen
//! ALTER TABLE t RENAME TO ns.u
//! ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', ...)
//! ALTER TABLE t UNSET TBLPROPERTIES [IF EXISTS] ('k', ...)
//! ALTER TABLE t ADD PARTITION FIELD day(ts) [AS name]
//! ALTER TABLE t DROP PARTITION FIELD ts_day                  -- or day(ts)
//! ```
//!
//! DataFusion's parser reads all but the last three, which [`parse`] reads first.
//! Planning resolves names and types; `quarry_catalog::table::alter` checks the changes
//! against the table when they commit.

use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::planner::{IdentNormalizer, object_name_to_table_reference};
use datafusion::sql::sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnDef, ColumnOption, DataType,
    Expr as SqlExpr, Ident, ObjectName, RenameTableNameKind, SqlOption, Statement as SqlStatement,
    Value,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use iceberg::spec::PrimitiveType;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::alter::TableChange;
use quarry_catalog::table::partition::parse_partition_by;
use quarry_catalog::table::types::iceberg_type;

use crate::alter::{parse_alter_table, parse_word, syntax};
use crate::error::QuarryError;
use crate::names;
use crate::planned::CatalogChange;
use crate::tokens::Tokenized;
use crate::views;

/// An `ALTER TABLE` that DataFusion's parser does not read, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub table: ObjectName,
    pub change: Change,
}

/// What a statement [`parse`] reads changes, before names are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    AddPartitionField { field: SqlExpr, name: Option<Ident> },
    DropPartitionField(SqlExpr),
    UnsetProperties { keys: Vec<String>, if_exists: bool },
}

/// Reads `sql` if it is `ADD PARTITION FIELD`, `DROP PARTITION FIELD` or `UNSET
/// TBLPROPERTIES`.
pub fn parse(sql: &Tokenized) -> Result<Option<Parsed>, QuarryError> {
    parse_alter_table(sql, "ALTER TABLE", |p, table| {
        let change = if p.parse_keywords(&[Keyword::ADD, Keyword::PARTITION]) {
            expect_field(p)?;
            let field = p.parse_expr().map_err(syntax)?;
            let name = match p.parse_keyword(Keyword::AS) {
                true => Some(p.parse_identifier().map_err(syntax)?),
                false => None,
            };
            Change::AddPartitionField { field, name }
        } else if p.parse_keywords(&[Keyword::DROP, Keyword::PARTITION]) {
            expect_field(p)?;
            Change::DropPartitionField(p.parse_expr().map_err(syntax)?)
        } else if p.parse_keywords(&[Keyword::UNSET, Keyword::TBLPROPERTIES]) {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            p.expect_token(&Token::LParen).map_err(syntax)?;
            let keys = p
                .parse_comma_separated(|p| p.parse_expr())
                .map_err(syntax)?
                .iter()
                .map(property_key)
                .collect::<Result<_, _>>()?;
            p.expect_token(&Token::RParen).map_err(syntax)?;
            Change::UnsetProperties { keys, if_exists }
        } else {
            return Ok(None);
        };
        Ok(Some(Parsed { table, change }))
    })
}

/// `FIELD` after `ADD PARTITION` or `DROP PARTITION` (Hive's partitions are not Iceberg's).
fn expect_field(p: &mut Parser) -> Result<(), QuarryError> {
    match parse_word(p, "field") {
        true => Ok(()),
        false => Err(QuarryError::syntax(format!(
            "expected FIELD after PARTITION (ADD PARTITION FIELD day(ts)), found {}",
            p.peek_token_ref().token
        ))),
    }
}

/// A table property's name: a string or an identifier.
fn property_key(expr: &SqlExpr) -> Result<String, QuarryError> {
    match expr {
        SqlExpr::Value(v) => v.value.clone().into_string(),
        SqlExpr::Identifier(ident) => Some(ident.value.clone()),
        SqlExpr::CompoundIdentifier(parts) => Some(
            parts
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join("."),
        ),
        _ => None,
    }
    .ok_or_else(|| QuarryError::syntax(format!("expected a table property's name, found {expr}")))
}

/// Plans a statement [`parse`] read.
pub async fn plan_parsed(
    ctx: &SessionContext,
    store: &TableStore,
    parsed: Parsed,
) -> Result<CatalogChange, QuarryError> {
    let Some(table) = load(ctx, store, &parsed.table, false).await? else {
        return Ok(CatalogChange::None);
    };
    let normalizer = normalizer(ctx);
    let change = match parsed.change {
        Change::AddPartitionField { field, name } => {
            let mut fields = parse_partition_by(&field)?;
            if fields.len() != 1 {
                return Err(QuarryError::plan(format!(
                    "ADD PARTITION FIELD takes one field, not {field}"
                )));
            }
            let mut field = fields.remove(0);
            field.column = normalizer.normalize(Ident::new(field.column));
            TableChange::AddPartitionField {
                field,
                name: name.map(|n| normalizer.normalize(n)),
            }
        }
        Change::DropPartitionField(expr) => {
            let name = match &expr {
                SqlExpr::Identifier(ident) => normalizer.normalize(ident.clone()),
                expr => {
                    let mut fields = parse_partition_by(expr)?;
                    match fields.len() {
                        1 => {
                            let mut field = fields.remove(0);
                            field.column = normalizer.normalize(Ident::new(field.column));
                            field.field_name()
                        }
                        _ => {
                            return Err(QuarryError::plan(format!(
                                "DROP PARTITION FIELD takes one field, not {expr}"
                            )));
                        }
                    }
                }
            };
            TableChange::DropPartitionField { name }
        }
        Change::UnsetProperties { keys, if_exists } => {
            let missing: Vec<&String> = keys
                .iter()
                .filter(|k| !table.metadata().properties().contains_key(*k))
                .collect();
            if !if_exists && let Some(key) = missing.first() {
                return Err(QuarryError::not_found(format!(
                    "table {} has no property '{key}' (UNSET TBLPROPERTIES IF EXISTS ignores it)",
                    table.identifier()
                )));
            }
            TableChange::UnsetProperties(keys)
        }
    };
    Ok(CatalogChange::AlterTable {
        table: Box::new(table),
        changes: vec![change],
    })
}

/// Plans an `ALTER TABLE` that DataFusion's parser read.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    alter: &AlterTable,
) -> Result<CatalogChange, QuarryError> {
    if let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice()
        && is_view(ctx, store, &alter.name).await?
    {
        // PostgreSQL renames a view with ALTER TABLE too, and dbt does so.
        let (RenameTableNameKind::To(to) | RenameTableNameKind::As(to)) = table_name;
        let rename = views::Rename {
            from: alter.name.clone(),
            to: to.clone(),
        };
        return views::plan_rename(ctx, store, rename).await;
    }
    let Some(table) = load(ctx, store, &alter.name, alter.if_exists).await? else {
        return Ok(CatalogChange::None);
    };
    if let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice() {
        let (RenameTableNameKind::To(to) | RenameTableNameKind::As(to)) = table_name;
        let mut to = object_name_to_table_reference(to.clone(), normalizes(ctx))?;
        if to.schema().is_none() {
            // `RENAME TO u` keeps the table in its schema.
            let schema = table.identifier().namespace().join(".");
            to = datafusion::sql::TableReference::partial(schema, to.table());
        }
        let to = names::iceberg_ident(ctx, &to)?;
        return Ok(CatalogChange::RenameTable {
            from: table.identifier().clone(),
            to,
        });
    }
    let normalizer = normalizer(ctx);
    let name = |ident: &Ident| normalizer.normalize(ident.clone());
    let mut changes = Vec::new();
    for operation in &alter.operations {
        use AlterTableOperation as Op;
        match operation {
            Op::AddColumn {
                if_not_exists,
                column_def,
                column_position: None,
                ..
            } => {
                let (ty, nullable) = column_type(ctx, column_def).await?;
                if !nullable {
                    return Err(QuarryError::plan(format!(
                        "column '{}' cannot be added as NOT NULL: the table's rows have no value \
                         for it",
                        column_def.name
                    )));
                }
                changes.push(TableChange::AddColumn {
                    name: name(&column_def.name),
                    ty,
                    if_not_exists: *if_not_exists,
                });
            }
            Op::DropColumn {
                column_names,
                if_exists,
                ..
            } => changes.extend(column_names.iter().map(|c| TableChange::DropColumn {
                name: name(c),
                if_exists: *if_exists,
            })),
            Op::RenameColumn {
                old_column_name,
                new_column_name,
            } => changes.push(TableChange::RenameColumn {
                from: name(old_column_name),
                to: name(new_column_name),
            }),
            Op::AlterColumn {
                column_name,
                op:
                    AlterColumnOperation::SetDataType {
                        data_type,
                        using: None,
                        ..
                    },
            } => changes.push(set_type(ctx, name(column_name), data_type).await?),
            Op::AlterColumn {
                column_name,
                op: AlterColumnOperation::DropNotNull,
            } => changes.push(TableChange::DropNotNull {
                name: name(column_name),
            }),
            Op::ChangeColumn {
                old_name,
                new_name,
                data_type,
                options,
                column_position: None,
            } if options.is_empty() => {
                changes.push(set_type(ctx, name(old_name), data_type).await?);
                changes.push(TableChange::RenameColumn {
                    from: name(old_name),
                    to: name(new_name),
                });
            }
            Op::SetTblProperties { table_properties } => {
                let pairs = table_properties
                    .iter()
                    .map(property)
                    .collect::<Result<_, _>>()?;
                changes.push(TableChange::SetProperties(pairs));
            }
            Op::RenameTable { .. } => {
                return Err(QuarryError::plan(
                    "RENAME TO cannot be combined with other changes in one ALTER TABLE",
                ));
            }
            other => {
                return Err(QuarryError::unsupported(format!(
                    "ALTER TABLE cannot {other} on an Iceberg table; it can ADD, DROP, RENAME \
                     and ALTER COLUMN (TYPE, DROP NOT NULL), RENAME TO, SET and UNSET \
                     TBLPROPERTIES, ADD and DROP PARTITION FIELD"
                )));
            }
        }
    }
    Ok(CatalogChange::AlterTable {
        table: Box::new(table),
        changes,
    })
}

/// The table an `ALTER TABLE` names; `None` if it does not exist and `if_exists`.
async fn load(
    ctx: &SessionContext,
    store: &TableStore,
    name: &ObjectName,
    if_exists: bool,
) -> Result<Option<iceberg::table::Table>, QuarryError> {
    let reference = object_name_to_table_reference(name.clone(), normalizes(ctx))?;
    let ident = names::iceberg_ident(ctx, &reference)?;
    if let Some(table) = store.load(&ident).await? {
        return Ok(Some(table));
    }
    if store.view_exists(&ident).await? {
        return Err(QuarryError::plan(format!(
            "'{ident}' is a view: ALTER VIEW renames it, CREATE OR REPLACE VIEW changes it"
        )));
    }
    match if_exists {
        true => Ok(None),
        false => Err(QuarryError::no_table(format!("table '{ident}' not found"))),
    }
}

/// Whether `name` is a view.
async fn is_view(
    ctx: &SessionContext,
    store: &TableStore,
    name: &ObjectName,
) -> Result<bool, QuarryError> {
    let reference = object_name_to_table_reference(name.clone(), normalizes(ctx))?;
    Ok(store
        .view_exists(&names::iceberg_ident(ctx, &reference)?)
        .await?)
}

fn normalizes(ctx: &SessionContext) -> bool {
    let state = ctx.state();
    state
        .config()
        .options()
        .sql_parser
        .enable_ident_normalization
}

fn normalizer(ctx: &SessionContext) -> IdentNormalizer {
    IdentNormalizer::new(normalizes(ctx))
}

async fn set_type(
    ctx: &SessionContext,
    name: String,
    data_type: &DataType,
) -> Result<TableChange, QuarryError> {
    let column = ColumnDef {
        name: Ident::new(&name),
        data_type: data_type.clone(),
        options: Vec::new(),
    };
    let (ty, _) = column_type(ctx, &column).await?;
    Ok(TableChange::SetType { name, ty })
}

/// The Iceberg type of a column definition, and whether it may hold NULL; typed as
/// `CREATE TABLE` types its columns.
async fn column_type(
    ctx: &SessionContext,
    column: &ColumnDef,
) -> Result<(PrimitiveType, bool), QuarryError> {
    if let Some(option) = column
        .options
        .iter()
        .find(|o| !matches!(o.option, ColumnOption::Null | ColumnOption::NotNull))
    {
        return Err(QuarryError::plan(format!(
            "a column added to an Iceberg table takes a type and NULL or NOT NULL, not {option}"
        )));
    }
    let create = CreateTableBuilder::new(ObjectName::from(vec![Ident::new("quarry_column")]))
        .columns(vec![column.clone()])
        .build();
    let plan = ctx
        .state()
        .statement_to_plan(DFStatement::Statement(Box::new(SqlStatement::CreateTable(
            create,
        ))))
        .await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(table)) = plan else {
        return Err(QuarryError::internal(
            "a column definition did not plan as a table",
        ));
    };
    let schema = table.input.schema();
    let field = schema.field(0);
    let ty = iceberg_type(field.name(), field.data_type())?;
    Ok((ty, field.is_nullable()))
}

/// `key = 'value'` of `SET TBLPROPERTIES`.
fn property(option: &SqlOption) -> Result<(String, String), QuarryError> {
    let SqlOption::KeyValue { key, value } = option else {
        return Err(QuarryError::syntax(format!(
            "expected 'key' = 'value' in TBLPROPERTIES, found {option}"
        )));
    };
    let value = match value {
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(n.clone()),
            Value::Boolean(b) => Some(b.to_string()),
            other => other.clone().into_string(),
        },
        _ => None,
    };
    match value {
        Some(value) => Ok((key.value.clone(), value)),
        None => Err(QuarryError::syntax(format!(
            "table property '{}' takes a string, a number or a boolean",
            key.value
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Option<Change> {
        parse(&Tokenized::generic(sql)).unwrap().map(|p| p.change)
    }

    #[test]
    fn partition_fields_and_unset_properties_parse() {
        let Some(Change::AddPartitionField { field, name }) =
            parsed("ALTER TABLE silver.t ADD PARTITION FIELD day(ts) AS d;")
        else {
            panic!("an ADD PARTITION FIELD")
        };
        assert_eq!(field.to_string(), "day(ts)");
        assert_eq!(name.unwrap().value, "d");
        assert_eq!(
            parsed("alter table t drop partition field ts_day"),
            Some(Change::DropPartitionField(SqlExpr::Identifier(Ident::new(
                "ts_day"
            ))))
        );
        assert_eq!(
            parsed("ALTER TABLE t UNSET TBLPROPERTIES IF EXISTS ('a.b', c)"),
            Some(Change::UnsetProperties {
                keys: vec!["a.b".into(), "c".into()],
                if_exists: true
            })
        );
        assert_eq!(parsed("ALTER TABLE t ADD COLUMN c INT"), None);
        assert_eq!(parsed("ALTER TABLE t DROP COLUMN c"), None);
        let err = parse(&Tokenized::generic("ALTER TABLE t ADD PARTITION (p = 1)")).unwrap_err();
        assert!(err.to_string().contains("expected FIELD"), "{err}");
    }
}

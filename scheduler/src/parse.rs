//! Parsing a statement, once. Its text is tokenized once ([`Tokenized`]); Quarry's own
//! statements are read from those tokens, picked by their first keyword (`ALTER`,
//! `VACUUM`, `COPY`, `OPTIMIZE`); everything else is read by DataFusion's parser, with
//! time-travel clauses ([`time_travel::parse`]).
//!
//! A front door parses here, may change the syntax tree (the PostgreSQL door's
//! spellings, its typed parameters), and hands the [`Parsed`] statement to the query
//! service, which plans it without reading the text again.

use std::sync::Arc;

use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::keywords::Keyword;

use crate::copy_into::{self, CopyInto};
use crate::error::QuarryError;
use crate::evolve;
use crate::optimize::{self, Optimize};
use crate::reflections::parse::{self as reflection, ReflectionStatement};
use crate::rollback::{self, Rollback};
use crate::time_travel;
use crate::tokens::Tokenized;
use crate::vacuum::{self, Vacuum};
use crate::views::{self, Rename};

/// A statement, parsed, with the text it was read from.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The text as the client sent it: what logs show, and where a view's definition
    /// is kept from.
    pub text: Arc<str>,
    pub ast: Ast,
}

/// The syntax tree of a statement.
#[derive(Debug, Clone)]
pub enum Ast {
    /// `ALTER TABLE t CREATE | DROP | REFRESH REFLECTION ...`.
    Reflection(ReflectionStatement),
    /// `ALTER TABLE t ROLLBACK TO ...`.
    Rollback(Rollback),
    /// `ALTER TABLE t ADD | DROP PARTITION FIELD ...`, `UNSET TBLPROPERTIES`.
    AlterTable(evolve::Parsed),
    /// `ALTER VIEW v RENAME TO w`.
    RenameView(Rename),
    /// `VACUUM TABLE`.
    Vacuum(Vacuum),
    /// `COPY INTO`.
    CopyInto(CopyInto),
    /// `OPTIMIZE TABLE`.
    Optimize(Optimize),
    /// What DataFusion's parser reads.
    Sql(DFStatement),
}

impl Parsed {
    /// The DataFusion statement, if the statement is one.
    pub fn sql_mut(&mut self) -> Option<&mut DFStatement> {
        match &mut self.ast {
            Ast::Sql(statement) => Some(statement),
            _ => None,
        }
    }
}

/// Parses one statement in the session's SQL dialect.
pub fn parse(state: &SessionState, sql: &str) -> Result<Parsed, QuarryError> {
    let options = &state.config_options().sql_parser;
    let tokens = Tokenized::new(sql, options.dialect.as_ref())?;
    let ours = match tokens.first_keyword() {
        Some(Keyword::ALTER) => alter(&tokens)?,
        Some(Keyword::VACUUM) => vacuum::parse(&tokens)?.map(Ast::Vacuum),
        Some(Keyword::COPY) => copy_into::parse(&tokens)?.map(Ast::CopyInto),
        Some(Keyword::OPTIMIZE) => optimize::parse(&tokens)?.map(Ast::Optimize),
        _ => None,
    };
    let ast = match ours {
        Some(ast) => ast,
        None => Ast::Sql(time_travel::parse(tokens, options.recursion_limit)?),
    };
    Ok(Parsed {
        text: sql.into(),
        ast,
    })
}

/// Quarry's own `ALTER` statements; `None` for those DataFusion's parser reads.
fn alter(tokens: &Tokenized) -> Result<Option<Ast>, QuarryError> {
    if let Some(statement) = reflection::parse(tokens)? {
        return Ok(Some(Ast::Reflection(statement)));
    }
    if let Some(statement) = rollback::parse(tokens)? {
        return Ok(Some(Ast::Rollback(statement)));
    }
    if let Some(statement) = evolve::parse(tokens)? {
        return Ok(Some(Ast::AlterTable(statement)));
    }
    Ok(views::parse_rename(tokens)?.map(Ast::RenameView))
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    fn ast(sql: &str) -> Ast {
        parse(&SessionContext::new().state(), sql).unwrap().ast
    }

    #[test]
    fn each_statement_is_read_by_its_reader() {
        assert!(matches!(
            ast("ALTER TABLE t CREATE RAW REFLECTION r USING DISPLAY (a)"),
            Ast::Reflection(_)
        ));
        assert!(matches!(
            ast("alter table t rollback to snapshot 1"),
            Ast::Rollback(_)
        ));
        assert!(matches!(
            ast("ALTER TABLE t ADD PARTITION FIELD a"),
            Ast::AlterTable(_)
        ));
        assert!(matches!(
            ast("ALTER VIEW v RENAME TO w"),
            Ast::RenameView(_)
        ));
        assert!(matches!(
            ast("/* job 7 */ VACUUM TABLE t EXPIRE SNAPSHOTS"),
            Ast::Vacuum(_)
        ));
        assert!(matches!(
            ast("COPY INTO t FROM 'landing/' FILE_FORMAT 'parquet'"),
            Ast::CopyInto(_)
        ));
        assert!(matches!(ast("OPTIMIZE TABLE t"), Ast::Optimize(_)));
        assert!(matches!(ast("ALTER TABLE t ADD COLUMN b INT"), Ast::Sql(_)));
        assert!(matches!(
            ast("SELECT * FROM t FOR VERSION AS OF 1 WHERE a = ?"),
            Ast::Sql(_)
        ));
        let err = parse(&SessionContext::new().state(), "SELEC 1").unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Syntax);
    }
}

//! A `MERGE`'s `WHEN` clauses, planned: each clause's kind, condition and action, with
//! its expressions planned against the joined schema (or the source's, for `NOT
//! MATCHED`), and what this `MERGE` refuses.

use std::collections::HashMap;

use datafusion::common::DFSchema;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::sql::planner::IdentNormalizer;
use datafusion::sql::sqlparser::ast::{
    self, AssignmentTarget, ExprWithAlias, MergeAction, MergeClauseKind, MergeInsertKind,
};
use iceberg::TableIdent;

use crate::error::{ErrorKind, QuarryError};

/// What each `WHEN` clause does, with its expressions planned.
pub(super) enum Action {
    /// New values by column index.
    Update(HashMap<usize, Expr>),
    Delete,
    /// Values by column index (the others are NULL).
    Insert(HashMap<usize, Expr>),
}

/// A `WHEN` clause, planned.
pub(super) struct Clause {
    pub(super) matched: bool,
    pub(super) condition: Option<Expr>,
    pub(super) action: Action,
}

/// Plans the expressions of a `MERGE`'s clauses.
pub(super) struct ClausePlanner<'a> {
    pub(super) state: &'a SessionState,
    pub(super) normalizer: &'a IdentNormalizer,
    /// The target's columns.
    pub(super) columns: &'a [String],
    pub(super) table: &'a TableIdent,
    /// The target's columns and the source's.
    pub(super) joined: &'a DFSchema,
    pub(super) source: &'a DFSchema,
}

impl ClausePlanner<'_> {
    pub(super) fn expr(&self, e: &ast::Expr, schema: &DFSchema) -> Result<Expr, QuarryError> {
        let e = ExprWithAlias {
            expr: e.clone(),
            alias: None,
        };
        Ok(self.state.create_logical_expr_from_sql_expr(e, schema)?)
    }

    /// The index of the target's column `name`.
    fn column(&self, name: &ast::ObjectName) -> Result<usize, QuarryError> {
        let part = name.0.last().and_then(|p| p.as_ident()).cloned();
        let column = part
            .map(|i| self.normalizer.normalize(i))
            .unwrap_or_default();
        self.columns
            .iter()
            .position(|c| *c == column)
            .ok_or_else(|| {
                ErrorKind::UndefinedColumn.error(format!(
                    "column '{column}' of table '{}' does not exist",
                    self.table
                ))
            })
    }

    pub(super) fn clause(&self, clause: &ast::MergeClause) -> Result<Clause, QuarryError> {
        let matched = clause.clause_kind == MergeClauseKind::Matched;
        let schema = match matched {
            true => self.joined,
            // A row the target does not have: only the source's columns exist.
            false => self.source,
        };
        let condition = clause
            .predicate
            .as_ref()
            .map(|p| self.expr(p, schema))
            .transpose()?;
        let action = match &clause.action {
            MergeAction::Delete { .. } => Action::Delete,
            MergeAction::Update(update) => Action::Update(self.assignments(update, schema)?),
            MergeAction::Insert(insert) => Action::Insert(self.insert(insert, schema)?),
        };
        Ok(Clause {
            matched,
            condition,
            action,
        })
    }

    /// `UPDATE SET a = .., b = ..`: the new values by column index.
    fn assignments(
        &self,
        update: &ast::MergeUpdateExpr,
        schema: &DFSchema,
    ) -> Result<HashMap<usize, Expr>, QuarryError> {
        let mut values = HashMap::new();
        for assignment in &update.assignments {
            let AssignmentTarget::ColumnName(name) = &assignment.target else {
                return Err(QuarryError::plan(
                    "MERGE sets one column per assignment: SET a = .., b = ..",
                ));
            };
            let i = self.column(name)?;
            if values
                .insert(i, self.expr(&assignment.value, schema)?)
                .is_some()
            {
                return Err(QuarryError::plan(format!(
                    "MERGE sets column '{}' twice in one clause",
                    self.columns[i]
                )));
            }
        }
        Ok(values)
    }

    /// `INSERT [(columns)] VALUES (..)`: the values by column index.
    fn insert(
        &self,
        insert: &ast::MergeInsertExpr,
        schema: &DFSchema,
    ) -> Result<HashMap<usize, Expr>, QuarryError> {
        let MergeInsertKind::Values(values) = &insert.kind else {
            return Err(QuarryError::plan(
                "MERGE inserts with INSERT [(columns)] VALUES (..)",
            ));
        };
        let [row] = values.rows.as_slice() else {
            return Err(QuarryError::plan(
                "a MERGE clause inserts one row: VALUES (..)",
            ));
        };
        let indices = match insert.columns.is_empty() {
            true => (0..self.columns.len()).collect(),
            false => insert
                .columns
                .iter()
                .map(|c| self.column(c))
                .collect::<Result<Vec<_>, _>>()?,
        };
        if indices.len() != row.len() {
            return Err(QuarryError::plan(format!(
                "MERGE's INSERT names {} columns but gives {} values",
                indices.len(),
                row.len()
            )));
        }
        let mut values = HashMap::new();
        for (i, value) in indices.into_iter().zip(row) {
            if values.insert(i, self.expr(value, schema)?).is_some() {
                return Err(QuarryError::plan(format!(
                    "MERGE's INSERT names column '{}' twice",
                    self.columns[i]
                )));
            }
        }
        Ok(values)
    }
}

/// Refuses what this `MERGE` does not do, naming it.
pub(super) fn refuse_unsupported(merge: &ast::Merge) -> Result<(), QuarryError> {
    let refuse = |what: &str| {
        Err(QuarryError::unsupported(format!(
            "MERGE: {what} is not supported"
        )))
    };
    if merge.output.is_some() {
        return refuse("an OUTPUT clause");
    }
    for clause in &merge.clauses {
        if clause.clause_kind == MergeClauseKind::NotMatchedBySource {
            return refuse("WHEN NOT MATCHED BY SOURCE");
        }
        let (matched, action) = (
            clause.clause_kind == MergeClauseKind::Matched,
            &clause.action,
        );
        match action {
            MergeAction::Insert(_) if matched => {
                return refuse("INSERT in a WHEN MATCHED clause");
            }
            MergeAction::Update(_) | MergeAction::Delete { .. } if !matched => {
                return refuse("UPDATE or DELETE in a WHEN NOT MATCHED clause");
            }
            MergeAction::Insert(i) if i.insert_predicate.is_some() => {
                return refuse("INSERT .. WHERE");
            }
            MergeAction::Update(u)
                if u.update_predicate.is_some() || u.delete_predicate.is_some() =>
            {
                return refuse("UPDATE .. WHERE");
            }
            _ => {}
        }
    }
    Ok(())
}

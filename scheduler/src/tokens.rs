//! A statement's text as tokens, made once: every reader of the statement (Quarry's
//! own statements in [`crate::alter`], time travel, DataFusion's parser) starts from
//! these tokens instead of tokenizing the text again.
//!
//! Clients write `?` (JDBC, ADBC, ODBC) or `$1` (PostgreSQL) for parameters. DataFusion
//! plans `$n` only, so `?` placeholders are numbered `$1, $2, ...` here, in the order
//! they appear.

use datafusion::sql::sqlparser::dialect::{Dialect, dialect_from_str};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::QuarryError;

/// One statement's tokens, in the dialect that made them.
pub struct Tokenized {
    tokens: Vec<TokenWithSpan>,
    dialect: Box<dyn Dialect>,
}

impl Tokenized {
    /// Tokenizes `sql` in the SQL dialect named `dialect`, numbering `?` placeholders.
    pub fn new(sql: &str, dialect: &str) -> Result<Self, QuarryError> {
        let dialect = dialect_from_str(dialect)
            .ok_or_else(|| QuarryError::plan(format!("unsupported SQL dialect '{dialect}'")))?;
        let mut tokens = Tokenizer::new(dialect.as_ref(), sql)
            .tokenize_with_location()
            .map_err(|e| QuarryError::syntax(e.to_string()))?;
        let mut next = 0;
        for token in &mut tokens {
            if matches!(&token.token, Token::Placeholder(p) if p == "?") {
                next += 1;
                token.token = Token::Placeholder(format!("${next}"));
            }
        }
        Ok(Self { tokens, dialect })
    }

    /// In the generic dialect, for tests of a statement's reader.
    #[cfg(test)]
    pub fn generic(sql: &str) -> Self {
        Self::new(sql, "generic").expect("tokenizes")
    }

    pub fn tokens(&self) -> &[TokenWithSpan] {
        &self.tokens
    }

    pub fn into_parts(self) -> (Vec<TokenWithSpan>, Box<dyn Dialect>) {
        (self.tokens, self.dialect)
    }

    pub fn dialect(&self) -> &dyn Dialect {
        self.dialect.as_ref()
    }

    /// A parser over a copy of the tokens.
    pub fn parser(&self) -> Parser<'_> {
        Parser::new(self.dialect.as_ref()).with_tokens_with_locations(self.tokens.clone())
    }

    /// The keyword the statement starts with, past white space and comments.
    pub fn first_keyword(&self) -> Option<Keyword> {
        self.tokens.iter().find_map(|t| match &t.token {
            Token::Whitespace(_) => None,
            Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
            _ => Some(Keyword::NoKeyword),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_are_numbered_outside_strings_and_comments() {
        let tokenized = Tokenized::generic("SELECT ?, '?', $3 /* ? */ FROM t WHERE a = ?");
        let placeholders: Vec<String> = tokenized
            .tokens()
            .iter()
            .filter_map(|t| match &t.token {
                Token::Placeholder(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(placeholders, ["$1", "$3", "$2"]);
    }

    #[test]
    fn statements_are_known_by_their_first_keyword() {
        let first = |sql| Tokenized::generic(sql).first_keyword();
        assert_eq!(
            first("  -- note\n/* more */ VACUUM TABLE t"),
            Some(Keyword::VACUUM)
        );
        assert_eq!(first("(SELECT 1)"), Some(Keyword::NoKeyword));
        assert_eq!(first(""), None);
        assert!(Tokenized::new("SELECT 'open", "generic").is_err());
        assert!(Tokenized::new("SELECT 1", "klingon").is_err());
    }
}

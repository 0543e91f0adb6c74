//! Quarry's own statements on a table that DataFusion's parser does not know (`ALTER
//! TABLE` and `ALTER VIEW` for reflections, rollback, partition fields and view
//! renames; `OPTIMIZE TABLE`, `VACUUM TABLE`): read with sqlparser's parser, before
//! DataFusion's, by [`parse_table_statement`], which reads what they share (`ALTER
//! TABLE <name> ...`, the end of the statement) and leaves the rest to each statement's
//! own reader.

use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::error::QuarryError;
use crate::tokens::Tokenized;

/// A parser error as a syntax error.
pub fn syntax(e: ParserError) -> QuarryError {
    QuarryError::syntax(e.to_string().replace("sql parser error: ", ""))
}

/// Reads the statement `sql` if it is `ALTER TABLE <name>` followed by what `body`
/// reads (which returns `None` for a statement that is not its kind, left to
/// DataFusion's parser). After it, only a `;` may follow.
pub fn parse_alter_table<T>(
    sql: &Tokenized,
    what: &str,
    body: impl FnOnce(&mut Parser, ObjectName) -> Result<Option<T>, QuarryError>,
) -> Result<Option<T>, QuarryError> {
    parse_alter(sql, Keyword::TABLE, what, body)
}

/// As [`parse_alter_table`], for `ALTER <object> <name> ...` (`TABLE`, `VIEW`).
pub fn parse_alter<T>(
    sql: &Tokenized,
    object: Keyword,
    what: &str,
    body: impl FnOnce(&mut Parser, ObjectName) -> Result<Option<T>, QuarryError>,
) -> Result<Option<T>, QuarryError> {
    parse_table_statement(sql, &[Keyword::ALTER, object], what, body)
}

/// As [`parse_alter_table`], for a statement that starts with `leading` and a name
/// (`OPTIMIZE TABLE <name>`).
pub fn parse_table_statement<T>(
    sql: &Tokenized,
    leading: &[Keyword],
    what: &str,
    body: impl FnOnce(&mut Parser, ObjectName) -> Result<Option<T>, QuarryError>,
) -> Result<Option<T>, QuarryError> {
    if sql.first_keyword() != leading.first().copied() {
        return Ok(None);
    }
    let mut p = sql.parser();
    if !p.parse_keywords(leading) {
        return Ok(None);
    }
    let Ok(table) = p.parse_object_name(false) else {
        return Ok(None);
    };
    let Some(statement) = body(&mut p, table)? else {
        return Ok(None);
    };
    let _ = p.consume_token(&Token::SemiColon);
    if p.peek_token_ref().token != Token::EOF {
        return Err(syntax(ParserError::ParserError(format!(
            "unexpected {} after the {what} statement",
            p.peek_token_ref().token
        ))));
    }
    Ok(Some(statement))
}

/// `name [=] value, ...)`, after an opening parenthesis: options by name in lower case,
/// each value read by `value` (which is given the option's name).
pub fn parse_option_list<T>(
    p: &mut Parser,
    mut value: impl FnMut(&mut Parser, &str) -> Result<T, QuarryError>,
) -> Result<std::collections::HashMap<String, T>, QuarryError> {
    let mut options = std::collections::HashMap::new();
    loop {
        let name = p.parse_identifier().map_err(syntax)?.value.to_lowercase();
        let _ = p.consume_token(&Token::Eq);
        let value = value(p, &name)?;
        options.insert(name, value);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen).map_err(syntax)?;
    Ok(options)
}

/// Consumes the next token if it is the word `word` (any case), keyword or not.
pub fn parse_word(p: &mut Parser, word: &str) -> bool {
    match &p.peek_token_ref().token {
        Token::Word(w) if w.value.eq_ignore_ascii_case(word) => {
            p.next_token();
            true
        }
        _ => false,
    }
}

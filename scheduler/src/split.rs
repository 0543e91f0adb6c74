//! Splitting input into SQL statements at `;`. The text is read with the tokenizer the
//! parser uses, in PostgreSQL's dialect, so a `;` inside a string (`'..'`, `E'..'`,
//! `$$..$$`, `$tag$..$tag$`), a quoted name or a comment (nested ones too) does not end
//! a statement, and a statement may span lines. A backslash command (`\timing`) where a
//! statement would start is one line, as in psql.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Splits `text` into the complete statements it holds (without their `;`) and the
/// unfinished rest: text after the last `;`, or from an unterminated string or
/// comment on, which more input may finish.
pub fn split_statements(text: &str) -> (Vec<String>, String) {
    let mut statements = Vec::new();
    let mut start = 0;
    loop {
        let rest = &text[start..];
        let lead = rest.len() - rest.trim_start().len();
        if rest[lead..].starts_with('\\') {
            let end = rest[lead..].find('\n').map_or(rest.len(), |n| lead + n);
            statements.push(rest[lead..end].trim().to_string());
            start += end;
            continue;
        }
        match split_tokens(rest, &mut statements) {
            Stop::Backslash(offset) => start += offset,
            Stop::End(offset) => return (statements, rest[offset..].to_string()),
        }
    }
}

/// Where splitting a text's tokens stopped.
enum Stop {
    /// At a backslash command that starts a statement, at this offset: splitting goes
    /// on afresh after its line.
    Backslash(usize),
    /// At the end of the tokens; the unfinished rest starts at this offset.
    End(usize),
}

/// Tokenizes `text` and pushes the statements it ends with `;` onto `statements`.
fn split_tokens(text: &str, statements: &mut Vec<String>) -> Stop {
    let (tokens, _) = tokens(text);
    let mut offsets = Offsets::new(text);
    let mut start = 0;
    let mut code = false;
    for TokenWithSpan { token, span } in &tokens {
        match token {
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                let end = offsets.of(span.start);
                if code {
                    statements.push(text[start..end].trim().to_string());
                }
                start = end + 1;
                code = false;
            }
            Token::Backslash if !code => return Stop::Backslash(offsets.of(span.start)),
            _ => code = true,
        }
    }
    Stop::End(start)
}

/// The tokens of `text` up to its end or to the first error (an unterminated string
/// or comment), and whether it was the end.
fn tokens(text: &str) -> (Vec<TokenWithSpan>, bool) {
    let mut tokens = Vec::new();
    // An error leaves the tokens before it in `tokens`.
    let finished = Tokenizer::new(&PostgreSqlDialect {}, text)
        .with_unescape(false)
        .tokenize_with_location_into_buf(&mut tokens)
        .is_ok();
    (tokens, finished)
}

/// Whether `text` holds more than white space and comments: a token, or a string or
/// comment left open.
fn has_code(text: &str) -> bool {
    let (tokens, finished) = tokens(text);
    !finished
        || tokens
            .iter()
            .any(|t| !matches!(t.token, Token::Whitespace(_)))
}

/// Byte offsets of tokens' locations (lines and columns in characters, from 1), asked
/// in the order of the text: each answer starts from the last one, so a script of many
/// statements on one line is read once.
struct Offsets<'a> {
    text: &'a str,
    /// The last location asked and its offset.
    last: (Location, usize),
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            last: (Location::new(1, 1), 0),
        }
    }

    fn of(&mut self, location: Location) -> usize {
        let (mut at, mut offset) = self.last;
        for c in self.text[offset..].chars() {
            if (at.line, at.column) >= (location.line, location.column) {
                break;
            }
            (at, offset) = match c {
                '\n' => (Location::new(at.line + 1, 1), offset + 1),
                c => (Location::new(at.line, at.column + 1), offset + c.len_utf8()),
            };
        }
        self.last = (at, offset);
        offset
    }
}

/// Whether the text holds anything but white space and comments.
pub fn is_blank(text: &str) -> bool {
    !has_code(text)
}

/// All statements in a script; a final statement without `;` counts too.
pub fn script_statements(text: &str) -> Vec<String> {
    let (mut statements, rest) = split_statements(text);
    if has_code(&rest) {
        statements.push(rest.trim().to_string());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let (s, rest) =
            split_statements("SELECT 1; SELECT ';' AS x -- a;b\n, \"a;b\" FROM t;\nSELECT");
        assert_eq!(
            s,
            vec!["SELECT 1", "SELECT ';' AS x -- a;b\n, \"a;b\" FROM t"]
        );
        assert_eq!(rest.trim(), "SELECT");
    }

    #[test]
    fn dollar_quotes_escapes_and_nested_comments_hide_semicolons() {
        assert_eq!(
            script_statements(
                "SELECT $$a;b$$; SELECT $t$it's; $$ $t$; SELECT E'it\\'s;' /* x /* ; */ ; */; \
                 SELECT 'é;ü', 2"
            ),
            vec![
                "SELECT $$a;b$$",
                "SELECT $t$it's; $$ $t$",
                "SELECT E'it\\'s;' /* x /* ; */ ; */",
                "SELECT 'é;ü', 2"
            ]
        );
    }

    #[test]
    fn an_open_string_or_comment_is_unfinished() {
        let (s, rest) = split_statements("SELECT 1; SELECT 'a;\nb");
        assert_eq!(s, vec!["SELECT 1"]);
        assert_eq!(rest, " SELECT 'a;\nb");
        assert!(!is_blank(&rest));
        let (s, rest) = split_statements("SELECT $$x; /* y");
        assert!(s.is_empty());
        assert_eq!(rest, "SELECT $$x; /* y");
        assert!(!is_blank("/* open"));
    }

    #[test]
    fn statements_span_lines_and_skip_empty_ones() {
        let (s, rest) = split_statements("SELECT\n  1\n;;\n-- only a comment\n;");
        assert_eq!(s, vec!["SELECT\n  1"]);
        assert!(rest.trim().is_empty());
        assert_eq!(
            script_statements("/* x; y */ SELECT 2"),
            vec!["/* x; y */ SELECT 2"]
        );
        assert_eq!(
            split_statements("SELECT 'it''s;' ;").0,
            vec!["SELECT 'it''s;'"]
        );
    }

    #[test]
    fn a_backslash_command_is_its_own_line() {
        assert_eq!(
            script_statements("\\timing\nSELECT 1;\n  \\x\nSELECT '\\x';\\q"),
            vec!["\\timing", "SELECT 1", "\\x", "SELECT '\\x'", "\\q"]
        );
    }

    #[test]
    fn blank_text() {
        assert!(is_blank("  \n -- hi\n"));
        assert!(!is_blank("SELECT"));
    }
}

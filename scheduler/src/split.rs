//! Splitting input into SQL statements at `;`, minding quotes and comments, so that a
//! statement may span lines and a `;` inside a string does not end it. A backslash
//! command (`\timing`) where a statement would start is one line, as in psql.

/// Splits `text` into the complete statements it holds (without their `;`) and the
/// unfinished rest.
pub fn split_statements(text: &str) -> (Vec<String>, String) {
    #[derive(PartialEq)]
    enum State {
        Code,
        Single,
        Double,
        LineComment,
        BlockComment,
    }
    let mut statements = Vec::new();
    let mut state = State::Code;
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Code => match c {
                b'\'' => state = State::Single,
                b'"' => state = State::Double,
                b'-' if next == Some(b'-') => state = State::LineComment,
                b'/' if next == Some(b'*') => {
                    state = State::BlockComment;
                    i += 1;
                }
                b';' => {
                    push_statement(&mut statements, &text[start..i]);
                    start = i + 1;
                }
                b'\\' if text[start..i].trim().is_empty() => {
                    let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                    push_statement(&mut statements, &text[i..end]);
                    start = end;
                    i = end;
                    continue;
                }
                _ => {}
            },
            // A doubled quote inside a string is an escaped quote: leaving and re-entering
            // the string state handles it.
            State::Single if c == b'\'' => state = State::Code,
            State::Double if c == b'"' => state = State::Code,
            State::LineComment if c == b'\n' => state = State::Code,
            State::BlockComment if c == b'*' && next == Some(b'/') => {
                state = State::Code;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    (statements, text[start..].to_string())
}

/// Whether the text holds anything but white space and comments.
pub fn is_blank(text: &str) -> bool {
    script_statements(text).is_empty()
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    let only_comments = trimmed
        .lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with("--"));
    if !only_comments {
        statements.push(trimmed.to_string());
    }
}

/// All statements in a script; a final statement without `;` counts too.
pub fn script_statements(text: &str) -> Vec<String> {
    let (mut statements, rest) = split_statements(text);
    push_statement(&mut statements, &rest);
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

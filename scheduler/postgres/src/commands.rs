//! Statements the PostgreSQL door answers itself, because they are about the connection
//! rather than data: transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`: accepted, every
//! statement commits on its own), PostgreSQL settings (`SET`, `SHOW`, `RESET`) and
//! connection housekeeping (`DISCARD`, `DEALLOCATE`). Everything else, `SET` and `SHOW`
//! of DataFusion settings and `SHOW TABLES` included, goes to the query service.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// A statement about the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Begin,
    Commit,
    Rollback,
    /// `SET name = value` of a PostgreSQL setting.
    Set {
        name: String,
        value: String,
    },
    /// `SHOW name`.
    Show(String),
    /// `SHOW ALL`.
    ShowAll,
    /// `RESET name` or `RESET ALL`.
    Reset(String),
    /// A statement that changes nothing here; answered with this command tag.
    Accept(&'static str),
}

/// The command `sql` is, or `None` when the query service runs it.
pub fn parse(sql: &str) -> Option<Command> {
    let words = words(sql)?;
    let word = |i: usize| words.get(i).map(|w| w.to_ascii_uppercase());
    let first = word(0)?;
    let second = word(1).unwrap_or_default();
    match first.as_str() {
        "BEGIN" | "START" => Some(Command::Begin),
        "COMMIT" | "END" => Some(Command::Commit),
        "ROLLBACK" | "ABORT" if second != "TO" => Some(Command::Rollback),
        "ROLLBACK" => Some(Command::Accept("ROLLBACK")),
        "SAVEPOINT" => Some(Command::Accept("SAVEPOINT")),
        "RELEASE" => Some(Command::Accept("RELEASE")),
        "DISCARD" => Some(Command::Accept("DISCARD ALL")),
        "DEALLOCATE" => Some(Command::Accept("DEALLOCATE")),
        "RESET" if !is_engine_setting(&second) => Some(Command::Reset(words.get(1)?.clone())),
        "SHOW" => show(&words[1..]),
        "SET" => set(&words[1..]),
        _ => None,
    }
}

fn show(words: &[String]) -> Option<Command> {
    let name = words.join(" ").to_lowercase();
    match name.as_str() {
        "all" => Some(Command::ShowAll),
        "time zone" => Some(Command::Show("TimeZone".into())),
        "transaction isolation level" => Some(Command::Show("transaction_isolation".into())),
        _ if words.len() == 1 && !is_engine_setting(&name) && !is_service_show(&name) => {
            Some(Command::Show(words[0].clone()))
        }
        _ => None,
    }
}

/// `SHOW` statements DataFusion answers.
fn is_service_show(name: &str) -> bool {
    matches!(name, "tables" | "columns" | "functions")
}

fn set(words: &[String]) -> Option<Command> {
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    // SET [SESSION | LOCAL] ...
    let skip = usize::from(matches!(
        upper.first().map(String::as_str),
        Some("SESSION" | "LOCAL")
    ));
    let (words, upper) = (&words[skip..], &upper[skip..]);
    match upper.first().map(String::as_str)? {
        "TRANSACTION" | "CHARACTERISTICS" | "ROLE" | "AUTHORIZATION" | "CONSTRAINTS" => {
            return Some(Command::Accept("SET"));
        }
        "TIME" if upper.get(1).map(String::as_str) == Some("ZONE") => {
            return Some(Command::Set {
                name: "TimeZone".into(),
                value: words[2..].join(" "),
            });
        }
        "NAMES" => {
            return Some(Command::Set {
                name: "client_encoding".into(),
                value: words[1..].join(" "),
            });
        }
        _ => {}
    }
    let name = words.first()?;
    if is_engine_setting(name) {
        return None;
    }
    let value = match upper.get(1).map(String::as_str) {
        Some("=" | "TO") => words[2..].join(" "),
        _ => return None,
    };
    Some(Command::Set {
        name: name.clone(),
        value,
    })
}

/// Whether `name` is one of the engine's settings: DataFusion's
/// (`datafusion.execution.batch_size`) or Quarry's (`quarry.reflections`).
fn is_engine_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("datafusion.") || name.starts_with("quarry.")
}

/// The words of `sql`: keywords and names as written, strings without their quotes,
/// numbers and operators as text, with `a.b.c` as one word and list commas dropped.
fn words(sql: &str) -> Option<Vec<String>> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut words: Vec<String> = Vec::new();
    let mut join_next = false;
    for token in tokens {
        let word = match token {
            Token::Whitespace(_) | Token::SemiColon | Token::Comma => continue,
            Token::Period => {
                if let Some(last) = words.last_mut() {
                    last.push('.');
                    join_next = true;
                }
                continue;
            }
            Token::Word(w) => w.value,
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => s,
            Token::Number(n, _) => n,
            other => other.to_string(),
        };
        match (join_next, words.last_mut()) {
            (true, Some(last)) => last.push_str(&word),
            _ => words.push(word),
        }
        join_next = false;
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, value: &str) -> Option<Command> {
        Some(Command::Set {
            name: name.into(),
            value: value.into(),
        })
    }

    #[test]
    fn connection_statements_are_recognised() {
        assert_eq!(parse("BEGIN"), Some(Command::Begin));
        assert_eq!(
            parse("begin transaction isolation level read committed"),
            Some(Command::Begin)
        );
        assert_eq!(parse("COMMIT;"), Some(Command::Commit));
        assert_eq!(parse("rollback"), Some(Command::Rollback));
        assert_eq!(
            parse("SET extra_float_digits = 3"),
            set("extra_float_digits", "3")
        );
        assert_eq!(
            parse("SET application_name = 'DBeaver 24'"),
            set("application_name", "DBeaver 24")
        );
        assert_eq!(
            parse("SET search_path TO gold, public"),
            set("search_path", "gold public")
        );
        assert_eq!(parse("SET SESSION TIME ZONE 'UTC'"), set("TimeZone", "UTC"));
        assert_eq!(
            parse("SHOW search_path"),
            Some(Command::Show("search_path".into()))
        );
        assert_eq!(
            parse("SHOW TRANSACTION ISOLATION LEVEL"),
            Some(Command::Show("transaction_isolation".into()))
        );
        assert_eq!(parse("SHOW ALL"), Some(Command::ShowAll));
        assert_eq!(
            parse("SET TRANSACTION READ ONLY"),
            Some(Command::Accept("SET"))
        );
    }

    #[test]
    fn the_query_service_keeps_its_own() {
        assert_eq!(parse("SELECT 1"), None);
        assert_eq!(parse("SHOW TABLES"), None);
        assert_eq!(parse("SET datafusion.execution.batch_size = 100"), None);
        assert_eq!(parse("SHOW datafusion.execution.batch_size"), None);
        assert_eq!(parse("SET quarry.reflections = off"), None);
        assert_eq!(parse("CREATE TABLE t (a INT)"), None);
    }
}

//! The PostgreSQL settings of a connection: what `SHOW`, `current_setting()` and
//! `pg_settings` report, what the server announces at startup (`ParameterStatus`), and
//! what `SET` changes. Settings Quarry has no use for are remembered and reported back,
//! so tools that set them on connect (`extra_float_digits`, `application_name`) work.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The PostgreSQL version Quarry speaks the protocol and catalog of.
pub const SERVER_VERSION_NUM: &str = "160006";

/// Settings sent to the client after it logs in.
pub const ANNOUNCED: [&str; 12] = [
    "server_version",
    "server_encoding",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "integer_datetimes",
    "standard_conforming_strings",
    "application_name",
    "is_superuser",
    "session_authorization",
    "default_transaction_read_only",
];

/// The settings every connection starts with, with what each is for.
fn defaults(user: &str) -> Vec<(&'static str, String, &'static str)> {
    let version = format!("16.6 (Quarry {})", env!("CARGO_PKG_VERSION"));
    [
        ("server_version", version.as_str(), "Server version"),
        (
            "server_version_num",
            SERVER_VERSION_NUM,
            "Server version as a number",
        ),
        ("server_encoding", "UTF8", "Server character set encoding"),
        ("client_encoding", "UTF8", "Client character set encoding"),
        (
            "DateStyle",
            "ISO, MDY",
            "Display format for dates and times",
        ),
        ("IntervalStyle", "postgres", "Display format for intervals"),
        (
            "TimeZone",
            "UTC",
            "Time zone timestamps with time zone are shown in",
        ),
        ("integer_datetimes", "on", "Datetimes are 64-bit integers"),
        (
            "standard_conforming_strings",
            "on",
            "Backslashes in strings are literal",
        ),
        ("application_name", "", "Name of the client application"),
        ("is_superuser", "on", "Whether the user is a superuser"),
        ("session_authorization", user, "User name of the session"),
        (
            "default_transaction_read_only",
            "off",
            "New transactions are read-only",
        ),
        (
            "transaction_read_only",
            "off",
            "The transaction is read-only",
        ),
        (
            "transaction_isolation",
            "read committed",
            "Isolation level of the transaction",
        ),
        (
            "default_transaction_isolation",
            "read committed",
            "Isolation level of new transactions",
        ),
        (
            "extra_float_digits",
            "1",
            "Extra digits shown for floating-point values",
        ),
        ("bytea_output", "hex", "Output format of bytea"),
        ("statement_timeout", "0", "Statement timeout (0: none)"),
        ("lock_timeout", "0", "Lock timeout (0: none)"),
        (
            "idle_in_transaction_session_timeout",
            "0",
            "Idle-in-transaction timeout",
        ),
        ("max_identifier_length", "63", "Longest identifier"),
        ("max_index_keys", "32", "Most index keys"),
        ("block_size", "8192", "Size of a disk block"),
        ("lc_collate", "C.UTF-8", "Collation order locale"),
        ("lc_ctype", "C.UTF-8", "Character classification locale"),
        ("lc_messages", "C.UTF-8", "Language of messages"),
        ("lc_monetary", "C.UTF-8", "Locale for monetary amounts"),
        ("lc_numeric", "C.UTF-8", "Locale for numbers"),
        ("lc_time", "C.UTF-8", "Locale for dates and times"),
        ("search_path", "public", "Schema search order"),
        ("row_security", "on", "Row security is enabled"),
        ("synchronous_commit", "on", "Synchronous commit"),
        (
            "client_min_messages",
            "notice",
            "Least severe message sent to the client",
        ),
    ]
    .into_iter()
    .map(|(name, value, description)| (name, value.to_string(), description))
    .collect()
}

/// A connection's settings, by lower-case name.
#[derive(Debug)]
pub struct Settings {
    values: Mutex<BTreeMap<String, Setting>>,
}

/// One setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The name as PostgreSQL spells it (`DateStyle`).
    pub name: String,
    pub value: String,
    pub description: String,
}

impl Settings {
    /// The settings of a new connection of `user`, with the options it sent at startup.
    pub fn new<'a>(user: &str, startup: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let values = defaults(user)
            .into_iter()
            .map(|(name, value, description)| {
                let setting = Setting {
                    name: name.to_string(),
                    value,
                    description: description.to_string(),
                };
                (name.to_lowercase(), setting)
            })
            .collect();
        let settings = Self {
            values: Mutex::new(values),
        };
        for (name, value) in startup {
            if settings.is_settable(name) {
                settings.set(name, value);
            }
        }
        settings
    }

    /// Whether a client may change `name` (at startup or with `SET`).
    fn is_settable(&self, name: &str) -> bool {
        !matches!(
            name.to_lowercase().as_str(),
            "user"
                | "database"
                | "options"
                | "replication"
                | "server_version"
                | "server_version_num"
                | "server_encoding"
                | "integer_datetimes"
                | "is_superuser"
                | "session_authorization"
                | "timezone"
                | "datestyle"
                | "client_encoding"
        )
    }

    /// The value of `name`, if it is a setting.
    pub fn get(&self, name: &str) -> Option<String> {
        self.lock()
            .get(&name.to_lowercase())
            .map(|s| s.value.clone())
    }

    /// Sets `name` to `value`. Settings whose value Quarry fixes (the encoding, the date
    /// style, the time zone of output) keep it; the rest take any value.
    pub fn set(&self, name: &str, value: &str) {
        if !self.is_settable(name) {
            return;
        }
        let mut values = self.lock();
        let entry = values
            .entry(name.to_lowercase())
            .or_insert_with(|| Setting {
                name: name.to_lowercase(),
                value: String::new(),
                description: "Set by the client".into(),
            });
        entry.value = value.to_string();
    }

    /// Every setting, by name.
    pub fn all(&self) -> Vec<Setting> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Setting>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_set_what_they_may() {
        let settings = Settings::new("ann", [("application_name", "psql"), ("TimeZone", "CET")]);
        assert_eq!(settings.get("application_name").as_deref(), Some("psql"));
        assert_eq!(settings.get("timezone").as_deref(), Some("UTC"));
        assert_eq!(
            settings.get("session_authorization").as_deref(),
            Some("ann")
        );
        settings.set("extra_float_digits", "3");
        settings.set("DateStyle", "German");
        settings.set("my.custom", "x");
        assert_eq!(settings.get("EXTRA_FLOAT_DIGITS").as_deref(), Some("3"));
        assert_eq!(settings.get("datestyle").as_deref(), Some("ISO, MDY"));
        assert_eq!(settings.get("my.custom").as_deref(), Some("x"));
        assert!(settings.get("nope").is_none());
    }
}

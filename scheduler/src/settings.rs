//! Quarry's own session settings, beside DataFusion's: `SET quarry.<name> = <value>`,
//! listed by `SHOW ALL` with DataFusion's.
//!
//! - `quarry.reflections` (`on`, `off`): whether queries may be answered from
//!   reflections.
//! - `quarry.single_stage_max_bytes` (`1073741824`, `512MiB`): the most data, by the tables' statistics, that a
//!   query may read to run whole on one executor as a single stage (no shuffle); above
//!   it a query runs as a distributed job. `0` runs every query as a job. The default
//!   is the scheduler's `--single-stage-max-bytes`.

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::config_err;
use datafusion::config::ConfigOptions;

/// The default of `quarry.single_stage_max_bytes`: 1 GiB, what one executor scans in
/// well under a second, less than a distributed job would spend between its stages.
pub const DEFAULT_SINGLE_STAGE_MAX_BYTES: u64 = 1 << 30;

/// The session settings of Quarry.
#[derive(Debug, Clone)]
pub struct QuarryOptions {
    /// Whether queries may be answered from reflections.
    pub reflections: bool,
    /// The most bytes a query may read to run as a single stage.
    pub single_stage_max_bytes: u64,
}

impl Default for QuarryOptions {
    fn default() -> Self {
        Self {
            reflections: true,
            single_stage_max_bytes: DEFAULT_SINGLE_STAGE_MAX_BYTES,
        }
    }
}

impl QuarryOptions {
    /// The settings of a session (the defaults when it has none).
    pub fn of(options: &ConfigOptions) -> Self {
        options
            .extensions
            .get::<QuarryOptions>()
            .cloned()
            .unwrap_or_default()
    }
}

impl ConfigExtension for QuarryOptions {
    const PREFIX: &'static str = "quarry";
}

impl ExtensionOptions for QuarryOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> datafusion::common::Result<()> {
        match key {
            "reflections" => {
                self.reflections = match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    _ => return config_err!("quarry.reflections is on or off, not '{value}'"),
                };
            }
            "single_stage_max_bytes" => {
                self.single_stage_max_bytes = match value.trim().parse::<bytesize::ByteSize>() {
                    Ok(size) => size.as_u64(),
                    Err(_) => {
                        return config_err!(
                            "quarry.single_stage_max_bytes is a size, such as 1073741824, \
                             512MiB or 0 (every query a distributed job), not '{value}'"
                        );
                    }
                };
            }
            _ => {
                return config_err!(
                    "unknown setting quarry.{key}; Quarry's settings are quarry.reflections \
                     and quarry.single_stage_max_bytes"
                );
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: "quarry.reflections".into(),
                value: Some(if self.reflections { "on" } else { "off" }.into()),
                description: "whether queries may be answered from reflections (on, off)",
            },
            ConfigEntry {
                key: "quarry.single_stage_max_bytes".into(),
                value: Some(self.single_stage_max_bytes.to_string()),
                description: "the most bytes (by table statistics) a query may read to run \
                              whole on one executor, without a shuffle; 0: always distributed",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_name_bad_values() {
        let mut options = QuarryOptions::default();
        options.set("single_stage_max_bytes", "0").unwrap();
        assert_eq!(options.single_stage_max_bytes, 0);
        options.set("single_stage_max_bytes", "512MiB").unwrap();
        assert_eq!(options.single_stage_max_bytes, 512 << 20);
        options.set("reflections", "OFF").unwrap();
        assert!(!options.reflections);
        let e = options.set("single_stage_max_bytes", "lots").unwrap_err();
        assert!(e.to_string().contains("is a size, such as"), "{e}");
        let e = options.set("reflection", "on").unwrap_err();
        assert!(
            e.to_string().contains("unknown setting quarry.reflection;"),
            "{e}"
        );
    }
}

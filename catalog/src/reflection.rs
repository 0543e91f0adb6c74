//! Reflections as the catalog keeps them: what a reflection is ([`Definition`]), what its
//! materialization was built from ([`Base`]), and where it lives.
//!
//! A reflection's materialization is an Iceberg table in the hidden namespace
//! [`NAMESPACE`], named after its anchor table and itself. The table carries its
//! definition and its base snapshots as table properties, so every scheduler of a
//! cluster (SQLite and etcd catalogs alike) finds the same reflections, they survive
//! restarts, and other engines can read the data. Listings of schemas leave the hidden
//! namespace out.

use std::collections::HashMap;

use iceberg::TableIdent;
use iceberg::spec::{Operation, Transform};
use iceberg::table::Table;
use serde::{Deserialize, Serialize};

use crate::table::TableError;
use crate::table::partition::PartitionColumn;

/// The namespace materializations live in; schema listings do not show it.
pub const NAMESPACE: &str = "__reflections";
/// The table property holding the reflection's definition (JSON).
pub const DEFINITION_PROPERTY: &str = "quarry.reflection.definition";
/// The table property holding what the materialization was built from (JSON).
pub const BASE_PROPERTY: &str = "quarry.reflection.base";

/// The Arrow Flight action an executor answers with the reflection files it holds in
/// memory: one result, a JSON array of [`HeldFile`].
pub const HELD_FILES_ACTION: &str = "quarry.reflections.held_files";

/// A reflection file (or byte range of one) an executor holds in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFile {
    /// The materialization table, `__reflections.<name>`.
    pub table: String,
    /// The file's object-store path.
    pub location: String,
    /// The memory its Arrow batches take.
    pub bytes: u64,
}

/// Whether a namespace is one users do not see.
pub fn is_hidden(namespace: &str) -> bool {
    namespace == NAMESPACE
}

/// A reflection, as `ALTER TABLE .. CREATE .. REFLECTION` defined it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// Unique among the reflections of its anchor.
    pub name: String,
    /// What it materializes.
    pub anchor: Anchor,
    pub kind: Kind,
    /// How the materialization's files are partitioned.
    #[serde(default)]
    pub partition_by: Vec<PartitionField>,
    /// The columns rows are sorted by within each file.
    #[serde(default)]
    pub localsort_by: Vec<String>,
    #[serde(default)]
    pub refresh: RefreshPolicy,
}

/// What a reflection materializes. Reflections on views will anchor on a view's plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Anchor {
    /// An Iceberg table of the catalog.
    Table { namespace: String, table: String },
}

impl Anchor {
    /// The anchor table's identifier.
    pub fn ident(&self) -> Result<TableIdent, TableError> {
        match self {
            Anchor::Table { namespace, table } => TableIdent::from_strs([namespace, table])
                .map_err(|e| TableError::Invalid(e.to_string())),
        }
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Anchor::Table { namespace, table } => write!(f, "{namespace}.{table}"),
        }
    }
}

/// Raw rows, or an aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// `CREATE AGGREGATE REFLECTION .. USING DIMENSIONS (..) MEASURES (..)`.
    Aggregate {
        dimensions: Vec<Dimension>,
        measures: Vec<Measure>,
    },
    /// `CREATE RAW REFLECTION .. USING DISPLAY (..)`.
    Raw { display: Vec<String> },
}

/// A column rows are grouped by, optionally truncated (`sold_at BY DAY`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    pub column: String,
    #[serde(default)]
    pub granularity: Option<Granularity>,
}

/// How finely a date or timestamp dimension is kept: a `date_trunc` unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Granularity {
    /// All of them, finest first.
    pub const ALL: [Granularity; 8] = [
        Granularity::Second,
        Granularity::Minute,
        Granularity::Hour,
        Granularity::Day,
        Granularity::Week,
        Granularity::Month,
        Granularity::Quarter,
        Granularity::Year,
    ];

    /// Its name as `date_trunc` takes it.
    pub fn unit(self) -> &'static str {
        match self {
            Granularity::Second => "second",
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
            Granularity::Quarter => "quarter",
            Granularity::Year => "year",
        }
    }

    /// The granularity a `date_trunc` unit names (any case).
    pub fn from_unit(unit: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|g| g.unit().eq_ignore_ascii_case(unit))
    }

    /// Whether values truncated to `self` can be truncated further to `coarser` with
    /// the same result as truncating the original values. Weeks do not nest in months,
    /// quarters or years.
    pub fn rolls_up_to(self, coarser: Granularity) -> bool {
        if self == coarser {
            return true;
        }
        if self == Granularity::Week || coarser == Granularity::Week {
            return self < Granularity::Week && coarser == Granularity::Week;
        }
        self < coarser
    }
}

/// A column and the aggregates kept of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub column: String,
    pub functions: Vec<MeasureFunction>,
}

/// The aggregates a measure can keep (Dremio's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureFunction {
    Sum,
    Count,
    Min,
    Max,
    ApproxCountDistinct,
}

impl MeasureFunction {
    /// The SQL name.
    pub fn sql(self) -> &'static str {
        match self {
            MeasureFunction::Sum => "SUM",
            MeasureFunction::Count => "COUNT",
            MeasureFunction::Min => "MIN",
            MeasureFunction::Max => "MAX",
            MeasureFunction::ApproxCountDistinct => "APPROX_COUNT_DISTINCT",
        }
    }

    /// The function a SQL name (any case) names.
    pub fn from_sql(name: &str) -> Option<Self> {
        [
            MeasureFunction::Sum,
            MeasureFunction::Count,
            MeasureFunction::Min,
            MeasureFunction::Max,
            MeasureFunction::ApproxCountDistinct,
        ]
        .into_iter()
        .find(|f| f.sql().eq_ignore_ascii_case(name))
    }

    /// The materialization's column holding this aggregate of `column`.
    pub fn column_name(self, column: &str) -> String {
        let suffix = match self {
            MeasureFunction::Sum => "sum",
            MeasureFunction::Count => "count",
            MeasureFunction::Min => "min",
            MeasureFunction::Max => "max",
            MeasureFunction::ApproxCountDistinct => "approx_distinct",
        };
        format!("{column}__{suffix}")
    }
}

/// The materialization's column holding each group's row count (`COUNT(*)`), which
/// every aggregate reflection keeps.
pub const ROW_COUNT_COLUMN: &str = "__rows";

/// One item of a reflection's `PARTITION BY`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionField {
    pub column: String,
    pub transform: Transform,
}

impl From<PartitionColumn> for PartitionField {
    fn from(c: PartitionColumn) -> Self {
        Self {
            column: c.column,
            transform: c.transform,
        }
    }
}

impl From<&PartitionField> for PartitionColumn {
    fn from(f: &PartitionField) -> Self {
        Self {
            column: f.column.clone(),
            transform: f.transform,
        }
    }
}

/// When a reflection is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Only on `ALTER TABLE .. REFRESH REFLECTIONS`.
    Manual,
    /// After every commit to its anchor table.
    #[default]
    OnChange,
    /// Every so many seconds, if the anchor changed.
    Every { seconds: u64 },
}

/// What a materialization was built from: the anchor table (its uuid, so that a table
/// replaced under the same name does not count) at one snapshot (none: it was empty),
/// and when. The snapshot is the last that changed the table's rows: `OPTIMIZE`'s
/// `replace` snapshots lay the same rows out anew, so they leave reflections fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub table_uuid: uuid::Uuid,
    pub snapshot: Option<i64>,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub built_at_ms: u64,
}

impl Base {
    /// The table as it is now.
    pub fn of(table: &Table) -> Self {
        let metadata = table.metadata();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut snapshot = metadata.current_snapshot();
        while let Some(replace) = snapshot.filter(|s| s.summary().operation == Operation::Replace) {
            snapshot = replace
                .parent_snapshot_id()
                .and_then(|parent| metadata.snapshot_by_id(parent));
        }
        Self {
            table_uuid: metadata.uuid(),
            snapshot: snapshot.map(|s| s.snapshot_id()),
            built_at_ms: now,
        }
    }

    /// Whether both are the same table at the same snapshot.
    pub fn same_state(&self, other: &Base) -> bool {
        self.table_uuid == other.table_uuid && self.snapshot == other.snapshot
    }

    /// When the materialization was built.
    pub fn built_at(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.built_at_ms)
    }
}

/// The name of the table that holds `definition`'s materialization.
pub fn materialization_ident(definition: &Definition) -> Result<TableIdent, TableError> {
    let Anchor::Table { namespace, table } = &definition.anchor;
    TableIdent::from_strs([
        NAMESPACE.to_string(),
        format!("{namespace}__{table}__{}", definition.name),
    ])
    .map_err(|e| TableError::Invalid(e.to_string()))
}

/// The table properties that record `definition` and `base` on its materialization.
pub fn properties(definition: &Definition, base: &Base) -> HashMap<String, String> {
    HashMap::from([
        (
            DEFINITION_PROPERTY.to_string(),
            serde_json::to_string(definition).expect("a definition serializes"),
        ),
        (
            BASE_PROPERTY.to_string(),
            serde_json::to_string(base).expect("a base serializes"),
        ),
    ])
}

/// The definition and base a materialization table records, if it is one.
pub fn read_properties(table: &Table) -> Result<Option<(Definition, Base)>, TableError> {
    let properties = table.metadata().properties();
    let (Some(definition), Some(base)) = (
        properties.get(DEFINITION_PROPERTY),
        properties.get(BASE_PROPERTY),
    ) else {
        return Ok(None);
    };
    let bad = |e: serde_json::Error| {
        TableError::Invalid(format!(
            "reflection table {} has unreadable properties: {e}",
            table.identifier()
        ))
    };
    Ok(Some((
        serde_json::from_str(definition).map_err(bad)?,
        serde_json::from_str(base).map_err(bad)?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_roll_up_to_months_and_years_but_weeks_do_not() {
        use Granularity::*;
        assert!(Day.rolls_up_to(Month));
        assert!(Day.rolls_up_to(Year));
        assert!(Day.rolls_up_to(Week));
        assert!(Day.rolls_up_to(Day));
        assert!(!Month.rolls_up_to(Day));
        assert!(!Week.rolls_up_to(Month));
        assert!(!Week.rolls_up_to(Year));
        assert!(Month.rolls_up_to(Quarter));
        assert_eq!(Granularity::from_unit("MONTH"), Some(Month));
        assert_eq!(Granularity::from_unit("fortnight"), None);
    }

    #[test]
    fn a_definition_survives_the_table_properties() {
        let definition = Definition {
            name: "daily".into(),
            anchor: Anchor::Table {
                namespace: "gold".into(),
                table: "sales".into(),
            },
            kind: Kind::Aggregate {
                dimensions: vec![Dimension {
                    column: "sold_at".into(),
                    granularity: Some(Granularity::Day),
                }],
                measures: vec![Measure {
                    column: "amount".into(),
                    functions: vec![MeasureFunction::Sum, MeasureFunction::Count],
                }],
            },
            partition_by: vec![PartitionField {
                column: "sold_at".into(),
                transform: Transform::Month,
            }],
            localsort_by: vec![],
            refresh: RefreshPolicy::Every { seconds: 3600 },
        };
        let base = Base {
            table_uuid: uuid::Uuid::new_v4(),
            snapshot: Some(7),
            built_at_ms: 1,
        };
        let props = properties(&definition, &base);
        let json = &props[DEFINITION_PROPERTY];
        assert_eq!(
            serde_json::from_str::<Definition>(json).unwrap(),
            definition
        );
        assert_eq!(
            materialization_ident(&definition).unwrap().to_string(),
            "__reflections.gold__sales__daily"
        );
    }
}

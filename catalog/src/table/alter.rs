//! `ALTER TABLE`: schema evolution, partition evolution and table properties, as
//! metadata-only commits (no data file is written or rewritten).
//!
//! Columns keep their Iceberg field ids through every change, and a new column gets an
//! id never used before (from the table's `last-column-id`), so files written under an
//! older schema read correctly under the new one: `evolution.rs` maps file columns by
//! id, so a renamed column keeps its data, an added one reads NULL, and a dropped-then-
//! re-added name does not see the old column's values. Types only widen, as Iceberg
//! allows: `int` to `bigint`, `float` to `double`, a decimal to more digits at the same
//! scale.
//!
//! Partition evolution makes a new default spec: data written afterwards is laid out by
//! it, older files keep theirs, and scan planning prunes each file by its own spec.
//! Changes are checked against the table as it is when the commit lands, so a
//! concurrent `ALTER` is validated again rather than overwritten.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{
    FormatVersion, NestedField, NestedFieldRef, PrimitiveType, Schema, TableMetadata,
    TableProperties, Transform, Type, UnboundPartitionField, UnboundPartitionSpec,
};
use iceberg::table::Table;

use super::TableError;
use super::commit::{Staged, swap_retrying};
use super::partition::PartitionColumn;
use crate::store::TableStore;

/// One change an `ALTER TABLE` statement makes.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    /// `ADD COLUMN [IF NOT EXISTS] name type`: a new, nullable column.
    AddColumn {
        name: String,
        ty: PrimitiveType,
        if_not_exists: bool,
    },
    /// `DROP COLUMN [IF EXISTS] name`.
    DropColumn { name: String, if_exists: bool },
    /// `RENAME COLUMN from TO to`.
    RenameColumn { from: String, to: String },
    /// `ALTER COLUMN name TYPE ty`: a wider type.
    SetType { name: String, ty: PrimitiveType },
    /// `ALTER COLUMN name DROP NOT NULL`.
    DropNotNull { name: String },
    /// `ADD PARTITION FIELD transform(column) [AS name]`.
    AddPartitionField {
        field: PartitionColumn,
        name: Option<String>,
    },
    /// `DROP PARTITION FIELD name` (or the transform that names it).
    DropPartitionField { name: String },
    /// `SET TBLPROPERTIES (k = v, ...)`.
    SetProperties(Vec<(String, String)>),
    /// `UNSET TBLPROPERTIES (k, ...)`.
    UnsetProperties(Vec<String>),
}

/// Applies `changes` to `table` as one commit; the table as it is afterwards.
pub async fn alter(
    store: &TableStore,
    table: &Table,
    changes: &[TableChange],
) -> Result<Table, TableError> {
    swap_retrying(
        store,
        table.identifier(),
        table.metadata().uuid(),
        |base: Table| async move {
            let metadata = evolve(base.metadata(), base.metadata_location(), changes)?;
            Ok(metadata.map(|metadata| Staged {
                metadata,
                files: Vec::new(),
            }))
        },
    )
    .await
}

/// The metadata after `changes`, or `None` when they change nothing.
pub fn evolve(
    metadata: &TableMetadata,
    location: Option<&str>,
    changes: &[TableChange],
) -> Result<Option<TableMetadata>, TableError> {
    let mut columns = Columns::of(metadata);
    let mut partition = Partition::of(metadata);
    let mut set = HashMap::new();
    let mut unset = Vec::new();
    for change in changes {
        match change {
            TableChange::SetProperties(pairs) => {
                for (key, value) in pairs {
                    reserved(key)?;
                    set.insert(key.clone(), value.clone());
                }
            }
            TableChange::UnsetProperties(keys) => {
                for key in keys {
                    reserved(key)?;
                    unset.push(key.clone());
                }
            }
            TableChange::AddPartitionField { field, name } => {
                partition.add(&columns, field, name.clone())?
            }
            TableChange::DropPartitionField { name } => partition.drop(name)?,
            change => columns.apply(change)?,
        }
    }
    let unchanged = |key: &String, value: &String| metadata.properties().get(key) == Some(value);
    set.retain(|key, value| !unchanged(key, value));
    unset.retain(|key| metadata.properties().contains_key(key));
    if !columns.changed && !partition.changed && set.is_empty() && unset.is_empty() {
        return Ok(None);
    }
    let mut builder = metadata.clone().into_builder(location.map(str::to_string));
    if columns.changed {
        builder = builder.add_current_schema(columns.schema()?)?;
    }
    if partition.changed {
        let spec = UnboundPartitionSpec::builder()
            .add_partition_fields(partition.fields)?
            .build();
        builder = builder
            .add_partition_spec(spec)?
            .set_default_partition_spec(-1)?;
    }
    if !set.is_empty() {
        builder = builder.set_properties(set)?;
    }
    if !unset.is_empty() {
        builder = builder.remove_properties(&unset)?;
    }
    Ok(Some(builder.build()?.metadata))
}

fn reserved(key: &str) -> Result<(), TableError> {
    match TableProperties::RESERVED_PROPERTIES.contains(&key) {
        true => Err(TableError::Invalid(format!(
            "table property '{key}' is kept by Iceberg itself and cannot be set or unset"
        ))),
        false => Ok(()),
    }
}

/// The columns of the schema being built.
struct Columns {
    base: Arc<Schema>,
    fields: Vec<NestedFieldRef>,
    /// The highest field id ever assigned in the table.
    last_id: i32,
    /// Field ids that some partition spec, current or older, is computed from.
    partition_sources: HashMap<i32, String>,
    changed: bool,
}

impl Columns {
    fn of(metadata: &TableMetadata) -> Self {
        let base = Arc::clone(metadata.current_schema());
        let partition_sources = metadata
            .partition_specs_iter()
            .flat_map(|spec| spec.fields().iter())
            .map(|f| (f.source_id, f.name.clone()))
            .collect();
        Self {
            fields: base.as_struct().fields().to_vec(),
            base,
            last_id: metadata.last_column_id(),
            partition_sources,
            changed: false,
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    fn find(&self, name: &str) -> Result<usize, TableError> {
        self.position(name).ok_or_else(|| {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            TableError::NoColumn(format!(
                "column '{name}' does not exist (the columns are {})",
                names.join(", ")
            ))
        })
    }

    fn id_of(&self, name: &str) -> Option<i32> {
        self.position(name).map(|i| self.fields[i].id)
    }

    /// Refuses to change the type of, or drop, a column partitions are computed from.
    fn not_partition_source(&self, index: usize, what: &str) -> Result<(), TableError> {
        let field = &self.fields[index];
        match self.partition_sources.get(&field.id) {
            Some(partition) => Err(TableError::Invalid(format!(
                "cannot {what} column '{}': the table's data files are partitioned by it \
                 (partition field '{partition}')",
                field.name
            ))),
            None => Ok(()),
        }
    }

    fn apply(&mut self, change: &TableChange) -> Result<(), TableError> {
        match change {
            TableChange::AddColumn {
                name,
                ty,
                if_not_exists,
            } => {
                if self.position(name).is_some() {
                    return match if_not_exists {
                        true => Ok(()),
                        false => Err(TableError::AlreadyExists(format!(
                            "column '{name}' already exists"
                        ))),
                    };
                }
                self.last_id += 1;
                let field = NestedField::optional(self.last_id, name, Type::Primitive(ty.clone()));
                self.fields.push(Arc::new(field));
            }
            TableChange::DropColumn { name, if_exists } => {
                let Some(index) = self.position(name) else {
                    return match if_exists {
                        true => Ok(()),
                        false => self.find(name).map(|_| ()),
                    };
                };
                self.not_partition_source(index, "drop")?;
                if self.fields.len() == 1 {
                    return Err(TableError::Invalid(format!(
                        "cannot drop column '{name}': it is the table's only column"
                    )));
                }
                self.fields.remove(index);
            }
            TableChange::RenameColumn { from, to } => {
                let index = self.find(from)?;
                if from == to {
                    return Ok(());
                }
                if self.position(to).is_some() {
                    return Err(TableError::AlreadyExists(format!(
                        "cannot rename column '{from}' to '{to}': column '{to}' already exists"
                    )));
                }
                let mut field = self.fields[index].as_ref().clone();
                field.name = to.clone();
                self.fields[index] = Arc::new(field);
            }
            TableChange::SetType { name, ty } => {
                let index = self.find(name)?;
                let Type::Primitive(old) = self.fields[index].field_type.as_ref() else {
                    return Err(TableError::Invalid(format!(
                        "column '{name}' is not of a scalar type"
                    )));
                };
                if old == ty {
                    return Ok(());
                }
                if !widens(old, ty) {
                    return Err(TableError::Invalid(format!(
                        "cannot change column '{name}' from {old} to {ty}: Iceberg widens only \
                         int to bigint, float to double and a decimal to more digits at the \
                         same scale"
                    )));
                }
                self.not_partition_source(index, "change the type of")?;
                let mut field = self.fields[index].as_ref().clone();
                field.field_type = Box::new(Type::Primitive(ty.clone()));
                self.fields[index] = Arc::new(field);
            }
            TableChange::DropNotNull { name } => {
                let index = self.find(name)?;
                if !self.fields[index].required {
                    return Ok(());
                }
                let mut field = self.fields[index].as_ref().clone();
                field.required = false;
                self.fields[index] = Arc::new(field);
            }
            other => {
                return Err(TableError::Invalid(format!(
                    "internal: {other:?} is not a column change"
                )));
            }
        }
        self.changed = true;
        Ok(())
    }

    fn schema(&self) -> Result<Schema, TableError> {
        Ok(Schema::builder()
            .with_schema_id(self.base.schema_id())
            .with_fields(self.fields.clone())
            .with_identifier_field_ids(self.base.identifier_field_ids())
            .build()?)
    }
}

/// Whether Iceberg can read values of type `from` as `to`.
fn widens(from: &PrimitiveType, to: &PrimitiveType) -> bool {
    use PrimitiveType as P;
    match (from, to) {
        (P::Int, P::Long) | (P::Float, P::Double) => true,
        (
            P::Decimal {
                precision: p1,
                scale: s1,
            },
            P::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 == s2 && p2 >= p1,
        _ => false,
    }
}

/// The fields of the partition spec being built.
struct Partition {
    fields: Vec<UnboundPartitionField>,
    version: FormatVersion,
    changed: bool,
}

impl Partition {
    fn of(metadata: &TableMetadata) -> Self {
        let fields = metadata
            .default_partition_spec()
            .fields()
            .iter()
            .map(|f| f.clone().into_unbound())
            .collect();
        Self {
            fields,
            version: metadata.format_version(),
            changed: false,
        }
    }

    fn add(
        &mut self,
        columns: &Columns,
        field: &PartitionColumn,
        name: Option<String>,
    ) -> Result<(), TableError> {
        let index = columns.find(&field.column).map_err(|_| {
            TableError::NoColumn(format!(
                "cannot partition by {}({}): column '{}' does not exist",
                field.transform, field.column, field.column
            ))
        })?;
        let source = &columns.fields[index];
        if field.transform.result_type(&source.field_type).is_err() {
            return Err(TableError::Partition(format!(
                "cannot partition by {}({}): column '{}' has type {}",
                field.transform, field.column, field.column, source.field_type
            )));
        }
        let same =
            |f: &&UnboundPartitionField| f.source_id == source.id && f.transform == field.transform;
        if let Some(existing) = self.fields.iter().find(same) {
            return Err(TableError::AlreadyExists(format!(
                "the table is already partitioned by {}({}) (partition field '{}')",
                field.transform, field.column, existing.name
            )));
        }
        // As Iceberg's Java library: one time transform of a column at a time.
        let by_time = |t: &Transform| {
            matches!(
                t,
                Transform::Year | Transform::Month | Transform::Day | Transform::Hour
            )
        };
        let redundant = |f: &&UnboundPartitionField| {
            f.source_id == source.id && by_time(&f.transform) && by_time(&field.transform)
        };
        if let Some(existing) = self.fields.iter().find(redundant) {
            return Err(TableError::Invalid(format!(
                "the table is already partitioned by {}({}) (partition field '{}'); \
                 DROP PARTITION FIELD {} first",
                existing.transform, field.column, existing.name, existing.name
            )));
        }
        let name = name.unwrap_or_else(|| field.field_name());
        if self.fields.iter().any(|f| f.name == name) {
            return Err(TableError::AlreadyExists(format!(
                "the table already has a partition field named '{name}'"
            )));
        }
        let identity_of_itself =
            field.transform == Transform::Identity && columns.id_of(&name) == Some(source.id);
        if columns.id_of(&name).is_some() && !identity_of_itself {
            return Err(TableError::AlreadyExists(format!(
                "a partition field cannot be named '{name}', like a column of the table; \
                 give it another name with AS"
            )));
        }
        self.fields.push(UnboundPartitionField {
            source_id: source.id,
            field_id: None,
            name,
            transform: field.transform,
        });
        self.changed = true;
        Ok(())
    }

    fn drop(&mut self, name: &str) -> Result<(), TableError> {
        let Some(index) = self.fields.iter().position(|f| f.name == name) else {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(TableError::NotFound(match names.is_empty() {
                true => format!("the table has no partition field '{name}': it is not partitioned"),
                false => format!(
                    "the table has no partition field '{name}' (its partition fields are {})",
                    names.join(", ")
                ),
            }));
        };
        if self.version == FormatVersion::V1 {
            return Err(TableError::Invalid(
                "partition fields of a format version 1 table cannot be dropped; \
                 SET TBLPROPERTIES ('format-version' = '2') is not supported either, \
                 so copy the table with CREATE TABLE .. AS"
                    .into(),
            ));
        }
        self.fields.remove(index);
        self.changed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use iceberg::spec::PartitionSpec;

    use super::*;

    fn metadata() -> TableMetadata {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "id", Type::Primitive(PrimitiveType::Int)).into(),
                NestedField::optional(2, "ts", Type::Primitive(PrimitiveType::Timestamp)).into(),
                NestedField::optional(3, "v", Type::Primitive(PrimitiveType::Float)).into(),
            ])
            .build()
            .unwrap();
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("ts", "ts_month", Transform::Month)
            .unwrap()
            .build()
            .unwrap()
            .into_unbound();
        let creation = iceberg::TableCreation::builder()
            .name("t".into())
            .location("file:///tmp/t".into())
            .schema(schema)
            .partition_spec(spec)
            .format_version(FormatVersion::V2)
            .build();
        iceberg::spec::TableMetadataBuilder::from_table_creation(creation)
            .unwrap()
            .build()
            .unwrap()
            .metadata
    }

    fn evolved(changes: &[TableChange]) -> Result<TableMetadata, TableError> {
        evolve(&metadata(), None, changes).map(|m| m.expect("a change"))
    }

    fn add(name: &str, ty: PrimitiveType) -> TableChange {
        TableChange::AddColumn {
            name: name.into(),
            ty,
            if_not_exists: false,
        }
    }

    fn columns(metadata: &TableMetadata) -> Vec<(i32, String, String)> {
        let schema = metadata.current_schema();
        let fields = schema.as_struct().fields();
        fields
            .iter()
            .map(|f| (f.id, f.name.clone(), f.field_type.to_string()))
            .collect()
    }

    #[test]
    fn columns_keep_their_ids_and_new_ones_are_never_reused() {
        let m = evolved(&[
            TableChange::RenameColumn {
                from: "v".into(),
                to: "value".into(),
            },
            TableChange::SetType {
                name: "id".into(),
                ty: PrimitiveType::Long,
            },
            add("note", PrimitiveType::String),
        ])
        .unwrap();
        assert_eq!(
            columns(&m),
            [
                (1, "id".into(), "long".into()),
                (2, "ts".into(), "timestamp".into()),
                (3, "value".into(), "float".into()),
                (4, "note".into(), "string".into()),
            ]
        );
        assert_eq!(m.schemas_iter().len(), 2);
        // Dropped, then added again: a new id, so old files do not fill it.
        let m = evolve(
            &m,
            None,
            &[
                TableChange::DropColumn {
                    name: "note".into(),
                    if_exists: false,
                },
                add("note", PrimitiveType::String),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(columns(&m)[3].0, 5);
        assert_eq!(m.last_column_id(), 5);
    }

    #[test]
    fn bad_changes_say_what_is_wrong() {
        let err = |changes: &[TableChange]| evolved(changes).unwrap_err().to_string();
        let e = err(&[TableChange::SetType {
            name: "id".into(),
            ty: PrimitiveType::String,
        }]);
        assert!(e.contains("from int to string"), "{e}");
        let e = err(&[TableChange::DropColumn {
            name: "ts".into(),
            if_exists: false,
        }]);
        assert!(
            e.contains("partitioned by it (partition field 'ts_month')"),
            "{e}"
        );
        let e = err(&[add("id", PrimitiveType::Int)]);
        assert!(e.contains("'id' already exists"), "{e}");
        let e = err(&[TableChange::RenameColumn {
            from: "nope".into(),
            to: "x".into(),
        }]);
        assert!(
            e.contains("column 'nope' does not exist (the columns are id, ts, v)"),
            "{e}"
        );
        let e = err(&[TableChange::SetProperties(vec![(
            "format-version".into(),
            "3".into(),
        )])]);
        assert!(e.contains("'format-version' is kept by Iceberg"), "{e}");
        let e = err(&[TableChange::DropPartitionField { name: "x".into() }]);
        assert!(e.contains("its partition fields are ts_month"), "{e}");
        // Changes that change nothing commit nothing.
        let none = [TableChange::AddColumn {
            name: "id".into(),
            ty: PrimitiveType::Int,
            if_not_exists: true,
        }];
        assert!(evolve(&metadata(), None, &none).unwrap().is_none());
    }

    #[test]
    fn partition_evolution_makes_a_new_default_spec_with_new_field_ids() {
        let m = evolved(&[
            TableChange::DropPartitionField {
                name: "ts_month".into(),
            },
            TableChange::AddPartitionField {
                field: PartitionColumn {
                    column: "ts".into(),
                    transform: Transform::Day,
                },
                name: None,
            },
            TableChange::AddPartitionField {
                field: PartitionColumn {
                    column: "id".into(),
                    transform: Transform::Bucket(4),
                },
                name: Some("shard".into()),
            },
        ])
        .unwrap();
        assert_eq!(m.partition_specs_iter().len(), 2);
        let spec = m.default_partition_spec();
        let fields: Vec<_> = spec
            .fields()
            .iter()
            .map(|f| (f.field_id, f.name.as_str()))
            .collect();
        assert_eq!(fields, [(1001, "ts_day"), (1002, "shard")]);
        // The month field's source column stays, as older files are laid out by it.
        let e = evolve(
            &m,
            None,
            &[TableChange::DropColumn {
                name: "ts".into(),
                if_exists: false,
            }],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("partitioned by it"), "{e}");
    }
}

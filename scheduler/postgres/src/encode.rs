//! Result rows on the wire: Arrow record batches encoded as PostgreSQL `DataRow`s, each
//! column in the text or binary format the client asked for.
//!
//! Each column is first cast to the one Arrow type its PostgreSQL type is read from
//! (nanosecond timestamps to microseconds, dictionaries to their values, lists to lists
//! of those), then every cell becomes the Rust value pgwire encodes. Columns PostgreSQL
//! has no type for go as text, as Arrow displays them.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType, UInt32Type,
};
use datafusion::arrow::temporal_conversions::{
    date32_to_datetime, time64us_to_time, timestamp_us_to_datetime,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pg_interval::Interval;
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::{Kind, ToSql};
use rust_decimal::Decimal;

use super::types::arrow_type;

/// Encodes every row of `batch`, described to the client by `fields`.
pub fn encode(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .zip(fields.iter())
        .map(|(array, field)| Column::new(array, field))
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut encoder = DataRowEncoder::new(Arc::clone(fields));
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for column in &columns {
            column.write(&mut encoder, row)?;
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// One column of a batch, cast for encoding.
struct Column<'a> {
    /// The column cast to the type its cells are read as; the original when shown as text.
    array: ArrayRef,
    field: &'a FieldInfo,
    /// The PostgreSQL type of the column's values (of the elements, for an array).
    element: Type,
    is_list: bool,
    /// Which cells are null (a `Null` column has no null buffer, yet all are null).
    nulls: Option<NullBuffer>,
    /// Shown as Arrow displays it.
    display: bool,
}

impl<'a> Column<'a> {
    /// The column `array`, sent as `field` says (which may differ from the array's own
    /// type: a parameter typed only when bound is described as text).
    fn new(array: &ArrayRef, field: &'a FieldInfo) -> PgWireResult<Self> {
        let (element, is_list) = match field.datatype().kind() {
            Kind::Array(element) => (element.clone(), true),
            _ => (field.datatype().clone(), false),
        };
        let item_type = match array.data_type() {
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _)
                if is_list =>
            {
                item.data_type().clone()
            }
            other => other.clone(),
        };
        let target = readable_type(&element, &item_type);
        let display = target.is_none();
        let nulls = array.logical_nulls();
        let array = match target {
            None => Arc::clone(array),
            Some(target) if is_list => cast_to(
                array,
                DataType::List(Arc::new(Field::new("item", target, true))),
            )?,
            Some(target) => cast_to(array, target)?,
        };
        Ok(Self {
            array,
            nulls,
            field,
            element,
            is_list,
            display,
        })
    }

    fn write(&self, encoder: &mut DataRowEncoder, row: usize) -> PgWireResult<()> {
        if self.display {
            return self.put(encoder, row, display);
        }
        match self.element {
            Type::BOOL => self.put(encoder, row, |a, i| Ok(a.as_boolean().value(i))),
            Type::INT2 => self.put(encoder, row, |a, i| {
                Ok(a.as_primitive::<Int16Type>().value(i))
            }),
            Type::INT4 => self.put(encoder, row, |a, i| {
                Ok(a.as_primitive::<Int32Type>().value(i))
            }),
            Type::INT8 => self.put(encoder, row, |a, i| {
                Ok(a.as_primitive::<Int64Type>().value(i))
            }),
            Type::OID => self.put(encoder, row, |a, i| {
                Ok(a.as_primitive::<UInt32Type>().value(i))
            }),
            Type::FLOAT4 => self.put(encoder, row, |a, i| {
                Ok(a.as_primitive::<Float32Type>().value(i))
            }),
            Type::FLOAT8 => self.put(encoder, row, |a, i| {
                Ok(a.as_primitive::<Float64Type>().value(i))
            }),
            // Text keeps every digit; binary goes through rust_decimal (28 digits).
            Type::NUMERIC if self.field.format() == FieldFormat::Text => {
                self.put(encoder, row, |a, i| {
                    Ok(a.as_primitive::<Decimal128Type>().value_as_string(i))
                })
            }
            Type::NUMERIC => self.put(encoder, row, decimal),
            Type::TEXT => self.put(encoder, row, |a, i| {
                Ok(a.as_string::<i32>().value(i).to_string())
            }),
            Type::BYTEA => self.put(encoder, row, |a, i| {
                Ok(a.as_binary::<i32>().value(i).to_vec())
            }),
            Type::DATE => self.put(encoder, row, date),
            Type::TIME => self.put(encoder, row, time),
            Type::TIMESTAMP => self.put(encoder, row, timestamp),
            Type::TIMESTAMPTZ => self.put(encoder, row, |a, i| {
                Ok(DateTime::<Utc>::from_naive_utc_and_offset(
                    timestamp(a, i)?,
                    Utc,
                ))
            }),
            Type::INTERVAL => self.put(encoder, row, |a, i| {
                let v = a.as_primitive::<IntervalMonthDayNanoType>().value(i);
                Ok(Interval::new(v.months, v.days, v.nanoseconds / 1_000))
            }),
            _ => self.put(encoder, row, display),
        }
    }

    /// Encodes the cell at `row`, a value read by `get` (or, for an array, a list of them).
    fn put<T>(
        &self,
        encoder: &mut DataRowEncoder,
        row: usize,
        get: impl Fn(&ArrayRef, usize) -> PgWireResult<T>,
    ) -> PgWireResult<()>
    where
        T: ToSql + ToSqlText,
    {
        let array = &self.array;
        let (ty, format) = (self.field.datatype(), self.field.format());
        let options = self.field.format_options();
        let valid = self.nulls.as_ref().is_none_or(|nulls| nulls.is_valid(row));
        if !self.is_list {
            let value = valid.then(|| get(array, row)).transpose()?;
            return encoder.encode_field_with_type_and_format(&value, ty, format, options);
        }
        let value = match valid {
            false => None,
            true => {
                let items = array.as_list::<i32>().value(row);
                let items = (0..items.len())
                    .map(|i| items.is_valid(i).then(|| get(&items, i)).transpose())
                    .collect::<PgWireResult<Vec<Option<T>>>>()?;
                Some(items)
            }
        };
        encoder.encode_field_with_type_and_format(&value, ty, format, options)
    }
}

/// The Arrow type cells of PostgreSQL type `pg` are read as, or `None` to show them as text.
fn readable_type(pg: &Type, data_type: &DataType) -> Option<DataType> {
    match *pg {
        Type::NUMERIC => Some(match data_type {
            DataType::Decimal128(..) => data_type.clone(),
            DataType::Decimal256(precision, scale) => {
                DataType::Decimal128((*precision).min(38), *scale)
            }
            _ => DataType::Decimal128(20, 0),
        }),
        Type::TEXT if !super::types::is_string(data_type) => None,
        Type::TIMESTAMPTZ => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        Type::INTERVAL => Some(DataType::Interval(IntervalUnit::MonthDayNano)),
        _ => arrow_type(pg),
    }
}

fn cast_to(array: &ArrayRef, target: DataType) -> PgWireResult<ArrayRef> {
    if *array.data_type() == target {
        return Ok(Arc::clone(array));
    }
    // A time zone only says how to show an instant; the instant stays the same.
    let array = match array.data_type() {
        DataType::Timestamp(unit, Some(_)) => {
            cast(array, &DataType::Timestamp(*unit, None)).map_err(api_error)?
        }
        _ => Arc::clone(array),
    };
    cast(&array, &target).map_err(api_error)
}

fn display(array: &ArrayRef, row: usize) -> PgWireResult<String> {
    let formatter =
        ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).map_err(api_error)?;
    Ok(formatter.value(row).to_string())
}

fn decimal(array: &ArrayRef, row: usize) -> PgWireResult<Decimal> {
    let array = array.as_primitive::<Decimal128Type>();
    let (value, scale) = (array.value(row), array.scale());
    u32::try_from(scale)
        .ok()
        .and_then(|scale| Decimal::try_from_i128_with_scale(value, scale).ok())
        .ok_or_else(|| {
            out_of_range(format!(
                "numeric value {} does not fit the binary numeric format (28 digits): ask for text",
                array.value_as_string(row)
            ))
        })
}

fn date(array: &ArrayRef, row: usize) -> PgWireResult<NaiveDate> {
    let days = array.as_primitive::<Date32Type>().value(row);
    date32_to_datetime(days)
        .map(|d| d.date())
        .ok_or_else(|| out_of_range(format!("date {days} days from 1970-01-01 is out of range")))
}

fn time(array: &ArrayRef, row: usize) -> PgWireResult<NaiveTime> {
    let micros = array.as_primitive::<Time64MicrosecondType>().value(row);
    time64us_to_time(micros)
        .ok_or_else(|| out_of_range(format!("time {micros} µs is out of range")))
}

fn timestamp(array: &ArrayRef, row: usize) -> PgWireResult<NaiveDateTime> {
    let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
    timestamp_us_to_datetime(micros)
        .ok_or_else(|| out_of_range(format!("timestamp {micros} µs is out of range")))
}

fn api_error(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

fn out_of_range(message: String) -> PgWireError {
    super::error::user_error("22003", message)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        Date32Array, Decimal128Array, Int64Array, ListArray, NullArray, StringArray,
        TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::Schema;
    use pgwire::api::portal::Format;

    use super::*;
    use crate::types::field_infos;

    /// The cells of the single row of `batch`, each as the bytes sent.
    fn cells(batch: &RecordBatch, format: Format) -> Vec<Option<Vec<u8>>> {
        let fields = Arc::new(field_infos(&batch.schema(), &format));
        let rows = encode(batch, &fields).unwrap();
        let row = &rows[0];
        let mut data = &row.data[..];
        (0..row.field_count)
            .map(|_| {
                let len = i32::from_be_bytes(data[..4].try_into().unwrap());
                data = &data[4..];
                (len >= 0).then(|| {
                    let (cell, rest) = data.split_at(len as usize);
                    data = rest;
                    cell.to_vec()
                })
            })
            .collect()
    }

    fn batch() -> RecordBatch {
        let list =
            ListArray::from_iter_primitive::<Int32Type, _, _>([Some(vec![Some(1), None, Some(3)])]);
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(12, 2), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
            Field::new("xs", list.data_type().clone(), true),
            Field::new("missing", DataType::Int64, true),
            Field::new("nothing", DataType::Null, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![42])),
                Arc::new(StringArray::from(vec!["bolt"])),
                Arc::new(
                    Decimal128Array::from(vec![12345])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new(
                    TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789])
                        .with_timezone("UTC"),
                ),
                Arc::new(list),
                Arc::new(Int64Array::from(vec![None])),
                Arc::new(NullArray::new(1)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn text_format_is_what_postgres_prints() {
        let text: Vec<Option<String>> = cells(&batch(), Format::UnifiedText)
            .into_iter()
            .map(|c| c.map(|c| String::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(text[0].as_deref(), Some("42"));
        assert_eq!(text[1].as_deref(), Some("bolt"));
        assert_eq!(text[2].as_deref(), Some("123.45"));
        assert_eq!(text[3].as_deref(), Some("2023-11-14 22:13:20.123456+00"));
        assert_eq!(text[4].as_deref(), Some("{1,NULL,3}"));
        assert_eq!(text[5], None);
        assert_eq!(text[6], None);
    }

    #[test]
    fn columns_are_sent_as_described() {
        // Described as text before a parameter's type was known, then bound to a date.
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Date32Array::from(vec![19724]))]).unwrap();
        let described = Schema::new(vec![Field::new("d", DataType::Utf8, true)]);
        let fields = Arc::new(field_infos(&described, &Format::UnifiedBinary));
        let rows = encode(&batch, &fields).unwrap();
        assert!(rows[0].data.ends_with(b"2024-01-02"));
    }

    #[test]
    fn binary_format_is_postgres_binary() {
        let binary = cells(&batch(), Format::UnifiedBinary);
        assert_eq!(binary[0].as_deref(), Some(&42i64.to_be_bytes()[..]));
        // numeric 123.45: 2 digit groups, weight 0, positive, scale 2: 123, 4500.
        assert_eq!(
            binary[2].as_deref(),
            Some(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94][..])
        );
        // timestamptz: microseconds since 2000-01-01.
        let micros = 1_700_000_000_123_456i64 - 946_684_800_000_000;
        assert_eq!(binary[3].as_deref(), Some(&micros.to_be_bytes()[..]));
        assert_eq!(binary[5], None);
    }
}

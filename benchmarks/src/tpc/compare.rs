//! Whether two engines' answers agree. Numbers (integers, floats, decimals) compare as
//! numbers within a tolerance, everything else as its text; column names and types do
//! not matter (engines name `sum(x)` and type averages differently). Rows compare in
//! order; answers with the same rows in another order (ties under ORDER BY) agree too.

use std::cmp::Ordering;
use std::path::Path;

use datafusion::arrow::array::{Array, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Numbers agree when they differ by at most this much absolutely (TPC-H itself asks
/// for agreement to the cent)...
const ABSOLUTE: f64 = 1e-4;
/// ... or by at most this much relative to the larger.
const RELATIVE: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Number(f64),
    Text(String),
}

/// An answer: its rows, each a list of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rows: Vec<Vec<Cell>>,
}

impl Answer {
    /// Reads an answer an engine wrote as an Arrow IPC file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open the answer {}: {e}", path.display()))?;
        let reader = FileReader::try_new(file, None)
            .map_err(|e| format!("cannot read the answer {}: {e}", path.display()))?;
        let mut batches = Vec::new();
        for batch in reader {
            batches.push(batch.map_err(|e| format!("cannot read {}: {e}", path.display()))?);
        }
        Self::from_batches(&batches).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn from_batches(batches: &[RecordBatch]) -> Result<Self, String> {
        let options = FormatOptions::default();
        let mut rows = Vec::new();
        for batch in batches {
            let columns = batch
                .columns()
                .iter()
                .map(|column| column_cells(column.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(columns.iter().map(|c| c[row].clone()).collect());
            }
        }
        Ok(Self { rows })
    }
}

fn column_cells(column: &dyn Array, options: &FormatOptions) -> Result<Vec<Cell>, String> {
    let numeric = column.data_type().is_numeric();
    if numeric {
        let floats = cast(column, &DataType::Float64).map_err(|e| e.to_string())?;
        let floats = floats
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or("a cast to Float64 gave another type")?;
        return Ok((0..floats.len())
            .map(|i| match floats.is_null(i) {
                true => Cell::Null,
                false => Cell::Number(floats.value(i)),
            })
            .collect());
    }
    let formatter = ArrayFormatter::try_new(column, options).map_err(|e| e.to_string())?;
    Ok((0..column.len())
        .map(|i| match column.is_null(i) {
            true => Cell::Null,
            false => Cell::Text(formatter.value(i).to_string()),
        })
        .collect())
}

fn cells_agree(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Number(x), Cell::Number(y)) => {
            let diff = (x - y).abs();
            diff <= ABSOLUTE || diff <= RELATIVE * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

fn rows_agree(a: &[Cell], b: &[Cell]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| cells_agree(x, y))
}

fn order(a: &[Cell], b: &[Cell]) -> Ordering {
    let rank = |c: &Cell| match c {
        Cell::Null => 0,
        Cell::Number(_) => 1,
        Cell::Text(_) => 2,
    };
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Cell::Number(x), Cell::Number(y)) => x.total_cmp(y),
            (Cell::Text(x), Cell::Text(y)) => x.cmp(y),
            _ => rank(x).cmp(&rank(y)),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// `Ok` when `actual` agrees with `expected`, else the first difference.
pub fn compare(expected: &Answer, actual: &Answer) -> Result<(), String> {
    if expected.rows.len() != actual.rows.len() {
        return Err(format!(
            "{} rows where {} were expected",
            actual.rows.len(),
            expected.rows.len()
        ));
    }
    let first_difference = |a: &[Vec<Cell>], b: &[Vec<Cell>]| {
        a.iter()
            .zip(b)
            .position(|(x, y)| !rows_agree(x, y))
            .map(|i| (i, a[i].clone(), b[i].clone()))
    };
    let Some((row, want, got)) = first_difference(&expected.rows, &actual.rows) else {
        return Ok(());
    };
    let (mut a, mut b) = (expected.rows.clone(), actual.rows.clone());
    a.sort_by(|x, y| order(x, y));
    b.sort_by(|x, y| order(x, y));
    match first_difference(&a, &b) {
        None => Ok(()),
        Some(_) => Err(format!(
            "row {} is {} where {} was expected",
            row + 1,
            show(&got),
            show(&want)
        )),
    }
}

fn show(row: &[Cell]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|c| match c {
            Cell::Null => "NULL".into(),
            Cell::Number(n) => n.to_string(),
            Cell::Text(t) => format!("'{t}'"),
        })
        .collect();
    format!("({})", cells.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Decimal128Array, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn answer(keys: Vec<&str>, values: Vec<Option<f64>>) -> Answer {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys)),
                Arc::new(Float64Array::from(values)),
            ],
        )
        .unwrap();
        Answer::from_batches(&[batch]).unwrap()
    }

    #[test]
    fn decimals_integers_and_floats_compare_as_numbers() {
        let decimal = Decimal128Array::from(vec![Some(1234567), None])
            .with_precision_and_scale(15, 2)
            .unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "d",
            decimal.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(decimal)]).unwrap();
        let decimals = Answer::from_batches(&[batch]).unwrap();
        assert_eq!(decimals.rows[0], vec![Cell::Number(12345.67)]);
        assert_eq!(decimals.rows[1], vec![Cell::Null]);
        let ints = Int64Array::from(vec![3]);
        let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ints)]).unwrap();
        assert_eq!(
            Answer::from_batches(&[batch]).unwrap().rows[0],
            vec![Cell::Number(3.0)]
        );
    }

    #[test]
    fn numbers_agree_within_the_tolerance_only() {
        let a = answer(vec!["x", "y"], vec![Some(1e10), Some(0.05)]);
        // Relative 1e-7 of a large sum, absolute 5e-5 of a small average: agree.
        let b = answer(vec!["x", "y"], vec![Some(1e10 + 1e3), Some(0.05005)]);
        assert_eq!(compare(&a, &b), Ok(()));
        // One cent off a small value: differs, and the message names the row.
        let c = answer(vec!["x", "y"], vec![Some(1e10), Some(0.06)]);
        let err = compare(&a, &c).unwrap_err();
        assert!(err.contains("row 2 is ('y', 0.06)"), "{err}");
        // Relative 1e-5 of a large sum: differs.
        let d = answer(vec!["x", "y"], vec![Some(1e10 + 1e5), Some(0.05)]);
        assert!(compare(&a, &d).is_err());
    }

    #[test]
    fn ties_in_another_order_agree_but_other_rows_do_not() {
        let a = answer(vec!["x", "y", "z"], vec![Some(1.0), Some(1.0), None]);
        let b = answer(vec!["y", "x", "z"], vec![Some(1.0), Some(1.0), None]);
        assert_eq!(compare(&a, &b), Ok(()));
        let c = answer(vec!["x", "y", "w"], vec![Some(1.0), Some(1.0), None]);
        assert!(
            compare(&a, &c)
                .unwrap_err()
                .contains("row 3 is ('w', NULL)")
        );
        let d = answer(vec!["x", "y"], vec![Some(1.0), Some(1.0)]);
        assert_eq!(compare(&a, &d).unwrap_err(), "2 rows where 3 were expected");
        let e = answer(vec!["x", "y", "z"], vec![Some(1.0), Some(1.0), Some(0.0)]);
        assert!(compare(&a, &e).is_err(), "NULL is not 0");
    }
}

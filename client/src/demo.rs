//! The demo retail dataset, written the way raw sources arrive: customers as CSV,
//! products as JSON lines, sales transactions as several CSV files, returns as Parquet.
//! Like real raw data it has duplicate rows, missing values and malformed ones (bad
//! emails, impossible dates, quantities spelled out in words, unknown customers).
//! `quarry demo` then builds the medallion on an embedded cluster
//! (`examples/medallion.sql`: bronze tables from the files, silver tables typed,
//! deduplicated and filtered, gold aggregates) and runs a query over gold.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cli::DemoArgs;
use crate::connection::Connection;
use crate::embedded::{EmbeddedCluster, EmbeddedOptions};
use crate::output::Format;
use crate::shell::Shell;
use crate::split::script_statements;

const CITIES: [&str; 10] = [
    "Lisbon", "Porto", "Madrid", "Berlin", "Paris", "Lyon", "Milan", "Vienna", "Prague", "Warsaw",
];
const SEGMENTS: [&str; 3] = ["consumer", "small business", "enterprise"];
const CATEGORIES: [&str; 6] = [
    "books",
    "electronics",
    "garden",
    "grocery",
    "toys",
    "clothing",
];
const STORES: [&str; 5] = ["online", "lisbon-01", "berlin-02", "paris-01", "madrid-03"];
const PAYMENTS: [&str; 4] = ["card", "cash", "transfer", "voucher"];
const REASONS: [&str; 4] = ["damaged", "wrong size", "not as described", "changed mind"];
const FIRST: [&str; 8] = [
    "Ana", "Bruno", "Carla", "David", "Eva", "Filipe", "Greta", "Hugo",
];
const LAST: [&str; 8] = [
    "Silva", "Meyer", "Rossi", "Novak", "Dubois", "Garcia", "Kowalski", "Weber",
];
/// Microseconds from the Unix epoch to 2025-01-01.
const YEAR_2025_US: i64 = 1_735_689_600_000_000;
const YEAR_US: i64 = 365 * 24 * 3600 * 1_000_000;

/// How many files and rows were written.
pub struct Written {
    pub customers: usize,
    pub products: usize,
    pub transactions: usize,
    pub returns: usize,
}

/// Writes the dataset, builds the medallion from it on an embedded cluster, runs a
/// query over gold, and prints what to try next.
pub async fn run(args: &DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let landing = args.warehouse.join("landing");
    let written = write(&landing, args.transactions, args.seed)?;
    println!(
        "Wrote the demo dataset to {}:\n  customers.csv        {} rows\n  products.json        {} rows\n  transactions/*.csv   {} rows in 4 files\n  returns.parquet      {} rows\n",
        landing.display(),
        written.customers,
        written.products,
        written.transactions,
        written.returns
    );
    let cluster = EmbeddedCluster::start(EmbeddedOptions::local(&args.warehouse, 2)).await?;
    let conn = Connection::connect(&cluster.flight_url(), "demo", "").await?;
    println!("Building the medallion (examples/medallion.sql):");
    for sql in script_statements(MEDALLION) {
        let table = built(&sql).unwrap_or_else(|| "?".into());
        let started = Instant::now();
        let batches: Vec<RecordBatch> = conn.query(&sql).await?;
        let count = loaded(&batches)?;
        println!(
            "  {table:<28} {count:>28}  {:>6.2} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!();
    let mut shell = Shell::new(conn, Format::Table);
    println!("The landing rows COPY INTO could not load:\nquarry> {REJECTS};");
    if !shell.run_batch(&[REJECTS.to_string()]).await {
        return Err("the rejects query failed".into());
    }
    println!("quarry> {GOLD_QUERY};");
    if !shell.run_batch(&[GOLD_QUERY.to_string()]).await {
        return Err("the demo query failed".into());
    }
    println!();
    let next = NEXT
        .replace("{quarry}", &this_binary())
        .replace("{warehouse}", &args.warehouse.display().to_string());
    println!("{next}");
    Ok(())
}

/// The medallion the demo builds.
const MEDALLION: &str = include_str!("../../examples/medallion.sql");

/// The query the demo runs over gold.
const GOLD_QUERY: &str = "SELECT store, sum(orders) AS orders, round(sum(revenue), 2) AS revenue\n  FROM gold.daily_sales\n WHERE day >= DATE '2025-07-01'\n GROUP BY store ORDER BY revenue DESC";

/// The rows of the demo's rejected landing rows the demo shows.
const REJECTS: &str =
    "SELECT file, line, reason FROM bronze.transactions_rejects\n ORDER BY file, line LIMIT 4";

/// The rows a statement of the script wrote: the first column of its result, or a
/// `COPY INTO`'s rows loaded (and rejected).
fn loaded(batches: &[RecordBatch]) -> Result<String, Box<dyn std::error::Error>> {
    let rows = crate::output::rows(batches)?;
    let Some(row) = rows.first() else {
        return Ok(String::new());
    };
    let schema = batches[0].schema();
    let column = |name: &str| schema.index_of(name).ok().map(|i| row[i].clone());
    Ok(match (column("rows_loaded"), column("rows_rejected")) {
        (Some(rows), Some(rejected)) => format!("{rows} rows, {rejected} rejected"),
        _ => format!("{} rows", row.first().cloned().unwrap_or_default()),
    })
}

/// What a statement of the script builds: the table of a `CREATE ... TABLE name AS`
/// or of a `COPY INTO name`,
/// or the reflection of an `ALTER TABLE t CREATE|DROP ... REFLECTION [IF EXISTS] name`.
fn built(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let after = |word: &str| {
        let at = words.iter().position(|w| w.eq_ignore_ascii_case(word))?;
        words[at + 1..]
            .iter()
            .find(|w| {
                !["IF", "NOT", "EXISTS"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
            })
            .copied()
    };
    match (after("REFLECTION"), words.first()) {
        (Some(name), _) => Some(format!("reflection {name}")),
        (None, Some(first)) if first.eq_ignore_ascii_case("COPY") => {
            after("INTO").map(str::to_string)
        }
        (None, _) => after("TABLE").map(|t| t.trim_end_matches('(').to_string()),
    }
}

/// How to run this binary from the working directory: `target/release/quarry` after
/// `cargo run`, `quarry` when it is on the PATH.
fn this_binary() -> String {
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    match (exe, cwd) {
        (Some(exe), Some(cwd)) => match exe.strip_prefix(&cwd) {
            Ok(relative) => relative.display().to_string(),
            Err(_) => "quarry".into(),
        },
        _ => "quarry".into(),
    }
}

const NEXT: &str = "Open the shell and explore (paths are relative to the warehouse):
  {quarry} --warehouse {warehouse}
  quarry> SHOW TABLES IN gold;
  quarry> SELECT segment, sum(customers), sum(revenue) FROM gold.customer_segments GROUP BY segment;
  quarry> SELECT count(*) FROM bronze.customers WHERE email NOT LIKE '%@%';
  quarry> SELECT reason, count(*) FROM bronze.transactions_rejects GROUP BY reason;
  quarry> SELECT * FROM 'landing/customers.csv' LIMIT 5;
  quarry> SELECT name, status, rows, queries_served FROM sys.reflections;
  quarry> EXPLAIN SELECT date_trunc('month', day) AS month, sum(revenue) FROM gold.daily_sales GROUP BY 1;
  quarry> EXPLAIN ANALYZE SELECT store, sum(revenue) FROM gold.daily_sales
          WHERE day BETWEEN DATE '2025-03-01' AND DATE '2025-03-31' GROUP BY store;";

/// Writes the four sources under `landing` from a seeded generator.
pub fn write(
    landing: &Path,
    transactions: usize,
    seed: u64,
) -> Result<Written, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(landing.join("transactions"))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let customers = write_customers(&landing.join("customers.csv"), &mut rng)?;
    let products = write_products(&landing.join("products.json"), &mut rng)?;
    let rows = write_transactions(&landing.join("transactions"), transactions, &mut rng)?;
    let returns = write_returns(&landing.join("returns.parquet"), transactions, &mut rng)?;
    Ok(Written {
        customers,
        products,
        transactions: rows,
        returns,
    })
}

const CUSTOMERS: usize = 2_000;
const PRODUCTS: usize = 300;

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn write_customers(path: &Path, rng: &mut StdRng) -> Result<usize, Box<dyn std::error::Error>> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record([
        "customer_id",
        "name",
        "email",
        "city",
        "signup_date",
        "segment",
    ])?;
    let mut rows = 0;
    for id in 1..=CUSTOMERS {
        let (first, last) = (pick(rng, &FIRST), pick(rng, &LAST));
        let email = match rng.random_range(0..100) {
            0..=2 => String::new(),
            3 => format!(
                "{}.{}-at-example.com",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            _ => format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase(),
                id
            ),
        };
        // Id 2 is malformed on purpose: schema inference samples the first rows, and
        // raw columns holding bad values must come out as text, as in real exports.
        let signup = match if id == 2 { 0 } else { rng.random_range(0..100) } {
            0 => "n/a".to_string(),
            1 => "2024-02-31".to_string(),
            _ => format!(
                "202{}-{:02}-{:02}",
                rng.random_range(0..5),
                rng.random_range(1..13),
                rng.random_range(1..29)
            ),
        };
        let city = if rng.random_range(0..50) == 0 {
            ""
        } else {
            pick(rng, &CITIES)
        };
        let record = [
            id.to_string(),
            format!("{first} {last}"),
            email,
            city.to_string(),
            signup,
            pick(rng, &SEGMENTS).to_string(),
        ];
        let copies = if rng.random_range(0..50) == 0 { 2 } else { 1 };
        for _ in 0..copies {
            out.write_record(&record)?;
            rows += 1;
        }
    }
    out.flush()?;
    Ok(rows)
}

fn write_products(path: &Path, rng: &mut StdRng) -> Result<usize, Box<dyn std::error::Error>> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut rows = 0;
    for id in 1..=PRODUCTS {
        let category = pick(rng, &CATEGORIES);
        let price = match rng.random_range(0..100) {
            0 => serde_json::Value::Null,
            1 => serde_json::json!(-rng.random_range(1.0..50.0_f64).round()),
            _ => serde_json::json!((rng.random_range(1.0..500.0_f64) * 100.0).round() / 100.0),
        };
        let line = serde_json::json!({
            "product_id": id,
            "name": format!("{category} item {id}"),
            "category": category,
            "price": price,
            "sku": format!("SKU-{id:05}"),
        })
        .to_string();
        let copies = if rng.random_range(0..40) == 0 { 2 } else { 1 };
        for _ in 0..copies {
            writeln!(out, "{line}")?;
            rows += 1;
        }
    }
    out.flush()?;
    Ok(rows)
}

/// `YYYY-MM-DD HH:MM:SS` for microseconds since the epoch, via Arrow's own conversion.
fn timestamp(us: i64) -> String {
    let array = TimestampMicrosecondArray::from(vec![us]);
    let text = arrow::util::display::ArrayFormatter::try_new(&array, &Default::default())
        .map(|f| f.value(0).to_string())
        .unwrap_or_default();
    text.replace('T', " ")
}

fn write_transactions(
    dir: &Path,
    count: usize,
    rng: &mut StdRng,
) -> Result<usize, Box<dyn std::error::Error>> {
    const FILES: usize = 4;
    let mut rows = 0;
    for file in 0..FILES {
        let mut out = csv::Writer::from_path(dir.join(format!("part-{file:04}.csv")))?;
        out.write_record([
            "transaction_id",
            "customer_id",
            "product_id",
            "quantity",
            "unit_price",
            "sold_at",
            "store",
            "payment_method",
        ])?;
        let (start, end) = (count * file / FILES, count * (file + 1) / FILES);
        for id in start + 1..=end {
            // The first rows of each file carry the malformed values (see customers).
            let early = id - start;
            let customer = if rng.random_range(0..200) == 0 {
                CUSTOMERS + rng.random_range(1..500)
            } else {
                rng.random_range(1..=CUSTOMERS)
            };
            let quantity = match if early == 2 {
                0
            } else {
                rng.random_range(0..200)
            } {
                0 => "two".to_string(),
                1 => String::new(),
                _ => rng.random_range(1..6).to_string(),
            };
            let sold_at = if early == 3 || rng.random_range(0..500) == 0 {
                "40/13/2025 25:61".to_string()
            } else {
                timestamp(YEAR_2025_US + rng.random_range(0..YEAR_US) / 1_000_000 * 1_000_000)
            };
            let record = [
                id.to_string(),
                customer.to_string(),
                rng.random_range(1..=PRODUCTS).to_string(),
                quantity,
                format!("{:.2}", rng.random_range(1.0..500.0_f64)),
                sold_at,
                pick(rng, &STORES).to_string(),
                pick(rng, &PAYMENTS).to_string(),
            ];
            let copies = if rng.random_range(0..100) == 0 { 2 } else { 1 };
            for _ in 0..copies {
                out.write_record(&record)?;
                rows += 1;
            }
        }
        out.flush()?;
    }
    Ok(rows)
}

fn write_returns(
    path: &Path,
    transactions: usize,
    rng: &mut StdRng,
) -> Result<usize, Box<dyn std::error::Error>> {
    let n = (transactions / 50).max(1);
    let mut transaction_ids = Vec::with_capacity(n);
    let mut returned_at = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut refunds = Vec::with_capacity(n);
    for _ in 0..n {
        transaction_ids.push(rng.random_range(1..=transactions.max(1) as i64));
        returned_at.push(YEAR_2025_US + rng.random_range(0..YEAR_US));
        reasons.push((rng.random_range(0..20) != 0).then(|| pick(rng, &REASONS)));
        refunds.push(
            (rng.random_range(0..30) != 0)
                .then(|| (rng.random_range(1.0..500.0_f64) * 100.0).round() / 100.0),
        );
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("return_id", DataType::Int64, false),
        Field::new("transaction_id", DataType::Int64, false),
        Field::new(
            "returned_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("reason", DataType::Utf8, true),
        Field::new("refund_amount", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=n as i64)),
            Arc::new(Int64Array::from(transaction_ids)),
            Arc::new(TimestampMicrosecondArray::from(returned_at)),
            Arc::new(StringArray::from(reasons)),
            Arc::new(Float64Array::from(refunds)),
        ],
    )?;
    let mut writer = ArrowWriter::try_new(File::create(path)?, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_writes_the_same_files() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let wa = write(a.path(), 1000, 7).unwrap();
        write(b.path(), 1000, 7).unwrap();
        assert!(wa.transactions >= 1000 && wa.customers >= CUSTOMERS);
        for file in [
            "customers.csv",
            "products.json",
            "transactions/part-0002.csv",
        ] {
            assert_eq!(
                std::fs::read(a.path().join(file)).unwrap(),
                std::fs::read(b.path().join(file)).unwrap()
            );
        }
        let sample = std::fs::read_to_string(a.path().join("transactions/part-0000.csv")).unwrap();
        assert!(sample.lines().nth(1).unwrap().contains("2025-"), "{sample}");
    }
}

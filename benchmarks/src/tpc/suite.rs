//! The benchmark suites: TPC-H (22 queries, one file each in `benchmarks/tpch/queries/`,
//! with the specification's validation parameters; Q11's FRACTION depends on the scale
//! factor, 0.0001 / SF, and is filled in here; Q15's view is a common table expression)
//! and TPC-DS (99 queries in `benchmarks/tpcds/queries/`, as DuckDB's `tpcds` extension
//! gives them, with its parameters). Each names its tables and how its data is made.

use std::path::Path;

const TPCH_QUERIES: [&str; 22] = [
    include_str!("../../tpch/queries/q01.sql"),
    include_str!("../../tpch/queries/q02.sql"),
    include_str!("../../tpch/queries/q03.sql"),
    include_str!("../../tpch/queries/q04.sql"),
    include_str!("../../tpch/queries/q05.sql"),
    include_str!("../../tpch/queries/q06.sql"),
    include_str!("../../tpch/queries/q07.sql"),
    include_str!("../../tpch/queries/q08.sql"),
    include_str!("../../tpch/queries/q09.sql"),
    include_str!("../../tpch/queries/q10.sql"),
    include_str!("../../tpch/queries/q11.sql"),
    include_str!("../../tpch/queries/q12.sql"),
    include_str!("../../tpch/queries/q13.sql"),
    include_str!("../../tpch/queries/q14.sql"),
    include_str!("../../tpch/queries/q15.sql"),
    include_str!("../../tpch/queries/q16.sql"),
    include_str!("../../tpch/queries/q17.sql"),
    include_str!("../../tpch/queries/q18.sql"),
    include_str!("../../tpch/queries/q19.sql"),
    include_str!("../../tpch/queries/q20.sql"),
    include_str!("../../tpch/queries/q21.sql"),
    include_str!("../../tpch/queries/q22.sql"),
];

/// The TPC-H tables, smallest first.
const TPCH_TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// The query texts of `benchmarks/tpcds/queries/`, by number.
macro_rules! tpcds_queries {
    ($($n:literal),*) => {
        [$(include_str!(concat!("../../tpcds/queries/q", $n, ".sql"))),*]
    };
}

const TPCDS_QUERIES: [&str; 99] = tpcds_queries!(
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48",
    "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63", "64",
    "65", "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "80",
    "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94", "95", "96",
    "97", "98", "99"
);

/// The TPC-DS tables, dimensions first.
const TPCDS_TABLES: [&str; 24] = [
    "call_center",
    "catalog_page",
    "customer",
    "customer_address",
    "customer_demographics",
    "date_dim",
    "household_demographics",
    "income_band",
    "item",
    "promotion",
    "reason",
    "ship_mode",
    "store",
    "time_dim",
    "warehouse",
    "web_page",
    "web_site",
    "inventory",
    "catalog_returns",
    "store_returns",
    "web_returns",
    "catalog_sales",
    "web_sales",
    "store_sales",
];

/// The generator of TPC-DS data: DuckDB's `dsdgen` (the `tpcds` extension from PyPI).
pub const DSDGEN: &str = include_str!("../../tpcds/dsdgen.py");

/// The directory of `table`'s Parquet files under `data`, as SQL names it.
pub fn table_dir(data: &Path, table: &str) -> String {
    format!("{}/", data.join(table).display())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Suite {
    Tpch,
    Tpcds,
}

impl Suite {
    /// `TPC-H`, `TPC-DS`: how reports name it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Tpch => "TPC-H",
            Self::Tpcds => "TPC-DS",
        }
    }

    /// `tpch`, `tpcds`: the command, and the name of its directories and reports.
    pub fn key(self) -> &'static str {
        match self {
            Self::Tpch => "tpch",
            Self::Tpcds => "tpcds",
        }
    }

    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Tpch => &TPCH_TABLES,
            Self::Tpcds => &TPCDS_TABLES,
        }
    }

    fn texts(self) -> &'static [&'static str] {
        match self {
            Self::Tpch => &TPCH_QUERIES,
            Self::Tpcds => &TPCDS_QUERIES,
        }
    }

    /// How many queries the suite has.
    pub fn query_count(self) -> usize {
        self.texts().len()
    }

    /// The text of query `number` (from 1) at scale factor `sf`.
    pub fn sql(self, number: usize, sf: f64) -> String {
        let text = self.texts()[number - 1];
        match self {
            Self::Tpch => {
                let fraction = format!("{:.12}", 0.0001 / sf);
                let fraction = fraction.trim_end_matches('0').trim_end_matches('.');
                text.replace(":FRACTION", fraction)
            }
            Self::Tpcds => text.to_string(),
        }
    }

    /// Parses a selection such as `1-5,7,22` (or `all`) into query numbers, in order,
    /// without repeats.
    pub fn parse_selection(self, text: &str) -> Result<Vec<usize>, String> {
        let last = self.query_count();
        if text.trim() == "all" {
            return Ok((1..=last).collect());
        }
        let number = |s: &str| -> Result<usize, String> {
            match s.trim().trim_start_matches(['q', 'Q']).parse::<usize>() {
                Ok(n) if (1..=last).contains(&n) => Ok(n),
                _ => Err(format!(
                    "'{s}' is not a {} query number (1 to {last})",
                    self.title()
                )),
            }
        };
        let mut out = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let range = match part.split_once('-') {
                Some((a, b)) => number(a)?..=number(b)?,
                None => number(part)?..=number(part)?,
            };
            if range.is_empty() {
                return Err(format!("'{part}' is an empty range"));
            }
            out.extend(range.filter(|n| !out.contains(n)).collect::<Vec<_>>());
        }
        match out.is_empty() {
            true => Err("no queries selected".into()),
            false => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_q11_fraction_for_the_scale_factor() {
        let sql = |n, sf| Suite::Tpch.sql(n, sf);
        assert!(sql(11, 1.0).contains("* 0.0001\n"));
        assert!(sql(11, 10.0).contains("* 0.00001\n"));
        assert!(sql(11, 0.01).contains("* 0.01\n"));
        assert!(!sql(11, 1.0).contains(":FRACTION"));
        assert!(sql(1, 1.0).contains("from lineitem"));
    }

    #[test]
    fn tpcds_has_its_99_queries_over_its_tables() {
        assert_eq!(Suite::Tpcds.query_count(), 99);
        for n in 1..=99 {
            let sql = Suite::Tpcds.sql(n, 1.0);
            assert!(sql.starts_with(&format!("-- TPC-DS Q{n} ")), "Q{n}: {sql}");
            assert!(!sql.trim_end().ends_with(';'), "Q{n} ends with ';'");
        }
        assert!(Suite::Tpcds.sql(9, 1.0).contains("FROM reason"));
        assert!(Suite::Tpcds.tables().contains(&"store_sales"));
    }

    #[test]
    fn parses_selections() {
        let tpch = |s| Suite::Tpch.parse_selection(s);
        assert_eq!(tpch("1-3,q7,2").unwrap(), vec![1, 2, 3, 7]);
        assert_eq!(tpch("all").unwrap().len(), 22);
        assert!(tpch("0").unwrap_err().contains("'0'"));
        assert!(tpch("5-3").unwrap_err().contains("empty range"));
        assert!(
            tpch("23")
                .unwrap_err()
                .contains("TPC-H query number (1 to 22)")
        );
        assert_eq!(Suite::Tpcds.parse_selection("all").unwrap().len(), 99);
        assert_eq!(Suite::Tpcds.parse_selection("98-99").unwrap(), vec![98, 99]);
    }
}

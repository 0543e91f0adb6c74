//! The 22 TPC-H queries, one file each in `benchmarks/tpch/queries/`, with the
//! specification's validation parameters. Q11's FRACTION depends on the scale factor
//! (0.0001 / SF) and is filled in here; Q15's view is a common table expression.

const TEXTS: [&str; 22] = [
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
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// The text of query `number` (1 to 22) at scale factor `sf`.
pub fn sql(number: usize, sf: f64) -> String {
    let text = TEXTS[number - 1];
    let fraction = format!("{:.12}", 0.0001 / sf);
    let fraction = fraction.trim_end_matches('0').trim_end_matches('.');
    text.replace(":FRACTION", fraction)
}

/// Parses a selection such as `1-5,7,22` into query numbers, in order, without repeats.
pub fn parse_selection(text: &str) -> Result<Vec<usize>, String> {
    let number = |s: &str| -> Result<usize, String> {
        match s.trim().trim_start_matches(['q', 'Q']).parse::<usize>() {
            Ok(n) if (1..=22).contains(&n) => Ok(n),
            _ => Err(format!("'{s}' is not a TPC-H query number (1 to 22)")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_q11_fraction_for_the_scale_factor() {
        assert!(sql(11, 1.0).contains("* 0.0001\n"));
        assert!(sql(11, 10.0).contains("* 0.00001\n"));
        assert!(sql(11, 0.01).contains("* 0.01\n"));
        assert!(!sql(11, 1.0).contains(":FRACTION"));
        assert!(sql(1, 1.0).contains("from lineitem"));
    }

    #[test]
    fn parses_selections() {
        assert_eq!(parse_selection("1-3,q7,2").unwrap(), vec![1, 2, 3, 7]);
        assert_eq!(parse_selection("1-22").unwrap().len(), 22);
        assert!(parse_selection("0").unwrap_err().contains("'0'"));
        assert!(parse_selection("5-3").unwrap_err().contains("empty range"));
        assert!(parse_selection("23").is_err());
    }
}

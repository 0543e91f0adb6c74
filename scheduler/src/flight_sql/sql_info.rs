//! What Quarry tells Flight SQL clients about itself: the `GetSqlInfo` answers (server,
//! SQL syntax and capabilities; JDBC reads them all, Superset reads 0 to 3 and 504) and
//! the `GetXdbcTypeInfo` type list. Function lists come from DataFusion's own registry.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlOuterJoinsSupportLevel,
    SqlSupportedCaseSensitivity, SqlSupportedGroupBy, SqlSupportedResultSetConcurrency,
    SqlSupportedResultSetType, SqlSupportedSubqueries, SqlSupportedTransaction, SqlSupportedUnions,
    SqlSupportsConvert, SupportedSqlGrammar, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use tonic::Status;

/// The server's name, as clients show it.
pub const SERVER_NAME: &str = "Quarry";
/// The Arrow format version the server speaks.
const ARROW_VERSION: &str = "58";

static SQL_INFO: LazyLock<Result<SqlInfoData, String>> =
    LazyLock::new(|| build_sql_info().map_err(|e| e.to_string()));
static XDBC_TYPES: LazyLock<Result<XdbcTypeInfoData, String>> =
    LazyLock::new(|| build_xdbc_types().map_err(|e| e.to_string()));

/// The answers to `GetSqlInfo`, built once.
pub fn sql_info() -> Result<&'static SqlInfoData, Status> {
    SQL_INFO
        .as_ref()
        .map_err(|e| Status::internal(format!("Quarry's SqlInfo table is invalid: {e}")))
}

/// The answers to `GetXdbcTypeInfo`, built once.
pub fn xdbc_types() -> Result<&'static XdbcTypeInfoData, Status> {
    XDBC_TYPES
        .as_ref()
        .map_err(|e| Status::internal(format!("Quarry's XDBC type table is invalid: {e}")))
}

/// `SupportedAnsi92SqlGrammarLevel::ANSI92_ENTRY_SQL` (arrow-flight does not export it).
const ANSI92_ENTRY_SQL: i32 = 0;

/// A bitmask with the given bits set.
fn bits(flags: &[i32]) -> i32 {
    flags.iter().fold(0, |mask, bit| mask | (1 << bit))
}

fn build_sql_info() -> Result<SqlInfoData, arrow_flight::error::FlightError> {
    let mut info = SqlInfoDataBuilder::new();
    // Server.
    info.append(SqlInfo::FlightSqlServerName, SERVER_NAME);
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, ARROW_VERSION);
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    info.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    info.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    // SQL syntax.
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, true);
    info.append(SqlInfo::SqlDdlTable, true);
    info.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    info.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    info.append(SqlInfo::SqlKeywords, ALL_KEYWORDS);
    let functions = Functions::of_datafusion();
    info.append(SqlInfo::SqlNumericFunctions, functions.numeric);
    info.append(SqlInfo::SqlStringFunctions, functions.string);
    info.append(SqlInfo::SqlSystemFunctions, functions.system);
    info.append(SqlInfo::SqlDatetimeFunctions, functions.datetime);
    info.append(SqlInfo::SqlSearchStringEscape, "\\");
    info.append(SqlInfo::SqlExtraNameCharacters, "");
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsConvert, conversions());
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    info.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    info.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    info.append(
        SqlInfo::SqlSupportedGroupBy,
        bits(&[
            SqlSupportedGroupBy::SqlGroupByUnrelated as i32,
            SqlSupportedGroupBy::SqlGroupByBeyondSelect as i32,
        ]),
    );
    info.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    info.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    info.append(
        SqlInfo::SqlSupportedGrammar,
        bits(&[
            SupportedSqlGrammar::SqlMinimumGrammar as i32,
            SupportedSqlGrammar::SqlCoreGrammar as i32,
        ]),
    );
    info.append(SqlInfo::SqlAnsi92SupportedLevel, bits(&[ANSI92_ENTRY_SQL]));
    info.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    info.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32,
    );
    info.append(SqlInfo::SqlSchemaTerm, "schema");
    info.append(SqlInfo::SqlProcedureTerm, "procedure");
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    info.append(SqlInfo::SqlSchemasSupportedActions, 0i32);
    info.append(SqlInfo::SqlCatalogsSupportedActions, 0i32);
    info.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    info.append(SqlInfo::SqlSelectForUpdateSupported, false);
    info.append(SqlInfo::SqlStoredProceduresSupported, false);
    info.append(
        SqlInfo::SqlSupportedSubqueries,
        bits(&[
            SqlSupportedSubqueries::SqlSubqueriesInComparisons as i32,
            SqlSupportedSubqueries::SqlSubqueriesInExists as i32,
            SqlSupportedSubqueries::SqlSubqueriesInIns as i32,
        ]),
    );
    info.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    info.append(
        SqlInfo::SqlSupportedUnions,
        bits(&[
            SqlSupportedUnions::SqlUnion as i32,
            SqlSupportedUnions::SqlUnionAll as i32,
        ]),
    );
    // No limits on lengths and counts (0: none or unknown).
    for limit in
        (SqlInfo::SqlMaxBinaryLiteralLength as i32)..=(SqlInfo::SqlMaxUsernameLength as i32)
    {
        if let Ok(id) = SqlInfo::try_from(limit) {
            match id {
                SqlInfo::SqlMaxRowSizeIncludesBlobs => info.append(id, false),
                id => info.append(id, 0i64),
            }
        }
    }
    // No transactions: every statement commits on its own.
    info.append(
        SqlInfo::SqlDefaultTransactionIsolation,
        SqlSupportedTransaction::None as i32,
    );
    info.append(SqlInfo::SqlTransactionsSupported, false);
    info.append(SqlInfo::SqlSupportedTransactionsIsolationLevels, 0i32);
    info.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    info.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, false);
    info.append(
        SqlInfo::SqlSupportedResultSetTypes,
        bits(&[SqlSupportedResultSetType::SqlResultSetTypeForwardOnly as i32]),
    );
    let read_only =
        bits(&[SqlSupportedResultSetConcurrency::SqlResultSetConcurrencyReadOnly as i32]);
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        0i32,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        read_only,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        0i32,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
        0i32,
    );
    info.append(SqlInfo::SqlBatchUpdatesSupported, false);
    info.append(SqlInfo::SqlSavepointsSupported, false);
    info.append(SqlInfo::SqlNamedParametersSupported, false);
    info.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    info.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    info.build()
}

/// DataFusion's scalar functions by the section of its documentation they are in.
struct Functions {
    numeric: Vec<String>,
    string: Vec<String>,
    datetime: Vec<String>,
    system: Vec<String>,
}

impl Functions {
    fn of_datafusion() -> Self {
        let state = SessionStateBuilder::new().with_default_features().build();
        let mut functions = Self {
            numeric: vec![],
            string: vec![],
            datetime: vec![],
            system: vec![],
        };
        for (name, udf) in state.scalar_functions() {
            let Some(doc) = udf.documentation() else {
                continue;
            };
            let list = match doc.doc_section.label {
                "Math Functions" => &mut functions.numeric,
                "String Functions" => &mut functions.string,
                "Time and Date Functions" => &mut functions.datetime,
                "Conditional Functions" | "Other Functions" => &mut functions.system,
                _ => continue,
            };
            list.push(name.to_uppercase());
        }
        for list in [
            &mut functions.numeric,
            &mut functions.string,
            &mut functions.datetime,
            &mut functions.system,
        ] {
            list.sort();
        }
        functions
    }
}

/// Which types `CAST` converts between, by `SqlSupportsConvert` id.
fn conversions() -> BTreeMap<i32, Vec<i32>> {
    use SqlSupportsConvert as C;
    let numeric = [
        C::SqlConvertBigint,
        C::SqlConvertDecimal,
        C::SqlConvertFloat,
        C::SqlConvertInteger,
        C::SqlConvertNumeric,
        C::SqlConvertReal,
        C::SqlConvertSmallint,
        C::SqlConvertTinyint,
    ];
    let text = [
        C::SqlConvertChar,
        C::SqlConvertVarchar,
        C::SqlConvertLongvarchar,
    ];
    let times = [C::SqlConvertDate, C::SqlConvertTime, C::SqlConvertTimestamp];
    let ids = |types: &[&[C]]| -> Vec<i32> {
        let mut ids: Vec<i32> = types
            .iter()
            .flat_map(|t| t.iter().map(|c| *c as i32))
            .collect();
        ids.sort();
        ids
    };
    let mut map = BTreeMap::new();
    for from in numeric.iter().chain([&C::SqlConvertBit]) {
        map.insert(*from as i32, ids(&[&numeric, &text, &[C::SqlConvertBit]]));
    }
    for from in &text {
        map.insert(
            *from as i32,
            ids(&[&numeric, &text, &times, &[C::SqlConvertBit]]),
        );
    }
    map.insert(
        C::SqlConvertDate as i32,
        ids(&[&text, &[C::SqlConvertDate, C::SqlConvertTimestamp]]),
    );
    map.insert(
        C::SqlConvertTime as i32,
        ids(&[&text, &[C::SqlConvertTime]]),
    );
    map.insert(C::SqlConvertTimestamp as i32, ids(&[&text, &times]));
    let binary = [
        C::SqlConvertBinary,
        C::SqlConvertVarbinary,
        C::SqlConvertLongvarbinary,
    ];
    for from in &binary {
        map.insert(*from as i32, ids(&[&binary, &text]));
    }
    map
}

/// One row of the type list.
fn xdbc(name: &str, data_type: XdbcDataType, column_size: Option<i32>) -> XdbcTypeInfo {
    let numeric = column_size.is_some()
        && !matches!(
            data_type,
            XdbcDataType::XdbcVarchar
                | XdbcDataType::XdbcVarbinary
                | XdbcDataType::XdbcDate
                | XdbcDataType::XdbcTime
                | XdbcDataType::XdbcTimestamp
        );
    let quoted = matches!(
        data_type,
        XdbcDataType::XdbcVarchar
            | XdbcDataType::XdbcDate
            | XdbcDataType::XdbcTime
            | XdbcDataType::XdbcTimestamp
    );
    let (sql_data_type, datetime_subcode) = match data_type {
        XdbcDataType::XdbcDate => (
            XdbcDataType::XdbcDatetime,
            Some(XdbcDatetimeSubcode::XdbcSubcodeYear),
        ),
        XdbcDataType::XdbcTime => (
            XdbcDataType::XdbcDatetime,
            Some(XdbcDatetimeSubcode::XdbcSubcodeTime),
        ),
        XdbcDataType::XdbcTimestamp => (
            XdbcDataType::XdbcDatetime,
            Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
        ),
        other => (other, None),
    };
    XdbcTypeInfo {
        type_name: name.to_string(),
        data_type,
        column_size,
        literal_prefix: quoted.then(|| "'".to_string()),
        literal_suffix: quoted.then(|| "'".to_string()),
        create_params: (data_type == XdbcDataType::XdbcDecimal)
            .then(|| vec!["precision".to_string(), "scale".to_string()]),
        nullable: Nullable::NullabilityNullable,
        case_sensitive: data_type == XdbcDataType::XdbcVarchar,
        searchable: if data_type == XdbcDataType::XdbcVarchar {
            Searchable::Full
        } else {
            Searchable::Basic
        },
        unsigned_attribute: numeric.then_some(false),
        fixed_prec_scale: data_type == XdbcDataType::XdbcDecimal,
        auto_increment: numeric.then_some(false),
        local_type_name: Some(name.to_string()),
        minimum_scale: (data_type == XdbcDataType::XdbcDecimal).then_some(0),
        maximum_scale: (data_type == XdbcDataType::XdbcDecimal).then_some(38),
        sql_data_type,
        datetime_subcode,
        num_prec_radix: numeric.then_some(10),
        interval_precision: None,
    }
}

fn build_xdbc_types() -> Result<XdbcTypeInfoData, arrow_flight::error::FlightError> {
    use XdbcDataType as X;
    let mut types = XdbcTypeInfoDataBuilder::new();
    for info in [
        xdbc("BOOLEAN", X::XdbcBit, Some(1)),
        xdbc("TINYINT", X::XdbcTinyint, Some(3)),
        xdbc("SMALLINT", X::XdbcSmallint, Some(5)),
        xdbc("INTEGER", X::XdbcInteger, Some(10)),
        xdbc("BIGINT", X::XdbcBigint, Some(19)),
        xdbc("REAL", X::XdbcReal, Some(7)),
        xdbc("DOUBLE", X::XdbcDouble, Some(15)),
        xdbc("DECIMAL", X::XdbcDecimal, Some(38)),
        xdbc("VARCHAR", X::XdbcVarchar, Some(i32::MAX)),
        xdbc("VARBINARY", X::XdbcVarbinary, Some(i32::MAX)),
        xdbc("DATE", X::XdbcDate, Some(10)),
        xdbc("TIME", X::XdbcTime, Some(18)),
        xdbc("TIMESTAMP", X::XdbcTimestamp, Some(29)),
    ] {
        types.append(info);
    }
    types.build()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::UInt32Type;

    use super::*;

    #[test]
    fn tables_build_and_answer_what_clients_read() {
        // Superset indexes these directly; JDBC reads every id.
        let batch = sql_info()
            .unwrap()
            .record_batch([0, 1, 2, 3, 504, 525])
            .unwrap();
        let ids: Vec<u32> = batch
            .column(0)
            .as_primitive::<UInt32Type>()
            .values()
            .to_vec();
        assert_eq!(ids, [0, 1, 2, 3, 504, 525]);
        let all = sql_info().unwrap().record_batch(Vec::<u32>::new()).unwrap();
        assert!(all.num_rows() > 80, "{} ids", all.num_rows());
        let functions = Functions::of_datafusion();
        assert!(functions.numeric.contains(&"ABS".to_string()));
        assert!(functions.string.contains(&"UPPER".to_string()));
        assert!(functions.datetime.contains(&"DATE_TRUNC".to_string()));
        let types = xdbc_types().unwrap().record_batch(None).unwrap();
        assert_eq!(types.num_rows(), 13);
        assert_eq!(types.column(0).len(), 13);
    }
}

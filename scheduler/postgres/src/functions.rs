//! PostgreSQL's session information functions, registered in each connection's session:
//! `version()`, `current_database()`, `current_schema()`, `session_user`,
//! `current_user`, `current_setting(name)`.
//!
//! Their values are fixed for the length of a statement, so the planner replaces each
//! call with its value (`simplify`): no executor needs to know them.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::connection::PgConnection;
use quarry_scheduler::names::CATALOG;
use quarry_scheduler::session::current_schema;

/// Registers the session functions in `connection`'s session.
pub fn register(connection: &Arc<PgConnection>) {
    for (name, kind, aliases) in [
        ("version", Kind::Version, vec![]),
        ("current_database", Kind::Database, vec!["current_catalog"]),
        ("current_schema", Kind::Schema, vec![]),
        (
            "session_user",
            Kind::User,
            vec!["current_user", "current_role", "user"],
        ),
        ("current_setting", Kind::Setting, vec![]),
    ] {
        let function = SessionFunction {
            name,
            aliases: aliases.into_iter().map(String::from).collect(),
            signature: match kind {
                Kind::Setting => Signature::exact(vec![DataType::Utf8], Volatility::Stable),
                _ => Signature::nullary(Volatility::Stable),
            },
            kind,
            connection: Arc::downgrade(connection),
        };
        connection
            .session
            .register_udf(ScalarUDF::new_from_impl(function));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Version,
    Database,
    Schema,
    User,
    Setting,
}

/// A function whose value comes from the connection.
#[derive(Debug)]
struct SessionFunction {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    kind: Kind,
    connection: Weak<PgConnection>,
}

impl SessionFunction {
    fn connection(&self) -> Result<Arc<PgConnection>> {
        match self.connection.upgrade() {
            Some(c) => Ok(c),
            None => exec_err!("{}(): the connection has closed", self.name),
        }
    }

    /// The function's value; `setting` is the argument of `current_setting`.
    fn value(&self, setting: Option<&str>) -> Result<String> {
        let connection = self.connection()?;
        Ok(match self.kind {
            Kind::Version => format!(
                "PostgreSQL 16.6 (Quarry {}) on {}, compiled by rustc",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH
            ),
            Kind::Database => CATALOG.to_string(),
            Kind::Schema => current_schema(&connection.session),
            Kind::User => connection.user.clone(),
            Kind::Setting => {
                let name = setting.unwrap_or_default();
                match (name, connection.settings.get(name)) {
                    (n, _) if n.eq_ignore_ascii_case("search_path") => {
                        current_schema(&connection.session)
                    }
                    (_, Some(value)) => value,
                    (_, None) => {
                        return plan_err!("unrecognized configuration parameter \"{name}\"");
                    }
                }
            }
        })
    }
}

impl PartialEq for SessionFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Weak::ptr_eq(&self.connection, &other.connection)
    }
}

impl Eq for SessionFunction {}

impl Hash for SessionFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for SessionFunction {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let setting = match args.first() {
            None => None,
            Some(Expr::Literal(ScalarValue::Utf8(Some(name)), _)) => Some(name.clone()),
            Some(_) => return Ok(ExprSimplifyResult::Original(args)),
        };
        let value = self.value(setting.as_deref())?;
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            ScalarValue::Utf8(Some(value)),
            None,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(names) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                self.value(None)?,
            ))));
        };
        let names = names.to_array(args.number_rows)?;
        let names = names.as_string::<i32>();
        let values = (0..names.len())
            .map(|i| match names.is_valid(i) {
                true => self.value(Some(names.value(i))).map(Some),
                false => Ok(None),
            })
            .collect::<Result<StringArray>>()?;
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

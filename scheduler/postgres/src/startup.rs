//! Logging in: the startup message, authentication (trust, cleartext password, MD5 or
//! SCRAM-SHA-256), the settings announced to the client (`ParameterStatus`), and a new
//! Quarry session for the connection.
//!
//! Until Quarry has users, every user name is accepted; with a password method the
//! client must know the one password the server was started with.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::md5pass::{Md5PasswordAuth, hash_md5_password};
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, LoginInfo, Password, ServerParameterProvider,
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, METADATA_DATABASE, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::connection::{Connections, PgConnection};
use super::error::pg_error;
use super::information_schema::PostgresInformationSchema;
use super::operators::QualifiedOperators;
use super::pg_catalog::with_pg_catalog;
use super::settings::{ANNOUNCED, Settings};
use super::type_names::PostgresTypes;
use super::{catalog_functions, functions};
use quarry_scheduler::names::CATALOG;
use quarry_scheduler::service::QueryService;
use quarry_scheduler::session::SessionExtensions;

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// No password asked.
    #[default]
    Trust,
    /// The password in clear (use with TLS).
    Password,
    /// MD5 challenge and response.
    Md5,
    /// SCRAM-SHA-256.
    ScramSha256,
}

impl std::str::FromStr for AuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "trust" => Ok(Self::Trust),
            "password" | "cleartext" => Ok(Self::Password),
            "md5" => Ok(Self::Md5),
            "scram-sha-256" | "scram" => Ok(Self::ScramSha256),
            other => Err(format!(
                "unknown authentication method '{other}': use trust, password, md5 or scram-sha-256"
            )),
        }
    }
}

/// The login step of every connection.
pub struct Startup {
    service: Arc<QueryService>,
    connections: Arc<Connections>,
    driver: AuthDriver<Announcer>,
    /// The mechanism passwords are checked with; `None` trusts everyone.
    mechanism: Option<Arc<dyn AuthMechanismFactory>>,
}

impl Startup {
    /// Logs clients in with `method`, checking `password` unless the method is trust.
    pub fn new(
        service: Arc<QueryService>,
        connections: Arc<Connections>,
        method: AuthMethod,
        password: Option<String>,
    ) -> Result<Self, String> {
        let source = |method| {
            let password = password.clone().ok_or_else(|| {
                "a password authentication method needs the server's password (--pg-password)"
                    .to_string()
            })?;
            Ok::<_, String>(Arc::new(SharedPassword { method, password }))
        };
        let mechanism: Option<Arc<dyn AuthMechanismFactory>> = match method {
            AuthMethod::Trust => None,
            AuthMethod::Password => Some(Arc::new(CleartextPasswordAuth::new(source(method)?))),
            AuthMethod::Md5 => Some(Arc::new(Md5PasswordAuth::new(source(method)?))),
            AuthMethod::ScramSha256 => {
                let source: Arc<dyn AuthSource> = source(method)?;
                Some(Arc::new(ScramAuth::new(source)))
            }
        };
        Ok(Self {
            service,
            connections,
            driver: AuthDriver::new(Announcer),
            mechanism,
        })
    }

    /// Creates the connection's session, then tells the client it is in.
    async fn log_in<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let startup = client
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>();
        let settings = Arc::new(Settings::new(
            &user,
            startup.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ));
        let session = self
            .service
            .new_session_with(
                |lake| with_pg_catalog(lake, Arc::clone(&settings), user.clone()),
                &planners(),
            )
            .await
            .map_err(pg_error)?;
        let connection = Arc::new(PgConnection::new(session, user, settings));
        functions::register(&connection);
        catalog_functions::register(&connection.session, &connection.user);
        client.session_extensions().insert(Arc::clone(&connection));
        self.driver.complete_authentication(client, None).await?;
        let (pid, secret) = client.pid_and_secret_key();
        let registration = self.connections.register(pid, &secret, &connection);
        client.session_extensions().insert(registration);
        tracing::debug!(user = %connection.user, addr = %client.socket_addr(), "PostgreSQL client logged in");
        Ok(())
    }
}

/// DataFusion's planner hooks for PostgreSQL's spellings, in every PostgreSQL session.
fn planners() -> SessionExtensions {
    SessionExtensions::default()
        .with_type_planner(Arc::new(PostgresTypes))
        .with_relation_planner(Arc::new(PostgresInformationSchema))
        .with_expr_planner(Arc::new(QualifiedOperators))
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                check_database(client)?;
                if client.metadata().get(METADATA_USER).is_none() {
                    return Err(PgWireError::UserNameRequired);
                }
                match &self.mechanism {
                    None => self.log_in(client).await,
                    Some(mechanism) => {
                        let mechanism = mechanism.create();
                        self.driver.begin_authentication(client, mechanism).await?;
                        Ok(())
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                match self.driver.advance_authentication(client, message).await? {
                    AuthOutcome::Authenticated { final_message, .. } => {
                        if let Some(message) = final_message {
                            use futures::SinkExt;
                            client
                                .send(PgWireBackendMessage::Authentication(message))
                                .await?;
                        }
                        self.log_in(client).await
                    }
                    AuthOutcome::InProgress => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// Quarry serves one database, `quarry`; a client that names none gets it.
fn check_database(client: &impl ClientInfo) -> PgWireResult<()> {
    match client.metadata().get(METADATA_DATABASE) {
        None => Ok(()),
        Some(db) if db == CATALOG => Ok(()),
        Some(db) => Err(PgWireError::UserError(Box::new({
            let mut info = pgwire::error::ErrorInfo::new(
                "FATAL".into(),
                "3D000".into(),
                format!("database \"{db}\" does not exist"),
            );
            info.hint = Some(format!(
                "Quarry serves one database: connect to \"{CATALOG}\""
            ));
            info
        }))),
    }
}

/// Announces the connection's settings once it has logged in.
struct Announcer;

impl ServerParameterProvider for Announcer {
    fn server_parameters<C>(&self, client: &C) -> Option<std::collections::HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let connection = PgConnection::of(client).ok()?;
        Some(
            ANNOUNCED
                .iter()
                .filter_map(|name| Some((name.to_string(), connection.settings.get(name)?)))
                .collect(),
        )
    }
}

/// The one password of the server, for any user name, in the form `method` checks.
#[derive(Debug)]
struct SharedPassword {
    method: AuthMethod,
    password: String,
}

#[async_trait]
impl AuthSource for SharedPassword {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        Ok(match self.method {
            AuthMethod::Md5 => {
                let salt = rand::random::<[u8; 4]>().to_vec();
                let hash = hash_md5_password(user, &self.password, &salt);
                Password::new(Some(salt), hash.into_bytes())
            }
            AuthMethod::ScramSha256 => {
                let salt = rand::random::<[u8; 16]>().to_vec();
                let salted = gen_salted_password(&self.password, &salt, SCRAM_ITERATIONS);
                Password::new(Some(salt), salted)
            }
            AuthMethod::Password | AuthMethod::Trust => {
                Password::new(None, self.password.clone().into_bytes())
            }
        })
    }
}

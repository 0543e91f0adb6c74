//! Logging in and sessions. `Handshake` takes basic auth (an `authorization: Basic ..`
//! header, as ADBC, JDBC and pyarrow send it, or a `BasicAuth` payload) and answers
//! with a bearer token in the `authorization` header and the payload. The token names a
//! session of its own; later calls carry `authorization: Bearer <token>`. Every user is
//! accepted until Quarry has users. Calls without a token share one anonymous session.

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::{BasicAuth, HandshakeRequest};
use base64::Engine;
use base64::alphabet::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status, Streaming};

use crate::error::ErrorKind;
use crate::service::QueryService;

/// Sessions kept at most; the least recently used go first, and their clients log in again.
const MAX_SESSIONS: u64 = 10_000;
/// A session unused for this long is forgotten; its client must log in again.
const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

/// The sessions of logged-in clients, by token.
#[derive(Clone)]
pub struct Sessions {
    service: Arc<QueryService>,
    by_token: moka::sync::Cache<String, Arc<SessionContext>>,
    anonymous: Arc<tokio::sync::OnceCell<Arc<SessionContext>>>,
}

impl Sessions {
    pub fn new(service: Arc<QueryService>) -> Self {
        Self {
            service,
            by_token: moka::sync::Cache::builder()
                .time_to_idle(SESSION_IDLE_TIMEOUT)
                .max_capacity(MAX_SESSIONS)
                .build(),
            anonymous: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// Logs a client in and returns the token of its new session.
    pub async fn log_in(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<String, Status> {
        let from_header = basic_credentials(request.metadata())?;
        let user = match from_header {
            Some((user, _password)) => user,
            None => {
                let mut messages = request.into_inner();
                let payload = match messages.next().await {
                    Some(message) => message?.payload,
                    None => Default::default(),
                };
                BasicAuth::decode(payload)
                    .map(|auth| auth.username)
                    .unwrap_or_default()
            }
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.by_token
            .insert(token.clone(), self.service.new_session().await);
        tracing::info!(user = %user, "client logged in");
        Ok(token)
    }

    /// The session the request's bearer token names, or the anonymous session when it
    /// carries none.
    pub async fn session<T>(&self, request: &Request<T>) -> Result<Arc<SessionContext>, Status> {
        match bearer_token(request.metadata()) {
            Some(token) => self.by_token.get(token).ok_or_else(expired),
            None => Ok(Arc::clone(
                self.anonymous
                    .get_or_init(|| async { self.service.new_session().await })
                    .await,
            )),
        }
    }

    /// Ends the request's session. Returns false for the anonymous session, which
    /// cannot be closed.
    pub fn close<T>(&self, request: &Request<T>) -> Result<bool, Status> {
        match bearer_token(request.metadata()) {
            Some(token) => match self.by_token.remove(token) {
                Some(_) => Ok(true),
                None => Err(expired()),
            },
            None => Ok(false),
        }
    }
}

fn expired() -> Status {
    crate::error::status::status(
        ErrorKind::Unauthenticated,
        "unknown or expired session token: log in again",
    )
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let header = metadata.get("authorization")?.to_str().ok()?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    Some(token.trim())
}

/// The user and password of an `authorization: Basic <base64 of user:password>` header.
fn basic_credentials(metadata: &MetadataMap) -> Result<Option<(String, String)>, Status> {
    let Some(header) = metadata.get("authorization") else {
        return Ok(None);
    };
    let header = header
        .to_str()
        .map_err(|_| Status::invalid_argument("the authorization header is not text"))?;
    let Some(encoded) = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || {
        Status::invalid_argument("bad basic authorization header: expected base64 of user:password")
    };
    // Go's Flight client (ADBC) leaves out the padding.
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let decoded = [STANDARD, URL_SAFE]
        .iter()
        .find_map(|alphabet| {
            GeneralPurpose::new(alphabet, config)
                .decode(encoded.trim())
                .ok()
        })
        .ok_or_else(bad)?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((user.to_string(), password.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(authorization: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", authorization.parse().unwrap());
        map
    }

    #[test]
    fn reads_basic_and_bearer_headers() {
        let padded = base64::engine::general_purpose::STANDARD.encode("ann:s3:cret");
        let basic = metadata(&format!("Basic {padded}"));
        assert_eq!(
            basic_credentials(&basic).unwrap(),
            Some(("ann".to_string(), "s3:cret".to_string()))
        );
        assert_eq!(bearer_token(&basic), None);
        let unpadded = metadata(&format!("Basic {}", padded.trim_end_matches('=')));
        assert_eq!(basic_credentials(&unpadded).unwrap().unwrap().0, "ann");
        let bearer = metadata("Bearer abc123");
        assert_eq!(bearer_token(&bearer), Some("abc123"));
        assert_eq!(basic_credentials(&bearer).unwrap(), None);
        let err = basic_credentials(&metadata("Basic !!!")).unwrap_err();
        assert!(err.message().contains("user:password"));
        assert_eq!(basic_credentials(&MetadataMap::new()).unwrap(), None);
    }
}

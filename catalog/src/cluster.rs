//! The cluster's live topology in etcd (cargo feature `etcd`): every scheduler and
//! executor is a [`Member`] under a lease of its own, and schedulers elect a leader with
//! etcd's election API. Keys, under the prefix (`quarry` by default):
//!
//! - `<prefix>/members/<role>/<id>`: a member's addresses, as JSON; the key goes when
//!   the member's lease ends (it stopped, or has not renewed for [`LEASE_TTL`] seconds);
//! - `<prefix>/leader/...`: the election; the leader's value is its Ballista address,
//!   the one executors register with.
//!
//! A member renews its lease every [`LEASE_TTL`]/3 seconds. When renewing has failed
//! until shortly before the lease would expire, the member is lost ([`Member::lost`]):
//! a leader gives up before etcd can elect another, and must stop acting as one.

use std::future::Future;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions, PutOptions};
use tokio::sync::watch;

/// Seconds a member's lease lives without renewal: how long a dead leader is followed.
pub const LEASE_TTL: i64 = 5;
/// How long before its lease would expire a member takes it as lost.
const SAFETY_MARGIN: Duration = Duration::from_millis(1500);

/// How long a request to etcd may take (but a campaign).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors talking to etcd about the cluster.
#[derive(Debug, thiserror::Error)]
#[error("etcd at {endpoints}: {message}")]
pub struct ClusterError {
    endpoints: String,
    message: String,
}

/// A read-only view of the cluster in etcd.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    prefix: String,
    endpoints: String,
}

impl Cluster {
    /// Connects to etcd at `endpoints`, for the cluster under `prefix`.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self, ClusterError> {
        // No timeout for every request: a campaign waits as long as another leads.
        // Dead connections are found by HTTP/2 keep-alives, and each request but the
        // campaign has its own timeout (`within`).
        let options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_keep_alive_while_idle(true);
        let joined = endpoints.join(",");
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| ClusterError {
                endpoints: joined.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            prefix: prefix.trim_end_matches('/').to_string(),
            endpoints: joined,
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> ClusterError {
        ClusterError {
            endpoints: self.endpoints.clone(),
            message: e.to_string(),
        }
    }

    /// `request`, failing after [`REQUEST_TIMEOUT`].
    async fn within<T>(
        &self,
        request: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(answer) => answer.map_err(|e| self.error(e)),
            Err(_) => Err(self.error("no answer in time")),
        }
    }

    fn election(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    fn member_key(&self, role: &str, id: &str) -> String {
        format!("{}/members/{role}/{id}", self.prefix)
    }

    /// The leader's value (its Ballista address), or `None` while there is no leader.
    pub async fn leader(&self) -> Result<Option<String>, ClusterError> {
        let mut election = self.client.election_client();
        match self.within(election.leader(self.election())).await {
            Ok(response) => Ok(response
                .kv()
                .and_then(|kv| kv.value_str().ok())
                .map(str::to_string)),
            // etcd answers "election: no leader" as an error.
            Err(e) if e.message.contains("no leader") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The live members in `role` (`schedulers`, `executors`): ids and their JSON.
    pub async fn members(&self, role: &str) -> Result<Vec<(String, String)>, ClusterError> {
        let prefix = self.member_key(role, "");
        let mut kv = self.client.kv_client();
        let response = self
            .within(kv.get(prefix.as_str(), Some(GetOptions::new().with_prefix())))
            .await?;
        Ok(response
            .kvs()
            .iter()
            .filter_map(|kv| {
                let id = kv.key_str().ok()?.strip_prefix(&prefix)?;
                Some((id.to_string(), kv.value_str().ok()?.to_string()))
            })
            .collect())
    }

    /// Joins the cluster as member `id` in `role`, described by `info` (JSON), under a
    /// new lease that is renewed until the member leaves or is lost.
    pub async fn join(&self, role: &str, id: &str, info: &str) -> Result<Member, ClusterError> {
        let mut leases = self.client.lease_client();
        let lease = self.within(leases.grant(LEASE_TTL, None)).await?.id();
        let mut kv = self.client.kv_client();
        let put = kv.put(
            self.member_key(role, id),
            info,
            Some(PutOptions::new().with_lease(lease)),
        );
        self.within(put).await?;
        let (lost_tx, lost) = watch::channel(false);
        let renewing = tokio::spawn(renew(self.client.clone(), lease, lost_tx));
        Ok(Member {
            cluster: self.clone(),
            lease,
            lost,
            renewing,
        })
    }
}

/// This process in the cluster: its member key and lease.
pub struct Member {
    cluster: Cluster,
    lease: i64,
    lost: watch::Receiver<bool>,
    renewing: tokio::task::JoinHandle<()>,
}

impl Member {
    /// Campaigns to lead with `value` (the Ballista address), and returns once this
    /// member leads. Leadership lasts as long as the lease.
    pub async fn campaign(&self, value: &str) -> Result<(), ClusterError> {
        let mut lost = self.lost.clone();
        let mut election = self.cluster.client.election_client();
        tokio::select! {
            elected = election.campaign(self.cluster.election(), value, self.lease) => {
                elected.map(|_| ()).map_err(|e| self.cluster.error(e))
            }
            _ = lost.wait_for(|lost| *lost) => Err(self.cluster.error(
                "the lease ended before this scheduler was elected",
            )),
        }
    }

    /// Resolves when the lease has ended: the member key and any leadership are gone.
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|lost| *lost).await;
    }

    /// Leaves the cluster: revokes the lease, so the member key and any leadership go
    /// at once instead of when the lease would have run out.
    pub async fn leave(self) {
        self.renewing.abort();
        let mut leases = self.cluster.client.lease_client();
        if let Err(e) = self.cluster.within(leases.revoke(self.lease)).await {
            tracing::warn!("cannot revoke the etcd lease: {e}");
        }
    }
}

/// Renews `lease` every third of its life; sets `lost` when etcd says it is gone, or
/// [`SAFETY_MARGIN`] before it would expire unrenewed, so that a leader gives up before
/// etcd can elect another.
async fn renew(client: Client, lease: i64, lost: watch::Sender<bool>) {
    let life = Duration::from_secs(LEASE_TTL as u64);
    let mut renewed = Instant::now();
    let mut keeper = None;
    loop {
        let give_up = tokio::time::Instant::from_std(renewed + life - SAFETY_MARGIN);
        let attempt = async {
            tokio::time::sleep(life / 3).await;
            if keeper.is_none() {
                keeper = client.lease_client().keep_alive(lease).await.ok();
            }
            let (sender, stream) = keeper.as_mut()?;
            sender.keep_alive().await.ok()?;
            stream.message().await.ok()?.map(|response| response.ttl())
        };
        match tokio::time::timeout_at(give_up, attempt).await {
            Ok(Some(ttl)) if ttl > 0 => renewed = Instant::now(),
            // etcd no longer knows the lease: it expired while we could not reach it.
            Ok(Some(_)) => break,
            // The stream broke: open a new one next time.
            Ok(None) => keeper = None,
            Err(_) => break,
        }
    }
    tracing::warn!(lease, "the etcd lease ended");
    let _ = lost.send(true);
}

//! A cluster process's place in etcd (feature `etcd`): its member key under a lease,
//! the scheduler election, and the leader's address for executors to follow
//! ([`quarry_catalog::cluster`]). Without the feature, asking for etcd is an error.

#[cfg(feature = "etcd")]
pub use quarry_catalog::cluster::{Cluster, Member};

/// Connects to the cluster's etcd.
#[cfg(feature = "etcd")]
pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Cluster, String> {
    Cluster::connect(endpoints, prefix)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "etcd"))]
pub async fn connect(_: &[String], _: &str) -> Result<Cluster, String> {
    Err(WITHOUT_ETCD.into())
}

/// Stands in for the etcd cluster in a build without etcd; [`connect`] never makes one.
#[cfg(not(feature = "etcd"))]
#[derive(Clone)]
pub struct Cluster {
    _never: (),
}

/// Stands in for a member in a build without etcd; never made.
#[cfg(not(feature = "etcd"))]
pub struct Member {
    _never: (),
}

#[cfg(not(feature = "etcd"))]
const WITHOUT_ETCD: &str = "this quarry was built without etcd: build it with --features etcd";

#[cfg(not(feature = "etcd"))]
impl Cluster {
    pub async fn join(&self, _: &str, _: &str, _: &str) -> Result<Member, String> {
        Err(WITHOUT_ETCD.into())
    }
    pub async fn leader(&self) -> Result<Option<String>, String> {
        Err(WITHOUT_ETCD.into())
    }
}

#[cfg(not(feature = "etcd"))]
impl Member {
    pub async fn campaign(&self, _: &str) -> Result<(), String> {
        Err(WITHOUT_ETCD.into())
    }
    pub async fn lost(&self) {
        std::future::pending().await
    }
    pub async fn leave(self) {}
}

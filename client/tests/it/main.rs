//! End-to-end tests: real embedded clusters (a scheduler and executors talking gRPC on
//! 127.0.0.1 with free ports), reached through Flight SQL or the built `quarry` binary.

mod cancel;
mod changes;
#[cfg(feature = "etcd")]
mod cluster;
mod common;
mod copy_into;
mod dbt;
mod distributed;
mod errors;
#[cfg(feature = "etcd")]
mod etcd_catalog;
mod evolution;
mod flight_clients;
mod joins;
mod maintenance;
mod merge;
mod object_storage;
mod postgres;
mod processes;
mod reflections;
mod robustness;
mod shell;
mod tables;
mod versions;
mod views;

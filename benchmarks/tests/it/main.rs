//! End-to-end tests of `quarry-bench`: real engine processes on 127.0.0.1.

mod dashboard;
mod merge;
mod run;
mod tpcds;
mod tpch;

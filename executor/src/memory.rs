//! The memory a process's queries may use: one DataFusion memory pool shared by every
//! task and direct run, bounded, so that a query that does not fit fails with an error
//! that names what used the memory (or spills, for the operators that can), instead of
//! the operating system killing the process.
//!
//! The pool is DataFusion's [`FairSpillPool`]: operators that spill (sorts, aggregates,
//! sort-merge joins) share what is left fairly; one that cannot (a hash join's build
//! side) takes what it needs while there is room, and fails the query when there is
//! not. [`TrackConsumersPool`] puts the largest users in that error.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use sysinfo::{MemoryRefreshKind, RefreshKind, System};

/// The share of the memory it may use that a process gives its queries by default.
const DEFAULT_SHARE: f64 = 0.7;

/// The default memory limit: [`DEFAULT_SHARE`] of the machine's memory, or of the
/// container's (its cgroup limit) when that is lower.
pub fn default_limit() -> u64 {
    let system = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::everything()),
    );
    let total = match system.cgroup_limits() {
        Some(cgroup) if cgroup.total_memory > 0 => cgroup.total_memory.min(system.total_memory()),
        _ => system.total_memory(),
    };
    (total as f64 * DEFAULT_SHARE) as u64
}

/// How many of the largest users an out-of-memory error names.
const TOP_CONSUMERS: NonZeroUsize = NonZeroUsize::new(5).unwrap();

/// A pool of `limit` bytes.
pub fn pool(limit: u64) -> Arc<dyn MemoryPool> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Arc::new(TrackConsumersPool::new(
        FairSpillPool::new(limit),
        TOP_CONSUMERS,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::MemoryConsumer;

    #[test]
    fn the_default_is_a_share_of_real_memory() {
        let limit = default_limit();
        assert!(limit > 64 << 20, "{limit}");
    }

    #[test]
    fn an_allocation_over_the_limit_fails_naming_its_consumer() {
        let pool = pool(1 << 20);
        let reservation = MemoryConsumer::new("HashJoinInput").register(&pool);
        reservation.try_grow(512 << 10).unwrap();
        let e = reservation.try_grow(1 << 20).unwrap_err().to_string();
        assert!(e.contains("Resources exhausted"), "{e}");
        assert!(e.contains("HashJoinInput"), "{e}");
    }
}

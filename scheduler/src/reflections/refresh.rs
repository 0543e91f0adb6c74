//! Keeping reflections fresh: the [`Refresher`] rebuilds a reflection whose anchor table
//! changed, by its policy: after a commit (`ON CHANGE`, the default), on its interval
//! (`EVERY`), or only when asked (`MANUAL`, and `ALTER TABLE .. REFRESH REFLECTIONS`).
//!
//! A refresh is the write a `CREATE .. REFLECTION` runs, replacing the materialization:
//! a distributed job, then a commit that swaps the new table in. A refresh that fails
//! leaves the old materialization as it was (the write cleans up after itself), and
//! its error is kept for `sys.reflections`. Until a refresh lands, the reflection is
//! stale and queries read the table. One refresh runs at a time.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use quarry_catalog::reflection::{Anchor, Base, RefreshPolicy};
use tokio::sync::Notify;

use super::{Materialized, Method, Reflections, RefreshState, materialize};
use crate::error::QuarryError;
use crate::job::JobRunner;
use crate::session::SessionFactory;

/// How often the refresher looks for work when nothing woke it: commits by other
/// engines, and `EVERY` intervals.
const TICK: Duration = Duration::from_secs(5);

/// Runs refreshes, in the background and on request.
pub struct Refresher {
    jobs: JobRunner,
    sessions: SessionFactory,
    reflections: Arc<Reflections>,
    wake: Arc<Notify>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Refresher {
    /// A refresher whose background loop runs while it lives.
    pub fn start(
        jobs: JobRunner,
        sessions: SessionFactory,
        reflections: Arc<Reflections>,
    ) -> Arc<Self> {
        let refresher = Arc::new(Self {
            jobs,
            sessions,
            reflections,
            wake: Arc::new(Notify::new()),
            one_at_a_time: tokio::sync::Mutex::new(()),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(background(Arc::downgrade(&refresher)));
        }
        refresher
    }

    /// Tells the background loop that a table may have changed.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Refreshes every reflection of `anchor` (or only the one named `only`) now,
    /// whatever its policy; returns how many it rebuilt (a fresh one is left alone).
    pub async fn refresh_all(
        &self,
        anchor: &Anchor,
        only: Option<&str>,
    ) -> Result<usize, QuarryError> {
        let reflections = &self.reflections;
        reflections.load_if_changed().await?;
        let mut rebuilt = 0;
        for reflection in reflections.of(anchor) {
            if only.is_some_and(|name| name != reflection.definition.name) {
                continue;
            }
            if self.refresh(&reflection, true).await? {
                rebuilt += 1;
            }
        }
        Ok(rebuilt)
    }

    /// Rebuilds `reflection` if its anchor changed since it was built (and, unless
    /// `asked`, its policy says now); returns whether it did.
    async fn refresh(&self, reflection: &Materialized, asked: bool) -> Result<bool, QuarryError> {
        let _one = self.one_at_a_time.lock().await;
        let store = self.sessions.store();
        let definition = &reflection.definition;
        let ident = definition.anchor.ident()?;
        let Some(base) = store.load(&ident).await? else {
            return Err(QuarryError::no_table(format!(
                "table {} of reflection {} is gone",
                definition.anchor, definition.name
            )));
        };
        let now = Base::of(&base);
        if reflection.base.same_state(&now) {
            return Ok(false);
        }
        if !asked && !due(definition.refresh, &reflection.base) {
            return Ok(false);
        }
        let key = reflection.table.identifier().to_string();
        tracing::info!(reflection = %definition.name, table = %definition.anchor, "refreshing");
        let result = self.rebuild(reflection, &base).await;
        let method = result.as_ref().ok().copied();
        self.reflections.invalidate();
        let error = result.as_ref().err().map(ToString::to_string);
        if let Some(error) = &error {
            tracing::warn!(reflection = %definition.name, "refresh failed, the old one stays: {error}");
        }
        self.reflections.record_refresh(
            key,
            RefreshState {
                at: Some(SystemTime::now()),
                error,
                method,
            },
        );
        result.map(|_| true)
    }

    async fn rebuild(
        &self,
        reflection: &Materialized,
        base: &iceberg::table::Table,
    ) -> Result<Method, QuarryError> {
        let store = self.sessions.store();
        let (write, method) = materialize(store, &reflection.definition, base, Some(reflection))?;
        let slots = self.jobs.ballista().total_task_slots().await.max(1);
        let ctx = Arc::new(self.sessions.new_session(slots));
        let name = format!("refresh reflection {}", reflection.definition.name);
        let job = self.jobs.submit(ctx, &write.plan, &name).await?;
        let runtime = Arc::clone(self.sessions.runtime());
        let task = crate::write::finish(
            self.jobs.clone(),
            store.clone(),
            runtime,
            Box::new(|| false),
            job,
            write,
        );
        match task.await {
            Ok(result) => result.map(|_| method),
            Err(e) => Err(QuarryError::internal(format!(
                "the refresh task failed: {e}"
            ))),
        }
    }

    /// One round of the background loop: every reflection whose policy says so.
    async fn round(&self) {
        let reflections = &self.reflections;
        if let Err(e) = reflections.load_if_changed().await {
            tracing::warn!("cannot load the reflections: {e}");
            return;
        }
        for reflection in reflections.all().iter() {
            if reflection.definition.refresh == RefreshPolicy::Manual {
                continue;
            }
            let _ = self.refresh(reflection, false).await;
        }
    }
}

/// Whether a changed reflection's policy calls for a refresh now.
fn due(policy: RefreshPolicy, built: &Base) -> bool {
    match policy {
        RefreshPolicy::Manual => false,
        RefreshPolicy::OnChange => true,
        RefreshPolicy::Every { seconds } => {
            let age = SystemTime::now()
                .duration_since(built.built_at())
                .unwrap_or_default();
            age >= Duration::from_secs(seconds)
        }
    }
}

async fn background(refresher: Weak<Refresher>) {
    loop {
        let Some(strong) = refresher.upgrade() else {
            return;
        };
        strong.round().await;
        // Wait without keeping the refresher alive.
        let wake = Arc::clone(&strong.wake);
        drop(strong);
        let woken = wake.notified();
        let _ = tokio::time::timeout(TICK, woken).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_say_when_a_changed_reflection_is_due() {
        let mut built = Base {
            table_uuid: uuid::Uuid::new_v4(),
            snapshot: Some(1),
            built_at_ms: 0,
        };
        assert!(due(RefreshPolicy::OnChange, &built));
        assert!(!due(RefreshPolicy::Manual, &built));
        assert!(due(RefreshPolicy::Every { seconds: 60 }, &built));
        built.built_at_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(!due(RefreshPolicy::Every { seconds: 60 }, &built));
    }
}

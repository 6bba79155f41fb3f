//! Readiness: which parts of the server are still starting, and whether it is stopping.
//!
//! The composition root registers a component for everything that must finish before
//! the server can answer correctly (each store's write-ahead-log replay), marks each one
//! ready as it finishes, and flips the whole server to "shutting down" on a signal.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared readiness state; clones see the same state.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    pending: BTreeSet<&'static str>,
    shutting_down: bool,
}

/// What `/-/ready` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyStatus {
    Ready,
    /// Components still starting, by name.
    Starting(Vec<&'static str>),
    ShuttingDown,
}

impl Readiness {
    pub fn new() -> Self {
        Readiness::default()
    }

    /// Registers a component that is not ready until [`Readiness::mark_ready`] names it.
    pub fn register(&self, component: &'static str) {
        self.lock().pending.insert(component);
    }

    pub fn mark_ready(&self, component: &'static str) {
        self.lock().pending.remove(component);
    }

    pub fn begin_shutdown(&self) {
        self.lock().shutting_down = true;
    }

    pub fn status(&self) -> ReadyStatus {
        let state = self.lock();
        if state.shutting_down {
            ReadyStatus::ShuttingDown
        } else if state.pending.is_empty() {
            ReadyStatus::Ready
        } else {
            ReadyStatus::Starting(state.pending.iter().copied().collect())
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_component_is_and_not_after_shutdown_begins() {
        let readiness = Readiness::new();
        readiness.register("tsdb");
        readiness.register("logstore");
        assert_eq!(
            readiness.status(),
            ReadyStatus::Starting(vec!["logstore", "tsdb"])
        );
        readiness.mark_ready("tsdb");
        assert_eq!(readiness.status(), ReadyStatus::Starting(vec!["logstore"]));
        readiness.mark_ready("logstore");
        assert_eq!(readiness.status(), ReadyStatus::Ready);
        readiness.begin_shutdown();
        assert_eq!(readiness.status(), ReadyStatus::ShuttingDown);
    }
}

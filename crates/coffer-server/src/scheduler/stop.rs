//! Stopping jobs: a job must finish by its scheduled time +
//! `completion_window`; one still running then is stopped, and the daemon
//! records it ABORTED with the reason.

use super::decisions::{fmt_ts, Decisions, Stop};
use super::state::State;
use jiff::Timestamp;

/// Step 3 of [`decide`](super::decide): running jobs past their completion
/// deadline.
pub(super) fn stop_overdue(state: &State, now: Timestamp, d: &mut Decisions) {
    for r in &state.running {
        if let Some(deadline) = r.completion_deadline {
            if now >= deadline {
                d.stop.push(Stop {
                    job: r.id,
                    reason: format!(
                        "stopped: still running at its completion deadline {}",
                        fmt_ts(deadline)
                    ),
                });
            }
        }
    }
}

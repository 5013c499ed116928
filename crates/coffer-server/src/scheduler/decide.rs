//! [`decide`]: the scheduler's decisions at one instant, in order (create,
//! start or expire, stop), and [`next_wakeup`], when there is next
//! something to decide.

use super::create::create_due;
use super::decisions::{Decisions, JobRef};
use super::start::start_or_expire;
use super::state::{ScheduledRule, State};
use super::stop::stop_overdue;
use jiff::Timestamp;
use std::collections::HashSet;

/// Decides what to do at `now`. Pure: the same inputs give the same
/// decisions.
pub fn decide(rules: &[ScheduledRule], state: &State, now: Timestamp) -> Decisions {
    let mut d = Decisions::default();
    let mut expired: HashSet<JobRef> = HashSet::new();

    // 1. Runs that came due since the last call (or were missed while down).
    create_due(rules, state, now, &mut d, &mut expired);

    // 2. Every job that could start: those waiting and those just created.
    start_or_expire(state, now, &mut d, &expired);

    // 3. Running jobs past their completion deadline.
    stop_overdue(state, now, &mut d);
    d
}

/// When [`decide`] next has something to do by the clock alone: the next
/// scheduled run of any rule, or the nearest start or completion deadline.
/// (A job ending frees its source: call [`decide`] then too.) `None` when
/// nothing is ever due.
pub fn next_wakeup(rules: &[ScheduledRule], state: &State, now: Timestamp) -> Option<Timestamp> {
    let runs = rules
        .iter()
        .filter_map(|r| r.schedule.next_after(now, &r.timezone));
    let starts = state.waiting.iter().map(|w| w.start_deadline);
    let ends = state.running.iter().filter_map(|r| r.completion_deadline);
    runs.chain(starts).chain(ends).min()
}

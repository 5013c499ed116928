//! The scheduler's decisions, as a pure function of the rules, what the
//! catalog knows, and the time: which jobs to create, start, expire and stop.
//! No I/O and no clock of its own, so that tests run simulated months in
//! milliseconds and the daemon loop is only "read state, [`decide`], record
//! and act".
//!
//! The rules it follows (AWS Backup's, where AWS has one):
//!
//! - A rule fires at each time of its schedule. For every source it selects,
//!   a job is created (CREATED) with a start deadline of scheduled time +
//!   `start_window`.
//! - One source is never backed up by two jobs at once. A job whose source
//!   is busy waits; one still waiting at its start deadline becomes EXPIRED,
//!   with the reason naming the job that kept the source busy. When a newer
//!   run of the same rule for the same source is created while an older one
//!   waits, the older one is EXPIRED (superseded): a backlog of identical
//!   backups helps nobody.
//! - A job must finish by its scheduled time + `completion_window` (AWS's
//!   StartBackupJob counts the completion window from the scheduled time,
//!   adding nothing for a late start); a job still running then is stopped,
//!   and the daemon records it ABORTED with the reason. So the deadline is
//!   known when the job is created, and a job that starts late has less
//!   time, as it should: the next run is coming.
//! - Catch-up: [`State::last_scheduled`] holds, per rule, the newest
//!   scheduled time already handled. Times missed since (the daemon was down,
//!   or the machine slept) are handled on the next call: the newest runs if
//!   still inside its start window; every older one, and the newest if its
//!   window has passed, is recorded EXPIRED and not run. A rule seen for the
//!   first time starts from `now`: it does not backfill.
//!
//! Where things are: what the scheduler knows (rules, waiting and running
//! jobs) in `state.rs`; the decisions and how they apply to that state in
//! `decisions.rs`; [`decide`] in `decide.rs`, which takes them in order:
//! create (runs due, catch-up of missed ones) in `create.rs`, start or
//! expire waiting jobs in `start.rs`, stop jobs past their completion
//! deadline in `stop.rs`; periodic tasks (verifications, restore tests,
//! reports) in `tasks.rs`.

mod create;
mod decide;
mod decisions;
mod start;
mod state;
mod stop;
mod tasks;

#[cfg(test)]
mod tests;

pub use create::MAX_MISSED_RECORDED;
pub use decide::{decide, next_wakeup};
pub use decisions::{Decisions, Expire, JobRef, NewJob, Start, Stop};
pub use state::{JobId, RunningJob, ScheduledRule, State, WaitingJob};
pub use tasks::{due_tasks, next_task_wakeup, DueTasks, PeriodicTask, TaskKind};

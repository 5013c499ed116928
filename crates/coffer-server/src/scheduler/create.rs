//! Creating jobs: a rule's runs that came due since the last call, for
//! every source it selects, and catch-up: of runs missed since (the daemon
//! was down, or the machine slept) the newest runs if still inside its
//! start window; every older one, and the newest if its window has passed,
//! is created and recorded EXPIRED at once (missed, or superseded by the
//! newest). A rule seen for the first time starts from `now`.

use super::decisions::{fmt_dur, fmt_ts, Decisions, Expire, JobRef, NewJob};
use super::state::{ScheduledRule, State};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;

/// At most this many missed runs of one rule are recorded in one call; older
/// ones are only counted in the reason (`@every 1m` over a month of downtime
/// must not write 40 000 rows).
pub const MAX_MISSED_RECORDED: usize = 100;

/// Step 1 of [`decide`](super::decide): runs that came due since the last
/// call (or were missed while down) become jobs in `d.create`; those
/// expired at once are also in `expired`.
/// The job of `rule` for `source` scheduled at `t`, with its windows.
fn run_at(rule: &ScheduledRule, source: &str, t: Timestamp) -> NewJob {
    NewJob {
        rule: rule.id.clone(),
        source: source.to_string(),
        scheduled: t,
        start_deadline: t + rule.start_window,
        completion_deadline: t + rule.completion_window,
    }
}

pub(super) fn create_due(
    rules: &[ScheduledRule],
    state: &State,
    now: Timestamp,
    d: &mut Decisions,
    expired: &mut HashSet<JobRef>,
) {
    for rule in rules {
        let Some(&last) = state.last_scheduled.get(&rule.id) else {
            // A new rule starts from now.
            d.last_scheduled.push((rule.id.clone(), now));
            continue;
        };
        let Some(newest) = rule.schedule.prev_at_or_before(now, &rule.timezone) else {
            continue;
        };
        if newest <= last {
            continue;
        }
        d.last_scheduled.push((rule.id.clone(), newest));
        // Older missed times, newest first, bounded.
        let mut older = Vec::new();
        let mut t = newest;
        let mut truncated = false;
        while let Some(p) = rule
            .schedule
            .prev_at_or_before(t - SignedDuration::from_secs(1), &rule.timezone)
        {
            if p <= last {
                break;
            }
            if older.len() == MAX_MISSED_RECORDED {
                truncated = true;
                break;
            }
            older.push(p);
            t = p;
        }
        let newest_runs = now < newest + rule.start_window;
        let window = fmt_dur(rule.start_window);
        for source in &rule.sources {
            for (i, &t) in older.iter().enumerate().rev() {
                let mut reason = if t + rule.start_window > now && newest_runs {
                    format!(
                        "superseded: the run scheduled at {} replaces it (a rule catches up once)",
                        fmt_ts(newest)
                    )
                } else {
                    format!(
                        "missed: not started within its start window ({window}) after {}; the daemon was not running",
                        fmt_ts(t)
                    )
                };
                if truncated && i + 1 == older.len() {
                    reason.push_str(&format!(
                        " (earlier missed runs since {} are not recorded one by one)",
                        fmt_ts(last)
                    ));
                }
                d.expire.push(Expire {
                    job: JobRef::New(d.create.len()),
                    reason,
                });
                expired.insert(JobRef::New(d.create.len()));
                d.create.push(run_at(rule, source, t));
            }
            if !newest_runs {
                d.expire.push(Expire {
                    job: JobRef::New(d.create.len()),
                    reason: format!(
                        "missed: not started within its start window ({window}) after {}; the daemon was not running",
                        fmt_ts(newest)
                    ),
                });
                expired.insert(JobRef::New(d.create.len()));
            }
            d.create.push(run_at(rule, source, newest));
        }
    }
}

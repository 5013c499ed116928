//! Starting and expiring jobs: of the jobs waiting and those just created,
//! oldest first, an older run of the same rule and source is EXPIRED
//! (superseded), one past its start deadline is EXPIRED (naming the job
//! that kept its source busy), one whose source is busy waits, and the
//! rest start: one source is never backed up by two jobs at once.

use super::decisions::{fmt_ts, Decisions, Expire, JobRef, Start};
use super::state::{JobId, State};
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};

/// Step 2 of [`decide`](super::decide): every job that could start, those
/// waiting and those just created (except the `expired`), is started,
/// expired, or left waiting.
pub(super) fn start_or_expire(
    state: &State,
    now: Timestamp,
    d: &mut Decisions,
    expired: &HashSet<JobRef>,
) {
    struct Cand<'a> {
        job: JobRef,
        rule: &'a str,
        source: &'a str,
        scheduled: Timestamp,
        start_deadline: Timestamp,
        completion_deadline: Timestamp,
    }
    let mut cands: Vec<Cand> = state
        .waiting
        .iter()
        .map(|w| Cand {
            job: JobRef::Waiting(w.id),
            rule: &w.rule,
            source: &w.source,
            scheduled: w.scheduled,
            start_deadline: w.start_deadline,
            completion_deadline: w.completion_deadline,
        })
        .chain(d.create.iter().enumerate().map(|(i, n)| Cand {
            job: JobRef::New(i),
            rule: &n.rule,
            source: &n.source,
            scheduled: n.scheduled,
            start_deadline: n.start_deadline,
            completion_deadline: n.completion_deadline,
        }))
        .filter(|c| !expired.contains(&c.job))
        .collect();
    // Oldest first: the order jobs start in, and the order that makes "the
    // newest of a rule and source" the last one seen.
    cands.sort_by_key(|c| {
        let order = match c.job {
            JobRef::Waiting(id) => (0, id),
            JobRef::New(i) => (1, i as i64),
        };
        (c.scheduled, order)
    });

    let busy: HashMap<&str, JobId> = state
        .running
        .iter()
        .map(|r| (r.source.as_str(), r.id))
        .collect();

    // Superseded: an older waiting run of the same rule and source.
    let mut newest_of: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, c) in cands.iter().enumerate() {
        newest_of.insert((c.rule, c.source), i);
    }
    let mut started_sources: HashSet<&str> = HashSet::new();
    for (i, c) in cands.iter().enumerate() {
        let newest = newest_of[&(c.rule, c.source)];
        if newest != i {
            d.expire.push(Expire {
                job: c.job,
                reason: format!(
                    "superseded: a newer run of rule {} for source {} (scheduled at {}) was created while this one waited",
                    c.rule,
                    c.source,
                    fmt_ts(cands[newest].scheduled)
                ),
            });
            continue;
        }
        if now >= c.start_deadline {
            let why = match busy.get(c.source) {
                Some(id) => format!("; source {} was busy with job {id}", c.source),
                None => String::new(),
            };
            d.expire.push(Expire {
                job: c.job,
                reason: format!(
                    "not started within its start window: scheduled at {}, deadline {} passed{why}",
                    fmt_ts(c.scheduled),
                    fmt_ts(c.start_deadline)
                ),
            });
            continue;
        }
        if busy.contains_key(c.source) || started_sources.contains(c.source) {
            continue; // waits for its source
        }
        started_sources.insert(c.source);
        d.start.push(Start {
            job: c.job,
            completion_deadline: c.completion_deadline,
        });
    }
}

//! Unit tests of the scheduler: simulated months of rules on a manual
//! clock (DST, slow jobs, catch-up, deadlines) and periodic tasks.

use super::*;
use crate::schedule::{Clock, ManualClock, Schedule};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashSet};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn rule(id: &str, schedule: &str, tz: &str, start: &str, sources: &[&str]) -> ScheduledRule {
    ScheduledRule {
        id: id.into(),
        schedule: Schedule::parse(schedule).unwrap(),
        timezone: TimeZone::get(tz).unwrap(),
        start_window: humantime::parse_duration(start)
            .unwrap()
            .try_into()
            .unwrap(),
        completion_window: SignedDuration::from_hours(7 * 24),
        sources: sources.iter().map(|s| s.to_string()).collect(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Completed,
    Expired(String),
    Aborted(String),
}

#[derive(Debug, Clone)]
struct Record {
    rule: String,
    source: String,
    scheduled: Timestamp,
    started: Option<Timestamp>,
    ended: Option<Timestamp>,
    outcome: Option<Outcome>,
}

/// A daemon without I/O: a manual clock, the in-memory state, jobs that
/// take `duration(rule)` to run, and the record of every job.
struct Sim {
    clock: ManualClock,
    rules: Vec<ScheduledRule>,
    state: State,
    jobs: BTreeMap<JobId, Record>,
    ends: BTreeMap<JobId, Timestamp>,
    duration: Box<dyn Fn(&str) -> SignedDuration>,
    next_id: JobId,
    ticks: usize,
}

impl Sim {
    fn new(
        start: &str,
        rules: Vec<ScheduledRule>,
        duration: impl Fn(&str) -> SignedDuration + 'static,
    ) -> Sim {
        Sim {
            clock: ManualClock::new(ts(start)),
            rules,
            state: State::default(),
            jobs: BTreeMap::new(),
            ends: BTreeMap::new(),
            duration: Box::new(duration),
            next_id: 1,
            ticks: 0,
        }
    }

    fn tick(&mut self) {
        self.ticks += 1;
        let now = self.clock.now();
        // Jobs that ended by now free their sources first.
        let done: Vec<JobId> = self
            .ends
            .iter()
            .filter(|(_, &e)| e <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in done {
            let end = self.ends.remove(&id).unwrap();
            self.state.finish(id);
            let r = self.jobs.get_mut(&id).unwrap();
            r.ended = Some(end);
            r.outcome = Some(Outcome::Completed);
        }
        let d = decide(&self.rules, &self.state, now);
        let mut n = self.next_id;
        let ids = self.state.apply(&d, || {
            n += 1;
            n - 1
        });
        self.next_id = n;
        for (job, &id) in d.create.iter().zip(&ids) {
            self.jobs.insert(
                id,
                Record {
                    rule: job.rule.clone(),
                    source: job.source.clone(),
                    scheduled: job.scheduled,
                    started: None,
                    ended: None,
                    outcome: None,
                },
            );
        }
        let id_of = |j: JobRef| match j {
            JobRef::Waiting(id) => id,
            JobRef::New(i) => ids[i],
        };
        for e in &d.expire {
            let r = self.jobs.get_mut(&id_of(e.job)).unwrap();
            assert!(r.started.is_none() && r.outcome.is_none());
            r.outcome = Some(Outcome::Expired(e.reason.clone()));
        }
        for s in &d.start {
            let id = id_of(s.job);
            let r = self.jobs.get_mut(&id).unwrap();
            assert!(r.outcome.is_none());
            r.started = Some(now);
            // Never two jobs for one source at once.
            let running_same = self
                .state
                .running
                .iter()
                .filter(|x| x.source == r.source)
                .count();
            assert_eq!(running_same, 1, "two jobs for source {} at {now}", r.source);
            self.ends.insert(id, now + (self.duration)(&r.rule));
        }
        for s in &d.stop {
            self.ends.remove(&s.job);
            self.state.finish(s.job);
            let r = self.jobs.get_mut(&s.job).unwrap();
            r.ended = Some(now);
            r.outcome = Some(Outcome::Aborted(s.reason.clone()));
        }
    }

    /// Ticks every `step` until `until`, and at every wakeup and job end
    /// in between (as the daemon's loop would).
    fn run_until(&mut self, until: &str, step: SignedDuration) {
        let until = ts(until);
        loop {
            self.tick();
            let now = self.clock.now();
            if now >= until {
                break;
            }
            let mut next = now + step;
            if let Some(w) = next_wakeup(&self.rules, &self.state, now) {
                next = next.min(w);
            }
            if let Some(&e) = self.ends.values().min() {
                next = next.min(e);
            }
            self.clock.set(next.min(until));
        }
    }

    fn of_rule(&self, rule: &str) -> Vec<&Record> {
        self.jobs.values().filter(|r| r.rule == rule).collect()
    }
}

fn local(t: Timestamp, tz: &str) -> String {
    t.to_zoned(TimeZone::get(tz).unwrap())
        .strftime("%Y-%m-%d %H:%M %z")
        .to_string()
}

#[test]
fn daily_cron_over_a_year_with_dst() {
    let rules = vec![rule(
        "p/nightly",
        "30 2 * * *",
        "Europe/Berlin",
        "1h",
        &["etc", "home"],
    )];
    let mut sim = Sim::new("2026-01-01T00:00:00Z", rules, |_| {
        SignedDuration::from_mins(20)
    });
    sim.run_until("2027-01-01T00:00:00Z", SignedDuration::from_mins(7));
    assert!(sim.ticks > 50_000, "{} ticks", sim.ticks);
    let jobs = sim.of_rule("p/nightly");
    // 364 runs (the first day's 02:30 is the 1st, after the rule appeared
    // at 00:00 UTC = 01:00 local: so 365 days), two sources each.
    assert_eq!(jobs.len(), 2 * 365);
    for r in &jobs {
        assert_eq!(r.outcome, Some(Outcome::Completed), "{r:?}");
        assert_eq!(r.started, Some(r.scheduled), "starts on time: {r:?}");
    }
    let etc: Vec<String> = jobs
        .iter()
        .filter(|r| r.source == "etc")
        .map(|r| local(r.scheduled, "Europe/Berlin"))
        .collect();
    // Spring forward: 02:30 does not exist, runs at 03:00; fall back:
    // once, in the first 02:30.
    assert!(etc.contains(&"2026-03-28 02:30 +0100".to_string()));
    assert!(etc.contains(&"2026-03-29 03:00 +0200".to_string()));
    assert!(etc.contains(&"2026-03-30 02:30 +0200".to_string()));
    assert!(etc.contains(&"2026-10-25 02:30 +0200".to_string()));
    assert!(!etc.contains(&"2026-10-25 02:30 +0100".to_string()));
    // Exactly one a day.
    let days: HashSet<&str> = etc.iter().map(|s| &s[..10]).collect();
    assert_eq!(days.len(), 365);
    // The two sources are different sources: they run side by side.
    let home_first = jobs.iter().find(|r| r.source == "home").unwrap();
    assert_eq!(home_first.started, Some(home_first.scheduled));
}

#[test]
fn every_ten_minutes_for_a_month() {
    let rules = vec![rule("p/often", "@every 10m", "UTC", "5m", &["db"])];
    let mut sim = Sim::new("2026-05-01T00:00:00Z", rules, |_| {
        SignedDuration::from_mins(3)
    });
    sim.run_until("2026-05-30T23:55:00Z", SignedDuration::from_mins(1));
    let jobs = sim.of_rule("p/often");
    // From 00:10 on the 1st (the rule appeared at 00:00) to 23:50 on the 30th.
    assert_eq!(jobs.len(), 30 * 24 * 6 - 1);
    assert!(jobs.iter().all(|r| r.outcome == Some(Outcome::Completed)));
    for w in jobs.windows(2) {
        assert_eq!(
            w[1].scheduled.duration_since(w[0].scheduled),
            SignedDuration::from_mins(10)
        );
    }
}

#[test]
fn a_slow_job_makes_the_next_wait_then_expire() {
    // Each job takes 25 minutes; runs come every 10 with a 15-minute
    // start window. Never two at once; the runs in between expire.
    let rules = vec![rule("p/often", "@every 10m", "UTC", "15m", &["db"])];
    let mut sim = Sim::new("2026-05-01T00:00:00Z", rules, |_| {
        SignedDuration::from_mins(25)
    });
    sim.run_until("2026-05-02T00:00:00Z", SignedDuration::from_mins(1));
    let jobs = sim.of_rule("p/often");
    let completed: Vec<_> = jobs
        .iter()
        .filter(|r| r.outcome == Some(Outcome::Completed))
        .collect();
    let expired: Vec<_> = jobs
        .iter()
        .filter(|r| matches!(r.outcome, Some(Outcome::Expired(_))))
        .collect();
    assert!(!completed.is_empty() && !expired.is_empty());
    // No overlap.
    for w in completed.windows(2) {
        assert!(w[1].started.unwrap() >= w[0].ended.unwrap());
    }
    // Every job either ran, or expired with a reason; none started late.
    for r in &jobs {
        if let Some(s) = r.started {
            assert!(s < r.scheduled + SignedDuration::from_mins(15));
        }
    }
    assert!(
        expired
            .iter()
            .any(|r| matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("superseded"))),
        "{expired:?}"
    );
}

#[test]
fn start_window_expires_when_the_source_stays_busy() {
    // A weekly full backup runs 5 hours; an hourly one with a 20-minute
    // window on the same source cannot start meanwhile.
    let rules = vec![
        rule("p/weekly", "0 1 * * SUN", "UTC", "8h", &["db"]),
        rule("p/hourly", "30 * * * *", "UTC", "20m", &["db"]),
    ];
    let mut sim = Sim::new("2026-05-01T00:00:00Z", rules, |r| {
        if r == "p/weekly" {
            SignedDuration::from_hours(5)
        } else {
            SignedDuration::from_mins(10)
        }
    });
    sim.run_until("2026-06-01T00:00:00Z", SignedDuration::from_mins(5));
    let weekly = sim.of_rule("p/weekly");
    assert_eq!(weekly.len(), 5); // the Sundays of May 2026: 3, 10, 17, 24, 31
    assert!(weekly.iter().all(|r| r.outcome == Some(Outcome::Completed)));
    let weekly_id = *sim
        .jobs
        .iter()
        .find(|(_, r)| r.rule == "p/weekly")
        .unwrap()
        .0;
    let hourly = sim.of_rule("p/hourly");
    let expired: Vec<_> = hourly
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(Outcome::Expired(m)) => Some((r.scheduled, m.clone())),
            _ => None,
        })
        .collect();
    // Every Sunday, 01:30 to 05:30 expire while the weekly job runs
    // (01:00-06:00); nothing else does.
    assert_eq!(expired.len(), 5 * 5, "{expired:?}");
    let may3: Vec<_> = expired
        .iter()
        .filter(|(t, _)| t.to_string().starts_with("2026-05-03"))
        .collect();
    assert_eq!(may3.len(), 5, "{may3:?}");
    for (_, m) in &may3 {
        assert!(
            m.contains(&format!("source db was busy with job {weekly_id}")),
            "{m}"
        );
    }
    let after = hourly
        .iter()
        .find(|r| r.scheduled == ts("2026-05-03T06:30:00Z"))
        .unwrap();
    assert_eq!(after.started, Some(after.scheduled));
    assert_eq!(
        hourly
            .iter()
            .filter(|r| r.outcome == Some(Outcome::Completed))
            .count(),
        hourly.len() - 25
    );
}

#[test]
fn catch_up_after_three_days_down() {
    let rules = vec![rule("p/daily", "0 5 * * *", "UTC", "8h", &["etc"])];
    let mut sim = Sim::new("2026-06-01T00:00:00Z", rules.clone(), |_| {
        SignedDuration::from_mins(30)
    });
    sim.run_until("2026-06-02T04:00:00Z", SignedDuration::from_mins(10));
    assert_eq!(sim.of_rule("p/daily").len(), 1); // June 1st
                                                 // Down from June 2nd 04:00 to June 5th 06:00: missed the 2nd, 3rd,
                                                 // 4th and 5th; the 5th is still inside its 8-hour window.
    sim.clock.set(ts("2026-06-05T06:00:00Z"));
    sim.tick();
    let jobs = sim.of_rule("p/daily");
    assert_eq!(jobs.len(), 5);
    let by_day: BTreeMap<String, &Record> =
        jobs.iter().map(|r| (r.scheduled.to_string(), *r)).collect();
    for day in ["2026-06-02", "2026-06-03", "2026-06-04"] {
        let r = by_day[&format!("{day}T05:00:00Z")];
        assert!(
            matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("missed")),
            "{r:?}"
        );
    }
    let r = by_day["2026-06-05T05:00:00Z"];
    assert_eq!(r.started, Some(ts("2026-06-05T06:00:00Z")));

    // Same, but back only at 14:00: the 5th's window (8h) is over too.
    let mut sim = Sim::new("2026-06-01T00:00:00Z", rules, |_| {
        SignedDuration::from_mins(30)
    });
    sim.run_until("2026-06-02T04:00:00Z", SignedDuration::from_mins(10));
    sim.clock.set(ts("2026-06-05T14:00:00Z"));
    sim.tick();
    let jobs = sim.of_rule("p/daily");
    assert_eq!(jobs.len(), 5);
    assert_eq!(jobs.iter().filter(|r| r.started.is_some()).count(), 1);
    // And the daemon goes on normally.
    sim.run_until("2026-06-07T00:00:00Z", SignedDuration::from_mins(10));
    let jobs = sim.of_rule("p/daily");
    assert_eq!(jobs.len(), 6);
    assert_eq!(
        jobs.iter()
            .filter(|r| r.outcome == Some(Outcome::Completed))
            .count(),
        2
    );
}

#[test]
fn catch_up_runs_once_for_frequent_schedules() {
    // @every 10m, 1-hour start window, down 3 days: only the newest runs,
    // and the missed ones are recorded up to the bound.
    let rules = vec![rule("p/often", "@every 10m", "UTC", "1h", &["db"])];
    let mut sim = Sim::new("2026-06-01T00:00:00Z", rules, |_| {
        SignedDuration::from_mins(1)
    });
    sim.tick();
    sim.clock.set(ts("2026-06-04T00:05:00Z"));
    sim.tick();
    let jobs = sim.of_rule("p/often");
    assert_eq!(jobs.len(), MAX_MISSED_RECORDED + 1);
    let started: Vec<_> = jobs.iter().filter(|r| r.started.is_some()).collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].scheduled, ts("2026-06-04T00:00:00Z"));
    let superseded = jobs
        .iter()
        .filter(|r| matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("superseded")))
        .count();
    assert_eq!(superseded, 5); // 23:10 .. 23:50 were still inside their window
    assert!(jobs.iter().any(
        |r| matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("not recorded one by one"))
    ));
}

#[test]
fn completion_deadline_stops_a_job() {
    let mut r = rule("p/daily", "0 5 * * *", "UTC", "1h", &["huge"]);
    r.completion_window = SignedDuration::from_hours(3);
    let mut sim = Sim::new("2026-06-01T00:00:00Z", vec![r], |_| {
        SignedDuration::from_hours(30)
    });
    sim.run_until("2026-06-04T00:00:00Z", SignedDuration::from_mins(15));
    let jobs = sim.of_rule("p/daily");
    assert_eq!(jobs.len(), 3);
    for j in jobs {
        assert_eq!(j.ended, Some(j.scheduled + SignedDuration::from_hours(3)));
        assert!(
            matches!(&j.outcome, Some(Outcome::Aborted(m)) if m.contains("completion deadline")),
            "{j:?}"
        );
    }
}

#[test]
fn a_late_start_keeps_the_deadline_of_its_scheduled_time() {
    let mut r = rule("p/daily", "0 5 * * *", "UTC", "8h", &["db"]);
    r.completion_window = SignedDuration::from_hours(10);
    let mut state = State::default();
    state
        .last_scheduled
        .insert("p/daily".into(), ts("2026-06-01T04:00:00Z"));
    state.running.push(RunningJob {
        id: 7,
        source: "db".into(),
        completion_deadline: None,
    });
    // 05:00: created, waits for job 7.
    let d = decide(&[r.clone()], &state, ts("2026-06-01T05:00:00Z"));
    assert_eq!(d.create.len(), 1);
    assert_eq!(d.create[0].start_deadline, ts("2026-06-01T13:00:00Z"));
    assert_eq!(d.create[0].completion_deadline, ts("2026-06-01T15:00:00Z"));
    assert!(d.start.is_empty());
    let ids = state.apply(&d, || 8);
    assert_eq!(ids, [8]);
    // 09:00: job 7 ended; job 8 starts, to be stopped at 15:00.
    state.finish(7);
    let d = decide(&[r], &state, ts("2026-06-01T09:00:00Z"));
    assert_eq!(
        d.start,
        [Start {
            job: JobRef::Waiting(8),
            completion_deadline: ts("2026-06-01T15:00:00Z")
        }]
    );
}

#[test]
fn a_new_rule_does_not_backfill() {
    let rules = vec![rule("p/daily", "0 5 * * *", "UTC", "8h", &["etc"])];
    let d = decide(&rules, &State::default(), ts("2026-06-01T06:00:00Z"));
    assert!(d.create.is_empty());
    assert_eq!(
        d.last_scheduled,
        vec![("p/daily".to_string(), ts("2026-06-01T06:00:00Z"))]
    );
    // Nothing due: nothing to do, and the wakeup is the next run.
    let mut s = State::default();
    s.apply(&d, || 1);
    let d = decide(&rules, &s, ts("2026-06-01T07:00:00Z"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        next_wakeup(&rules, &s, ts("2026-06-01T07:00:00Z")),
        Some(ts("2026-06-02T05:00:00Z"))
    );
}

fn task(id: &str, schedule: &str) -> PeriodicTask {
    let config = crate::config::Config::parse(
        &format!(
            "[[vault]]\nname = \"v\"\nurl = \"/v\"\nkey_file = \"k\"\n[[verify]]\nname = \"{id}\"\nvault = \"v\"\nschedule = \"{schedule}\"\n"
        ),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    PeriodicTask::all(&config).remove(0)
}

#[test]
fn periodic_tasks_run_when_due_once_and_never_twice_at_once() {
    let tasks = vec![task("a", "0 3 * * *")];
    assert_eq!(tasks[0].id, "verify/a");
    let mut last = BTreeMap::new();
    let mut busy = HashSet::new();
    // First seen: starts from now, no backfill.
    let d = due_tasks(&tasks, &last, &busy, ts("2026-03-01T12:00:00Z"));
    assert!(d.run.is_empty());
    last.insert("verify/a".to_string(), ts("2026-03-01T12:00:00Z"));
    // Not due yet.
    assert_eq!(
        due_tasks(&tasks, &last, &busy, ts("2026-03-02T02:59:59Z")),
        DueTasks::default()
    );
    // Three days down: one run, at the newest time.
    let d = due_tasks(&tasks, &last, &busy, ts("2026-03-04T10:00:00Z"));
    assert_eq!(d.run, vec![(0, ts("2026-03-04T03:00:00Z"))]);
    assert_eq!(
        d.last_scheduled,
        vec![("verify/a".to_string(), ts("2026-03-04T03:00:00Z"))]
    );
    // Still running at the next time: it waits, then runs once.
    busy.insert("verify/a".to_string());
    last.insert("verify/a".to_string(), ts("2026-03-04T03:00:00Z"));
    assert!(due_tasks(&tasks, &last, &busy, ts("2026-03-05T03:00:00Z"))
        .run
        .is_empty());
    busy.clear();
    let d = due_tasks(&tasks, &last, &busy, ts("2026-03-05T04:00:00Z"));
    assert_eq!(d.run, vec![(0, ts("2026-03-05T03:00:00Z"))]);
    assert_eq!(
        next_task_wakeup(&tasks, ts("2026-03-05T04:00:00Z")),
        Some(ts("2026-03-06T03:00:00Z"))
    );
}

/// Issue 16: a verification waits for the first backup into its vault that
/// this process runs, not for a later one, nor for another process's.
#[test]
fn a_verification_waits_for_the_first_backup_into_its_vault() {
    use crate::catalog::{Catalog, JobKind, JobOutcome, JobState, NewJob, Trigger};
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path()).unwrap();
    let t = task("a", "@every 1m");
    let job = t.kind.new_job(&catalog, Trigger::Schedule).unwrap();
    let me = std::process::id();
    // No backup at all: run now (and be SKIPPED if the vault is empty).
    assert_eq!(
        t.kind.first_backup_in_flight(&catalog, &job, me).unwrap(),
        None
    );
    let backup = |vault: &str| NewJob {
        source: Some("docs".into()),
        vault: Some(vault.into()),
        ..NewJob::new(JobKind::Backup, Trigger::Schedule)
    };
    // An older backup into another vault is not the one.
    catalog.create_job(&backup("elsewhere")).unwrap();
    let first = catalog.create_job(&backup("v")).unwrap();
    let (id, why) = t
        .kind
        .first_backup_in_flight(&catalog, &job, me)
        .unwrap()
        .unwrap();
    assert_eq!(id, first);
    assert!(
        why.contains(&format!(
            "waits for backup job {first}, the first backup of vault `v`"
        )),
        "{why}"
    );
    // Another process's backup is not waited for (it may be long dead).
    assert_eq!(
        t.kind
            .first_backup_in_flight(&catalog, &job, me + 1)
            .unwrap(),
        None
    );
    // Once one backup into the vault succeeded, nothing is waited for.
    catalog.start_job(first).unwrap();
    catalog
        .finish_job(first, &JobOutcome::new(JobState::Completed))
        .unwrap();
    catalog.create_job(&backup("v")).unwrap();
    assert_eq!(
        t.kind.first_backup_in_flight(&catalog, &job, me).unwrap(),
        None
    );
}

#[test]
fn issue17_a_prune_that_cannot_start_in_its_start_window_expires() {
    let config = crate::config::Config::parse(
        "[[vault]]\nname = \"v\"\nurl = \"/v\"\nkey_file = \"k\"\n[[prune]]\nname = \"p\"\nvault = \"v\"\nschedule = \"0 3 * * *\"\nstart_window = \"1h\"\ncompletion_window = \"2h\"\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let tasks = PeriodicTask::all(&config);
    let t = &tasks[0];
    assert_eq!(t.id, "prune/p");
    let mut last = BTreeMap::new();
    last.insert(t.id.clone(), ts("2026-03-01T03:00:00Z"));
    let busy = HashSet::new();
    // Inside the window: it runs, and must end 2h after 03:00, not after
    // its start.
    let d = due_tasks(&tasks, &last, &busy, ts("2026-03-02T03:30:00Z"));
    assert_eq!(d.run, vec![(0, ts("2026-03-02T03:00:00Z"))]);
    assert!(d.expire.is_empty());
    assert_eq!(
        t.completion_deadline(Some(ts("2026-03-02T03:00:00Z")), ts("2026-03-02T03:30:00Z")),
        ts("2026-03-02T05:00:00Z")
    );
    // Past it (the daemon was down): EXPIRED, not run, and handled.
    let d = due_tasks(&tasks, &last, &busy, ts("2026-03-02T04:00:00Z"));
    assert!(d.run.is_empty(), "{d:?}");
    assert_eq!(d.expire.len(), 1);
    assert_eq!(d.expire[0].1, ts("2026-03-02T03:00:00Z"));
    assert!(d.expire[0].2.contains("start window (1h)"), "{d:?}");
    assert_eq!(
        d.last_scheduled,
        vec![("prune/p".to_string(), ts("2026-03-02T03:00:00Z"))]
    );
    // A task without one (verify) still counts from its start.
    let v = task("a", "0 3 * * *");
    assert_eq!(
        v.completion_deadline(Some(ts("2026-03-02T03:00:00Z")), ts("2026-03-02T04:00:00Z")),
        ts("2026-03-02T04:00:00Z") + v.completion_window
    );
}

//! Jobs: their states and transitions, results, listing and deletion.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::fixtures::{backup_job, catalog, ts};
use crate::catalog::{
    Catalog, CatalogError, EventLevel, JobCounters, JobFilter, JobId, JobKind, JobOutcome,
    JobState, NewJob, Trigger,
};

#[test]
fn a_job_goes_through_its_states_and_stays_final() {
    let (_tmp, c) = catalog();
    let mut job = backup_job("daily", "nightly", "etc");
    job.scheduled_at = Some(ts("2026-03-01T02:00:00Z"));
    job.start_deadline = Some(ts("2026-03-01T03:00:00Z"));
    job.complete_deadline = Some(ts("2026-03-01T10:00:00Z"));
    let id = c.create_job(&job).unwrap();
    let j = c.get_job(id).unwrap();
    assert_eq!(j.state, JobState::Created);
    assert_eq!(j.kind, JobKind::Backup);
    assert_eq!(j.trigger, Trigger::Schedule);
    assert_eq!(j.plan.as_deref(), Some("daily"));
    assert_eq!(j.scheduled_at, job.scheduled_at);
    assert_eq!(j.start_deadline, job.start_deadline);
    assert_eq!(j.complete_deadline, job.complete_deadline);
    assert_eq!(j.pid, std::process::id());
    assert_eq!(j.host, coffer_core::hostname());
    assert!(j.started_at.is_none() && j.finished_at.is_none());

    // COMPLETED needs RUNNING first.
    let e = c
        .finish_job(id, &JobOutcome::completed(JobCounters::default(), vec![]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            CatalogError::IllegalTransition {
                from: JobState::Created,
                to: JobState::Completed,
                ..
            }
        ),
        "{e}"
    );
    c.set_pending(id, "waiting for the vault's lock").unwrap();
    c.start_job(id).unwrap();
    assert!(matches!(
        c.set_pending(id, "again").unwrap_err(),
        CatalogError::IllegalTransition { .. }
    ));
    let progress = JobCounters {
        bytes_read: 10,
        ..Default::default()
    };
    c.update_counters(id, &progress).unwrap();
    assert_eq!(c.get_job(id).unwrap().counters, progress);
    c.add_snapshot(id, "aaaa").unwrap();
    c.record_event(
        id,
        EventLevel::Warning,
        "cannot read /etc/shadow: permission denied",
    )
    .unwrap();
    let counters = JobCounters {
        bytes_read: 100,
        bytes_added: 50,
        bytes_stored: 20,
        files_new: 3,
        files_changed: 2,
        files_unmodified: 1,
        warnings: 1,
    };
    let mut outcome = JobOutcome::completed(counters, vec!["bbbb".into()]);
    outcome.details = Some(serde_json::json!({"restore_seconds": 1.5}));
    assert_eq!(outcome.state, JobState::Partial);
    c.finish_job(id, &outcome).unwrap();

    let j = c.get_job(id).unwrap();
    assert_eq!(j.state, JobState::Partial);
    assert_eq!(j.counters, counters);
    assert_eq!(j.snapshot_ids, ["aaaa", "bbbb"]);
    assert_eq!(j.reason.as_deref(), Some("1 warning (an entry skipped)"));
    assert_eq!(j.details, Some(serde_json::json!({"restore_seconds": 1.5})));
    assert!(j.started_at.is_some() && j.finished_at.is_some());
    assert!(j.duration(Timestamp::now()).is_some());

    // Final states never change.
    for to in [JobOutcome::aborted("late"), JobOutcome::failed("late")] {
        let e = c.finish_job(id, &to).unwrap_err();
        assert!(
            matches!(
                e,
                CatalogError::IllegalTransition {
                    from: JobState::Partial,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("final state"), "{e}");
    }
    assert!(matches!(
        c.start_job(id).unwrap_err(),
        CatalogError::IllegalTransition { .. }
    ));
    assert!(matches!(
        c.update_counters(id, &progress).unwrap_err(),
        CatalogError::InvalidInput(_)
    ));
    assert_eq!(c.get_job(id).unwrap().state, JobState::Partial);

    let events = c.job_events(id).unwrap();
    let states: Vec<Option<JobState>> = events.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            Some(JobState::Created),
            Some(JobState::Pending),
            Some(JobState::Running),
            None,
            Some(JobState::Partial)
        ]
    );
    assert_eq!(events[1].message, "waiting for the vault's lock");
    assert!(
        events[2].message.starts_with("started on "),
        "{}",
        events[2].message
    );
    assert_eq!(events[3].level, EventLevel::Warning);
    assert!(events
        .windows(2)
        .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
}

#[test]
fn finish_needs_a_final_state_and_a_known_job() {
    let (_tmp, c) = catalog();
    let id = c
        .create_job(&NewJob::new(JobKind::Prune, Trigger::Cli))
        .unwrap();
    let e = c
        .finish_job(id, &JobOutcome::new(JobState::Running))
        .unwrap_err();
    assert!(matches!(e, CatalogError::InvalidInput(_)), "{e}");
    // Failing before it ever ran (e.g. the vault is unreachable) is fine.
    c.finish_job(id, &JobOutcome::failed("vault /srv/v: not found"))
        .unwrap();
    let j = c.get_job(id).unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert_eq!(j.error.as_deref(), Some("vault /srv/v: not found"));
    let last = c.job_events(id).unwrap().pop().unwrap();
    assert_eq!(last.level, EventLevel::Error);
    assert_eq!(last.message, "failed: vault /srv/v: not found");

    let missing = JobId(999);
    for e in [
        c.get_job(missing).unwrap_err(),
        c.start_job(missing).unwrap_err(),
        c.job_events(missing).unwrap_err(),
        c.record_event(missing, EventLevel::Info, "x").unwrap_err(),
        c.finish_job(missing, &JobOutcome::aborted("x"))
            .unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("job 999 not found") && msg.contains("catalog.sqlite"),
            "{msg}"
        );
    }
}

#[test]
fn expired_from_created_and_pending() {
    let (_tmp, c) = catalog();
    let a = c
        .create_job(&NewJob::new(JobKind::Backup, Trigger::Schedule))
        .unwrap();
    let b = c
        .create_job(&NewJob::new(JobKind::Copy, Trigger::Schedule))
        .unwrap();
    c.set_pending(b, "waiting").unwrap();
    for id in [a, b] {
        c.finish_job(id, &JobOutcome::expired("start window of 1h missed"))
            .unwrap();
        let j = c.get_job(id).unwrap();
        assert_eq!(j.state, JobState::Expired);
        assert_eq!(j.reason.as_deref(), Some("start window of 1h missed"));
    }
}

#[test]
fn list_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let now = Arc::new(Mutex::new(ts("2026-03-01T00:00:00Z")));
    let clock = now.clone();
    let c = Catalog::open(tmp.path())
        .unwrap()
        .with_clock(move || *clock.lock().unwrap());
    let set = |t: &str| *now.lock().unwrap() = ts(t);

    let a = c
        .create_job(&backup_job("daily", "nightly", "etc"))
        .unwrap();
    set("2026-03-02T00:00:00Z");
    let b = c.create_job(&backup_job("daily", "nightly", "db")).unwrap();
    let mut copy = backup_job("daily", "offsite", "etc");
    copy.kind = JobKind::Copy;
    copy.destination_vault = Some("remote".into());
    copy.vault = Some("main".into());
    let cp = c.create_job(&copy).unwrap();
    set("2026-03-03T00:00:00Z");
    let p = c
        .create_job(&NewJob {
            plan: Some("weekly".into()),
            rule: Some("nightly".into()),
            vault: Some("other".into()),
            ..NewJob::new(JobKind::Prune, Trigger::Api)
        })
        .unwrap();
    c.start_job(a).unwrap();
    c.finish_job(
        a,
        &JobOutcome::completed(JobCounters::default(), vec!["s1".into()]),
    )
    .unwrap();
    c.finish_job(b, &JobOutcome::failed("x")).unwrap();

    let ids = |f: JobFilter| -> Vec<JobId> {
        c.list_jobs(&f).unwrap().into_iter().map(|j| j.id).collect()
    };
    assert_eq!(ids(JobFilter::default()), [p, cp, b, a]);
    assert_eq!(
        ids(JobFilter {
            states: vec![JobState::Completed, JobState::Failed],
            ..Default::default()
        }),
        [b, a]
    );
    assert_eq!(
        ids(JobFilter {
            kinds: vec![JobKind::Copy, JobKind::Prune],
            ..Default::default()
        }),
        [p, cp]
    );
    assert_eq!(
        ids(JobFilter {
            plan: Some("daily".into()),
            ..Default::default()
        }),
        [cp, b, a]
    );
    assert_eq!(
        ids(JobFilter {
            rule: Some("nightly".into()),
            ..Default::default()
        }),
        [p, b, a]
    );
    assert_eq!(
        ids(JobFilter {
            plan: Some("daily".into()),
            rule: Some("nightly".into()),
            source: Some("etc".into()),
            ..Default::default()
        }),
        [a]
    );
    assert_eq!(
        ids(JobFilter {
            vault: Some("remote".into()),
            ..Default::default()
        }),
        [cp]
    );
    assert_eq!(
        ids(JobFilter {
            since: Some(ts("2026-03-02T00:00:00Z")),
            ..Default::default()
        }),
        [p, cp, b]
    );
    assert_eq!(
        ids(JobFilter {
            limit: Some(2),
            ..Default::default()
        }),
        [p, cp]
    );
    assert!(ids(JobFilter {
        source: Some("nothing".into()),
        ..Default::default()
    })
    .is_empty());
    let listed = c.list_jobs(&JobFilter::default()).unwrap();
    assert_eq!(listed[3].snapshot_ids, ["s1"]);
    assert_eq!(listed[3].created_at, ts("2026-03-01T00:00:00Z"));
    assert_eq!(listed[3].started_at, Some(ts("2026-03-03T00:00:00Z")));
}

#[test]
fn deleting_old_jobs_cascades_to_events_and_snapshots() {
    let (_tmp, c) = catalog();
    let old = c
        .create_job(&NewJob::new(JobKind::Backup, Trigger::Cli))
        .unwrap();
    c.start_job(old).unwrap();
    c.finish_job(
        old,
        &JobOutcome::completed(JobCounters::default(), vec!["s".into()]),
    )
    .unwrap();
    let running = c
        .create_job(&NewJob::new(JobKind::Backup, Trigger::Cli))
        .unwrap();
    let n = c
        .delete_finished_before(Timestamp::now() + jiff::SignedDuration::from_secs(60))
        .unwrap();
    assert_eq!(n, 1);
    assert!(c.get_job(old).unwrap_err().is_not_found());
    assert!(c.get_job(running).is_ok());
    let left: i64 = c
        .lock()
        .query_row(
            "SELECT (SELECT COUNT(*) FROM job_events WHERE job_id = ?1) + \
             (SELECT COUNT(*) FROM job_snapshots WHERE job_id = ?1)",
            [old.0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}

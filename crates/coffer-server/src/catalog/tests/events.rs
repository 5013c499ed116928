//! The events table (and the key-value and verified-packs tables it is
//! tested with), and the events' names.

use super::fixtures::{backup_job, catalog, ts};
use crate::catalog::{
    job_event_name, EventName, JobKind, JobOutcome, JobState, NewJob, Severity, Trigger,
};

#[test]
fn job_state_changes_and_checks_write_events() {
    use crate::catalog::{EventFilter, EventName, NewEvent, Severity};
    let (_t, c) = catalog();
    let id = c.create_job(&backup_job("daily", "db", "pg")).unwrap();
    c.start_job(id).unwrap();
    c.finish_job(id, &JobOutcome::failed("connection refused"))
        .unwrap();
    let rt = c
        .create_job(&NewJob {
            source: Some("pg".into()),
            ..NewJob::new(JobKind::RestoreTest, Trigger::Cli)
        })
        .unwrap();
    c.start_job(rt).unwrap();
    let mut out = JobOutcome::failed("restore took longer than 10m");
    out.details = Some(serde_json::json!({"validation": "TIMED_OUT"}));
    c.finish_job(rt, &out).unwrap();
    let mut rpo = NewEvent::new(
        EventName::RpoViolated,
        "pg: newest snapshot 26h old, RPO 25h",
    );
    rpo.source = Some("pg".into());
    let rpo_id = c.emit(&rpo).unwrap();

    let all = c.events(&EventFilter::default()).unwrap();
    let names: Vec<_> = all.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            EventName::BackupJobStarted,
            EventName::BackupJobFailed,
            EventName::RestoreTestStarted,
            EventName::RestoreTestTimedOut,
            EventName::RpoViolated
        ]
    );
    assert_eq!(all[1].job_id, Some(id));
    assert_eq!(all[1].plan.as_deref(), Some("daily"));
    assert!(
        all[1].message.contains("connection refused"),
        "{}",
        all[1].message
    );
    assert_eq!(all[4].id, rpo_id);

    // A consumer's cursor reads forward; severity filters.
    let after = c
        .events(&EventFilter {
            after_id: Some(all[2].id),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].name, EventName::RestoreTestTimedOut);
    let errors = c
        .events(&EventFilter {
            min_severity: Some(Severity::Error),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(errors.len(), 3);

    c.kv_set("notify/webhook", "17").unwrap();
    c.kv_set("notify/webhook", "18").unwrap();
    assert_eq!(c.kv_get("notify/webhook").unwrap().as_deref(), Some("18"));
    assert_eq!(c.kv_get("nothing").unwrap(), None);

    c.set_packs_verified(
        "main",
        &["p1".into(), "p2".into()],
        ts("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    c.set_packs_verified("main", &["p2".into()], ts("2026-03-02T00:00:00Z"))
        .unwrap();
    let mut v = c.packs_verified("main").unwrap();
    v.sort();
    assert_eq!(v[1], ("p2".to_string(), ts("2026-03-02T00:00:00Z")));
}

#[test]
fn names_are_stable_and_parse_back() {
    for n in EventName::ALL {
        assert_eq!(n.as_str().parse::<EventName>().unwrap(), *n);
        assert!(n
            .as_str()
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_'));
    }
    assert_eq!(EventName::RpoViolated.as_str(), "RPO_VIOLATED");
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
}

#[test]
fn job_states_map_to_events() {
    assert_eq!(
        job_event_name(JobKind::Backup, JobState::Failed, None),
        Some(EventName::BackupJobFailed)
    );
    assert_eq!(
        job_event_name(JobKind::Backup, JobState::Created, None),
        None
    );
    let d = serde_json::json!({"validation": "TIMED_OUT"});
    assert_eq!(
        job_event_name(JobKind::RestoreTest, JobState::Failed, Some(&d)),
        Some(EventName::RestoreTestTimedOut)
    );
    assert_eq!(
        job_event_name(JobKind::Verify, JobState::Failed, None),
        Some(EventName::VerifyFailed)
    );
    assert_eq!(EventName::VerifyFailed.severity(), Severity::Error);
    assert_eq!(EventName::SizeAnomaly.severity(), Severity::Warning);
}

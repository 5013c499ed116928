//! How names, ids and times are written in the catalog and in JSON.

use super::fixtures::{backup_job, catalog, ts};
use crate::catalog::{format_time, parse_since, Job, JobId, JobKind, JobState, Trigger};

#[test]
fn names_in_db_and_json_follow_aws() {
    let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "CREATED",
            "PENDING",
            "RUNNING",
            "COMPLETED",
            "PARTIAL",
            "FAILED",
            "EXPIRED",
            "ABORTED",
            "SKIPPED"
        ]
    );
    assert_eq!(
        serde_json::to_string(&JobState::Partial).unwrap(),
        "\"PARTIAL\""
    );
    assert_eq!(
        serde_json::to_string(&JobKind::RestoreTest).unwrap(),
        "\"restore-test\""
    );
    assert_eq!(
        serde_json::to_string(&Trigger::CatchUp).unwrap(),
        "\"catch-up\""
    );
    assert_eq!("failed".parse::<JobState>().unwrap(), JobState::Failed);
    assert_eq!(
        "restore_test".parse::<JobKind>().unwrap(),
        JobKind::RestoreTest
    );
    let e = "done".parse::<JobState>().unwrap_err().to_string();
    assert!(
        e.contains("unknown job state `done`") && e.contains("COMPLETED"),
        "{e}"
    );
    assert_eq!("42".parse::<JobId>().unwrap(), JobId(42));
    assert_eq!("job-42".parse::<JobId>().unwrap(), JobId(42));
    assert!("0".parse::<JobId>().is_err());
    assert!("abc".parse::<JobId>().is_err());
    assert_eq!(JobId(42).to_string(), "42");
}

#[test]
fn times_are_fixed_width_utc() {
    assert_eq!(
        format_time(ts("2026-03-01T02:00:00Z")),
        "2026-03-01T02:00:00.000Z"
    );
    assert_eq!(
        format_time(ts("2026-03-01T02:00:00.5+01:00")),
        "2026-03-01T01:00:00.500Z"
    );
}

#[test]
fn since_takes_spans_and_times() {
    let now = ts("2026-03-10T12:00:00Z");
    assert_eq!(parse_since("24h", now).unwrap(), ts("2026-03-09T12:00:00Z"));
    assert_eq!(parse_since("7d", now).unwrap(), ts("2026-03-03T12:00:00Z"));
    assert_eq!(parse_since("2w", now).unwrap(), ts("2026-02-24T12:00:00Z"));
    assert_eq!(parse_since("90m", now).unwrap(), ts("2026-03-10T10:30:00Z"));
    assert_eq!(parse_since("P1D", now).unwrap(), ts("2026-03-09T12:00:00Z"));
    assert_eq!(
        parse_since("2026-03-01T02:00:00Z", now).unwrap(),
        ts("2026-03-01T02:00:00Z")
    );
    assert_eq!(
        parse_since("2026-03-01", now).unwrap(),
        ts("2026-03-01T00:00:00Z")
    );
    assert_eq!(
        parse_since("2026-03-01 12:30", now).unwrap(),
        ts("2026-03-01T12:30:00Z")
    );
    let e = parse_since("yesterday", now).unwrap_err().to_string();
    assert!(e.contains("`yesterday`"), "{e}");
}

#[test]
fn job_json_has_aws_states_and_flat_counters() {
    let (_tmp, c) = catalog();
    let id = c
        .create_job(&backup_job("daily", "nightly", "etc"))
        .unwrap();
    let v = serde_json::to_value(c.get_job(id).unwrap()).unwrap();
    assert_eq!(v["id"], serde_json::json!(id.0));
    assert_eq!(v["state"], "CREATED");
    assert_eq!(v["kind"], "backup");
    assert_eq!(v["trigger"], "schedule");
    assert_eq!(v["bytes_added"], 0);
    assert!(v["started_at"].is_null());
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    let back: Job = serde_json::from_value(v).unwrap();
    assert_eq!(back, c.get_job(id).unwrap());
}

//! What the catalog's tests share: a catalog in a temporary directory, a
//! backup job, a timestamp from text.

use jiff::Timestamp;

use crate::catalog::{Catalog, JobKind, NewJob, Trigger};

pub(super) fn catalog() -> (tempfile::TempDir, Catalog) {
    let tmp = tempfile::tempdir().unwrap();
    let c = Catalog::open(&tmp.path().join("state")).unwrap();
    (tmp, c)
}

pub(super) fn backup_job(plan: &str, rule: &str, source: &str) -> NewJob {
    NewJob {
        plan: Some(plan.into()),
        rule: Some(rule.into()),
        source: Some(source.into()),
        vault: Some("main".into()),
        ..NewJob::new(JobKind::Backup, Trigger::Schedule)
    }
}

pub(super) fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

//! What a run records and how it validates: each check's name, status
//! (PASSED, FAILED, or SKIPPED when it could not run) and detail, the
//! measured restore and validation times, why a run found nothing to test
//! ([`Run`]), and the `queries` of a restore test run against a restored
//! database, each answer's first value checked against its `expect`.

use crate::config::RestoreTestConfig;
use crate::model::ServerResult;
use crate::records::{CheckResult, CheckStatus, RestoreTestDetails};
use coffer_core::Cancel;
use std::time::Instant;

/// One run's record and its inner cancel.
pub(super) struct Run {
    pub(super) details: RestoreTestDetails,
    pub(super) cancel: Cancel,
    /// Set when there was nothing to test (no snapshot yet): why, and what
    /// it waits for. The job is then SKIPPED.
    pub(super) nothing_to_test: Option<String>,
}

impl Run {
    /// A check that ran: PASSED when `ok`, else FAILED.
    pub(super) fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.details.checks.push(CheckResult::ran(name, ok, detail));
    }

    /// An optional check that could not run: SKIPPED, `why` saying so (and
    /// what would let it run). It does not fail the test.
    pub(super) fn skip(&mut self, name: impl Into<String>, why: impl Into<String>) {
        self.details
            .checks
            .push(CheckResult::new(name, CheckStatus::Skipped, why));
    }

    pub(super) fn restored(&mut self, since: Instant, detail: String) {
        self.details.restore_seconds = Some(since.elapsed().as_secs_f64());
        self.check("restore", true, detail);
    }

    pub(super) fn validated(&mut self, since: Instant) {
        self.details.validation_seconds = Some(since.elapsed().as_secs_f64());
    }
}

/// The first column of the first row of psql (`|`) or mysql (tab) output.
pub(super) fn first_value(out: &str, sep: char) -> Option<String> {
    out.lines()
        .next()
        .map(|l| l.split(sep).next().unwrap_or("").to_string())
}

pub(super) fn run_queries(
    t: &mut Run,
    test: &RestoreTestConfig,
    sep: char,
    query: &dyn Fn(&str) -> ServerResult<String>,
) {
    for q in &test.queries {
        match query(&q.sql) {
            Ok(out) => match q.expect.check(first_value(&out, sep).as_deref()) {
                Ok(d) => t.check(q.sql.clone(), true, d),
                Err(d) => t.check(q.sql.clone(), false, d.0),
            },
            Err(e) => t.check(q.sql.clone(), false, format!("error: {e}")),
        }
    }
}

//! What a restore test records ([`RestoreTestDetails`], the `details` of a
//! `restore-test` job): its verdict ([`Validation`]) and each check with
//! its [`CheckStatus`]. The CLI's `--json`, the API and the dashboard show
//! these as they are stored.
//!
//! A check that could not run (a tool that is not installed, a live source
//! this host cannot read) is `SKIPPED` with the reason, never `PASSED`.
//! Only optional checks are ever skipped (`pg_amcheck`, `mysqlcheck`, the
//! live sample): a restore test whose other checks passed is still
//! `SUCCESSFUL`, and its report shows what was skipped and why.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A restore test's verdict, named as in AWS Backup restore testing
/// (`SKIPPED` is coffer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Validation {
    /// Restored and validated.
    Successful,
    /// The restore or a validation failed.
    Failed,
    /// The restore and validation did not finish within the time limit.
    TimedOut,
    /// Nothing to test yet: the vault holds no snapshot of the source (the
    /// job is `SKIPPED`; no verdict, no restore time).
    Skipped,
}

/// How one check of a restore test came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckStatus {
    /// It ran and found what it should.
    Passed,
    /// It ran and found a problem (or could not run though it must).
    Failed,
    /// It could not run (a tool is missing, …): the detail says why. Only
    /// optional checks are skipped; a skip does not fail the test.
    Skipped,
}

/// One validation step of a restore test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(from = "StoredCheck")]
pub struct CheckResult {
    /// What was checked (`compare files`, `pg_amcheck`, a query's text, …).
    pub name: String,
    /// How it came out.
    pub status: CheckStatus,
    /// `true` only when it PASSED (kept for readers of records written
    /// before `status`; read `status`).
    pub ok: bool,
    /// What was seen (a row count, the first mismatch, why it was skipped).
    pub detail: String,
}

impl CheckResult {
    /// A check that ran: PASSED when `passed`, else FAILED.
    pub fn ran(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> CheckResult {
        let status = if passed {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        CheckResult::new(name, status, detail)
    }

    /// A check with `status`.
    pub fn new(
        name: impl Into<String>,
        status: CheckStatus,
        detail: impl Into<String>,
    ) -> CheckResult {
        CheckResult {
            name: name.into(),
            status,
            ok: status == CheckStatus::Passed,
            detail: detail.into(),
        }
    }
}

/// A check as stored: records written before `status` have only `ok`.
#[derive(Deserialize)]
struct StoredCheck {
    name: String,
    #[serde(default)]
    status: Option<CheckStatus>,
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    detail: String,
}

impl From<StoredCheck> for CheckResult {
    fn from(c: StoredCheck) -> CheckResult {
        let status = c.status.unwrap_or(if c.ok {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        });
        CheckResult::new(c.name, status, c.detail)
    }
}

/// The `details` of a `restore-test` job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RestoreTestDetails {
    /// The `[[restore_test]]` entry's name.
    pub test: String,
    /// The snapshot restored (its id).
    pub snapshot: Option<String>,
    /// The verdict.
    pub validation: Validation,
    /// Measured restore time in seconds (restore only, without validation);
    /// absent when the restore did not finish.
    pub restore_seconds: Option<f64>,
    /// Time spent validating, in seconds.
    pub validation_seconds: Option<f64>,
    /// The validation steps, in order.
    pub checks: Vec<CheckResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_carry_their_status_and_old_records_read() {
        let c = CheckResult::new("pg_amcheck", CheckStatus::Skipped, "not installed");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "pg_amcheck", "status": "SKIPPED", "ok": false, "detail": "not installed"})
        );
        assert_eq!(serde_json::from_value::<CheckResult>(v).unwrap(), c);
        // Written before `status`: `ok` decides.
        let old: CheckResult =
            serde_json::from_str(r#"{"name": "restore", "ok": true, "detail": "x"}"#).unwrap();
        assert_eq!(old.status, CheckStatus::Passed);
        let old: CheckResult =
            serde_json::from_str(r#"{"name": "q", "ok": false, "detail": "y"}"#).unwrap();
        assert_eq!(old.status, CheckStatus::Failed);
        assert!(CheckResult::ran("q", true, "").ok);
    }
}

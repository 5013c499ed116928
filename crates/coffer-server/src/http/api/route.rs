//! What a route of the HTTP API is: its method, path below [`PREFIX`], the
//! lowest [`Role`] allowed and the [`Op`] it runs; the table of every
//! route is [`super::ROUTES`] (`table.rs`).

use crate::audit::Action;
use crate::auth::Role;

/// The path prefix of the API.
pub const PREFIX: &str = "/api/v1";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The OpenAPI document.
    OpenApi,
    /// The configured vaults.
    Vaults,
    /// The configured sources with their health.
    Sources,
    /// Plans and their rules.
    Rules,
    /// Jobs (filters: kind, state, plan, rule, source, vault, limit).
    Jobs,
    /// One job with its events.
    Job,
    /// The snapshots of a vault.
    Snapshots,
    /// One directory of a snapshot.
    SnapshotFiles,
    /// Recent restore-test results.
    RestoreTests,
    /// The compliance report.
    Report,
    /// Recent events.
    Events,
    /// Run a rule now.
    RuleRun,
    /// Verify a vault.
    Verify,
    /// Run a restore test now.
    RestoreTestRun,
    /// Forget snapshots (dry run: operator; for real: admin).
    Forget,
    /// Place a legal hold.
    Hold,
    /// Release a legal hold.
    Release,
    /// Restore a files snapshot into the state directory's `restores/`.
    Restore,
    /// Who the caller is: its token's name, role and what it may do.
    WhoAmI,
    /// Every host of the fleet, from the vaults' fleet records.
    Fleet,
}

/// The lowest role that may forget for real (`dry_run: false`); a preview
/// needs only the forget route's role. The one rule beyond the route
/// table: the dispatcher enforces it and `GET /whoami` reports it.
pub const FORGET_FOR_REAL: Role = Role::Admin;

impl Op {
    /// Its `operationId` in the OpenAPI document (and in `GET /whoami`'s
    /// list of what the caller may do).
    pub fn id(self) -> &'static str {
        match self {
            Op::OpenApi => "openApi",
            Op::Vaults => "vaults",
            Op::Sources => "sources",
            Op::Rules => "rules",
            Op::Jobs => "jobs",
            Op::Job => "job",
            Op::Snapshots => "snapshots",
            Op::SnapshotFiles => "snapshot_files",
            Op::RestoreTests => "restoreTests",
            Op::Report => "report",
            Op::Events => "events",
            Op::RuleRun => "ruleRun",
            Op::Verify => "verify",
            Op::RestoreTestRun => "restoreTestRun",
            Op::Forget => "forget",
            Op::Hold => "hold",
            Op::Release => "release",
            Op::Restore => "restore",
            Op::WhoAmI => "whoami",
            Op::Fleet => "fleet",
        }
    }
}

impl Op {
    /// The audited action of a route that acts (a `POST`); reads have none.
    pub fn action(self) -> Option<Action> {
        Some(match self {
            Op::RuleRun => Action::RuleRun,
            Op::Verify => Action::VerifyRun,
            Op::RestoreTestRun => Action::RestoreTestRun,
            Op::Forget => Action::Forget,
            Op::Hold => Action::SnapshotHold,
            Op::Release => Action::SnapshotRelease,
            Op::Restore => Action::Restore,
            Op::OpenApi
            | Op::Vaults
            | Op::Sources
            | Op::Rules
            | Op::Jobs
            | Op::Job
            | Op::Snapshots
            | Op::SnapshotFiles
            | Op::RestoreTests
            | Op::Report
            | Op::Events
            | Op::WhoAmI
            | Op::Fleet => return None,
        })
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path below [`PREFIX`], with `{param}` segments.
    pub path: &'static str,
    /// The lowest role allowed.
    pub role: Role,
    /// What it does.
    pub op: Op,
}

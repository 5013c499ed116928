//! The command line's side of the audit trail ([`coffer_server::audit`]):
//! [`action_of`] names the audited action of a command, and [`record`] is
//! the one function every acting command goes through (`main` calls it
//! after the command ran; `coffer token` calls it itself, as only it knows
//! the token's final name).
//!
//! Where: the catalog and `audit.log` of the state directory (the command's
//! own `--state-dir`, else COFFER_STATE_DIR, else an explicitly given
//! configuration's `state_dir`, else the default one), the same catalog
//! `coffer serve` and `coffer jobs` use. A failure to record (a read-only
//! or missing state directory) is a warning, never a failure of the
//! action: the action has already happened, or failed for its own reason.
//!
//! Dry runs, reads and `wal-push`/`wal-fetch` (PostgreSQL calls them for
//! every WAL segment, as a user that may have no state directory) are not
//! recorded.

use anyhow::Result;
use coffer_server::audit::{self, Action, Actor, Outcome};
use std::path::PathBuf;

use crate::GlobalArgs;

/// A failure the command has already printed in full (with its output):
/// `main` exits with `code` and prints nothing more, and the audit trail
/// records `reason`. For a command whose output is the evidence of what
/// failed, such as a forget a lock refused.
#[derive(Debug)]
pub struct Reported {
    /// The exit code.
    pub code: u8,
    /// Why, in one line.
    pub reason: String,
}

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Reported {}

/// The audited action of a command: what, on what, and the state directory
/// the command itself names (if any).
pub struct Audited {
    /// The action.
    pub action: Action,
    /// Its target (a vault, snapshot, rule, key slot).
    pub target: Option<String>,
    /// The command's `--state-dir`.
    pub state_dir: Option<PathBuf>,
}

/// How a command's result reads in the audit trail: exit 0 or 3 (done,
/// with warnings) is ok; any other exit or error is an error with its
/// message.
pub fn outcome(r: &Result<u8>) -> Outcome {
    match r {
        Ok(0 | 3) => Outcome::Ok,
        Ok(code) => Outcome::Error(format!("failed (exit code {code}); its output says why")),
        Err(e) => Outcome::Error(crate::message(e)),
    }
}

/// Records that the user running this process did `action` on `target`,
/// and how it ended, in the audit trail of the state directory (`dir`, else
/// as [`crate::token::state`] finds it). Never fails: a problem is a warning.
pub fn record(
    g: &GlobalArgs,
    dir: Option<PathBuf>,
    action: Action,
    target: Option<&str>,
    outcome: &Outcome,
) {
    let r = (|| -> Result<()> {
        let catalog = crate::token::state(g, dir)?.open_catalog()?;
        // The system clock, whatever "now" a command was given: the trail
        // says when things really happened.
        let now = jiff::Timestamp::now();
        audit::record(&catalog, &Actor::cli(), action, target, outcome, now)?;
        Ok(())
    })();
    if let Err(e) = r {
        eprintln!("warning: the audit trail did not record `{action}`: {e:#}");
    }
}

/// The vault a command acts on, as the audit trail names it.
fn vault(g: &GlobalArgs, positional: Option<&String>) -> Option<String> {
    let g = GlobalArgs {
        vault: positional.cloned().or_else(|| g.vault.clone()),
        ..g.clone()
    };
    Some(crate::vaults::target(&g).location)
}

/// The audited action of a command: the commands that change something.
/// Token commands record themselves ([`crate::token::run`]).
pub(crate) fn action_of(cmd: &crate::Cmd, g: &GlobalArgs) -> Option<Audited> {
    use crate::retention::{SnapshotCmd, VaultCmd};
    use crate::sources::PgCmd;
    use crate::{Cmd, KeyCmd};
    let on = |action, target: Option<String>| Audited {
        action,
        target,
        state_dir: None,
    };
    Some(match cmd {
        Cmd::Init { .. } => on(Action::VaultInit, vault(g, None)),
        Cmd::Backup(a) if !a.dry_run => on(Action::Backup, vault(g, None)),
        Cmd::Pg(PgCmd::Basebackup { .. }) => on(Action::Backup, vault(g, None)),
        Cmd::Pg(PgCmd::WalPrune { dry_run: false }) => on(Action::WalPrune, vault(g, None)),
        Cmd::Restore { snapshot, .. } => on(Action::Restore, Some(snapshot.clone())),
        Cmd::Copy(a) if !a.dry_run => on(
            Action::Copy,
            Some(format!(
                "{} -> {}",
                vault(g, None).unwrap_or_default(),
                a.to.as_deref().unwrap_or("?")
            )),
        ),
        Cmd::Prune(a) if !a.dry_run => on(Action::Prune, vault(g, None)),
        Cmd::Key(KeyCmd::Add { label, .. }) => on(
            Action::KeyAdd,
            vault(g, None).map(|v| match label.as_str() {
                "" => v,
                l => format!("{v} (slot `{l}`)"),
            }),
        ),
        Cmd::Key(KeyCmd::Remove { id }) => on(Action::KeyRemove, Some(id.clone())),
        Cmd::Key(KeyCmd::Rotate { .. }) => on(Action::KeyRotate, vault(g, None)),
        Cmd::Plan { cmd, state_dir } => match cmd {
            crate::daemon::PlanCmd::Run { rule, .. } => Audited {
                action: Action::RuleRun,
                target: Some(rule.clone()),
                state_dir: state_dir.clone(),
            },
        },
        Cmd::Verify(a) => Audited {
            action: Action::VerifyRun,
            target: a.rule.clone().or(a.vault_name.clone()).or(vault(g, None)),
            state_dir: a.state_dir.clone(),
        },
        Cmd::RestoreTest(crate::restore_test::RestoreTestCmd::Run {
            name, state_dir, ..
        }) => Audited {
            action: Action::RestoreTestRun,
            target: Some(name.clone()),
            state_dir: state_dir.clone(),
        },
        Cmd::Snapshot(SnapshotCmd::Hold { id, .. }) => on(Action::SnapshotHold, Some(id.clone())),
        Cmd::Snapshot(SnapshotCmd::Release { id }) => on(Action::SnapshotRelease, Some(id.clone())),
        Cmd::Forget(a) if !a.dry_run => on(Action::Forget, vault(g, None)),
        Cmd::Vault(VaultCmd::Lock { vault: v, .. }) => on(Action::VaultLock, vault(g, v.as_ref())),
        Cmd::Vault(VaultCmd::Unlock { vault: v }) => on(Action::VaultUnlock, vault(g, v.as_ref())),
        Cmd::Vault(VaultCmd::ExtendRetention { vault: v, dry_run }) if !dry_run => {
            on(Action::VaultExtendRetention, vault(g, v.as_ref()))
        }
        _ => return None,
    })
}

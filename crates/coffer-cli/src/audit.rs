//! The command line's side of the audit trail ([`coffer_server::audit`]):
//! [`action_of`](crate::audited::action_of) names the audited action of a command, and [`record`] is
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

use crate::args::GlobalArgs;

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

/// The end of a command that refused some of what it was asked (a lock or
/// a hold): 0 when nothing was refused; otherwise each refusal on standard
/// error, then exit 1 with the refusals as the audit trail's reason.
pub fn refusals(refusals: &[String]) -> anyhow::Result<u8> {
    if refusals.is_empty() {
        return Ok(0);
    }
    for r in refusals {
        eprintln!("error: {r}");
    }
    Err(Reported {
        code: 1,
        reason: refusals.join("; "),
    }
    .into())
}

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
        Err(e) => Outcome::Error(crate::error::message(e)),
    }
}

/// Records that the user running this process did `action` on `target`,
/// and how it ended, in the audit trail of the state directory (`dir`, else
/// as [`crate::context::state`] finds it). Never fails: a problem is a warning.
pub fn record(
    g: &GlobalArgs,
    dir: Option<PathBuf>,
    action: Action,
    target: Option<&str>,
    outcome: &Outcome,
) {
    let r = (|| -> Result<()> {
        let catalog = crate::context::state(g, dir)?.open_catalog()?;
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

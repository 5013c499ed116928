//! The audit trail: every action taken through the HTTP API or the
//! command line is appended as one JSON line to `STATE_DIR/audit.log`
//! (created 0600, opened append-only) and to the catalog's `audit` table.
//!
//! What is recorded is typed: an [`Action`] (its stable string form,
//! [`Action::as_str`], is what the record stores and docs/api.md lists) and
//! an [`Outcome`] (`ok`, `error` with the reason, or `refused` with the
//! reason for an API request turned away with 401 or 403). Each front end
//! has one function that records through [`record`]: the CLI's
//! `audit::record` in coffer-cli, the API's in [`crate::api`].
//!
//! An entry says who (token name and role, `unauthenticated`, or
//! `cli:USER`), what (action and target), when, the result, and for the API
//! the client's address. Secrets (tokens, passwords) are never passed in: a
//! token is named by its name, a refused request by the reason only.
//! Targets and reasons come partly from requests (hostile), so they are
//! cut to a bounded length.

use crate::auth::Principal;
use crate::catalog::{AuditRecord, Catalog, CatalogError};
use jiff::Timestamp;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The file name of the audit log in the state directory.
pub const AUDIT_LOG: &str = "audit.log";

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An API token, from a client address.
    Token {
        /// The token.
        principal: Principal,
        /// The client's address.
        remote: Option<String>,
    },
    /// An API request without a valid token (refused with 401).
    Unauthenticated {
        /// The client's address.
        remote: Option<String>,
    },
    /// A user at the command line.
    Cli {
        /// The user name.
        user: String,
    },
}

impl Actor {
    /// The user running this process.
    pub fn cli() -> Actor {
        Actor::Cli {
            user: coffer_sources::username(),
        }
    }
}

/// What was done. [`Action::as_str`] is the stable name stored in each
/// entry and listed in docs/api.md: rename a variant freely, never its
/// string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A vault created (`coffer init`).
    VaultInit,
    /// A backup (`coffer backup`, `coffer pg basebackup`).
    Backup,
    /// A restore (`coffer restore`, the API's restore).
    Restore,
    /// Snapshots copied into another vault (`coffer copy`).
    Copy,
    /// Unused data deleted (`coffer prune`).
    Prune,
    /// Archived WAL deleted (`coffer pg wal-prune`).
    WalPrune,
    /// A key slot added.
    KeyAdd,
    /// A key slot removed.
    KeyRemove,
    /// A new key epoch (`coffer key rotate`). The command does not exist
    /// yet; when it lands it records this action through the CLI's one
    /// audit function like `key add`.
    KeyRotate,
    /// A vault lock set or changed.
    VaultLock,
    /// A vault lock removed.
    VaultUnlock,
    /// Object Lock retention of a vault's objects extended.
    VaultExtendRetention,
    /// A legal hold placed.
    SnapshotHold,
    /// A legal hold released.
    SnapshotRelease,
    /// Snapshots forgotten.
    Forget,
    /// A forget previewed (`dry_run`, API).
    ForgetPreview,
    /// Snapshots rewritten without excluded paths, the originals
    /// forgotten (`coffer rewrite`).
    Rewrite,
    /// An API token created.
    TokenCreate,
    /// An API token revoked.
    TokenRevoke,
    /// A rule run now.
    RuleRun,
    /// A vault verified.
    VerifyRun,
    /// A restore test run now.
    RestoreTestRun,
    /// An API read (a `GET`), recorded only when it is refused (401/403).
    ApiRead,
}

impl Action {
    /// Every action, for docs and tests.
    pub const ALL: &'static [Action] = &[
        Action::VaultInit,
        Action::Backup,
        Action::Restore,
        Action::Copy,
        Action::Prune,
        Action::WalPrune,
        Action::KeyAdd,
        Action::KeyRemove,
        Action::KeyRotate,
        Action::VaultLock,
        Action::VaultUnlock,
        Action::VaultExtendRetention,
        Action::SnapshotHold,
        Action::SnapshotRelease,
        Action::Forget,
        Action::ForgetPreview,
        Action::Rewrite,
        Action::TokenCreate,
        Action::TokenRevoke,
        Action::RuleRun,
        Action::VerifyRun,
        Action::RestoreTestRun,
        Action::ApiRead,
    ];

    /// The stable name stored in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::VaultInit => "vault.init",
            Action::Backup => "backup",
            Action::Restore => "restore",
            Action::Copy => "copy",
            Action::Prune => "prune",
            Action::WalPrune => "wal.prune",
            Action::KeyAdd => "key.add",
            Action::KeyRemove => "key.remove",
            Action::KeyRotate => "key.rotate",
            Action::VaultLock => "vault.lock",
            Action::VaultUnlock => "vault.unlock",
            Action::VaultExtendRetention => "vault.extend_retention",
            Action::SnapshotHold => "snapshot.hold",
            Action::SnapshotRelease => "snapshot.release",
            Action::Forget => "forget",
            Action::ForgetPreview => "forget.preview",
            Action::Rewrite => "rewrite",
            Action::TokenCreate => "token.create",
            Action::TokenRevoke => "token.revoke",
            Action::RuleRun => "rule.run",
            Action::VerifyRun => "verify.run",
            Action::RestoreTestRun => "restore_test.run",
            Action::ApiRead => "api.read",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked (a job started through the API: it started;
    /// the job's own record says how it ended).
    Ok,
    /// It was tried and failed, or did only part of what was asked (a
    /// forget a lock refused): the reason.
    Error(String),
    /// It was not tried: the API refused the request (401 or 403); the
    /// reason, never the token.
    Refused(String),
}

impl Outcome {
    /// The stored `result`: `ok`, `error` or `refused`.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::Refused(_) => "refused",
        }
    }

    /// The reason, for `error` and `refused`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Ok => None,
            Outcome::Error(r) | Outcome::Refused(r) => Some(r),
        }
    }
}

/// The longest target and reason kept (in bytes): a request's path can be
/// long and is chosen by whoever sends it.
const MAX_TEXT: usize = 1024;

fn bounded(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Why an entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log file.
    #[error(
        "cannot append to the audit log {path}: {source} (check the state directory's permissions)"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The catalog.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The audit log file next to `catalog`.
pub fn log_path(catalog: &Catalog) -> PathBuf {
    catalog
        .path()
        .parent()
        .map(|p| p.join(AUDIT_LOG))
        .unwrap_or_else(|| PathBuf::from(AUDIT_LOG))
}

/// Records that `actor` did `action` on `target` at `at`, and how it
/// ended, in the log file and the catalog.
pub fn record(
    catalog: &Catalog,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    outcome: &Outcome,
    at: Timestamp,
) -> Result<AuditRecord, AuditError> {
    let (who, role, remote) = match actor {
        Actor::Token { principal, remote } => (
            format!("token:{}", principal.name),
            Some(principal.role.as_str().to_string()),
            remote.clone(),
        ),
        Actor::Unauthenticated { remote } => ("unauthenticated".to_string(), None, remote.clone()),
        Actor::Cli { user } => (format!("cli:{user}"), None, None),
    };
    let rec = AuditRecord {
        at,
        actor: who,
        role,
        action: action.as_str().to_string(),
        target: target.map(bounded),
        result: outcome.result().to_string(),
        error: outcome.reason().map(bounded),
        remote,
    };
    let path = log_path(catalog);
    let mut line = serde_json::to_string(&rec).expect("an audit record serializes");
    line.push('\n');
    let io = |source| AuditError::Io {
        path: path.clone(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    // One write of a whole line: concurrent appenders never interleave.
    f.write_all(line.as_bytes()).map_err(io)?;
    catalog.audit_insert(&rec)?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_to_file_and_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let now = Timestamp::now();
        let a = Actor::Token {
            principal: Principal {
                name: "ci".into(),
                role: Role::Operator,
            },
            remote: Some("127.0.0.1:5000".into()),
        };
        record(&c, &a, Action::RuleRun, Some("daily/db"), &Outcome::Ok, now).unwrap();
        record(
            &c,
            &Actor::cli(),
            Action::TokenRevoke,
            Some("ci"),
            &Outcome::Error("no such token".into()),
            now,
        )
        .unwrap();
        let refused = Outcome::Refused("401 Unauthorized: the token is unknown".into());
        let anon = Actor::Unauthenticated {
            remote: Some("10.0.0.9:1".into()),
        };
        let long = "x".repeat(5000);
        record(&c, &anon, Action::ApiRead, Some(&long), &refused, now).unwrap();
        let p = dir.path().join(AUDIT_LOG);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["actor"], "token:ci");
        assert_eq!(first["role"], "operator");
        assert_eq!(first["remote"], "127.0.0.1:5000");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let rows = c.audit_entries(10).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].action, "rule.run");
        assert_eq!(rows[1].result, "error");
        assert_eq!(rows[1].error.as_deref(), Some("no such token"));
        assert_eq!(rows[2].actor, "unauthenticated");
        assert_eq!(rows[2].result, "refused");
        assert_eq!(rows[2].remote.as_deref(), Some("10.0.0.9:1"));
        assert!(rows[2].target.as_ref().unwrap().len() < 1100);
    }

    /// The action names are unique, and docs/api.md lists each one (the
    /// stored names are an interface: scripts filter on them).
    #[test]
    fn action_names_are_unique_and_documented() {
        let doc = include_str!("../../../docs/api.md");
        let audit = &doc[doc
            .find("## Audit log")
            .expect("docs/api.md has `## Audit log`")..];
        let mut seen = std::collections::BTreeSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert!(
                audit.contains(&format!("`{a}`")),
                "docs/api.md's audit section does not list `{a}`"
            );
        }
    }
}

//! The audit trail: every action taken through the HTTP API or the
//! command line (token create/revoke, rule run, verify, restore test,
//! hold/release, forget, vault lock) is appended as one JSON line to
//! `STATE_DIR/audit.log` (created 0600, opened append-only) and to the
//! catalog's `audit` table. An entry says who (token name and role, or
//! `cli:USER`), what (action and target), when, the result, and for the API
//! the client's address. Secrets (tokens, passwords) are never passed in.

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

/// Records that `actor` did `action` on `target` at `at` with `result`
/// (`Err` carries the error message), in the log file and the catalog.
pub fn record(
    catalog: &Catalog,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    result: Result<(), &str>,
    at: Timestamp,
) -> Result<AuditRecord, AuditError> {
    let (who, role, remote) = match actor {
        Actor::Token { principal, remote } => (
            format!("token:{}", principal.name),
            Some(principal.role.as_str().to_string()),
            remote.clone(),
        ),
        Actor::Cli { user } => (format!("cli:{user}"), None, None),
    };
    let rec = AuditRecord {
        at,
        actor: who,
        role,
        action: action.to_string(),
        target: target.map(str::to_string),
        result: if result.is_ok() { "ok" } else { "error" }.to_string(),
        error: result.err().map(str::to_string),
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
        record(&c, &a, "rule.run", Some("daily/db"), Ok(()), now).unwrap();
        record(
            &c,
            &Actor::cli(),
            "token.revoke",
            Some("ci"),
            Err("no such token"),
            now,
        )
        .unwrap();
        let p = dir.path().join(AUDIT_LOG);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["actor"], "token:ci");
        assert_eq!(first["role"], "operator");
        assert_eq!(first["remote"], "127.0.0.1:5000");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let rows = c.audit_entries(10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].result, "error");
        assert_eq!(rows[1].error.as_deref(), Some("no such token"));
    }
}

//! The `audit` table: the audit trail of actions (see `crate::audit`).

use jiff::Timestamp;
use rusqlite::params;
use serde::Serialize;

use super::database::Catalog;
use super::error::Result;
use super::time_format::{format_time, DbTime};
use super::time_serde;

impl Catalog {
    /// Appends one entry to the audit table; returns its id.
    pub fn audit_insert(&self, a: &AuditRecord) -> Result<i64> {
        self.write("recording an audit entry", |tx| {
            tx.execute(
                "INSERT INTO audit (at, actor, role, action, target, result, error, remote) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![format_time(a.at), a.actor, a.role, a.action, a.target, a.result, a.error, a.remote],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The newest `limit` audit entries, oldest first.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read("reading the audit trail", |c| {
            let mut st = c.prepare(
                "SELECT at, actor, role, action, target, result, error, remote FROM \
                 (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(AuditRecord {
                    at: r.get::<_, DbTime>(0)?.0,
                    actor: r.get(1)?,
                    role: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    result: r.get(5)?,
                    error: r.get(6)?,
                    remote: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

/// One entry of the audit trail (see `crate::audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When.
    #[serde(with = "time_serde")]
    pub at: Timestamp,
    /// Who: `token:NAME` or `cli:USER`.
    pub actor: String,
    /// The token's role (API actions).
    pub role: Option<String>,
    /// What (`token.create`, `rule.run`, `snapshot.hold`, …).
    pub action: String,
    /// On what (a rule, vault, snapshot, token name).
    pub target: Option<String>,
    /// `ok` or `error`.
    pub result: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The client's address (API actions).
    pub remote: Option<String>,
}
